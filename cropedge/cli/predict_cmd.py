"""``cropedge predict``: classify a pixel table or a GeoTIFF stack with an exported bundle."""

from __future__ import annotations

from pathlib import Path

import click

from cropedge.cli.options import POSITIVE_INT, quiet_option


def _names(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@click.command("predict")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output: .csv or .npz for tables, .tif for a GeoTIFF stack.")
@click.option("--batch", default=1024, show_default=True, type=POSITIVE_INT, help="Pixels per interpreter call.")
@click.option("--threads", default=None, type=POSITIVE_INT, help="Interpreter threads [default: the runtime's].")
@click.option("--probabilities", is_flag=True, help="Tables: add every class probability (p_<class>).")
@click.option("--confidence", is_flag=True,
              help="GeoTIFF: add a uint8 confidence band (probability x 254; 255 = nodata).")
@click.option("--season-offset", type=float, default=None, metavar="DAYS",
              help="Move the input season earlier by DAYS before cutting the window [default: the bundle's].")
@click.option("--bands", default=None, metavar="B2,B3,...",
              help="GeoTIFF: band names of the stack, with --dates (raster bands date-major).")
@click.option("--dates", default=None, metavar="2023-04-01,...",
              help="GeoTIFF: dates of the stack [default: both from band descriptions like B2_2023-04-01].")
@quiet_option
def predict_cmd(
    bundle: Path,
    input_path: Path,
    out: Path,
    batch: int,
    threads: int | None,
    probabilities: bool,
    confidence: bool,
    season_offset: float | None,
    bands: str | None,
    dates: str | None,
    quiet: bool,
) -> None:
    """Classify INPUT with BUNDLE (a bundle folder or .tflite from 'cropedge export').

    INPUT is a pixel table (.npz, .h5, .csv, .parquet, or a folder of .npz) or a GeoTIFF
    stack (every band of every date as a raster band). Needs only numpy and LiteRT.
    """
    from cropedge.device.predict import predict_file

    summary = predict_file(
        bundle, input_path, out, batch_size=batch, num_threads=threads, probabilities=probabilities,
        confidence=confidence, season_offset_days=season_offset, bands=_names(bands), dates=_names(dates),
        progress=not quiet,
    )
    if quiet:
        return
    runtime = summary["runtime"]
    line = (
        f"{summary['pixels']} pixels -> {summary['output']} with {summary['model']} "
        f"({runtime['runtime']} {runtime['version']}, {summary['pixels_per_second']:.0f} px/s)"
    )
    if summary.get("nodata"):
        line += f", {summary['nodata']} nodata"
    if summary.get("labelled_accuracy") is not None:
        line += f", accuracy on the input's labels {summary['labelled_accuracy']:.3f}"
    click.echo(line)


COMMANDS = [predict_cmd]
