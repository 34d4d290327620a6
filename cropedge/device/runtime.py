"""Device inference: a bundle in, class ids and probabilities out.

Only numpy and a TFLite interpreter: LiteRT (``ai_edge_litert``), else the older
``tflite_runtime``, and TensorFlow's ``tf.lite`` only as a last resort, so a
``pip install "cropedge[device]"`` on a Raspberry Pi never needs (or imports) TensorFlow.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cropedge.console import native_quiet
from cropedge.data.grid import STEP_DAYS, YEAR_DOY, YEAR_STEPS
from cropedge.data.matching import check_model_input, labels_by_name
from cropedge.data.prepare import prepare_input
from cropedge.device.bundle import Bundle, load_bundle
from cropedge.errors import CropEdgeError

if TYPE_CHECKING:  # annotations only: inference itself never needs the dataset class
    from cropedge.data.dataset import Dataset

# (distribution, module) in order of preference; tf.lite comes after these
_RUNTIMES = (
    ("ai-edge-litert", "ai_edge_litert.interpreter"),
    ("tflite-runtime", "tflite_runtime.interpreter"),
)
DEFAULT_BATCH = 1024
# how far a day of the model window may be from the nearest observation (cloudy spells last weeks)
MAX_UNOBSERVED_DAYS = 45


def resolve_interpreter() -> tuple[type, dict]:
    """The best available TFLite ``Interpreter`` class and ``{runtime, version, delegate}``."""
    for dist, module in _RUNTIMES:
        try:
            interpreter = importlib.import_module(module).Interpreter
        except ImportError:
            continue
        return interpreter, {"runtime": dist, "version": _dist_version(dist), "delegate": "XNNPACK (default CPU)"}
    try:
        from cropedge.backend import tf
    except (ImportError, CropEdgeError):
        raise CropEdgeError(
            'no TFLite interpreter installed: pip install "cropedge[device]" (LiteRT, no TensorFlow needed)'
        ) from None
    return tf.lite.Interpreter, {
        "runtime": "tensorflow", "version": tf.__version__, "delegate": "XNNPACK (default CPU)"
    }


def _dist_version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


class _Runner:
    """One interpreter with tensors allocated for one batch size (allocation is the slow part)."""

    def __init__(
        self, interpreter_cls: type, model_bytes: bytes, num_threads: int | None, batch: int, origin: str
    ) -> None:
        try:
            with native_quiet():  # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
                self.interpreter = interpreter_cls(model_content=model_bytes, num_threads=num_threads)
                inp = self.interpreter.get_input_details()[0]
                if inp["shape"][0] != batch:
                    self.interpreter.resize_tensor_input(inp["index"], [batch, *inp["shape"][1:]])
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise CropEdgeError(
                f"{origin}: the interpreter cannot load this model ({exc}); re-export the bundle"
            ) from None
        self.input_index = inp["index"]
        self.output_index = self.interpreter.get_output_details()[0]["index"]

    def run(self, x: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.input_index, x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output_index)


class LiteModel:
    """A bundle ready to classify year-grid reflectance series.

    Args:
        bundle: a bundle folder, a ``.tflite`` with embedded metadata, or a loaded ``Bundle``.
        num_threads: interpreter threads (None: the runtime's default).

    Attributes:
        metadata: the checked bundle metadata; classes, bands, window, stats, season_offset_days: from it.
        runtime_info: ``{runtime, version, delegate}`` of the interpreter in use.
    """

    def __init__(self, bundle: str | Path | Bundle, num_threads: int | None = None) -> None:
        """Load and check the bundle and its interpreter (arguments as in the class docstring)."""
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        self.metadata = self.bundle.metadata
        self.origin = str(self.bundle.path)
        # checked on load (cropedge.device.bundle.BundleMetadata): types, lengths, the window on the grid
        self.classes = self.metadata.classes
        self.bands = self.metadata.bands
        self.window = self.metadata.window
        self.stats = self.metadata.normalization
        self.season_offset_days = self.metadata.season_offset_days
        self.source_ndvi_curve = self.metadata.source_ndvi_curve  # for auto season alignment on the device
        self.num_threads = num_threads
        self._interpreter_cls, self.runtime_info = resolve_interpreter()
        self._runners: dict[int, _Runner] = {}
        self._check_model(self._runner(1).interpreter)

    def _check_model(self, interpreter: Any) -> None:
        """The flatbuffer and its metadata must describe the same model."""
        inp = interpreter.get_input_details()[0]
        out = interpreter.get_output_details()[0]
        expected = [len(self.bands), self.window.length, 1]
        if list(inp["shape"][1:]) != expected or out["shape"][-1] != len(self.classes):
            raise CropEdgeError(
                f"{self.origin}: the model takes {inp['shape'][1:].tolist()} -> {out['shape'][-1]} classes but the "
                f"metadata says {expected} -> {len(self.classes)}; re-export the bundle"
            )
        if self.window.step != STEP_DAYS or self.window.stop_idx > YEAR_STEPS or self.window.start_idx < 0:
            raise CropEdgeError(
                f"{self.origin}: window {self.window.to_dict()} does not fit the {STEP_DAYS}-day year grid"
            )
        self.input_dtype = np.dtype(inp["dtype"])
        self._in_scale, self._in_zero = _quantization(inp)
        self._out_scale, self._out_zero = _quantization(out)

    def _runner(self, batch: int) -> _Runner:
        runner = self._runners.get(batch)
        if runner is None:
            runner = self._runners[batch] = _Runner(
                self._interpreter_cls, self.bundle.model_bytes, self.num_threads, batch, self.origin
            )
        return runner

    # -- checks -----------------------------------------------------------------------------

    def check_input(self, x_year: np.ndarray, bands: tuple[str, ...] | list[str] | None = None) -> None:
        """Raise ``CropEdgeError`` unless ``x_year`` is [N, model bands, 73] (bands in model order)."""
        check_model_input(x_year, bands, self.bands, self.window)

    def check_dataset(self, dataset: Dataset) -> None:
        """Raise ``CropEdgeError`` unless ``dataset`` has the model's bands (in order) on the year grid."""
        check_model_input(dataset.x, dataset.bands, self.bands, self.window, dataset.doy)

    def check_dates(self, doy: np.ndarray, season_offset_days: float | None = None) -> None:
        """Raise ``CropEdgeError`` if the observation days ``doy`` leave the model window uncovered.

        That is, if a day of the window is more than ``MAX_UNOBSERVED_DAYS`` from every
        observation day (after the season offset): gap filling would then invent the season
        instead of interpolating it.
        """
        offset = self.season_offset_days if season_offset_days is None else season_offset_days
        seen = (np.asarray(doy, dtype=np.float64) - 1 - offset) % 365
        window = YEAR_DOY[self.window.start_idx : self.window.stop_idx] - 1
        gap = np.abs(window[:, None] - seen[None, :])
        worst = np.minimum(gap, 365 - gap).min(axis=1).max()
        if worst > MAX_UNOBSERVED_DAYS:
            raise CropEdgeError(
                f"the input dates leave part of the model window (day {self.window.start_doy}.."
                f"{self.window.end_doy}, season offset {offset:g} days) {worst:.0f} days from any observation; "
                "give dates that cover the season, or the right --season-offset"
            )

    def input_from(self, dataset: Dataset) -> np.ndarray:
        """The dataset's series with bands picked and ordered as the model needs them."""
        if set(self.bands) <= set(dataset.bands) and tuple(dataset.bands) != self.bands:
            dataset = _with_bands(dataset, self.bands)
        self.check_dataset(dataset)
        return dataset.x

    def labels_of(self, dataset: Dataset) -> np.ndarray:
        """The dataset's labels as model class ids, matched by class name.

        -1 marks a sample that is unlabelled or of a class the model does not know.
        """
        return labels_by_name(dataset, self.classes)[0]

    # -- inference --------------------------------------------------------------------------

    def prepare(self, x_year: np.ndarray, season_offset_days: float | None = None) -> np.ndarray:
        """Reflectance [N, bands, 73] -> model input [N, bands, T, 1] (int8-quantized for int8 models)."""
        offset = self.season_offset_days if season_offset_days is None else season_offset_days
        x = prepare_input(x_year, self.window, self.stats, offset)
        if not np.isfinite(x.sum()):
            raise CropEdgeError("input has missing values (NaN) in the model window; fill gaps first (fill_gaps)")
        if self._in_scale:
            # in place on our own copy: round(x / scale) + zero point, saturated (TFLite's formula;
            # dividing, not multiplying by 1/scale, which rounds differently at some .5 boundaries)
            info = np.iinfo(self.input_dtype)
            x /= np.float32(self._in_scale)
            np.rint(x, out=x)
            x += np.float32(self._in_zero)
            np.clip(x, info.min, info.max, out=x)
            return x.astype(self.input_dtype)
        return x.astype(self.input_dtype, copy=False)

    def invoke(self, x_input: np.ndarray) -> np.ndarray:
        """Run prepared input (one batch) and return probabilities [batch, classes] float32."""
        out = self._runner(len(x_input)).run(x_input)
        if self._out_scale:
            return (out.astype(np.float32) - np.float32(self._out_zero)) * np.float32(self._out_scale)
        return out.astype(np.float32, copy=False)

    def predict_proba(
        self,
        x_year: np.ndarray,
        batch_size: int = DEFAULT_BATCH,
        season_offset_days: float | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Class probabilities [N, classes] for reflectance [N, bands, 73] (model band order).

        ``progress`` is called with the number of samples done after each batch.
        """
        x_year = np.asarray(x_year, dtype=np.float32)
        self.check_input(x_year)
        n = len(x_year)
        batch = max(1, min(int(batch_size), n))
        probs = np.empty((n, len(self.classes)), dtype=np.float32)
        for start in range(0, n, batch):
            stop = min(start + batch, n)
            x = self.prepare(x_year[start:stop], season_offset_days)
            size = len(x)
            if size < batch:
                # pad a short last batch to a power of two: few distinct sizes, so few allocations
                padded = np.zeros((min(batch, 1 << (size - 1).bit_length()), *x.shape[1:]), dtype=x.dtype)
                padded[:size] = x
                x = padded
            probs[start:stop] = self.invoke(x)[:size]
            if progress is not None:
                progress(size)
        return probs

    def predict(
        self,
        x_year: np.ndarray,
        batch_size: int = DEFAULT_BATCH,
        season_offset_days: float | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(class ids [N] int64, probabilities [N, classes] float32)."""
        probs = self.predict_proba(x_year, batch_size, season_offset_days, progress)
        return probs.argmax(axis=1), probs


def _quantization(details: dict) -> tuple[float, int]:
    """(scale, zero point) of a tensor; scale 0 means float."""
    scale, zero = details.get("quantization", (0.0, 0))
    return float(scale), int(zero)


def _with_bands(dataset: Dataset, bands: tuple[str, ...]) -> Dataset:
    from dataclasses import replace

    idx = [dataset.bands.index(b) for b in bands]
    return replace(dataset, x=dataset.x[:, idx], bands=bands)
