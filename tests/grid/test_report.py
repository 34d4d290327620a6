"""Report from a real (tiny) benchmark grid: files, embedded figures, shard merging, what to ship."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cropedge.cli import cli
from cropedge.device.profile import DeviceProfile
from cropedge.errors import CropEdgeError
from cropedge.grid.bench import LatencyOptions, run_grid, settings_from_recipes
from cropedge.grid.rows import KERAS, read_rows
from cropedge.grid.figures import pareto_front
from cropedge.grid.report import (
    build_report,
    choose_bundle,
    latency_basis,
    load_rows,
    variant_summaries,
)

REPO = Path(__file__).resolve().parents[2]
FIGURES = ("accuracy_vs_latency.png", "accuracy_vs_size.png", "precision_drop.png", "augmentation.png", "confusion.png")

pytestmark = pytest.mark.xdist_group("report_grid")


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> Path:
    from cropedge.data.synthetic import synthesize

    data = tmp_path_factory.mktemp("data")
    synthesize(data, samples_per_class=10, seed=0, regions=("FRA", "ARG", "AUS"))
    out = tmp_path_factory.mktemp("grid")
    settings = settings_from_recipes([REPO / "training" / "cross_hemisphere.toml"], data)
    run_grid(settings, out, ["cropnet-xxs"], ["float32"], [0], epochs=1,
             latency=LatencyOptions(batches=(1, 16), threads=(1,), warmup=1, runs=3, max_seconds=1.0), progress=False)
    return out


@pytest.mark.slow
def test_report_files_and_embedded_figures(grid, tmp_path):
    result = build_report([grid], tmp_path / "report")
    for name in FIGURES:
        assert (tmp_path / "report" / name).stat().st_size > 10_000, name
    html = result["report_html"].read_text(encoding="utf-8")
    assert html.count("src='data:image/png;base64,") == len(result["figures"]) == len(FIGURES)
    assert not re.search(r"src='[^d]", html)  # nothing loaded from beside the file: self-contained
    md = result["report_md"].read_text(encoding="utf-8")
    assert all(f"]({name})" in md for name in FIGURES)
    assert "## What to ship" in md and "cross hemisphere: ship **cropnet-xxs float32" in md
    summary = json.loads(result["report_json"].read_text(encoding="utf-8"))
    assert {v["aligned"] for v in summary["variants"]} == {False, True}  # the recipe aligns ARG and AUS


@pytest.mark.slow
def test_ship_line_respects_the_budget(grid, tmp_path):
    tight = tmp_path / "tight.toml"
    tight.write_text('name = "tight"\n[runtime]\nthreads = 1\nbatch_size = 1\nlatency_budget_ms = 0.000001\n')
    result = build_report([grid], tmp_path / "report", profile=tight)
    assert "no bundle passed every check within 1e-06 ms (batch 1, 1 thread)" in result["ship"]["cross_hemisphere"]
    rows = load_rows([grid])
    basis = latency_basis(rows, DeviceProfile(threads=4, batch_size=20))
    assert (basis.batch, basis.threads) == (16, 1)  # nearest measured batch, most threads within the profile's
    variants = variant_summaries(rows, basis)
    eligible = [v for v in variants if v["setting"] == "cross_hemisphere" and v["precision"] != KERAS and v["all_ok"]]
    assert eligible
    assert choose_bundle(variants, "cross_hemisphere", budget_ms=None, tie=0)["f1_mean"] == max(
        v["f1_mean"] for v in eligible)
    fastest = min(v["latency_ms"] for v in eligible)
    assert choose_bundle(variants, "cross_hemisphere", budget_ms=None, tie=1.0)["latency_ms"] == fastest


@pytest.mark.slow
def test_shards_merge_and_report_needs_only_the_cells(grid, tmp_path):
    cells = sorted((grid / "cells").glob("*.json"))
    for i, part in enumerate(("a", "b")):
        (tmp_path / part / "cells").mkdir(parents=True)
        for path in cells[i::2]:
            shutil.copy(path, tmp_path / part / "cells" / path.name)
    merged = load_rows([tmp_path / "a", tmp_path / "b"])
    assert [r.key for r in merged] == [r.key for r in read_rows(grid)]
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out",
                                      str(tmp_path / "merged"), "--profile", "pi4"])
    assert result.exit_code == 0, result.output
    assert "report:" in result.output and (tmp_path / "merged" / "report.html").is_file()


def test_report_of_a_folder_without_results_is_a_user_error(tmp_path):
    with pytest.raises(CropEdgeError, match="no cells/ folder"):
        load_rows([tmp_path])
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_pareto_front_keeps_only_undominated_points():
    points = [(1.0, 0.5), (2.0, 0.4), (2.0, 0.7), (3.0, 0.7), (4.0, 0.9), (0.5, 0.1)]
    assert pareto_front(points) == [(0.5, 0.1), (1.0, 0.5), (2.0, 0.7), (4.0, 0.9)]
