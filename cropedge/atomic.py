"""Atomic output: write to a temporary sibling, then rename.

That way a killed process never leaves a half-written file (or bundle folder) where
a finished one is expected.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from cropedge.errors import CropEdgeError


def _read_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, not per temporary file
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _cannot_write(path: Path, exc: OSError) -> CropEdgeError:
    # a read-only, missing or non-folder place to write is the user's to fix, not a bug
    return CropEdgeError(f"cannot write {path}: {exc.strerror or exc}; choose a folder you can write to")


def check_writable(folder: str | os.PathLike) -> None:
    """Raise ``CropEdgeError`` unless files can be made in ``folder``.

    While ``folder`` does not exist yet, its nearest existing parent is checked instead.
    Creates nothing: for a long job to fail before its work, not after it.
    """
    folder = Path(folder)
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "Not a directory")
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as exc:
        raise _cannot_write(folder, exc) from None


def _tmp_sibling(path: Path, suffix: str = "") -> Path:
    if path.is_dir():
        raise CropEdgeError(f"{path} is a folder; give a file name to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    # mkstemp makes 0600 files; give the finished file the permissions a plain open() would
    os.fchmod(fd, 0o666 & ~_UMASK)
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    ``suffix`` keeps a file extension on the temporary name for writers that insist
    on one (``np.savez`` appends ``.npz``, GDAL picks drivers by extension).
    """
    path = Path(path)
    tmp = _tmp_sibling(path, path.suffix if suffix is None else suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file for writing; it replaces ``path`` only when the block succeeds."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically, as UTF-8."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` to ``path`` atomically as indented JSON (numpy values and paths allowed)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays without importing numpy here
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Build a folder under a temporary name; swap it in whole when the block succeeds."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    os.chmod(tmp, 0o777 & ~_UMASK)
    try:
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "x")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
