"""Interleaved timing: ratios between two setups measured under the same machine load.

The benchmark machine is shared, so load drifts during a run. Timing A fully and then B
puts that drift into the A/B ratio; alternating short rounds of A and B and comparing
medians keeps it out. Per-call statistics come from ``cropedge.device.latency`` (the same
code ``cropedge bench`` and the device harness use).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cropedge.device.latency import summarize, time_calls


def interleaved(
    fns: dict[str, Callable[[], object]],
    batch: int,
    threads: int,
    rounds: int = 5,
    calls_per_round: int = 10,
    warmup: int = 3,
    max_seconds: float = 30.0,
) -> dict[str, dict]:
    """Time every function in ``fns`` round-robin; ``{name: LatencyStats dict}``.

    Each function is warmed up once, then each round times ``calls_per_round`` calls of
    every function in turn, until ``rounds`` rounds or ``max_seconds`` in all (at least two).
    """
    import time

    for fn in fns.values():
        time_calls(fn, warmup=warmup, runs=0)
    times: dict[str, list[np.ndarray]] = {name: [] for name in fns}
    start = time.perf_counter()
    for r in range(rounds):
        for name, fn in fns.items():
            times[name].append(time_calls(fn, warmup=0, runs=calls_per_round, max_seconds=max_seconds / rounds))
        if r >= 1 and time.perf_counter() - start > max_seconds:
            break
    return {name: summarize(np.concatenate(t), batch, threads, warmup).to_dict() for name, t in times.items()}
