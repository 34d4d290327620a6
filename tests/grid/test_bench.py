"""Benchmark grid: real training, export, LiteRT timing and scoring on tiny synthetic data.

One small grid is built once per module (two recipes that share their FRA source runs, a
CNN and a random forest whose export must fail) and then resumed, partly re-run, sharded
and checked through the CLI.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from cropedge.cli import cli
from cropedge.errors import CropEdgeError
from cropedge.grid.bench import LatencyOptions, parse_shard, plan, run_grid, settings_from_recipes, shard
from cropedge.grid.rows import CHECK_FAILED, FAILED, KERAS, OK, below_floor, read_rows

REPO = Path(__file__).resolve().parents[2]
RECIPES = [REPO / "training" / "cross_country.toml", REPO / "training" / "cross_hemisphere.toml"]
MODELS = ["cropnet-xxs", "randomforest"]
PRECISIONS = ["float32", "int8"]
LATENCY = LatencyOptions(batches=(1, 8), threads=(1,), warmup=1, runs=3, max_seconds=1.0)
# cross_country: BEL NLD GBR; cross_hemisphere: ARG AUS, each also season-aligned; source: FRA validation
TARGET_ROWS = 3 + 2 * 2 + 1

# the module's tests share one grid (and resume it in order): keep them on one xdist worker
pytestmark = pytest.mark.xdist_group("bench_grid")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from cropedge.data.synthetic import synthesize

    out = tmp_path_factory.mktemp("data")
    synthesize(out, samples_per_class=10, seed=0)
    return out


@pytest.fixture(scope="module")
def grid(tmp_path_factory, data):
    """The grid folder and the summary of the call that built it."""
    out = tmp_path_factory.mktemp("grid")
    summary = run_grid(settings_from_recipes(RECIPES, data), out, MODELS, PRECISIONS, [0],
                       epochs=1, latency=LATENCY, progress=False)
    return out, summary


@pytest.mark.slow
def test_one_row_per_cell_with_statuses(grid):
    out, summary = grid
    # two jobs (one per model) shared by both settings: trained once each
    assert summary.jobs == 2 and summary.trained == 2
    expected = len(MODELS) * TARGET_ROWS * (1 + len(PRECISIONS))
    assert summary.cells == expected == len(summary.rows) == len(list((out / "cells").glob("*.json")))
    rows = {(r.model, r.precision, r.setting, r.target, r.aligned): r for r in summary.rows}
    cnn = [r for r in summary.rows if r.model == "cropnet-xxs"]
    assert {r.status for r in cnn} <= {OK, CHECK_FAILED}
    for r in cnn:
        assert 0.0 <= r.oa <= 1.0 and r.n > 0 and r.size_bytes > 0
        assert r.runtime and r.cpu_model and r.tensorflow
    # bundles are timed at every batch x threads; the Keras reference row is not
    int8 = rows[("cropnet-xxs", "int8", "cross_country", "BEL", False)]
    assert {(lat.batch, lat.threads) for lat in int8.latency} == {(1, 1), (8, 1)}
    assert all(lat.p5_ms <= lat.median_ms <= lat.p95_ms for lat in int8.latency)
    assert int8.size_bytes < rows[("cropnet-xxs", "float32", "cross_country", "BEL", False)].size_bytes
    assert not rows[("cropnet-xxs", KERAS, "cross_country", "BEL", False)].latency
    # season-aligned rows moved the southern year by the recipe's 182 days
    assert rows[("cropnet-xxs", "int8", "cross_hemisphere", "AUS", True)].season_offset_days == 182
    assert rows[("cropnet-xxs", "int8", "cross_hemisphere", "AUS", False)].season_offset_days == 0
    # a random forest trains and scores, but cannot become a .tflite: failed rows with a reason, no crash
    forest = [r for r in summary.rows if r.model == "randomforest"]
    assert {r.status for r in forest if r.precision == KERAS} == {OK}
    exported = [r for r in forest if r.precision != KERAS]
    assert {r.status for r in exported} == {FAILED}
    assert all("export failed" in r.reason and "Keras" in r.reason and r.traceback for r in exported)


@pytest.mark.slow
def test_results_files_rebuilt_from_cells(grid):
    out, summary = grid
    table = list(csv.DictReader((out / "results.csv").open(encoding="utf-8")))
    assert len(table) == len(summary.rows) == len(json.loads((out / "results.json").read_text()))
    assert {"status", "setting", "target", "oa", "macro_f1", "f1_corn", "lat_b1_t1_median_ms",
            "lat_b8_t1_p95_ms", "pps_b8_t1", "size_bytes", "params", "macs"} <= set(table[0])


@pytest.mark.slow
def test_second_call_does_nothing(grid, data):
    out, summary = grid
    before = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    again = run_grid(settings_from_recipes(RECIPES, data), out, MODELS, PRECISIONS, [0],
                     epochs=1, latency=LATENCY, progress=False)
    assert (again.trained, again.exported, again.evaluated, again.skipped) == (0, 0, 0, summary.cells)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")} == before


@pytest.mark.slow
def test_killed_grid_resumes_only_missing_work(grid, data):
    out, _ = grid
    lost = sorted((out / "cells").glob("cross_hemisphere__ARG__cropnet-xxs__*__raw.json"))
    assert len(lost) == 1 + len(PRECISIONS)
    for p in lost:
        p.unlink()
    again = run_grid(settings_from_recipes(RECIPES, data), out, MODELS, PRECISIONS, [0],
                     epochs=1, latency=LATENCY, progress=False)
    assert (again.trained, again.exported, again.evaluated) == (0, 0, len(lost))
    assert all(p.is_file() for p in lost)


@pytest.mark.slow
def test_failed_cells_rerun_only_when_asked(grid, data):
    out, _ = grid
    settings = settings_from_recipes(RECIPES, data)
    failed = [r for r in read_rows(out) if r.status == FAILED]
    kept = run_grid(settings, out, ["randomforest"], PRECISIONS, [0], epochs=1, latency=LATENCY, progress=False)
    assert kept.evaluated == 0
    retried = run_grid(settings, out, ["randomforest"], PRECISIONS, [0], epochs=1, latency=LATENCY,
                       retry_failed=True, progress=False)
    assert (retried.trained, retried.evaluated) == (0, len(failed))


@pytest.mark.slow
def test_cli_min_oa_floor_sets_exit_status(grid, data):
    out, summary = grid
    args = ["bench", "--recipe", str(RECIPES[0]), "--recipe", str(RECIPES[1]), "--data", str(data),
            "--models", ",".join(MODELS), "--precisions", ",".join(PRECISIONS), "--seeds", "0", "--epochs", "1",
            "--batches", "1,8", "--threads", "1", "--warmup", "1", "--runs", "3", "--out", str(out), "--json"]
    ok_rows = [r for r in summary.rows if r.status == OK]
    passing = CliRunner().invoke(cli, [*args, "--min-oa", "0"])
    assert passing.exit_code == 0, passing.output
    assert json.loads(passing.output)["evaluated"] == 0
    failing = CliRunner().invoke(cli, [*args, "--min-oa", "1"])
    assert failing.exit_code == 1
    assert len(json.loads(failing.output)["below_min_oa"]) == len(below_floor(ok_rows, 1.0)) > 0


def test_cli_user_errors_are_one_line(data, tmp_path):
    result = CliRunner().invoke(cli, ["bench", "--recipe", str(RECIPES[0]), "--data", str(data),
                                      "--precisions", "int4", "--out", str(tmp_path / "g")])
    assert result.exit_code == 2
    assert "unknown precision 'int4'" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["bench", "--recipe", str(RECIPES[0]), "--shard", "3/2", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "K must be between 1 and N" in result.output


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_shards_cover_every_cell_exactly_once(data, n):
    settings = settings_from_recipes(RECIPES, data)
    jobs = plan(settings, ["cropnet-xxs", "tempcnn"], PRECISIONS, [0, 1], [False, True])
    assert len(jobs) == 8  # settings with the same source and training share their jobs
    every = [c.key for j in jobs for c in j.cells]
    assert len(every) == len(set(every)) == 8 * TARGET_ROWS * 3
    shares = [[c.key for j in shard(jobs, k, n) for c in j.cells] for k in range(1, n + 1)]
    assert sorted(k for share in shares for k in share) == sorted(every)
    assert max(len(s) for s in shares) - min(len(s) for s in shares) <= 3 * TARGET_ROWS  # at most one job apart
    assert shares == [[c.key for j in shard(list(reversed(jobs)), k, n) for c in j.cells] for k in range(1, n + 1)]


def test_parse_shard():
    assert parse_shard(None) == (1, 1) and parse_shard("2/4") == (2, 4)
    for bad in ("0/2", "3/2", "1-2", "a/b"):
        with pytest.raises(CropEdgeError):
            parse_shard(bad)


@pytest.mark.slow
def test_no_half_written_cells(grid):
    out, _ = grid
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".") and ".tmp" in p.name]
    assert leftovers == []
    assert os.listdir(out / "cells")
