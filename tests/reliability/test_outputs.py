"""Where outputs go: through links and into devices, FIFOs and standard output without
replacing them; and a full disk or a file-size limit in every writer.

A full disk is real here: ``/dev/full`` (every write fails with ENOSPC) reached through a
link with the name a verb wants, a file-size limit (``ulimit -f``, RLIMIT_FSIZE: EFBIG) set
on the ``cropedge`` process, and, where this machine lets a user mount one, a small tmpfs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from .conftest import CROPEDGE, assert_ok, assert_user_error, cli_env, invoke, train_args

FIRMWARE_BENCH = (sys.executable, "-m", "firmware_bench")


# --- links, devices, FIFOs, standard output -------------------------------------------------------


def _predict(bundles: dict[str, Path], table: Path, out: Path) -> list:
    return ["predict", bundles["int8"], table, "--out", out, "--overwrite", "--quiet"]


def test_a_link_is_followed_and_kept(bundles: dict[str, Path], synth_dir: Path, tmp_path: Path) -> None:
    real = tmp_path / "elsewhere" / "labels.csv"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "labels.csv"
    link.symlink_to(real)
    assert_ok(invoke(*_predict(bundles, synth_dir / "BEL.npz", link)))
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text().startswith("id,class,probability")


def _device_copy(tmp_path: Path) -> Path:
    """A character device like /dev/null: a mknod copy when allowed (root), else a link to it."""
    path = tmp_path / "null.csv"
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.stat("/dev/null").st_rdev)
    except PermissionError:
        path.symlink_to("/dev/null")
    return path


@pytest.mark.parametrize("where", ["/dev/null", "a copy of /dev/null"])
def test_a_device_stays_a_device(bundles: dict[str, Path], trained_run: Path, synth_dir: Path, tmp_path: Path,
                                 where: str) -> None:
    """``--out /dev/null`` (or a copy of it) is written through, never replaced by a regular file."""
    if where == "/dev/null":
        out = Path("/dev/null")
        argv = ["eval", trained_run, "--data", synth_dir, "--target", "BEL", "--out", out, "--quiet"]
    else:
        out = _device_copy(tmp_path)
        argv = _predict(bundles, synth_dir / "BEL.npz", out)
    before = os.stat(out)
    assert_ok(invoke(*argv))
    after = os.stat(out)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino
    assert _leftovers(tmp_path) == []


def test_a_fifo_receives_the_whole_file(bundles: dict[str, Path], synth_dir: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    try:
        assert_ok(invoke(*_predict(bundles, synth_dir / "BEL.npz", fifo)))
    finally:
        if reader.is_alive():  # a failed run never opened the FIFO: let the reader go
            with open(fifo, "wb"):
                pass
        reader.join()
    lines = received[0].decode().splitlines()
    assert lines[0].startswith("id,class,probability") and len(lines) == 1 + 100
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_dash_is_standard_output(trained_run: Path, synth_dir: Path) -> None:
    result = invoke("eval", trained_run, "--data", synth_dir, "--target", "BEL", "--out", "-", "--quiet")
    assert_ok(result)
    written, _ = json.JSONDecoder().raw_decode(result.stdout)
    assert written["targets"]["BEL"]["n"] == 100


def test_dev_stdout_keeps_its_link_and_what_was_printed(bundles: dict[str, Path], synth_dir: Path,
                                                         tmp_path: Path) -> None:
    """A link to /dev/stdout while stdout is a regular file: the file gets the table after the
    lines printed before it, and the file is not replaced (the shell's redirection keeps working)."""
    out = tmp_path / "out.csv"
    out.symlink_to("/dev/stdout")
    log = tmp_path / "log.txt"
    with open(log, "w") as fh:
        fh.write("before\n")
        fh.flush()
        proc = subprocess.run([str(CROPEDGE), *map(str, _predict(bundles, synth_dir / "BEL.npz", out)[:-1])],
                              stdout=fh, stderr=subprocess.PIPE, text=True, env=cli_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    text = log.read_text().splitlines()
    assert text[0] == "before" and text[1].startswith("id,class,probability")
    assert text[-1].startswith("100 pixels ->")  # the summary line printed after the table
    assert out.is_symlink() and os.readlink(out) == "/dev/stdout"


# --- a full disk, a file-size limit -------------------------------------------------------------------


def _limited(args: list, limit: int, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``args`` with a file-size limit of ``limit`` bytes (``ulimit -f``): writes past it fail with EFBIG."""
    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    cmd = [str(CROPEDGE), *map(str, args)] if args[0] != FIRMWARE_BENCH else [*FIRMWARE_BENCH, *map(str, args[1:])]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=cli_env(), preexec_fn=lower)


def _leftovers(*folders: Path) -> list[Path]:
    """Temporary files or folders a writer left (``.NAME.*.tmp*``)."""
    return [p for f in folders if f.exists() for p in f.rglob(".*") if ".tmp" in p.name]


def _stack(table: Path, path: Path) -> Path:
    """A 10 x 10 GeoTIFF stack (12 monthly dates, band-date descriptions) from the first 100 pixels of a table."""
    import rasterio
    from affine import Affine

    from cropedge.data.grid import S2_BANDS, YEAR_DOY

    with np.load(table) as z:
        fea = z["fea"][:100]
    dates = [dt.date(2023, 1, 15) + dt.timedelta(days=30 * k) for k in range(12)]
    steps = [int(np.argmin(np.abs(YEAR_DOY - d.timetuple().tm_yday))) for d in dates]
    data = fea[:, :, steps].reshape(10, 10, len(S2_BANDS), len(dates)).transpose(3, 2, 0, 1).reshape(-1, 10, 10)
    with rasterio.open(path, "w", driver="GTiff", width=10, height=10, count=len(data), dtype="uint16",
                       crs="EPSG:32631", transform=Affine(10.0, 0, 600000.0, 0, -10.0, 5e6), nodata=0) as dst:
        dst.write(data.astype(np.uint16))
        for i, (d, b) in enumerate((d, b) for d in dates for b in S2_BANDS):
            dst.set_band_description(i + 1, f"{b}_{d}")
    return path


# writer -> (arguments, folder to search for leftovers, outputs that must not exist, file-size limit); the
# limit lets the up-front probe (one byte) through, so the writer itself meets the limit half-way. (eval
# meets a full disk below, through /dev/full: under a file-size limit TensorFlow's AutoGraph cannot write
# its own temporary files either, and says so in a warning of several lines.)
WRITERS = {
    "data synth": lambda f: (["data", "synth", "--out", f.tmp / "d", "--samples-per-class", 5], f.tmp / "d",
                             [f.tmp / "d" / "ARG.npz"], 4096),
    "data import": lambda f: (["data", "import", f.data / "BEL.npz", "--out", f.tmp / "i"], f.tmp / "i",
                              [f.tmp / "i" / "BEL.npz"], 4096),
    "predict csv": lambda f: (["predict", f.bundle, f.data / "BEL.npz", "--out", f.tmp / "p" / "l.csv"], f.tmp / "p",
                              [f.tmp / "p" / "l.csv"], 1024),
    "predict npz": lambda f: (["predict", f.bundle, f.data / "BEL.npz", "--out", f.tmp / "p" / "l.npz"], f.tmp / "p",
                              [f.tmp / "p" / "l.npz"], 1024),
    "predict GeoTIFF": lambda f: (["predict", f.bundle, _stack(f.data / "BEL.npz", f.tmp / "s.tif"),
                                   "--out", f.tmp / "m" / "map.tif"], f.tmp / "m", [f.tmp / "m" / "map.tif"], 2048),
    "firmware_bench --json": lambda f: ([FIRMWARE_BENCH, f.bundle, "--json", f.tmp / "fb" / "lat.json", "--runs", 3,
                                         "--warmup", 0, "--batch", 1], f.tmp / "fb", [f.tmp / "fb" / "lat.json"], 512),
    "train": lambda f: ([*train_args(f.recipe, f.tmp / "r"), "--quiet"], f.tmp / "r", [f.tmp / "r" / "run.json"],
                        256),
    "export": lambda f: (["export", f.run, "--int8", "--out", f.tmp / "b", "--quiet"], f.tmp / "b",
                         [f.tmp / "b" / "cropnet-xxs-int8"], 8192),
    "bench": lambda f: (["bench", "--recipe", f.recipe, "--precisions", "int8", "--out", f.tmp / "g", "--quiet"],
                        f.tmp / "g", [f.tmp / "g" / "grid.json"], 256),
}


class _Fixtures:
    def __init__(self, request: pytest.FixtureRequest, tmp: Path) -> None:
        self.request, self.tmp = request, tmp

    def __getattr__(self, name: str) -> Path:
        fixture = {"data": "synth_dir", "run": "trained_run", "recipe": "recipe", "bundle": "bundles"}[name]
        value = self.request.getfixturevalue(fixture)
        return value["int8"] if name == "bundle" else value


@pytest.mark.parametrize("writer", [pytest.param(w, marks=pytest.mark.slow) if w in ("train", "export") else w
                                    for w in WRITERS])  # (the two that start TensorFlow in a process of their own)
def test_file_size_limit_in_every_writer(request: pytest.FixtureRequest, tmp_path: Path, writer: str) -> None:
    """EFBIG half-way through a write: one line, exit 2, no output, no temporary file left."""
    args, folder, outputs, limit = WRITERS[writer](_Fixtures(request, tmp_path))
    result = _limited(args, limit)
    prefix = "firmware_bench: error: " if args[0] == FIRMWARE_BENCH else "cropedge: error: "
    line = _one_line(result, prefix)
    # GDAL fails a GeoTIFF's last blocks at close, where it only logs: the map read back is incomplete
    assert ("not written whole" if writer == "predict GeoTIFF" else "file too large") in line.lower(), line
    for path in outputs:
        assert not path.exists(), f"{path} was left behind"
    assert _leftovers(folder, tmp_path) == []


def _one_line(result: subprocess.CompletedProcess, prefix: str) -> str:
    if prefix.startswith("cropedge"):
        return assert_user_error(result)
    assert result.returncode == 2, result.stderr
    # firmware_bench reports each setting as it starts it: the error is its one last line
    lines = [x for x in result.stderr.splitlines() if "error" in x.lower()]
    assert len(lines) == 1 and lines[0].startswith(prefix) and result.stderr.rstrip().endswith(lines[0]), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("verb", ["train", "bench", "data synth"])
def test_no_room_at_all_is_found_before_the_work(request: pytest.FixtureRequest, tmp_path: Path, verb: str) -> None:
    """With no byte writable the verb stops at its up-front check: nothing is made, not even its folder."""
    args, folder, _, _ = WRITERS[verb](_Fixtures(request, tmp_path))
    line = assert_user_error(_limited(args, 0))
    assert "file too large" in line.lower() and not folder.exists(), line


@pytest.mark.parametrize("verb", ["predict", "eval"])
def test_disk_full_is_one_line(bundles: dict[str, Path], trained_run: Path, synth_dir: Path, tmp_path: Path,
                               verb: str) -> None:
    """ENOSPC from the kernel (/dev/full, reached through a link named as the verb wants)."""
    full = tmp_path / ("full.csv" if verb == "predict" else "full.json")
    full.symlink_to("/dev/full")
    argv = (_predict(bundles, synth_dir / "BEL.npz", full) if verb == "predict"
            else ["eval", trained_run, "--target", "BEL", "--out", full, "--quiet"])
    line = assert_user_error(invoke(*argv))
    assert "no space left on device" in line.lower(), line
    assert full.is_symlink() and _leftovers(tmp_path) == []


def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="this machine lets no user mount a tmpfs (unshare -rm)")
def test_a_full_filesystem_in_predict_and_synth(bundles: dict[str, Path], synth_dir: Path, tmp_path: Path) -> None:
    """A 4 KiB tmpfs in a private mount namespace: the predictions and the region files do not fit."""
    disk = tmp_path / "disk"
    disk.mkdir()
    listing = tmp_path / "listing.txt"
    for args in (["predict", bundles["int8"], synth_dir / "BEL.npz", "--out", disk / "labels.csv", "--probabilities"],
                 ["data", "synth", "--out", disk / "d", "--samples-per-class", 20]):
        script = f'mount -t tmpfs -o size=4k tmpfs "{disk}" && "$@"; code=$?; find "{disk}" > "{listing}"; exit $code'
        result = subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", str(CROPEDGE), *map(str, args)],
                                capture_output=True, text=True, env=cli_env(), timeout=600)
        line = assert_user_error(result)
        assert "no space left on device" in line.lower(), line
        found = listing.read_text().split()
        assert not [p for p in found if ".tmp" in p or p.endswith((".csv", ".npz"))], found
