"""What the training tests share: a Keras callback that stands in for a process killed mid-run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cropedge.backend import keras


class _KilledAfter(keras.callbacks.Callback):
    """Raises at the end of Keras epoch ``n`` (1-based; a validation round of several passes on small sets)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch + 1 == self.n:
            raise KeyboardInterrupt("killed")


@pytest.fixture
def killed_after() -> Callable[[int], keras.callbacks.Callback]:
    """``killed_after(n)``: a callback that kills the run at the end of epoch ``n``."""
    return _KilledAfter
