"""``python -m firmware_bench``: the JSON a device run hands back, and its table."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cropedge.data import load_dataset
from cropedge.device.runtime import LiteModel

LATENCY_KEYS = {"mean_ms", "std_ms", "median_ms", "p5_ms", "p95_ms", "min_ms"}


def run_bench(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firmware_bench", *map(str, args)], capture_output=True, text=True)


def test_json_has_every_setting_and_the_machine(bundles, labelled_npz, tmp_path):
    out = tmp_path / "bench.json"
    proc = run_bench(bundles["int8"], bundles["float32"], "--json", out, "--threads", "1,2", "--batch", "1,64",
                     "--runs", "3", "--warmup", "1", "--data", labelled_npz)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert set(result) == {"created", "cropedge", "machine", "settings", "results", "accuracy"}
    assert {"platform", "python", "cpu_model", "machine", "cores", "cpu_flags"} <= set(result["machine"])
    rows = result["results"]
    assert [(r["precision"], r["threads"], r["batch"]) for r in rows] == [
        (p, t, b) for p in ("int8", "float32") for t in (1, 2) for b in (1, 64)
    ]
    for r in rows:
        assert set(r["latency_ms"]) == LATENCY_KEYS and set(r["invoke_ms"]) == LATENCY_KEYS
        assert r["latency_ms"]["p5_ms"] <= r["latency_ms"]["median_ms"] <= r["latency_ms"]["p95_ms"]
        assert r["latency_per_pixel_us"]["median_us"] == pytest.approx(r["latency_ms"]["median_ms"] * 1e3 / r["batch"])
        assert r["pixels_per_s"] > 0 and r["invoke_pixels_per_s"] > 0 and r["runs"] == 3
        assert r["runtime"] == "ai-edge-litert" and r["version"] and r["model_bytes"] > 1000
        assert r["peak_rss_mb"] > 10
    model = LiteModel(bundles["int8"])
    data = load_dataset(labelled_npz)
    oa = float((model.predict(model.input_from(data))[0] == data.y).mean())
    score = result["accuracy"][str(bundles["int8"])]
    assert score["n"] == len(data) and score["oa"] == pytest.approx(oa) and 0 <= score["macro_f1"] <= 1
    assert "cropnet-xxs-int8" in proc.stdout and "macro-F1" in proc.stdout


def test_errors_are_one_line(tmp_path):
    out = tmp_path / "bench.json"
    proc = run_bench(tmp_path / "absent", "--json", out)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "no such bundle" in proc.stderr
    assert not out.exists()
