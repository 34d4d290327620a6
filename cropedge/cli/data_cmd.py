"""``cropedge data``: make synthetic data, describe a data file, import any format to CropGlobe .npz."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cropedge.cli.options import POSITIVE_INT, emit, json_option, quiet_option
from cropedge.data.columns import LAYOUTS

_READER_OPTIONS = [
    click.option(
        "--layout", type=click.Choice(LAYOUTS),
        help="CSV column order; needed for bare numbered columns (f0, f1, ...).",
    ),
    click.option(
        "--bands",
        help="Bands to keep or, for numbered columns, their order, e.g. B2,B3,B4,B8 "
        "[default: the Sentinel-2 bands present].",
    ),
    click.option(
        "--label-col", help="Label column, by name or position [default: label, class, crop, ... or ewoc_code]."
    ),
    click.option("--id-col", help="Sample id column, by name or position [default: id, sample_id, ...]."),
    click.option(
        "--region-col",
        help="Region column, by name or position [default: region, country, tile; else the file name].",
    ),
    click.option("--classes", help="Names of numeric labels 0,1,2,... in order, comma-separated."),
    click.option(
        "--legend", help="Legend in class_mappings.json for WorldCereal ewoc_code labels [default: CROPTYPE24]."
    ),
    click.option(
        "--legend-file", type=click.Path(dir_okay=False, path_type=Path),
        help="WorldCereal class_mappings.json [default: beside the data file].",
    ),
    click.option(
        "--nodata", type=float, multiple=True,
        help="A value meaning 'no observation', e.g. 0 (repeatable); 65535, NaN and inf always are.",
    ),
    click.option(
        "--year", type=int,
        help="Calendar year to keep when a series spans more than a year "
        "[default: the labels' year, else the year with the most dates].",
    ),
    click.option(
        "--group", "groups", multiple=True, metavar="NAME=R1+R2",
        help="Merge regions under one name, e.g. south=30TYP+30TYT (repeatable).",
    ),
]  # fmt: skip


def _reader_options(command: Callable) -> Callable:
    """The options of every reader (each format uses those that apply to it)."""
    for option in reversed(_READER_OPTIONS):
        command = option(command)
    return command


def _load_options(opts: dict[str, Any]) -> dict[str, Any]:
    """CLI values -> ``load_dataset`` keywords (unset options keep the reader's default)."""
    from cropedge.data import parse_groups

    out = {k: v for k, v in opts.items() if v not in (None, ())}
    if "classes" in out:
        out["classes"] = [c.strip() for c in out["classes"].split(",") if c.strip()]
    if "groups" in out:
        out["groups"] = parse_groups(out["groups"])
    return out


@click.group("data")
def data() -> None:
    """Make, describe and import pixel time-series data."""


@data.command("synth")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the .npz files (one per region).",
)  # fmt: skip
@click.option("--samples-per-class", type=POSITIVE_INT, help="Samples of each class in each region.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed; the same seed gives the same files.")
@json_option
@quiet_option
def synth(out_dir: Path, samples_per_class: int | None, seed: int, as_json: bool, quiet: bool) -> None:
    """Write the synthetic CropGlobe-like regions (ARG AUS BEL CHN FRA GBR NLD USA) as .npz files."""
    from cropedge.data.synthetic import synthesize

    kwargs = {} if samples_per_class is None else {"samples_per_class": samples_per_class}
    paths = [Path(p) for p in synthesize(out_dir, seed=seed, **kwargs)]
    text = f"wrote {len(paths)} files to {out_dir}: {' '.join(p.name for p in paths)}"
    emit({"files": [str(p) for p in paths]}, as_json, quiet, text)


@data.command("info")
@click.argument("path", type=click.Path(path_type=Path))
@_reader_options
@json_option
def info(path: Path, as_json: bool, **opts: Any) -> None:
    """Describe a data file or folder: samples, classes, bands, time steps, regions, values filled."""
    from cropedge.data import format_summary, load_dataset, summarize

    summary = summarize(load_dataset(path, **_load_options(opts)))
    emit(summary, as_json, False, format_summary(summary))


@data.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--out", "out_dir", required=True, type=click.Path(path_type=Path),
    help="Folder for the .npz files (one per region).",
)  # fmt: skip
@_reader_options
@json_option
@quiet_option
def import_(file: Path, out_dir: Path, as_json: bool, quiet: bool, **opts: Any) -> None:
    """Convert a data file (.npz, .h5, .csv, .parquet) to CropGlobe .npz, one file per region."""
    from cropedge.data import format_summary, import_file, summarize

    ds, paths = import_file(file, out_dir, **_load_options(opts))
    summary = summarize(ds)
    written = "\n".join(f"wrote {p} ({n} samples)" for p, n in zip(paths, summary["regions"].values(), strict=False))
    emit({**summary, "files": [str(p) for p in paths]}, as_json, quiet, f"{format_summary(summary)}\n{written}")


COMMANDS = [data]
