"""Files as others write them and files damaged on the way, through the real CLI: each reads, or
gives one ``cropedge: error:`` line and exit 2 with nothing written, and no numpy warning.

Bare numbered headers and CSVs without a header row, bands of other sensors, text that is not
UTF-8, HDF5 groups and attributes, sizes a file declares but cannot hold, values beyond
float32, and folders left by a killed ``data import`` / ``data synth``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from cropedge.cli import cli
from cropedge.data import S2_BANDS, YEAR_STEPS, Dataset, load_dataset

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # none may reach a user
CROPEDGE = Path(sys.executable).with_name("cropedge")


def _run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _user_error(*args: object, match: str) -> str:
    code, out, err = _run(*args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("cropedge: error:"), (code, out, err)
    assert match in lines[0], lines[0]
    return lines[0]


def _info(path: Path, *args: object) -> dict:
    code, out, err = _run("data", "info", path, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def _series(n: int, bands: int = len(S2_BANDS), steps: int = YEAR_STEPS, seed: int = 0) -> np.ndarray:
    return np.rint(np.random.default_rng(seed).uniform(100, 5000, (n, bands, steps))).astype(np.float32)


def _write_rows(path: Path, rows: list[list[object]], header: list[str] | None = None) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)
    return path


# --- bare numbered headers, no header row ------------------------------------------------------------


def test_published_csv_with_b0_to_b729_time_major(tmp_path):
    """A class code, an object id, then b0..b729 (73 dates x 10 bands, time-major): --layout reads it."""
    x = _series(4)
    rows = [[code, 1000 + i, *x[i].T.ravel()] for i, code in enumerate([11, 27, 11, 3])]
    path = _write_rows(tmp_path / "s2.csv", rows, ["class_code", "objectid", *[f"b{i}" for i in range(730)]])
    _user_error("data", "info", path, match="--layout")  # bands x dates in an order only the user knows
    info = _info(path, "--layout", "time-major", "--bands", ",".join(S2_BANDS))
    assert info["samples"] == 4 and info["bands"] == list(S2_BANDS) and info["classes"] == {"3": 1, "11": 2, "27": 1}
    ds = load_dataset(path, layout="time-major")
    np.testing.assert_array_equal(ds.x, x)
    assert ds.ids.tolist() == ["1000", "1001", "1002", "1003"]
    for prefix in ("x", "band_", "v"):  # any prefix with a running number is bare
        other = _write_rows(tmp_path / f"{prefix}.csv", rows, ["label", "id", *[f"{prefix}{i}" for i in range(730)]])
        np.testing.assert_array_equal(load_dataset(other, layout="time-major").x, x)


def test_csv_without_header_row(tmp_path):
    """label, id, then the numbers: found by itself (the first line is numbers) or with --no-header."""
    x = _series(3)
    path = _write_rows(tmp_path / "old.csv", [[lab, 70 + i, *x[i].ravel()] for i, lab in enumerate([2, 5, 2])])
    _user_error("data", "info", path, "--layout", "band-major", match="do not divide into 10 bands")
    info = _info(path, "--layout", "band-major", "--id-col", "1")
    assert info["samples"] == 3 and info["classes"] == {"2": 2, "5": 1}
    assert any("no header row" in n for n in info["notes"])
    np.testing.assert_array_equal(load_dataset(path, layout="band-major", id_col=1).x, x)
    # id first, label second, text labels: --no-header with the columns by position
    text = _write_rows(tmp_path / "text.csv", [[f"f{i}", lab, *x[i].ravel()] for i, lab in enumerate("aba")])
    ds = load_dataset(text, no_header=True, label_col=1, id_col=0, layout="band-major")
    assert ds.ids.tolist() == ["f0", "f1", "f2"] and ds.classes == ("a", "b") and ds.y.tolist() == [0, 1, 0]
    # a header of bare numbers (0, 1, 2, ...) still names columns
    named = _write_rows(tmp_path / "named.csv", [[0, *x[0].ravel()]], ["label", *map(str, range(730))])
    assert load_dataset(named, layout="band-major").notes[0].startswith("read band-major")


# --- bands of other sensors ----------------------------------------------------------------------------


def test_other_sensors_keep_their_band_names(tmp_path):
    rng = np.random.default_rng(1)
    # MODIS NDVI, one value per 8 days, as day-of-year columns and as bare v0..v45 with --bands
    days = np.arange(1, 366, 8)
    ndvi = np.round(rng.uniform(0.1, 0.9, (3, days.size)), 4)
    header = ["crop", *[f"NDVI_doy{d}" for d in days]]
    modis = _write_rows(tmp_path / "modis.csv", [["wheat", *r] for r in ndvi], header)
    ds = load_dataset(modis)
    assert ds.bands == ("NDVI",) and ds.x.shape == (3, 1, YEAR_STEPS)
    assert not any("fractions" in n for n in ds.notes)  # an index is not a reflectance in DN
    bare = _write_rows(tmp_path / "bare.csv", [["wheat", *r] for r in ndvi], ["crop", *[f"v{i}" for i in range(46)]])
    assert load_dataset(bare, bands="NDVI").bands == ("NDVI",)  # one band: no layout needed
    # Landsat surface reflectance: SR_B2 is Landsat's band, not Sentinel-2's B2
    landsat = ["SR_B2", "SR_B3", "SR_B4", "SR_B5"]
    rows = [["corn", *rng.integers(7000, 20000, 4 * 12)] for _ in range(2)]
    header = ["label", *[f"{b}_2023{m:02d}01" for b in landsat for m in range(1, 13)]]
    path = _write_rows(tmp_path / "l8.csv", rows, header)
    assert _info(path)["bands"] == landsat
    assert load_dataset(path, bands="SR_B5,SR_B4").bands == ("SR_B5", "SR_B4")


def test_real_worldcereal_sentinel1_bands_on_request(worldcereal_dir):
    """The France extraction's S1-SIGMA0-VV/VH columns, chosen by their short names."""
    ds = load_dataset(worldcereal_dir / "2023_FRA_LPIS_POLY_110.geoparquet", bands="B4,B8,VV,VH")
    assert ds.bands == ("B4", "B8", "VV", "VH") and np.isfinite(ds.x).all() and len(ds) > 300


def test_long_table_with_numbered_band_columns(tmp_path):
    """B02, B03, ... beside a date column are the bands of a long table, not numbered features."""
    rows = [["p", f"2023-{m:02d}-01", 100 * m, 200 * m] for m in range(1, 13)]
    ds = load_dataset(_write_rows(tmp_path / "long.csv", rows, ["id", "date", "B02", "B03"]))
    assert ds.bands == ("B2", "B3") and ds.ids.tolist() == ["p"]


# --- text that is not UTF-8 ------------------------------------------------------------------------------


def _string_column(raw: list[bytes]) -> pa.Array:
    """A Parquet string column holding exactly these bytes (as a damaged file would)."""
    offsets = np.cumsum([0, *map(len, raw)]).astype(np.int32)
    return pa.Array.from_buffers(pa.string(), len(raw), [None, pa.py_buffer(offsets.tobytes()),
                                                         pa.py_buffer(b"".join(raw))])  # fmt: skip


def test_parquet_date_column_not_utf8(tmp_path):
    """The case fuzzing found: invalid UTF-8 in a long table's date column (a traceback before)."""
    columns = {"sample_id": pa.array(["a", "a", "a"]),
               "timestamp": _string_column([b"2023-01-01", b"\xff023-02-01", b"2023-03-01"]),
               "B2": pa.array([1.0, 2.0, 3.0])}  # fmt: skip
    pq.write_table(pa.table(columns), tmp_path / "long.parquet")
    _user_error("data", "import", tmp_path / "long.parquet", "--out", tmp_path / "out",
                match="column timestamp holds text that is not UTF-8")  # fmt: skip
    assert not (tmp_path / "out").exists()
    columns["timestamp"] = pa.array(["2023-01-01", "2023-02-01", "2023-03-01"])
    columns["label"] = _string_column([b"ma\xefs", b"ma\xefs", b"ma\xefs"])
    pq.write_table(pa.table(columns), tmp_path / "labels.parquet")
    _user_error("data", "info", tmp_path / "labels.parquet", match="column label holds text that is not UTF-8")


def test_csv_encodings(tmp_path):
    header = "label," + ",".join(f"{b}_t{t}" for b in S2_BANDS for t in range(4))
    row = ",".join(["1000"] * 40)
    (tmp_path / "latin1.csv").write_bytes(f"{header}\nMaïs,{row}\nblé,{row}\n".encode("latin-1"))
    line = _user_error("data", "info", tmp_path / "latin1.csv", match="line 2 (byte 0xEF) is not UTF-8 text")
    assert "--encoding" in line
    assert _info(tmp_path / "latin1.csv", "--encoding", "latin-1")["classes"] == {"Maïs": 1, "blé": 1}
    (tmp_path / "excel.csv").write_bytes(f"{header}\nMaïs,{row}\n".encode("utf-16"))  # Excel's "Unicode text"
    assert _info(tmp_path / "excel.csv")["classes"] == {"Maïs": 1}
    _user_error("data", "info", tmp_path / "excel.csv", "--encoding", "klingon", match="unknown text encoding")


def test_npz_and_hdf5_text_that_is_not_unicode(tmp_path):
    bad = np.frombuffer(np.array([66, 0x110000], np.uint32).tobytes(), dtype="<U2")  # beyond Unicode
    np.savez(tmp_path / "a.npz", fea=_series(1), lbl=bad)
    _user_error("data", "info", tmp_path / "a.npz", match="not Unicode text")
    with h5py.File(tmp_path / "a.h5", "w") as fh:
        fh["fea"] = _series(2)
        fh["lbl"] = np.array([0, 1])
        fh["fea"].attrs["bands"] = np.array([b"B2", b"B\xff"])  # fixed-length bytes, not UTF-8
    _user_error("data", "info", tmp_path / "a.h5", match="is not UTF-8")


# --- HDF5 groups and attributes --------------------------------------------------------------------------------


def test_hdf5_groups_are_regions_never_a_silent_part(tmp_path):
    x = _series(55)
    with h5py.File(tmp_path / "fields.h5", "w") as fh:
        fh["field_a/fea"], fh["field_a/lbl"] = x[:5], np.zeros(5, int)
        fh["field_b/fea"], fh["field_b/lbl"] = x[5:], np.arange(50) % 3
        fh.attrs["classes"] = ["corn", "rice", "wheat"]  # shared by both groups, as an attribute
    info = _info(tmp_path / "fields.h5")
    assert info["samples"] == 55 and info["samples_read"] == 55
    assert info["regions"] == {"field_a": 5, "field_b": 50} and info["classes"] == {"corn": 22, "rice": 17, "wheat": 16}
    code, _, err = _run("data", "import", tmp_path / "fields.h5", "--out", tmp_path / "out", "--quiet")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["field_a.npz", "field_b.npz"]
    with h5py.File(tmp_path / "stray.h5", "w") as fh:
        fh["a/fea"], fh["b/fea"], fh["labels/lbl"] = x[:2], x[2:4], np.zeros(4, int)
    _user_error("data", "info", tmp_path / "stray.h5", match="labels /labels/lbl sit in no group with a fea")
    with h5py.File(tmp_path / "twice.h5", "w") as fh:
        fh["fea"], fh["lbl"], fh["old/lbl"] = x[:2], np.zeros(2, int), np.ones(2, int)
    _user_error("data", "info", tmp_path / "twice.h5", match="two arrays named 'lbl'")


# --- sizes a file declares but cannot hold -------------------------------------------------------------------


def test_declared_sizes_are_checked_before_allocating(tmp_path):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (10**11, 10, 73)})
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as zf:
        zf.writestr("fea.npy", buf.getvalue() + b"\0" * 4096)
        zf.writestr("lbl.npy", _npy(np.zeros(3)))
    _user_error("data", "import", tmp_path / "huge.npz", "--out", tmp_path / "o",
                match="declares 100000000000 x 10 x 73")  # fmt: skip
    with h5py.File(tmp_path / "huge.h5", "w") as fh:
        fh.create_dataset("fea", shape=(10**9, 10, 73), dtype="f4", chunks=(1, 10, 73))
        fh["lbl"] = np.zeros(3)
    assert (tmp_path / "huge.h5").stat().st_size < 20_000
    _user_error("data", "info", tmp_path / "huge.h5", match="/fea declares 1000000000 x 10 x 73")
    _user_error("data", "synth", "--out", tmp_path / "syn", "--samples-per-class", 10**12, match="of memory but")
    assert not (tmp_path / "o").exists() and not (tmp_path / "syn").exists()


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a)
    return buf.getvalue()


# --- values beyond float32 -------------------------------------------------------------------------------------


def test_values_beyond_float32_are_missing_without_warnings(tmp_path):
    x = _series(2).astype(np.float64)
    x[0, 3, 10] = 1e300  # an overflowed cell: a missing observation, filled
    np.savez(tmp_path / "big.npz", fea=x, lbl=[0, 1])
    info = _info(tmp_path / "big.npz")
    assert info["samples"] == 2 and info["values_filled"] == 1
    np.savez(tmp_path / "all.npz", fea=np.full((2, 10, 73), 1e300), lbl=[0, 1])
    _user_error("data", "info", tmp_path / "all.npz", match="none of the 2 samples has valid values")
    header = ["label", *[f"{b}_t{t}" for b in S2_BANDS for t in range(4)]]
    path = _write_rows(tmp_path / "big.csv", [["a", "1e40", "-3.4028235e38", *["1000"] * 38]], header)
    proc = subprocess.run([str(CROPEDGE), "data", "info", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == "" and "samples    1 of 1 read; 0 dropped" in proc.stdout


# --- folders left by a killed import / synth; what import and synth may overwrite ------------------------------


def test_killed_synth_marks_the_folder_and_a_rerun_completes_it(tmp_path):
    out = tmp_path / "syn"
    args = [str(CROPEDGE), "data", "synth", "--out", str(out), "--samples-per-class", "100", "--quiet"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.glob("*.npz")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "synth finished before it could be killed"
    assert (out / "INCOMPLETE").is_file() and len(list(out.glob("*.npz"))) < 8
    _user_error("data", "info", out, match="did not finish")
    code, _, err = _run("data", "synth", "--out", out, "--samples-per-class", 100, "--quiet")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{r}.npz" for r in
                                                           ("ARG", "AUS", "BEL", "CHN", "FRA", "GBR", "NLD", "USA"))
    assert len(load_dataset(out)) > 0


def test_import_never_overwrites_its_input_or_files_it_did_not_make(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    np.savez(data / "FRA.npz", fea=_series(3), lbl=[0, 1, 2])  # a CropGlobe file, not written by cropedge
    before = (data / "FRA.npz").read_bytes()
    _user_error("data", "import", data / "FRA.npz", "--out", data, match="is the input")
    header = ["region", "label", *[f"{b}_t{t}" for b in S2_BANDS for t in range(YEAR_STEPS)]]
    csv_path = _write_rows(tmp_path / "t.csv", [["FRA", "corn", *_series(1)[0].ravel()]], header)
    _user_error("data", "import", csv_path, "--out", data, match="was not written by cropedge")
    _user_error("data", "synth", "--out", data, "--samples-per-class", 2, match="was not written by cropedge")
    assert (data / "FRA.npz").read_bytes() == before and sorted(p.name for p in data.iterdir()) == ["FRA.npz"]
    # what cropedge wrote is replaced by a rerun, and a killed write's leftovers are removed
    out = tmp_path / "mine"
    assert _run("data", "import", csv_path, "--out", out, "--quiet")[0] == 0
    (out / ".FRA.npz.k1ll3d.tmp.npz").touch()
    Dataset(x=_series(1), y=[0]).save_npz(out / "BEL.npz")  # another import's file: left alone
    assert _run("data", "import", csv_path, "--out", out, "--quiet")[0] == 0
    assert sorted(p.name for p in out.iterdir()) == ["BEL.npz", "FRA.npz"]
