"""Classify one file with a bundle: a pixel table (-> CSV/NPZ) or a GeoTIFF stack (-> class map).

The work itself is in ``cropedge.device.tables`` and ``cropedge.device.maps``; many stacks in
one call are ``cropedge.device.jobs``. Numpy, LiteRT and (for rasters) rasterio only; every
output appears whole or not at all.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cropedge.atomic import check_output as safe_output
from cropedge.data.geotiff import is_remote
from cropedge.device.maps import predict_raster
from cropedge.device.runtime import DEFAULT_BATCH, LiteModel
from cropedge.device.tables import TABLE_OUTPUTS, predict_table
from cropedge.errors import CropEdgeError

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt")


def is_raster(path: str | Path) -> bool:
    """Whether ``path`` names a raster stack (by its suffix) rather than a pixel table."""
    return Path(str(path)).suffix.lower() in RASTER_SUFFIXES


def check_output(out: Path, overwrite: bool, inputs: Sequence[Any] = ()) -> None:
    """Refuse to replace an existing ``out`` unless ``overwrite`` (as ``rio``'s ``--overwrite``).

    Never, even with ``overwrite``, an input or a file of a bundle, run or grid (``cropedge.atomic``).
    """
    safe_output(out, inputs=[p for p in inputs if isinstance(p, str | Path)])
    if out.exists() and not overwrite and out.is_file():
        raise CropEdgeError(f"{out} exists; pass --overwrite to replace it")


def predict_file(
    bundle: str | Path | LiteModel,
    input_path: str | Path,
    out: str | Path,
    *,
    batch_size: int = DEFAULT_BATCH,
    num_threads: int | None = None,
    probabilities: bool = False,
    confidence: bool = False,
    season_offset_days: float | str | None = None,
    bands: list[str] | None = None,
    dates: list[str] | None = None,
    mask: str | Path | None = None,
    overwrite: bool = True,
    progress: bool = False,
    data_options: Mapping[str, Any] | None = None,
) -> dict:
    """Classify ``input_path`` into ``out``; return a summary (counts, speed, runtime).

    GeoTIFF input (``.tif``/``.tiff``/``.vrt``, local or any path GDAL opens) gives a GeoTIFF
    class map; any table ``cropedge.data.load_dataset`` reads gives ``.csv`` or ``.npz``.
    ``season_offset_days``: days, ``"auto"`` or None (the bundle's). ``mask`` (rasters): a
    raster on the stack's grid, non-zero = classify. ``overwrite=False`` refuses an existing ``out``.
    ``data_options``: reader options for a table (``load_dataset``'s: layout, label_col, ...);
    ``bands`` names a stack's bands or, for a table, the bands to read (or of numbered columns).
    """
    out = Path(out)
    raster = is_raster(input_path)
    allowed = (".tif", ".tiff") if raster else TABLE_OUTPUTS
    if out.suffix.lower() not in allowed:
        kind = "a GeoTIFF stack" if raster else "a pixel table"
        raise CropEdgeError(f"--out {out}: for {kind} write {' or '.join(allowed)}")
    if not is_remote(input_path) and not Path(input_path).exists():
        raise CropEdgeError(f"{input_path}: no such file or folder")
    if raster and probabilities:
        raise CropEdgeError("--probabilities is for table output; a class map takes --confidence")
    if not raster and (dates or mask):
        raise CropEdgeError("--dates and --mask describe GeoTIFF stacks; tables carry their own dates")
    if raster and data_options:
        flags = ", ".join("--" + k.replace("_", "-") for k in data_options)
        raise CropEdgeError(f"{flags}: reader options of pixel tables; a GeoTIFF stack takes --bands and --dates")
    check_output(out, overwrite, inputs=[bundle, input_path, mask])
    model = bundle if isinstance(bundle, LiteModel) else LiteModel(bundle, num_threads=num_threads)
    start = time.perf_counter()
    if raster:
        summary = predict_raster(
            model, input_path, out, bands=bands, dates=dates, batch_size=batch_size, mask=mask,
            season_offset_days=season_offset_days, confidence=confidence, progress=progress,
        )
    else:
        summary = predict_table(
            model, Path(input_path), out, batch_size=batch_size, season_offset_days=season_offset_days,
            probabilities=probabilities, progress=progress,
            data_options={**(data_options or {}), **({"bands": bands} if bands else {})},
        )
    seconds = time.perf_counter() - start
    return {
        **summary,
        "input": str(input_path),
        "output": str(out),
        "model": model.metadata.label,
        "runtime": model.runtime_info,
        "threads": model.num_threads,
        "batch": batch_size,
        "seconds": seconds,
        "pixels_per_second": summary["pixels"] / seconds if seconds > 0 else float("nan"),
    }
