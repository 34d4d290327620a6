"""Year grid, window, gap filling, resampling and the Dataset container."""

import numpy as np
import pytest

from cropedge.data.dataset import Dataset, concat
from cropedge.data.grid import (
    YEAR_DOY,
    YEAR_STEPS,
    Window,
    fill_gaps,
    resample_to_year_grid,
    shift_season,
)
from cropedge.data.normalize import BandStats
from cropedge.data.prepare import prepare_input
from cropedge.errors import CropEdgeError


def test_reference_window_is_43_steps_from_index_24():
    w = Window()
    assert (w.start_idx, w.stop_idx, w.length) == (24, 67, 43)
    assert YEAR_DOY[w.start_idx] == 121 and YEAR_DOY[w.stop_idx - 1] == 331
    with pytest.raises(CropEdgeError, match="year grid"):
        w.cut(np.zeros((1, 10, 40)))


def test_fill_gaps_linear_inside_nearest_at_edges():
    x = np.array([[[np.nan, 1.0, np.nan, 3.0, np.nan]]], dtype=np.float32)
    out, n = fill_gaps(x)
    assert n == 3
    np.testing.assert_allclose(out[0, 0], [1, 1, 2, 3, 3])


def test_resample_monthly_and_five_day_series():
    doy = np.array([15, 46, 74, 105, 135, 166, 196, 227, 258, 288, 319, 349], dtype=float)
    x = np.broadcast_to(doy, (2, 3, 12)).astype(np.float32)
    out = resample_to_year_grid(x, doy)
    assert out.shape == (2, 3, YEAR_STEPS)
    # a linear ramp in doy stays a ramp between observations
    inside = (YEAR_DOY >= 15) & (YEAR_DOY <= 349)
    np.testing.assert_allclose(out[0, 0, inside], YEAR_DOY[inside], rtol=1e-5)
    five = resample_to_year_grid(np.arange(73, dtype=np.float32)[None, None], YEAR_DOY)
    np.testing.assert_array_equal(five[0, 0], np.arange(73))


def test_shift_season_and_prepare_input():
    x = np.zeros((1, 2, YEAR_STEPS), dtype=np.float32)
    x[..., 10] = 1.0
    shifted = shift_season(x, -25)  # later by 5 steps
    assert shifted[0, 0].argmax() == 15
    stats = BandStats((0.0, 0.0), (2.0, 2.0))
    prep = prepare_input(shift_season(x, -150), Window(), stats)
    assert prep.shape == (1, 2, 43, 1)
    assert prep[0, 0, 40 - 24, 0] == pytest.approx(0.5)


def test_dataset_validates_and_cleans():
    x = np.ones((3, 10, YEAR_STEPS), dtype=np.float32)
    x[1] = np.nan
    x[2, :, 5] = np.nan
    ds = Dataset(x=x, y=[0, 1, 2], region=["FRA", "FRA", "BEL"])
    clean = ds.clean()
    assert len(clean) == 2 and clean.dropped == 1 and clean.filled == 10
    assert clean.select_regions(["BEL"]).y.tolist() == [2]
    with pytest.raises(CropEdgeError, match="not in the data"):
        clean.select_regions(["ARG"])
    with pytest.raises(CropEdgeError, match="labels outside"):
        Dataset(x=x, y=[0, 1, 9])
    both = concat([clean, clean])
    assert len(both) == 4 and both.filled == 20


def test_save_npz_round_trip(tmp_path):
    ds = Dataset(x=np.random.default_rng(0).random((4, 10, YEAR_STEPS)), y=[0, 1, 2, 3], region=["A"] * 4)
    ds.save_npz(tmp_path / "A.npz")
    with np.load(tmp_path / "A.npz") as z:
        np.testing.assert_array_equal(z["fea"], ds.x)
        assert z["lbl"].tolist() == [0, 1, 2, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["A.npz"]


@pytest.mark.parametrize("damaged", [
    {"mean": ["100", "200"], "std": [1.0, 2.0]},  # numbers written as strings
    {"mean": [100.0, True], "std": [1.0, 2.0]},
    {"mean": [100.0, 200.0]},
    {"mean": 100.0, "std": 1.0},
    ["mean", "std"],
])
def test_band_statistics_read_back_only_as_lists_of_numbers(damaged):
    with pytest.raises(CropEdgeError, match="two lists of numbers"):
        BandStats.from_dict(damaged)
    assert BandStats.from_dict({"mean": [100, 200.5], "std": [1, 2.0]}) == BandStats((100.0, 200.5), (1.0, 2.0))
