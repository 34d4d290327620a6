"""The command line as a user runs it: ``python -m cropedge`` in a process of its own, in the
environment a user has (no ``TF_CPP_MIN_LOG_LEVEL``, no ``CROPEDGE_VERBOSE``), on a tiny
synthetic data folder; its output captured, or redirected to a log file as ``> log 2>&1`` does.

Every test here runs in one xdist group, so the data, runs and bundles are made once.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

MODEL, SOURCE, TARGET, SAMPLES_PER_CLASS = "cropnet-xxs", "FRA", "BEL", 10
EPOCHS = 3
# what TensorFlow, absl and LiteRT print on their own: the lines cropedge holds back unless --verbose
NATIVE = re.compile(r"cuInit|cuda|oneDNN|XNNPACK|fully_quantize|absl|TensorFlow binary|tensorflow/|^[IWEF]\d{4} ",
                    re.MULTILINE)
# the tiny recipe: ``--config`` (the old spelling of --recipe) and ``--batch`` (of --batch-size) set the rest
RECIPE = """data = "{data}"
sources = ["{source}"]
seeds = [0]
[train]
model = "{model}"
epochs = {epochs}
lr = 0.003
window = [121, 334]
[targets.{target}]
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.xdist_group("cli"))


def user_env() -> dict[str, str]:
    """This environment without the settings tests elsewhere use to quieten TensorFlow."""
    return {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "CROPEDGE_VERBOSE")}


def cropedge(*args: object, cwd: Path, log: Path | None = None, module: str = "cropedge",
             ) -> subprocess.CompletedProcess:
    """``python -m cropedge ARGS`` (or another ``module``) in ``cwd``; with ``log``, stdout and
    stderr both go to that file (``> log 2>&1``) and the process's stdout holds the log's text."""
    argv = [sys.executable, "-m", module, *map(str, args)]
    if log is None:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=user_env(), timeout=600)
    with open(log, "w") as fh:
        proc = subprocess.run(argv, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env=user_env(), timeout=600)
    with open(log, encoding="utf-8", newline="") as fh:  # newline="": a carriage return stays one
        text = fh.read()
    return subprocess.CompletedProcess(argv, proc.returncode, text, "")


def assert_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.args}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder commands run in (relative paths, as a user types them)."""
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="session")
def synth(home: Path) -> subprocess.CompletedProcess:
    """``cropedge data synth -o data -q``: eight regions of 10 samples per class, seed 0."""
    proc = cropedge("data", "synth", "-o", "data", "--samples-per-class", SAMPLES_PER_CLASS, "--seed", 0, "-q",
                    cwd=home)
    assert_ok(proc)
    return proc


@pytest.fixture(scope="session")
def recipe(home: Path, synth: subprocess.CompletedProcess) -> Path:
    path = home / "tiny.toml"
    path.write_text(RECIPE.format(data=home / "data", source=SOURCE, model=MODEL, epochs=EPOCHS, target=TARGET))
    return path


@pytest.fixture(scope="session")
def train_log(home: Path, recipe: Path) -> subprocess.CompletedProcess:
    """``cropedge train --config tiny.toml --batch 16 --seed 0 -o run > train.log 2>&1``."""
    proc = cropedge("train", "--config", recipe.name, "--batch", 16, "--seed", 0, "-o", "run", cwd=home,
                    log=home / "train.log")
    assert_ok(proc)
    return proc


@pytest.fixture(scope="session")
def export_log(home: Path, train_log: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """``cropedge export run --int8 -o bundles > export.log 2>&1``."""
    proc = cropedge("export", "run", "--int8", "-o", "bundles", cwd=home, log=home / "export.log")
    assert_ok(proc)
    return proc


@pytest.fixture(scope="session")
def int8_bundle(home: Path, export_log: subprocess.CompletedProcess) -> Path:
    return home / "bundles" / f"{MODEL}-int8"
