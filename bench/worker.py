"""Run one benchmark function in a fresh process and hand its result back as JSON.

Some settings only take effect before TensorFlow starts (oneDNN on/off, the number of
logical CPU devices, thread pools), and peak memory must be one process's own; those
measurements run here: ``python -m bench.worker module:function ARGS.json OUT.json``.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_in_subprocess(
    target: str,
    kwargs: dict,
    work: Path,
    env: dict[str, str] | None = None,
    timeout: float = 900,
) -> dict:
    """Call ``target`` (``"bench.training:tf_train_throughput"``) with ``kwargs`` in a child process.

    Returns the function's dict plus ``child_seconds`` (wall time of the child, start-up
    included) and ``peak_rss_mb`` (the child's own peak resident memory). Raises
    ``RuntimeError`` with the child's last stderr lines if it fails.
    """
    work.mkdir(parents=True, exist_ok=True)
    stem = f"{target.replace(':', '.').replace('.', '_')}_{time.monotonic_ns()}"
    args_path, out_path, err_path = (work / f"{stem}{s}" for s in (".args.json", ".out.json", ".err"))
    args_path.write_text(json.dumps(kwargs), encoding="utf-8")
    cmd = [sys.executable, "-m", "bench.worker", target, str(args_path), str(out_path)]
    t0 = time.perf_counter()
    with open(err_path, "wb") as err:
        try:
            rc = subprocess.run(cmd, cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                                stderr=err, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = f"killed after {timeout:.0f} s"
    if rc != 0 or not out_path.is_file():
        tail = err_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-8:]
        raise RuntimeError(f"{target} exited {rc}: " + " | ".join(tail))
    result = json.loads(out_path.read_text(encoding="utf-8"))
    return {**result, "child_seconds": time.perf_counter() - t0}


def peak_rss_mb() -> float:
    """This process's own peak resident memory (MiB).

    ``VmHWM`` of the address space, not ``getrusage``'s ``ru_maxrss``: Linux carries the
    parent's resident size at fork into a child's ``ru_maxrss``, so a child of a large
    benchmark process would report at least the parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def main(argv: list[str]) -> int:
    """Run ``module:function`` with JSON keyword arguments and write its result and peak RSS as JSON."""
    target, args_path, out_path = argv
    module, _, name = target.partition(":")
    fn = getattr(importlib.import_module(module), name)
    result = fn(**json.loads(Path(args_path).read_text(encoding="utf-8")))
    Path(out_path).write_text(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
