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


def test_auto_season_offset_and_many_stacks_without_tensorflow(bundles, labelled_npz, tmp_path):
    import json

    from .test_geotiff import series, write_stack

    stack = write_stack(tmp_path / "stack.tif", series())
    out = tmp_path / "maps"
    code = BLOCK_TF + f"""
import json
from cropedge.cli import cli
for args in (["predict", {str(bundles['int8'])!r}, {str(labelled_npz)!r}, "--out", {str(tmp_path / 't.csv')!r}],
             ["predict", {str(bundles['int8'])!r}, {str(stack)!r}, "--out", {str(tmp_path / 'm.tif')!r}],
             ["predict", {str(bundles['int8'])!r}, {str(stack)!r}, {str(stack)!r}, "--out", {str(out)!r},
              "--workers", "1"]):
    try:
        cli([*args, "--season-offset", "auto", "--json"])
    except SystemExit as exc:
        assert exc.code == 0, exc.code
print(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tf_keras", "keras", "dask")))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    decoder, text, outputs = json.JSONDecoder(), proc.stdout, []
    while "{" in text:  # the three --json documents, one after another
        doc, end = decoder.raw_decode(text[text.index("{"):])
        outputs.append(doc)
        text = text[text.index("{") + end:]
    assert [o["season_offset"]["method"] for o in outputs[:2]] == ["auto", "auto"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"][0]["season_offset"]["method"] == "auto"
