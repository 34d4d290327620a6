"""One entry point for every data file: pick the reader by suffix, or read a folder of files.

``FORMATS`` is the table of supported formats (suffixes, reader, the options it takes);
it drives the dispatch, the error for a wrong option and the CLI help.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from cropedge.data.cropglobe import read_npz
from cropedge.data.csv_table import read_csv
from cropedge.data.dataset import Dataset, join
from cropedge.data.hdf5 import read_hdf5
from cropedge.data.output import check_complete
from cropedge.data.worldcereal import read_parquet
from cropedge.errors import CropEdgeError


@dataclass(frozen=True)
class Format:
    """A supported input: its file suffixes, reader and the reader's options."""

    name: str
    suffixes: tuple[str, ...]
    reader: Callable[..., Dataset]
    options: tuple[str, ...]
    description: str


_TABLE_OPTIONS = ("bands", "label_col", "id_col", "region_col", "classes", "nodata", "year")
FORMATS: tuple[Format, ...] = (
    Format("cropglobe", (".npz",), read_npz, ("classes", "nodata"), "CropGlobe arrays fea [N, bands, time], lbl [N]"),
    Format("hdf5", (".h5", ".hdf5"), read_hdf5, ("classes", "nodata"), "the CropGlobe arrays in an HDF5 file"),
    Format(
        "csv", (".csv", ".tsv"), read_csv, ("layout", *_TABLE_OPTIONS, "encoding", "no_header"),
        "one row per sample (band- or time-major, bare numbered, with or without a header) or per sample and date",
    ),
    Format(
        "parquet", (".parquet", ".geoparquet"), read_parquet, ("legend", "legend_file", *_TABLE_OPTIONS),
        "WorldCereal extractions, wide or long tables",
    ),
)  # fmt: skip
OPTIONS = tuple(dict.fromkeys(o for f in FORMATS for o in f.options))


def format_of(path: Path) -> Format:
    """The format of a data file, by suffix (case-insensitive)."""
    suffix = path.suffix.lower()
    for fmt in FORMATS:
        if suffix in fmt.suffixes:
            return fmt
    known = ", ".join(s for f in FORMATS for s in f.suffixes)
    raise CropEdgeError(f"{path}: unknown data format '{suffix or 'no suffix'}'; supported: {known}")


def load_dataset(path: str | Path, *, groups: Mapping[str, Sequence[str]] | None = None, **options: Any) -> Dataset:
    """Read a data file or a folder of them onto the 73-step year grid, gaps filled, empties dropped.

    Args:
        path: A ``.npz`` (CropGlobe), ``.h5``/``.hdf5``, ``.csv``/``.tsv`` or
            ``.parquet``/``.geoparquet`` file, or a folder of such files (e.g. one CropGlobe
            ``.npz`` per country; the region is then the file name unless the file says).
        groups: Merge regions under new names, e.g. ``{"south": ["30TYP", "30TYT"]}``.
        **options: Reader options (see ``FORMATS``): layout, bands, label_col, id_col,
            region_col, classes, nodata, year, encoding, no_header, legend, legend_file.
            None (or False) means default.

    Raises:
        CropEdgeError: The path is missing or unreadable, or its content is not usable.
    """
    options = _given(options)
    path = Path(path)
    if not path.exists():
        raise CropEdgeError(f"{path}: no such file or folder; check the path")
    ds = _read_folder(path, _data_files(path), options) if path.is_dir() else _read_file(path, options)
    return group_regions(ds, groups) if groups else ds


def load_regions(path: str | Path, regions: Sequence[str], **options: Any) -> Dataset:
    """``load_dataset`` restricted to ``regions`` (CropEdgeError names any region not in the data).

    In a folder, only the files named after the regions are read when they hold them all.
    """
    path, groups = Path(path), options.pop("groups", None)
    if path.is_dir() and not groups:
        files = [f for f in _data_files(path) if f.stem in regions]
        if {f.stem for f in files} == set(regions):
            ds = _read_folder(path, files, _given(options))
            if set(regions) <= set(ds.regions()):
                return ds.select_regions(list(regions))
    return load_dataset(path, groups=groups, **options).select_regions(list(regions))


def group_regions(ds: Dataset, groups: Mapping[str, Sequence[str]]) -> Dataset:
    """Rename regions to their group (``{"south": ["30TYP", "30TYT"]}``); others keep their name."""
    lookup: dict[str, str] = {}
    for name, members in groups.items():
        for member in members:
            if lookup.setdefault(member, name) != name:
                raise CropEdgeError(f"region {member} is in two groups ({lookup[member]}, {name}); put it in one")
    missing = sorted(set(lookup) - set(ds.regions()))
    if missing:
        raise CropEdgeError(
            f"region(s) {', '.join(missing)} to group are not in the data (it has: {', '.join(ds.regions())})"
        )
    assert ds.region is not None, "set by Dataset.__post_init__"
    return replace(ds, region=np.array([lookup.get(r, r) for r in ds.region.tolist()]))


def parse_groups(specs: Sequence[str]) -> dict[str, list[str]]:
    """``["south=30TYP+30TYT", "north=30UYU,30UYV"]`` -> ``{"south": [...], "north": [...]}``."""
    groups: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, members = spec.partition("=")
        names = [m.strip() for m in members.replace(",", "+").split("+") if m.strip()]
        if not sep or not name.strip() or not names:
            raise CropEdgeError(f"group '{spec}' is not NAME=REGION+REGION (e.g. south=30TYP+30TYT)")
        groups.setdefault(name.strip(), []).extend(names)
    return groups


def _given(options: Mapping[str, Any]) -> dict[str, Any]:
    """The reader options that are set (None = the reader's default); an unknown name is a bug."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise TypeError(f"unknown data option(s): {', '.join(unknown)}")
    return {k: v for k, v in options.items() if v is not None and v is not False}


def _read_file(path: Path, options: Mapping[str, Any]) -> Dataset:
    fmt = format_of(path)
    wrong = [o for o in options if o not in fmt.options]
    if wrong:
        flags = ", ".join("--" + o.replace("_", "-") for o in wrong)
        them = "them" if len(wrong) > 1 else "it"
        raise CropEdgeError(f"{path}: {flags} not used by {fmt.name} files; leave {them} out")
    if path.stat().st_size == 0:
        raise CropEdgeError(f"{path}: the file is empty; check that it was written completely")
    return fmt.reader(path, **options)


def _data_files(folder: Path) -> list[Path]:
    check_complete(folder)
    suffixes = {s for f in FORMATS for s in f.suffixes}
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in suffixes
    )  # hidden files: unfinished atomic writes
    if not files:
        raise CropEdgeError(f"{folder}: no data files ({', '.join(sorted(suffixes))}) in this folder")
    return files


def _read_folder(folder: Path, files: list[Path], options: Mapping[str, Any]) -> Dataset:
    parts = [_read_file(f, options) for f in files]
    return replace(join(parts), source=str(folder))
