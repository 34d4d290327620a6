"""Shared fixtures: the real WorldCereal samples in tests/data/worldcereal, hermetic matplotlib,
reproducible hypothesis profiles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# property tests and fuzzing: `make test` draws the same examples every run (derandomized,
# no example database written into the checkout); `make fuzz` (HYPOTHESIS_PROFILE=fuzz)
# draws fresh ones with a larger budget. A failure prints the blob that replays it.
settings.register_profile("repro", derandomize=True, database=None, print_blob=True)
settings.register_profile("fuzz", derandomize=False, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repro"))

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
WORLDCEREAL = REPO / "tests" / "data" / "worldcereal"


@pytest.fixture(scope="session")
def worldcereal_dir() -> Path:
    if not WORLDCEREAL.is_dir():
        pytest.fail(f"real WorldCereal samples not found at {WORLDCEREAL}")
    return WORLDCEREAL
