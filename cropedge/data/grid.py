"""Bands, classes and the time grid every series is put on.

CropGlobe's year grid has 73 steps of 5 days (day-of-year 1, 6, ..., 361); the model
window is day 121..334 = 43 steps. Series keep the whole year so that time
augmentations and season alignment can move the window; the window is cut later.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cropedge.errors import CropEdgeError

S2_BANDS: tuple[str, ...] = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
CROPGLOBE_CLASSES: tuple[str, ...] = ("corn", "soybeans", "rice", "wheat", "sugarcane", "cotton", "other")
STEP_DAYS = 5
YEAR_STEPS = 73
YEAR_DOY = (1 + STEP_DAYS * np.arange(YEAR_STEPS)).astype(np.float32)


@dataclass(frozen=True)
class Window:
    """The part of the year grid a model sees: day-of-year ``start``..``end`` in ``step``-day steps."""

    start_doy: int = 121
    end_doy: int = 334
    step: int = STEP_DAYS

    @property
    def start_idx(self) -> int:
        """Index of the window's first step on the year grid."""
        return (self.start_doy - 1) // self.step

    @property
    def stop_idx(self) -> int:
        """Index one past the window's last step on the year grid."""
        return (self.end_doy - 1) // self.step + 1

    @property
    def length(self) -> int:
        """Number of time steps in the window."""
        return self.stop_idx - self.start_idx

    def cut(self, x: np.ndarray) -> np.ndarray:
        """Cut the window from year-grid series [..., T=73] -> [..., length]."""
        if x.shape[-1] < self.stop_idx:
            raise CropEdgeError(
                f"time axis has {x.shape[-1]} steps but the window day {self.start_doy}..{self.end_doy} "
                f"needs {self.stop_idx}: put the series on the {YEAR_STEPS}-step year grid first"
            )
        return x[..., self.start_idx : self.stop_idx]

    def to_dict(self) -> dict:
        """Return the fields and the length, for run.json and bundle metadata."""
        return {**asdict(self), "length": self.length}

    @classmethod
    def from_dict(cls, d: dict) -> Window:
        """A window read back from run.json or bundle metadata, checked (a step of 0 would divide by zero)."""
        window = cls(int(d["start_doy"]), int(d["end_doy"]), int(d.get("step", STEP_DAYS)))
        if window.step < 1 or not 1 <= window.start_doy <= window.end_doy <= 365:
            raise CropEdgeError(
                f"window day {window.start_doy}..{window.end_doy} step {window.step} is not a window of the year "
                "(1 <= start <= end <= 365, step >= 1); the file holding it is damaged"
            )
        return window


MIN_STEPS = 3  # fewer dates than this are a snapshot, not a time series
# a band missing from a whole series may borrow its spectral neighbour: B8A (865 nm, narrow NIR)
# and B8 (842 nm, broad NIR) read within a few percent of each other over vegetation and soil
BAND_STANDINS: dict[str, str] = {"B8A": "B8", "B8": "B8A"}


def fill_gaps(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Fill NaN/inf in [N, bands, T] by linear interpolation along time (nearest at the edges).

    Returns the filled copy and how many values were filled. Rows with no valid value
    at all stay NaN; callers drop them (``Dataset.clean``).
    """
    x = np.array(x, dtype=np.float32, order="C", copy=True)  # C order: ``flat`` below is a view
    steps = x.shape[-1]
    flat = x.reshape(-1, steps)
    ok = np.isfinite(flat)
    rows = np.flatnonzero(~ok.all(axis=1) & ok.any(axis=1))
    if rows.size == 0:
        return x, 0
    sub, ok = flat[rows], ok[rows]
    n_filled = int((~ok).sum())
    # rasters: every pixel usually lacks the same steps (those outside the stack's dates), so
    # the interpolation indices are found once for all rows and only missing steps are written
    if (ok == ok[0]).all():
        miss = np.flatnonzero(~ok[0])
        lo, hi, w = _neighbours(ok[:1])
        lo, hi, w = lo[0, miss], hi[0, miss], w[0, miss]
        flat[rows[:, None], miss] = sub[:, lo] + w * (sub[:, hi] - sub[:, lo])
        return x, n_filled
    lo, hi, w = _neighbours(ok)
    v_lo = np.take_along_axis(sub, lo, axis=1)
    v_hi = np.take_along_axis(sub, hi, axis=1)
    flat[rows] = np.where(ok, sub, v_lo + w * (v_hi - v_lo))
    return x, n_filled


def _neighbours(ok: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For [rows, T] validity: the neighbouring valid steps of every step and their weight.

    Returns the previous and next valid step of every step (at an edge both are the nearest
    valid one) and the linear weight of the next one.
    """
    steps = ok.shape[1]
    t = np.arange(steps)
    prev = np.maximum.accumulate(np.where(ok, t, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(ok, t, steps)[:, ::-1], axis=1)[:, ::-1]
    lo = np.where(prev < 0, nxt, prev)
    hi = np.where(nxt >= steps, prev, nxt)
    w = np.where(hi > lo, (t - lo) / np.maximum(hi - lo, 1), 0.0).astype(np.float32)
    return lo, hi, w


def fill_missing_bands(x: np.ndarray, bands: tuple[str, ...]) -> tuple[np.ndarray, int, list[str]]:
    """Copy a band's stand-in (``BAND_STANDINS``) into samples where that band has no valid value.

    Returns the array, how many values were copied and one note per band that needed it.
    """
    x = np.asarray(x, dtype=np.float32)
    empty = ~np.isfinite(x).any(axis=2)  # [N, bands]
    copied, notes = 0, []
    for b, name in enumerate(bands):
        standin = BAND_STANDINS.get(name)
        if standin not in bands or not empty[:, b].any():
            continue
        s = bands.index(standin)
        rows = empty[:, b] & np.isfinite(x[:, s]).all(axis=1)
        if rows.any():
            x = x.copy() if copied == 0 else x
            x[rows, b] = x[rows, s]
            copied += int(rows.sum()) * x.shape[2]
            notes.append(f"{name} had no valid value in {int(rows.sum())} sample(s): copied from {standin}")
    return x, copied, notes


def doy_of_dates(dates: np.ndarray) -> np.ndarray:
    """Day-of-year (1..365; 31 December of a leap year counts as 365) of datetime64 values."""
    d = np.asarray(dates).astype("datetime64[D]")
    return np.minimum((d - d.astype("datetime64[Y]")).astype(np.int64) + 1, 365).astype(np.float64)


def season_mask(dates: np.ndarray, year: int | None = None) -> np.ndarray:
    """Which of ``dates`` (datetime64) form one season on the year grid.

    Dates within 365 days of each other are one season (crossing the new year is fine:
    each day-of-year occurs once). A longer series is cut to one calendar year, ``year``
    or else the year with the most dates, so two years never share a grid step.
    """
    d = np.asarray(dates).astype("datetime64[D]")
    if d.size == 0 or int((d.max() - d.min()).astype(np.int64)) < 365:
        return np.ones(d.shape, dtype=bool)
    years = d.astype("datetime64[Y]").astype(np.int64) + 1970
    if year is None:
        values, counts = np.unique(years, return_counts=True)
        year = int(values[np.argmax(counts)])
    mask = years == year
    if not mask.any():
        raise CropEdgeError(
            f"no date in {year} (the dates run {d.min()}..{d.max()}): choose a year inside that range"
        )
    return mask


def evenly_spaced_doy(steps: int) -> np.ndarray:
    """Day-of-year of ``steps`` numbered dates spread evenly over the year.

    73 gives exactly the 5-day grid, so numbered steps mean the year grid when there are
    73 of them.
    """
    return (1 + np.arange(steps) * 365.0 / steps).astype(np.float64)


def resample_to_year_grid(x: np.ndarray, doy: np.ndarray) -> np.ndarray:
    """Resample [N, bands, T'] observed at day-of-year ``doy`` onto the 73-step 5-day grid.

    ``doy`` may be irregular, exceed 365 for a season crossing the new year, and ``x`` may
    hold NaN for missing observations; it must not span more than a year (see
    ``season_mask``). Dense series (5 days apart or less) give each grid step the mean of
    the valid observations within half a step. Coarser ones (dekads, months) are
    interpolated linearly between neighbouring observations. Either way a grid step next to
    a missing observation, or more than half a step before the first / after the last one,
    stays NaN, so that ``fill_gaps`` fills and counts it like any other gap.
    """
    x = np.asarray(x, dtype=np.float32)
    doy = np.asarray(doy, dtype=np.float64)
    if x.shape[-1] != doy.shape[0]:
        raise CropEdgeError(f"{x.shape[-1]} time steps but {doy.shape[0]} dates")
    if not np.isfinite(doy).all():
        raise CropEdgeError("the dates of the time steps are not all finite days of the year")
    if doy.size < MIN_STEPS:
        raise CropEdgeError(
            f"time axis too short: {doy.size} date(s); a series needs at least {MIN_STEPS} dates over the year"
        )
    if doy.max() - doy.min() >= 365:
        raise CropEdgeError(
            f"dates span {doy.max() - doy.min():.0f} days, more than one year: keep one season (e.g. one year)"
        )
    doy = (doy - 1) % 365 + 1
    if doy.size == YEAR_STEPS and np.array_equal(doy, YEAR_DOY):
        return x.copy()
    days, inverse = np.unique(doy, return_inverse=True)
    if days.size < MIN_STEPS:
        raise CropEdgeError(
            f"time axis too short: {days.size} distinct date(s); a series needs at least {MIN_STEPS} dates "
            "over the year"
        )
    if days.size == doy.size:  # distinct days: sorting them is enough (no slow np.add.at)
        x = np.where(np.isfinite(x), x, np.nan)[..., np.argsort(doy, kind="stable")]
    else:
        x = _mean_over(x, inverse, days.size)  # one value per distinct day
    if days.size > 1 and np.median(np.diff(days)) <= STEP_DAYS * 1.5:
        step = np.clip(np.rint((days - 1) / STEP_DAYS).astype(int), 0, YEAR_STEPS - 1)
        return _mean_over(x, step, YEAR_STEPS)
    return _interpolate(x, days, YEAR_DOY.astype(np.float64))


def _mean_over(x: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean of the finite values of [..., T] over time steps sharing a ``group`` -> [..., n_groups] (NaN if none)."""
    ok = np.isfinite(x)
    total = np.zeros(x.shape[:-1] + (n_groups,), dtype=np.float64)
    count = np.zeros_like(total)
    np.add.at(np.moveaxis(total, -1, 0), group, np.moveaxis(np.where(ok, x, 0.0), -1, 0))
    np.add.at(np.moveaxis(count, -1, 0), group, np.moveaxis(ok, -1, 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan).astype(np.float32)


def _interpolate(x: np.ndarray, days: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Linear interpolation of [..., T] at sorted ``days`` onto ``grid``.

    NaN where a neighbour is NaN or the grid step lies more than half a step outside
    ``days`` (closer, the edge value).
    """
    right = np.searchsorted(days, grid, side="left")
    hi = np.minimum(right, days.size - 1)
    exact = days[hi] == grid
    lo = np.where(exact, hi, np.clip(right - 1, 0, days.size - 1))
    span = days[hi] - days[lo]
    w = np.where(span > 0, (grid - days[lo]) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)
    x_lo, x_hi = x[..., lo], x[..., hi]
    out = np.where(w == 0, x_lo, x_lo + w * (x_hi - x_lo)).astype(np.float32)
    out[..., (grid < days[0] - STEP_DAYS / 2) | (grid > days[-1] + STEP_DAYS / 2)] = np.nan
    return out


def shift_season(x: np.ndarray, days: float) -> np.ndarray:
    """Move year-grid series [..., 73] earlier by ``days`` (circularly: the year wraps).

    Season alignment: a southern-hemisphere series shifted by +182 days puts its growing
    season where a northern model's window expects it. Whole steps only (``days`` is
    rounded to the 5-day grid).
    """
    if not np.isfinite(days):
        raise CropEdgeError(f"season offset {days} is not a number of days; give a finite offset such as 182")
    steps = int(round(days / STEP_DAYS))
    if steps == 0:
        return x
    if x.shape[-1] != YEAR_STEPS:
        raise CropEdgeError(f"season shift needs the {YEAR_STEPS}-step year grid, got {x.shape[-1]} steps")
    return np.roll(x, -steps, axis=-1)
