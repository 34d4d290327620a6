"""The last step of every reader: no-data, dates, labels and gaps made uniform.

No-data to NaN, dates onto the year grid, labels to class indices, gaps filled.
Readers only find the arrays; the rules live here once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from types import ModuleType

import numpy as np

from cropedge.data.dataset import Dataset
from cropedge.data.grid import S2_BANDS, YEAR_DOY, YEAR_STEPS, doy_of_dates, resample_to_year_grid, season_mask
from cropedge.errors import CropEdgeError

# uint16 reflectance stores "no data" as its largest value (WorldCereal, many exports);
# no reflectance reaches it, so it is always treated as missing
ALWAYS_NODATA = 65535.0
# no band value of any sensor comes near this (DN, dB, indices); float rasters and tables mark
# no data with float32's extreme -3.4e38, and overflowed cells (1e40, 1e300) would become inf:
# all of them are missing observations. Below it, arithmetic on two values cannot overflow.
VALUE_LIMIT = 1e30
_MISSING_LABELS = {"", "nan", "na", "n/a", "none", "null"}
_WHOLE = re.compile(r"(-?\d+)\.0*")  # "3.0", "-2.00": a whole number written as a float
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


def as_float32(x: np.ndarray) -> np.ndarray:
    """Float32 copy of ``x`` with values float32 cannot carry as numbers (``VALUE_LIMIT``) as NaN.

    No overflow warning: a float64 1e300 becomes NaN, not inf.
    """
    raw = np.asarray(x)
    if raw.dtype.kind in "biu":  # every integer type fits (int64's largest is 9.2e18)
        return raw.astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        out = raw.astype(np.float32)
        out[~(np.abs(raw) < VALUE_LIMIT)] = np.nan  # NaN, inf and the huge alike
    return out


def mask_nodata(x: np.ndarray, nodata: Sequence[float] = ()) -> np.ndarray:
    """Float32 copy of ``x`` with inf, 65535, values beyond ``VALUE_LIMIT`` and each ``nodata`` value as NaN."""
    x = as_float32(x)
    bad = x == ALWAYS_NODATA
    for value in nodata:
        if abs(value) < VALUE_LIMIT:  # larger ones are NaN already
            bad |= x == np.float32(value)
    x[bad] = np.nan
    return x


def encode_labels(
    values: Sequence | np.ndarray, classes: Sequence[str] | None = None, what: str = "data"
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Label names -> (class index per sample, class names); empty labels become -1 (unlabelled).

    With ``classes`` a label may be a class name or, if it names none, its index. Without,
    the classes are the distinct labels: numbers in numeric order, names in alphabetical order.
    """
    text = np.array([label_text(v) for v in values], dtype=object)
    present = text != ""
    y = np.full(len(text), -1, dtype=np.int64)
    if classes is None:
        distinct = sorted(set(text[present].tolist()), key=_numeric_first)
        classes = tuple(distinct)
    classes = check_classes(classes, what)
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


def label_indices(values: np.ndarray, classes: Sequence[str], what: str = "data") -> np.ndarray:
    """Numeric labels that are class indices (CropGlobe ``lbl``) -> int64; NaN and -1 are unlabelled.

    Stored indices are never read as class names: ``classes`` may be names like "1", "3".
    """
    classes = check_classes(classes, what)
    v = np.asarray(values).ravel()
    if v.dtype.kind not in "biuf":
        raise CropEdgeError(f"{what}: labels are {v.dtype}, neither class indices nor class names")
    if v.dtype.kind == "f":
        unlabelled = np.isnan(v)
        with np.errstate(invalid="ignore"):
            whole = unlabelled | (np.isfinite(v) & (v == np.round(v)))
        if not whole.all():
            shown = ", ".join(map(str, np.unique(v[~whole])[:5]))
            raise CropEdgeError(f"{what}: label(s) {shown} are not class indices (whole numbers)")
        v = np.where(unlabelled, -1, v)
    if v.size and (v.min() < -1 or v.max() >= len(classes)):
        bad = np.unique(v[(v < -1) | (v >= len(classes))])
        raise CropEdgeError(
            f"{what}: label(s) {', '.join(str(int(b)) for b in bad[:5])} are not indices of the {len(classes)} "
            f"classes ({', '.join(classes[:8])}{', ...' if len(classes) > 8 else ''}; -1 = unlabelled); "
            "store a 'classes' array naming every index, or give them with --classes"
        )
    return v.astype(np.int64)


def check_classes(classes: Sequence[str], what: str = "data") -> tuple[str, ...]:
    """Class names as a tuple of text; an empty or repeated name is an error (labels would be ambiguous)."""
    names = tuple(str(c) for c in classes)
    twice = sorted({c for c in names if names.count(c) > 1})
    if twice or "" in names:
        raise CropEdgeError(
            f"{what}: class names must be distinct and not empty (got {', '.join(repr(c) for c in (twice or ['']))})"
        )
    return names


def decode_text(values: Sequence | np.ndarray, what: str) -> list[str]:
    """Strings, bytes (strict UTF-8) or numbers -> ``str``; text that is not valid Unicode is an error.

    A damaged file can hold code points beyond Unicode or lone surrogates (numpy ``U``
    arrays) or bytes that are not UTF-8: each would fail later, when written out.
    """
    damaged = f"{what}: holds characters that are not Unicode text; the file is damaged"
    items: Sequence = values if not isinstance(values, np.ndarray) else []
    if isinstance(values, np.ndarray):
        if values.dtype.kind == "U" and values.size:
            codes = np.ascontiguousarray(values).view(np.uint32)
            if ((codes > 0x10FFFF) | ((codes >= 0xD800) & (codes <= 0xDFFF))).any():
                raise CropEdgeError(damaged)
        items = values.ravel().tolist() if values.dtype.kind != "O" else list(values.ravel())
    out = []
    for v in list(items):
        if isinstance(v, bytes):
            try:
                v = v.decode("utf-8")
            except UnicodeDecodeError:
                raise CropEdgeError(f"{what}: text {v[:20]!r} is not UTF-8; write the file with UTF-8 text") from None
        text = str(v)
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise CropEdgeError(damaged) from None
        out.append(text)
    return out


def label_text(value: object) -> str:
    """A label as text: whole numbers without ``.0`` (``3.0`` -> ``3``), missing ones (NaN, "NA", "") as "".

    Other text is kept as written (``007`` stays ``007``).
    """
    if isinstance(value, bytes):
        value = decode_text([value], "a label")[0]
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return ""
        if float(value).is_integer():
            return str(int(value))
    text = str(value).strip()
    if text.lower() in _MISSING_LABELS:
        return ""
    whole = _WHOLE.fullmatch(text)
    return whole.group(1) if whole else text


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
    dated = ~np.isnat(dates)  # a row without a date is no observation
    keep = np.zeros(dates.shape, dtype=bool)
    keep[dated] = _season_rows(dates[dated], None if row_year is None else row_year[dated], year)
    values = as_float32(values)
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
    labels_are_indices: bool = False,
) -> Dataset:
    """[N, bands, T] raw values at day-of-year ``doy`` -> a clean Dataset on the 73-step year grid.

    ``labels`` are class names (or indices where they name no class), or with
    ``labels_are_indices`` numeric indices into ``classes`` (CropGlobe ``lbl``).
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
    if set(bands) <= set(S2_BANDS) and np.nanmax(np.abs(x), initial=0.0) <= FRACTION_MAX:
        notes.append(f"all values <= {FRACTION_MAX:g}: reflectance fractions? cropedge expects DN (x 10 000)")
    if not (doy.size == YEAR_STEPS and np.array_equal(doy, YEAR_DOY)):
        try:
            x = resample_to_year_grid(x, doy)
        except CropEdgeError as exc:  # say which file
            raise CropEdgeError(f"{source}: {exc}") from None
        notes.append(f"resampled {doy.size} dates onto the {YEAR_STEPS}-step 5-day year grid")
    if labels is None:
        y, classes = np.full(len(x), -1, dtype=np.int64), tuple(classes or ())
    elif labels_are_indices:
        classes = check_classes(classes or (), source)
        y = label_indices(np.asarray(labels), classes, source)
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
