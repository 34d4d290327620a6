"""One bundle on this machine: latency per (threads, batch), memory, accuracy; and the machine."""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cropedge.device.latency import cpu_info, random_reflectance, summarize, time_calls
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


def machine() -> dict:
    """Platform, Python and CPU (model, cores, the SIMD flags XNNPACK kernels depend on)."""
    return {"platform": platform.platform(), "python": platform.python_version(), **cpu_info()}


def _per_pixel(stats: dict, batch: int) -> dict:
    return {k.replace("_ms", "_us"): v * 1e3 / batch for k, v in stats.items() if k.endswith("_ms")}


def measure(
    bundle: str | Path,
    threads: int,
    batch: int,
    runs: int,
    warmup: int,
    max_seconds: float,
    x_year: np.ndarray | None = None,
) -> dict:
    """Time one setting, end to end and the interpreter alone.

    End to end is ``predict_proba`` on year-grid reflectance, the interpreter alone ``invoke``
    on prepared input; each after ``warmup`` untimed calls.
    """
    model = LiteModel(bundle, num_threads=threads)
    if x_year is None:
        x_year = random_reflectance(batch, len(model.bands))
    x = np.resize(np.asarray(x_year, dtype=np.float32), (batch, *x_year.shape[1:]))
    end_to_end = summarize(
        time_calls(lambda: model.predict_proba(x, batch), warmup, runs, max_seconds), batch, threads, warmup
    )
    prepared = model.prepare(x)
    invoke = summarize(time_calls(lambda: model.invoke(prepared), warmup, runs, max_seconds), batch, threads, warmup)
    latency = {k: v for k, v in end_to_end.to_dict().items() if k.endswith("_ms")}
    return {
        "bundle": str(bundle),
        "name": model.metadata.label,
        "model": model.metadata.model,
        "precision": model.metadata.precision,
        "model_bytes": len(model.bundle.model_bytes),
        **model.runtime_info,
        "threads": threads,
        "batch": batch,
        "warmup": warmup,
        "runs": end_to_end.runs,
        "latency_ms": latency,
        "latency_per_pixel_us": _per_pixel(latency, batch),
        "pixels_per_s": end_to_end.pixels_per_s,
        "invoke_ms": {k: v for k, v in invoke.to_dict().items() if k.endswith("_ms")},
        "invoke_pixels_per_s": invoke.pixels_per_s,
        "peak_rss_mb": peak_rss_mb(),
    }


def accuracy(bundle: str | Path, dataset: Dataset, batch: int) -> dict:
    """OA and macro-F1 of the bundle on a labelled dataset (classes matched by name)."""
    model = LiteModel(bundle)
    y = model.labels_of(dataset)
    pred, _ = model.predict(model.input_from(dataset), batch)
    known = y >= 0
    report = classification_report(y[known], pred[known], model.classes)
    return {"n": report["n"], "unmatched": int((~known).sum()), "oa": report["oa"], "macro_f1": report["macro_f1"]}
