"""Synthetic CropGlobe-like data: format, determinism, phenology, and that it is hard in the right way."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from cropedge.data.grid import CROPGLOBE_CLASSES, S2_BANDS, YEAR_DOY, Window, shift_season
from cropedge.data.synthetic import REGIONS, SOUTHERN, generate, generate_region, synthesize
from cropedge.errors import CropEdgeError

# the reference's crop sets: AUS grows sugarcane and cotton, CHN corn, soybeans and rice, ARG all but wheat
ABSENT = {"ARG": {"wheat"}, "AUS": {"corn", "soybeans", "rice", "wheat"}, "CHN": {"wheat", "sugarcane", "cotton"}}


def _ndvi(x: np.ndarray) -> np.ndarray:
    red, nir = x[:, S2_BANDS.index("B4")], x[:, S2_BANDS.index("B8")]
    return (nir - red) / (nir + red)


def _mean_ndvi(name: str, cls: str, **knobs) -> np.ndarray:
    d = generate_region(name, 40, seed=1, **knobs)
    return _ndvi(d.x[d.y == CROPGLOBE_CLASSES.index(cls)]).mean(axis=0)


def _peak_doy(name: str, cls: str, **knobs) -> float:
    return float(YEAR_DOY[_mean_ndvi(name, cls, **knobs).argmax()])


def _lag_days(name: str, cls: str, **knobs) -> float:
    """How many days later than in FRA the class's NDVI curve runs (circular cross-correlation)."""
    a, b = _mean_ndvi("FRA", cls), _mean_ndvi(name, cls, **knobs)
    a, b = a - a.mean(), b - b.mean()
    return 5.0 * int(np.argmax([a @ np.roll(b, -k) for k in range(len(a))]))


def test_regions_format_and_class_sets():
    assert set(REGIONS) == {"ARG", "AUS", "BEL", "CHN", "FRA", "GBR", "NLD", "USA"}
    assert set(SOUTHERN) == {"ARG", "AUS"}
    for name in REGIONS:
        d = generate_region(name, 10, seed=0)
        assert d.x.shape == (len(d), len(S2_BANDS), 73) and d.x.dtype == np.float32
        assert np.isfinite(d.x).all() and d.x.min() >= 1 and d.x.max() <= 10000
        assert np.array_equal(d.x, np.rint(d.x))  # whole DN
        present = {c for c, k in d.class_counts().items() if k}
        assert present == set(CROPGLOBE_CLASSES) - ABSENT.get(name, set())
        assert set(d.region) == {name} and len(set(d.ids)) == len(d)


def test_synthesize_is_byte_identical_for_a_seed(tmp_path):
    a = synthesize(tmp_path / "a", samples_per_class=8, seed=3)
    b = synthesize(tmp_path / "b", samples_per_class=8, seed=3)
    c = synthesize(tmp_path / "c", samples_per_class=8, seed=4, regions=["FRA"])
    assert [p.name for p in a] == [f"{r}.npz" for r in sorted(REGIONS)]
    assert all(pa.read_bytes() == pb.read_bytes() for pa, pb in zip(a, b, strict=False))
    assert c[0].read_bytes() != (tmp_path / "a" / "FRA.npz").read_bytes()
    with np.load(a[0]) as z:  # CropGlobe keys
        assert z["fea"].shape[1:] == (10, 73) and z["lbl"].shape == (z["fea"].shape[0],)
        assert tuple(z["classes"]) == CROPGLOBE_CLASSES and set(z["region"]) == {"ARG"}


def test_a_region_does_not_depend_on_what_else_is_generated():
    alone = generate_region("NLD", 12, seed=5)
    together = generate(["FRA", "NLD"], 12, seed=5).select_regions(["NLD"])
    np.testing.assert_array_equal(alone.x, together.x)


def test_maize_spectra_match_the_design():
    d = generate_region("FRA", 60, seed=2, jitter=0.0)
    corn = d.x[d.y == CROPGLOBE_CLASSES.index("corn")]
    ndvi = np.median(_ndvi(corn), axis=0)
    peak, bare = ndvi.argmax(), 10  # day ~51: bare soil before sowing
    assert 0.78 < ndvi[peak] < 0.9
    assert np.median(corn[:, S2_BANDS.index("B4"), bare]) == pytest.approx(1800, rel=0.15)
    assert np.median(corn[:, S2_BANDS.index("B8"), bare]) == pytest.approx(3000, rel=0.15)
    wheat = d.x[d.y == CROPGLOBE_CLASSES.index("wheat")]
    b11 = S2_BANDS.index("B11")
    stubble = np.median(wheat[:, b11, 40])  # day 201, after harvest
    assert stubble > 1.1 * np.median(corn[:, b11, 10])  # bright SWIR stubble


def test_calendars_north_south_and_shift_strength():
    fra = _peak_doy("FRA", "corn")
    assert 190 <= fra <= 230 and _peak_doy("FRA", "wheat") < fra - 50
    assert _peak_doy("FRA", "soybeans") > fra

    def off_by(lag: float, want: float) -> float:
        return abs((lag - want + 182.5) % 365 - 182.5)

    # a crop each region grows (AUS has no corn, CHN no wheat)
    for name, cls in (("ARG", "corn"), ("AUS", "cotton"), ("CHN", "corn")):
        shift = REGIONS[name].hemisphere_days + REGIONS[name].greenup_shift
        assert off_by(_lag_days(name, cls), shift) <= 10, name
        # without regional deviations only the hemisphere remains
        assert off_by(_lag_days(name, cls, shift_strength=0.0), REGIONS[name].hemisphere_days) <= 10, name


def test_gaps_are_nan_and_fillable():
    d = generate_region("GBR", 10, seed=0, gap_fraction=0.2)
    assert 0.1 < np.isnan(d.x).mean() < 0.3
    clean = d.clean()
    assert np.isfinite(clean.x).all() and clean.filled == int(np.isnan(d.x).sum())


def test_bad_arguments():
    with pytest.raises(CropEdgeError, match="unknown synthetic region 'XYZ'"):
        generate_region("XYZ")
    with pytest.raises(CropEdgeError, match="samples_per_class"):
        generate_region("FRA", 0)
    with pytest.raises(CropEdgeError, match="gap_fraction"):
        generate_region("FRA", 5, gap_fraction=1.0)


def test_module_stays_off_tensorflow():
    code = "import sys, cropedge.data.synthetic; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_transfer_is_hard_and_alignment_undoes_the_hemisphere():
    # a small forest on the window: in-domain is easy, the other hemisphere is not, and
    # moving southern series by 182 days fixes it when the regions differ by nothing else
    from sklearn.ensemble import RandomForestClassifier

    win = Window()
    src = generate_region("FRA", 80, seed=0)
    test = generate_region("FRA", 30, seed=1)
    rf = RandomForestClassifier(60, random_state=0, n_jobs=1).fit(win.cut(src.x).reshape(len(src), -1), src.y)

    def oa(x: np.ndarray, y: np.ndarray) -> float:
        return float((rf.predict(win.cut(x).reshape(len(x), -1)) == y).mean())

    in_domain = oa(test.x, test.y)
    assert in_domain >= 0.9
    for south in SOUTHERN:
        d = generate_region(south, 30, seed=1)
        assert oa(d.x, d.y) <= in_domain - 0.3, south
        pure = generate_region(south, 30, seed=1, shift_strength=0.0)
        assert oa(shift_season(pure.x, 182), pure.y) >= in_domain - 0.1, south
