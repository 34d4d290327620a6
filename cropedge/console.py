"""What cropedge shows while it works, decided in one place.

* **Progress.** On a terminal, a bar (tqdm, on stderr) with lines printed above it; anywhere
  else (a log file, a pipe, a notebook's captured output) one plain line per finished unit
  (an epoch, a cell, a stack), like Keras' ``verbose=2``, and never a carriage return.
  ``Progress(enabled=False)`` (``--quiet``, ``--json``) prints nothing at all.
* **Native log lines.** TensorFlow, absl and LiteRT write start-up and conversion chatter
  straight to file descriptor 2, past Python and past ``TF_CPP_MIN_LOG_LEVEL``:
  ``native_quiet`` holds those lines back around the calls that print them and passes
  anything else on (everything, when the call fails).
* **Verbose.** ``--verbose`` sets ``CROPEDGE_VERBOSE=1`` (inherited by worker processes):
  every native line is kept, and TensorFlow's own logging is left at its defaults.

Standard library only (tqdm is imported when a bar is drawn): the device path uses it too.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any, TextIO

from cropedge.signals import held

VERBOSE_ENV = "CROPEDGE_VERBOSE"

# Lines the native libraries print on their own, matched whole:
# * absl's notice and the lines logged before absl's log is initialised, which absl writes to
#   stderr whatever the level (at ``import tensorflow``: oneDNN, "Could not find cuda drivers"),
#   and any other absl/glog-formatted line (I/W/E + date + thread + file:line]);
# * TFLite's and LiteRT's INFO lines ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.");
# * the settings line the MLIR quantizer prints for every full-integer conversion
#   ("fully_quantize: 0, inference_type: 6, ...").
NATIVE_NOISE = re.compile(
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IWE]\d{4} [\d:.]+ +\d+ [\w.+-]+:\d+\] .*"
    rb"|INFO: .*"
    rb"|fully_quantize: \d+, inference_type: .*"
)


def set_verbose() -> None:
    """Keep every log line of the native libraries, in this process and the processes it starts."""
    os.environ[VERBOSE_ENV] = "1"


def is_verbose() -> bool:
    """Whether ``--verbose`` (or ``CROPEDGE_VERBOSE=1``) asked for every log line."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


@contextlib.contextmanager
def captured_fd2() -> Iterator[list[bytes]]:
    """Capture what anything in this process, native code included, writes to file descriptor 2.

    Yields a list that holds the captured bytes once the block has ended.
    """
    out: list[bytes] = []
    # an interrupt between the swaps of file descriptor 2 would leave it pointing at the capture
    # for good, and the command's last line (the interrupt's own) would never be seen
    with held():
        sys.stderr.flush()
        saved = os.dup(2)
        tmp = tempfile.TemporaryFile()
        os.dup2(tmp.fileno(), 2)
    try:
        yield out
    finally:
        with held():
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()  # Python text written meanwhile belongs to the capture too
            os.dup2(saved, 2)
            os.close(saved)
            with tmp:
                tmp.seek(0)
                out.append(tmp.read())


@contextlib.contextmanager
def native_quiet() -> Iterator[None]:
    """Hold back the native libraries' log lines written during the block, unless verbose.

    Every other line written to file descriptor 2 meanwhile (a Python warning, a converter's
    error) is passed on to ``sys.stderr`` afterwards, also when the block raises.
    """
    if is_verbose() or not _has_fd2():
        yield
        return
    captured: list[bytes] = []
    try:
        with captured_fd2() as captured:
            yield
    finally:
        lines = b"".join(captured).splitlines(keepends=True)
        keep = [line for line in lines if not NATIVE_NOISE.fullmatch(line.rstrip(b"\r\n"))]
        if keep:
            sys.stderr.write(b"".join(keep).decode(errors="replace"))
            sys.stderr.flush()


def _has_fd2() -> bool:
    try:
        os.fstat(2)
    except OSError:
        return False
    return True


def _is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def on_terminal() -> bool:
    """Whether progress may draw a bar: stdout and stderr both go to a terminal."""
    return _is_terminal(sys.stdout) and _is_terminal(sys.stderr)


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 10 s``, ``2 h 05 min``: a time span for people."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Progress:
    """Progress of countable work: a bar on a terminal, plain lines anywhere else.

    ``update`` counts finished units. Off a terminal each update prints one line: the
    caller's (``line=``, e.g. an epoch's metrics) or a count with the time elapsed and left;
    with ``heartbeat`` (fine-grained units: pixels, rows) at most one line every that many
    seconds, so a short call prints none. ``write`` prints a note in both modes (above the
    bar on a terminal). Lines go to stdout with the results, the bar to stderr.
    """

    def __init__(
        self,
        total: int,
        unit: str,
        desc: str = "",
        *,
        enabled: bool = True,
        initial: int = 0,
        heartbeat: float | None = None,
    ) -> None:
        """Start counting.

        Args:
            total: Units of the whole work.
            unit: What one unit is (``epoch``, ``job``, ``px``), for the count.
            desc: What the work is, at the start of the bar and of plain lines.
            enabled: False: print nothing at all (``--quiet``, ``--json``).
            initial: Units already done before this call (resumed work): counted, left out of
                the rate that the time left is estimated from.
            heartbeat: Off a terminal, seconds between two count lines (None: a line per update).
        """
        self.total, self.unit, self.desc, self.enabled = total, unit, desc, enabled
        self.done = self.initial = initial
        self.heartbeat = heartbeat
        self.started = self._last = time.monotonic()
        self.bar: Any = None
        if enabled and on_terminal():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, unit=unit, desc=desc or None, dynamic_ncols=True,
                            leave=False, file=sys.stderr, unit_scale=heartbeat is not None)

    def update(self, n: int = 1, line: str | None = None) -> None:
        """Count ``n`` finished units; off a terminal print ``line`` (or the count)."""
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        if not self.enabled:
            return
        now = time.monotonic()
        if line is None and self.heartbeat is not None and now - self._last < self.heartbeat:
            return
        self._last = now
        print(line if line is not None else self.count(), flush=True)

    def count(self) -> str:
        """``desc: 3/8 jobs, 2 min 10 s elapsed, about 3 min 40 s left``."""
        elapsed = time.monotonic() - self.started
        units = self.unit + "s" if len(self.unit) > 2 else self.unit  # jobs, rows; px
        text = f"{self.desc}: " if self.desc else ""
        text += f"{self.done:,}/{self.total:,} {units}, {duration(elapsed)} elapsed"
        fresh = self.done - self.initial
        if 0 < fresh and self.done < self.total:
            text += f", about {duration(elapsed / fresh * (self.total - self.done))} left"
        return text

    def write(self, text: str) -> None:
        """Print a note: above the bar on a terminal, a plain line elsewhere; nothing when disabled."""
        if self.bar is not None:
            self.bar.write(text, file=sys.stdout)
        elif self.enabled:
            print(text, flush=True)

    def plain(self, text: str) -> None:
        """Print a line off a terminal only (a finished unit the bar already counts there)."""
        if self.bar is None and self.enabled:
            print(text, flush=True)

    def status(self, text: str) -> None:
        """Show what the current unit is doing beside the bar (nothing off a terminal)."""
        if self.bar is not None:
            self.bar.set_postfix_str(text)

    def close(self) -> None:
        """Take the bar off the terminal."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> Progress:
        """Use as a context manager: the bar is closed at the end."""
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        """Close the bar."""
        self.close()
