"""Ctrl-C and SIGTERM as exceptions while a command runs, and no output committed after one.

SIGTERM is what a scheduler sends to stop or preempt a job (Slurm, Kubernetes, systemd); it
raises :class:`Terminated`, a ``KeyboardInterrupt``, so every cleanup Ctrl-C runs runs for it too.
A signal is remembered until the command ends: the atomic writers refuse to rename a finished
file into place once one has come (so an interrupted command leaves no output it had not
finished before the interrupt), and one that something swallowed is raised again at the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread is."""


_pending: list[int] = []  # signals received while the command runs
_holds: list[None] = []  # open held() blocks: a signal waits until the last one ends


def raise_if_interrupted() -> None:
    """Raise the interrupt a signal received earlier stands for (if one came and was swallowed)."""
    if _pending:
        raise Terminated if _pending[0] == signal.SIGTERM else KeyboardInterrupt


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Let a signal wait while the block runs, then raise it: for steps that must not be cut in two.

    Making a temporary file and learning its name, or swapping a finished folder for the old one:
    an interrupt between the two system calls would leave a stray file or no folder at all.
    """
    _holds.append(None)
    try:
        yield
    finally:
        _holds.pop()
    raise_if_interrupted()


def _in_finalizer(frame: Any) -> bool:
    """Whether ``frame`` runs inside a ``__del__``, where Python drops any exception raised."""
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def _interrupt(signum: int, frame: Any) -> None:
    _pending.append(signum)
    if _holds:
        return  # held() raises it when its block ends
    if _in_finalizer(frame):
        # raised here the interrupt would be printed as "Exception ignored" and lost, and the
        # command would carry on: deliver it again a moment later, outside the finalizer
        threading.Timer(0.01, _redeliver, (signum,)).start()
        return
    raise_if_interrupted()


def _redeliver(signum: int) -> None:
    if _pending:  # the command is still running
        os.kill(os.getpid(), signum)


@contextlib.contextmanager
def signals_as_interrupts(on_exit: type[BaseException]) -> Iterator[None]:
    """Ctrl-C and SIGTERM as exceptions inside the block (main thread only, as ``signal`` requires).

    ``on_exit``: the exception a command ends with when it sets its own exit status (click's
    ``Exit``); a signal swallowed before it is raised instead, as after a normal end.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # a signal ignored from the start (a background job of a non-interactive shell) stays ignored
    wanted = [sig for sig in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(sig) is not signal.SIG_IGN]
    previous = {sig: signal.signal(sig, _interrupt) for sig in wanted}
    try:
        try:
            yield
        except on_exit:
            raise_if_interrupted()
            raise
        raise_if_interrupted()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _pending.clear()
