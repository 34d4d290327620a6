"""``python -m firmware_bench``: the JSON a device run hands back, its table, and its argument errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from cropedge.data import load_dataset
from cropedge.device.latency import DeviceBench, read_device_bench
from cropedge.device.runtime import LiteModel


def run_bench(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firmware_bench", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


def test_json_has_every_setting_each_bundle_and_the_machine(bundles, labelled_npz, tmp_path):
    out = tmp_path / "bench.json"
    proc = run_bench(bundles["int8"], bundles["float32"], "--json", out, "--threads", "1,2", "--batch", "1,64",
                     "--runs", "3", "--warmup", "1", "--data", labelled_npz)
    assert proc.returncode == 0, proc.stderr
    bench = read_device_bench(out)  # the typed record the report reads, every field checked
    assert DeviceBench.from_dict(json.loads(out.read_text()), "again") == bench
    assert bench.machine.cpu_model and bench.machine.cores >= 1 and bench.machine.python
    assert bench.runtime == "ai-edge-litert" and bench.runtime_version
    # what matches a measurement to a grid's bundle: the flatbuffer's sha256, model, precision, MACs
    for precision, bundle in bundles.items():
        meta = LiteModel(bundle).metadata
        info = next(b for b in bench.bundles if b.precision == precision)
        assert (info.sha256, info.model, info.macs, info.model_bytes) == (meta.sha256, meta.model, meta.macs,
                                                                           meta.model_bytes)
    by_sha = {b.sha256: b.precision for b in bench.bundles}
    assert [(by_sha[t.sha256], t.threads, t.batch) for t in bench.timings] == [
        (p, t, b) for p in ("int8", "float32") for t in (1, 2) for b in (1, 64)
    ]
    for t in bench.timings:
        for stats in (t.invoke, t.end_to_end):
            assert stats.p5_ms <= stats.median_ms <= stats.p95_ms and stats.runs == 3
            assert stats.pixels_per_s == pytest.approx(t.batch / (stats.median_ms / 1e3))
        assert t.peak_rss_mb and t.peak_rss_mb > 10
    model = LiteModel(bundles["int8"])
    data = load_dataset(labelled_npz)
    oa = float((model.predict(model.input_from(data))[0] == data.y).mean())
    score = next(b.accuracy for b in bench.bundles if b.precision == "int8")
    assert score and score.n == len(data) and score.oa == pytest.approx(oa) and 0 <= score.macro_f1 <= 1
    # the table: accuracy, the int8 speed-up over float32 of the same model, and what the columns mean
    lines = proc.stdout.splitlines()
    header = next(line for line in lines if line.startswith("bundle"))
    assert all(col in header.split() for col in ("sha256", "ms", "us/px", "vs", "OA", "F1"))
    int8_rows = [line for line in lines if line.startswith("cropnet-xxs-int8")]
    assert len(int8_rows) == 4 and all(re.search(r" \d+\.\d\dx ", row) for row in int8_rows)
    assert f"{score.oa:.3f}" in int8_rows[0]
    assert "vs f32" in proc.stdout and "speed-up over the float32 bundle" in proc.stdout
    assert lines[-1] == f"-> {out}"


def test_without_json_it_prints_the_table_alone(bundles, tmp_path):
    proc = run_bench(bundles["int8"], "--batch", "1", "--runs", "3", "--warmup", "0", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("cropnet-xxs-int8")]
    assert len(rows) == 1
    # a small model's sub-millisecond latency keeps three significant digits, not "0.00"
    ms = float(rows[0].split()[5])
    assert ms > 0 and len(rows[0].split()[5].replace("0.", "").lstrip("0")) >= 3
    assert "->" not in proc.stdout and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("args", "message"), [
    ((), "Missing argument 'BUNDLES...'"),
    (("{int8}", "--threads", "x"), "Invalid value for '--threads': 'x' is not a comma-separated list"),
    (("{int8}", "--batch", "0"), "Invalid value for '--batch'"),
    (("{int8}", "--batch", "1e12"), "Invalid value for '--batch'"),
    (("{int8}", "--runs", "1"), "Invalid value for '--runs'"),
    (("{int8}", "--max-seconds", "nan"), "not a finite number of seconds"),
    (("{int8}", "--bogus"), "No such option '--bogus'"),
    (("{tmp}/absent",), "no such bundle"),
    (("{int8}", "--json", "{tmp}/file.txt/out.json"), "cannot write"),
    (("{int8}", "--json", "{int8}/metadata.json"), "would overwrite"),
    (("{int8}", "--json", "{int8}"), "is a directory"),
    (("{int8}", "--batch", "1000000000000"), "--batch 1000000000000 needs"),
])
def test_errors_are_one_line_exit_2_before_measuring(bundles, tmp_path, args, message):
    (tmp_path / "file.txt").write_text("not a folder")
    before = {p: p.stat().st_mtime_ns for p in bundles["int8"].iterdir()}
    proc = run_bench(*(a.format(int8=bundles["int8"], tmp=tmp_path) for a in args))
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("INFO:")]  # LiteRT's own line
    assert proc.returncode == 2, proc.stderr
    assert len(errors) == 1 and errors[0].startswith("firmware_bench: error:") and message in errors[0], errors
    assert "[1/" not in proc.stderr and proc.stdout == ""  # nothing was measured
    assert {p: p.stat().st_mtime_ns for p in bundles["int8"].iterdir()} == before
    assert not (tmp_path / "out.json").exists()
