"""Bad input gives one clear line and exit status 2, and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cropedge.cli import cli
from cropedge.data import Dataset, load_dataset
from cropedge.data.grid import S2_BANDS, YEAR_STEPS
from cropedge.errors import CropEdgeError

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # no numpy warning around an error either
FRANCE = "2023_FRA_LPIS_POLY_110.geoparquet"


def _random(suffix: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / f"noise{suffix}"
        path.write_bytes(b"\xff\xfe\x00" + np.random.default_rng(0).bytes(4000))
        return path

    return make


def _empty(suffix: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        (tmp / f"empty{suffix}").touch()
        return tmp / f"empty{suffix}"

    return make


def _truncated_npz(tmp: Path) -> Path:
    Dataset(x=np.ones((50, 10, YEAR_STEPS)), y=np.zeros(50)).save_npz(tmp / "full.npz")
    data = (tmp / "full.npz").read_bytes()
    (tmp / "cut.npz").write_bytes(data[: len(data) // 2])
    return tmp / "cut.npz"


def _truncated_parquet(tmp: Path) -> Path:
    real = Path(__file__).resolve().parent / "worldcereal" / FRANCE
    data = real.read_bytes()
    (tmp / "cut.geoparquet").write_bytes(data[: len(data) // 2])
    return tmp / "cut.geoparquet"


def _csv(text: str, name: str = "t.csv") -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        (tmp / name).write_text(text)
        return tmp / name

    return make


def _npz(**arrays: np.ndarray) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        np.savez(tmp / "a.npz", **arrays)
        return tmp / "a.npz"

    return make


def _folder(tmp: Path) -> Path:
    (tmp / "folder.csv").mkdir()
    return tmp / "folder.csv"


BAND_MAJOR = ",".join(["label", *[f"{b}_t{t}" for b in S2_BANDS for t in range(4)]])
CASES = {
    "missing path": (lambda tmp: tmp / "nope.csv", [], "no such file or folder"),
    "folder given as file": (_folder, [], "is a folder"),
    "random .npz": (_random(".npz"), [], "not an .npz archive"),
    "truncated .npz": (_truncated_npz, [], "not a readable .npz archive"),
    "random .h5": (_random(".h5"), [], "not a readable HDF5"),
    "random .parquet": (_random(".parquet"), [], "not a readable Parquet"),
    "truncated .parquet": (_truncated_parquet, [], "not a readable Parquet"),
    "random .csv": (_random(".csv"), [], "not UTF-16 text"),  # starts with a UTF-16 byte-order mark
    "empty .csv": (_empty(".csv"), [], "is empty"),
    "empty .npz": (_empty(".npz"), [], "is empty"),
    "empty .h5": (_empty(".h5"), [], "is empty"),
    "empty .parquet": (_empty(".parquet"), [], "is empty"),
    "header only": (_csv(BAND_MAJOR + "\n"), [], "no data rows"),
    "no band columns": (_csv("id,lat,lon,label\n1,44.1,0.5,maize\n"), [], "no band columns"),
    "wrong band count": (_csv("label," + ",".join(f"f{i}" for i in range(729)) + "\n"), ["--layout", "band-major"],
                         "do not divide into 10 bands"),
    "npz with 9 bands": (_npz(fea=np.ones((2, 9, YEAR_STEPS)), lbl=[0, 1]), [], "9 bands but 10"),
    "missing label column": (_csv(BAND_MAJOR + "\n"), ["--label-col", "crop"], "no label column 'crop'"),
    "NaN everywhere": (_csv(BAND_MAJOR + "\n" + "a" + "," * 40 + "\n" + "b" + ",nan" * 40 + "\n"), [],
                       "none of the 2 samples has valid values"),
    "inf everywhere": (_npz(fea=np.full((3, 10, YEAR_STEPS), np.inf), lbl=[0, 1, 2]), [], "none of the 3 samples"),
    "time axis too short": (_csv("label,B2_t0,B2_t1,B3_t0,B3_t1\na,1,2,3,4\n"), [], "time axis too short"),
    "not a number": (_csv(BAND_MAJOR + "\na," + "1," * 20 + "cloud" + ",1" * 19 + "\n"), [],
                     "line 2, column B7_t0: 'cloud' is not a number"),
    "ragged row": (_csv(BAND_MAJOR + "\na,1,2\n"), [], "line 2 has 3 fields"),
    "unknown format": (_csv("a,b\n", name="t.xlsx"), [], "unknown data format '.xlsx'"),
    "doy not finite": (_npz(fea=np.ones((2, 10, 12)), lbl=[0, 1], doy=np.full(12, np.nan)), [], "12 finite numbers"),
    "one distinct date": (_npz(fea=np.ones((2, 10, 12)), lbl=[0, 1], doy=np.full(12, 5.0)), [], "1 distinct date"),
    "duplicate classes": (_npz(fea=np.ones((2, 10, YEAR_STEPS)), lbl=[0, 1], classes=np.array(["a", "a"])), [],
                          "class names must be distinct"),
    "labels beyond classes": (_npz(fea=np.ones((2, 10, YEAR_STEPS)), lbl=[1, 8]), [],
                              r"label\(s\) 8 are not indices of the 7 classes"),
    "option for another format": (_npz(fea=np.ones((2, 10, YEAR_STEPS)), lbl=[0, 1]), ["--layout", "time-major"],
                                  "--layout not used by cropglobe files; leave it out"),
}  # fmt: skip


def _options(args: list[str]) -> dict:
    return {a.lstrip("-").replace("-", "_"): v for a, v in zip(args[::2], args[1::2], strict=False)}


@pytest.mark.parametrize("case", CASES)
def test_library_raises_one_clear_line(tmp_path, case):
    make, args, message = CASES[case]
    path = make(tmp_path)
    with pytest.raises(CropEdgeError, match=message) as err:
        load_dataset(path, **_options(args)) if case != "folder given as file" else _import(path, tmp_path)
    assert "\n" not in str(err.value)


def _import(path: Path, tmp: Path) -> None:
    from cropedge.data import import_file

    import_file(path, tmp / "out")


@pytest.mark.parametrize("case", ["missing path", "folder given as file", "truncated .npz", "random .parquet",
                                  "empty .csv", "wrong band count", "missing label column", "NaN everywhere",
                                  "time axis too short", "option for another format"])  # fmt: skip
def test_cli_import_exits_2_and_writes_nothing(tmp_path, case):
    make, args, message = CASES[case]
    path = make(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["data", "import", str(path), "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cropedge: error:") and message in lines[0]
    assert not out.exists() or not any(out.iterdir())


def test_cli_info_on_folder_without_data(tmp_path):
    result = CliRunner().invoke(cli, ["data", "info", str(tmp_path)])
    assert result.exit_code == 2 and "no data files" in result.stderr
