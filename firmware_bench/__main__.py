"""``python -m firmware_bench BUNDLE [BUNDLE ...] [--json OUT]``: see the package docstring."""

from __future__ import annotations

import datetime as dt
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cropedge import __version__
from cropedge.atomic import check_writable, write_json
from cropedge.device.latency import significant as sig
from cropedge.errors import CropEdgeError

if TYPE_CHECKING:  # annotations only: nothing is loaded before the arguments are checked
    from cropedge.device.latency import DeviceBench
    from cropedge.device.runtime import LiteModel

PROG = "python -m firmware_bench"
COLUMNS = """\
ms, p95 ms  median and 95th percentile milliseconds per interpreter call of `batch`
            pixels (prepared input: what cropedge bench and latency_budget_ms count)
us/px       median microseconds per pixel
px/s        pixels per second, the interpreter alone
e2e px/s    pixels per second end to end, with the preprocessing of 'cropedge predict'
vs f32      speed-up over the float32 bundle of the same model, threads and batch
OA, F1      overall accuracy and macro-F1 on the --data samples (- without --data)
RSS MB      peak memory of this process so far"""


def _counts(text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise click.BadParameter(f"'{text}' is not a comma-separated list of positive integers", param_hint=option)
    return values


def _speedups(bench: DeviceBench) -> dict[tuple[str, int, int], float]:
    """(sha256, threads, batch) -> float32 median / this median, for bundles with a float32 sibling timed alike."""
    by_sha = {b.sha256: b for b in bench.bundles}
    float32 = {(by_sha[t.sha256].model, t.threads, t.batch): t.invoke.median_ms for t in bench.timings
               if by_sha[t.sha256].precision == "float32"}
    out = {}
    for t in bench.timings:
        ref = float32.get((by_sha[t.sha256].model, t.threads, t.batch))
        if ref is not None:
            out[(t.sha256, t.threads, t.batch)] = ref / max(t.invoke.median_ms, 1e-9)
    return out


def table(bench: DeviceBench) -> str:
    """The results as an aligned text table, one line per bundle, thread count and batch size."""
    by_sha = {b.sha256: b for b in bench.bundles}
    speedups = _speedups(bench)
    head = ("bundle", "sha256", "precision", "thr", "batch", "ms", "p95 ms", "us/px", "px/s", "e2e px/s",
            "vs f32", "OA", "F1", "size KB", "RSS MB")
    lines = [head]
    for t in bench.timings:
        b = by_sha[t.sha256]
        acc = b.accuracy
        speedup = speedups.get((t.sha256, t.threads, t.batch))
        lines.append((
            b.name, b.sha256[:8], b.precision, str(t.threads), str(t.batch),
            sig(t.invoke.median_ms), sig(t.invoke.p95_ms), sig(t.invoke.median_ms * 1e3 / t.batch),
            f"{t.invoke.pixels_per_s:.0f}", f"{t.end_to_end.pixels_per_s:.0f}",
            "-" if speedup is None else f"{speedup:.2f}x",
            sig(acc.oa if acc else None), sig(acc.macro_f1 if acc else None),
            f"{b.model_bytes / 1024:.1f}", sig(t.peak_rss_mb),
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    text_columns = 3  # bundle, sha256, precision: left-aligned; numbers right-aligned
    return "\n".join(
        "  ".join(c.ljust(w) if i < text_columns else c.rjust(w)
                  for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in lines
    )


def _check_output(json_path: Path, bundles: tuple[Path, ...], data: Path | None) -> None:
    """Refuse an output that would replace an input or a bundle's file, or that cannot be written."""
    target = json_path.resolve()
    for source in (*bundles, *([data] if data else [])):
        src = source.resolve()
        if target == src or (src.is_dir() and src in target.parents):
            raise CropEdgeError(f"--json {json_path} would overwrite {source}; write the results elsewhere")
    if json_path.is_dir():
        raise CropEdgeError(f"--json {json_path} is a folder; give a file name")
    check_writable(json_path.parent)


def _check_memory(models: list[LiteModel], batches: list[int]) -> None:
    from cropedge.data.memory import check_fits
    from firmware_bench.measure import input_bytes

    check_fits(max(input_bytes(m, max(batches)) for m in models), f"--batch {max(batches)}",
               "use a smaller batch")


@click.command(context_settings={"help_option_names": ["-h", "--help"]},
               epilog="Columns of the table:\n\n\b\n" + COLUMNS)
@click.argument("bundles", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the results here, for 'cropedge report GRID --device-latency FILE'.")
@click.option("--threads", default="1", show_default=True, help="Thread counts to try, comma-separated.")
@click.option("--batch", default="1,256", show_default=True, help="Batch sizes (pixels per call), comma-separated.")
@click.option("--runs", default=20, show_default=True, type=click.IntRange(min=3), help="Timed calls per setting.")
@click.option("--warmup", default=3, show_default=True, type=click.IntRange(min=0), help="Untimed calls first.")
@click.option("--max-seconds", default=10.0, show_default=True, type=click.FloatRange(min=0),
              help="Stop timing a setting after this long (3 calls at least).")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="Labelled pixel table: time on its samples and report accuracy and macro-F1.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines on stderr; the table only.")
def main(
    bundles: tuple[Path, ...],
    json_path: Path | None,
    threads: str,
    batch: str,
    runs: int,
    warmup: int,
    max_seconds: float,
    data: Path | None,
    quiet: bool,
) -> None:
    """Time BUNDLEs (folders or .tflite from 'cropedge export') on this machine and print a table.

    Every bundle is timed at every thread count and batch size. Copy the --json file back to
    the machine with the grid and pass it to 'cropedge report GRID --device-latency FILE':
    bundles are matched to the grid's by the sha256 of their flatbuffer.
    """
    from cropedge.device.latency import DeviceBench
    from cropedge.device.runtime import LiteModel
    from firmware_bench.measure import accuracy, describe, machine, measure

    thread_counts, batches = _counts(threads, "'--threads'"), _counts(batch, "'--batch'")
    if not math.isfinite(max_seconds):
        raise click.BadParameter(f"{max_seconds} is not a finite number of seconds", param_hint="'--max-seconds'")
    # everything that can fail does so before the first measurement
    if json_path is not None:
        _check_output(json_path, bundles, data)
    models = [LiteModel(b) for b in bundles]
    _check_memory(models, batches)
    dataset = None
    if data is not None:
        from cropedge.data import load_dataset

        dataset = load_dataset(data)
        for m in models:
            m.check_dataset(dataset)
    described, timings = [], []
    steps, step = len(models) * len(thread_counts) * len(batches), 0
    for model in models:
        # time on the labelled samples when given (their bands put in the model's order)
        x_year = None if dataset is None else model.input_from(dataset)
        for t in thread_counts:
            for b in batches:
                step += 1
                if not quiet:
                    click.echo(f"[{step}/{steps}] {model.metadata.label}: {t} thread(s), batch {b}", err=True)
                timings.append(measure(model, t, b, runs, warmup, max_seconds, x_year))
        info = describe(model)
        described.append(info if dataset is None else replace(info, accuracy=accuracy(model, dataset, max(batches))))
    runtime = models[0].runtime_info
    bench = DeviceBench(
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), cropedge=__version__, machine=machine(),
        runtime=runtime["runtime"], runtime_version=runtime["version"], bundles=tuple(_unique(described)),
        timings=tuple(timings),
        settings={"threads": thread_counts, "batch": batches, "runs": runs, "warmup": warmup,
                  "max_seconds": max_seconds, "data": None if data is None else str(data)},
    )
    host = bench.machine
    click.echo(f"{host.label}; {host.cpu_flags or 'no SIMD flags read'}; {bench.runtime} {bench.runtime_version}")
    click.echo(table(bench))
    if not quiet:
        click.echo("\n" + COLUMNS)
    if json_path is not None:
        try:
            write_json(json_path, bench.to_dict())
        except OSError as exc:  # disk full, file too large: the table above is still on screen
            raise CropEdgeError(f"cannot write {json_path}: {exc.strerror or exc}") from None
        click.echo(f"-> {json_path}")


def _unique(bundles: list) -> list:
    """One entry per sha256 (the same bundle given twice is one bundle)."""
    return list({b.sha256: b for b in bundles}.values())


def run() -> None:
    """Entry point: user errors and bad arguments as one line and exit status 2; Ctrl-C 130."""
    try:
        code = main(standalone_mode=False, prog_name=PROG)
    except CropEdgeError as exc:
        _fail(str(exc))
    except click.exceptions.Abort:
        click.echo(f"{PROG.split()[-1]}: interrupted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        _fail(f"{exc.format_message()} (see '{PROG} --help')")
    except click.ClickException as exc:  # e.g. a file click could not open
        _fail(exc.format_message())
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str) -> None:
    click.echo(f"firmware_bench: error: {' '.join(message.split())}", err=True)
    sys.exit(2)


if __name__ == "__main__":
    run()
