"""Latency of an exported bundle on this CPU, measured the way TFLite's ``benchmark_model`` reports it.

Numpy and the interpreter only (no TensorFlow), so the same code times a bundle on the
development machine (``cropedge bench``) and on the device (``firmware_bench``).

What is timed is one ``LiteModel.invoke`` on a prepared batch (set input, invoke, read and
dequantise the output), as ``benchmark_model`` and the profiles' ``latency_budget_ms`` count
it; preprocessing is numpy work outside the model and is not included. Warm-up calls run
first (the first call of a batch size also allocates tensors), then ``runs`` timed calls,
stopped early after ``max_seconds`` so large models on slow CPUs stay bounded.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from cropedge.record import Record

# CPU features that decide which XNNPACK kernels run (x86 SIMD width, Arm dot-product / int8 matmul)
_RELEVANT_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile",
                   "amx_int8", "asimd", "asimddp", "i8mm", "sve", "neon")


@dataclass(frozen=True)
class LatencyStats(Record):
    """Timing of one (batch, threads) setting; times in milliseconds per call."""

    VERSION_KEY: ClassVar[str | None] = None
    WHAT: ClassVar[str] = "latency"

    batch: int
    threads: int
    warmup: int
    runs: int
    mean_ms: float
    std_ms: float
    median_ms: float
    p5_ms: float
    p95_ms: float
    min_ms: float
    pixels_per_s: float  # batch / median call time


def time_calls(fn: Callable[[], object], warmup: int = 3, runs: int = 20, max_seconds: float = 10.0) -> np.ndarray:
    """Call ``fn`` ``warmup`` times untimed, then up to ``runs`` times timed; milliseconds per call.

    At least three timed calls are made even past ``max_seconds`` so percentiles mean something.
    """
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - t0) / 1e6)
        if len(times) >= 3 and time.perf_counter() - start > max_seconds:
            break
    return np.asarray(times, dtype=np.float64)


def summarize(times_ms: np.ndarray, batch: int, threads: int, warmup: int) -> LatencyStats:
    """Mean, std, median, p5, p95 and throughput of per-call times."""
    t = np.asarray(times_ms, dtype=np.float64)
    median = float(np.median(t))
    return LatencyStats(
        batch=int(batch),
        threads=int(threads),
        warmup=int(warmup),
        runs=int(t.size),
        mean_ms=float(t.mean()),
        std_ms=float(t.std()),
        median_ms=median,
        p5_ms=float(np.percentile(t, 5)),
        p95_ms=float(np.percentile(t, 95)),
        min_ms=float(t.min()),
        pixels_per_s=float(batch / max(median / 1e3, 1e-9)),  # a clock too coarse to see the call: bounded
    )


def random_reflectance(n: int, bands: int, steps: int = 73, seed: int = 0) -> np.ndarray:
    """Plausible surface-reflectance DNs [n, bands, steps]; values do not change the timing."""
    return np.random.default_rng(seed).uniform(0, 5000, size=(n, bands, steps)).astype(np.float32)


def measure_bundle(
    bundle: str | Path,
    batch: int,
    threads: int,
    warmup: int = 3,
    runs: int = 20,
    max_seconds: float = 10.0,
    x_year: np.ndarray | None = None,
) -> LatencyStats:
    """Time ``invoke`` of a bundle on ``batch`` pixels with ``threads`` interpreter threads.

    Args:
        bundle: bundle folder or ``.tflite`` with embedded metadata.
        batch: pixels per call.
        threads: interpreter threads (XNNPACK).
        warmup: untimed calls first.
        runs: timed calls at most.
        max_seconds: stop timing after this long (at least three calls).
        x_year: samples to feed [n, bands, 73]; tiled or cut to ``batch``. Random reflectance if None.
    """
    from cropedge.device.runtime import LiteModel

    model = LiteModel(bundle, num_threads=threads)
    if x_year is None:
        x_year = random_reflectance(batch, len(model.bands))
    x = model.prepare(np.resize(np.asarray(x_year, dtype=np.float32), (batch,) + tuple(x_year.shape[1:])))
    times = time_calls(lambda: model.invoke(x), warmup, runs, max_seconds)
    return summarize(times, batch, threads, warmup)


def available_threads() -> int:
    """CPU cores this process may use (respects affinity masks and container CPU sets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def cpu_info() -> dict:
    """CPU model, architecture, usable cores and the SIMD flags that matter for TFLite kernels."""
    names: dict[str, str] = {}
    flags: set[str] = set()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key in ("flags", "features"):
            flags.update(value.split())
        elif value and not value.isdigit():  # x86 "model" is a number; a Pi's "Model" is its name
            names.setdefault(key, value)
    model = names.get("model name") or names.get("model") or names.get("hardware")
    return {
        "cpu_model": model or platform.processor() or "unknown",
        "machine": platform.machine(),
        "cores": available_threads(),
        "cpu_flags": " ".join(f for f in _RELEVANT_FLAGS if f in flags),
    }
