"""Season alignment: fixed offsets and offsets estimated from unlabelled target series."""

from __future__ import annotations

import numpy as np
import pytest

from cropedge.data.align import estimate_offset, ndvi_curve, parse_offset, resolve_offset, shift_samples
from cropedge.data.grid import S2_BANDS, STEP_DAYS, YEAR_DOY, shift_season
from cropedge.data.synthetic import REGIONS, generate_region
from cropedge.errors import CropEdgeError

B4, B8 = S2_BANDS.index("B4"), S2_BANDS.index("B8")


def _fields(peak_doy: float, n: int = 50, seed: int = 0) -> np.ndarray:
    """[n, 10, 73] reflectance of fields whose NDVI peaks near ``peak_doy`` (double logistic)."""
    rng = np.random.default_rng(seed)
    t = YEAR_DOY[None, :]
    up = peak_doy - 50 + rng.normal(0, 5, (n, 1))
    down = peak_doy + 40 + rng.normal(0, 5, (n, 1))
    green = 1 / (1 + np.exp((up - t) / 8)) - 1 / (1 + np.exp((down - t) / 8))
    x = np.full((n, len(S2_BANDS), len(YEAR_DOY)), 1500.0)
    x[:, B4] = 1800 - 1500 * green + rng.normal(0, 30, green.shape)
    x[:, B8] = 3000 + 1900 * green + rng.normal(0, 30, green.shape)
    return x.astype(np.float32)


@pytest.mark.parametrize("days", [0, 35, -60, 120, 182, -175])
def test_a_known_shift_is_recovered_within_one_step(days: int) -> None:
    source = _fields(200, seed=1)
    target = shift_season(_fields(200, seed=2), -days)  # the target's season `days` later
    est, corr = estimate_offset(ndvi_curve(source, S2_BANDS), ndvi_curve(target, S2_BANDS))
    diff = (est - days + 182.5) % 365 - 182.5  # +-182 and -+183 are the same shift on a circular year
    assert abs(diff) <= STEP_DAYS
    assert corr > 0.9
    # applying the estimate puts the target's season where the source's is
    aligned = ndvi_curve(shift_season(target, est), S2_BANDS)
    assert abs(int(np.argmax(aligned)) - int(np.argmax(ndvi_curve(source, S2_BANDS)))) <= 1


def test_southern_synthetic_region_aligns_with_france() -> None:
    fra = generate_region("FRA", samples_per_class=20, seed=0)
    arg = generate_region("ARG", samples_per_class=20, seed=0)
    est, _ = estimate_offset(ndvi_curve(fra.x, fra.bands), ndvi_curve(arg.x, arg.bands))
    true = REGIONS["ARG"].hemisphere_days + REGIONS["ARG"].greenup_shift  # ARG's season this much later
    diff = (est - true + 182.5) % 365 - 182.5
    assert abs(diff) <= 2 * STEP_DAYS  # mean curves of different crop mixes: within two steps


def test_resolve_offset_reports_how_it_was_found() -> None:
    x = _fields(200)
    curve = ndvi_curve(x, S2_BANDS)
    assert resolve_offset(None, x, S2_BANDS, curve) == {"method": "none", "days": 0.0}
    assert resolve_offset("182", x, S2_BANDS, curve) == {"method": "fixed", "days": 182.0}
    auto = resolve_offset("auto", shift_season(x, -30), S2_BANDS, curve)
    assert auto["method"] == "auto" and auto["days"] == 30.0 and auto["correlation"] > 0.9
    with pytest.raises(CropEdgeError, match="in days"):
        resolve_offset("auto", x, S2_BANDS, None)


def test_each_sample_can_have_its_own_offset() -> None:
    x = _fields(200, n=4)
    out = shift_samples(x, np.array([0, 182, 0, -10]))
    assert np.array_equal(out[[0, 2]], x[[0, 2]])
    assert np.array_equal(out[1], shift_season(x[1], 182)) and np.array_equal(out[3], shift_season(x[3], -10))


def test_bad_inputs_are_user_errors() -> None:
    with pytest.raises(CropEdgeError, match="neither a number"):
        parse_offset("soon")
    assert parse_offset(" AUTO ") == "auto" and parse_offset(5) == 5.0 and parse_offset(None) is None
    with pytest.raises(CropEdgeError, match="B4 and B8 .or B8A., or an NDVI band"):
        ndvi_curve(_fields(200)[:, :3], S2_BANDS[:3])
    with pytest.raises(CropEdgeError, match="year grid"):
        ndvi_curve(_fields(200)[:, :, :40], S2_BANDS)
