"""``cropedge data``: make synthetic data, describe a data file, import any format to CropGlobe .npz."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cropedge.cli.options import (
    POSITIVE_INT,
    OrderedGroup,
    Seed,
    console_options,
    emit,
    json_option,
    option,
    out_option,
    reader_kwargs,
    reader_options,
)


def _synth_default(name: str) -> Any:
    """``synthesize``'s default of ``name``."""
    import inspect

    from cropedge.data.synthetic import synthesize

    return inspect.signature(synthesize).parameters[name].default


@click.group("data", cls=OrderedGroup)
def data() -> None:
    """Make, describe and import pixel time-series data."""


@data.command("synth", short_help="Write synthetic CropGlobe-like regions as .npz files.")
@out_option("Folder for the .npz files (one per region).", name="out_dir", required=True,
            type=click.Path(file_okay=False, path_type=Path))
@option("--samples-per-class", type=POSITIVE_INT, default=lambda: _synth_default("samples_per_class"),
        help="Samples of each class in each region.")
@option("--seed", type=Seed(), default=lambda: _synth_default("seed"),
        help="Random seed; the same seed, the same files.")
@json_option
@console_options
def synth(out_dir: Path, samples_per_class: int, seed: int, as_json: bool, quiet: bool) -> None:
    """Write the synthetic CropGlobe-like regions (ARG AUS BEL CHN FRA GBR NLD USA) as .npz files."""
    from cropedge.atomic import check_output
    from cropedge.data.synthetic import synthesize

    check_output(out_dir, kind="folder")
    paths = [Path(p) for p in synthesize(out_dir, samples_per_class=samples_per_class, seed=seed)]
    text = f"wrote {len(paths)} files to {out_dir}: {' '.join(p.name for p in paths)}"
    emit({"files": [str(p) for p in paths]}, as_json, quiet, text)


@data.command("info", short_help="Describe a data file or folder: samples, classes, bands.")
@click.argument("path", type=click.Path(path_type=Path))
@reader_options()
@json_option
@console_options
def info(path: Path, as_json: bool, quiet: bool, **opts: Any) -> None:
    """Describe a data file or folder: samples, classes, bands, time steps, regions, values filled.

    With --quiet it prints nothing: the exit status says whether the file reads.
    """
    from cropedge.data import format_summary, load_dataset, summarize

    summary = summarize(load_dataset(path, **reader_kwargs(opts)))
    emit(summary, as_json, quiet, format_summary(summary))


@data.command("import", short_help="Convert .npz/.h5/.csv/.parquet data to CropGlobe .npz.")
@click.argument("file", type=click.Path(path_type=Path))
@out_option("Folder for the .npz files (one per region).", name="out_dir", required=True,
            type=click.Path(path_type=Path))
@reader_options()
@json_option
@console_options
def import_(file: Path, out_dir: Path, as_json: bool, quiet: bool, **opts: Any) -> None:
    """Convert a data file (.npz, .h5, .csv, .parquet) to CropGlobe .npz, one file per region."""
    from cropedge.atomic import check_output
    from cropedge.data import format_summary, import_file, summarize

    check_output(out_dir, inputs=[file], kind="folder")
    ds, paths = import_file(file, out_dir, **reader_kwargs(opts))
    summary = summarize(ds)
    written = "\n".join(f"wrote {p} ({n} samples)" for p, n in zip(paths, summary["regions"].values(), strict=False))
    emit({**summary, "files": [str(p) for p in paths]}, as_json, quiet, f"{format_summary(summary)}\n{written}")


COMMANDS = [data]
