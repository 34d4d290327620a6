"""Ctrl-C during a finalizer is delivered, not lost; nothing is committed after one, or cut in two."""

from __future__ import annotations

import gc
import os
import signal
import time

import click
import pytest

from cropedge.atomic import write_text
from cropedge.signals import Terminated, held, signals_as_interrupts


@pytest.fixture(autouse=True)
def _sigint_not_ignored():
    """A suite started in the background (``cmd &``) inherits SIGINT ignored, which
    signals_as_interrupts rightly leaves alone: these tests need it delivered."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class _SignalledWhileCollected:
    def __init__(self, sig: int) -> None:
        self.sig = sig

    def __del__(self) -> None:
        os.kill(os.getpid(), self.sig)  # the handler runs here, inside __del__
        time.sleep(0.02)


@pytest.mark.parametrize(("sig", "raised"), [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)])
def test_an_interrupt_during_a_finalizer_is_delivered_after_it(sig: int, raised: type) -> None:
    finished = False
    with pytest.raises(raised), signals_as_interrupts(click.exceptions.Exit):
        obj = _SignalledWhileCollected(sig)
        del obj  # __del__ runs now; an exception raised inside it would only be printed
        gc.collect()
        time.sleep(2)  # the interrupt arrives again outside the finalizer, well before this ends
        finished = True
    assert not finished
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN  # handlers restored afterwards


class _Swallowed(Exception):
    pass


def test_no_output_is_committed_after_an_interrupt_even_one_swallowed(tmp_path) -> None:
    out = tmp_path / "labels.csv"
    with pytest.raises(KeyboardInterrupt), signals_as_interrupts(click.exceptions.Exit):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except KeyboardInterrupt:
            pass  # a library that swallows it and carries on
        write_text(out, "finished after the interrupt\n")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_an_interrupt_inside_a_held_block_waits_for_its_end() -> None:
    steps = []
    with pytest.raises(KeyboardInterrupt), signals_as_interrupts(click.exceptions.Exit):
        with held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # the handler has run by now; the block is not cut
            steps.append("made")
        steps.append("after")
    assert steps == ["made"]


def test_an_interrupt_while_a_report_moves_in_waits_for_every_file(tmp_path, monkeypatch) -> None:
    from cropedge.grid import report

    stage, out = tmp_path / "stage", tmp_path / "report"
    stage.mkdir()
    out.mkdir()
    names = ["report.html", "report.md", "report.json"]
    for name in names:
        (stage / name).write_text("new")
        (out / name).write_text("old")
    replace = os.replace

    def interrupted_replace(src, dst):  # the signal comes after the first rename
        replace(src, dst)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)

    monkeypatch.setattr(report.os, "replace", interrupted_replace)
    with pytest.raises(KeyboardInterrupt), signals_as_interrupts(click.exceptions.Exit):
        report._move_into(stage, out, names)
    assert [(out / name).read_text() for name in names] == ["new"] * 3
