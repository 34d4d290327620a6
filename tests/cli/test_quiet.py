"""``-q`` prints nothing at all on success, for every verb, native log lines included: each
verb runs as its own ``python -m cropedge`` process on the tiny synthetic data."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

from .conftest import MODEL, SOURCE, TARGET, assert_ok, cropedge

TINY_RECIPE = """data = "{data}"
sources = ["{source}"]
seeds = [0]
[train]
model = "{model}"
epochs = 1
batch_size = 16
window = [121, 334]
[targets.{target}]
"""
# verb -> its arguments (before -q), in the order they run: each may use what the ones before wrote
VERBS = {
    "data info": ("data", "info", "data/FRA.npz"),
    "data import": ("data", "import", "data/FRA.npz", "-o", "imported"),
    "train": ("train", "--data", "data", "--source", SOURCE, "--model", MODEL, "--epochs", 2, "--batch-size", 16,
              "-o", "run-q"),
    "eval": ("eval", "run-q", "--target", TARGET, "--target", "AUS", "-o", "eval/run-q.json"),
    "export": ("export", "run-q", "--float32", "-o", "bundles-q"),
    "predict": ("predict", f"bundles-q/{MODEL}-float32", "data/BEL.npz", "-o", "labels-q.csv"),
    "distill": ("distill", "run-q", "--model", MODEL, "--epochs", 1, "--batch-size", 16, "-o", "student-q"),
    "bench": ("bench", "--recipe", "bench.toml", "-o", "grid-q", "--precisions", "float32", "--batch-size", 1,
              "--threads", 1, "--warmup", 0, "--runs", 3),
    "report": ("report", "grid-q"),
}


@pytest.fixture(scope="module")
def quiet(home: Path, synth: subprocess.CompletedProcess) -> dict[str, subprocess.CompletedProcess]:
    """Every verb with -q, in order; a verb whose input a failed one should have made fails too."""
    (home / "bench.toml").write_text(TINY_RECIPE.format(data=home / "data", source=SOURCE, model=MODEL,
                                                        target=TARGET))
    runs = {"data synth": synth}
    for verb, args in VERBS.items():
        runs[verb] = cropedge(*args, "-q", cwd=home)
    return runs


@pytest.mark.parametrize("verb", ["data synth", *VERBS])
def test_quiet_prints_nothing_on_success(quiet: dict[str, subprocess.CompletedProcess], verb: str) -> None:
    proc = quiet[verb]
    assert_ok(proc)
    assert proc.stdout == ""
    assert proc.stderr == ""


def test_quiet_eval_still_writes_its_json_and_table(quiet: dict[str, subprocess.CompletedProcess],
                                                    home: Path) -> None:
    assert_ok(quiet["eval"])
    result = json.loads((home / "eval" / "run-q.json").read_text())
    assert set(result["targets"]) == {TARGET, "AUS"}
    assert result["validation"]["sources"] == [SOURCE]
    table = (home / "eval" / "run-q.txt").read_text().splitlines()
    # the in-domain validation row first, then the targets, each with its macro-F1 as in the JSON
    assert table[2].startswith(f"{SOURCE} val") and "in-domain" in table[2]
    rows = {line.split()[0]: line.split() for line in table[3:] if line.split()[0] in (TARGET, "AUS")}
    for name in (TARGET, "AUS"):
        assert rows[name][3] == f"{result['targets'][name]['macro_f1']:.3f}"


def test_bench_results_csv_says_status_in_words(quiet: dict[str, subprocess.CompletedProcess], home: Path) -> None:
    assert_ok(quiet["bench"])
    with open(home / "grid-q" / "results.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {r["status"] for r in rows} == {"ok"}
    assert "icon" not in rows[0]
    text = (home / "grid-q" / "results.csv").read_text(encoding="utf-8")
    assert text.isascii(), "a glyph in results.csv"  # status glyphs show as empty boxes without an emoji font
