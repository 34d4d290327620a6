"""Report from a real (tiny) benchmark grid: files, figures, shard merging, what to ship, device latency.

The grid trains one cropnet-xxs for one epoch and exports it at float32 and int8; the device
measurements come from the real firmware_bench run on the grid's own bundles.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cropedge.cli import cli
from cropedge.device.latency import DeviceBench, read_device_bench
from cropedge.device.profile import DeviceProfile
from cropedge.errors import CropEdgeError
from cropedge.grid.bench import LatencyOptions, run_grid, settings_from_recipes
from cropedge.grid.device_latency import grid_source
from cropedge.grid.figures import CSS_PX_PER_IN, DPI, MAX_WIDTH_IN, pareto_front
from cropedge.grid.report import (
    PRECISION_ORDER,
    build_report,
    choose_bundle,
    grid_setting,
    load_rows,
    png_size,
    variant_summaries,
    with_latency,
)
from cropedge.grid.rows import KERAS, read_rows

REPO = Path(__file__).resolve().parents[2]
FIGURES = ("accuracy_vs_latency.png", "accuracy_vs_size.png", "precision_difference.png", "augmentation.png",
           "confusion_cross_hemisphere.png")
EMOJI = re.compile("[\u2600-\u27bf\U0001f300-\U0001faff]")

pytestmark = pytest.mark.xdist_group("report_grid")


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> Path:
    from cropedge.data.synthetic import synthesize

    data = tmp_path_factory.mktemp("data")
    synthesize(data, samples_per_class=10, seed=0, regions=("FRA", "ARG", "AUS"))
    out = tmp_path_factory.mktemp("grid")
    settings = settings_from_recipes([REPO / "training" / "cross_hemisphere.toml"], data)
    run_grid(settings, out, ["cropnet-xxs"], ["float32", "int8"], [0], epochs=1,
             export_profile=DeviceProfile(rep_samples=50),
             latency=LatencyOptions(batches=(1, 16), threads=(1,), warmup=1, runs=3, max_seconds=1.0), progress=False)
    return out


@pytest.fixture(scope="module")
def device_json(grid, tmp_path_factory) -> Path:
    """The grid's two bundles timed by the real firmware_bench, as a device would time them."""
    bundles = sorted((grid / "bundles").glob("*/*"))
    out = tmp_path_factory.mktemp("device") / "device.json"
    proc = subprocess.run([sys.executable, "-m", "firmware_bench", *map(str, bundles), "--threads", "1",
                           "--batch", "16", "--runs", "3", "--warmup", "1", "--json", str(out), "-q"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def _tight_profile(tmp_path: Path, budget_ms: float, gmacs: float | None = None) -> Path:
    rates = f"throughput_gmacs = {{ float32 = {gmacs}, int8 = {gmacs} }}\n" if gmacs else ""
    path = tmp_path / "tight.toml"
    path.write_text(f'name = "tight"\n[runtime]\nthreads = 1\nbatch_size = 16\nlatency_budget_ms = {budget_ms}\n'
                    + rates)
    return path


@pytest.mark.slow
def test_report_files_figures_and_estimated_latency(grid, tmp_path):
    result = build_report([grid], tmp_path / "report")
    for name in FIGURES:
        assert (tmp_path / "report" / name).stat().st_size > 10_000, name
    html = result["report_html"].read_text(encoding="utf-8")
    assert html.count("src='data:image/png;base64,") == len(result["figures"]) == len(FIGURES)
    assert not re.search(r"src='[^d]", html)  # nothing loaded from beside the file: self-contained
    # figures are drawn at the width the page shows them, so their 9-10 pt text is never scaled down
    for path in result["figures"]:
        width, _ = png_size(path)
        assert width / DPI * CSS_PX_PER_IN <= MAX_WIDTH_IN * CSS_PX_PER_IN + 10, path.name
        assert f"width='{round(width / DPI * CSS_PX_PER_IN)}'" in html
    md = result["report_md"].read_text(encoding="utf-8")
    assert all(f"]({name})" in md for name in FIGURES)
    assert not EMOJI.search(html) and not EMOJI.search(md)  # statuses are words: no emoji font needed
    # no device measurement: ranked by the pi4 profile's estimate from MACs, and it says so
    line = result["ship"]["cross_hemisphere"]
    assert line.startswith("cross hemisphere: ship **cropnet-xxs")
    assert re.search(r"ms per invoke \*\*estimated\*\* for pi4 from [\d.]+ M MACs, not measured", line), line
    assert "weakest on" in line
    summary = json.loads(result["report_json"].read_text(encoding="utf-8"))
    assert summary["latency"][0]["kind"] == "estimated"
    assert {v["aligned"] for v in summary["variants"]} == {False, True}  # the recipe aligns ARG and AUS
    deployable = [v for v in summary["variants"] if v["precision"] != KERAS]
    assert all(v["latency_kind"] == "estimated" for v in deployable)
    # the estimate is the profile's arithmetic: batch x MACs / throughput
    v = deployable[0]
    assert v["latency_ms"] == pytest.approx(256 * v["macs"] / (summary["profile"]["throughput_gmacs"][v["precision"]]
                                                               * 1e9) * 1e3)
    # tables list precisions in one fixed order and highlight the shipped row
    for setting in {v["setting"] for v in summary["variants"]}:
        mine = [v for v in summary["variants"] if v["setting"] == setting and not v["aligned"]]
        ranks = [PRECISION_ORDER.index(v["precision"]) for v in mine]
        assert ranks == sorted(ranks)
    assert "<tr class=ship>" in html


@pytest.mark.slow
def test_device_latency_round_trips_and_decides_what_to_ship(grid, device_json, tmp_path):
    bench = read_device_bench(device_json)
    assert bench.machine.cpu_model and {b.precision for b in bench.bundles} == {"float32", "int8"}
    assert all(b.sha256 and b.macs and b.model == "cropnet-xxs" for b in bench.bundles)
    assert DeviceBench.from_dict(bench.to_dict(), "again") == bench
    measured = {b.precision: next(t.invoke.median_ms for t in bench.timings if t.sha256 == b.sha256)
                for b in bench.bundles}
    # a profile whose own estimate (1 MMAC/s) puts every bundle far over a budget the device meets
    budget = 2 * max(measured.values())
    profile = _tight_profile(tmp_path, budget, gmacs=0.001)

    estimated = CliRunner().invoke(cli, ["report", str(grid), "--out", str(tmp_path / "est"), "--profile",
                                         str(profile)])
    assert estimated.exit_code == 0, estimated.output
    assert "cross hemisphere: no bundle that passed every check fits within" in estimated.output
    assert "estimated" in estimated.output

    result = CliRunner().invoke(cli, ["report", str(grid), "--out", str(tmp_path / "dev"), "--profile", str(profile),
                                      "--device-latency", str(device_json), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["latency"][0]["kind"] == "measured" and out["latency"][0]["name"] == bench.machine.label
    assert sorted(out["latency"][0]["matched_sha256"]) == sorted(b.sha256 for b in bench.bundles)
    line = out["ship"]["cross_hemisphere"]
    assert "ship **cropnet-xxs" in line and f"measured on {bench.machine.label}" in line
    summary = json.loads(Path(out["report_json"]).read_text(encoding="utf-8"))
    for v in summary["variants"]:
        if v["precision"] != KERAS:  # each bundle ranked by its own device median, not the grid's timing
            assert v["latency_kind"] == "measured" and v["latency_ms"] == pytest.approx(measured[v["precision"]])
    shipped = summary["ship"]["cross_hemisphere"]
    assert shipped["latency_ms"] <= budget
    html = Path(out["report_html"]).read_text(encoding="utf-8")
    assert "Latency measured on the device" in html and bench.bundles[0].sha256[:12] in html


@pytest.mark.slow
@pytest.mark.parametrize(("damage", "message"), [
    ([], "must be a JSON object"),
    ({"key": "zz"}, "lacks 'status'"),
    ("oa-high", "field 'oa'"),
    ("not json", "not valid JSON"),
])
def test_damaged_cell_is_one_line_and_leaves_no_report_folder(grid, tmp_path, damage, message):
    copy = tmp_path / "grid"
    shutil.copytree(grid / "cells", copy / "cells")
    cell = sorted((copy / "cells").glob("*.json"))[0]
    if damage == "oa-high":
        cell.write_text(json.dumps({**json.loads(cell.read_text()), "oa": "high"}))
    elif damage == "not json":
        cell.write_text("{")
    else:
        cell.write_text(json.dumps(damage))
    result = CliRunner().invoke(cli, ["report", str(copy)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("cropedge: error:") and result.output.count("\n") == 1
    assert message in result.output and cell.name in result.output
    assert not (copy / "report").exists()


@pytest.mark.slow
def test_bad_device_files_are_one_line_and_leave_no_report_folder(grid, device_json, tmp_path):
    other = tmp_path / "other.json"
    data = json.loads(device_json.read_text())
    for b in data["bundles"]:
        b["sha256"] = "0" * 64
    for t in data["timings"]:
        t["sha256"] = "0" * 64
    other.write_text(json.dumps(data))
    cases = {
        tmp_path / "absent.json": "no such file",
        tmp_path / "empty.json": "firmware_bench result must be a JSON object",
        tmp_path / "old.json": "has no valid record_version",
        other: "is a bundle of the grid",
    }
    (tmp_path / "empty.json").write_text("[]")
    (tmp_path / "old.json").write_text(json.dumps({"results": [], "machine": {}}))
    for path, message in cases.items():
        result = CliRunner().invoke(cli, ["report", str(grid), "--out", str(tmp_path / "r"), "--device-latency",
                                          str(path)])
        assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
        assert result.output.startswith("cropedge: error:") and message in result.output, result.output
        assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_report_out_inside_the_grid_is_refused(grid):
    for inside in (grid / "cells", grid / "bundles" / "x"):
        result = CliRunner().invoke(cli, ["report", str(grid), "--out", str(inside)])
        assert result.exit_code == 2 and result.output.startswith("cropedge: error:"), result.output
        assert result.output.count("\n") == 1
    assert not (grid / "bundles" / "x").exists()
    assert not list((grid / "cells").glob("report*"))


@pytest.mark.slow
def test_ship_line_respects_the_budget(grid, tmp_path):
    tight = _tight_profile(tmp_path, 0.000001)  # no throughput: ranked by the grid machine, named as such
    result = build_report([grid], tmp_path / "report", profile=tight)
    line = result["ship"]["cross_hemisphere"]
    assert "no bundle that passed every check fits within 1e-06 ms (batch 16, 1 thread, grid machine)" in line
    rows = load_rows([grid])
    profile = DeviceProfile(threads=4, batch_size=20)
    assert grid_setting(rows, profile) == (16, 1)  # nearest measured batch, most threads within the profile's
    variants = with_latency(variant_summaries(rows, (16, 1)), grid_source(rows, profile))
    eligible = [v for v in variants if v["setting"] == "cross_hemisphere" and v["precision"] != KERAS and v["all_ok"]]
    assert eligible and all(v["latency_kind"] == "grid machine" for v in eligible)
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
    assert not (tmp_path / "report").exists()


def test_pareto_front_keeps_only_undominated_points():
    points = [(1.0, 0.5), (2.0, 0.4), (2.0, 0.7), (3.0, 0.7), (4.0, 0.9), (0.5, 0.1)]
    assert pareto_front(points) == [(0.5, 0.1), (1.0, 0.5), (2.0, 0.7), (4.0, 0.9)]
