"""Shared pieces of the reliability tests: the real CLI (in-process and as a process), and a
tiny synthetic data folder, trained run and exported bundles made once per test session.

The data, run and bundles are built once per test session even when the tests are spread
over xdist workers (``built_once``), and tests only read them (they damage private copies).
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import numpy as np
import pytest
from click.testing import CliRunner, Result

from cropedge.cli import cli

CROPEDGE = Path(sys.executable).with_name("cropedge")
# the tiny training every fixture and comparison uses (same config = same job in bench)
MODEL, EPOCHS, BATCH, LR, SEED, SOURCE, TARGET = "cropnet-xxs", 4, 16, 0.003, 0, "FRA", "BEL"
TRAIN_ARGS = ("--source", SOURCE, "--model", MODEL, "--epochs", str(EPOCHS), "--batch-size", str(BATCH),
              "--lr", str(LR), "--seed", str(SEED), "--window", "121,334")  # fmt: skip
SAMPLES_PER_CLASS = 20
# the same training as a recipe (what bench needs), without dropout: Keras' dropout draws are
# not checkpointed, so only a dropout-free run resumes to exactly the uninterrupted result
RECIPE = """data = "{data}"
sources = ["{source}"]
seeds = [{seed}]
[train]
model = "{model}"
model_options = {{dropout = 0.0}}
epochs = {epochs}
batch_size = {batch}
lr = {lr}
window = [121, 334]
[targets.{target}]
"""
# TensorFlow's C++ runtime logs a few lines on stderr before its logging is set up (whatever
# TF_CPP_MIN_LOG_LEVEL says), the converter's quantizer prints its settings, LiteRT announces its
# XNNPACK delegate, and GDAL's TIFF driver logs a write that failed when the file was closed
# (``_tiffSeekProc: File too large.``); they are the native libraries', not cropedge's, and are
# left out when counting cropedge's lines
_NATIVE_LOG = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWEF]\d{4} [\d:.]+ +\d+ \S+:\d+\] "
    r"|INFO: Created TensorFlow Lite XNNPACK delegate|fully_quantize: \d|_tiff\w+: )"
)


# how numpy values look when a message formats them with repr (inside a list, or with !r)
_NUMPY_REPR = re.compile(r"\bnp\.(?:u?int\d*|float\d*|str_|bool_?)\(|\barray\(")


def invoke(*args: object) -> Result:
    """The ``cropedge`` group in this process (exceptions other than exit are kept)."""
    return CliRunner().invoke(cli, [str(a) for a in args])


def cli_env() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


def run_cli(*args: object, timeout: float = 300) -> subprocess.CompletedProcess:
    """The installed ``cropedge`` console script as a separate process."""
    return subprocess.run(
        [str(CROPEDGE), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=cli_env()
    )


def start_cli(*args: object, stderr: IO | int = subprocess.DEVNULL) -> subprocess.Popen:
    """Start ``cropedge`` without waiting (to interrupt it); output goes to files, not pipes.

    Ctrl-C reaches it as it would from a terminal (a child of a non-interactive shell may have
    inherited SIGINT ignored)."""
    return subprocess.Popen(
        [str(CROPEDGE), *map(str, args)], stdout=subprocess.DEVNULL, stderr=stderr, env=cli_env(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def cropedge_lines(stderr: str) -> list[str]:
    """stderr lines as a terminal shows them (a progress bar cleared with \\r is gone), without
    the native libraries' start-up log."""
    shown = (line.rsplit("\r", 1)[-1] for line in stderr.split("\n"))
    return [line for line in shown if line.strip() and not _NATIVE_LOG.match(line)]


def assert_user_error(
    result: Result | subprocess.CompletedProcess, outputs: Sequence[Path] = (), match: str = ""
) -> str:
    """Exit 2, one ``cropedge: error:`` line on stderr, no traceback, nothing at ``outputs``."""
    code = result.exit_code if isinstance(result, Result) else result.returncode
    stdout = result.stdout
    stderr = result.stderr
    assert code == 2, f"exit {code}\nstdout: {stdout}\nstderr: {stderr}\n{getattr(result, 'exc_info', '')}"
    lines = cropedge_lines(stderr)
    assert len(lines) == 1 and lines[0].startswith("cropedge: error: "), stderr
    assert "Traceback" not in stdout + stderr
    assert not _NUMPY_REPR.search(lines[0]), f"a numpy repr in the message: {lines[0]}"
    assert match.lower() in lines[0].lower(), lines[0]
    for path in outputs:
        assert not Path(path).exists(), f"{path} was left behind"
    return lines[0]


def assert_ok(result: Result | subprocess.CompletedProcess) -> None:
    code = result.exit_code if isinstance(result, Result) else result.returncode
    assert code == 0, f"exit {code}\nstdout: {result.stdout}\nstderr: {result.stderr}"


# training on CPU has repeated bit for bit here; the documented tolerance (docs/reliability.md)
# leaves room for float sums a different CPU or thread count may order differently
HISTORY_RTOL = 1e-6


def history(run: Path) -> np.ndarray:
    """history.csv of a run as numbers [epochs, columns]."""
    with open(run / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return np.array([[float(v) for v in row.values()] for row in rows])


def assert_same_run(run: Path, reference: Path) -> None:
    """Same per-epoch losses and scores (to ``HISTORY_RTOL``), same best epoch and validation scores."""
    np.testing.assert_allclose(history(run), history(reference), rtol=HISTORY_RTOL, atol=0)
    ours, theirs = (json.loads((r / "run.json").read_text()) for r in (run, reference))
    assert ours["best_epoch"] == theirs["best_epoch"]
    for key in ("oa", "macro_f1", "weighted_f1"):
        assert ours["validation"][key] == theirs["validation"][key], key


def built_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]) -> Path:
    """``build(path)`` once per test session, however many xdist workers ask; the others wait
    for it and reuse the result (a file lock in the folder all workers share)."""
    base = factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "reliability"
    root.mkdir(exist_ok=True)
    path, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(path, ignore_errors=True)
            build(path)
            done.touch()
    return path


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight synthetic regions, 20 samples per class, seed 0 (``cropedge data synth``)."""
    return built_once(tmp_path_factory, "data", lambda out: assert_ok(run_cli(
        "data", "synth", "--out", out, "--samples-per-class", SAMPLES_PER_CLASS, "--seed", SEED, "--quiet")))


@pytest.fixture(scope="session")
def recipe(tmp_path_factory: pytest.TempPathFactory, synth_dir: Path) -> Path:
    """The tiny training as a recipe: FRA -> BEL, cropnet-xxs without dropout, 4 epochs."""
    text = RECIPE.format(data=synth_dir, source=SOURCE, seed=SEED, model=MODEL, epochs=EPOCHS, batch=BATCH, lr=LR,
                         target=TARGET)  # fmt: skip
    folder = built_once(tmp_path_factory, "recipes", lambda out: (out.mkdir(), (out / "tiny.toml").write_text(text)))
    return folder / "tiny.toml"


def train_args(recipe: Path, out: Path) -> tuple:
    """``cropedge train`` arguments of the tiny training into ``out`` (one seed: one run folder)."""
    return ("train", "--config", recipe, "--seed", SEED, "--out", out)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, recipe: Path) -> Path:
    """A finished, uninterrupted ``cropedge train`` run (the reference for resumed runs)."""
    return built_once(tmp_path_factory, "run", lambda out: assert_ok(run_cli(*train_args(recipe, out), "--quiet")))


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory, trained_run: Path) -> dict[str, Path]:
    """int8 and float32 bundles of ``trained_run`` (``cropedge export``)."""
    out = built_once(tmp_path_factory, "bundles", lambda out: assert_ok(run_cli(
        "export", trained_run, "--int8", "--float32", "--out", out, "--quiet")))
    return {p: out / f"{MODEL}-{p}" for p in ("int8", "float32")}
