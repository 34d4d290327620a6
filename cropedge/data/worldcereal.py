"""WorldCereal public extractions (GeoParquet / Parquet), wide and long tables.

Dataset format:
    * long: one row per sample and date: ``sample_id``, ``timestamp``, band columns
      ``S2-L2A-B02`` .. ``S2-L2A-B12``, ``S2-L2A-B8A`` (uint16 reflectance x 10 000,
      65535 = no data), ``tile``, ``year``, ``ewoc_code``; dekads or months over up to 17
      months (e.g. 2022-09 .. 2024-01).
    * wide: one row per sample, columns ``OPTICAL-B02-ts0-10m`` .. ``-ts11-``: monthly
      steps from each row's ``start_date`` to its ``end_date``.
    * labels: ``ewoc_code`` mapped to class names by a legend of ``class_mappings.json``
      (beside the file; default legend CROPTYPE24). Samples whose class is ``ignore``
      (or whose code is not in the legend) are left out and counted.
    * region: the Sentinel-2 tile (``tile``); group tiles with ``load_dataset(groups=...)``.

A long series longer than a year keeps one calendar year: the ``year`` column (the
labels' year), else the year with the most dates, so two years never share a grid step.
Parquet tables named like the CSV layouts (``B2_t0``, ...) read the same way.
pyarrow is imported only when a Parquet file is read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cropedge.data.build import (
    decode_text,
    describe_error,
    import_optional,
    label_text,
    mask_nodata,
    pivot_long,
    to_year_dataset,
)
from cropedge.data.columns import find_band_columns, find_column, find_feature_columns, is_long_table, parse_dates
from cropedge.data.dataset import Dataset
from cropedge.data.grid import YEAR_DOY, doy_of_dates, resample_to_year_grid
from cropedge.data.memory import READ_COPIES, check_fits
from cropedge.errors import CropEdgeError

LEGEND_FILE = "class_mappings.json"
DEFAULT_LEGEND = "CROPTYPE24"
IGNORE = "ignore"
CODE_COLUMN = "ewoc_code"


def read_parquet(
    path: str | Path,
    *,
    legend: str | None = None,
    legend_file: str | Path | None = None,
    bands: str | Sequence[str] | None = None,
    label_col: str | int | None = None,
    id_col: str | int | None = None,
    region_col: str | int | None = None,
    classes: Sequence[str] | None = None,
    nodata: Sequence[float] = (),
    year: int | None = None,
) -> Dataset:
    """Read a WorldCereal (or similarly named) Parquet table onto the year grid, gaps filled.

    Args:
        path: The ``.parquet`` / ``.geoparquet`` file.
        legend: Legend of ``class_mappings.json`` for ``ewoc_code`` labels (default CROPTYPE24).
        legend_file: The class mappings (default: ``class_mappings.json`` beside the file).
        bands: Bands to keep, in order (default: the Sentinel-2 bands present).
        label_col: Use this column's values as labels instead of ``ewoc_code``.
        id_col: Sample-id column name or position (default ``sample_id``).
        region_col: Region column name or position (default ``tile``).
        classes: Names of numeric labels 0..K-1 of ``label_col``.
        nodata: Extra values that mean "no observation"; 65535, NaN and inf always do.
        year: Calendar year to keep when a series spans more than one year.
    """
    table = _Table(Path(path))
    names, what = table.names, str(path)
    code = label_col is None and CODE_COLUMN in names
    roles = {
        "label": names.index(CODE_COLUMN) if code else find_column(names, label_col, "label", what),
        "id": find_column(names, id_col, "id", what),
        "region": find_column(names, region_col, "region", what),
    }
    others = [i for i in roles.values() if i is not None]
    if is_long_table(names, others):
        time = find_column(names, None, "time")
        assert time is not None, "is_long_table found the time column"
        x, doy, band_names, first_rows, notes = _read_long(table, time, roles["id"], others, bands, year)
    else:
        x, doy, band_names, notes = _read_wide(table, others, bands, year, nodata)
        first_rows = None
    meta = {role: None if i is None else table.strings(i, first_rows) for role, i in roles.items()}
    labels: np.ndarray | None
    if code:
        codes = meta["label"]
        assert codes is not None, "the ewoc_code column was read"
        labels, label_classes, keep, label_notes = _legend_labels(codes, legend, legend_file, table.path)
    elif legend is not None:
        raise CropEdgeError(f"{what}: --legend maps {CODE_COLUMN} labels; there are none here (or --label-col is set)")
    else:
        labels, label_classes, keep, label_notes = meta["label"], classes, np.ones(len(x), dtype=bool), []
    region = meta["region"] if meta["region"] is not None else np.full(len(x), table.path.stem)
    return to_year_dataset(
        x[keep], None if labels is None else labels[keep], doy, bands=band_names, region=region[keep],
        ids=None if meta["id"] is None else meta["id"][keep], source=what, classes=label_classes,
        nodata=nodata, ignored=int((~keep).sum()), notes=notes + label_notes,
    )  # fmt: skip


class _Table:
    """A Parquet file: its column names, then the columns a reader needs (``load``), as numpy."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pa = import_optional("pyarrow", "Parquet files")
        self._pq = import_optional("pyarrow.parquet", "Parquet files")
        self.names: list[str] = self._guard(lambda: self._pq.read_schema(path).names)
        self._table: Any = None

    def load(self, positions: Sequence[int | None]) -> None:
        """Read the columns at ``positions`` (None entries skipped) in one pass."""
        wanted = list(dict.fromkeys(self.names[i] for i in positions if i is not None))
        rows = self._guard(lambda: self._pq.read_metadata(self.path).num_rows)
        # 8 bytes a cell as numbers, and the float32 series and its copies (build.to_year_dataset)
        check_fits(rows * len(wanted) * (8 + 4 * READ_COPIES), f"{self.path} ({rows} rows x {len(wanted)} columns)",
                   "read a smaller file (split it by region or sample)")  # fmt: skip
        self._table = self._guard(lambda: self._pq.read_table(self.path, columns=wanted))

    def _guard(self, read: Any, column: str | None = None) -> Any:
        try:
            return read()
        except UnicodeDecodeError as exc:  # a string column (or a name) that is not UTF-8
            where = f"column {column}" if column else "a column name"
            raise CropEdgeError(
                f"{self.path}: {where} holds text that is not UTF-8 ({describe_error(exc)}); the file is damaged"
            ) from exc
        except (self._pa.ArrowException, OSError, ValueError) as exc:  # ValueError: e.g. undecodable names
            reason = describe_error(exc)
            where = f" (column {column})" if column else ""
            raise CropEdgeError(f"{self.path}: not a readable Parquet file{where} ({reason}); check the file") from exc

    def floats(self, i: int) -> np.ndarray:
        """A numeric column as float64, nulls as NaN."""
        pa, name = self._pa, self.names[i]
        column = self._table.column(name)
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
                or pa.types.is_decimal(column.type)):  # fmt: skip
            raise CropEdgeError(f"{self.path}: column {name} holds {column.type}, not numbers; check --bands")
        return self._guard(lambda: np.asarray(column.cast(pa.float64()).to_numpy(), dtype=np.float64), name)

    def strings(self, i: int, rows: np.ndarray | None = None) -> np.ndarray:
        """A column as text (nulls as ""), optionally only at ``rows``; text must be UTF-8."""
        name = self.names[i]
        column = self._guard(lambda: self._table.column(name).to_pylist(), name)
        text = decode_text(["" if v is None else v for v in column], f"{self.path}: column {name}")
        values = np.array(text, dtype=object)
        return values if rows is None else values[rows]

    def dates(self, i: int) -> np.ndarray:
        """A timestamp, date or ISO-text column as datetime64[D]."""
        pa, name = self._pa, self.names[i]
        column = self._table.column(name)
        if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
            return self._guard(lambda: column.to_numpy().astype("datetime64[D]"), name)
        return parse_dates(self.strings(i), f"{self.path}: column {name}")


def _read_long(
    table: _Table, time: int, ident: int | None, others: list[int], bands: str | Sequence[str] | None, year: int | None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], np.ndarray, list[str]]:
    """Rows (sample, date) -> series of one season.

    Returns ([N, bands, D] on the distinct days of one season, D day-of-year, bands,
    first row of each sample, notes). ``others``: label/id/region columns to read too.
    """
    if ident is None:
        raise CropEdgeError(f"{table.path}: long table without a sample id column (sample_id, id, ...); give --id-col")
    band_names, band_pos = find_band_columns(table.names, bands, str(table.path))
    year_col = table.names.index("year") if year is None and "year" in table.names else None
    table.load([*band_pos, time, *others, year_col])
    values = np.stack([table.floats(i) for i in band_pos], axis=1)
    row_year = table.floats(year_col) if year_col is not None else None
    dates = table.dates(time)
    x, days, first_rows = pivot_long(table.strings(ident), dates, values, row_year, year)
    if days.size == 0:
        raise CropEdgeError(f"{table.path}: no rows with a date in column {table.names[time]}; check the file")
    notes = [f"long table: {days.size} dates of one season, day {days[0]:.0f}..{days[-1]:.0f}"]
    if undated := int(np.isnat(dates).sum()):  # said, not dropped silently
        notes.append(f"{undated} row(s) without a date in column {table.names[time]} left out")
    return x, days, band_names, first_rows, notes


def _read_wide(
    table: _Table, others: list[int], bands: str | Sequence[str] | None, year: int | None, nodata: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], list[str]]:
    """One row per sample -> ([N, bands, T], T day-of-year, bands, notes).

    Numbered steps run from each row's ``start_date`` to its ``end_date`` when the table
    has both (WorldCereal).
    """
    features = find_feature_columns(table.names, None, bands, year, exclude=others, what=str(table.path))
    span = [table.names.index(n) if n in table.names else None for n in ("start_date", "end_date")]
    table.load([*features.columns.ravel(), *others, *span])
    x = np.stack([table.floats(i) for i in features.columns.ravel()], axis=1).reshape(-1, *features.columns.shape)
    start_col, end_col = span
    if start_col is None or end_col is None or features.dates is not None:
        return x, features.doy, features.bands, [f"wide table: {features.note}"]
    start, end = table.dates(start_col), table.dates(end_col)
    try:
        year_x, kind = _span_to_year_grid(x, start, end, nodata)
    except CropEdgeError as exc:  # say which file
        raise CropEdgeError(f"{table.path}: {exc}") from None
    return year_x, YEAR_DOY, features.bands, [f"wide table: {x.shape[2]} {kind} steps from start_date to end_date"]


def _span_to_year_grid(
    x: np.ndarray, start: np.ndarray, end: np.ndarray, nodata: Sequence[float] = ()
) -> tuple[np.ndarray, str]:
    """[N, bands, T] steps from each row's ``start`` to ``end`` -> ([N, bands, 73], "monthly"/"regular")."""
    x = mask_nodata(x, nodata)  # before resampling: a no-data value (the user's too) must not be interpolated
    out = np.empty(x.shape[:2] + (YEAR_DOY.size,), dtype=np.float32)
    kinds = set()
    spans, group = np.unique(np.char.add(start.astype(str), end.astype(str)), return_inverse=True)
    for g in range(spans.size):
        rows = group == g
        dates, kind = _step_dates(start[rows][0], end[rows][0], x.shape[2])
        doy = doy_of_dates(dates)
        out[rows] = resample_to_year_grid(x[rows], np.where(doy < doy[0], doy + 365, doy))
        kinds.add(kind)
    return out, "/".join(sorted(kinds))


def _step_dates(start: np.datetime64, end: np.datetime64, steps: int) -> tuple[np.ndarray, str]:
    """Dates of ``steps`` steps from ``start`` to ``end``, and which kind they are.

    Calendar months when they fit (WorldCereal's monthly composites, labelled by their
    first day), else evenly spaced days.
    """
    months = int((end.astype("datetime64[M]") - start.astype("datetime64[M]")).astype(int))
    if months == steps - 1:
        return (start.astype("datetime64[M]") + np.arange(steps)).astype("datetime64[D]"), "monthly"
    days = int((end - start).astype(int))
    return start + np.rint(np.arange(steps) * days / max(steps - 1, 1)).astype("timedelta64[D]"), "regular"


def _legend_labels(
    codes: np.ndarray, legend: str | None, legend_file: str | Path | None, path: Path
) -> tuple[np.ndarray, None, np.ndarray, list[str]]:
    """Ewoc codes -> (class names, None: the names are the classes, samples kept, notes)."""
    mapping, legend = load_legend(legend_file or path.parent / LEGEND_FILE, legend or DEFAULT_LEGEND)
    names = np.array([mapping.get(label_text(c), "") for c in codes], dtype=object)
    keep = (names != "") & (names != IGNORE)
    notes = [f"legend {legend}: {int((names == IGNORE).sum())} sample(s) labelled {IGNORE} left out"]
    unknown = int((names == "").sum())
    if unknown:
        notes.append(f"legend {legend}: {unknown} sample(s) with codes not in the legend left out")
    return names, None, keep, notes


def load_legend(path: str | Path, legend: str = DEFAULT_LEGEND) -> tuple[dict[str, str], str]:
    """``ewoc_code`` (as text) -> class name for one legend of a WorldCereal ``class_mappings.json``."""
    path = Path(path)
    try:
        legends = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CropEdgeError(
            f"{path} not found: {CODE_COLUMN} labels need the WorldCereal class mappings; put {LEGEND_FILE} "
            "beside the data, give --legend-file, or take labels from another column with --label-col"
        ) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CropEdgeError(f"{path}: not a readable class mappings file ({describe_error(exc)})") from exc
    if not isinstance(legends, dict) or legend not in legends or not isinstance(legends[legend], dict):
        known = ", ".join(legends) if isinstance(legends, dict) else "none"
        raise CropEdgeError(f"legend '{legend}' not in {path} (it has: {known}); choose one with --legend")
    return {str(k): str(v) for k, v in legends[legend].items()}, legend
