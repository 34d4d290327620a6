"""Determinism: the same seed and data give the same synthetic files (byte for byte), the same
bundle predictions (run after run, at any batch size and thread count) and, on CPU, the same
training. What holds on GPU is in docs/reliability.md."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from .conftest import SAMPLES_PER_CLASS, SEED, TARGET, assert_ok, assert_same_run, invoke, run_cli, train_args


def synth(out: Path, seed: int) -> dict[str, bytes]:
    assert_ok(
        run_cli("data", "synth", "--out", out, "--samples-per-class", SAMPLES_PER_CLASS, "--seed", seed, "--quiet")
    )
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_synthetic_files_are_byte_identical_for_a_seed(synth_dir: Path, tmp_path: Path) -> None:
    first = {p.name: p.read_bytes() for p in sorted(synth_dir.iterdir())}
    assert synth(tmp_path / "again", SEED) == first
    other = synth(tmp_path / "other", SEED + 1)
    assert other.keys() == first.keys() and all(other[k] != first[k] for k in first)  # the seed is used


@pytest.mark.parametrize("precision", ["int8", "float32"])
def test_bundle_predictions_repeat_across_calls_batches_and_threads(
    bundles: dict[str, Path], synth_dir: Path, tmp_path: Path, precision: str
) -> None:
    """Bit-identical probabilities, whatever the batch (1, 7 with a padded last batch, 1024)
    and interpreter threads; the table holds 140 pixels."""
    outputs = []
    for i, (batch, threads) in enumerate([(1024, 1), (1024, 1), (1, 1), (7, 1), (1024, 2), (7, 2)]):
        out = tmp_path / f"pred-{i}.npz"
        result = invoke("predict", bundles[precision], synth_dir / f"{TARGET}.npz", "--out", out, "--batch", batch,
                        "--threads", threads, "--probabilities", "--quiet")  # fmt: skip
        assert result.exit_code == 0, result.output
        with np.load(out) as z:
            outputs.append((z["pred"], z["probabilities"]))
    for pred, probs in outputs[1:]:
        np.testing.assert_array_equal(pred, outputs[0][0])
        np.testing.assert_array_equal(probs, outputs[0][1])


@pytest.mark.slow
def test_training_repeats_with_the_same_seed(recipe: Path, trained_run: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert_ok(run_cli(*train_args(recipe, again), "--quiet"))
    assert_same_run(again, trained_run)


@pytest.mark.slow
def test_deterministic_ops_train_and_repeat(recipe: Path, tmp_path: Path) -> None:
    """--deterministic (TensorFlow op determinism, meant for GPUs) trains on CPU and repeats."""
    runs = [tmp_path / "det-a", tmp_path / "det-b"]
    for run in runs:
        assert_ok(run_cli(*train_args(recipe, run), "--deterministic", "--quiet"))
        assert json.loads((run / "config.json").read_text())["deterministic"] is True
    assert_same_run(runs[1], runs[0])
