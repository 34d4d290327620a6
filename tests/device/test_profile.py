"""Device profiles: the shipped files load, and mistakes in a profile are named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from cropedge.device.profile import PROFILE_DIR, DeviceProfile, load_profile
from cropedge.errors import CropEdgeError
from cropedge.export.exporter import PRECISION_NAMES


@pytest.mark.parametrize("name", ["pi4", "pi5", "mcu", "x86"])
def test_shipped_profiles_load(name: str) -> None:
    profile = load_profile(PROFILE_DIR / f"{name}.toml")
    assert profile.name == name and profile == load_profile(name)
    assert set(profile.precisions) <= set(PRECISION_NAMES)
    assert profile.latency_budget_ms and profile.latency_budget_ms > 0
    # every shipped profile documents a throughput for each precision it exports: the report's estimate
    assert set(profile.precisions) <= set(profile.throughput_gmacs) <= set(PRECISION_NAMES)


def test_mcu_profile_has_budgets() -> None:
    mcu = load_profile("mcu")
    assert mcu.target == "mcu" and mcu.c_array and mcu.batch_size == 1
    assert mcu.arena_budget_bytes and mcu.flash_budget_bytes


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('target = "gpu"', "target 'gpu'"),
        ("[export]\nrep_sample = 300", "unknown key 'export.rep_sample'"),
        ("[exports]\nrep_samples = 300", r"unknown table \[exports\]"),
        ('[export]\nrep_samples = "300"', "'export.rep_samples' must be int"),
        ("[export]\nc_array = 1", "'export.c_array' must be bool"),
        ("[export]\nqat_epochs = 0", "qat_epochs must be at least 1"),
        ("[export]\nagreement_threshold = 98", "fraction"),
        ('target = "mcu"', "arena_budget_bytes"),
        ("[mcu]\narena_budget_bytes = 1000\nflash_budget_bytes = 1000", "only apply"),
        ("name = ", "not a valid TOML"),
        # a non-finite number would turn a budget or a threshold off without a word
        ("[runtime]\nlatency_budget_ms = nan", "latency_budget_ms must be a positive, finite number"),
        ("[runtime]\nlatency_budget_ms = inf", "latency_budget_ms must be a positive, finite number"),
        ("[runtime]\nlatency_budget_ms = -inf", "latency_budget_ms must be a positive, finite number"),
        ("[runtime]\nlatency_budget_ms = 0", "latency_budget_ms must be a positive, finite number"),
        ("[export]\nagreement_threshold = nan", "fraction"),
        ("[runtime]\nthroughput_gmacs = { int8 = nan }", "throughput_gmacs.int8' must be a positive number"),
        ("[runtime]\nthroughput_gmacs = { int8 = inf }", "throughput_gmacs.int8' must be a positive number"),
        ("[runtime]\nthroughput_gmacs = { float32 = -1.0 }", "throughput_gmacs.float32' must be a positive"),
        ('[runtime]\nthroughput_gmacs = { int8 = "fast" }', "throughput_gmacs.int8' must be a positive"),
        ("[runtime]\nthroughput_gmacs = 11.0", "'runtime.throughput_gmacs' must be dict"),
    ],
)
def test_bad_profiles_are_rejected(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(CropEdgeError, match=message):
        load_profile(write(tmp_path, text))


def test_missing_profile_lists_the_shipped_ones(tmp_path: Path) -> None:
    with pytest.raises(CropEdgeError, match="pi4"):
        load_profile(tmp_path / "nope.toml")


def test_defaults_fill_what_a_file_leaves_out(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, "[runtime]\nthreads = 2"))
    assert profile.threads == 2 and profile.name == "p"
    assert profile.rep_samples == DeviceProfile().rep_samples


def test_estimate_is_macs_over_throughput(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, "[runtime]\nbatch_size = 256\nthroughput_gmacs = { int8 = 10 }"))
    assert profile.estimated_ms(1_000_000, "int8") == pytest.approx(256 * 1e6 / 10e9 * 1e3)
    assert profile.estimated_ms(1_000_000, "int8", batch=1) == pytest.approx(0.1)
    assert profile.estimated_ms(1_000_000, "float32") is None and profile.estimated_ms(None, "int8") is None
