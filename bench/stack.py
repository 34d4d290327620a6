"""Synthetic GeoTIFF stacks for the map and memory sections.

A square image whose pixels are synthetic crop series, stored like a user's stack (one
raster band per band and date, date-major, descriptions ``B2_2023-05-01``), written strip
by strip in bounded memory.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

# every 10 days over the whole year (day 1..361): a year of 10-day composites, what a model trained
# on the whole-year window (the default) needs
STACK_DOY = np.arange(1, 362, 10)
YEAR = 2023


def write_stack(path: Path, size: int, x_year: np.ndarray, bands: tuple[str, ...], seed: int = 0) -> Path:
    """Write a ``size`` x ``size`` uint16 GeoTIFF whose pixels are random picks from ``x_year``.

    Args:
        path: output .tif.
        size: width and height in pixels.
        x_year: source series [N, bands, 73] on the year grid (reflectance DN).
        bands: band names of ``x_year``.
        seed: which series land on which pixel.
    """
    import rasterio
    from rasterio.transform import from_origin

    from cropedge.data.grid import YEAR_DOY

    # year grid -> the stack's dates, by linear interpolation along time
    obs = np.stack([np.stack([np.interp(STACK_DOY, YEAR_DOY, s) for s in px]) for px in x_year[:512]])
    obs = np.clip(np.rint(obs), 0, 65534).astype(np.uint16)  # [n, bands, dates]
    dates = [dt.date(YEAR, 1, 1) + dt.timedelta(days=int(d) - 1) for d in STACK_DOY]
    count = len(bands) * len(dates)
    profile = {"driver": "GTiff", "width": size, "height": size, "count": count, "dtype": "uint16",
               "crs": "EPSG:32631", "transform": from_origin(500000, 5000000, 10, 10), "nodata": 65535,
               "tiled": False, "blockysize": 16, "interleave": "pixel"}
    rng = np.random.default_rng(seed)
    rows = max(1, (64 << 20) // (size * count * 2))  # ~64 MiB per strip written
    with rasterio.open(path, "w", **profile) as dst:
        for i, (b, d) in enumerate((b, d) for d in dates for b in bands):
            dst.set_band_description(i + 1, f"{b}_{d.isoformat()}")
        for top in range(0, size, rows):
            h = min(rows, size - top)
            pick = obs[rng.integers(0, len(obs), size=h * size)]  # [h*size, bands, dates]
            block = pick.transpose(2, 1, 0).reshape(count, h, size)  # date-major raster bands
            dst.write(block, window=rasterio.windows.Window(0, top, size, h))
    return path
