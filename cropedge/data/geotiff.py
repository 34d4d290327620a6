"""GeoTIFF stacks: one raster band per (spectral band, date), read window by window.

Windows are read onto the year grid, so a whole tile never has to fit in memory.

Which band and date each raster band holds comes from the raster band descriptions,
named like table columns (``B2_2023-04-01``, ``2023-04-01.B2``, ``20230401_B02``; see
``cropedge.data.columns``), or from the caller: ``bands`` and ``dates`` with the raster
bands in date-major order (all bands of the first date, then the next date, ...).
Values are surface reflectance DN (x 10 000); the file's nodata value, 65535 and NaN
mark missing observations. rasterio is imported only here, when a stack is opened.

Every pixel of a stack shares its dates, so for a pixel observed on all of them the way
onto the year grid (resampling, then filling the grid steps outside the stack's dates) is
one fixed linear map: ``GeoTiffStack.year_matrix``, made by the same ``resample_to_year_grid``
and ``fill_gaps`` that a pixel with gaps goes through.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cropedge.data.build import ALWAYS_NODATA, describe_error, mask_nodata
from cropedge.data.columns import find_feature_columns, parse_bands
from cropedge.data.grid import fill_gaps, resample_to_year_grid
from cropedge.errors import CropEdgeError

if TYPE_CHECKING:  # annotations only: rasterio is imported when a stack is opened
    from rasterio.windows import Window

# paths GDAL opens without a local file: /vsicurl/..., s3://..., https://...
_REMOTE = re.compile(r"^(/vsi[a-z0-9_]+/|[a-z][a-z0-9+.-]*://)", re.IGNORECASE)


def is_remote(path: str | Path) -> bool:
    """Whether ``path`` names a GDAL virtual or remote file (``/vsicurl/``, ``s3://``) rather than a local one."""
    return bool(_REMOTE.match(str(path)))


def names_from_args(bands: Sequence[str], dates: Sequence[str], count: int, origin: str) -> list[str]:
    """``B2_2023-04-01``-style names of ``count`` raster bands stacked date-major.

    Any band names: Sentinel-2's made canonical (``B02`` -> ``B2``), others (``VV``, ``NDVI``,
    ``SR_B5``) as written; the bundle checks them against its own at prediction.
    """
    names = parse_bands(bands)
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
    return [f"{b}_{d.isoformat()}" for d in days for b in names]


class GeoTiffStack:
    """A multi-date GeoTIFF opened lazily, read as year-grid series; use as a context manager.

    Args:
        path: the GeoTIFF (a local path, or any path GDAL opens: ``/vsicurl/...``, ``s3://...``).
        keep: the bands to read, in this order (a model's bands).
        bands, dates: the stack's bands and dates (date-major); None to read both from
            the raster band descriptions.

    Attributes:
        bands: ``keep``; dates: datetime64 of each time step used (one season: a stack
        longer than a year keeps the year with most dates), None for numbered steps;
        doy: day of the year of each step (over 365 when the season crosses a new year);
        profile, width, height, crs, transform: of the raster.
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
        self.path = path if is_remote(path) else Path(path)
        if isinstance(self.path, Path) and not self.path.is_file():
            raise CropEdgeError(f"{self.path}: no such file")
        try:
            self._src = rasterio.open(self.path)
        except rasterio.errors.RasterioIOError as exc:
            raise CropEdgeError(f"{self.path}: not a readable raster ({describe_error(exc)})") from None
        try:
            self._check_dtype()
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
        self.crs, self.transform = self._src.crs, self._src.transform
        self.block_shape = tuple(self._src.block_shapes[0])
        self.tiled = self.block_shape[1] < self.width

    def _check_dtype(self) -> None:
        """Refuse raster types that are not real numbers (complex SAR products, for one)."""
        for dtype in set(self._src.dtypes):
            if np.dtype(dtype).kind not in "uif":
                raise CropEdgeError(
                    f"{self.path}: raster type {dtype} is not real-valued reflectance; "
                    "give a stack of integer or floating-point bands (for complex data, write its amplitude first)"
                )

    def _band_names(self, bands: Sequence[str] | None, dates: Sequence[str] | None) -> list[str]:
        if bands or dates:
            if not (bands and dates):
                raise CropEdgeError("give both --bands and --dates (raster bands stacked date-major), or neither")
            return names_from_args(bands, dates, self._src.count, str(self.path))
        names = [d or "" for d in self._src.descriptions]
        if not any(names):
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

    def windows(self, max_pixels: int, rows: tuple[int, int] | None = None) -> Iterator[Window]:
        """Windows of at most ``max_pixels`` pixels (one row at least) covering the raster.

        They come as rasterio ``Window`` objects in the file's block order, so that every
        compressed block is decoded once: row strips of whole block rows for a striped file,
        parts of one tile at a time for a tiled one. ``rows`` = (first, stop) limits them
        to those raster rows (a share of the raster for one worker).
        """
        from rasterio.windows import Window

        first, stop = rows if rows is not None else (0, self.height)
        block_rows, _ = self.block_shape
        if not self.tiled:
            blocks = [Window(0, first, self.width, stop - first)]
        else:
            blocks = [w.intersection(Window(0, first, self.width, stop - first))
                      for _, w in self._src.block_windows(1) if first < w.row_off + w.height and w.row_off < stop]
        for block in blocks:
            width, height = int(block.width), int(block.height)
            rows_per = max(1, max_pixels // width)
            if rows_per >= block_rows:
                rows_per -= rows_per % block_rows
            for top in range(0, height, rows_per):
                yield Window(block.col_off, block.row_off + top, width, min(rows_per, height - top))

    def read_raw(self, window: Window) -> np.ndarray:
        """The stored values of ``window``: [bands, dates, pixels] in the file's type, pixels row-major.

        A block the file cannot decode (damaged compressed data) is a ``CropEdgeError``.
        """
        import rasterio

        try:
            raw = self._src.read(self._indexes, window=window)
        except rasterio.errors.RasterioError as exc:
            cause = exc.__cause__ or exc.__context__ or exc  # GDAL's own message, not rasterio's "see previous"
            raise CropEdgeError(
                f"{self.path}: rows {int(window.row_off)}..{int(window.row_off + window.height) - 1} cannot be "
                f"read ({describe_error(cause)}); the file is damaged: copy or write it again"
            ) from None
        return raw.reshape(len(self.bands), -1, raw.shape[1] * raw.shape[2])

    def missing(self, raw: np.ndarray) -> np.ndarray:
        """Where ``raw`` (from ``read_raw``) holds no observation: nodata values, 65535, NaN and inf."""
        bad = ~np.isfinite(raw) if raw.dtype.kind == "f" else np.zeros(raw.shape, dtype=bool)
        info = np.finfo(raw.dtype) if raw.dtype.kind == "f" else np.iinfo(raw.dtype)
        for value in {ALWAYS_NODATA, *self._nodata}:
            # a value the type cannot hold is never stored
            if info.min <= value <= info.max and (raw.dtype.kind == "f" or float(value).is_integer()):
                bad |= raw == raw.dtype.type(value)
        return bad

    def year_series(self, raw: np.ndarray) -> tuple[np.ndarray, int]:
        """Year-grid series [pixels, bands, 73] of ``raw`` values with gaps, and how many grid values were filled.

        Pixels with no valid value in some band stay NaN.
        """
        obs = mask_nodata(raw.transpose(2, 0, 1), self._nodata)
        return fill_gaps(resample_to_year_grid(obs, self.doy))

    @cached_property
    def year_matrix(self) -> np.ndarray:
        """[dates, 73] float64: the year-grid series of a pixel observed on every date is ``obs @ year_matrix``.

        Made by passing each unit series through ``resample_to_year_grid`` and ``fill_gaps``:
        both are linear in the observations when none is missing.
        """
        eye = np.eye(len(self.doy), dtype=np.float32)[:, None, :]
        year, _ = fill_gaps(resample_to_year_grid(eye, self.doy))
        return year[:, 0, :].astype(np.float64)

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray, int]:
        """Read the pixels of ``window`` (row-major) as year-grid series.

        Returns the series [N, bands, 73] with gaps filled, a [N] mask of pixels with data
        everywhere (the rest hold NaN), and how many values were filled.
        """
        x, n_filled = self.year_series(self.read_raw(window))
        return x, np.isfinite(x).all(axis=(1, 2)), n_filled
