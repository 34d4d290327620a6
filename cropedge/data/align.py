"""Season alignment: how many days to move a target region's year.

The shift makes its crop calendar line up with the calendar the model was trained on.

Two ways, both on the 5-day year grid and applied with ``grid.shift_season`` (through
``prepare_input(season_offset_days=...)``):

* a fixed offset per region, from a recipe (southern hemisphere about +182 days);
* an offset estimated from the target's own **unlabelled** series, in the spirit of
  TimeMatch (Nyborg et al. 2022): the circular shift of the target's mean NDVI curve
  that correlates best with the source's mean NDVI curve.

numpy only.
"""

from __future__ import annotations

import numpy as np

from cropedge.data.grid import STEP_DAYS, YEAR_STEPS, shift_season
from cropedge.errors import CropEdgeError

AUTO = "auto"


def ndvi_curve(x_year: np.ndarray, bands: tuple[str, ...] | list[str]) -> np.ndarray:
    """Mean NDVI over samples of year-grid series [N, bands, 73] -> [73].

    From red (B4) and near infrared (B8, else B8A), or from a band named ``NDVI`` (any
    scale: the curves are compared after standardising).
    """
    lower = [b.lower() for b in bands]
    nir_band = "B8" if "B8" in bands else "B8A"
    if not ({"B4", nir_band} <= set(bands) or "ndvi" in lower):
        raise CropEdgeError(
            f"season alignment needs NDVI: bands B4 and B8 (or B8A), or an NDVI band; the data has {', '.join(bands)}"
        )
    x = np.asarray(x_year, dtype=np.float64)
    if x.ndim != 3 or x.shape[-1] != YEAR_STEPS or len(x) == 0:
        raise CropEdgeError(f"season alignment needs samples on the {YEAR_STEPS}-step year grid, got {x.shape}")
    if {"B4", nir_band} <= set(bands):
        nir, red = x[:, list(bands).index(nir_band)], x[:, list(bands).index("B4")]
        with np.errstate(invalid="ignore", divide="ignore"):
            ndvi = (nir - red) / (nir + red)
    else:
        ndvi = x[:, lower.index("ndvi")]
    ndvi = np.where(np.isfinite(ndvi), ndvi, np.nan)
    valid = np.isfinite(ndvi).any(axis=0)  # a step with no valid sample stays NaN, without a warning
    out = np.full(YEAR_STEPS, np.nan)
    out[valid] = np.nanmean(ndvi[:, valid], axis=0)
    return out


def estimate_offset(source_curve: np.ndarray, target_curve: np.ndarray) -> tuple[float, float]:
    """Find the shift that best aligns ``target_curve`` with ``source_curve``.

    Returns the shift (days, a multiple of 5 in -180..+180) and the Pearson correlation reached.

    The sign follows ``shift_season``: ``shift_season(target, days)`` moves the target year
    earlier by ``days`` so that it matches the source.
    """
    s = _standardise(source_curve)
    t = _standardise(target_curve)
    # corr[k] = mean_i s[i] * t[i + k]: target rolled earlier by k steps
    corr = np.array([np.mean(s * np.roll(t, -k)) for k in range(YEAR_STEPS)])
    k = int(np.argmax(corr))
    steps = k - YEAR_STEPS if k > YEAR_STEPS // 2 else k
    return float(steps * STEP_DAYS), float(corr[k])


def shift_samples(x_year: np.ndarray, days: np.ndarray) -> np.ndarray:
    """``shift_season`` with its own offset per sample: [N, bands, 73] and [N] days -> a shifted copy."""
    days = np.asarray(days, dtype=np.float64)
    out = np.array(x_year, dtype=np.float32, copy=True)
    for d in np.unique(days):
        sel = days == d
        out[sel] = shift_season(out[sel], float(d))
    return out


def _standardise(curve: np.ndarray) -> np.ndarray:
    c = np.asarray(curve, dtype=np.float64)
    if c.shape != (YEAR_STEPS,) or not np.isfinite(c).all():
        raise CropEdgeError(f"an NDVI curve needs {YEAR_STEPS} finite values on the year grid")
    std = c.std()
    return (c - c.mean()) / std if std > 0 else c - c.mean()


def parse_offset(value: str | float | int | None) -> float | str | None:
    """A season offset as given by a user: days (number), ``"auto"``, or None (no alignment)."""
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return None if value is None else float(value)
    text = str(value).strip().lower()
    if text == AUTO:
        return AUTO
    try:
        return float(text)
    except ValueError:
        raise CropEdgeError(f"season offset {value!r} is neither a number of days nor 'auto'") from None


def resolve_offset(
    spec: float | str | None,
    target_x: np.ndarray,
    bands: tuple[str, ...] | list[str],
    source_curve: np.ndarray | list[float] | None,
) -> dict:
    """Turn an offset spec into the days to apply to a target, with how they were found.

    Returns ``{"method": "none"|"fixed"|"auto", "days": float}`` plus, for ``auto``, the
    ``correlation`` reached between the aligned mean NDVI curves.
    """
    spec = parse_offset(spec)
    if spec is None:
        return {"method": "none", "days": 0.0}
    if spec != AUTO:
        return {"method": "fixed", "days": float(spec)}
    if source_curve is None:
        raise CropEdgeError(
            "this run stores no source NDVI curve (no B4/B8 or NDVI band): give --season-offset in days"
        )
    days, corr = estimate_offset(np.asarray(source_curve), ndvi_curve(target_x, bands))
    return {"method": AUTO, "days": days, "correlation": round(corr, 4)}
