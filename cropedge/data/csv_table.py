"""CSV tables of pixel time series: one row per sample (wide) or per sample and date (long).

Dataset format:
    * band-major: ``B2_t0, B2_t1, ..., B2_t72, B3_t0, ...`` (all dates of a band together);
    * time-major: ``date1.B2, date1.B3, ..., date1.B12, date2.B2, ...`` (all bands of a date);
    * columns may name dates (``B02_2023-04-01``) or days of year (``B2_doy121``) instead of
      step numbers, or be bare numbers (``f0..f729``) read with a given layout and band list;
    * long: a sample id column, a ``date`` column and one column per band (``B02``, ...);
    * a label column (``label``, ``class``, ``crop``, ... or ``--label-col``), optional id
      and region columns; without a region column the region is the file name.

Column names are read by ``cropedge.data.columns``; the layout is found from the header.
Empty cells and ``NA``/``nan``/``null`` are missing observations, filled like any gap.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Sequence
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cropedge.data.build import as_float32, describe_error, pivot_long, to_year_dataset
from cropedge.data.columns import (
    MIN_BARE_COLUMNS,
    find_band_columns,
    find_column,
    find_feature_columns,
    is_long_table,
    parse_dates,
)
from cropedge.data.dataset import Dataset
from cropedge.errors import CropEdgeError

if TYPE_CHECKING:
    from _csv import Reader  # csv.reader's type (_csv.reader at run time, not importable under this name)

_DELIMITERS = ",;\t|"
_MISSING = ("", "na", "n/a", "nan", "null", "none", "-")
_CHUNK_ROWS = 2048  # rows parsed at once: bounds the memory of the string block
_ROLES = ("label", "id", "region")
_TEXT_LEADS = 3  # text fields a data row without header may start with (label, id, region)


def read_csv(
    path: str | Path,
    *,
    layout: str | None = None,
    bands: str | Sequence[str] | None = None,
    label_col: str | int | None = None,
    id_col: str | int | None = None,
    region_col: str | int | None = None,
    classes: Sequence[str] | None = None,
    nodata: Sequence[float] = (),
    year: int | None = None,
    encoding: str | None = None,
    no_header: bool = False,
) -> Dataset:
    """Read a CSV table of pixel time series onto the year grid, gaps filled.

    Args:
        path: The ``.csv`` (or ``.tsv``) file; the delimiter is found from the first line.
        layout: ``band-major`` or ``time-major``: forces the layout (needed for bare numbered columns).
        bands: Bands to keep (named columns) or the bands of bare columns in order.
        label_col: Label column name or position; found by usual names when left out
            (column 0 in a file without a header row).
        id_col: Sample-id column name or position; found by usual names when left out.
        region_col: Region column name or position; found by usual names when left out.
        classes: Names of numeric labels 0..K-1 (default: the distinct labels are the classes).
        nodata: Extra values that mean "no observation" (e.g. 0); 65535, NaN and inf always do.
        year: Calendar year to keep when the dates span more than one year.
        encoding: The file's text encoding (default: UTF-8, or UTF-16/32 by byte-order mark).
        no_header: The first line is data, not column names (found by itself when the first
            line is numbers); columns are then named by position, 0, 1, 2, ...
    """
    path = Path(path)
    codec = _codec(path, encoding)
    try:
        with open(path, newline="", encoding=codec) as fh:
            first = fh.readline()
            if not first.strip():
                raise CropEdgeError(f"{path}: the file is empty; a CSV needs a header row and one row per sample")
            delimiter = max(_DELIMITERS, key=first.count)
            fh.seek(0)
            reader = csv.reader(fh, delimiter=delimiter)
            header = [h.strip() for h in next(reader)]
            notes = []
            if no_header or _is_data_row(header):
                fh.seek(0)
                reader = csv.reader(fh, delimiter=delimiter)
                header = [str(i) for i in range(len(header))]
                label_col = "0" if label_col is None else label_col
                notes.append(f"no header row: columns named by position, label column {label_col}")
            wanted = dict(zip(_ROLES, (label_col, id_col, region_col), strict=False))
            roles = {role: find_column(header, wanted[role], role, str(path)) for role in _ROLES}
            others = [i for i in roles.values() if i is not None]
            if is_long_table(header, others):
                table = _read_long(path, reader, header, roles, bands, layout, year)
            else:
                table = _read_wide(path, reader, header, others, bands, layout, year)
    except UnicodeDecodeError as exc:
        raise CropEdgeError(_not_text(path, codec, exc)) from None
    except (OSError, csv.Error) as exc:
        raise CropEdgeError(f"{path}: not a readable CSV text file ({describe_error(exc)}); check the file") from exc
    x, doy, band_names, meta, table_notes = table
    column = {role: meta[:, others.index(i)] for role, i in roles.items() if i is not None}
    return to_year_dataset(
        x,
        column.get("label"),
        doy,
        bands=band_names,
        region=column["region"] if "region" in column else [path.stem] * len(x),
        ids=column.get("id"),
        source=str(path),
        classes=classes,
        nodata=nodata,
        notes=notes + table_notes,
    )


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)  # fmt: skip


def _codec(path: Path, encoding: str | None) -> str:
    """The text encoding to read ``path`` with: ``encoding``, else found by byte-order mark, else UTF-8."""
    if encoding is not None:
        try:
            name = codecs.lookup(encoding).name
        except LookupError:
            raise CropEdgeError(f"--encoding {encoding}: unknown text encoding (e.g. utf-8, latin-1, cp1252)") from None
        return "utf-8-sig" if name == "utf-8" else name
    try:
        with open(path, "rb") as fh:
            start = fh.read(4)
    except OSError as exc:
        raise CropEdgeError(f"{path}: not a readable CSV text file ({describe_error(exc)}); check the file") from exc
    return next((codec for bom, codec in _BOMS if start.startswith(bom)), "utf-8-sig")


def _not_text(path: Path, codec: str, exc: UnicodeDecodeError) -> str:
    """The message for a file that is not text in ``codec``: which line, which byte, what to do."""
    where = " not"
    if not codec.startswith(("utf-16", "utf-32")):  # lines are bytes apart only in 8-bit encodings
        with open(path, "rb") as fh:
            for number, line in enumerate(fh, start=1):
                try:
                    line.decode(codec)
                except UnicodeDecodeError as bad:
                    where = f" line {number} (byte 0x{line[bad.start]:02X}) is not"
                    break
    return (
        f"{path}:{where} {codec.removesuffix('-sig').upper()} text ({exc.reason}); save the file as UTF-8, "
        "or give its encoding with --encoding (e.g. latin-1, cp1252)"
    )


def _is_data_row(cells: list[str]) -> bool:
    """Whether a first line holds data rather than column names.

    Numbers after at most a few leading fields (label, id), and not a running count
    (a header of bare numbers ``0, 1, 2, ...`` names columns).
    """
    lead = 0
    while lead < min(_TEXT_LEADS, len(cells)) and not _is_number(cells[lead]):
        lead += 1
    numbers = [c for c in cells[lead:] if c.strip()]
    if len(numbers) < MIN_BARE_COLUMNS or not all(_is_number(c) for c in numbers):
        return False
    values = np.array([float(c) for c in numbers])
    running = np.isfinite(values).all() and bool((np.diff(values) == 1).all()) and values[0] == int(values[0])
    return not running


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_Bands = str | Sequence[str] | None
_Table = tuple[np.ndarray, np.ndarray, tuple[str, ...], np.ndarray, list[str]]


def _read_wide(
    path: Path, reader: Reader, header: list[str], others: list[int], bands: _Bands,
    layout: str | None, year: int | None,
) -> _Table:  # fmt: skip
    """One row per sample -> (x [N, bands, T], doy, bands, [N, others] strings, notes)."""
    features = find_feature_columns(header, layout, bands, year, exclude=others, what=str(path))
    x, meta = _read_rows(path, reader, header, features.columns, others)
    return x, features.doy, features.bands, meta, [f"read {features.layout} columns: {features.note}"]


def _read_long(
    path: Path, reader: Reader, header: list[str], roles: dict[str, int | None], bands: _Bands,
    layout: str | None, year: int | None,
) -> _Table:  # fmt: skip
    """One row per sample and date -> (x [N, bands, D], doy, bands, [N, others] strings, notes)."""
    if layout is not None:
        raise CropEdgeError(f"{path}: a long table (one row per sample and date) has no --layout; leave it out")
    if roles["id"] is None:
        raise CropEdgeError(f"{path}: long table without a sample id column (id, sample_id, ...); give --id-col")
    band_names, band_pos = find_band_columns(header, bands, str(path))
    time = find_column(header, None, "time")
    assert time is not None, "is_long_table found the time column"
    others = [i for i in roles.values() if i is not None]
    values, meta = _read_rows(path, reader, header, np.array(band_pos), [*others, time])
    dates = parse_dates(meta[:, -1], f"{path}: column {header[time]}")
    x, days, first = pivot_long(meta[:, others.index(roles["id"])], dates, values, year=year)
    note = f"long table: {days.size} dates of one season, day {days[0]:.0f}..{days[-1]:.0f}"
    return x, days, band_names, meta[first, :-1], [note]  # fmt: skip


def _read_rows(
    path: Path, reader: Reader, header: list[str], columns: np.ndarray, others: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """All data rows -> (float32 values at ``columns`` [N, *columns.shape], [N, len(others)] strings)."""
    blocks, rows, lines = [], [], []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue  # blank line
        if len(row) != len(header):
            raise CropEdgeError(
                f"{path}: line {reader.line_num} has {len(row)} fields but the header has {len(header)}; fix that row"
            )
        rows.append(row)
        lines.append(reader.line_num)
        if len(rows) == _CHUNK_ROWS:
            blocks.append(_parse_block(path, header, rows, lines, columns, others))
            rows, lines = [], []
    if rows:
        blocks.append(_parse_block(path, header, rows, lines, columns, others))
    if not blocks:
        raise CropEdgeError(f"{path}: no data rows under the header; a CSV needs one row per sample")
    return np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])


def _parse_block(
    path: Path, header: list[str], rows: list[list[str]], lines: list[int], columns: np.ndarray, others: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of strings -> (float32 values at ``columns`` [n, *columns.shape], [n, len(others)] strings)."""
    flat = [int(c) for c in columns.ravel()]
    pick = itemgetter(*flat) if len(flat) > 1 else lambda row: (row[flat[0]],)
    try:  # plain numbers: Python's float() is the fast path (numpy's str -> float is slower)
        values = np.array([list(map(float, pick(row))) for row in rows], dtype=np.float64)
    except ValueError:  # empty / NA cells, or text
        values = np.array(
            [[_number(row[c], path, lines[r], header[c]) for c in flat] for r, row in enumerate(rows)], dtype=np.float64
        )
    values = as_float32(values)  # float64 first: 1e40 is out of float32's range, a missing value
    meta = np.array([[row[i].strip() for i in others] for row in rows], dtype=object).reshape(len(rows), len(others))
    return values.reshape(len(rows), *columns.shape), meta


def _number(text: str, path: Path, line: int, column: str) -> float:
    """One cell as a number; empty / NA is NaN (a missing observation)."""
    text = text.strip()
    if text.lower() in _MISSING:
        return np.nan
    try:
        return float(text)
    except ValueError:
        raise CropEdgeError(
            f"{path}: line {line}, column {column}: '{text[:20]}' is not a number; "
            "band columns hold reflectance values (leave missing ones empty)"
        ) from None
