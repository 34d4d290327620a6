"""Smoke run of the performance benchmark (``make bench``) at tiny sizes.

Checks the report's shape and that every ratio is the quotient of two measurements this
run made; never how fast anything is (timings depend on the machine and its load).
"""

from __future__ import annotations

import json
import math

import pytest

from bench.context import Context
from bench.markdown import render
from bench.perf import SECTIONS, Section, main, run_section
from bench.results import Skip, ratio

SMOKE_MODEL = "cropnet-xxs"  # the smallest CropNet keeps training and conversion to seconds


def _check_ratio(r: dict) -> None:
    num, den = r["numerator"]["value"], r["denominator"]["value"]
    assert num > 0 and den > 0 and math.isfinite(num) and math.isfinite(den), r
    assert r["value"] == pytest.approx(num / den), r
    if "target" in r:
        op, bound = r["target"].split()
        assert r["met"] == {"<=": r["value"] <= float(bound), ">=": r["value"] >= float(bound)}[op]


@pytest.mark.slow
def test_quick_run_writes_measured_ratios(tmp_path):
    out = tmp_path / "perf.json"
    assert main(["--out", str(out), "--quick", "--only", "int8,augment", "--reference", SMOKE_MODEL,
                 "--work", str(tmp_path)]) == 0
    report = json.loads(out.read_text())
    assert report["quick"] is True and report["reference"] == SMOKE_MODEL
    assert set(report["sections"]) == {"int8", "augment"}
    for name, section in report["sections"].items():
        assert section["status"] == "ok", (name, section.get("reason"), section.get("traceback"))
        assert section["machine"]["cpu_model"] and "avx512_vnni" in section["machine"]["int8_features"]
        assert "tensorflow" in section["machine"]["versions"]
        assert section["ratios"]
        for r in section["ratios"]:
            _check_ratio(r)
    int8 = report["sections"]["int8"]
    # the size ratio divides the two flatbuffers the section exported, byte for byte
    size = next(r for r in int8["ratios"] if r["name"] == "int8 / float32 file size")
    assert size["numerator"]["value"] == int8["bytes"]["int8"]
    assert size["denominator"]["value"] == int8["bytes"]["float32"]
    lat = next(r for r in int8["ratios"] if r["name"].startswith("int8 / float32 latency"))
    assert lat["numerator"]["value"] == int8["latency"]["int8 (cropedge bundle)"]["median_ms"]
    assert int8["int8_plain_agreement"] > 0.5  # both int8 conversions of one model mostly agree
    md = out.with_suffix(".md").read_text()
    assert "## int8" in md and "int8 / float32 file size" in md
    assert not list(tmp_path.glob("cropedge-bench-*")), "scratch folder left behind"


def test_a_failing_section_is_recorded_and_others_still_run(tmp_path):
    ctx = Context(work=tmp_path, quick=True, machine={"cpu_model": "test"})

    def broken(ctx: Context) -> dict:
        raise ValueError("no such file")

    def unavailable(ctx: Context) -> dict:
        raise Skip("torch is not installed")

    failed = run_section(Section("broken", "raises", broken), ctx)
    skipped = run_section(Section("skip", "skips", unavailable), ctx)
    fine = run_section(
        Section("fine", "works", lambda c: {"ratios": [ratio("a / b", 1.0, 4.0, ("a", "b"), ("<=", 0.25))]}), ctx
    )
    assert failed["status"] == "failed" and "ValueError: no such file" in failed["reason"] and failed["traceback"]
    assert skipped == {**skipped, "status": "skipped", "reason": "torch is not installed"}
    assert fine["status"] == "ok" and fine["ratios"][0]["met"] is True
    md = render({"quick": True, "sections": {"broken": failed, "skip": skipped, "fine": fine}})
    assert "failed: ValueError: no such file" in md and "skipped: torch is not installed" in md


def test_ratio_keeps_its_measurements_and_checks_the_target():
    r = ratio("x / y", 3.0, 2.0, ("x s", "y s"), (">=", 1.5))
    assert r["value"] == 1.5 and r["met"] is True and r["target"] == ">= 1.5"
    assert ratio("x / y", 1.0, 2.0, ("x", "y"), (">=", 1.5))["met"] is False
    with pytest.raises(ZeroDivisionError):
        ratio("x / y", 1.0, 0.0, ("x", "y"))


def test_section_names_are_unique_and_unknown_ones_rejected(capsys):
    names = [s.name for s in SECTIONS]
    assert len(set(names)) == len(names)
    with pytest.raises(SystemExit):
        main(["--only", "nonsense"])
    assert "unknown section" in capsys.readouterr().err
