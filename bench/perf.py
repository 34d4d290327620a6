"""``python -m bench.perf --out bench/perf.json [--quick] [--only section,...]``.

Runs each benchmark section in turn on this machine and writes every result (ratios with
the measurements behind them, machine and versions) to JSON, plus a Markdown summary
beside it. A section that fails or cannot run is recorded as such and the run goes on.
With ``--only``, the named sections are re-run and merged into an existing output file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import frontier, inference, maps, training
from bench.context import Context
from bench.cpu_info import machine_info
from bench.markdown import render
from bench.results import Skip
from cropedge.atomic import write_json, write_text


@dataclass(frozen=True)
class Section:
    """One benchmark section: its name (for ``--only``), title and the function that runs it."""

    name: str
    title: str
    run: Callable[[Context], dict]


# run in this order: cheap inference sections first, the frontier's trainings last
SECTIONS: tuple[Section, ...] = (
    Section("int8", "int8 vs float32 CropNet, and cropedge vs a plain conversion", inference.int8_vs_float),
    Section("throughput", "int8 CropNet MACs per second per core", inference.throughput),
    Section("predict", "cropedge predict end to end vs the raw interpreter", inference.predict_vs_raw),
    Section("training", "training samples/s vs the PyTorch reference, and what moves it", training.training_vs_torch),
    Section("augment", "augmentation pipeline vs the training step", training.augment_vs_step),
    Section("scale", "training over 1 vs 2 logical CPU devices; predict vs threads and batch", training.scale),
    Section("frontier", "CropNet and its students, distilled or not: cost and accuracy under shift", frontier.frontier),
    Section("maps", "GeoTIFF map prediction end to end vs the bare interpreter, cheapest models", inference.maps),
    Section("workers", "map production: 2 Dask workers vs 1 on 8 stacks", maps.workers),
    Section("fields", "per-field labels: pixel probabilities vs the field-mean series", maps.fields),
    Section("memory", "peak memory of cropedge predict on 512 vs 2048 px GeoTIFF stacks", inference.memory),
)
NAMES = tuple(s.name for s in SECTIONS)


def run_section(section: Section, ctx: Context) -> dict:
    """Run one section; never raises: failures and skips become the result."""
    t0 = time.perf_counter()
    try:
        result = {"status": "ok", **section.run(ctx)}
    except Skip as exc:
        result = {"status": "skipped", "reason": str(exc)}
    except Exception as exc:  # one broken section must not lose the others' numbers
        tb = traceback.format_exc().strip().splitlines()
        result = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}", "traceback": tb[-12:]}
    return {
        "title": section.title,
        **result,
        "seconds": round(time.perf_counter() - t0, 1),
        # other processes' load: numbers taken at a load above the core count are noisy
        "load_average_1min": os.getloadavg()[0],
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": ctx.machine,
    }


def run(out: Path, quick: bool, only: list[str] | None, work: Path | None = None, reference: str = "cropnet") -> dict:
    """Run the chosen sections and write ``out`` (JSON) and ``out`` with ``.md`` after each one.

    Args:
        out: the JSON report (the Markdown summary goes beside it).
        quick: tiny sizes, no accuracy training.
        only: section names to run (merged into an existing ``out``), or None for all.
        work: parent folder of the scratch folder (default: the system's temporary folder).
        reference: the CropNet variant the ratios are about (a smaller one makes a fast smoke run).
    """
    chosen = [s for s in SECTIONS if only is None or s.name in only]
    report = {"sections": {}}
    if only is not None and out.is_file():
        report = json.loads(out.read_text(encoding="utf-8"))
    machine = machine_info()
    report.update({"quick": quick, "reference": reference, "machine": machine})
    with tempfile.TemporaryDirectory(prefix="cropedge-bench-", dir=work) as tmp:
        ctx = Context(work=Path(tmp), quick=quick, machine=machine, reference=reference)
        # a merged run's maps use the accuracy frontier already in the report
        previous = report["sections"].get("frontier", {}).get("lightest_good")
        if previous:
            ctx.cache["lightest_good"] = previous
        for section in chosen:
            print(f"[bench] {section.name}: {section.title}", file=sys.stderr, flush=True)
            report["sections"][section.name] = result = run_section(section, ctx)
            print(f"[bench] {section.name}: {result['status']} in {result['seconds']} s"
                  + (f" ({result['reason']})" if result["status"] != "ok" else ""), file=sys.stderr, flush=True)
            write_json(out, report)
            write_text(out.with_suffix(".md"), render(report))
    return report


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: run the sections ``argv`` chooses; returns 0 (failures are in the report)."""
    parser = argparse.ArgumentParser(prog="python -m bench.perf", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench/perf.json"), help="JSON result (Markdown beside it)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no accuracy training: a minute or two")
    parser.add_argument("--only", help=f"comma-separated sections: {','.join(NAMES)}")
    parser.add_argument("--work", type=Path, help="folder for scratch files (default: system temp)")
    parser.add_argument("--reference", default="cropnet", help="CropNet variant the ratios are about (default cropnet)")
    args = parser.parse_args(argv)
    only = None
    if args.only:
        only = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(only) - set(NAMES))
        if unknown:
            parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    report = run(args.out, args.quick, only, args.work, args.reference)
    failed = [n for n, s in report["sections"].items() if s["status"] == "failed"]
    print(f"[bench] wrote {args.out} and {args.out.with_suffix('.md')}"
          + (f"; failed: {', '.join(failed)}" if failed else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
