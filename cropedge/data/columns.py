"""Reading band and date out of table column names, so tables written by others import as they are.

A feature column names a band and a time step, in any order, with ``_ . -`` or spaces
between: ``B2_t0``, ``date1.B2``, ``S2-L2A-B02_2023-04-01``, ``OPTICAL-B02-ts0-10m``,
``b8a-doy121``, ``NDVI_t3``, ``VV_2023-04-01``, ``SR_B5_t0``. The time step is an index
(``t0``, ``ts3``, ``date1``, ``step5``, ``_0``: only the order counts), a date
(``2023-04-01``, ``20230401``) or a day-of-year (``doy121``, ``day121``); what is left is
the band. Sentinel-2 bands are matched case-insensitively with or without a leading zero
(``B02`` = ``B2``), a product prefix (``S2-L2A-``, ``OPTICAL-``) or by common names (``red``,
``nir``, ``swir1``); any other band (Landsat ``SR_B2``, Sentinel-1 ``VV``, ``NDVI``, ``EVI``)
keeps its name. Columns that are one prefix and a running number (``f0``..``f729``,
``b0``..``b729``, ``band_0``, ``0``..``729``) are bare features: bands x dates in a layout the
caller gives (``layout`` and ``bands``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cropedge.data.grid import S2_BANDS, doy_of_dates, evenly_spaced_doy, season_mask
from cropedge.errors import CropEdgeError

LAYOUTS = ("band-major", "time-major")

_BAND = re.compile(r"(?<![a-z0-9])b0?(1[0-2]|[1-9])(a?)(?![a-z0-9])")
_BAND_ALIASES = {
    "blue": "B2", "green": "B3", "red": "B4", "re1": "B5", "rededge1": "B5", "re2": "B6",
    "rededge2": "B6", "re3": "B7", "rededge3": "B7", "nir": "B8", "nnir": "B8A", "nir2": "B8A",
    "narrownir": "B8A", "swir1": "B11", "swir16": "B11", "swir2": "B12", "swir22": "B12",
}  # fmt: skip
_ALIAS = re.compile(r"(?<![a-z0-9])(" + "|".join(sorted(_BAND_ALIASES, key=len, reverse=True)) + r")(?![a-z0-9])")
# a whole band text that is a Sentinel-2 band: B02, b8a, S2-L2A-B02, OPTICAL-B08 (not SR_B2: Landsat)
_S2_TEXT = re.compile(
    r"(?:(?:s2|sentinel-?2|optical|msi)(?:[-_. ](?:l1c|l2a|msi|boa|toa))?[-_. ]?)?b0?(1[0-2]|[1-9])(a?)"
)
_DATE = re.compile(r"(?<![0-9])((?:19|20)\d\d)[-_./]?(0[1-9]|1[0-2])[-_./]?(0[1-9]|[12]\d|3[01])(?![0-9])")
_DOY = re.compile(r"(?<![a-z0-9])(?:doy|day)[-_.]?(\d{1,3})(?![a-z0-9])")
_INDEX = re.compile(r"(?<![a-z0-9])(?:t|ts|time|step|date|d|obs)?[-_.]?(\d+)(?![a-z0-9])")
_RESOLUTION = re.compile(r"[-_. ]\d+m$")  # OPTICAL-B02-ts0-10m: the pixel size, not a time step
_SEPARATORS = "-_. "
_NUMBERED = re.compile(r"^([a-z]*)[-_.]?(\d+)$")  # one prefix and a number: f0, b12, band_0, 7
S2_MAX_NUMBER = 13  # B1..B12 and B8A: a numbered run longer than this, or from 0, is no band list
MIN_BARE_COLUMNS = 2


def band_name(text: str) -> str | None:
    """The Sentinel-2 band a name refers to (``S2-L2A-B02`` -> ``B2``, ``nir`` -> ``B8``), or None."""
    low = text.strip().lower()
    m = _BAND.search(low)
    if m:
        return f"B{int(m.group(1))}{m.group(2).upper()}" if m.group(2) == "" or m.group(1) == "8" else None
    m = _ALIAS.search(low)
    return _BAND_ALIASES[m.group(1)] if m else None


def canonical_band(text: str) -> str:
    """A band as cropedge names it: Sentinel-2 forms canonical (``S2-L2A-B02`` -> ``B2``), others as written."""
    name = text.strip().strip(_SEPARATORS)
    low = name.lower()
    m = _S2_TEXT.fullmatch(low)
    if m and (m.group(2) == "" or m.group(1) == "8"):
        return f"B{int(m.group(1))}{m.group(2).upper()}"
    return _BAND_ALIASES.get(low, name)


def parse_bands(names: str | Sequence[str]) -> tuple[str, ...]:
    """``"B2,B03,nir,VV"`` or a list -> band names (Sentinel-2 ones canonical, others as written).

    CropEdgeError for an empty list or a band named twice.
    """
    items = [n.strip() for n in names.split(",")] if isinstance(names, str) else [str(n).strip() for n in names]
    out = tuple(canonical_band(item) for item in items if item)
    if not out or len({b.lower() for b in out}) != len(out):
        raise CropEdgeError(f"band list '{','.join(items)}' is empty or names a band twice")
    return out


def parse_dates(values: Sequence[str] | np.ndarray, what: str) -> np.ndarray:
    """Date text (``2023-04-01``, ``2023-04-01T10:30:00Z``, ``20230401``, ``2023/04/01``) -> datetime64[D]."""
    distinct, inverse = np.unique(np.asarray(values, dtype=str), return_inverse=True)
    out = []
    for text in distinct:
        match = _DATE.search(text)
        if match is None:
            raise CropEdgeError(f"{what}: '{text[:30]}' is not a date like 2023-04-01")
        out.append(_date(match, f"{what}: {text[:30]}"))
    return np.array(out, dtype="datetime64[D]")[inverse]


@dataclass(frozen=True)
class _Key:
    band: str | None  # None: a bare numbered column
    kind: str  # "index", "date", "doy"
    value: int | float | np.datetime64  # one kind per table: compared only with its own kind


def _parse(name: str) -> _Key | None:
    """A column's band and time step (see the module docstring), or None for other columns."""
    text = _RESOLUTION.sub("", name.strip())
    low = text.lower()
    value: int | float | np.datetime64
    if (m := _DATE.search(low)) is not None:
        kind, value = "date", _date(m, name)
    elif (m := _DOY.search(low)) is not None:
        kind, value = "doy", float(m.group(1))
    elif (m := _INDEX.search(low)) is not None:
        kind, value = "index", int(m.group(1))
    else:
        return None
    band = (text[: m.start()] + " " + text[m.end() :]).strip(_SEPARATORS)
    if not band:
        return _Key(None, "index", value) if kind == "index" else None
    return _Key(canonical_band(band), kind, value)


def _date(match: re.Match, text: str) -> np.datetime64:
    try:
        return np.datetime64(f"{match.group(1)}-{match.group(2)}-{match.group(3)}", "D")
    except ValueError:
        raise CropEdgeError(f"'{text}': {match.group(0)} is not a calendar date") from None


def _numbered_run(names: Sequence[str], skip: set[int]) -> list[tuple[int, int]] | None:
    """(position, number) of the columns that are one prefix and a running number, or None.

    ``b0 .. b729``, ``f1 .. f730``, ``band_0 ..``: the prefix shared by most such columns,
    consecutive numbers (from 0 or 1, or from where the columns left out end).
    """
    groups: dict[str, list[tuple[int, int]]] = {}
    for i, n in enumerate(names):
        if i not in skip and (m := _NUMBERED.match(n.strip().lower())):
            groups.setdefault(m.group(1), []).append((i, int(m.group(2))))
    if not groups:
        return None
    run = max(groups.values(), key=len)
    numbers = sorted(v for _, v in run)
    if len(run) < MIN_BARE_COLUMNS or numbers != list(range(numbers[0], numbers[-1] + 1)):
        return None
    return run


def _is_band_list(names: Sequence[str], run: list[tuple[int, int]]) -> bool:
    """``B1 .. B12`` (a snapshot of Sentinel-2 bands) rather than numbered features."""
    prefix = _NUMBERED.match(names[run[0][0]].strip().lower())
    numbers = [v for _, v in run]
    return bool(prefix and prefix.group(1) == "b" and min(numbers) >= 1 and max(numbers) <= S2_MAX_NUMBER)


def is_long_table(names: Sequence[str], exclude: Sequence[int] = ()) -> bool:
    """One row per sample and date: a date column and no column naming a band and a time step."""
    time = find_column(names, None, "time")
    if time is None:
        return False
    skip = set(exclude) | {time}
    keys = [_parse(n) for i, n in enumerate(names) if i not in skip]
    run = _numbered_run(names, skip)
    numbered = run is not None and not _is_band_list(names, run)  # B02, B03, ... are band columns
    return not any(k is not None and k.band for k in keys) and not numbered


@dataclass(frozen=True)
class FeatureColumns:
    """Where each band and time step of a table sits.

    Attributes:
        bands: band names, in the order of ``columns`` rows.
        columns: [bands, T] positions in the table's column list.
        doy: [T] day-of-year of each time step (may exceed 365 when a season crosses the new year).
        dates: [T] datetime64 of each step when the columns name dates, else None.
        layout: ``band-major`` or ``time-major`` (order of the columns in the table).
        note: how the time steps were read, for the dataset's notes.
    """

    bands: tuple[str, ...]
    columns: np.ndarray
    doy: np.ndarray
    dates: np.ndarray | None
    layout: str
    note: str


def find_feature_columns(
    names: Sequence[str],
    layout: str | None = None,
    bands: str | Sequence[str] | None = None,
    year: int | None = None,
    exclude: Sequence[int] = (),
    what: str = "table",
) -> FeatureColumns:
    """Find the band x time columns among ``names`` (see the module docstring for the grammar).

    Args:
        names: Column names in table order.
        layout: Force ``band-major`` or ``time-major``; needed for bare numbered columns.
            Given, numbered columns (``b0``, ``b1``, ...) are bare whatever their prefix.
        bands: Bands to keep, in this order (named columns) or the bands of bare columns in
            file order (default: the Sentinel-2 bands present, else every band; for bare
            columns the 10 Sentinel-2 bands).
        year: The calendar year to keep when dated columns span more than a year.
        exclude: Positions that are not features (label, id, region columns).
        what: The table's name for messages.
    """
    if layout is not None and layout not in LAYOUTS:
        raise CropEdgeError(f"layout '{layout}' unknown: use {' or '.join(LAYOUTS)}")
    wanted = parse_bands(bands) if bands is not None else None
    skip = set(exclude)
    run = _numbered_run(names, skip)
    keys = [None if i in skip else _parse(n) for i, n in enumerate(names)]
    named = [(i, k) for i, k in enumerate(keys) if k is not None and k.band is not None]
    bare = run is not None and (layout is not None or not _is_band_list(names, run))
    if run is not None and bare and not {i for i, _ in named} - {i for i, _ in run}:
        return _bare(run, layout, wanted or S2_BANDS, what)  # band_0, band_1, ...: numbered, not a band "band"
    if named:
        return _named(names, named, layout, wanted, year, what)
    if run is not None and bare:
        return _bare(run, layout, wanted or S2_BANDS, what)
    listed = [names[i] for i, _ in run] if run else [n for i, n in enumerate(names) if i not in skip and band_name(n)]
    if listed:
        raise CropEdgeError(
            f"{what}: columns {', '.join(listed[:4])} name bands but no time step: a series needs one column "
            f"per band and date (B2_t0, B2_2023-04-01, ...); if they are numbered features (bands x dates), "
            "give --layout (and --bands)"
        )
    shown = ", ".join(list(names)[:6]) + (", ..." if len(names) > 6 else "")
    raise CropEdgeError(
        f"{what}: no band columns found among {len(names)} column(s) ({shown}); name them by band and "
        f"time (B2_t0, date1.B2, B02_2023-04-01) or number them (f0, f1, ...) and give --layout and --bands"
    )


def _match_bands(
    wanted: tuple[str, ...] | None, present: Sequence[str], what: str, where: str
) -> tuple[tuple[str, ...], dict[str, str]]:
    """The bands to keep and, for each, the band of the table it reads.

    Default: the Sentinel-2 bands present in canonical order, or every band when there is
    none. A wanted band matches a table band by name (any case) or by its last part
    (``VV`` reads ``S1-SIGMA0-VV``).
    """
    if wanted is None:
        keep = tuple(b for b in S2_BANDS if b in present) or tuple(dict.fromkeys(present))
        return keep, {b: b for b in keep}
    source: dict[str, str] = {}
    missing = []
    for band in wanted:
        exact = [p for p in present if p.lower() == band.lower()]
        tail = [p for p in present if re.split(r"[-_. ]", p.lower())[-1] == band.lower()]
        hits = exact or tail
        if len(hits) == 1:
            source[band] = hits[0]
        elif len(hits) > 1:
            raise CropEdgeError(f"{what}: --bands {band} matches {', '.join(hits)}; name the one to use in full")
        else:
            missing.append(band)
    if missing:
        raise CropEdgeError(
            f"{what}: band(s) {', '.join(missing)} not among the {where} "
            f"(found: {', '.join(dict.fromkeys(present)) or 'none'}); choose bands with --bands"
        )
    return wanted, source


def find_band_columns(
    names: Sequence[str], bands: str | Sequence[str] | None = None, what: str = "table"
) -> tuple[tuple[str, ...], list[int]]:
    """Band columns of a long table (one row per sample and date: ``S2-L2A-B02``, ``B8A``).

    Returns the bands kept (``bands``, or the Sentinel-2 bands present in canonical order)
    and their column positions. Other columns (``VV``, ``NDVI``, ``lat``) are bands only when
    ``bands`` names them.
    """
    found: dict[str, int] = {}
    for i, n in enumerate(names):
        band = canonical_band(n)
        if band in S2_BANDS or bands is not None:
            found.setdefault(band, i)
    s2 = [b for b in found if b in S2_BANDS]
    if bands is None and not s2:
        raise CropEdgeError(
            f"{what}: no Sentinel-2 band columns (B02, S2-L2A-B02, ...) among {', '.join(list(names)[:8])}; "
            "name the band columns with --bands (e.g. --bands VV,VH or --bands NDVI)"
        )
    keep, source = _match_bands(parse_bands(bands) if bands is not None else None, list(found), what, "columns")
    return keep, [found[source[b]] for b in keep]


def _named(
    names: Sequence[str],
    named: list[tuple[int, _Key]],
    layout: str | None,
    wanted: tuple[str, ...] | None,
    year: int | None,
    what: str,
) -> FeatureColumns:
    """Band-named columns -> positions [bands, T] and the day-of-year of each step."""
    present = list(dict.fromkeys(k.band for _, k in named if k.band is not None))
    keep, source = _match_bands(wanted, present, what, "columns")
    reads = {v: b for b, v in source.items()}
    named = [(i, k) for i, k in named if k.band in reads]
    kinds = {k.kind for _, k in named}
    if len(kinds) > 1:
        raise CropEdgeError(f"{what}: band columns mix {' and '.join(sorted(kinds))} time steps; use one kind")
    kind = kinds.pop()
    times = sorted({k.value for _, k in named})
    slot = {t: j for j, t in enumerate(times)}
    cols = np.full((len(keep), len(times)), -1, dtype=np.int64)
    for i, k in named:
        b = keep.index(reads[str(k.band)])
        if cols[b, slot[k.value]] >= 0:
            twin = names[cols[b, slot[k.value]]]
            raise CropEdgeError(f"{what}: columns {twin} and {names[i]} are the same band and time; keep one")
        cols[b, slot[k.value]] = i
    if (cols < 0).any():
        counts = ", ".join(f"{keep[b]} {(cols[b] >= 0).sum()}" for b in range(len(keep)))
        raise CropEdgeError(
            f"{what}: bands have different numbers of time steps ({counts} of {len(times)}); "
            "every band needs a column for every date"
        )
    found = _layout_of(named)
    if layout is not None and found is not None and layout != found:
        first = ", ".join(names[i] for i, _ in named[:2])
        raise CropEdgeError(
            f"{what}: --layout {layout} but the named columns are {found} ({first}, ...): drop --layout"
        )
    dates = None
    if kind == "date":
        dates = np.array(times, dtype="datetime64[D]")
        season = season_mask(dates, year)
        cols, dates = cols[:, season], dates[season]
        doy = doy_of_dates(dates)
        doy = np.where(doy < doy[0], doy + 365, doy)  # a season crossing the new year keeps counting
        note = f"{len(dates)} dates {dates[0]}..{dates[-1]}"
    elif kind == "doy":
        doy = np.array(times, dtype=np.float64)
        note = f"{len(times)} days of year {doy[0]:.0f}..{doy[-1]:.0f}"
    else:
        doy = evenly_spaced_doy(len(times))
        note = f"{len(times)} numbered time steps"
    left = [b for b in present if b not in reads]
    if left:
        note += f"; columns of {', '.join(left[:6])}{', ...' if len(left) > 6 else ''} left out (choose with --bands)"
    return FeatureColumns(keep, cols, doy, dates, found or layout or LAYOUTS[0], note)


def _layout_of(named: list[tuple[int, _Key]]) -> str | None:
    """Band-major when neighbouring columns share a band, time-major when they share a time step."""
    for (_, a), (_, b) in zip(named, named[1:], strict=False):
        if a.band == b.band and a.value != b.value:
            return "band-major"
        if a.value == b.value and a.band != b.band:
            return "time-major"
    return None


def _bare(run: list[tuple[int, int]], layout: str | None, bands: tuple[str, ...], what: str) -> FeatureColumns:
    """Numbered columns -> positions [bands, T], read in the given layout (any, for one band)."""
    if layout is None and len(bands) > 1:
        raise CropEdgeError(
            f"{what}: {len(run)} numbered columns carry no band names: say how to read them with "
            f"--layout band-major|time-major (and --bands if not {','.join(S2_BANDS)})"
        )
    layout = layout or LAYOUTS[0]
    order = [i for i, _ in sorted(run, key=lambda iv: iv[1])]
    if len(order) % len(bands):
        raise CropEdgeError(
            f"{what}: {len(order)} numbered columns do not divide into {len(bands)} bands "
            f"({','.join(bands)}); check --bands, and give a column that is not a feature (an id) with --id-col"
        )
    steps = len(order) // len(bands)
    grid = np.array(order).reshape((len(bands), steps) if layout == "band-major" else (steps, len(bands)))
    cols = grid if layout == "band-major" else grid.T
    return FeatureColumns(tuple(bands), cols, evenly_spaced_doy(steps), None, layout, f"{steps} time steps ({layout})")


_LABEL_NAMES = ("label", "labels", "class", "classname", "class_name", "crop", "crop_type", "croptype",
                "lbl", "target", "y", "code", "class_code", "classcode", "crop_code", "cropcode", "class_id",
                "classid")  # fmt: skip
_ID_NAMES = ("id", "sample_id", "sampleid", "pixel_id", "point_id", "fid", "uid", "parcel_id", "objectid",
             "object_id", "oid")  # fmt: skip
_REGION_NAMES = ("region", "country", "tile", "area", "site")
_TIME_NAMES = ("timestamp", "date", "time", "datetime", "acquisition_date", "obs_date")
ROLE_NAMES = {"label": _LABEL_NAMES, "id": _ID_NAMES, "region": _REGION_NAMES, "time": _TIME_NAMES}


def find_column(names: Sequence[str], wanted: str | int | None, role: str, what: str = "table") -> int | None:
    """Position of the ``role`` column (label, id, region, time): by name, position or a usual name.

    ``wanted`` given but absent is an error; not given and no usual name present gives None.
    """
    lower = [n.strip().lower() for n in names]
    if wanted is None:
        for candidate in ROLE_NAMES[role]:
            if candidate in lower:
                return lower.index(candidate)
        return None
    text = str(wanted).strip()
    if text.lower() in lower:
        return lower.index(text.lower())
    if re.fullmatch(r"-?\d+", text) and -len(names) <= int(text) < len(names):
        return int(text) % len(names)
    shown = ", ".join(list(names)[:8]) + (", ..." if len(names) > 8 else "")
    raise CropEdgeError(f"{what}: no {role} column '{text}' (columns: {shown}); give a column name or position")
