"""The data-sized budget, the reference protocol, the warnings and the sweep, through the real CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from cropedge.cli import cli
from cropedge.data.synthetic import synthesize
from cropedge.training import budget as rule
from cropedge.training.budget import plan_budget
from cropedge.training.recipe import TrainConfig
from cropedge.training.run import Run
from cropedge.training.sweep import KEEP
from cropedge.training.train import plan_run, train_run

# a model that trains 2 000 steps in seconds; no dropout, so that a resumed run repeats exactly
RECIPE = """data = "{data}"
sources = ["FRA"]
[train]
model = "tempcnn"
model_options = {{filters = 8, hidden = 16, dropout = 0.0}}
{extra}
[targets.FRA]
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synthesize(out, samples_per_class=20, seed=0, regions=("FRA",))  # 112 training samples, 7 classes
    return out


def recipe(tmp_path: Path, data: Path, extra: str = "") -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(RECIPE.format(data=data, extra=extra))
    return path


def train(*args: object) -> Result:
    seed = () if "--seed" in args or "--sweep" in args else ("--seed", "0")  # one run folder, not seed-K/
    return CliRunner().invoke(cli, ["train", *map(str, args), *seed])


def history(run_dir: Path) -> list[dict]:
    with open(run_dir / "history.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def warnings_of(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("cropedge: warning: ")]


@pytest.fixture(scope="module")
def runs(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Result]]:
    """The same tiny model under today's defaults and under the old ones (reference, 3 epochs)."""
    tmp = tmp_path_factory.mktemp("runs")
    path = recipe(tmp, data_dir)
    out = {}
    for name, extra in (("defaults", ()), ("old", ("--protocol", "reference", "--epochs", "3"))):
        result = train("--config", path, "--out", tmp / name, *extra)
        assert result.exit_code == 0, result.output
        out[name] = (tmp / name, result)
    return out


def test_defaults_learn_where_the_old_defaults_do_not(runs: dict) -> None:
    chance = 1 / 7
    new, old = (Run(runs[k][0]).record for k in ("defaults", "old"))
    assert new.validation.macro_f1 > 0.7 > 4 * chance
    assert old.validation.macro_f1 < chance + rule.CHANCE_MARGIN * (1 - chance)
    # the old run was told, on stderr, one line each: too few steps, then near chance at the end
    few, near = warnings_of(runs["old"][1])
    assert "3 optimizer steps" in few and "near chance" in near
    assert old.warnings == (few.removeprefix("cropedge: warning: "), near.removeprefix("cropedge: warning: "))
    assert warnings_of(runs["defaults"][1]) == [] and new.warnings == ()


def test_the_chosen_budget_is_printed_and_recorded(runs: dict) -> None:
    run_dir, result = runs["defaults"]
    record = Run(run_dir).record
    budget = record.budget
    assert budget is not None and budget.protocol == "auto" and budget.n_train == 112 and budget.num_classes == 7
    assert (budget.batch_size, budget.lr, budget.schedule) == (32, rule.LR, "warmup-cosine")
    assert budget.steps >= rule.STEP_FLOOR and budget.patience and budget.check_every > 1
    assert set(budget.chosen) == {"batch_size", "lr", "epochs", "patience"}
    assert (record.window.start_doy, record.window.end_doy, record.window.length) == (1, 361, 73)
    assert record.augment["circular"] is True
    assert record.epochs is not None and record.best_epoch is not None and record.best_epoch <= record.epochs
    assert record.best_epoch % budget.check_every == 0  # validated every check_every epochs
    lines = [line for line in result.stdout.splitlines() if "budget (auto" in line]
    assert len(lines) == 1 and budget.describe(record.window) in lines[0]
    # the learning rate warmed up, then decayed (history.csv, one row per validation)
    lr = [float(row["lr"]) for row in history(run_dir)]
    assert max(lr) <= rule.LR and lr[-1] < max(lr) / 2


def test_reference_protocol_keeps_the_papers_settings_exactly(runs: dict, data_dir: Path) -> None:
    budget, window, _ = plan_run(TrainConfig(data=str(data_dir), sources=("FRA",), protocol="reference"))
    assert budget is not None
    assert (budget.batch_size, budget.lr, budget.epochs, budget.schedule, budget.warmup_steps, budget.patience,
            budget.check_every) == (256, 1e-4, 50, "constant", 0, None, 1)
    assert (window.start_doy, window.end_doy, window.length) == (121, 334, 43)
    record = Run(runs["old"][0]).record
    assert record.budget is not None and (record.budget.lr, record.budget.batch_size) == (1e-4, 256)
    assert record.epochs == 3 and record.augment["circular"] is False  # clamped to the year, as the paper's code
    assert (record.window.start_doy, record.window.end_doy) == (121, 334)
    assert [float(row["lr"]) for row in history(runs["old"][0])] == pytest.approx([1e-4] * 3)  # no schedule


def test_rule_sizes_batch_and_steps_to_the_data() -> None:
    for n, batch in ((40, 32), (112, 32), (379, 32), (560, 64), (2_800, 128), (28_000, 256), (240_000, 256)):
        b = plan_budget(n, 7)
        assert b.batch_size == batch
        assert b.steps >= rule.STEP_FLOOR and b.epochs >= rule.MIN_EPOCHS
        assert b.epochs % b.check_every == 0 and b.check_every * b.steps_per_epoch >= rule.CHECK_STEPS
    # CropGlobe size: no more passes over the data than the reference's 50 epochs at batch 256
    big, reference = plan_budget(240_000, 7), plan_budget(240_000, 7, protocol="reference")
    assert big.epochs * 240_000 <= reference.epochs * 240_000 and big.check_every == 1
    # set values win; set epochs are validated every epoch
    mine = plan_budget(560, 7, batch_size=64, lr=3e-3, epochs=7, patience=0)
    assert (mine.batch_size, mine.lr, mine.epochs, mine.patience, mine.check_every, mine.chosen) == (
        64, 3e-3, 7, None, 1, ())
    # a run shorter than its patience never stops early, and its line says so
    short = plan_budget(560, 7, epochs=3)
    assert short.patience >= short.epochs and "no early stopping" in short.describe()
    assert "stop after" in plan_budget(560, 7).describe()


def test_a_class_with_a_handful_of_samples_is_warned_about(data_dir: Path, tmp_path: Path) -> None:
    with np.load(data_dir / "FRA.npz") as z:
        x, y = z["fea"], z["lbl"]
    keep = np.concatenate([np.flatnonzero(y != 2), np.flatnonzero(y == 2)[:6]])  # 6 rice samples of 20
    np.savez(tmp_path / "FRA.npz", fea=x[keep], lbl=y[keep])
    result = train("--config", recipe(tmp_path, tmp_path), "--epochs", "1", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    handful = [w for w in warnings_of(result) if "fewer than" in w]
    assert len(handful) == 1 and "rice 5" in handful[0]  # 6 samples, 1 held out for validation


def test_sweep_tables_the_grid_and_keeps_the_best_run(data_dir: Path, tmp_path: Path) -> None:
    path = recipe(tmp_path, data_dir, 'epochs = 6\n[sweep]\nlr = [1e-5, 1e-2]\nbatch_size = [16]\nwindow = ["data"]')
    out = tmp_path / "sweep"
    result = train("--config", path, "--sweep", "--out", out)
    assert result.exit_code == 0, result.output
    sweep = json.loads((out / "sweep.json").read_text())
    trials = {t["name"]: t for t in sweep["trials"]}
    assert set(trials) == {"lr1e-05-b16-w1-361", "lr1e-02-b16-w1-361"} and sweep["status"] == "finished"
    best = max(trials.values(), key=lambda t: t["val_macro_f1"])
    assert sweep["best"] == best["name"] == "lr1e-02-b16-w1-361"
    kept = Run(out / "best")  # a whole run folder: eval, export and bench take it
    assert kept.record.validation.macro_f1 == best["val_macro_f1"] and kept.record.budget.lr == 1e-2
    loser = out / "trials" / "lr1e-05-b16-w1-361"
    assert {p.name for p in loser.iterdir()} == set(KEEP)
    table = result.stdout[result.stdout.index("sweep: 2 trials"):].splitlines()
    assert table[2].split()[:2] == ["1e-02", "16"] and table[2].endswith("best")  # best first
    assert table[-1] == f"best run kept in {out / 'best'}"
    # a second call finds it finished and prints the same table without training
    again = train("--config", path, "--sweep", "--out", out)
    assert again.exit_code == 0 and "sweep:" in again.stdout and "budget (" not in again.stdout


@pytest.mark.parametrize(
    "extra, message",
    [
        ("window = ['a', 'b']", "field 'window' is 'a', not a whole number"),
        ("window = [300, 100]", "window [300, 100] must be two days of year"),
        ("model_options = {dropout = 'x'}", "model option dropout = 'x' for tempcnn must be a number"),
        ("model_options = {filters = 2.5}", "model option filters = 2.5 for tempcnn must be a whole number"),
        ("data_options = {nodata = 'zero'}", "data option nodata = 'zero' must be a number or a list of numbers"),
        ("protocol = 'paper'", "field 'protocol' is 'paper', not one of 'auto', 'reference'"),
        ("augment_options = {time_shift_days = 'far'}", "bad augment setting"),
    ],
)
def test_recipe_content_errors_are_one_line_and_write_nothing(
    data_dir: Path, tmp_path: Path, extra: str, message: str
) -> None:
    text = RECIPE.format(data=data_dir, extra="").replace("[targets.FRA]", f"{extra}\n[targets.FRA]")
    (tmp_path / "r.toml").write_text(text.replace('model_options = {filters = 8, hidden = 16, dropout = 0.0}\n', "")
                                     if "model_options" in extra else text)
    result = train("--config", tmp_path / "r.toml", "--out", tmp_path / "run")
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("cropedge: error: ") and message in line, line
    assert not (tmp_path / "run").exists()


def test_cli_window_and_seed_range(data_dir: Path, tmp_path: Path) -> None:
    bad = train("--data", data_dir, "--source", "FRA", "--window", "200,100", "--out", tmp_path / "r")
    assert bad.exit_code == 2 and "START,END" in bad.stderr and not (tmp_path / "r").exists()
    (tmp_path / "s.toml").write_text(f'data = "{data_dir}"\nsources = ["FRA"]\nseeds = [{2**32}]\n')
    seeds = train("--config", tmp_path / "s.toml", "--out", tmp_path / "r")
    assert seeds.exit_code == 2 and "within 0..4294967295" in seeds.stderr


def test_a_killed_run_validated_every_few_epochs_resumes_to_the_same_run(runs: dict, tmp_path: Path,
                                                                         killed_after) -> None:
    reference = runs["defaults"][0]
    config = TrainConfig.from_dict(json.loads((reference / "config.json").read_text()))
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_run(config, out, verbose=0, callbacks=[killed_after(3)])
    train_run(config, out, verbose=0)
    ours, theirs = history(out), history(reference)
    assert [r["epoch"] for r in ours] == [r["epoch"] for r in theirs]  # every check_every epochs, none lost
    np.testing.assert_allclose([float(r["loss"]) for r in ours], [float(r["loss"]) for r in theirs], rtol=1e-6)
    assert Run(out).record.best_epoch == Run(reference).record.best_epoch
