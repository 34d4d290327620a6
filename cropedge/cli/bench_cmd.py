"""``cropedge bench`` and ``cropedge report``: the accuracy / size / latency grid and its report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from cropedge.cli.options import (
    POSITIVE_INT,
    FiniteFloat,
    SeedList,
    console_options,
    emit,
    json_option,
    option,
    out_option,
    recipe_option,
)

# exit status when an ok row misses --min-oa: 1 like a failed test (2 is for usage errors)
BELOW_FLOOR_EXIT = 1


class IntList(click.ParamType):
    """``1,256`` -> (1, 256); with ``allow_all``, ``all`` -> 0, meaning every available core."""

    name = "N,N,..."

    def __init__(self, allow_all: bool = False) -> None:
        """Make the parameter type.

        Args:
            allow_all: Accept the word ``all`` (as 0) besides integers >= 1.
        """
        self.allow_all = allow_all

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[int, ...]:
        """Parse ``value`` into a tuple of integers; anything else is a usage error."""
        if isinstance(value, tuple):
            return value
        words = [v.strip() for v in str(value).split(",") if v.strip()]
        try:
            items = tuple(0 if self.allow_all and w == "all" else int(w) for w in words)
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of integers"
                      + (" (or 'all')" if self.allow_all else ""), param, ctx)
        if not items or any(i < 1 for i, w in zip(items, words, strict=False) if w != "all"):
            self.fail(f"{value!r} must list integers >= 1", param, ctx)
        return items

    @staticmethod
    def show(items: tuple[int, ...]) -> str:
        """``(1, 0)`` -> ``1,all``: how the list is typed."""
        return ",".join("all" if i == 0 else str(i) for i in items)


def comma_list(text: str | None) -> tuple[str, ...] | None:
    """``"a, b"`` -> ("a", "b"); None or empty -> None (use the default)."""
    names = tuple(v.strip() for v in (text or "").split(",") if v.strip())
    return names or None


def _latency_default(name: str) -> Any:
    """``LatencyOptions``' default of ``name`` (how bundles are timed)."""
    from cropedge.cli.options import field_default
    from cropedge.grid.bench import LatencyOptions

    return field_default(LatencyOptions, name)


def _default_profile_name() -> str:
    from cropedge.device.profile import DEFAULT_PROFILE

    return DEFAULT_PROFILE


def _default_precisions() -> str:
    from cropedge.grid.bench import DEFAULT_PRECISIONS

    return ",".join(DEFAULT_PRECISIONS)


@click.command("bench", short_help="Benchmark grid: train, export, time and score on every target.")
@recipe_option(name="recipes", multiple=True, required=True,
               help="Transfer setting (training/*.toml); repeat for several. Settings with the same source share runs.")
@option("--data", type=click.Path(exists=True, path_type=Path),
        help="Data folder (CropGlobe .npz per region) replacing the recipes' data path.")
@out_option("Grid folder; a second call resumes it and skips finished cells.", name="grid", required=True,
            type=click.Path(file_okay=False, path_type=Path))
@option("--models", help="Comma-separated model names.", shown=lambda: "the recipes' models")
@option("--precisions", default=_default_precisions,
        help="Comma-separated export precisions (a 'keras' float row is always added).")
@option("--seeds", type=SeedList(), help="Seeds, e.g. 0,1,2: one training run per seed.",
        shown=lambda: "the recipes' seed lists")
@option("--epochs", type=POSITIVE_INT, help="Training epochs, overriding the recipes.",
        shown=lambda: "the recipes', else sized to the training set")
@option("--augment", type=click.Choice(["on", "off", "both"]), default="on", show_default=True,
        help="Train with augmentation, without, or both (the report then compares them).")
@option("--profile", "export_profile", help="Device profile (export/*.toml or a name): calibration, QAT "
        "epochs, self-check threshold.", shown=_default_profile_name)
@option("--batch-size", "batches", aliases=("--batches",), type=IntList(), default=lambda: _latency_default("batches"),
        help="Batch sizes timed (pixels per interpreter call).")
@option("--threads", type=IntList(allow_all=True), default=lambda: _latency_default("threads"),
        shown=lambda: IntList.show(_latency_default("threads")),
        help="Interpreter thread counts timed ('all' = every available core).")
@option("--warmup", type=click.IntRange(min=0), default=lambda: _latency_default("warmup"), help="Untimed calls first.")
@option("--runs", type=POSITIVE_INT, default=lambda: _latency_default("runs"), help="Timed calls (at most).")
@option("--min-oa", type=FiniteFloat(0, 1),
        help=f"Exit {BELOW_FLOOR_EXIT} when an ok row's OA is below this.")
@option("--shard", help="K/N: run only the K-th of N shares of the jobs (merge with 'cropedge report').")
@option("--retry-failed", is_flag=True, help="Run failed cells again instead of keeping their rows.")
@json_option
@console_options
def bench(
    recipes: tuple[Path, ...],
    data: Path | None,
    grid: Path,
    models: str | None,
    precisions: str,
    seeds: list[int] | None,
    epochs: int | None,
    augment: str,
    export_profile: str | None,
    batches: tuple[int, ...],
    threads: tuple[int, ...],
    warmup: int,
    runs: int,
    min_oa: float | None,
    shard: str | None,
    retry_failed: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Train, export, time and score every model x precision x seed on every target of the recipes.

    One row per (setting, target, model, precision, seed, augment, aligned) in GRID/results.csv
    and GRID/results.json; a failure is a row with its status (ok, check_failed: exported but
    its self-check failed, failed) and reason, not a crash. See docs/bench.md.
    """
    from cropedge.atomic import check_output
    from cropedge.device.profile import default_profile
    from cropedge.grid.bench import LatencyOptions, parse_shard, run_grid, settings_from_recipes
    from cropedge.grid.report import grid_table
    from cropedge.grid.rows import below_floor

    settings = settings_from_recipes(recipes, data)
    check_output(grid, inputs=[*recipes, *_files(*{s.train.data for s in settings}, export_profile)], kind="folder")
    model_list = comma_list(models) or tuple(dict.fromkeys(s.train.model for s in settings))
    seed_list = seeds or sorted({seed for s in settings for seed in s.seeds})
    summary = run_grid(
        settings, grid, model_list, comma_list(precisions) or (), seed_list,
        augment={"on": (True,), "off": (False,), "both": (False, True)}[augment],
        epochs=epochs, export_profile=export_profile if export_profile is not None else default_profile(),
        latency=LatencyOptions(batches=batches, threads=threads, warmup=warmup, runs=runs),
        shard_of=parse_shard(shard), retry_failed=retry_failed, progress=not (quiet or as_json),
    )
    low = below_floor(summary.rows, min_oa) if min_oa is not None else []
    counts = summary.counts()
    text = "\n".join([
        grid_table(summary.rows),
        f"{grid / 'results.csv'}: {len(summary.rows)} rows. This call: {counts['trained']} run(s) trained, "
        f"{counts['exported']} bundle(s) exported, {counts['evaluated']} cell(s) scored, "
        f"{counts['skipped']} finished cell(s) skipped.",
        *[f"below --min-oa {min_oa}: {r.key} OA {r.oa:.3f}" for r in low],
    ])
    emit({**counts, "grid": str(grid), "rows": len(summary.rows), "below_min_oa": [r.key for r in low]},
         as_json, quiet, text)
    if low:
        sys.exit(BELOW_FLOOR_EXIT)


@click.command("report", short_help="Build the report (HTML, Markdown, figures) of grid folders.")
@click.argument("grids", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@out_option("Report folder.", type=click.Path(file_okay=False, path_type=Path), shown=lambda: "GRID/report")
@option("--profile", help="Device profile with the latency budget (export/*.toml or a name).",
        shown=_default_profile_name)
@option("--device-latency", "device_latency", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
        help="'python -m firmware_bench --json' file from the device: rank by latency measured there "
        "(bundles matched by sha256). Repeat for several files or devices.")
@json_option
@console_options
def report(grids: tuple[Path, ...], out: Path | None, profile: str | None, device_latency: tuple[Path, ...],
           as_json: bool, quiet: bool) -> None:
    """Build report.html (self-contained), report.md and PNG figures from one or more grid folders.

    Pass every shard's folder to merge them. The report says what to ship per transfer
    setting: the most accurate bundle within the profile's latency budget (the fastest of
    those within 0.01 macro-F1 of it).
    """
    from cropedge.atomic import check_output
    from cropedge.grid.report import build_report

    out = out or grids[0] / "report"
    check_output(out, inputs=[*grids, *_files(profile, *device_latency)], kind="folder")
    result = build_report(list(grids), out, profile, device_latency)
    text = "\n".join([*(f"* {line.replace('**', '')}" for line in result["ship_lines"]),
                      f"report: {result['report_html']}"])
    emit({k: (str(v) if isinstance(v, Path) else v) for k, v in result.items() if k != "figures"}
         | {"figures": [str(f) for f in result["figures"]]}, as_json, quiet, text)


def _files(*paths: str | Path | None) -> list[Path]:
    """The arguments that name existing files or folders (a profile may also be a bare name like pi4)."""
    return [Path(p) for p in paths if p is not None and Path(p).exists()]


COMMANDS = [bench, report]
