"""cropedge.console: plain progress lines off a terminal, durations, and native log lines held
back from file descriptor 2 (written with os.write, as native code writes them) unless verbose."""

from __future__ import annotations

import os

import pytest

from cropedge import console
from cropedge.console import Progress, duration, native_quiet

NATIVE_LINES = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    b"E0000 00:00:1733050000.123456   12345 cuda_executor.cc:1228] failed call to cuInit: UNKNOWN ERROR (303)\n",
    b"I0000 00:00:1733050000.223456   12345 cpu_feature_guard.cc:210] oneDNN custom operations are on.\n",
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
    b"fully_quantize: 0, inference_type: 6, input_inference_type: INT8, output_inference_type: INT8\n",
]


@pytest.mark.parametrize(("seconds", "text"), [(0, "0 s"), (42.4, "42 s"), (190, "3 min 10 s"),
                                               (7500, "2 h 05 min"), (-3, "0 s")])
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_progress_off_a_terminal_prints_one_plain_line_per_unit(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress(3, "job", "bench") as progress:
        assert progress.bar is None  # pytest's captured output is not a terminal
        progress.update(line="job 1 done")
        progress.update()
        progress.status("scoring")  # beside a bar only
        progress.plain("a finished unit")
        progress.write("a note")
        progress.update()
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert lines[0] == "job 1 done"
    assert lines[1].startswith("bench: 2/3 jobs, 0 s elapsed, about ") and lines[1].endswith(" left")
    assert lines[2:4] == ["a finished unit", "a note"]
    assert lines[4] == "bench: 3/3 jobs, 0 s elapsed"  # done: no time left to estimate
    assert "\r" not in out.out and out.err == ""


def test_progress_heartbeat_and_disabled(capsys: pytest.CaptureFixture[str]) -> None:
    beat = Progress(10_000, "px", "predict", heartbeat=60)
    for _ in range(100):
        beat.update(100)
    beat.close()
    off = Progress(2, "epoch", enabled=False)
    off.update(line="never")
    off.write("never")
    off.plain("never")
    assert capsys.readouterr().out == ""  # a short call prints no heartbeat, a disabled one nothing


def _write_native(extra: bytes = b"") -> None:
    for line in NATIVE_LINES:
        os.write(2, line)
    if extra:
        os.write(2, extra)


def test_native_quiet_holds_back_native_lines_and_passes_the_rest(capfd: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(console.VERBOSE_ENV, raising=False)
    with native_quiet():
        os.write(2, b"Traceback (most recent call last):\n")
        _write_native(b"ValueError: a converter's own error\n")
    err = capfd.readouterr().err
    assert err.splitlines() == ["Traceback (most recent call last):", "ValueError: a converter's own error"]


def test_native_quiet_passes_the_rest_when_the_block_fails(capfd: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(console.VERBOSE_ENV, raising=False)
    with pytest.raises(RuntimeError), native_quiet():
        _write_native(b"the reason it failed\n")
        raise RuntimeError("conversion failed")
    assert capfd.readouterr().err == "the reason it failed\n"


def test_verbose_keeps_every_native_line(capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(console.VERBOSE_ENV, raising=False)
    console.set_verbose()  # what --verbose does; monkeypatch restores the environment afterwards
    assert console.is_verbose()
    with native_quiet():
        _write_native()
    assert capfd.readouterr().err.encode() == b"".join(NATIVE_LINES)
