"""``python -m firmware_bench BUNDLE [BUNDLE ...] --json OUT``: see the package docstring."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from cropedge import __version__
from cropedge.atomic import write_json
from cropedge.errors import CropEdgeError


def _counts(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise click.BadParameter(f"'{text}' is not a comma-separated list of positive integers")
    return values


def _table(rows: list[dict]) -> str:
    head = ("bundle", "runtime", "thr", "batch", "mean ms", "p50 ms", "p5 ms", "p95 ms", "us/px", "px/s",
            "invoke px/s", "size KB", "RSS MB")
    lines = [head]
    for r in rows:
        lat = r["latency_ms"]
        lines.append((
            r["name"], f"{r['runtime']} {r['version']}", str(r["threads"]), str(r["batch"]),
            f"{lat['mean_ms']:.2f}", f"{lat['median_ms']:.2f}", f"{lat['p5_ms']:.2f}", f"{lat['p95_ms']:.2f}",
            f"{r['latency_per_pixel_us']['median_us']:.1f}", f"{r['pixels_per_s']:.0f}",
            f"{r['invoke_pixels_per_s']:.0f}", f"{r['model_bytes'] / 1024:.0f}",
            "-" if r["peak_rss_mb"] is None else f"{r['peak_rss_mb']:.0f}",
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=False)))
        for row in lines
    )


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("bundles", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "json_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Write all results here (for the report).")
@click.option("--threads", default="1", show_default=True, help="Thread counts to try, comma-separated.")
@click.option("--batch", default="1,256", show_default=True, help="Batch sizes (pixels per call), comma-separated.")
@click.option("--runs", default=20, show_default=True, type=click.IntRange(min=3), help="Timed calls per setting.")
@click.option("--warmup", default=3, show_default=True, type=click.IntRange(min=0), help="Untimed calls first.")
@click.option("--max-seconds", default=10.0, show_default=True, type=click.FloatRange(min=0),
              help="Stop timing a setting after this long (3 calls at least).")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="Labelled pixel table: time on its samples and report accuracy and macro-F1.")
def main(
    bundles: tuple[Path, ...],
    json_path: Path,
    threads: str,
    batch: str,
    runs: int,
    warmup: int,
    max_seconds: float,
    data: Path | None,
) -> None:
    """Benchmark BUNDLEs (folders or .tflite from 'cropedge export') on this machine."""
    from cropedge.device.runtime import LiteModel
    from firmware_bench.measure import accuracy, machine, measure

    thread_counts, batches = _counts(threads), _counts(batch)
    dataset = None
    if data is not None:
        from cropedge.data import load_dataset

        dataset = load_dataset(data)
    rows, scores = [], {}
    for bundle in bundles:
        # time on the labelled samples when given (their bands put in the model's order)
        x_year = None if dataset is None else LiteModel(bundle).input_from(dataset)
        for t in thread_counts:
            for b in batches:
                rows.append(measure(bundle, t, b, runs, warmup, max_seconds, x_year))
        if dataset is not None:
            scores[str(bundle)] = accuracy(bundle, dataset, max(batches))
    info = machine()
    result = {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cropedge": __version__,
        "machine": info,
        "settings": {"threads": thread_counts, "batch": batches, "runs": runs, "warmup": warmup,
                     "max_seconds": max_seconds, "data": None if data is None else str(data)},
        "results": rows,
        "accuracy": scores,
    }
    write_json(json_path, result)
    click.echo(
        f"{info['cpu_model']} ({info['machine']}, {info['cores']} cores; {info['cpu_flags'] or 'no SIMD flags read'})"
    )
    click.echo(_table(rows))
    for name, s in scores.items():
        click.echo(f"{name}: OA {s['oa']:.3f}, macro-F1 {s['macro_f1']:.3f} on {s['n']} labelled samples")
    click.echo(f"-> {json_path}")


def run() -> None:
    """Entry point: user errors as one line and exit status 2."""
    try:
        main(standalone_mode=False)
    except CropEdgeError as exc:
        click.echo(f"firmware_bench: error: {' '.join(str(exc).split())}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    run()
