"""GeoTIFF stacks: one raster band per (spectral band, date), read window by window.

Windows are read onto the year grid, so a whole tile never has to fit in memory.

Which band and date each raster band holds comes from the raster band descriptions,
named like table columns (``B2_2023-04-01``, ``2023-04-01.B2``, ``20230401_B02``; see
``cropedge.data.columns``), or from the caller: ``bands`` and ``dates`` with the raster
bands in date-major order (all bands of the first date, then the next date, ...).
Values are surface reflectance DN (x 10 000); the file's nodata value, 65535 and NaN
mark missing observations. rasterio is imported only here, when a stack is opened.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cropedge.data.build import mask_nodata
from cropedge.data.columns import band_name, find_feature_columns
from cropedge.data.grid import fill_gaps, resample_to_year_grid
from cropedge.errors import CropEdgeError

if TYPE_CHECKING:  # annotations only: rasterio is imported when a stack is opened
    from rasterio.windows import Window


def names_from_args(bands: Sequence[str], dates: Sequence[str], count: int, origin: str) -> list[str]:
    """``B2_2023-04-01``-style names of ``count`` raster bands stacked date-major."""
    for b in bands:
        if band_name(b) is None:
            raise CropEdgeError(f"--bands: '{b}' is not a Sentinel-2 band name like B2, B8A or B11")
    days = []
    for d in dates:
        try:
            days.append(dt.date.fromisoformat(d.strip()))
        except ValueError:
            raise CropEdgeError(f"--dates: '{d}' is not a date like 2023-04-01") from None
    if len(bands) * len(days) != count:
        raise CropEdgeError(
            f"{origin}: {count} raster bands, but {len(bands)} bands x {len(days)} dates = "
            f"{len(bands) * len(days)}; list every band and every date of the stack"
        )
    return [f"{band_name(b)}_{d.isoformat()}" for d in days for b in bands]


class GeoTiffStack:
    """A multi-date GeoTIFF opened lazily, read as year-grid series; use as a context manager.

    Args:
        path: the GeoTIFF.
        keep: the bands to read, in this order (a model's bands).
        bands, dates: the stack's bands and dates (date-major); None to read both from
            the raster band descriptions.

    Attributes:
        bands: ``keep``; dates: datetime64 of each time step used (one season: a stack
        longer than a year keeps the year with most dates), None for numbered steps;
        doy: day of the year of each step (over 365 when the season crosses a new year);
        profile, width, height: of the raster.
    """

    def __init__(
        self,
        path: str | Path,
        keep: Sequence[str],
        bands: Sequence[str] | None = None,
        dates: Sequence[str] | None = None,
    ) -> None:
        """Open ``path`` and find the raster bands of ``keep`` (arguments as in the class docstring)."""
        try:
            import rasterio
        except ModuleNotFoundError:
            raise CropEdgeError('reading GeoTIFF needs rasterio: pip install "cropedge[geo]"') from None
        self.path = Path(path)
        if not self.path.is_file():
            raise CropEdgeError(f"{self.path}: no such file")
        try:
            self._src = rasterio.open(self.path)
        except rasterio.errors.RasterioIOError as exc:
            raise CropEdgeError(f"{self.path}: not a readable raster ({' '.join(str(exc).split())})") from None
        try:
            features = find_feature_columns(self._band_names(bands, dates), bands=keep, what=str(self.path))
        except CropEdgeError:
            self._src.close()
            raise
        self.bands = features.bands
        self.dates = features.dates
        self.doy = features.doy
        self._indexes = (features.columns + 1).ravel().tolist()  # rasterio counts bands from 1
        self._nodata = sorted({v for v in self._src.nodatavals if v is not None and not np.isnan(v)})
        self.profile = self._src.profile
        self.width, self.height = self._src.width, self._src.height

    def _band_names(self, bands: Sequence[str] | None, dates: Sequence[str] | None) -> list[str]:
        if bands or dates:
            if not (bands and dates):
                raise CropEdgeError("give both --bands and --dates (raster bands stacked date-major), or neither")
            return names_from_args(bands, dates, self._src.count, str(self.path))
        names = [d or "" for d in self._src.descriptions]
        if not any(band_name(n) for n in names):
            raise CropEdgeError(
                f"{self.path}: the {self._src.count} raster bands have no band/date descriptions "
                "(like B2_2023-04-01); give --bands and --dates (raster bands stacked date-major)"
            )
        return names

    def __enter__(self) -> GeoTiffStack:
        """Return the stack itself."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the raster, whatever ended the block."""
        self.close()

    def close(self) -> None:
        """Close the raster file."""
        self._src.close()

    def windows(self, max_pixels: int) -> Iterator[Window]:
        """Windows of at most ``max_pixels`` pixels (one row at least) covering the raster.

        They come as rasterio ``Window`` objects in the file's block order, so that every
        compressed block is decoded once: row strips of whole block rows for a striped file,
        parts of one tile at a time for a tiled one.
        """
        from rasterio.windows import Window

        block_rows, block_cols = self._src.block_shapes[0]
        if block_cols >= self.width:
            blocks = [Window(0, 0, self.width, self.height)]
        else:
            blocks = [w for _, w in self._src.block_windows(1)]
        for block in blocks:
            width, height = int(block.width), int(block.height)
            rows = max(1, max_pixels // width)
            if rows >= block_rows:
                rows -= rows % block_rows
            for top in range(0, height, rows):
                yield Window(block.col_off, block.row_off + top, width, min(rows, height - top))

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray, int]:
        """Read the pixels of ``window`` (row-major) as year-grid series.

        Returns the series [N, bands, 73] with gaps filled, a [N] mask of pixels with data
        everywhere (the rest hold NaN), and how many values were filled.
        """
        raw = self._src.read(self._indexes, window=window, out_dtype=np.float32)
        n = raw.shape[1] * raw.shape[2]
        obs = mask_nodata(raw.reshape(len(self.bands), -1, n).transpose(2, 0, 1), self._nodata)
        x, n_filled = fill_gaps(resample_to_year_grid(obs, self.doy))
        return x, np.isfinite(x).all(axis=(1, 2)), n_filled
