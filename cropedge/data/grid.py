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
        return (self.start_doy - 1) // self.step

    @property
    def stop_idx(self) -> int:
        return (self.end_doy - 1) // self.step + 1

    @property
    def length(self) -> int:
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
        return {**asdict(self), "length": self.length}

    @classmethod
    def from_dict(cls, d: dict) -> "Window":
        return cls(int(d["start_doy"]), int(d["end_doy"]), int(d.get("step", STEP_DAYS)))


def fill_gaps(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Fill NaN in [N, bands, T] by linear interpolation along time (nearest at the edges).

    Returns the filled copy and how many values were filled. Rows with no valid value
    at all stay NaN; callers drop them (``Dataset.drop_empty``).
    """
    x = np.array(x, dtype=np.float32, copy=True)
    missing = ~np.isfinite(x)
    n_missing = int(missing.sum())
    if n_missing == 0:
        return x, 0
    t = np.arange(x.shape[-1], dtype=np.float32)
    flat = x.reshape(-1, x.shape[-1])
    miss = missing.reshape(-1, x.shape[-1])
    filled = 0
    for i in np.flatnonzero(miss.any(axis=1)):
        ok = ~miss[i]
        if not ok.any():
            continue
        flat[i, ~ok] = np.interp(t[~ok], t[ok], flat[i, ok])
        filled += int((~ok).sum())
    return flat.reshape(x.shape), filled


def resample_to_year_grid(x: np.ndarray, doy: np.ndarray) -> np.ndarray:
    """Resample [N, bands, T'] observed at day-of-year ``doy`` (may exceed 365 for series
    crossing the new year, irregular, NaN for gaps) onto the 73-step 5-day grid.

    Each grid step takes the mean of the valid observations within half a step; steps with
    none stay NaN for ``fill_gaps``. Coarser series (dekads, months) are linearly
    interpolated between valid observations instead, so a monthly series still fills the grid.
    """
    x = np.asarray(x, dtype=np.float32)
    doy = np.asarray(doy, dtype=np.float64)
    if x.shape[-1] != doy.shape[0]:
        raise CropEdgeError(f"{x.shape[-1]} time steps but {doy.shape[0]} dates")
    doy = (doy - 1) % 365 + 1
    order = np.argsort(doy, kind="stable")
    x, doy = x[..., order], doy[order]
    if doy.size > 1 and np.median(np.diff(np.unique(doy))) <= STEP_DAYS * 1.5:
        out = np.full(x.shape[:-1] + (YEAR_STEPS,), np.nan, dtype=np.float32)
        idx = np.clip(np.rint((doy - 1) / STEP_DAYS).astype(int), 0, YEAR_STEPS - 1)
        for k in range(YEAR_STEPS):
            sel = idx == k
            if sel.any():
                with np.errstate(invalid="ignore"), _quiet_nanmean():
                    out[..., k] = np.nanmean(x[..., sel], axis=-1)
        return out
    flat = x.reshape(-1, x.shape[-1])
    out = np.full((flat.shape[0], YEAR_STEPS), np.nan, dtype=np.float32)
    for i in range(flat.shape[0]):
        ok = np.isfinite(flat[i])
        if ok.any():
            out[i] = np.interp(YEAR_DOY, doy[ok], flat[i, ok])
    return out.reshape(x.shape[:-1] + (YEAR_STEPS,))


class _quiet_nanmean:
    """Silence numpy's 'Mean of empty slice' for all-NaN steps (they are filled later)."""

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def shift_season(x: np.ndarray, days: float) -> np.ndarray:
    """Move year-grid series [..., 73] earlier by ``days`` (circularly: the year wraps).

    Season alignment: a southern-hemisphere series shifted by +182 days puts its growing
    season where a northern model's window expects it. Whole steps only (``days`` is
    rounded to the 5-day grid).
    """
    steps = int(round(days / STEP_DAYS))
    if steps == 0:
        return x
    if x.shape[-1] != YEAR_STEPS:
        raise CropEdgeError(f"season shift needs the {YEAR_STEPS}-step year grid, got {x.shape[-1]} steps")
    return np.roll(x, -steps, axis=-1)
