"""The device path runs with TensorFlow impossible to import."""

from __future__ import annotations

import subprocess
import sys

from cropedge.data.grid import CROPGLOBE_CLASSES

# Any attempt to import tensorflow (directly or through a library) raises ImportError.
BLOCK_TF = """
import sys
class _NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("tensorflow is blocked on the device path")
sys.meta_path.insert(0, _NoTensorFlow())
"""


def test_predict_and_firmware_bench_never_import_tensorflow(bundles, labelled_npz, tmp_path):
    code = BLOCK_TF + f"""
import cropedge.device.runtime, cropedge.device.predict, cropedge.cli, firmware_bench.measure
from cropedge.device.runtime import LiteModel, resolve_interpreter
from cropedge.cli import cli
assert resolve_interpreter()[1]["runtime"] == "ai-edge-litert"
try:
    cli(["predict", {str(bundles['int8'])!r}, {str(labelled_npz)!r}, "--out", {str(tmp_path / 'p.csv')!r}, "-q"])
except SystemExit as exc:
    assert exc.code == 0, exc.code
from firmware_bench.__main__ import main
main([{str(bundles['float32'])!r}, "--json", {str(tmp_path / 'b.json')!r}, "--runs", "3", "--batch", "4"],
     standalone_mode=False)
print("tensorflow" in sys.modules,
      sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tf_keras", "keras")))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False []"
    assert (tmp_path / "p.csv").read_text().splitlines()[1].split(",")[1] in CROPGLOBE_CLASSES
    assert (tmp_path / "b.json").exists()
