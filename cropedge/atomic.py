"""Safe output: write to a temporary sibling, then rename; never onto what must be kept.

That way a killed process never leaves a half-written file (or bundle folder) where a
finished one is expected, and a full disk or a file-size limit is one user error, not a
traceback. Outputs follow symbolic links to their real place; character and block
devices, FIFOs and standard output (``-``, ``/dev/stdout``) cannot be renamed onto, so
the finished file is copied into them instead (``--out /dev/null`` stays a device).
``check_output`` refuses, before any work, an output that would overwrite an input of
the command or a file of a run folder, benchmark grid or bundle.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

from cropedge.errors import CropEdgeError
from cropedge.signals import held, raise_if_interrupted

STDOUT = "-"
# errors that mean "no room": a full disk, a full quota, a file-size limit (ulimit -f)
OUT_OF_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_OUT_OF_SPACE_TEXT = tuple(os.strerror(e) for e in sorted(OUT_OF_SPACE))
# /dev/stdout -> /proc/self/fd/1: paths that name an open file descriptor of this process
_FD_PATH = re.compile(r"^/(?:dev|proc/self|proc/(\d+))/fd/(\d+)$")

# Folders cropedge makes and keeps: how each is recognised (any one set of marker files) and
# the names inside it that are its own (None: everything). The names are those of
# cropedge.training.run, cropedge.device.bundle and cropedge.grid (a test keeps them equal).
_BUNDLE = ("bundle", (("model.tflite", "metadata.json"),), None)
_RUN = ("training run", (("run.json",), ("config.json", "split.npz"), ("summary.json",)),
        ("run.json", "config.json", "versions.json", "history.csv", "split.npz", "model.keras", "model.joblib",
         "backup", "summary.json", "seed-*"))
_GRID = ("benchmark grid", (("grid.json",), ("cells",)),
         ("grid.json", "cells", "runs", "bundles", "latency", "results.csv", "results.json"))
_KEPT_FOLDERS = (_BUNDLE, _RUN, _GRID)

OutputKind = Literal["file", "folder", "bundle"]


def _read_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, not per temporary file
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _cannot_write(path: Path | str, exc: OSError) -> CropEdgeError:
    # a read-only, missing or non-folder place to write is the user's to fix, not a bug
    return CropEdgeError(f"cannot write {path}: {exc.strerror or exc}; choose a folder you can write to")


def out_of_space(exc: BaseException, path: str | os.PathLike | None = None) -> CropEdgeError | None:
    """The one-line error for a write that failed for want of room; None for any other failure.

    Recognises ``OSError`` by its errno (ENOSPC, EDQUOT, EFBIG) and the errors of libraries
    that wrap the system's (TensorFlow, HDF5, GDAL) by the system's message in theirs.
    """
    if isinstance(exc, CropEdgeError):
        return None
    if isinstance(exc, OSError) and exc.errno in OUT_OF_SPACE:
        why = exc.strerror or os.strerror(exc.errno)
        where = path if path is not None else exc.filename
    else:
        text = str(exc)
        why = next((t for t in _OUT_OF_SPACE_TEXT if t.lower() in text.lower()), "")
        if not why:
            return None
        where = path
    place = f" {where}" if where not in (None, "") else ""
    return CropEdgeError(
        f"cannot write{place}: {why} (disk full, quota or file-size limit); free some space or choose another "
        "place to write, then run the same command again"
    )


@contextlib.contextmanager
def _room_checked(path: Path | str) -> Iterator[None]:
    """Turn a failure for want of room inside the block into one ``CropEdgeError`` about ``path``."""
    try:
        yield
    except Exception as exc:
        error = out_of_space(exc, path)
        if error is None:
            raise
        raise error from None


def check_writable(folder: str | os.PathLike) -> None:
    """Raise ``CropEdgeError`` unless files can be made in ``folder``.

    While ``folder`` does not exist yet, its nearest existing parent is checked instead.
    A one-byte probe (removed again) finds a full disk or a file-size limit of zero.
    Creates nothing that stays: for a long job to fail before its work, not after it.
    """
    folder = Path(folder)
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory")
        with tempfile.TemporaryFile(dir=existing) as probe:
            probe.write(b"\0")
            probe.flush()
    except OSError as exc:
        raise (out_of_space(exc, folder) or _cannot_write(folder, exc)) from None


# --- where an output really goes ---------------------------------------------------------


def _stream_fd(path: str) -> int | None:
    """The descriptor ``path`` names (``-``, /dev/stdout, /dev/fd/N, /proc/self/fd/N), following links; else None."""
    if path == STDOUT:
        return 1
    current = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on nested links
        match = _FD_PATH.match(current)
        if match and (match.group(1) is None or int(match.group(1)) == os.getpid()):
            return int(match.group(2))
        if not os.path.islink(current):
            return None
        current = os.path.normpath(os.path.join(os.path.dirname(current), os.readlink(current)))
    return None


def _special(path: Path) -> bool:
    """Whether ``path`` exists as something a rename must not replace (a device, FIFO or socket)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _real(path: Path) -> Path:
    # symbolic links are followed so that the link stays and its target gets the output
    return Path(os.path.realpath(path))


def _tmp_file(folder: Path, name: str, suffix: str, like: Path | None = None) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=f".tmp{suffix}", dir=folder)
    except OSError as exc:
        raise (out_of_space(exc, folder / name) or _cannot_write(folder / name, exc)) from None
    # mkstemp makes 0600 files; give the finished file the mode of the one it replaces, or of a plain open()
    try:
        mode = stat.S_IMODE(like.stat().st_mode) if like is not None and like.is_file() else 0o666 & ~_UMASK
    except OSError:
        mode = 0o666 & ~_UMASK
    os.fchmod(fd, mode)
    os.close(fd)
    return Path(tmp)


def _copy_into(tmp: Path, fd: int | None, target: Path) -> None:
    """Copy a finished temporary file into an open descriptor or a device / FIFO."""
    with open(tmp, "rb") as src:
        if fd in (1, 2):
            stream = sys.stdout if fd == 1 else sys.stderr
            stream.flush()
            dst = getattr(stream, "buffer", None)
            if dst is not None:
                shutil.copyfileobj(src, dst)
                dst.flush()
                return
        if fd is not None:
            with os.fdopen(os.dup(fd), "wb") as dup:
                shutil.copyfileobj(src, dup)
            return
        with open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    ``suffix`` keeps a file extension on the temporary name for writers that insist
    on one (``np.savez`` appends ``.npz``, GDAL picks drivers by extension). A link is
    followed to its target; a device, FIFO or standard output (``-``) receives a copy of
    the finished file (built in the system's temporary folder), so it is never replaced.
    """
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    fd = _stream_fd(str(path))
    real = path if fd is not None else _real(path)
    through = fd is not None or _special(real)
    if not through and real.is_dir():
        raise CropEdgeError(f"{path} is a folder; give a file name to write")
    folder = Path(tempfile.gettempdir()) if through else real.parent
    tmp: Path | None = None
    try:
        with held():  # the file is made and its name known, or neither
            tmp = _tmp_file(folder, real.name or "stdout", suffix, None if through else real)
        with _room_checked(path):
            yield tmp
            raise_if_interrupted()  # nothing is committed once the command has been told to stop
            if through:
                _copy_into(tmp, fd, real)
            else:
                os.replace(tmp, real)
    finally:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
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
    shown = Path(path)
    path = _real(shown)
    tmp: Path | None = None
    try:
        with held():  # the folder is made and its name known, or neither
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
            except OSError as exc:
                raise (out_of_space(exc, shown) or _cannot_write(shown, exc)) from None
        os.chmod(tmp, 0o777 & ~_UMASK)
        with _room_checked(shown):
            yield tmp
            with held():  # an interrupt between the two renames would leave no folder at all
                raise_if_interrupted()
                if path.exists():
                    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
                    os.replace(path, old / "x")
                    os.replace(tmp, path)
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    os.replace(tmp, path)
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# --- what an output must not overwrite ---------------------------------------------------


def kept_folder(folder: Path) -> tuple[str, tuple[str, ...] | None] | None:
    """``(kind, own names)`` when ``folder`` is a bundle, training run or benchmark grid; else None."""
    try:
        if not folder.is_dir():
            return None
        for kind, markers, names in _KEPT_FOLDERS:
            if any(all((folder / m).exists() for m in marker) for marker in markers):
                return kind, names
        if any(kept_folder(p) == (_RUN[0], _RUN[2]) for p in folder.glob("seed-*")):  # a folder of seed runs
            return _RUN[0], _RUN[2]
    except OSError:
        pass
    return None


def _kept_part(real: Path) -> str | None:
    """What ``real`` is part of: a bundle it is inside, or a run or grid whose own file or folder it is.

    The nearest such folder above ``real`` decides: ``GRID/runs/JOB/eval.json`` is a new file
    in the run ``JOB``, not a part of the grid.
    """
    for folder in real.parents:
        found = kept_folder(folder)
        if found is None:
            continue
        kind, names = found
        first = real.relative_to(folder).parts[0]
        if names is None:
            return f"inside the {kind} {folder}"
        if any(fnmatch.fnmatchcase(first, n) for n in names):
            return f"part of the {kind} {folder} ({first})"
        return None
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output(
    out: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike] = (),
    kind: OutputKind = "file",
    option: str = "--out",
) -> None:
    """Refuse, before any work, an output that would destroy what the command reads or cropedge keeps.

    Refused, after following symbolic links and relative paths: ``out`` is one of
    ``inputs`` or a hard link to one; a file directly in an input folder of data (it would
    be read with the data next time); a bundle's file, or any file or folder inside a
    bundle; one of the files or folders of a training run or benchmark grid
    (``RUN/run.json``, ``GRID/cells/...``). Standard output, devices and FIFOs are fine:
    they are written through, never replaced. Then checks that the place can be written.

    Args:
        out: The path the command will write.
        inputs: Every path the command reads (data, runs, bundles, recipes).
        kind: ``"file"``: a file, replaced whole; ``"folder"``: a folder the command writes
            its own files into (it may be a run or grid already: one to resume or continue);
            ``"bundle"``: a folder replaced whole by a bundle (it may only replace a bundle).
        option: The option naming ``out``, for messages.

    Raises:
        CropEdgeError: what is refused, and what to do instead.
    """
    shown = Path(out)
    if _stream_fd(str(shown)) is not None:
        if kind != "file":
            raise CropEdgeError(f"{option} {shown}: give a folder, not standard output")
        return
    real = _real(shown)
    if kind == "file" and _special(real):
        if not os.access(real, os.W_OK):
            raise CropEdgeError(f"cannot write {shown}: permission denied; choose a file you can write to")
        return

    def refuse(why: str) -> None:
        raise CropEdgeError(f"{option} {shown} is {why}; writing there would destroy it: choose another {option}")

    for given in inputs:
        source = Path(given)
        source_real = _real(source)
        if real == source_real or _same_file(real, source):
            refuse(f"an input of this command ({source})")
        if kind == "file" and real.parent == source_real and kept_folder(source_real) is None:
            refuse(f"in the input folder {source}, whose files are read as data")
    part = _kept_part(real)
    if part is not None:
        refuse(part)
    here = kept_folder(real)
    if here is not None and here[1] is None and kind == "folder":
        refuse(f"the {here[0]} {shown}")
    if kind == "bundle" and here is not None and here[1] is not None:
        refuse(f"the {here[0]} {shown}")
    if kind == "bundle" and here is None and real.is_dir() and any(real.iterdir()):
        refuse("a folder that is not a bundle (a bundle replaces its folder whole)")
    if kind == "file" and real.is_dir():
        raise CropEdgeError(f"{option} {shown} is a folder; give a file name to write")
    check_writable(real if kind != "file" else real.parent)


@contextlib.contextmanager
def exclusive(target: str | os.PathLike, what: str) -> Iterator[None]:
    """Hold ``target`` (a folder being written) for this process alone while the block runs.

    Two commands writing one folder at once (two ``train`` into one run folder, two ``data
    import`` into one data folder) would interleave their files; the second is refused with one
    line instead. The lock is a hidden file beside the folder (``.NAME.lock``), held with
    ``flock``: the system releases it when the process ends, however it ends, so a killed run
    never leaves a stale lock (a kill -9 leaves the empty file, harmlessly). Where ``flock``
    is missing (not POSIX) the block runs unguarded.

    Args:
        target: The folder the block writes (it need not exist yet).
        what: The command, for the message (``"cropedge train"``).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    target = _real(Path(target))
    lock = target.parent / f".{target.name}.lock"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _cannot_write(lock, exc) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise _cannot_write(lock, exc) from None
            raise CropEdgeError(
                f"{target} is being written by another {what} (it holds {lock.name}); "
                "wait for it to finish, or choose another --out"
            ) from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                lock.unlink()  # while still held: a later writer makes a fresh one
    finally:
        os.close(fd)
