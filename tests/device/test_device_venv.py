"""A fresh ``pip install "cropedge[device]"``: no TensorFlow in it, and predict and
firmware_bench give what the full environment gives."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import venv
from pathlib import Path

import numpy as np
import pytest
import rasterio

from cropedge.data import load_dataset
from cropedge.device.runtime import LiteModel

REPO = Path(__file__).resolve().parents[2]
# what an sdist of the project holds
PROJECT_FILES = ("pyproject.toml", "README.md", "cropedge", "firmware_bench")


@pytest.mark.slow
def test_device_install_runs_without_tensorflow(bundles, labelled_npz, tmp_path):
    # install from a copy, so the build leaves nothing in the checkout (tests run in parallel)
    src = tmp_path / "src"
    src.mkdir()
    for name in PROJECT_FILES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, src / name)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python, bin_dir = env_dir / "bin" / "python", env_dir / "bin"
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", f"{src}[device]"], capture_output=True, text=True
    )
    assert install.returncode == 0, install.stderr[-3000:]

    no_tf = subprocess.run([python, "-c", "import tensorflow"], capture_output=True, text=True)
    assert no_tf.returncode != 0 and "No module named 'tensorflow'" in no_tf.stderr

    out = tmp_path / "pred.csv"
    predict = subprocess.run([bin_dir / "cropedge", "predict", bundles["int8"], labelled_npz, "--out", out, "-q"],
                             capture_output=True, text=True)
    assert predict.returncode == 0, predict.stderr
    model = LiteModel(bundles["int8"])
    ids, _ = model.predict(model.input_from(load_dataset(labelled_npz)))
    assert [r["class"] for r in csv.DictReader(out.open())] == [model.classes[i] for i in ids]

    bench_json = tmp_path / "bench.json"
    bench = subprocess.run([python, "-m", "firmware_bench", bundles["int8"], bundles["float32"], "--json", bench_json,
                            "--runs", "3", "--batch", "1,64", "--data", labelled_npz], capture_output=True, text=True)
    assert bench.returncode == 0, bench.stderr
    result = json.loads(bench_json.read_text())
    assert result["runtime"] == "ai-edge-litert" and len(result["timings"]) == 4

    # a GeoTIFF needs the geo extra: a one-line hint, not a traceback
    stack = tmp_path / "stack.tif"
    with rasterio.open(stack, "w", driver="GTiff", width=2, height=2, count=1, dtype="uint16") as dst:
        dst.write(np.ones((1, 2, 2), np.uint16))
    raster = subprocess.run([bin_dir / "cropedge", "predict", bundles["int8"], stack, "--out", tmp_path / "map.tif"],
                            capture_output=True, text=True)
    assert raster.returncode == 2 and 'pip install "cropedge[geo]"' in raster.stderr
    assert not (tmp_path / "map.tif").exists()
