"""GeoTIFF stacks -> class maps, window by window, at the interpreter's speed.

Each window is read and prepared in a background thread while the interpreter classifies
the one before (rasterio, numpy and LiteRT release the GIL while they work), so reading,
resampling and quantizing overlap with the model instead of adding to it. Preparing a
window:

* pixels outside ``--mask``, and pixels with no valid observation, are set aside first:
  they become nodata without ever reaching the resampler or the model;
* a pixel observed on every date (most of a composite stack) goes from its stored values
  straight to quantized model input with one matrix product per band: year-grid
  resampling, gap filling at the season's ends, season shift and window cut
  (``GeoTiffStack.year_matrix``), normalisation and the int8 input scale fused;
* the other pixels go through the general year-grid resampler and gap filler, then the
  same fused normalisation and quantization.

The class map is written in the input's block layout (same tiles, or strips of the same
rows), so each output block is written once, whole. numpy, LiteRT and rasterio only.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from cropedge.atomic import atomic_path
from cropedge.data.grid import YEAR_STEPS, shift_season
from cropedge.device.runtime import DEFAULT_BATCH, LiteModel
from cropedge.device.season import season_offset
from cropedge.errors import CropEdgeError

if TYPE_CHECKING:  # annotations only: rasterio is imported when a stack is opened
    from rasterio.io import DatasetWriter
    from rasterio.windows import Window

    from cropedge.data.geotiff import GeoTiffStack

NODATA = 255
# uint8 confidence = round(probability x 254), so that 255 stays free for nodata
CONFIDENCE_SCALE = 254
# working memory of one raster window while it is read and prepared (two are in flight)
WINDOW_BYTES = 64 << 20
GDAL_CACHE_MB = 64
# pixels sampled over the stack to estimate its mean NDVI curve for --season-offset auto
AUTO_SAMPLE_PIXELS = 65536
AUTO_SAMPLE_WINDOWS = 16
# map colours (RGB) of the CropGlobe classes; other classes take FALLBACK_COLOURS in turn
CLASS_COLOURS = {
    "corn": (255, 211, 0),
    "soybeans": (38, 112, 0),
    "rice": (0, 168, 228),
    "wheat": (168, 112, 0),
    "sugarcane": (175, 255, 221),
    "cotton": (255, 38, 38),
    "other": (170, 170, 170),
}
FALLBACK_COLOURS = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)


def _blas_limiter() -> Any:
    """Threadpoolctl's limiter, or None without it.

    BLAS threads spinning beside the interpreter's threads made preparing input 10x slower
    on 2 cores; with one BLAS thread a matrix product is the fastest way, without control
    over BLAS numpy's own einsum loop is the safe one.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ModuleNotFoundError:
        return None
    return threadpool_limits


_ONE_BLAS_THREAD = _blas_limiter()


class WindowSink(Protocol):
    """Something that takes each window's classified pixels (per-field aggregation, for one)."""

    def add(self, window: Window, index: np.ndarray, ids: np.ndarray, probs: np.ndarray) -> None:
        """Take the class ids and probabilities of the pixels ``index`` (row-major in ``window``)."""


# -- preparing model input ----------------------------------------------------------------------


class InputPlan:
    """Stored observations or year-grid series -> the model's input tensor, fused in one pass.

    ``q = round(x * a[band] + c[band])`` is normalisation ``(x - mean) / std`` followed by
    int8 quantization ``x / scale + zero point`` (for a float model: scale 1, zero 0, no
    rounding). For complete pixels the year-grid map, season shift and window cut are
    folded in too: one [dates -> window] matrix per band.
    """

    def __init__(self, model: LiteModel, year_matrix: np.ndarray, season_offset_days: float) -> None:
        """Plan the input of ``model`` for a stack whose complete pixels map onto the year grid by ``year_matrix``."""
        self.model = model
        self.offset = float(season_offset_days)
        spec = model.metadata.input
        self.dtype = np.dtype(spec.dtype)
        self.quantized = self.dtype.kind in "iu" and spec.scale > 0
        scale = spec.scale if self.quantized else 1.0
        zero = spec.zero_point if self.quantized else 0.0
        mean = np.asarray(model.stats.mean, dtype=np.float64)
        std = np.asarray(model.stats.std, dtype=np.float64)
        self.a = (1.0 / (std * scale)).astype(np.float32)
        self.c = (zero - mean / (std * scale)).astype(np.float32)
        window = self._window(year_matrix)  # [dates, T]
        # [bands, T, dates]: each band's dates -> window map, scaled by its a
        self.matrix = (window.T[None] * self.a.astype(np.float64)[:, None, None]).astype(np.float32)

    def _window(self, year: np.ndarray) -> np.ndarray:
        """Season shift, then the model window, of year-grid values [..., 73]."""
        return self.model.window.cut(shift_season(year, self.offset))

    def _finish(self, y: np.ndarray) -> np.ndarray:
        """[n, bands, T] normalised (and scaled) float32 -> model input [n, bands, T, 1]."""
        y += self.c[:, None]
        if self.quantized:
            info = np.iinfo(self.dtype)
            np.rint(y, out=y)
            np.clip(y, info.min, info.max, out=y)
        return y.astype(self.dtype)[..., None]

    def from_observations(self, obs: np.ndarray) -> np.ndarray:
        """Complete pixels' stored values [bands, dates, n] -> model input [n, bands, T, 1]."""
        o = obs.transpose(2, 0, 1).astype(np.float32)  # [n, bands, dates], pixels innermost in memory
        if _ONE_BLAS_THREAD is not None:  # BLAS held to one thread: 2.5x numpy's own einsum loop
            y = np.matmul(o.transpose(1, 0, 2), self.matrix.transpose(0, 2, 1)).transpose(1, 0, 2)
            return self._finish(np.ascontiguousarray(y))
        return self._finish(np.einsum("nbd,btd->nbt", o, self.matrix))

    def from_year(self, year: np.ndarray) -> np.ndarray:
        """Year-grid series [n, bands, 73] (no NaN) -> model input [n, bands, T, 1]."""
        return self._finish(self._window(year) * self.a[:, None])


@dataclass
class Prepared:
    """One window ready for the model.

    Attributes:
        window: where it lies in the raster.
        index: row-major positions (in the window) of the pixels to classify.
        x: their model input [len(index), bands, T, 1].
        nodata: pixels with no usable series; masked: pixels outside the mask; filled: gap-filled values.
    """

    window: Any
    index: np.ndarray
    x: np.ndarray
    nodata: int
    masked: int
    filled: int


class MaskReader:
    """The part of a mask raster under each window of a stack (non-zero = classify).

    The mask must share the stack's CRS and pixel grid; it may be larger (a national
    cropland mask over many stacks): outside it nothing is classified.
    """

    def __init__(self, path: str | Path, stack: GeoTiffStack) -> None:
        """Open ``path`` and check that it lines up with ``stack``."""
        import rasterio

        try:
            self._src = rasterio.open(path)
        except rasterio.errors.RasterioIOError as exc:
            raise CropEdgeError(f"--mask {path}: not a readable raster ({' '.join(str(exc).split())})") from None
        src, t, m = self._src, stack.transform, self._src.transform
        if src.crs != stack.crs:
            self.close()
            raise CropEdgeError(f"--mask {path}: CRS {src.crs} is not the stack's ({stack.crs}); warp it first")
        col, row = ~m @ (t.c, t.f)
        aligned = (abs(m.a - t.a) <= 1e-9 * abs(t.a) and abs(m.e - t.e) <= 1e-9 * abs(t.e) and m.b == t.b == 0
                   and m.d == t.d == 0 and abs(col - round(col)) < 1e-6 and abs(row - round(row)) < 1e-6)
        if not aligned:
            self.close()
            raise CropEdgeError(
                f"--mask {path}: its pixels do not line up with the stack's ({m.a:g} x {-m.e:g} vs {t.a:g} x "
                f"{-t.e:g}, offset {col:.3f}, {row:.3f} pixels); resample it onto the stack's grid"
            )
        self._col, self._row = int(round(col)), int(round(row))
        self._nodata = src.nodata

    def read(self, window: Window) -> np.ndarray:
        """[pixels] bool, row-major: True where the mask says classify."""
        from rasterio.windows import Window

        at = Window(window.col_off + self._col, window.row_off + self._row, window.width, window.height)
        values = self._src.read(1, window=at, boundless=True, fill_value=0).ravel()
        keep = values != 0
        if self._nodata is not None:
            keep &= values != self._nodata
        return keep

    def close(self) -> None:
        """Close the mask raster."""
        self._src.close()


class WindowLoader:
    """Reads and prepares windows of one stack for one model (``load``), in any thread."""

    def __init__(self, stack: GeoTiffStack, model: LiteModel, season_offset_days: float,
                 mask: MaskReader | None = None) -> None:
        """Plan the input of ``model`` for ``stack``; ``mask`` limits the pixels classified."""
        self.stack, self.model, self.mask = stack, model, mask
        self.plan = InputPlan(model, stack.year_matrix, season_offset_days)

    def _selected(self, window: Window) -> np.ndarray | None:
        return None if self.mask is None else self.mask.read(window)

    def load(self, window: Window) -> Prepared:
        """Read ``window`` and prepare the model input of its classifiable pixels."""
        n = int(window.width) * int(window.height)
        keep = self._selected(window)
        masked = 0 if keep is None else int(n - keep.sum())
        if keep is not None and not keep.any():
            return Prepared(window, np.zeros(0, np.int64), self._empty(), 0, masked, 0)
        raw = self.stack.read_raw(window)
        bad = self.stack.missing(raw)  # [bands, dates, n]
        complete = ~bad.any(axis=(0, 1))
        has_data = ~bad.all(axis=1).any(axis=0)  # every band observed at least once
        if keep is not None:
            complete &= keep
            has_data &= keep
        gappy = np.flatnonzero(has_data & ~complete)
        full = np.flatnonzero(complete)
        parts, index, filled = [], [], 0
        if full.size:
            parts.append(self.plan.from_observations(raw[:, :, full] if full.size < n else raw))
            index.append(full)
        if gappy.size:
            year, filled = self.stack.year_series(raw[:, :, gappy])
            ok = np.isfinite(year).all(axis=(1, 2))
            if ok.any():
                parts.append(self.plan.from_year(year[ok]))
                index.append(gappy[ok])
        if not parts:
            return Prepared(window, np.zeros(0, np.int64), self._empty(), n - masked, masked, filled)
        idx = np.concatenate(index)
        return Prepared(window, idx, np.concatenate(parts) if len(parts) > 1 else parts[0], n - masked - idx.size,
                        masked, filled)

    def series(self, window: Window, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Year-grid series of the pixels ``keep`` (row-major bool) of ``window`` that have a usable series.

        Returns their positions in the window and the series [n, bands, 73] float64 (no
        model input is made: per-field mean series are classified after aggregation).
        """
        if self.mask is not None:
            keep = keep & self.mask.read(window)
        cols = np.flatnonzero(keep)
        if not cols.size:
            return cols, np.zeros((0, len(self.model.bands), YEAR_STEPS))
        raw = self.stack.read_raw(window)[:, :, cols]
        bad = self.stack.missing(raw)
        complete = ~bad.any(axis=(0, 1))
        year = np.empty((cols.size, len(self.model.bands), YEAR_STEPS))
        year[complete] = raw[:, :, complete].transpose(2, 0, 1) @ self.stack.year_matrix
        if (~complete).any():
            year[~complete] = self.stack.year_series(raw[:, :, ~complete])[0]
        ok = np.isfinite(year).all(axis=(1, 2))
        return cols[ok], year[ok]

    def _empty(self) -> np.ndarray:
        return np.zeros((0, len(self.model.bands), self.model.window.length, 1), dtype=self.plan.dtype)

    def year_sample(self, windows: list[Window], max_pixels: int = AUTO_SAMPLE_PIXELS) -> np.ndarray:
        """Year-grid series [n, bands, 73] of up to ``max_pixels`` valid pixels spread over ``windows``."""
        pick = windows if len(windows) <= AUTO_SAMPLE_WINDOWS else [
            windows[i] for i in np.linspace(0, len(windows) - 1, AUTO_SAMPLE_WINDOWS).round().astype(int)]
        per_window = max(1, max_pixels // len(pick))
        out = []
        for window in pick:
            raw = self.stack.read_raw(window)
            keep = self._selected(window)
            cols = np.flatnonzero(keep) if keep is not None else np.arange(raw.shape[2])
            cols = cols[:: max(1, len(cols) // per_window)]
            if cols.size:
                year, _ = self.stack.year_series(raw[:, :, cols])
                out.append(year[np.isfinite(year).all(axis=(1, 2))])
        return np.concatenate(out) if out else np.zeros((0, len(self.model.bands), YEAR_STEPS), np.float32)


# -- running the model ---------------------------------------------------------------------------


def classify(model: LiteModel, x: np.ndarray, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
    """Probabilities [n, classes] of prepared model input [n, bands, T, 1], ``batch_size`` per invoke.

    A short last batch is padded to a power of two, so only a few tensor sizes are allocated.
    """
    n = len(x)
    probs = np.empty((n, len(model.classes)), dtype=np.float32)
    for start in range(0, n, batch_size):
        part = x[start : start + batch_size]
        size = len(part)
        if size < batch_size:
            padded = np.zeros((min(batch_size, 1 << (size - 1).bit_length()), *part.shape[1:]), dtype=part.dtype)
            padded[:size] = part
            part = padded
        probs[start : start + size] = model.invoke(part)[:size]
    return probs


def prefetch(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """Yield from ``items``, computed ``depth`` ahead in a background thread (its errors re-raised here)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put((True, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((True, done))
        except BaseException as exc:  # handed to the consumer, which raises it
            q.put((False, exc))

    thread = threading.Thread(target=work, name="cropedge-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is done:
                return
            yield item
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                q.get_nowait()
        thread.join()


# -- the map -------------------------------------------------------------------------------------


def bounded_gdal_cache() -> contextlib.AbstractContextManager[Any]:
    """Cap GDAL's block cache (a no-op context when rasterio is missing).

    Each block is read once, so a large default cache only grows peak memory with the
    raster size (measured: 1.4 GB vs 0.3 GB on a 2048 x 2048 stack).
    """
    try:
        import rasterio
    except ModuleNotFoundError:  # GeoTiffStack says how to install it
        return contextlib.nullcontext()
    return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB)


def window_pixels(stack: GeoTiffStack, model: LiteModel, batch_size: int) -> int:
    """Pixels per window that keep two windows in flight within ``WINDOW_BYTES`` each."""
    bands, dates, steps = len(model.bands), len(stack.doy), model.window.length
    # stored values, their float32 copy and missing mask, the float32 product and the model input;
    # pixels with gaps take the year grid and its temporaries on top
    per_pixel = bands * (dates * 7 + steps * 9) + bands * YEAR_STEPS * 4 * 3
    return max(batch_size, WINDOW_BYTES // per_pixel)


def output_profile(stack: GeoTiffStack, count: int, height: int) -> dict:
    """The class map's GeoTIFF profile: the stack's grid and block layout, uint8, deflate."""
    profile = {
        "driver": "GTiff", "dtype": "uint8", "count": count, "width": stack.width, "height": height,
        "crs": stack.crs, "transform": stack.transform, "nodata": NODATA, "compress": "deflate",
    }
    rows, cols = stack.block_shape
    if stack.tiled and rows % 16 == 0 and cols % 16 == 0:
        profile.update(tiled=True, blockxsize=cols, blockysize=rows)
    elif stack.tiled:  # tiles GeoTIFF cannot store (a VRT's, say): the usual 256
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    else:
        profile.update(blockysize=rows)
    return profile


@dataclass
class MapSummary:
    """What classifying one stack (or a share of its rows) did."""

    classes: tuple[str, ...]
    pixels: int = 0
    nodata: int = 0
    masked: int = 0
    filled: int = 0
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    season_offset: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {
            "pixels": self.pixels, "nodata": self.nodata, "masked": self.masked, "filled": self.filled,
            "class_counts": {c: int(k) for c, k in zip(self.classes, self.counts, strict=True)},
            "season_offset": self.season_offset, "seconds": self.seconds,
        }


def predict_raster(
    model: LiteModel,
    input_path: str | Path,
    out: str | Path,
    *,
    bands: list[str] | None = None,
    dates: list[str] | None = None,
    batch_size: int = DEFAULT_BATCH,
    season_offset_days: float | str | None = None,
    confidence: bool = False,
    mask: str | Path | None = None,
    rows: tuple[int, int] | None = None,
    sink: WindowSink | None = None,
    tags: Callable[[dict], dict] | None = None,
    progress: bool = False,
    max_pixels: int | None = None,
) -> dict:
    """Classify a GeoTIFF stack window by window into a uint8 class map (255 = nodata).

    The output keeps the input's size, CRS, transform and block layout, carries a colour
    table and the class names (band description and ``CLASS_<id>`` tags), and with
    ``confidence`` a second band: round(probability x 254), with the GDAL scale 1/254 so
    readers see probabilities. ``mask``: a raster on the stack's grid, non-zero = classify
    (the rest is nodata). ``rows`` = (first, stop): classify only those rows into ``out``
    (its transform moved to them). ``sink`` also gets every window's classified pixels;
    ``tags(summary)`` gives more dataset tags, written before the map is renamed into place.
    ``season_offset_days``: days, ``"auto"`` or None (the bundle's).
    """
    from cropedge.data.geotiff import GeoTiffStack

    if len(model.classes) >= NODATA:
        raise CropEdgeError(f"{len(model.classes)} classes do not fit a uint8 class map with nodata {NODATA}")
    start = time.perf_counter()
    with contextlib.ExitStack() as stack_ctx:
        stack_ctx.enter_context(bounded_gdal_cache())
        if _ONE_BLAS_THREAD is not None:
            stack_ctx.enter_context(_ONE_BLAS_THREAD(1, "blas"))
        stack = stack_ctx.enter_context(GeoTiffStack(input_path, model.bands, bands, dates))
        import rasterio
        from rasterio.windows import Window

        first, stop = rows if rows is not None else (0, stack.height)
        mask_reader = MaskReader(mask, stack) if mask is not None else None
        if mask_reader is not None:
            stack_ctx.callback(mask_reader.close)
        loader = WindowLoader(stack, model, 0.0, mask_reader)
        max_pixels = max_pixels or window_pixels(stack, model, batch_size)
        windows = list(stack.windows(max_pixels, (first, stop)))
        offset = season_offset(model, season_offset_days, lambda: loader.year_sample(windows))
        model.check_dates(stack.doy, offset["days"])
        loader = WindowLoader(stack, model, offset["days"], mask_reader)
        summary = MapSummary(model.classes, counts=np.zeros(len(model.classes), np.int64), season_offset=offset)
        profile = output_profile(stack, 2 if confidence else 1, stop - first)
        profile["transform"] = stack.transform @ rasterio.Affine.translation(0, first)
        out = Path(out)
        with atomic_path(out, suffix=out.suffix) as tmp:
            with rasterio.open(tmp, "w", **profile) as dst, _progress_bar(stop - first, progress) as bar:
                for prepared in prefetch(loader.load(w) for w in windows):
                    w = prepared.window
                    n = int(w.width) * int(w.height)
                    class_map = np.full(n, NODATA, dtype=np.uint8)
                    conf = np.full(n, NODATA, dtype=np.uint8) if confidence else None
                    if prepared.index.size:
                        probs = classify(model, prepared.x, batch_size)
                        ids = probs.argmax(axis=1)
                        class_map[prepared.index] = ids
                        if conf is not None:
                            conf[prepared.index] = np.rint(probs.max(axis=1) * CONFIDENCE_SCALE)
                        summary.counts += np.bincount(ids, minlength=len(model.classes))
                        if sink is not None:
                            sink.add(w, prepared.index, ids, probs)
                    at = Window(w.col_off, w.row_off - first, w.width, w.height)
                    shape = (int(w.height), int(w.width))
                    dst.write(class_map.reshape(shape), 1, window=at)
                    if conf is not None:
                        dst.write(conf.reshape(shape), 2, window=at)
                    summary.nodata += prepared.nodata
                    summary.masked += prepared.masked
                    summary.filled += prepared.filled
                    if int(w.col_off + w.width) == stack.width:
                        bar.update(int(w.height))
                summary.pixels = int(summary.counts.sum())
                summary.seconds = time.perf_counter() - start
                result = summary.to_dict()
                describe(dst, model, confidence, tags(result) if tags is not None else {})
            check_written(tmp, out)
    return result


def check_written(tmp: Path, out: Path) -> None:
    """Read a finished map back whole: GDAL only logs a write that failed at close (a full disk, ``ulimit -f``)."""
    import rasterio

    try:
        with rasterio.open(tmp) as src:
            for band in src.indexes:
                src.checksum(band)
    except (rasterio.errors.RasterioError, OSError) as exc:
        raise CropEdgeError(
            f"cannot write {out}: the map was not written whole ({exc}); free some space (or raise the file-size "
            "limit) and run the same command again"
        ) from None


def _progress_bar(total: int, enabled: bool) -> Any:
    from cropedge.console import Progress

    # a bar on a terminal; in a log, a line of rows done every half minute (none for a small map)
    return Progress(total, "row", "map", enabled=enabled, heartbeat=30)


def class_colours(classes: tuple[str, ...]) -> dict[int, tuple[int, int, int, int]]:
    """Colour table: known crops in their usual colours, the rest from a qualitative palette."""
    table, spare = {}, 0
    for i, name in enumerate(classes):
        rgb = CLASS_COLOURS.get(name.lower())
        if rgb is None:
            rgb, spare = FALLBACK_COLOURS[spare % len(FALLBACK_COLOURS)], spare + 1
        table[i] = (*rgb, 255)
    table[NODATA] = (0, 0, 0, 0)
    return table


def describe(dst: DatasetWriter, model: LiteModel, confidence: bool, tags: dict | None = None) -> None:
    """Colour table, class names and provenance in the GeoTIFF itself (no sidecar files)."""
    dst.write_colormap(1, class_colours(model.classes))
    dst.set_band_description(1, "class")
    dst.update_tags(1, **{f"CLASS_{i}": c for i, c in enumerate(model.classes)}, CLASS_NAMES=",".join(model.classes))
    if confidence:
        dst.set_band_description(2, "confidence")
        dst.scales = (1.0, 1.0 / CONFIDENCE_SCALE)
    dst.update_tags(
        MODEL=model.metadata.label,
        MODEL_SHA256=model.metadata.sha256,
        RUNTIME=f"{model.runtime_info['runtime']} {model.runtime_info['version']}",
        **(tags or {}),
    )

