"""Shared fixtures: the real WorldCereal samples in tests/data/worldcereal, hermetic matplotlib."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
WORLDCEREAL = REPO / "tests" / "data" / "worldcereal"


@pytest.fixture(scope="session")
def worldcereal_dir() -> Path:
    if not WORLDCEREAL.is_dir():
        pytest.fail(f"real WorldCereal samples not found at {WORLDCEREAL}")
    return WORLDCEREAL
