"""Evaluation of trained runs on target regions (real TensorFlow, tiny synthetic data)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cropedge.cli import cli
from cropedge.data import load_regions
from cropedge.data.matching import labels_by_name
from cropedge.data.synthetic import REGIONS, synthesize
from cropedge.errors import CropEdgeError
from cropedge.training.evaluate import evaluate_run, evaluate_targets, remap_unknown_to_other
from cropedge.training.run import Run
from cropedge.training.train import TrainConfig, train_run, train_seeds


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cropglobe")
    synthesize(out, samples_per_class=30, seed=1, regions=("FRA", "BEL", "ARG"))
    return out


@pytest.fixture(scope="module")
def run(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    config = TrainConfig(
        data=str(data_dir), sources=("FRA",), model="tempcnn", model_options={"filters": 8, "hidden": 16},
        epochs=2, batch_size=32, lr=1e-2, augment=False,
    )
    return Run(train_run(config, tmp_path_factory.mktemp("runs") / "fra", verbose=0))


@pytest.fixture(scope="module")
def bel(data_dir: Path):
    return load_regions(data_dir, ["BEL"])


def test_report_has_the_scores_of_a_transfer_experiment(run: Run, bel) -> None:
    res = evaluate_run(run, bel)
    for key in ("n", "oa", "macro_f1", "weighted_f1", "per_class_f1", "support", "confusion", "classes",
                "regions", "n_excluded", "unseen_classes", "season_alignment", "map_unknown_to_other"):
        assert key in res, key
    cm = np.array(res["confusion"])
    assert cm.shape == (len(run.classes),) * 2 and cm.sum() == res["n"] == len(bel)
    assert res["oa"] == pytest.approx(np.trace(cm) / cm.sum())
    assert res["regions"] == ["BEL"] and res["unseen_classes"] == {} and res["n_excluded"] == 0
    assert res["season_alignment"] == {"method": "run", "days": 0.0}
    # macro-F1 averages the classes present in the target only
    present = [f for c, f in res["per_class_f1"].items() if res["support"][c]]
    assert res["macro_f1"] == pytest.approx(np.mean(present))
    json.dumps(res)  # machine-readable as it is


def test_classes_are_matched_by_name_not_position(run: Run, bel) -> None:
    order = np.array([3, 0, 6, 1, 5, 2, 4])  # the same classes listed in another order
    classes = tuple(bel.classes[i] for i in order)
    relabelled = replace(bel, classes=classes, y=np.argsort(order)[bel.y])
    assert evaluate_run(run, relabelled)["confusion"] == evaluate_run(run, bel)["confusion"]


def test_a_class_the_source_never_saw_is_reported_not_merged(run: Run, bel) -> None:
    classes = (*bel.classes, "sunflower")
    y = bel.y.copy()
    y[:5] = len(classes) - 1
    res = evaluate_run(run, replace(bel, classes=classes, y=y))
    assert res["unseen_classes"]["sunflower"]["n"] == 5
    assert sum(res["unseen_classes"]["sunflower"]["predicted"].values()) == 5
    assert res["n"] == len(bel) - 5 and res["n_excluded"] == 5
    assert "sunflower" not in res["classes"]
    labels, unseen = labels_by_name(replace(bel, classes=classes, y=y), run.classes)
    assert (labels[:5] == -1).all() and unseen == {"sunflower": 5}


def test_predictions_outside_the_crop_set_become_other(run: Run, data_dir: Path) -> None:
    classes = run.classes
    pred = np.arange(len(classes))
    mapped = remap_unknown_to_other(pred, classes, ["corn", "rice"])
    assert [classes[i] for i in mapped] == [c if c in ("corn", "rice") else "other" for c in classes]

    arg = load_regions(data_dir, ["ARG"])
    res = evaluate_run(run, arg, map_unknown_to_other=True)  # ARG: the reference's crop set (no wheat)
    assert res["map_unknown_to_other"]["crops"] == ["corn", "soybeans", "rice", "sugarcane", "cotton"]
    cm = np.array(res["confusion"])
    assert cm[:, classes.index("wheat")].sum() == 0
    plain = evaluate_run(run, arg)
    assert res["map_unknown_to_other"]["remapped"] == np.array(plain["confusion"])[:, classes.index("wheat")].sum()
    with pytest.raises(CropEdgeError, match="does not know"):
        remap_unknown_to_other(pred, classes, ["maize"])


def test_season_offset_fixed_and_auto(run: Run, data_dir: Path) -> None:
    arg = load_regions(data_dir, ["ARG"])
    fixed = evaluate_run(run, arg, season_offset=182)
    assert fixed["season_alignment"] == {"method": "fixed", "days": 182.0}
    auto = evaluate_run(run, arg, season_offset="auto")
    assert auto["season_alignment"]["method"] == "auto"
    # ARG's season runs the hemisphere offset plus its own shift later than FRA's (circularly)
    days = auto["season_alignment"]["days"]
    late = REGIONS["ARG"].hemisphere_days + REGIONS["ARG"].greenup_shift
    assert abs((days - late + 182.5) % 365 - 182.5) <= 20
    # the estimated offset is applied like a fixed one
    assert evaluate_run(run, arg, season_offset=days)["confusion"] == auto["confusion"]


def test_data_that_cannot_feed_the_model_is_refused(run: Run, bel) -> None:
    with pytest.raises(CropEdgeError, match="bands"):
        evaluate_run(run, replace(bel, bands=tuple(reversed(bel.bands))))
    short = replace(bel, x=bel.x[:, :, :40], doy=bel.doy[:40])
    with pytest.raises(CropEdgeError, match="73-step year grid"):
        evaluate_run(run, short)


def test_multi_seed_runs_report_mean_and_std(data_dir: Path, bel, tmp_path: Path) -> None:
    config = TrainConfig(
        data=str(data_dir), sources=("FRA",), model="randomforest", model_options={"n_estimators": 10, "n_jobs": 1}
    )
    out = train_seeds(config, [0, 1], tmp_path / "rf", verbose=0)
    res = evaluate_targets(out, {"BEL": bel})
    assert res["seeds"] == [0, 1]
    target = res["targets"]["BEL"]
    values = [target["seeds"][s]["macro_f1"] for s in ("0", "1")]
    assert target["mean"]["macro_f1"] == pytest.approx(np.mean(values))
    assert target["std"]["macro_f1"] == pytest.approx(np.std(values))


def test_cli_eval_prints_json_and_a_table(run: Run, data_dir: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "eval.json"
    args = ["eval", str(run.path), "--target", "BEL", "--target", "south=ARG", "--season-offset", "auto",
            "--json", "--out", str(out_file)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    res = json.loads(result.output)
    assert set(res["targets"]) == {"BEL", "south"} and res["targets"]["south"]["regions"] == ["ARG"]
    assert json.loads(out_file.read_text()) == res
    table = CliRunner().invoke(cli, ["eval", str(run.path), "--data", str(data_dir), "--target", "BEL"])
    assert table.exit_code == 0 and "macro-F1" in table.output and "BEL" in table.output


def test_cli_recipe_drives_train_and_eval(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "training").mkdir()
    recipe = tmp_path / "training" / "hemi.toml"
    recipe.write_text(f"""
data = "{data_dir}"
sources = ["FRA"]
seeds = [0, 1]
[train]
model = "randomforest"
model_options = {{ n_estimators = 10, n_jobs = 1 }}
[eval]
map_unknown_to_other = true
[targets.ARG]
season_offset = 182
crops = ["corn", "soybeans"]
[targets.BEL]
""")
    runner = CliRunner()
    out = tmp_path / "run"
    assert runner.invoke(cli, ["train", "--config", str(recipe), "--out", str(out), "--quiet"]).exit_code == 0
    assert {p.name for p in out.iterdir()} == {"seed-0", "seed-1", "summary.json"}
    result = runner.invoke(cli, ["eval", str(out), "--config", str(recipe), "--json"])
    assert result.exit_code == 0, result.output
    targets = json.loads(result.output)["targets"]
    arg = targets["ARG"]["seeds"]["0"]
    assert arg["season_alignment"] == {"method": "fixed", "days": 182.0}
    assert arg["map_unknown_to_other"]["crops"] == ["corn", "soybeans"]
    assert targets["BEL"]["seeds"]["1"]["map_unknown_to_other"]["crops"] is None
    # a command-line option overrides the recipe
    result = runner.invoke(
        cli, ["eval", str(out), "--config", str(recipe), "--target", "ARG", "--season-offset", "0", "--json"]
    )
    assert json.loads(result.output)["targets"]["ARG"]["seeds"]["0"]["season_alignment"]["days"] == 0.0


def test_cli_eval_errors_are_one_line(run: Run, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["eval", str(run.path), "--target", "XYZ"])
    assert result.exit_code == 2 and "XYZ" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["eval", str(tmp_path), "--target", "BEL"])
    assert result.exit_code == 2 and "not a training run" in result.output
