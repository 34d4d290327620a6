"""Interrupted work: ``train``, ``export``, ``predict`` and ``bench`` killed (SIGKILL) in the
middle leave no partial output where a finished one is expected; ``train`` and ``bench`` then
carry on to the result an uninterrupted run gives. Stopped with Ctrl-C (SIGINT), ``train``,
``export``, ``predict``, ``data import`` and ``bench`` print one line saying how to carry on,
exit 130, and leave no temporary file.

Each process is killed once it is demonstrably mid-work (a backup of a finished epoch, a first
bundle, the temporary output file, a first grid cell) and must die by the signal, not finish.
"""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cropedge.cli import INTERRUPTED_EXIT, TERMINATED_EXIT
from cropedge.device.bundle import load_bundle
from cropedge.errors import CropEdgeError
from cropedge.training.run import Run

from .conftest import EPOCHS, MODEL, assert_ok, assert_same_run, cropedge_lines, run_cli, start_cli, train_args

pytestmark = pytest.mark.slow

# the bench grid of the tiny recipe: int8 only, timed long enough (batch 256, 300 calls) that a
# kill after the first cell lands while later cells are still being made
BENCH = ("--precisions", "int8", "--batches", "256", "--threads", "1", "--warmup", "0", "--runs", "300", "--json")
GRID_CELLS = 4  # (BEL, source) x (keras, int8)


def stop_when(args: tuple, ready: Callable[[], bool], sig: int = signal.SIGKILL, timeout: float = 600) -> str:
    """Run ``cropedge *args`` until ``ready()``, then send it ``sig``; fail if it ended by itself.

    Returns what it wrote on stderr. SIGKILL must kill it; after SIGINT (Ctrl-C) it must exit 130.
    """
    with tempfile.TemporaryFile("w+") as err:
        proc = start_cli(*args, stderr=err)
        try:
            deadline = time.monotonic() + timeout
            while not ready():
                assert proc.poll() is None, f"cropedge {args[0]} ended (exit {proc.returncode}) before it was stopped"
                assert time.monotonic() < deadline, f"cropedge {args[0]} never got to the point to stop it"
                try:
                    proc.wait(timeout=0.005)  # poll the files again in 5 ms (or as soon as it ends)
                except subprocess.TimeoutExpired:
                    pass
            proc.send_signal(sig)
            proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        err.seek(0)
        stderr = err.read()
    expected = {signal.SIGKILL: -signal.SIGKILL, signal.SIGTERM: TERMINATED_EXIT}.get(sig, INTERRUPTED_EXIT)
    assert proc.returncode == expected, f"cropedge {args[0]}: exit {proc.returncode}, not {expected}\n{stderr}"
    return stderr


def kill_when(args: tuple, ready: Callable[[], bool], timeout: float = 600) -> None:
    """Run ``cropedge *args`` until ``ready()``, then SIGKILL it; fail if it ended by itself."""
    stop_when(args, ready, signal.SIGKILL, timeout)


def epochs_backed_up(state: Path | None) -> int:
    """Epochs in a training backup's state.json (0 while there is none)."""
    if state is None or not state.exists():
        return 0
    return len(json.loads(state.read_text())["history"])


def visible(folder: Path) -> set[str]:
    """Names in ``folder`` that are not temporary (hidden) leftovers."""
    return {p.name for p in folder.iterdir() if not p.name.startswith(".")} if folder.exists() else set()


def test_killed_training_leaves_no_finished_files_and_resumes_to_the_same_run(
    recipe: Path, trained_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    state = out / "backup" / "state.json"
    # Keras' checkpoint of a finished epoch (written just after state.json): something to resume from
    checkpoint = out / "backup" / "keras" / "chief" / "checkpoint"
    kill_when((*train_args(recipe, out), "--quiet"), checkpoint.exists)
    done = epochs_backed_up(state)
    assert 1 <= done < EPOCHS
    assert visible(out) <= {"config.json", "split.npz", "backup"}  # no model.keras, history.csv, run.json
    with pytest.raises(CropEdgeError, match="not a finished training run"):
        Run(out)

    resumed = run_cli(*train_args(recipe, out))
    assert_ok(resumed)
    first = int(re.findall(r"^Epoch (\d+)/", resumed.stdout, re.M)[0])
    # it carried on after the checkpointed epoch(s), it did not start over
    assert 1 < first <= done + 1, resumed.stdout
    assert visible(out) == {"config.json", "split.npz", "history.csv", "model.keras", "run.json", "versions.json"}
    assert_same_run(out, trained_run)


def test_killed_export_leaves_only_whole_bundles(trained_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundles"
    first = out / f"{MODEL}-float32"  # precisions are made in table order: float32, then int8
    kill_when(("export", trained_run, "--float32", "--int8", "--out", out, "--quiet"), first.exists)
    assert f"{MODEL}-float32" in visible(out)
    for name in visible(out):  # the int8 bundle is there whole (checksum and all), or not at all
        assert load_bundle(out / name).metadata.to_dict()["precision"] in ("float32", "int8")


def test_killed_predict_leaves_no_output(bundles: dict[str, Path], tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 60_000  # enough rows that writing the table takes a moment to catch
    table = tmp_path / "pixels.npz"
    np.savez(table, fea=rng.integers(100, 5000, (n, 10, 73), dtype=np.uint16), lbl=rng.integers(0, 7, n))
    out = tmp_path / "pred" / "labels.csv"
    writing = lambda: out.parent.exists() and any(out.parent.glob(f".{out.name}.*"))  # noqa: E731
    kill_when(("predict", bundles["int8"], table, "--out", out, "--probabilities", "--quiet"), writing)
    assert not out.exists()
    assert visible(out.parent) == set()


def test_killed_bench_keeps_whole_cells_and_resumes_to_the_same_result(
    recipe: Path, trained_run: Path, tmp_path: Path
) -> None:
    grid = tmp_path / "grid"
    args = ("bench", "--recipe", recipe, "--out", grid, *BENCH)

    # 1. killed while training: no run, no bundle, no cell, no table
    kill_when(args, lambda: epochs_backed_up(next(grid.glob("runs/*/backup/state.json"), None)) >= 1)
    assert not list(grid.glob("runs/*/run.json")) and not list(grid.glob("runs/*/model.keras"))
    assert visible(grid / "cells") == set() and not (grid / "results.csv").exists()

    # 2. killed after its first cell (the training resumed and finished on the way)
    kill_when(args, lambda: len(visible(grid / "cells")) > 0)
    cells = {name: json.loads((grid / "cells" / name).read_text()) for name in visible(grid / "cells")}  # whole JSON
    assert 1 <= len(cells) < GRID_CELLS and all(c["status"] == "ok" for c in cells.values())
    assert not (grid / "results.csv").exists()  # no table rows for cells that were not finished
    for folder in (grid / "bundles").iterdir():
        for name in visible(folder):
            load_bundle(folder / name)

    # a cell's temporary file, as a kill in the middle of writing it leaves, is not a row
    (grid / "cells" / f".{next(iter(cells))}.x1y2z3.tmp.json").write_text('{"key": "half a ro')

    # 3. the same call finishes the grid, keeping what was done
    done = run_cli(*args)
    assert_ok(done)
    summary = json.loads(done.stdout)
    assert summary["trained"] == 0 and summary["skipped"] == len(cells) and summary["rows"] == GRID_CELLS
    with open(grid / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == GRID_CELLS and {r["status"] for r in rows} == {"ok"}
    # the training killed in step 1 and resumed in step 2 equals the uninterrupted one
    (run,) = grid.glob("runs/*/")
    assert_same_run(run, trained_run)
    keras_source = next(r for r in rows if r["setting"] == "source" and r["precision"] == "keras")
    validation = json.loads((trained_run / "run.json").read_text())["validation"]
    assert float(keras_source["oa"]) == pytest.approx(validation["oa"], abs=1e-12)
    assert float(keras_source["macro_f1"]) == pytest.approx(validation["macro_f1"], abs=1e-12)


# --- Ctrl-C: one line saying how to carry on, exit 130, nothing half-written --------------------------------


def leftovers(folder: Path) -> list[Path]:
    """Temporary files or folders of unfinished writes (``.NAME.*.tmp*``) anywhere under ``folder``."""
    return [p for p in folder.rglob(".*") if ".tmp" in p.name] if folder.exists() else []


def interrupt_when(args: tuple, ready: Callable[[], bool], resume: str, sig: int = signal.SIGINT) -> None:
    """Ctrl-C (or SIGTERM) once ``ready()``: exit 130 (143) and one ``cropedge: error:`` line saying ``resume``."""
    stderr = stop_when(args, ready, sig)
    lines = cropedge_lines(stderr)
    what = "terminated (SIGTERM)" if sig == signal.SIGTERM else "interrupted"
    assert len(lines) == 1 and lines[0].startswith(f"cropedge: error: {what}"), stderr
    assert resume in lines[0] and "Aborted" not in stderr and "Traceback" not in stderr, stderr


def _pixels(tmp_path: Path, n: int = 60_000, regions: int = 1) -> Path:
    rng = np.random.default_rng(0)
    table = tmp_path / "pixels.npz"
    np.savez(table, fea=rng.integers(100, 5000, (n, 10, 73), dtype=np.uint16), lbl=rng.integers(0, 7, n),
             region=np.array([f"R{i % regions}" for i in range(n)]))
    return table


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_in_train_says_it_resumes(recipe: Path, tmp_path: Path, sig: int) -> None:
    out = tmp_path / "run"
    state = out / "backup" / "state.json"
    interrupt_when((*train_args(recipe, out), "--quiet"), state.exists, "resume from the last finished epoch", sig)
    assert visible(out) <= {"config.json", "split.npz", "backup"} and leftovers(out) == []


def test_ctrl_c_in_export_keeps_only_whole_bundles(trained_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundles"
    first = out / f"{MODEL}-float32"
    interrupt_when(("export", trained_run, "--float32", "--int8", "--out", out, "--quiet"), first.exists,
                   "start over")
    assert leftovers(out) == []
    for name in visible(out):
        load_bundle(out / name)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_in_predict_leaves_no_output(bundles: dict[str, Path], tmp_path: Path, sig: int) -> None:
    out = tmp_path / "pred" / "labels.csv"
    writing = lambda: out.parent.exists() and any(out.parent.glob(f".{out.name}.*"))  # noqa: E731
    interrupt_when(("predict", bundles["int8"], _pixels(tmp_path), "--out", out, "--probabilities", "--quiet"),
                   writing, "start over", sig)
    assert not out.exists() and visible(out.parent) == set() and leftovers(out.parent) == []


def test_ctrl_c_in_data_import_leaves_whole_files_and_the_mark(tmp_path: Path) -> None:
    out = tmp_path / "imported"
    writing = lambda: (out / "INCOMPLETE").exists() and any(out.glob(".*.npz.*.tmp*"))  # noqa: E731
    interrupt_when(("data", "import", _pixels(tmp_path, regions=4), "--out", out, "--quiet"), writing, "start over")
    assert leftovers(out) == []
    assert "INCOMPLETE" in visible(out)  # the folder says it is unfinished; readers refuse it
    for name in visible(out) - {"INCOMPLETE"}:
        with np.load(out / name) as z:
            assert z["fea"].shape[1:] == (10, 73)


def test_ctrl_c_in_bench_keeps_whole_cells(recipe: Path, trained_run: Path, tmp_path: Path) -> None:
    grid = tmp_path / "grid"
    interrupt_when(("bench", "--recipe", recipe, "--out", grid, *BENCH), lambda: len(visible(grid / "cells")) > 0,
                   "finished cells and runs are kept")
    assert leftovers(grid) == [] and not (grid / "results.csv").exists()
    for name in visible(grid / "cells"):
        json.loads((grid / "cells" / name).read_text())
