"""Each reader on small files written here: CropGlobe .npz, HDF5, CSV in both layouts and
with bare numbered columns, folders, region groups."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from cropedge.data import CROPGLOBE_CLASSES, S2_BANDS, YEAR_DOY, YEAR_STEPS, Dataset, load_dataset, load_regions
from cropedge.errors import CropEdgeError

CLASSES = ("corn", "wheat", "rice")


def test_npz_round_trip_keeps_everything(tmp_path, reflectance):
    x = reflectance(5)
    ds = Dataset(x=x, y=[0, 1, 2, 0, 1], classes=CLASSES, region=["FRA"] * 5, ids=[f"p{i}" for i in range(5)])
    ds.save_npz(tmp_path / "FRA.npz")
    back = load_dataset(tmp_path / "FRA.npz")
    np.testing.assert_array_equal(back.x, x)
    assert back.classes == CLASSES and back.y.tolist() == [0, 1, 2, 0, 1]
    assert back.ids.tolist() == ["p0", "p1", "p2", "p3", "p4"] and back.regions() == ["FRA"]
    assert back.filled == 0 and back.dropped == 0


def test_plain_cropglobe_npz_uint16_with_gaps(tmp_path, reflectance):
    fea = reflectance(4).astype(np.uint16)
    fea[0, 3, 10:14] = 65535  # no data
    fea[1] = 65535  # a sample with nothing valid
    np.savez(tmp_path / "BEL.npz", fea=fea, lbl=np.array([0, 3, 6, 1]))
    ds = load_dataset(tmp_path / "BEL.npz")
    assert ds.classes == CROPGLOBE_CLASSES and ds.regions() == ["BEL"]
    assert len(ds) == 3 and ds.dropped == 1 and ds.filled == 4
    assert ds.y.tolist() == [0, 6, 1]
    gap = ds.x[0, 3, 9:15]
    np.testing.assert_allclose(gap[1:5], np.linspace(gap[0], gap[5], 6)[1:5], rtol=1e-5)  # linear across the gap


def test_npz_other_time_steps(tmp_path):
    doy = np.arange(5, 360, 10.0)  # dekads
    fea = np.broadcast_to(doy, (2, 10, doy.size)).astype(np.float32) * 10
    np.savez(tmp_path / "dek.npz", fea=fea, lbl=[0, 1], doy=doy)
    ds = load_dataset(tmp_path / "dek.npz")
    assert ds.x.shape == (2, 10, YEAR_STEPS) and np.array_equal(ds.doy, YEAR_DOY)
    inside = (YEAR_DOY >= 5) & (YEAR_DOY <= 355)
    np.testing.assert_allclose(ds.x[0, 0, inside], 10 * YEAR_DOY[inside], rtol=1e-5)  # a ramp stays a ramp
    # 12 steps and no doy: spread evenly over the year, i.e. monthly
    np.savez(tmp_path / "mon.npz", fea=np.ones((2, 10, 12)), lbl=[0, 1])
    assert load_dataset(tmp_path / "mon.npz").x.shape == (2, 10, YEAR_STEPS)


def test_npz_string_labels_and_time_major_array(tmp_path, reflectance):
    x = reflectance(3)
    np.savez(tmp_path / "a.npz", x=x.transpose(0, 2, 1), y=np.array(["wheat", "corn", "wheat"]))
    ds = load_dataset(tmp_path / "a.npz")
    assert ds.classes == ("corn", "wheat") and ds.y.tolist() == [1, 0, 1]
    np.testing.assert_array_equal(ds.x, x)


def test_hdf5_reads_the_same_arrays(tmp_path, reflectance):
    x = reflectance(4)
    x[2, 0, 5] = np.nan
    with h5py.File(tmp_path / "USA.h5", "w") as fh:
        group = fh.create_group("data")
        group["fea"] = x
        group["lbl"] = [0, 1, 2, 3]
        fh["ids"] = np.array([b"a", b"b", b"c", b"d"])
    ds = load_dataset(tmp_path / "USA.h5")
    assert ds.regions() == ["USA"] and ds.ids.tolist() == ["a", "b", "c", "d"] and ds.filled == 1
    np.testing.assert_array_equal(ds.x[0], x[0])


def _band_major(n_steps: int = YEAR_STEPS) -> list[str]:
    return [f"{b}_t{t}" for b in S2_BANDS for t in range(n_steps)]


def test_csv_band_major_with_gaps(tmp_path, reflectance, write_csv):
    x = reflectance(4)
    x[1, 2, 30:33] = np.nan  # empty cells
    rows = [[f"s{i}", CLASSES[i % 3], *x[i].ravel()] for i in range(4)]
    ds = load_dataset(write_csv(tmp_path / "NLD.csv", ["id", "label", *_band_major()], rows))
    assert ds.bands == S2_BANDS and ds.classes == ("corn", "rice", "wheat")
    assert ds.ids.tolist() == ["s0", "s1", "s2", "s3"] and ds.regions() == ["NLD"] and ds.filled == 3
    np.testing.assert_array_equal(ds.x[0], x[0])
    assert "band-major" in " ".join(ds.notes)


def test_csv_time_major_semicolons_label_by_position(tmp_path, reflectance, write_csv):
    x = reflectance(3)
    header = ["crop_code", *[f"date{t + 1}.{b}" for t in range(YEAR_STEPS) for b in S2_BANDS]]
    rows = [[i, *x[i].T.ravel()] for i in range(3)]
    path = write_csv(tmp_path / "tm.csv", header, rows, delimiter=";")
    ds = load_dataset(path, label_col="0", classes=list(CLASSES))
    assert ds.classes == CLASSES and ds.y.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(ds.x, x)
    assert "time-major" in " ".join(ds.notes)
    with pytest.raises(CropEdgeError, match="named columns are time-major"):
        load_dataset(path, layout="band-major")


def test_csv_written_elsewhere_dates_and_odd_band_names(tmp_path, write_csv):
    """Dates over 16 months (one year kept), B02 / S2-L2A- prefixes, mixed case, extra columns."""
    months = np.arange(np.datetime64("2022-09"), np.datetime64("2024-01"))
    dates = [np.datetime64(f"{m}-{day:02d}") for m in months for day in (1, 11, 21)]
    names = {"B2": "S2-L2A-B02", "B8A": "s2-l2a-b8a", "B11": "B11"}
    header = ["Class", "lat", "NDVI_2023-01-01", *[f"{names.get(b, b)}_{d}" for b in S2_BANDS for d in dates]]
    value = lambda d, b: 1000 + (d - np.datetime64("2022-01-01")).astype(int) + S2_BANDS.index(b)  # noqa: E731
    rows = [["maize", 44.1, 0.5, *[value(d, b) for b in S2_BANDS for d in dates]]]
    ds = load_dataset(write_csv(tmp_path / "x.csv", header, rows))
    assert ds.bands == S2_BANDS and ds.classes == ("maize",)
    # 2023 kept (most dates): day 1 of the grid is 1 Jan 2023, not an average with 2022
    assert ds.x[0, 0, 0] == pytest.approx(1000 + 365)
    assert load_dataset(tmp_path / "x.csv", year=2022).x[0, 0, -1] == pytest.approx(1000 + 354)


def test_csv_bare_numbered_columns_need_a_layout(tmp_path, reflectance, write_csv):
    x = reflectance(2)
    header = ["label", *[f"f{i}" for i in range(10 * YEAR_STEPS)]]
    band_major = write_csv(tmp_path / "bm.csv", header, [[0, *x[i].ravel()] for i in range(2)])
    time_major = write_csv(tmp_path / "tm.csv", header, [[0, *x[i].T.ravel()] for i in range(2)])
    np.testing.assert_array_equal(load_dataset(band_major, layout="band-major").x, x)
    np.testing.assert_array_equal(load_dataset(time_major, layout="time-major").x, x)
    with pytest.raises(CropEdgeError, match="--layout"):
        load_dataset(band_major)
    swapped = load_dataset(band_major, layout="band-major", bands="B3,B2,B4,B5,B6,B7,B8,B8A,B11,B12")
    assert swapped.bands[:2] == ("B3", "B2")  # --bands names the file's band order
    with pytest.raises(CropEdgeError, match="do not divide into 3 bands"):
        load_dataset(band_major, layout="band-major", bands="B2,B3,B4")


def test_csv_band_subset_and_nodata_zero(tmp_path, reflectance, write_csv):
    x = reflectance(2)
    x[0, 6, 40] = 0
    header = ["label", *_band_major()]
    path = write_csv(tmp_path / "z.csv", header, [["a", *x[0].ravel()], ["b", *x[1].ravel()]])
    ds = load_dataset(path, bands=["nir", "B04"], nodata=[0])
    assert ds.bands == ("B8", "B4") and ds.filled == 1
    np.testing.assert_array_equal(ds.x[1], x[1, [6, 2]])


def test_unlabelled_csv(tmp_path, reflectance, write_csv):
    x = reflectance(2)
    ds = load_dataset(write_csv(tmp_path / "u.csv", _band_major(), [x[0].ravel(), x[1].ravel()]))
    assert ds.y.tolist() == [-1, -1] and ds.classes == ()


def test_folder_regions_groups_and_shared_classes(tmp_path, reflectance):
    folder = tmp_path / "data"
    folder.mkdir()
    Dataset(x=reflectance(3), y=[0, 1, 1], classes=("corn", "wheat")).save_npz(folder / "FRA.npz")
    Dataset(x=reflectance(2, seed=1), y=[0, 1], classes=("rice", "wheat")).save_npz(folder / "BEL.npz")
    (folder / "notes.txt").write_text("not data")
    ds = load_dataset(folder)
    assert ds.classes == CROPGLOBE_CLASSES  # both lists are CropGlobe classes: the CropGlobe list
    assert {c: n for c, n in ds.class_counts().items() if n} == {"corn": 1, "rice": 1, "wheat": 3}
    assert load_regions(folder, ["BEL"], groups=None, nodata=None).regions() == ["BEL"]
    assert len(load_regions(folder, ["europe"], groups={"europe": ["FRA", "BEL"]})) == 5
    grouped = load_dataset(folder, groups={"europe": ["FRA", "BEL"]})
    assert grouped.regions() == ["europe"] and len(grouped) == 5
    with pytest.raises(CropEdgeError, match="ARG"):
        load_regions(folder, ["ARG"])


def test_parquet_written_here_wide_dekads_and_long(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    dekads = 36
    ramp = np.arange(dekads, dtype=np.float64) * 100  # rises through the year
    wide = {f"{b}_t{t}": [ramp[t] + k, 65535] for k, b in enumerate(("B02", "B04", "B08")) for t in range(dekads)}
    wide |= {"crop": ["rice", "corn"], "start_date": ["2021-01-01"] * 2, "end_date": ["2021-12-21"] * 2}
    pq.write_table(pa.table(wide), tmp_path / "wide.parquet")
    ds = load_dataset(tmp_path / "wide.parquet")  # the second row is all no-data: dropped, counted
    assert ds.bands == ("B2", "B4", "B8") and len(ds) == 1 and ds.dropped == 1
    assert ds.classes == ("corn", "rice") and ds.y.tolist() == [1]  # the file's classes, even if dropped
    assert "36 regular steps" in " ".join(ds.notes)
    assert np.all(np.diff(ds.x[0, 0]) >= 0) and ds.x[0, 0, 0] == 0  # still a ramp, on the year grid

    # a declared no-data value is masked before the dated steps are resampled, not blended in
    wide["B02_t18"] = [0.0, 65535]
    pq.write_table(pa.table(wide), tmp_path / "wide0.parquet")
    masked = load_dataset(tmp_path / "wide0.parquet", nodata=[0])
    assert np.all(np.diff(masked.x[0, 0]) >= 0)  # no dip towards 0 around step 18

    dates = np.arange(np.datetime64("2020-11-01"), np.datetime64("2021-10-01"), 10)
    long = {
        "sample_id": np.repeat(["a", "b"], dates.size), "timestamp": np.tile(dates, 2),
        "S2-L2A-B02": np.r_[np.full(dates.size, 300), np.full(dates.size, 65535)].astype(np.uint16),
        "crop": np.repeat(["wheat", "maize"], dates.size),
    }  # fmt: skip
    long["S2-L2A-B02"][3] = 65535
    pq.write_table(pa.table(long), tmp_path / "long.parquet")
    ds = load_dataset(tmp_path / "long.parquet")
    assert ds.ids.tolist() == ["a"] and ds.dropped == 1 and ds.filled > 0 and np.all(ds.x == 300)
    with pytest.raises(CropEdgeError, match="--legend maps ewoc_code"):
        load_dataset(tmp_path / "long.parquet", legend="CROPTYPE24")


def test_long_csv_one_row_per_sample_and_date(tmp_path, write_csv):
    """A long export (e.g. from Earth Engine): id, date, band columns; dates as text, two years."""
    dates = [f"2022-12-{d:02d}T10:30:00Z" for d in (10, 20)] + [f"2023{m:02d}15" for m in range(1, 13)]
    rows = [[pid, date, 100 * i + j, 2000, "soy" if pid == "p1" else "rice"]
            for pid in ("p1", "p2") for i, date in enumerate(dates) for j in (0,)]  # fmt: skip
    rows[5][2] = ""  # a cloud
    path = write_csv(tmp_path / "long.csv", ["point_id", "date", "SR_B2", "SR_B8", "label"], rows)
    with pytest.raises(CropEdgeError, match="--bands"):  # Landsat bands: not Sentinel-2's B2, B8
        load_dataset(path)
    ds = load_dataset(path, bands="SR_B2,SR_B8")
    assert ds.ids.tolist() == ["p1", "p2"] and ds.classes == ("rice", "soy") and ds.y.tolist() == [1, 0]
    assert ds.bands == ("SR_B2", "SR_B8") and ds.filled > 0 and np.isfinite(ds.x).all()
    mid_month = np.array([15, 46, 74, 105, 135, 166, 196, 227, 258, 288, 319, 349])  # 2023, day of year
    inside = (YEAR_DOY >= 15) & (YEAR_DOY <= 349)
    expected = np.interp(YEAR_DOY[inside], mid_month, 200 + 100 * np.arange(12))  # linear between dates
    np.testing.assert_allclose(ds.x[1, 0, inside], expected, rtol=1e-5)
    assert "12 dates of one season" in " ".join(ds.notes)  # 2023 kept, December 2022 left out
    with pytest.raises(CropEdgeError, match="no --layout"):
        load_dataset(path, layout="band-major", bands="SR_B2,SR_B8")


def test_reading_never_imports_tensorflow_and_loads_libraries_lazily(tmp_path, reflectance):
    """cropedge.data is on the device path: no TensorFlow, and h5py / pyarrow only for their files."""
    import subprocess
    import sys

    np.savez(tmp_path / "FRA.npz", fea=reflectance(2), lbl=[0, 1])
    code = (
        "import sys; from cropedge.data import load_dataset; import cropedge.cli.data_cmd; "
        f"load_dataset({str(tmp_path / 'FRA.npz')!r}); "
        "print(sorted(m for m in ('tensorflow', 'h5py', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
