"""``cropedge predict``: classify pixel tables or GeoTIFF stacks with an exported bundle.

One input and an ``--out`` file: a table -> CSV/NPZ, a stack -> a class map. Many stacks
(several inputs, a folder, a glob, ``@list.txt``) or an ``--out`` folder: one map per
stack, resumable, in this process, on Dask or as one ``--shard``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from cropedge.cli.options import (
    POSITIVE_INT,
    console_options,
    json_option,
    option,
    out_option,
    reader_kwargs,
    reader_options,
)


def _id_columns() -> tuple[str, ...]:
    from cropedge.maps.fields import ID_COLUMNS

    return ID_COLUMNS


def _default_batch() -> int:
    from cropedge.device.runtime import DEFAULT_BATCH

    return DEFAULT_BATCH


def _names(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _many(inputs: tuple[str, ...], out: Path, forced: bool) -> bool:
    """Whether this call makes maps of many stacks into a folder (rather than one output file)."""
    from cropedge.device.predict import is_raster

    item = inputs[0]
    if not forced and len(inputs) == 1 and Path(item).is_file() and not is_raster(item):
        return False  # one pixel table: one output file, whatever --out is
    if forced or len(inputs) > 1 or out.is_dir() or not out.suffix:
        return True
    if item.startswith("@") or any(c in item for c in "*?["):
        return True
    path = Path(item)
    return path.is_dir() and any(p.suffix.lower() in (".tif", ".tiff") for p in path.iterdir())


@click.command("predict", short_help="Classify pixel tables or GeoTIFF stacks with a bundle.")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True)
@out_option("A .csv/.npz for a table, a .tif for one stack, or a folder for many stacks.", required=True,
            type=click.Path(path_type=Path))
@option("--batch-size", "batch", aliases=("--batch",), default=_default_batch, type=POSITIVE_INT,
        help="Pixels per interpreter call.")
@option("--threads", default=None, type=POSITIVE_INT, help="Interpreter threads.",
        shown=lambda: "the runtime's; 1 per Dask worker")
@click.option("--probabilities", is_flag=True, help="Tables: add every class probability (p_<class>).")
@click.option("--confidence", is_flag=True,
              help="GeoTIFF: add a uint8 confidence band (probability x 254; 255 = nodata).")
@option("--season-offset", default=None, metavar="DAYS|auto", shown=lambda: "the bundle's",
        help="Move the input season earlier by DAYS before cutting the window, or 'auto': the shift that "
             "best aligns the input's mean NDVI curve with the bundle's source curve.")
@click.option("--bands", default=None, metavar="B2,B3,...",
              help="GeoTIFF: band names of the stack, with --dates (raster bands date-major). Tables: the bands "
                   "to read or, for numbered columns, their order.")
@option("--dates", default=None, metavar="2023-04-01,...", help="GeoTIFF: dates of the stack.",
        shown=lambda: "bands and dates from band descriptions like B2_2023-04-01")
@click.option("--mask", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="GeoTIFF: a raster on the stacks' grid, non-zero = classify; the rest is nodata.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out (maps made with other settings).")
@option("--workers", type=POSITIVE_INT, default=None,
        help="Many stacks: Dask LocalCluster workers; 1 = in this process.", shown=lambda: "one per core")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Many stacks: use a running Dask scheduler (tcp://host:8786) instead of a LocalCluster.")
@click.option("--shard", metavar="K/N", default=None,
              help="Many stacks: classify only share K of N (a Slurm array or Kubernetes indexed job), no Dask.")
@click.option("--fields", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Many stacks: polygons (any vector file) to label: writes OUT/fields.gpkg.")
@option("--field-id", default=None, help="Column of --fields holding the field id.",
        shown=lambda: f"{', '.join(_id_columns())}, else the feature id")
@click.option("--field-label", type=click.Choice(["mean", "majority", "series"]), default="mean",
              show_default=True,
              help="mean: highest mean probability; majority: most frequent pixel class; series: classify the "
                   "field's mean series (fast, no class maps).")
@json_option
@reader_options(skip=("bands",))
@console_options
def predict_cmd(
    bundle: Path,
    inputs: tuple[str, ...],
    out: Path,
    batch: int,
    threads: int | None,
    probabilities: bool,
    confidence: bool,
    season_offset: str | None,
    bands: str | None,
    dates: str | None,
    mask: Path | None,
    overwrite: bool,
    workers: int | None,
    scheduler: str | None,
    shard: str | None,
    fields: Path | None,
    field_id: str | None,
    field_label: str,
    as_json: bool,
    quiet: bool,
    **reader: Any,
) -> None:
    """Classify INPUT with BUNDLE (a bundle folder or .tflite from 'cropedge export').

    INPUT is a pixel table (.npz, .h5, .csv, .parquet, or a folder of .npz) or GeoTIFF
    stacks (every band of every date as a raster band): files, a folder, a glob, @list.txt
    or any path GDAL opens (/vsicurl/..., s3://...). Needs only numpy and LiteRT (rasterio
    for stacks; dask.distributed for --workers above 1; pyogrio for --fields).
    """
    from cropedge.data.align import parse_offset

    offset = parse_offset(season_offset)
    data_options = reader_kwargs(reader)
    if _many(inputs, out, bool(workers or scheduler or shard or fields)):
        if data_options:
            flags = ", ".join("--" + k.replace("_", "-") for k in data_options)
            raise click.UsageError(f"{flags}: reader options of pixel tables, not of GeoTIFF stacks")
        _many_stacks(bundle, inputs, out, batch=batch, threads=threads, confidence=confidence, offset=offset,
                     bands=_names(bands), dates=_names(dates), mask=mask, overwrite=overwrite, workers=workers,
                     scheduler=scheduler, shard=shard, fields=fields, field_id=field_id, field_label=field_label,
                     probabilities=probabilities, as_json=as_json, quiet=quiet)
        return
    from cropedge.device.predict import predict_file

    summary = predict_file(
        bundle, inputs[0], out, batch_size=batch, num_threads=threads, probabilities=probabilities,
        confidence=confidence, season_offset_days=offset, bands=_names(bands), dates=_names(dates),
        mask=mask, overwrite=overwrite, progress=not quiet and not as_json, data_options=data_options,
    )
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    if quiet:
        return
    runtime = summary["runtime"]
    line = (
        f"{summary['pixels']} pixels -> {summary['output']} with {summary['model']} "
        f"({runtime['runtime']} {runtime['version']}, {summary['pixels_per_second']:.0f} px/s)"
    )
    if summary.get("nodata"):
        line += f", {summary['nodata']} nodata"
    if summary.get("masked"):
        line += f", {summary['masked']} masked"
    if summary.get("season_offset", {}).get("method") == "auto":
        line += f", season offset auto {summary['season_offset']['days']:g} days"
    if summary.get("labelled_accuracy") is not None:
        line += f", accuracy on the input's labels {summary['labelled_accuracy']:.3f}"
    click.echo(line)


def _many_stacks(bundle: Path, inputs: tuple[str, ...], out: Path, *, batch: int, threads: int | None,
                 confidence: bool, offset: float | str | None, bands: list[str] | None, dates: list[str] | None,
                 mask: Path | None, overwrite: bool, workers: int | None, scheduler: str | None, shard: str | None,
                 fields: Path | None, field_id: str | None, field_label: str, probabilities: bool, as_json: bool,
                 quiet: bool) -> None:
    from cropedge.device.jobs import Settings, format_table, parse_shard
    from cropedge.errors import CropEdgeError
    from cropedge.maps.produce import FAILED_EXIT, print_progress, produce

    if probabilities:
        raise CropEdgeError("--probabilities is for table output; class maps take --confidence")
    if out.suffix.lower() in (".tif", ".tiff", ".csv", ".npz") and not out.is_dir():
        raise CropEdgeError(f"--out {out}: many stacks are written into a folder, one map each; give a folder")
    spec = None
    if fields is not None:
        from cropedge.maps.fields import FieldsSpec

        spec = FieldsSpec(str(fields), field_id, field_label)
    settings = Settings(bundle=str(bundle), out_dir=str(out), batch_size=batch, num_threads=threads,
                        confidence=confidence, season_offset=offset, bands=tuple(bands) if bands else None,
                        dates=tuple(dates) if dates else None, mask=str(mask) if mask else None)
    report = produce(list(inputs), settings, workers=workers, scheduler=scheduler, shard=parse_shard(shard),
                     fields=spec, overwrite=overwrite, progress=None if quiet or as_json else print_progress)
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    elif not quiet:
        click.echo(format_table(report["rows"]))
        t = report["totals"]
        where = ", ".join(report.get("mosaics", []) + ([report["fields"]["output"]] if report.get("fields") else []))
        click.echo(f"{t['finished']} of {t['stacks']} stacks, {t['pixels']:,} pixels ({report['engine']})"
                   + (f"; {where}" if where else ""))
    if report["totals"]["failed"]:
        click.get_current_context().exit(FAILED_EXIT)  # the others finished; the rows say what failed


COMMANDS = [predict_cmd]
