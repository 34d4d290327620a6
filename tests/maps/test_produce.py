"""Many stacks in one call: on a real Dask LocalCluster, killed and resumed, shards, failures as rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from cropedge.cli import cli
from cropedge.device import jobs
from cropedge.device.jobs import Settings
from cropedge.device.predict import predict_file

from .conftest import read_map, write_stack

CROPEDGE = Path(sys.executable).with_name("cropedge")


def run_cli(*args):
    return CliRunner().invoke(cli, ["predict", *map(str, args)])


@pytest.fixture(scope="module")
def stacks(tmp_path_factory) -> list[Path]:
    """Four 40 x 48 stacks side by side on one 10 m grid, and their one-process reference maps."""
    folder = tmp_path_factory.mktemp("stacks")
    return [write_stack(folder / f"tile{i}.tif", 40, 48, column=48 * i, seed=i) for i in range(4)]


@pytest.fixture(scope="module")
def reference(bundles, stacks, tmp_path_factory) -> dict[str, np.ndarray]:
    """Each stack's map from the one-file, one-process ``predict``."""
    out = tmp_path_factory.mktemp("reference")
    maps = {}
    for s in stacks:
        predict_file(bundles["int8"], s, out / s.name, confidence=True)
        maps[s.stem] = read_map(out / s.name)
    return maps


def maps_in(folder: Path) -> list[Path]:
    return [p for p in folder.glob("*.tif") if not p.name.startswith(".")] if folder.exists() else []


def damaged_copy(stack: Path, folder: Path) -> Path:
    raw = bytearray(stack.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + 20000] = bytes(20000)  # strips zeroed; header and directory intact
    path = folder / "damaged.tif"
    path.write_bytes(bytes(raw))
    return path


def test_local_cluster_with_a_killed_worker_matches_one_process(bundles, stacks, reference, tmp_path):
    from dask.distributed import Client, LocalCluster

    bad = damaged_copy(stacks[0], tmp_path)
    out = tmp_path / "maps"
    killed = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        pids = client.run(os.getpid)

        def kill_a_busy_worker() -> None:  # as soon as one map is done, kill a worker that is working
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not killed:
                busy = [w for w, keys in client.processing().items() if keys]
                if maps_in(out) and busy:
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(busy[0])
                time.sleep(0.01)

        watcher = threading.Thread(target=kill_a_busy_worker, daemon=True)
        watcher.start()
        result = run_cli(bundles["int8"], *stacks, bad, "--out", out, "--scheduler", cluster.scheduler_address,
                         "--confidence", "--json")
        watcher.join(5)
    assert result.exit_code == 3, result.output  # one stack failed, the others finished
    assert killed, "no worker was killed mid-run"
    report = json.loads(result.output)
    rows = {r["stack"]: r for r in report["rows"]}
    assert rows["damaged"]["status"] == "failed" and "damaged" in rows["damaged"]["reason"]
    for s in stacks:
        # skipped: the killed worker had written this map before it died, and its rerun kept it
        assert rows[s.stem]["status"] in ("ok", "skipped"), rows[s.stem]
        np.testing.assert_array_equal(read_map(out / s.name), reference[s.stem])
        assert sum(rows[s.stem]["class_counts"].values()) == rows[s.stem]["pixels"]
        assert rows[s.stem]["class_hectares"] is not None  # 10 m pixels: 0.01 ha each
    assert report["totals"]["failed"] == 1 and report["engine"].startswith("dask")
    assert not (out / "damaged.tif").exists()
    with rasterio.open(out / "mosaic.vrt") as vrt:  # the mosaic reads the four maps side by side
        np.testing.assert_array_equal(vrt.read(1), np.hstack([reference[s.stem][0] for s in stacks]))
        assert vrt.colormap(1)[0][:3] == (255, 211, 0)
    assert json.loads((out / "summary.json").read_text())["totals"]["finished"] == 4


def test_a_killed_run_resumes_and_redoes_only_what_was_unfinished(bundles, stacks, reference, tmp_path):
    many = [write_stack(tmp_path / f"s{i}.tif", 80, 80, column=80 * i, seed=10 + i) for i in range(6)]
    out = tmp_path / "maps"
    cmd = [str(CROPEDGE), "predict", str(bundles["int8"]), *map(str, many), "--out", str(out), "--workers", "1",
           "--confidence", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(maps_in(out)) < 2:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = {p.name: p.stat().st_mtime_ns for p in maps_in(out)}
    assert 2 <= len(done) < len(many), done
    result = run_cli(bundles["int8"], *many, "--out", out, "--workers", "1", "--confidence", "--json")
    assert result.exit_code == 0, result.output
    status = {r["stack"]: r["status"] for r in json.loads(result.output)["rows"]}
    assert {n for n, s in status.items() if s == "skipped"} == {Path(n).stem for n in done}
    assert all(s == "ok" for n, s in status.items() if f"{n}.tif" not in done)
    assert {p.name: p.stat().st_mtime_ns for p in maps_in(out) if p.name in done} == done
    assert not [p for p in out.iterdir() if ".tmp" in p.name]  # the killed run's temporaries are gone
    for s in many:  # every map equals the one-process predict of its stack
        predict_file(bundles["int8"], s, tmp_path / f"one-{s.name}", confidence=True)
        np.testing.assert_array_equal(read_map(out / s.name), read_map(tmp_path / f"one-{s.name}"))


def test_rows_shared_between_workers_assemble_to_the_same_map(bundles, stacks, reference, tmp_path):
    settings = Settings(bundle=str(bundles["int8"]), out_dir=str(tmp_path), confidence=True)
    parts = jobs.plan_parts([str(stacks[1])], 3, settings)
    assert len(parts) == 3 and all(p.rows for p in parts)
    outcomes = jobs.by_stack(jobs.run_in_process(parts, settings), settings)
    assert [o.status for o in outcomes] == ["ok"]
    np.testing.assert_array_equal(read_map(tmp_path / stacks[1].name), reference[stacks[1].stem])
    assert not list((tmp_path / ".cropedge" / "parts").iterdir())


def test_shards_then_a_final_call_and_input_lists(bundles, stacks, tmp_path):
    listing = tmp_path / "stacks.txt"
    listing.write_text("# the season's stacks\n" + "\n".join(map(str, stacks[:3])) + "\n")
    out = tmp_path / "maps"
    for k in (1, 2):
        result = run_cli(bundles["int8"], f"@{listing}", "--out", out, "--shard", f"{k}/2", "-q")
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in maps_in(out)) == sorted(s.name for s in stacks[:3])
    assert not (out / "mosaic.vrt").exists()  # shards leave the mosaic to the final call
    result = run_cli(bundles["int8"], str(stacks[0].parent / "tile[0-2].tif"), "--out", out, "--workers", "1",
                     "--json")
    assert result.exit_code == 0, result.output
    assert [r["status"] for r in json.loads(result.output)["rows"]] == ["skipped"] * 3
    assert (out / "mosaic.vrt").exists()


def test_maps_of_another_model_or_onto_an_input_are_refused(bundles, stacks, tmp_path):
    out = tmp_path / "maps"
    assert run_cli(bundles["int8"], stacks[0], stacks[1], "--out", out, "--workers", "1", "-q").exit_code == 0
    before = (out / stacks[0].name).read_bytes()
    result = run_cli(bundles["float32"], stacks[0], stacks[1], "--out", out, "--workers", "1")
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert (out / stacks[0].name).read_bytes() == before
    result = run_cli(bundles["float32"], stacks[0], stacks[1], "--out", out, "--workers", "1", "--overwrite", "-q")
    assert result.exit_code == 0 and (out / stacks[0].name).read_bytes() != before
    result = run_cli(bundles["int8"], stacks[0].parent, "--out", stacks[0].parent, "--workers", "1")
    assert result.exit_code == 2 and "would replace the input" in result.output
