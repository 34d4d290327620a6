"""One bundle on this machine: latency per (threads, batch), memory, accuracy; and the machine."""

from __future__ import annotations

import math
import platform
import sys
from typing import TYPE_CHECKING

import numpy as np

from cropedge.device.latency import (
    BenchAccuracy,
    BenchedBundle,
    DeviceTiming,
    Machine,
    cpu_info,
    random_reflectance,
    summarize,
    time_calls,
)
from cropedge.device.runtime import LiteModel
from cropedge.metrics import classification_report

if TYPE_CHECKING:  # annotations only: the data package is loaded only when --data is given
    from cropedge.data.dataset import Dataset


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process so far (None where the OS does not say)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def machine() -> Machine:
    """Platform, Python and CPU (model, cores, the SIMD flags XNNPACK kernels depend on)."""
    return Machine(**cpu_info(), platform=platform.platform(), python=platform.python_version())


def describe(model: LiteModel) -> BenchedBundle:
    """What a loaded bundle is: name, model, precision, flatbuffer sha256, size, MACs."""
    meta = model.metadata
    return BenchedBundle(path=str(model.bundle.path), name=meta.label, model=meta.model, precision=meta.precision,
                         sha256=meta.sha256, model_bytes=meta.model_bytes, macs=meta.macs, params=meta.params)


def measure(
    model: LiteModel,
    threads: int,
    batch: int,
    runs: int,
    warmup: int,
    max_seconds: float,
    x_year: np.ndarray | None = None,
) -> DeviceTiming:
    """Time one setting of a bundle: the interpreter alone, and end to end.

    The interpreter alone is ``invoke`` on a prepared batch (what ``cropedge bench`` and the
    profiles' budgets count); end to end is ``predict_proba`` on year-grid reflectance
    (preprocessing, quantization and the interpreter, as ``cropedge predict`` runs them).
    Each after ``warmup`` untimed calls. ``model`` gives the bundle; it is loaded again here
    with ``threads`` interpreter threads.
    """
    timed = LiteModel(model.bundle, num_threads=threads)
    if x_year is None:
        x_year = random_reflectance(batch, len(timed.bands))
    x = np.resize(np.asarray(x_year, dtype=np.float32), (batch, *x_year.shape[1:]))
    prepared = timed.prepare(x)
    invoke = summarize(time_calls(lambda: timed.invoke(prepared), warmup, runs, max_seconds), batch, threads, warmup)
    end_to_end = summarize(
        time_calls(lambda: timed.predict_proba(x, batch), warmup, runs, max_seconds), batch, threads, warmup
    )
    return DeviceTiming(sha256=timed.metadata.sha256, threads=threads, batch=batch, invoke=invoke,
                        end_to_end=end_to_end, peak_rss_mb=peak_rss_mb())


def accuracy(model: LiteModel, dataset: Dataset, batch: int) -> BenchAccuracy:
    """OA and macro-F1 of the bundle on a labelled dataset (classes matched by name)."""
    y = model.labels_of(dataset)
    pred, _ = model.predict(model.input_from(dataset), batch)
    known = y >= 0
    if not known.any():
        return BenchAccuracy(n=0, unmatched=int(len(y)), oa=None, macro_f1=None)
    report = classification_report(y[known], pred[known], model.classes)
    return BenchAccuracy(n=int(report["n"]), unmatched=int((~known).sum()), oa=_finite(report["oa"]),
                         macro_f1=_finite(report["macro_f1"]))


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def input_bytes(model: LiteModel, batch: int) -> int:
    """Bytes the timed arrays of one batch take (year-grid input, prepared input, output), a lower bound."""
    year = batch * len(model.bands) * 73 * 4
    window = batch * len(model.bands) * model.metadata.window.length * 4
    return 2 * year + 2 * window + batch * len(model.classes) * 4
