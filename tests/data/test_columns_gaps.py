"""Column-name grammar for tables written elsewhere, and the gap / season rules behind every reader."""

from __future__ import annotations

import numpy as np
import pytest

from cropedge.data.build import encode_labels, mask_nodata
from cropedge.data.columns import band_name, find_column, find_feature_columns, parse_bands
from cropedge.data.dataset import Dataset
from cropedge.data.grid import (
    S2_BANDS,
    YEAR_DOY,
    YEAR_STEPS,
    fill_gaps,
    resample_to_year_grid,
    season_mask,
)
from cropedge.errors import CropEdgeError


@pytest.mark.parametrize(
    "name, band",
    [
        ("B2_t0", "B2"), ("S2-L2A-B02", "B2"), ("OPTICAL-B8A-ts3-20m", "B8A"), ("b11", "B11"),
        ("date1.B12", "B12"), ("nir_2023-04-01", "B8"), ("SWIR1", "B11"), ("SAR-VH-ts0-20m", None),
        ("NDVI_t0", None), ("B2A", None), ("label", None), ("lab2", None),
    ],
)  # fmt: skip
def test_band_names(name, band):
    assert band_name(name) == band


def test_feature_columns_by_date_doy_and_index():
    dated = find_feature_columns([f"{b}_2023{m:02d}15" for m in range(1, 13) for b in ("B02", "B04")])
    assert dated.bands == ("B2", "B4") and dated.layout == "time-major" and dated.doy[0] == 15
    doy = find_feature_columns([f"{b}-doy{d}" for b in ("B3", "B8") for d in (10, 50, 90)])
    assert doy.doy.tolist() == [10, 50, 90] and doy.layout == "band-major"
    # numbered steps: only their order counts; 73 of them are the year grid
    idx = find_feature_columns([f"B2_t{t}" for t in range(1, 74)])
    np.testing.assert_array_equal(idx.doy, YEAR_DOY)
    # an S2 band the model does not use is ignored
    assert find_feature_columns([f"{b}_t{t}" for b in ("B1", "B2") for t in range(3)]).bands == ("B2",)


def test_feature_column_errors():
    with pytest.raises(CropEdgeError, match="no band columns"):
        find_feature_columns(["id", "lat", "lon", "label"])
    with pytest.raises(CropEdgeError, match="no time step"):
        find_feature_columns(["B2", "B3", "B4"])
    with pytest.raises(CropEdgeError, match=r"different numbers of time steps \(B2 3, B3 2 of 3\)"):
        find_feature_columns(["B2_t0", "B2_t1", "B2_t2", "B3_t0", "B3_t1"])
    with pytest.raises(CropEdgeError, match="B5.*not among"):
        find_feature_columns(["B2_t0", "B2_t1"], bands="B2,B5")
    with pytest.raises(CropEdgeError, match="names a band twice"):
        parse_bands("B2,b02")
    assert parse_bands("B02, nir,VV,SR_B5,S2-L2A-B8A") == ("B2", "B8", "VV", "SR_B5", "B8A")


def test_find_column_by_name_position_or_usual_name():
    names = ["Sample_ID", "x", "Crop"]
    assert find_column(names, None, "label") == 2 and find_column(names, None, "id") == 0
    assert find_column(names, "-1", "label") == 2 and find_column(names, "X", "label") == 1
    assert find_column(names, None, "region") is None
    with pytest.raises(CropEdgeError, match="no label column 'klass'"):
        find_column(names, "klass", "label")


def test_labels_and_nodata():
    y, classes = encode_labels(["10", "2", "", "2.0", None])
    assert classes == ("2", "10") and y.tolist() == [1, 0, -1, 0, -1]  # numeric order; empty = unlabelled
    y, classes = encode_labels([0, 2, "rice"], classes=("corn", "soybeans", "rice"))
    assert y.tolist() == [0, 2, 2]
    with pytest.raises(CropEdgeError, match="label"):
        encode_labels([7], classes=("corn", "wheat"))
    x = mask_nodata(np.array([1.0, 0.0, 65535.0, np.inf]), nodata=[0])
    assert np.isnan(x[1:]).all() and x[0] == 1


def test_fill_gaps_on_strided_input_and_counts():
    x = np.ones((2, 3, 6), dtype=np.float32, order="F")  # not C-contiguous (e.g. from fancy indexing)
    x[0, 1, [0, 2, 5]] = np.nan
    x[1, 2] = np.nan  # a row with nothing valid stays NaN, not counted
    out, n = fill_gaps(x)
    assert n == 3 and np.isfinite(out[0]).all() and np.isnan(out[1, 2]).all()


def test_resample_dekads_marks_missing_for_counting():
    doy = np.arange(1, 365, 10.0)  # 37 dekads
    x = np.tile(doy, (1, 1, 1)).astype(np.float32)
    x[0, 0, 10] = np.nan  # one missing dekad (day 101)
    out = resample_to_year_grid(x, doy)
    gap = np.isnan(out[0, 0])
    assert gap.any() and np.all(np.abs(YEAR_DOY[gap] - 101) < 10)  # only the steps it touches
    filled, n = fill_gaps(out)
    assert n == gap.sum() and np.isfinite(filled).all()
    np.testing.assert_allclose(filled[0, 0], np.minimum(YEAR_DOY, 361), atol=1e-3)  # a ramp stays a ramp


def test_resample_dense_dates_averages_within_a_step():
    doy = np.array([1, 2, 6, 12, 30.0] + list(range(40, 366, 3)))
    x = np.arange(doy.size, dtype=np.float32)[None, None]
    out = resample_to_year_grid(x, doy)
    assert out[0, 0, 0] == pytest.approx(0.5) and out[0, 0, 1] == 2  # days 1, 2 share step 0
    with pytest.raises(CropEdgeError, match="more than one year"):
        resample_to_year_grid(np.zeros((1, 1, 3)), np.array([1, 200, 400.0]))
    with pytest.raises(CropEdgeError, match="too short"):
        resample_to_year_grid(np.zeros((1, 1, 2)), np.array([1, 200.0]))


def test_season_mask():
    dates = np.array(["2022-12-01", "2023-06-01", "2023-11-01"], dtype="datetime64[D]")
    assert season_mask(dates).all()  # within a year: one season across the new year
    long = np.array(["2022-09-01", "2023-01-01", "2023-06-01", "2024-01-11"], dtype="datetime64[D]")
    assert season_mask(long).tolist() == [False, True, True, False]
    assert season_mask(long, 2022).tolist() == [True, False, False, False]
    with pytest.raises(CropEdgeError, match="no date in 2020"):
        season_mask(long, 2020)


def test_clean_copies_b8_into_missing_b8a():
    x = np.full((2, len(S2_BANDS), YEAR_STEPS), 500, dtype=np.float32)
    x[:, S2_BANDS.index("B8")] = 3000
    x[0, S2_BANDS.index("B8A")] = np.nan
    x[1, S2_BANDS.index("B11")] = np.nan  # no stand-in for B11: dropped
    ds = Dataset(x=x, y=[0, 1]).clean()
    assert len(ds) == 1 and ds.dropped == 1 and ds.filled == YEAR_STEPS
    assert (ds.x[0, S2_BANDS.index("B8A")] == 3000).all() and "copied from B8" in ds.notes[0]
