"""Latency of an exported bundle on this CPU, measured the way TFLite's ``benchmark_model`` reports it.

Numpy and the interpreter only (no TensorFlow), so the same code times a bundle on the
development machine (``cropedge bench``) and on the device (``firmware_bench``).

What is timed is one ``LiteModel.invoke`` on a prepared batch (set input, invoke, read and
dequantise the output), as ``benchmark_model`` and the profiles' ``latency_budget_ms`` count
it; preprocessing is numpy work outside the model and is not included. Warm-up calls run
first (the first call of a batch size also allocates tensors), then ``runs`` timed calls,
stopped early after ``max_seconds`` so large models on slow CPUs stay bounded.

``DeviceBench`` is the file ``python -m firmware_bench --json`` writes on a device and
``cropedge report --device-latency`` reads back: the machine, each bundle timed (with the
flatbuffer's sha256, which matches it to the grid's bundles) and its timings.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from cropedge.errors import CropEdgeError
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


@dataclass(frozen=True)
class Machine(Record):
    """The computer a benchmark ran on (``cpu_info`` plus platform and Python)."""

    VERSION_KEY: ClassVar[str | None] = None
    WHAT: ClassVar[str] = "machine"

    cpu_model: str
    machine: str
    cores: int
    cpu_flags: str = ""
    platform: str = ""
    python: str = ""

    @property
    def label(self) -> str:
        """``CPU model (architecture, N cores)``, how reports name the device."""
        return f"{self.cpu_model} ({self.machine}, {self.cores} cores)"


@dataclass(frozen=True)
class BenchAccuracy(Record):
    """A bundle's accuracy on the labelled samples given to ``firmware_bench --data``."""

    VERSION_KEY: ClassVar[str | None] = None
    WHAT: ClassVar[str] = "accuracy"

    n: int
    unmatched: int
    oa: float | None
    macro_f1: float | None


@dataclass(frozen=True)
class BenchedBundle(Record):
    """One bundle timed on a device: what it is (``sha256`` of the flatbuffer identifies it)."""

    VERSION_KEY: ClassVar[str | None] = None
    WHAT: ClassVar[str] = "bundle"

    path: str
    name: str
    model: str
    precision: str
    sha256: str
    model_bytes: int
    macs: int | None = None
    params: int | None = None
    accuracy: BenchAccuracy | None = None


@dataclass(frozen=True)
class DeviceTiming(Record):
    """One (bundle, threads, batch) setting timed on a device.

    ``invoke`` is the interpreter alone on a prepared batch (what ``latency_budget_ms`` and
    ``cropedge bench`` count); ``end_to_end`` adds the numpy preprocessing of year-grid
    reflectance, as ``cropedge predict`` runs it.
    """

    VERSION_KEY: ClassVar[str | None] = None
    WHAT: ClassVar[str] = "timing"

    sha256: str
    threads: int
    batch: int
    invoke: LatencyStats
    end_to_end: LatencyStats
    peak_rss_mb: float | None = None


@dataclass(frozen=True)
class DeviceBench(Record):
    """What ``python -m firmware_bench --json`` writes: one machine, its bundles and timings."""

    WHAT: ClassVar[str] = "firmware_bench result"
    FIX: ClassVar[str] = "run 'python -m firmware_bench BUNDLE ... --json FILE' on the device again"
    UNVERSIONED: ClassVar[int | None] = None  # files of the older, unmatchable layout carry no version

    created: str
    cropedge: str
    machine: Machine
    runtime: str
    runtime_version: str
    bundles: tuple[BenchedBundle, ...]
    timings: tuple[DeviceTiming, ...]
    settings: dict | None = None

    def __post_init__(self) -> None:
        """Every timing belongs to a bundle of the file."""
        known = {b.sha256 for b in self.bundles}
        strays = sorted(sha[:12] for sha in {t.sha256 for t in self.timings} - known)
        if strays:
            raise CropEdgeError(f"timings of bundles the file does not list ({', '.join(strays)})")


def read_device_bench(path: str | Path) -> DeviceBench:
    """Read and check a ``firmware_bench`` JSON file.

    Raises:
        CropEdgeError: the file is missing, not JSON, or not a valid ``DeviceBench``.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CropEdgeError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise CropEdgeError(f"{path}: not a firmware_bench JSON file ({exc})") from None
    return DeviceBench.from_dict(data, str(path))


def significant(value: float | None, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits and no exponent (143, 12.6, 0.0412); ``-`` for None or nan."""
    if value is None or not math.isfinite(value):
        return "-"
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


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
