"""Map production: 2 Dask workers vs 1 on 8 stacks, and per-field labels by pixels vs by mean series.

Both run ``cropedge.maps.produce.produce`` (what ``cropedge predict STACKS --out DIR`` runs),
end to end: the LocalCluster's start, every map, the mosaic and the summary.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from bench import fixtures
from bench.context import Context
from bench.inference import map_models, map_stack
from bench.results import Skip, ratio

STACKS = 8


def _produce(ctx: Context, bundle: Path, stacks: list[Path], out: Path, **kw: object) -> tuple[float, dict]:
    from cropedge.device.jobs import Settings
    from cropedge.maps.produce import produce

    shutil.rmtree(out, ignore_errors=True)
    settings = Settings(bundle=str(bundle), out_dir=str(out), num_threads=kw.pop("threads", 1))  # type: ignore[arg-type]
    t0 = time.perf_counter()
    report = produce([str(s) for s in stacks], settings, **kw)  # type: ignore[arg-type]
    return time.perf_counter() - t0, report


def _cheapest(ctx: Context) -> tuple[str, Path, Path]:
    name = next(iter(map_models(ctx)))
    run_dir = fixtures.trained_run(ctx, name)
    return name, run_dir, fixtures.bundles(ctx, run_dir, ("int8",))["int8"]


def workers(ctx: Context) -> dict:
    """Pixels/s of 8 stacks on a LocalCluster of 2 workers vs 1 (one interpreter thread each), two rounds."""
    from cropedge.maps.produce import dask_available

    if not dask_available():
        raise Skip('dask.distributed is not installed (pip install "cropedge[cluster]")')
    name, run_dir, bundle = _cheapest(ctx)
    size = 128 if ctx.quick else 512
    first = map_stack(ctx, size, run_dir, "workers")
    stacks = [first] + [first.with_name(f"workers-{size}-{i}.tif") for i in range(1, STACKS)]
    for s in stacks[1:]:
        if not s.exists():
            s.hardlink_to(first)
    from dask.distributed import LocalCluster

    seconds: dict[int, list[float]] = {1: [], 2: []}
    pixels = 0
    for _ in range(1 if ctx.quick else 2):
        for n in (1, 2):
            # the cluster is started outside the timing: a fixed few seconds, whatever the work
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
                t, report = _produce(ctx, bundle, stacks, ctx.work / f"workers-out-{n}",
                                     scheduler=cluster.scheduler_address)
            if report["totals"]["failed"]:
                raise RuntimeError(f"{report['totals']['failed']} stacks failed: {report['rows']}")
            seconds[n].append(t)
            pixels = report["totals"]["pixels"]
    best = {n: float(np.median(v)) for n, v in seconds.items()}
    rows = [{"workers": n, "stacks": STACKS, "pixels": pixels, "seconds": best[n], "pixels/s": pixels / best[n]}
            for n in (1, 2)]
    return {
        "model": name, "ratios": [ratio(f"{STACKS} stacks: 2 workers / 1 worker pixels/s", best[1], best[2],
                                        ("1 worker s", "2 workers s"), (">=", 1.7))],
        "tables": {"Dask LocalCluster workers": rows},
        "notes": [f"{name} int8, {STACKS} uint16 stacks of {size} x {size} px, a Dask LocalCluster of 1 or 2 "
                  "worker processes with one interpreter thread each (cropedge predict's default), started "
                  "before the timing (a few seconds, once per run); the maps, mosaic and summary timed; "
                  "median of the rounds, 1 and 2 workers alternating. Each "
                  "worker also prepares the next window in a second thread, so one worker already uses more than "
                  "one core."],
    }


def _grid_fields(path: Path, stack: Path, cell: int) -> int:
    """Write square fields of ``cell`` x ``cell`` pixels (every other one, checkerboard) over ``stack``."""
    import pyogrio
    import rasterio
    import shapely

    with rasterio.open(stack) as src:
        t, h, w, crs = src.transform, src.height, src.width, src.crs
    boxes = [shapely.box(*(t * (c, r + cell)), *(t * (c + cell, r)))
             for r in range(0, h - cell + 1, cell) for c in range(0, w - cell + 1, cell) if (r // cell + c // cell) % 2]
    pyogrio.raw.write(str(path), shapely.to_wkb(np.array(boxes)), [np.arange(len(boxes))], ["field_id"],
                      driver="GPKG", crs=crs.to_string(), geometry_type="Polygon")
    return len(boxes)


def fields(ctx: Context) -> dict:
    """Per-field labels: every pixel classified and averaged (mean of probabilities) vs the field-mean series."""
    import importlib.util

    if importlib.util.find_spec("pyogrio") is None:
        raise Skip('pyogrio is not installed (pip install "cropedge[fields]")')
    from cropedge.maps.fields import FieldsSpec, read_fields

    models = list(map_models(ctx))
    name = models[-1]  # the dearest of the cheap models: where skipping the pixels matters most
    run_dir = fixtures.trained_run(ctx, name)
    bundle = fixtures.bundles(ctx, run_dir, ("int8",))["int8"]
    size = 128 if ctx.quick else 512
    stack = map_stack(ctx, size, run_dir, "fields")
    vector = ctx.work / "fields.gpkg"
    n_fields = _grid_fields(vector, stack, 16)
    out = {}
    for mode in ("mean", "series", "mean", "series"):
        t, report = _produce(ctx, bundle, [stack], ctx.work / f"fields-{mode}", workers=1, threads=ctx.threads,
                             fields=FieldsSpec(str(vector), None, mode))
        out.setdefault(mode, []).append((t, report))
        read_fields.cache_clear()
    labels = {}
    for mode in ("mean", "series"):
        import pyogrio

        _, _, _, data = pyogrio.raw.read(str(ctx.work / f"fields-{mode}" / "fields.gpkg"))
        labels[mode] = data[1]
    agree = float(np.mean(labels["mean"] == labels["series"]))
    secs = {m: float(np.median([t for t, _ in v])) for m, v in out.items()}
    pixels = out["mean"][0][1]["rows"][0]["pixels"]
    rows = [{"mode": m, "fields": n_fields, "stack pixels": size * size, "seconds": secs[m]} for m in secs]
    return {
        "model": name, "fields": n_fields, "agreement": agree,
        "ratios": [ratio("field-mean series / mean of pixel probabilities, speed", secs["mean"], secs["series"],
                         ("pixel mode s", "series mode s"))],
        "tables": {"Per-field labels": rows},
        "notes": [f"{name} int8, one {size} x {size} stack ({pixels:,} pixels classified in pixel mode), "
                  f"{n_fields} square fields of 16 x 16 pixels on half the raster, one process, {ctx.threads} "
                  f"interpreter threads; median of two runs each; pixel mode also writes the class map. The two "
                  f"modes give the same class for {agree:.1%} of the fields (the bundles here are trained for one "
                  "epoch, so agreement says nothing about accuracy)."],
    }
