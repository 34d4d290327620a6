"""Run one benchmark function in a fresh process and hand its result back as JSON.

Some settings only take effect before TensorFlow starts (oneDNN on/off, the number of
logical CPU devices, thread pools), and peak memory must be one process's own; those
measurements run here: ``python -m bench.worker module:function ARGS.json OUT.json``.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_in_subprocess(
    target: str,
    kwargs: dict,
    work: Path,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> dict:
    """Call ``target`` (``"bench.training:tf_train_throughput"``) with ``kwargs`` in a child process.

    Returns the function's dict with ``child_seconds`` and ``child_maxrss_mb`` (peak resident
    memory of that child alone, from ``os.wait4``). Raises ``RuntimeError`` with the child's
    last stderr lines if it fails.
    """
    work.mkdir(parents=True, exist_ok=True)
    stem = f"{target.replace(':', '.').replace('.', '_')}_{time.monotonic_ns()}"
    args_path, out_path, err_path = (work / f"{stem}{s}" for s in (".args.json", ".out.json", ".err"))
    args_path.write_text(json.dumps(kwargs), encoding="utf-8")
    cmd = [sys.executable, "-m", "bench.worker", target, str(args_path), str(out_path)]
    rc, seconds, maxrss_mb = run_measured(cmd, {**os.environ, **(env or {})}, err_path, timeout)
    if rc != 0 or not out_path.is_file():
        tail = err_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-8:]
        raise RuntimeError(f"{target} exited {rc}: " + " | ".join(tail))
    result = json.loads(out_path.read_text(encoding="utf-8"))
    return {**result, "child_seconds": seconds, "child_maxrss_mb": maxrss_mb}


def run_measured(cmd: list[str], env: dict[str, str], err_path: Path, timeout: float) -> tuple[int, float, float]:
    """Run ``cmd`` from the repository root; (exit code, seconds, its own peak RSS in MiB).

    The child is reaped with ``os.wait4`` on its pid: ``RUSAGE_CHILDREN`` would report the
    largest of all children so far, not this one.
    """
    t0 = time.perf_counter()
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    return proc.returncode, time.perf_counter() - t0, usage.ru_maxrss / 1024  # Linux reports KiB


def main(argv: list[str]) -> int:
    target, args_path, out_path = argv
    module, _, name = target.partition(":")
    fn = getattr(importlib.import_module(module), name)
    result = fn(**json.loads(Path(args_path).read_text(encoding="utf-8")))
    Path(out_path).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
