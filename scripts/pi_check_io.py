"""Inputs and verdict of ``scripts/pi_check.sh`` (host side, project environment).

python scripts/pi_check_io.py stack DATA.npz OUT.tif   # a GeoTIFF stack from a pixel table
python scripts/pi_check_io.py compare X86_DIR PI_DIR BUNDLES   # same predictions on both sides?
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np

WIDTH = 16  # pixels; the stack has as many full rows as the table fills (16 at most)
NODATA = 65535


def write_stack(data_path: Path, out: Path) -> None:
    """Write the table's first samples as a WIDTH-wide GeoTIFF stack to ``out``.

    One band per (date, band) on the 2023 year grid, described like ``B2_2023-01-01``; two
    pixels all nodata, one with a cloudy date.
    """
    import rasterio
    from affine import Affine

    from cropedge.data import load_dataset

    data = load_dataset(data_path)
    height = min(16, len(data) // WIDTH)
    x = np.rint(data.x[: height * WIDTH]).clip(0, NODATA - 1).astype(np.uint16)  # [N, bands, 73]
    x[[3, 100]] = NODATA
    x[50, :, 30] = NODATA
    dates = [dt.date(2023, 1, 1) + dt.timedelta(days=int(d) - 1) for d in data.doy]
    raster = x.reshape(height, WIDTH, len(data.bands), len(dates)).transpose(3, 2, 0, 1).reshape(-1, height, WIDTH)
    profile = dict(driver="GTiff", width=WIDTH, height=height, count=len(raster), dtype="uint16", nodata=NODATA,
                   crs="EPSG:32631", transform=Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 5600000.0))
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(raster)
        for i, (d, b) in enumerate((d, b) for d in dates for b in data.bands):
            dst.set_band_description(i + 1, f"{b}_{d.isoformat()}")


def _output_step(bundles: Path, name: str) -> float:
    """One quantum of the bundle's output (int8: its scale; float: rounding noise)."""
    meta = json.loads((bundles / name / "metadata.json").read_text())
    return float(meta["output"]["scale"]) or 1e-5


def compare(x86: Path, pi: Path, bundles: Path) -> bool:
    """Whether the Pi's outputs match the x86 reference ones, bundle by bundle.

    Float models must agree exactly (probabilities to rounding). Int8 kernels requantize
    differently on Arm and x86 (XNNPACK), so an int8 probability may move by one output step:
    a class may then differ only where x86 itself had a tie within that step.
    """
    import rasterio

    ok = True
    for ref in sorted(x86.glob("*.csv")):
        step = _output_step(bundles, ref.stem)
        a, b = list(csv.DictReader(ref.open())), list(csv.DictReader((pi / ref.name).open()))
        keys = [k for k in a[0] if k.startswith("p_")]
        pa = np.array([[float(r[k]) for k in keys] for r in a])
        pb = np.array([[float(r[k]) for k in keys] for r in b])
        ca, cb = pa.argmax(axis=1), pb.argmax(axis=1)
        rows = np.arange(len(pa))
        near_tie = pa[rows, ca] - pa[rows, cb] <= step + 1e-6
        diff = float(np.abs(pa - pb).max())
        good = pa.shape == pb.shape and diff <= step + 1e-6 and bool(near_tie.all())
        ok &= good
        print(f"{ref.name}: {(ca == cb).sum()}/{len(ca)} classes equal, the rest ties within one output step "
              f"({step:.2g}) on x86: {bool(near_tie.all())}; max probability difference {diff:.2g}")
    for ref in sorted(x86.glob("*.tif")):
        exact = _output_step(bundles, ref.stem) == 1e-5
        with rasterio.open(ref) as r, rasterio.open(pi / ref.name) as s:
            ka, kb, qa, qb = r.read(1), s.read(1), r.read(2).astype(int), s.read(2).astype(int)
            geo = r.transform == s.transform and r.crs == s.crs and r.colormap(1) == s.colormap(1)
        differ = ka != kb
        conf = int(np.abs(qa - qb).max())
        good = geo and ((ka == 255) == (kb == 255)).all() and conf <= (0 if exact else 1)
        good &= not differ.any() if exact else bool((np.abs(qa - qb)[differ] <= 1).all())
        ok &= good
        print(f"{ref.name}: {(~differ).sum()}/{ka.size} pixels equal, confidence within {conf}, "
              f"georeferencing and nodata equal: {geo}")
    return bool(ok)


if __name__ == "__main__":
    command, *paths = sys.argv[1:]
    if command == "stack":
        write_stack(*map(Path, paths))
    elif not compare(*map(Path, paths)):
        sys.exit("pi-check: arm64 predictions differ from x86")
