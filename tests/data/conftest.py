"""Tiny data files written by the tests themselves (seeded), for the readers."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from cropedge.data.grid import S2_BANDS, YEAR_STEPS


@pytest.fixture
def reflectance() -> Callable[..., np.ndarray]:
    """``reflectance(n, steps=73, seed=0)`` -> [n, 10, steps] float32 whole DNs in 100..5000."""

    def make(n: int, steps: int = YEAR_STEPS, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return np.rint(rng.uniform(100, 5000, (n, len(S2_BANDS), steps))).astype(np.float32)

    return make


@pytest.fixture
def write_csv() -> Callable[..., Path]:
    """``write_csv(path, header, rows, delimiter=",")`` -> path; NaN cells are written empty."""

    def write(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]], delimiter: str = ",") -> Path:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, delimiter=delimiter)
            writer.writerow(header)
            writer.writerows([[_cell(v) for v in row] for row in rows])
        return path

    return write


def _cell(value: object) -> str:
    """Numbers as short text, NaN as an empty cell (a missing observation)."""
    if isinstance(value, (float, np.floating)):
        return f"{value:g}" if np.isfinite(value) else ""
    return str(value)
