"""``cropedge data synth | info | import`` end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from cropedge.cli import cli
from cropedge.data import S2_BANDS, YEAR_STEPS, load_dataset

FRANCE = "2023_FRA_LPIS_POLY_110.geoparquet"


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_import_csv_one_file_per_region(tmp_path, reflectance, write_csv):
    x = reflectance(6)
    x[0, 1, 3] = np.nan
    header = ["id", "country", "crop", *[f"{b}.{t}" for t in range(YEAR_STEPS) for b in S2_BANDS]]
    rows = [[f"p{i}", "FRA" if i < 4 else "BEL", "corn wheat".split()[i % 2], *x[i].T.ravel()] for i in range(6)]
    src = write_csv(tmp_path / "pixels.csv", header, rows)
    code, out, err = _run("data", "import", src, "--out", tmp_path / "npz", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["samples"] == 6 and report["values_filled"] == 1 and report["regions"] == {"BEL": 2, "FRA": 4}
    assert sorted(Path(f).name for f in report["files"]) == ["BEL.npz", "FRA.npz"]
    back = load_dataset(tmp_path / "npz")
    assert back.classes == ("corn", "wheat") and sorted(back.ids) == [f"p{i}" for i in range(6)]
    np.testing.assert_array_equal(back.x[back.ids == "p5"][0], x[5])


def test_import_worldcereal_reports_both_counts(tmp_path, worldcereal_dir):
    out = tmp_path / "fra"
    code, text, err = _run("data", "import", worldcereal_dir / FRANCE, "--out", out,
                           "--group", "south=30TYP+30TYT", "--group", "north=30UYU,30UYV")  # fmt: skip
    assert code == 0, err
    assert "317 of 500 read; 1 dropped (no valid value), 182 ignored by the legend" in text
    assert sorted(p.name for p in out.iterdir()) == ["north.npz", "south.npz"]
    code, text, _ = _run("data", "info", out, "--json")
    info = json.loads(text)
    assert info["samples"] == 317 and info["regions"] == {"north": 176, "south": 141}
    assert info["bands"] == list(S2_BANDS) and info["time_steps"] == YEAR_STEPS


def test_info_text(tmp_path, reflectance):
    np.savez(tmp_path / "AUS.npz", fea=reflectance(3), lbl=np.array([0, 0, 3]))
    code, text, _ = _run("data", "info", tmp_path / "AUS.npz")
    assert code == 0
    assert "samples    3 of 3 read" in text and "corn 2" in text and "wheat 1" in text
    assert "time steps 73 (day 1..361, every 5 days)" in text and "regions    1: AUS 3" in text


def test_synth_then_info(tmp_path):
    code, text, err = _run("data", "synth", "--out", tmp_path / "syn", "--samples-per-class", "2", "--seed", "1")
    assert code == 0, err
    regions = {p.stem for p in (tmp_path / "syn").glob("*.npz")}
    assert regions == {"ARG", "AUS", "BEL", "CHN", "FRA", "GBR", "NLD", "USA"}
    code, text, _ = _run("data", "info", tmp_path / "syn", "--json")
    assert code == 0 and len(json.loads(text)["regions"]) == 8


def test_console_script_error_is_one_line(tmp_path):
    exe = Path(sys.executable).with_name("cropedge")
    proc = subprocess.run([str(exe), "data", "info", str(tmp_path / "missing.npz")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    expected = f"cropedge: error: {tmp_path / 'missing.npz'}: no such file or folder; check the path"
    assert proc.stderr.strip().splitlines() == [expected]
