"""The import rules of the wings, as rules about folders.

* ``cropedge/data/``, ``cropedge/device/`` and ``firmware_bench/`` (the device path) import
  no TensorFlow, Keras or TFMOT, and none of the training-side wings;
* ``cropedge/models/`` knows no training loop, export or grid;
* no wing imports ``cropedge/cli/`` (the CLI is a face over the library);
* the device path imports no Dask, no vector-file library and not ``cropedge/maps/``.

Checked statically (every ``import`` in every file, function-level ones included) and in a
subprocess that imports every device-path module with TensorFlow impossible to import.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "cropedge"
HEAVY = ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization", "cropedge.backend")
TRAINING_SIDE = ("cropedge.training", "cropedge.export", "cropedge.models", "cropedge.grid")
DEVICE_PATH = (PACKAGE / "data", PACKAGE / "device", REPO / "firmware_bench")
WINGS = ("data", "models", "training", "export", "device", "grid", "maps")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, as absolute dotted names."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _violations(folders: tuple[Path, ...] | list[Path], banned: tuple[str, ...]) -> list[str]:
    found = []
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            where = path.relative_to(folder.parent)
            found += [f"{where} imports {n}" for n in sorted(_imports(path)) if _under(n, banned)]
    return found


def test_every_wing_is_a_folder():
    loose = sorted(p.stem for p in PACKAGE.glob("*.py"))
    # the shared kernel every wing may use, and nothing else at the top
    assert loose == ["__init__", "__main__", "atomic", "backend", "console", "errors", "metrics", "record", "signals",
                     "versions"]
    assert all((PACKAGE / wing / "__init__.py").is_file() for wing in WINGS)


def test_device_path_imports_no_tensorflow_and_no_training_side():
    # the one exception: tf.lite as the interpreter of last resort, imported only when neither
    # LiteRT nor tflite-runtime is installed (the subprocess test below shows it is not reached)
    fallback = ["device/runtime.py imports cropedge.backend", "device/runtime.py imports cropedge.backend.tf"]
    assert _violations(DEVICE_PATH, HEAVY + TRAINING_SIDE) == fallback


def test_device_path_imports_no_dask_and_no_maps_wing():
    # the device wing stays numpy + LiteRT + rasterio: Dask and vector files live in cropedge/maps
    assert _violations(DEVICE_PATH, ("dask", "distributed", "pyogrio", "shapely", "cropedge.maps")) == []


def test_models_know_no_training_loop():
    assert _violations([PACKAGE / "models"], ("cropedge.training", "cropedge.export", "cropedge.grid",
                                              "cropedge.device", "cropedge.cli")) == []


def test_no_wing_imports_the_cli():
    folders = [PACKAGE / wing for wing in WINGS] + [REPO / "firmware_bench"]
    shared = [p for p in PACKAGE.glob("*.py") if p.stem != "__main__"]
    found = _violations(folders, ("cropedge.cli",))
    found += [f"{p.name} imports {n}" for p in shared for n in sorted(_imports(p)) if _under(n, ("cropedge.cli",))]
    assert found == []


def test_the_rule_checker_sees_a_violation(tmp_path):
    # the static check must be able to fail: a file importing TensorFlow inside a function
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    import tensorflow as tf\n    from cropedge.training.run import Run\n")
    where = f"{tmp_path.name}/bad.py"
    assert _violations([tmp_path], HEAVY + TRAINING_SIDE) == [
        f"{where} imports cropedge.training.run", f"{where} imports cropedge.training.run.Run",
        f"{where} imports tensorflow"]


@pytest.mark.parametrize("folder", ["data", "device"])
def test_device_path_modules_import_with_tensorflow_blocked(folder):
    modules = sorted(
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for p in (PACKAGE / folder).rglob("*.py"))
    if folder == "device":
        modules += ["firmware_bench", "firmware_bench.measure", "firmware_bench.__main__"]
    code = f"""
import sys
class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization"):
            raise ImportError(name + " is blocked on the device path")
sys.meta_path.insert(0, _Blocked())
import importlib
for name in {modules!r}:
    importlib.import_module(name)
print(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tf_keras", "keras")))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
