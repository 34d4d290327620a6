"""What ``train``, ``export``, ``predict`` and ``firmware_bench`` print without ``-q``: their own
lines only (TensorFlow, absl and LiteRT held back unless ``--verbose``), and, in a log file,
plain lines without a carriage return: one per finished epoch."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from cropedge.cli import cli

from .conftest import EPOCHS, MODEL, NATIVE, TARGET, assert_ok, cropedge

EPOCH_LINE = re.compile(r"^Epoch (\d+)/(\d+)  loss \d\.\d{3} oa \d\.\d{3} \| val_oa \d\.\d{3} val_macro_f1 \d\.\d{3}")


def test_train_log_has_one_plain_line_per_epoch(train_log: subprocess.CompletedProcess, home: Path) -> None:
    log = train_log.stdout
    assert "\r" not in log
    assert not NATIVE.search(log), log
    epochs = [EPOCH_LINE.match(line) for line in log.splitlines() if line.startswith("Epoch ")]
    assert all(epochs), log
    assert [(int(m[1]), int(m[2])) for m in epochs if m] == [(n, EPOCHS) for n in range(1, EPOCHS + 1)]
    record = json.loads((home / "run" / "run.json").read_text())
    best = [line for line in log.splitlines() if line.startswith("Epoch ") and " * " in line]
    assert best[-1].startswith(f"Epoch {record['best_epoch']}/")  # the marker: the epoch that is kept
    assert log.splitlines()[-1].startswith("run: trained in ")
    # the old spellings of the command (--config, --batch) took effect
    assert record["budget"]["batch_size"] == 16 and record["epochs"] == EPOCHS


def test_rerun_of_a_finished_train_says_so(train_log: subprocess.CompletedProcess, recipe: Path, home: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """In this process (the answer is Python's own line; the native lines are the other tests')."""
    monkeypatch.chdir(home)
    before = (home / "run" / "run.json").read_bytes()
    result = CliRunner().invoke(cli, ["train", "--recipe", recipe.name, "--batch-size", "16", "--seed", "0",
                                      "-o", "run"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("run: already finished, nothing to train: best epoch ")
    assert result.stdout.count("\n") == 1 and "trained in" not in result.stdout
    assert (home / "run" / "run.json").read_bytes() == before


def test_export_log_is_its_own_lines_and_ends_with_what_next(export_log: subprocess.CompletedProcess) -> None:
    log = export_log.stdout
    assert "\r" not in log
    assert not NATIVE.search(log), log
    lines = log.splitlines()
    # the bundle's line, and its warnings (few calibration samples, low agreement) as cropedge warnings
    assert [line for line in lines[:-2] if not line.startswith("cropedge: warning: ")] == [
        line for line in lines if re.match(rf"^{MODEL}-int8 +int8 +[\d.]+ KB +agree [\d.]+% ", line)]
    assert len(lines) >= 3
    assert re.fullmatch(r"1 bundle\(s\) in bundles in \d+ s", lines[-2]), lines[-2]
    assert lines[-1] == (f"next: cropedge predict bundles/{MODEL}-int8 PIXELS.csv -o labels.csv; on the device: "
                         f"python -m firmware_bench bundles/{MODEL}-int8")


def test_predict_holds_back_litert_lines_unless_verbose(int8_bundle: Path, home: Path) -> None:
    args = ("predict", int8_bundle, f"data/{TARGET}.npz", "-o", "labels.csv", "--overwrite")
    plain = cropedge(*args, cwd=home)
    assert_ok(plain)
    assert plain.stderr == "" and not NATIVE.search(plain.stdout)
    assert re.match(rf"^\d+ pixels -> labels.csv with {MODEL}-int8 \(ai-edge-litert ", plain.stdout)
    verbose = cropedge(*args, "--verbose", cwd=home)
    assert_ok(verbose)
    assert "XNNPACK delegate" in verbose.stderr  # LiteRT's own line, which it prints on every load
    assert verbose.stdout == plain.stdout.replace(_speed(plain.stdout), _speed(verbose.stdout))


def _speed(line: str) -> str:
    found = re.search(r"\d+ px/s", line)
    assert found, line
    return found[0]


def test_firmware_bench_without_json_prints_its_table(int8_bundle: Path, home: Path) -> None:
    args = (int8_bundle, "--batch", "1,8", "--runs", 3, "--warmup", 0, "--max-seconds", 1)
    proc = cropedge(*args, cwd=home, module="firmware_bench", log=home / "firmware_bench.log")
    assert_ok(proc)
    log = proc.stdout
    assert "\r" not in log and not NATIVE.search(log), log
    lines = log.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("bundle "))
    assert lines[header].split()[:5] == ["bundle", "sha256", "precision", "thr", "batch"]
    rows = [line.split() for line in lines[header + 1:header + 3]]
    assert [(r[0], r[2], r[4]) for r in rows] == [(f"{MODEL}-int8", "int8", "1"), (f"{MODEL}-int8", "int8", "8")]
    assert any(line.startswith("us/px") for line in lines[header + 3:])  # what the columns mean
    assert not any(line.startswith("->") for line in lines)  # no JSON written
    quiet = cropedge(*args, "-q", cwd=home, module="firmware_bench")
    assert_ok(quiet)
    assert quiet.stderr == ""  # -q: the table alone, no progress lines
    assert [line.split()[0] for line in quiet.stdout.splitlines()[1:]] == ["bundle", f"{MODEL}-int8", f"{MODEL}-int8"]
