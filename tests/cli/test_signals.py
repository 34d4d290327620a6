"""Ctrl-C that arrives while Python runs a finalizer is delivered, not lost."""

from __future__ import annotations

import gc
import os
import signal
import time

import pytest

from cropedge.cli import Terminated, _signals_as_interrupts


class _SignalledWhileCollected:
    def __init__(self, sig: int) -> None:
        self.sig = sig

    def __del__(self) -> None:
        os.kill(os.getpid(), self.sig)  # the handler runs here, inside __del__
        time.sleep(0.02)


@pytest.mark.parametrize(("sig", "raised"), [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)])
def test_an_interrupt_during_a_finalizer_is_delivered_after_it(sig: int, raised: type) -> None:
    finished = False
    with pytest.raises(raised), _signals_as_interrupts():
        obj = _SignalledWhileCollected(sig)
        del obj  # __del__ runs now; an exception raised inside it would only be printed
        gc.collect()
        time.sleep(2)  # the interrupt arrives again outside the finalizer, well before this ends
        finished = True
    assert not finished
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN  # handlers restored afterwards
