"""Training runs with real TensorFlow on tiny synthetic CropGlobe-like data."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cropedge.backend import keras
from cropedge.cli import cli
from cropedge.data.grid import Window
from cropedge.data.matching import stratified_split
from cropedge.data.normalize import BandStats
from cropedge.data.synthetic import synthesize
from cropedge.errors import CropEdgeError
from cropedge.training.recipe import load_recipe
from cropedge.training.run import Run
from cropedge.training.train import CLASS_WEIGHT_POWER, TrainConfig, balanced_class_weights, train_run, train_seeds

REPO = Path(__file__).resolve().parents[2]
# a model small enough to train in seconds that still learns the synthetic classes
TINY = {"model": "tempcnn", "model_options": {"filters": 8, "hidden": 16}, "batch_size": 32, "lr": 1e-2}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cropglobe")
    synthesize(out, samples_per_class=30, seed=0, regions=("FRA", "BEL"))
    return out


@pytest.fixture(scope="module")
def config(data_dir: Path) -> TrainConfig:
    return TrainConfig(data=str(data_dir), sources=("FRA",), epochs=3, augment=False, **TINY)


@pytest.fixture(scope="module")
def run_dir(config: TrainConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_run(config, tmp_path_factory.mktemp("runs") / "fra", verbose=0)


def _history(run_dir: Path) -> list[dict]:
    with open(run_dir / "history.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_run_folder_holds_the_contract_files(run_dir: Path, config: TrainConfig) -> None:
    names = {p.name for p in run_dir.iterdir()}
    assert names == {"run.json", "config.json", "versions.json", "history.csv", "split.npz", "model.keras"}
    meta = json.loads((run_dir / "run.json").read_text())
    for key in ("model", "classes", "bands", "window", "normalization", "season_offset_days", "sources", "data",
                "seed", "augment", "params", "macs", "input_shape", "best_epoch", "validation"):
        assert key in meta, key
    assert meta["status"] == "finished"
    assert meta["model"] == "tempcnn" and meta["sources"] == ["FRA"] and meta["input_shape"] == [10, 73, 1]
    assert Window.from_dict(meta["window"]) == Window(1, 361)  # the default window: the span the data cover
    assert meta["params"] > 0 and meta["macs"] > 0
    assert meta["augment"]["time_shift"] is False  # --no-augment recorded as the switched-off config
    assert TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text())) == config
    assert "numpy" in json.loads((run_dir / "versions.json").read_text())
    # run.json is written last: it marks the run finished
    assert all((run_dir / "run.json").stat().st_mtime_ns >= p.stat().st_mtime_ns for p in run_dir.iterdir())


def test_best_validation_epoch_is_kept(run_dir: Path) -> None:
    rows = _history(run_dir)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    scores = [float(r["val_macro_f1"]) for r in rows]
    run = Run(run_dir)
    assert run.record.to_dict()["best_epoch"] == int(np.argmax(scores)) + 1
    # the saved model is that epoch's: scoring it again gives the recorded validation macro-F1
    val = run.val_data()
    pred = run.predict_proba(val.x).argmax(axis=1)
    y = np.array([run.classes.index(val.classes[i]) for i in val.y])
    assert run.record.to_dict()["validation"]["oa"] == pytest.approx(float((pred == y).mean()))
    assert run.record.to_dict()["validation"]["macro_f1"] == pytest.approx(max(scores), abs=1e-6)
    assert run.record.to_dict()["validation"]["macro_f1"] > 0.5  # it learned something


def test_split_is_stratified_held_out_source_data(run_dir: Path, config: TrainConfig) -> None:
    run = Run(run_dir)
    split = run.split()
    assert not set(split["train_idx"]) & set(split["val_idx"])
    source = run.source_data()
    assert len(split["train_idx"]) + len(split["val_idx"]) == len(source)
    for c in np.unique(source.y):
        n_val = (source.y[split["val_idx"]] == c).sum()
        assert n_val == round((source.y == c).sum() * config.val_fraction)
    # normalisation comes from the training split only
    stats = BandStats.fit(run.window.cut(run.train_data().x))
    assert run.stats.mean == pytest.approx(stats.mean) and run.stats.std == pytest.approx(stats.std)


def test_class_weights_are_balanced_on_the_training_split(run_dir: Path) -> None:
    assert balanced_class_weights(np.array([0, 0, 0, 1]), 3) == {0: 4 / 6, 1: 2.0, 2: 0.0}
    assert balanced_class_weights(np.array([0, 0, 0, 1]), 3, power=0.5) == pytest.approx(
        {0: (4 / 6) ** 0.5, 1: 2.0**0.5, 2: 0.0})
    run = Run(run_dir)
    y = run.train_data().y
    counts = np.bincount(y)
    power = CLASS_WEIGHT_POWER[run.config.protocol]  # square-root balance by default, full for the reference
    expected = {c: (len(y) / (len(counts) * counts[i])) ** power for i, c in enumerate(run.classes)}
    assert run.record.to_dict()["class_weights"] == pytest.approx(expected)


def test_stratified_split_leaves_out_unlabelled_and_singletons() -> None:
    y = np.array([0] * 10 + [1] * 5 + [2] + [-1] * 3)
    train, val = stratified_split(y, 0.2, seed=1)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(16))
    assert (y[val] == 0).sum() == 2 and (y[val] == 1).sum() == 1 and (y[val] == 2).sum() == 0
    assert np.array_equal(stratified_split(y, 0.2, seed=1)[1], val)


class _Epochs(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.seen.append(epoch + 1)


def test_interrupted_run_resumes_from_its_last_epoch(config: TrainConfig, tmp_path: Path, killed_after) -> None:
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_run(config, out, verbose=0, callbacks=[killed_after(1)])
    assert not (out / "run.json").exists() and (out / "backup").is_dir()
    first = _history_in_backup(out)
    epochs = _Epochs()
    train_run(config, out, verbose=0, callbacks=[epochs])
    assert epochs.seen == [2, 3]
    rows = _history(out)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[0]["val_macro_f1"]) == pytest.approx(first[0]["val_macro_f1"])
    assert Run(out).record.to_dict()["best_epoch"] == int(np.argmax([float(r["val_macro_f1"]) for r in rows])) + 1
    assert not (out / "backup").exists()


def _history_in_backup(out: Path) -> list[dict]:
    return json.loads((out / "backup" / "state.json").read_text())["history"]


def test_finished_run_is_kept_and_other_settings_are_refused(run_dir: Path, config: TrainConfig) -> None:
    before = (run_dir / "run.json").stat().st_mtime_ns
    assert train_run(config, run_dir, verbose=0) == run_dir
    assert (run_dir / "run.json").stat().st_mtime_ns == before
    with pytest.raises(CropEdgeError, match="other settings"):
        train_run(replace(config, epochs=5), run_dir, verbose=0)


def test_randomforest_trains_through_the_same_entry_point(config: TrainConfig, tmp_path: Path) -> None:
    rf = replace(config, model="randomforest", model_options={"n_estimators": 20, "n_jobs": 1})
    out = train_run(rf, tmp_path / "rf", verbose=0)
    assert (out / "model.joblib").is_file() and not (out / "model.keras").exists()
    run = Run(out)
    assert run.record.to_dict()["best_epoch"] is None and run.record.to_dict()["validation"]["macro_f1"] > 0.5
    assert run.predict_proba(run.val_data().x).shape == (run.record.to_dict()["n_val"], len(run.classes))


def test_seeds_write_subfolders_and_a_summary(config: TrainConfig, tmp_path: Path) -> None:
    forest = replace(config, model="randomforest", model_options={"n_estimators": 10, "n_jobs": 1})
    out = train_seeds(forest, [0, 3], tmp_path / "seeds", verbose=0)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [0, 3] and summary["runs"] == ["seed-0", "seed-3"]
    values = [Run(out / f"seed-{s}").record.to_dict()["validation"]["macro_f1"] for s in (0, 3)]
    assert summary["validation"]["macro_f1"]["mean"] == pytest.approx(np.mean(values))
    assert summary["validation"]["macro_f1"]["std"] == pytest.approx(np.std(values))


def test_mixed_precision_trains_and_saves_a_float32_model(config: TrainConfig, tmp_path: Path) -> None:
    out = train_run(replace(config, epochs=1, mixed_precision=True), tmp_path / "mp", verbose=0)
    run = Run(out)
    assert run.record.to_dict()["precision"] == "mixed_bfloat16"  # CPU; mixed_float16 on a GPU
    assert all(layer.dtype_policy.name == "float32" for layer in run.model.layers)
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after training


# --- recipes --------------------------------------------------------------------------


def test_shipped_recipes_parse() -> None:
    recipes = sorted((REPO / "training").glob("*.toml"))
    assert {p.stem for p in recipes} >= {
        "cross_country", "cross_continent", "cross_hemisphere", "cross_hemisphere_usa", "worldcereal_france"
    }
    for path in recipes:
        recipe = load_recipe(path)
        assert recipe.targets and recipe.seeds and recipe.config.sources
    hemi = load_recipe(REPO / "training" / "cross_hemisphere.toml")
    assert {t.name: t.crops for t in hemi.targets}["AUS"] == ("sugarcane", "cotton")
    wc = load_recipe(REPO / "training" / "worldcereal_france.toml")
    assert Path(wc.config.data).is_file()


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "training").mkdir(exist_ok=True)
    path = tmp_path / "training" / "r.toml"
    path.write_text(text)
    return path


def test_recipe_maps_onto_train_config(tmp_path: Path) -> None:
    path = _write(tmp_path, """
data = "data/cg"
sources = ["FRA"]
seeds = [3, 4]
[train]
model = "cropnet-xs"
epochs = 7
augment_options = { time_shift_days = 30.0 }
[eval]
map_unknown_to_other = true
season_offset = "auto"
[targets.BEL]
[targets.south]
regions = ["ARG", "AUS"]
season_offset = 182
crops = ["corn"]
""")
    recipe = load_recipe(path)
    assert recipe.config == TrainConfig(
        data=str(tmp_path / "data" / "cg"), sources=("FRA",), model="cropnet-xs", epochs=7, seed=3,
        augment_options={"time_shift_days": 30.0},
    )
    assert recipe.seeds == (3, 4) and recipe.map_unknown_to_other
    bel, south = recipe.targets
    assert (bel.regions, bel.season_offset, bel.crops) == (("BEL",), "auto", None)
    assert (south.regions, south.season_offset, south.crops) == (("ARG", "AUS"), 182.0, ("corn",))


@pytest.mark.parametrize(
    "text, message",
    [
        ('data = "d"\nsources = ["FRA"]\nepochs = 3\n', "unknown key 'epochs'"),
        ('data = "d"\nsources = ["FRA"]\n[train]\nepoch = 3\n', "unknown key 'train.epoch'"),
        ('data = "d"\nsources = ["FRA"]\n[train]\nepochs = "3"\n', "field 'epochs' is '3', not a whole number"),
        ('data = "d"\nsources = ["FRA"]\n[train]\naugment = 1\n', "field 'augment' is 1, not true or false"),
        ('data = "d"\nsources = ["FRA"]\n[targets.X]\nregion = ["A"]\n', "unknown key 'targets.X.region'"),
        ('data = "d"\nsources = ["FRA"]\n[train]\nmodel = "resnet"\n', "unknown model"),
        ('data = "d"\nsources = ["FRA"]\n[eval]\nseason_offset = "later"\n', "neither a number"),
        ('sources = ["FRA"]\n', "missing 'data'"),
        ('data = "d"\nsources = ["FRA"]\nseeds = [1, 1]\n', "distinct"),
        ('data = "d"\nsources = [\n', "not valid TOML"),
    ],
)
def test_bad_recipes_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(CropEdgeError, match=message):
        load_recipe(_write(tmp_path, text))


# --- command line ---------------------------------------------------------------------


def test_cli_trains_a_run(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli-run"
    args = ["train", "--data", str(data_dir), "--source", "FRA", "--model", "mlp", "--epochs", "1",
            "--out", str(out), "--batch-size", "64", "--seed", "2", "--quiet"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.output == ""
    meta = Run(out).record.to_dict()
    assert (meta["model"], meta["seed"], meta["augment"]["time_shift"]) == ("mlp", 2, True)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--epochs", "0"], "--epochs"),
        (["--epochs", "-3"], "--epochs"),
        (["--model", "resnet"], "unknown model"),
        (["--source", "XYZ"], "XYZ"),
        (["--lr", "0"], "--lr"),
        (["--seed", "1", "--seeds", "1,2"], "not both"),
    ],
)
def test_cli_refuses_bad_arguments(data_dir: Path, tmp_path: Path, args: list[str], message: str) -> None:
    base = {"--data": str(data_dir), "--source": "FRA", "--out": str(tmp_path / "r")}
    for flag in args[::2]:
        base.pop(flag, None)
    argv = ["train", *[x for kv in base.items() for x in kv], *args]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_cli_refuses_a_missing_data_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["train", "--data", str(tmp_path / "nope"), "--source", "FRA", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2 and "does not exist" in result.output
