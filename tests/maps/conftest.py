"""Map-production fixtures: the device tests' bundles, and small georeferenced stacks side by side.

The maps tests share the device tests' xdist group, so one worker builds the bundles once.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from device.conftest import bundles, reflectance  # noqa: F401 (the device tests' bundles fixture, shared)

from cropedge.data.grid import S2_BANDS

HERE = Path(__file__).resolve().parent
DATES = [dt.date(2023, 1, 15) + dt.timedelta(days=30 * k) for k in range(12)]
ORIGIN = (600000.0, 5000000.0)
CRS = "EPSG:32631"


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if HERE in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.xdist_group("device"))


def transform_of(column: int, pixel: float = 10.0) -> Affine:
    """The transform of a stack whose first column is ``column`` of a common 10 m grid."""
    return Affine(pixel, 0.0, ORIGIN[0] + column * pixel, 0.0, -pixel, ORIGIN[1])


def write_stack(path: Path, height: int, width: int, column: int = 0, seed: int = 0) -> Path:
    """A uint16 stack of monthly BEL series (nodata 0, a few empty pixels), columns from ``column`` on."""
    doy = np.array([(d - dt.date(2023, 1, 1)).days + 1 for d in DATES])
    x = reflectance(height * width, seed=seed)[:, :, np.clip(np.rint((doy - 1) / 5).astype(int), 0, 72)]
    x = np.rint(x)
    x[:: max(1, height * width // 5)] = 0  # pixels without any observation
    x[1, :, 3] = 0  # a cloudy date
    data = x.reshape(height, width, len(S2_BANDS), len(DATES)).transpose(3, 2, 0, 1).reshape(-1, height, width)
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=len(data), dtype="uint16",
                       crs=CRS, transform=transform_of(column), nodata=0, compress="deflate") as dst:
        dst.write(data.astype(np.uint16))
        for i, (d, b) in enumerate((d, b) for d in DATES for b in S2_BANDS):
            dst.set_band_description(i + 1, f"{b}_{d}")
    return path


def read_map(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()
