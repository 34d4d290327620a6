"""``cropedge predict BUNDLE STACK [STACK ...] --out DIR``: many stacks, one call.

Plans the parts (``cropedge.device.jobs``), runs them in this process, as one ``--shard``,
or on Dask (``cropedge.maps.cluster``, imported only then), joins split stacks, and writes
the VRT mosaic, the per-field GeoPackage (``--fields``) and ``summary.json``. Dask,
pyogrio and shapely are imported only when asked for, so a device install runs many
stacks in one process with nothing but numpy, LiteRT and rasterio.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from cropedge.atomic import check_writable, write_json
from cropedge.data.geotiff import is_remote
from cropedge.device import jobs
from cropedge.device.jobs import Outcome, Part, Settings
from cropedge.device.mosaic import write_mosaics
from cropedge.errors import CropEdgeError

SUMMARY = "summary.json"
FIELDS_OUT = "fields.gpkg"
FAILED_EXIT = 3


def dask_available() -> bool:
    """Whether dask.distributed is installed (the ``cluster`` extra)."""
    return importlib.util.find_spec("distributed") is not None


def _check_outputs(stacks: list[str], out_dir: Path, settings: Settings, overwrite: bool) -> None:
    """Refuse a map that would replace an input, or one made with other settings (without ``overwrite``)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise CropEdgeError(f"--out {out_dir}: is a file; many stacks need a folder to write their maps in")
    check_writable(out_dir)
    inputs = {Path(s).resolve() for s in stacks if not is_remote(s)}
    fingerprint = settings.fingerprint(jobs.load_model(settings).metadata.sha256)
    stale = []
    for s in stacks:
        target = jobs.map_path(out_dir, jobs.stack_name(s))
        if target.resolve() in inputs:
            raise CropEdgeError(f"the map of {s} would replace the input {target}; choose another --out folder")
        if target.exists() and not overwrite and jobs.read_record(target)[0] != fingerprint:
            stale.append(target.name)
    if stale:
        raise CropEdgeError(
            f"{out_dir}: {', '.join(stale[:3])}{' ...' if len(stale) > 3 else ''} were not made with this bundle and "
            "these options; pass --overwrite to replace them, or choose another --out"
        )


def produce(
    inputs: list[str],
    settings: Settings,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    shard: tuple[int, int] | None = None,
    fields: object | None = None,
    overwrite: bool = False,
    progress: Callable[[Outcome, int, int], None] | None = None,
) -> dict:
    """Classify every stack of ``inputs`` into ``settings.out_dir``; the report (rows, totals, mosaics, fields).

    Args:
        inputs: files, folders, globs, ``@list.txt``.
        settings: what every part needs (``settings.sink`` is set here from ``fields``).
        workers: Dask workers for a LocalCluster (None: one per core); 1 runs in this process.
        scheduler: address of a running Dask scheduler to use instead.
        shard: (K, N): run only this share of the stacks, in this process.
        fields: a ``cropedge.maps.fields.FieldsSpec`` for per-field labels.
        overwrite: replace maps made with other settings.
        progress: called with each finished part, how many are done and how many there are.
    """
    out_dir = Path(settings.out_dir)
    stacks = jobs.shard_of(jobs.expand_inputs(inputs), shard)
    if not stacks:
        raise CropEdgeError(f"shard {shard[0]}/{shard[1]} has no stacks: there are fewer stacks than shards"
                            if shard else "no stacks to classify")
    series = getattr(fields, "mode", None) == "series"
    runner = jobs.run_part
    if fields is not None:
        from cropedge.maps.fields import read_fields, run_series_part

        read_fields(fields.path, fields.id_column)  # a bad vector file fails now, not on every worker
        settings = replace(settings, sink=fields)
        runner = run_series_part if series else jobs.run_part
    _check_outputs(stacks, out_dir, settings, overwrite)
    in_process = shard is not None or (scheduler is None and (workers == 1 or not dask_available()))
    if scheduler is None and workers is not None and workers > 1 and not dask_available() and shard is None:
        raise CropEdgeError(f'--workers {workers} runs on Dask: pip install "cropedge[cluster]" (or --workers 1)')
    n_workers = 1 if in_process else (workers or jobs.cpu_count())
    parts: list[Part] = []

    def plan(n: int) -> list[Part]:
        parts[:] = jobs.plan_parts(stacks, n, settings) if not series else [
            Part(s, jobs.stack_name(s)) for s in stacks]
        return parts

    finished: list[Outcome] = []

    def tick(outcome: Outcome) -> None:
        finished.append(outcome)
        if progress is not None:
            progress(outcome, len(finished), len(parts))

    if in_process:
        outcomes = jobs.run_in_process(plan(1), settings, tick, runner)
    else:
        from cropedge.maps.cluster import run_on_dask

        if settings.num_threads is None:  # one interpreter thread per worker: the workers are the parallelism
            settings = replace(settings, num_threads=1)
        outcomes = run_on_dask(plan, settings, n_workers, scheduler, runner, tick)
    stacks_out = jobs.by_stack(outcomes, settings, maps=not series)
    rows = jobs.stack_rows(stacks_out, out_dir) if not series else [
        {"stack": o.part.name, "input": o.part.path, "status": o.status, "pixels": o.summary.get("pixels"),
         "seconds": round(o.seconds, 3), "pixels_per_second": None, **({"reason": o.reason} if o.reason else {})}
        for o in stacks_out]
    report: dict = {"out": str(out_dir), "workers": n_workers if not in_process else 1,
                    "engine": "process" if in_process else ("dask " + (scheduler or "LocalCluster")),
                    "shard": f"{shard[0]}/{shard[1]}" if shard else None, "rows": rows, "totals": jobs.totals(rows)}
    if shard is None:
        maps = [jobs.map_path(out_dir, r["stack"]) for r in rows if r["status"] != "failed" and not series]
        report["mosaics"] = [str(p) for p in write_mosaics(maps, out_dir)] if maps else []
        if fields is not None:
            from cropedge.maps.fields import write_fields

            files = jobs.fields_files(stacks_out)
            report["fields"] = write_fields(fields, files, settings, out_dir / FIELDS_OUT)
        write_json(out_dir / SUMMARY, report)
    return report


def print_progress(outcome: Outcome, done: int, total: int) -> None:
    """One plain line per finished part on stderr (readable in a log file)."""
    extra = f" ({outcome.reason})" if outcome.status == "failed" else ""
    print(f"[{done}/{total}] {outcome.part.label}: {outcome.status} {outcome.seconds:.1f} s{extra}",
          file=sys.stderr, flush=True)
