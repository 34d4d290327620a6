"""How much memory is free, so that a size a file declares is checked before it is allocated.

A damaged or hostile file can declare arrays far larger than it holds (an ``.npy`` header
saying 10^11 samples, a chunked HDF5 dataset of a terabyte in a 10 KB file); allocating
them first would end in a MemoryError traceback or the kernel's OOM killer.
"""

from __future__ import annotations

import os
from pathlib import Path

from cropedge.errors import CropEdgeError

# readers hold the raw arrays and, while filling gaps and resampling, about this many
# float32 copies of the series
READ_COPIES = 3
_CGROUP = Path("/sys/fs/cgroup")


def available_bytes() -> int | None:
    """Memory this process can still take: the kernel's MemAvailable, capped by a cgroup limit.

    None where neither can be read (the check is then skipped).
    """
    free = _meminfo_available()
    limit = _cgroup_room()
    if free is None:
        return limit
    return free if limit is None else min(free, limit)


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def _cgroup_room() -> int | None:
    """Bytes left under a cgroup v2 memory limit (containers, CI runners), if there is one."""
    try:
        limit = (_CGROUP / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(int(limit) - int((_CGROUP / "memory.current").read_text()), 0)
    except (OSError, ValueError):
        return None


def format_bytes(n: float) -> str:
    """``1234567`` -> ``1.2 MB`` (powers of 1000)."""
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def check_fits(nbytes: float, what: str, hint: str) -> None:
    """Raise ``CropEdgeError`` when ``nbytes`` is more than the memory available now.

    Args:
        nbytes: What the work would allocate.
        what: What needs it, for the message (``"fea.npy in x.npz (1e11 x 10 x 73 float32)"``).
        hint: What the user can do instead.
    """
    free = available_bytes()
    if free is not None and nbytes > free:
        raise CropEdgeError(
            f"{what} needs {format_bytes(nbytes)} of memory but {format_bytes(free)} is available; {hint}"
        )
