"""The last step of every reader: no-data, dates, labels and gaps made uniform.

No-data to NaN, dates onto the year grid, labels to class indices, gaps filled.
Readers only find the arrays; the rules live here once.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

import numpy as np

from cropedge.data.dataset import Dataset
from cropedge.data.grid import YEAR_DOY, YEAR_STEPS, doy_of_dates, resample_to_year_grid, season_mask
from cropedge.errors import CropEdgeError

# uint16 reflectance stores "no data" as its largest value (WorldCereal, many exports);
# no reflectance reaches it, so it is always treated as missing
ALWAYS_NODATA = 65535.0
_MISSING_LABELS = {"", "nan", "na", "n/a", "none", "null"}
FRACTION_MAX = 2.0  # no real pixel stays this dark in DN; fractions (0..1) always do


def import_optional(module: str, what: str) -> ModuleType:
    """Import a reader's library (h5py, pyarrow) when a file needs it, with an install hint if absent."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module.split(".")[0]:
            raise
        raise CropEdgeError(f"reading {what} needs {module.split('.')[0]}: pip install 'cropedge[data]'") from exc


def describe_error(exc: BaseException) -> str:
    """A library exception as a short clause for a one-line message (cut at a word)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 100 else text[:100].rsplit(" ", 1)[0] + " ..."


def mask_nodata(x: np.ndarray, nodata: Sequence[float] = ()) -> np.ndarray:
    """Float32 copy of ``x`` with inf, 65535 and each ``nodata`` value set to NaN."""
    x = np.array(x, dtype=np.float32, copy=True)
    bad = ~np.isfinite(x) | (x == ALWAYS_NODATA)
    for value in nodata:
        bad |= x == np.float32(value)
    x[bad] = np.nan
    return x


def encode_labels(
    values: Sequence | np.ndarray, classes: Sequence[str] | None = None, what: str = "data"
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels -> (class index per sample, class names); empty labels become -1 (unlabelled).

    With ``classes`` a label may be a class name or its index. Without, the classes are
    the distinct labels: numbers in numeric order, names in alphabetical order.
    """
    text = np.array([label_text(v) for v in values], dtype=object)
    present = text != ""
    y = np.full(len(text), -1, dtype=np.int64)
    if classes is None:
        distinct = sorted(set(text[present].tolist()), key=_numeric_first)
        classes = tuple(distinct)
    classes = tuple(str(c) for c in classes)
    # names win over indices when a class is itself named by a number
    lookup = {str(i): i for i in range(len(classes))} | {c: i for i, c in enumerate(classes)}
    unknown = sorted({t for t in text[present].tolist() if t not in lookup})
    if unknown:
        raise CropEdgeError(
            f"{what}: label(s) {', '.join(unknown[:5])} are not among the {len(classes)} classes "
            f"({', '.join(classes[:8])}{', ...' if len(classes) > 8 else ''}); give the class names with --classes"
        )
    y[present] = [lookup[t] for t in text[present]]
    return y, classes


def label_text(value: object) -> str:
    """A label as text: integral numbers without ``.0``, missing ones (NaN, "NA", "") as ""."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return ""
        if float(value).is_integer():
            return str(int(value))
    text = str(value).strip()
    if text.lower() in _MISSING_LABELS:
        return ""
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _numeric_first(text: str) -> tuple[int, float, str]:
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def pivot_long(
    sample: np.ndarray,
    dates: np.ndarray,
    values: np.ndarray,
    row_year: np.ndarray | None = None,
    year: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Long-table rows -> series, samples in file order.

    Returns ([N, bands, D] on the distinct days of one season, [D] day-of-year,
    index of each sample's first row).

    Args:
        sample: [R] sample id of each row.
        dates: [R] datetime64 of each row.
        values: [R, bands] band values of each row.
        row_year: [R] calendar year of each row's sample (e.g. the year of its label), or None.
        year: The calendar year to keep when ``row_year`` is None (default: the commonest).
    """
    _, first, inverse = np.unique(sample, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    keep = _season_rows(dates, row_year, year)
    days, slot = np.unique(doy_of_dates(dates[keep]), return_inverse=True)
    x = np.full((order.size, values.shape[1], days.size), np.nan, dtype=np.float32)
    x[rank[inverse][keep], :, slot] = values[keep]
    return x, days, first[order]


def _season_rows(dates: np.ndarray, row_year: np.ndarray | None, year: int | None) -> np.ndarray:
    """Rows in their sample's season: the sample's year, else ``year`` / the commonest year."""
    if row_year is None:
        return season_mask(dates, year)
    keep = np.zeros(dates.shape, dtype=bool)
    for value in np.unique(row_year[np.isfinite(row_year)]):
        rows = row_year == value
        keep[rows] = season_mask(dates[rows], int(value))
    return keep


def to_year_dataset(
    x: np.ndarray,
    labels: Sequence | np.ndarray | None,
    doy: np.ndarray,
    *,
    bands: Sequence[str],
    region: Sequence[str] | np.ndarray,
    ids: Sequence[str] | np.ndarray | None,
    source: str,
    classes: Sequence[str] | None = None,
    nodata: Sequence[float] = (),
    ignored: int = 0,
    notes: Sequence[str] = (),
) -> Dataset:
    """[N, bands, T] raw values at day-of-year ``doy`` -> a clean Dataset on the 73-step year grid.

    Raises CropEdgeError when there is no sample, or none with valid values.
    """
    if len(x) == 0:
        raise CropEdgeError(f"{source}: no samples in the file; check that it holds data rows")
    x = mask_nodata(x, nodata)
    doy = np.asarray(doy, dtype=np.float64)
    observed = np.isfinite(x).any(axis=(0, 1))
    if observed.shape != doy.shape:
        raise CropEdgeError(f"{source}: {x.shape[-1]} time steps but {doy.size} dates")
    observed_doy = doy[observed & np.isfinite(doy)]
    notes = list(notes)
    if np.nanmax(np.abs(x), initial=0.0) <= FRACTION_MAX:
        notes.append(f"all values <= {FRACTION_MAX:g}: reflectance fractions? cropedge expects DN (x 10 000)")
    if not (doy.size == YEAR_STEPS and np.array_equal(doy, YEAR_DOY)):
        try:
            x = resample_to_year_grid(x, doy)
        except CropEdgeError as exc:  # say which file
            raise CropEdgeError(f"{source}: {exc}") from None
        notes.append(f"resampled {doy.size} dates onto the {YEAR_STEPS}-step 5-day year grid")
    if labels is None:
        y, classes = np.full(len(x), -1, dtype=np.int64), tuple(classes or ())
    else:
        y, classes = encode_labels(labels, classes, source)
    ds = Dataset(
        x=x, y=y, classes=classes, bands=tuple(bands), region=np.asarray(region),
        ids=None if ids is None else np.asarray(ids), source=source,
        ignored=ignored, notes=tuple(notes), observed_doy=observed_doy,
    ).clean()  # fmt: skip
    if len(ds) == 0:
        raise CropEdgeError(
            f"{source}: none of the {ds.dropped} samples has valid values (all NaN, inf or no-data); "
            "check the file and --nodata"
        )
    return ds
