"""The C array writer: the generated source compiles and holds exactly the given bytes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cropedge.errors import CropEdgeError
from cropedge.export.c_array import c_array_files

CXX = shutil.which("g++") or shutil.which("c++")

# writes the array to stdout and the constants to stderr, so the test can compare both
MAIN = r"""
#include <cstdio>
#include <cstdint>
#include "model_data.h"
int main() {
  if (reinterpret_cast<std::uintptr_t>(g_model_data) % 16 != 0) return 3;
  std::fwrite(g_model_data, 1, g_model_data_len, stdout);
  std::fprintf(stderr, "%d %.6f %s %.3f\n", kAnswer, kScale, kNames[1], kMean[2]);
  return 0;
}
"""


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (folder / name).write_bytes(data)


@pytest.mark.skipif(CXX is None, reason="no C++ compiler on this machine")
def test_generated_array_compiles_and_round_trips(tmp_path: Path) -> None:
    data = bytes(range(256)) * 3 + b"\x00\xff\x10"  # every byte value, a length not a multiple of 12
    files = c_array_files(
        data,
        comment="test model\nsecond line",
        constants={"kAnswer": 42, "kScale": 0.0039062},
        float_arrays={"kMean": [1.0, 2.5, -3.25]},
        string_arrays={"kNames": ["corn", 'so"y']},
    )
    assert set(files) == {"model_data.h", "model_data.cc"}
    assert b"alignas(16) const unsigned char g_model_data[]" in files["model_data.cc"]
    write_files(tmp_path, files)
    (tmp_path / "main.cc").write_text(MAIN)
    subprocess.run(
        [CXX, "-std=c++11", "-Wall", "-Werror", "-o", "main", "main.cc", "model_data.cc"], cwd=tmp_path, check=True
    )
    done = subprocess.run([tmp_path / "main"], capture_output=True, check=True)
    assert done.stdout == data
    assert done.stderr.decode().split() == ["42", "0.003906", 'so"y', "-3.250"]


def test_rejects_bad_names_and_values() -> None:
    with pytest.raises(CropEdgeError, match="identifier"):
        c_array_files(b"\x01", array_name="2bad")
    with pytest.raises(CropEdgeError, match="constant"):
        c_array_files(b"\x01", constants={"kFlag": True})
    with pytest.raises(CropEdgeError, match="empty"):
        c_array_files(b"")
    with pytest.raises(CropEdgeError, match="float"):
        c_array_files(b"\x01", float_arrays={"kX": [float("nan")]})
