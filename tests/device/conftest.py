"""Device-test fixtures: tiny real bundles (a tf_keras model converted by the TFLite
converter, float32 and full int8, written with ``bundle.write_bundle``) and reflectance series."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from cropedge.bundle import write_bundle
from cropedge.data.dataset import Dataset
from cropedge.data.grid import CROPGLOBE_CLASSES, S2_BANDS, YEAR_STEPS, Window
from cropedge.data.normalize import BandStats
from cropedge.data.prepare import prepare_input

WINDOW = Window()


def reflectance(n: int, seed: int = 0) -> np.ndarray:
    """[n, 10, 73] plausible surface reflectance (DN): a per-pixel seasonal bump on a soil spectrum."""
    rng = np.random.default_rng(seed)
    t = np.arange(YEAR_STEPS, dtype=np.float32)
    peak = rng.uniform(20, 60, (n, 1, 1))
    width = rng.uniform(4, 15, (n, 1, 1))
    bump = np.exp(-0.5 * ((t - peak) / width) ** 2)
    soil = rng.uniform(800, 3000, (n, len(S2_BANDS), 1))
    canopy = rng.uniform(-1500, 3000, (n, len(S2_BANDS), 1))
    noise = rng.normal(0, 80, (n, len(S2_BANDS), YEAR_STEPS))
    return (soil + canopy * bump + noise).clip(1, 10000).astype(np.float32)


def labelled(n: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed + 1)
    return Dataset(x=reflectance(n, seed), y=rng.integers(0, len(CROPGLOBE_CLASSES), n), source="test")


def make_bundle(folder: Path, precision: str, seed: int = 0) -> Path:
    """Convert a tiny random Conv2D classifier and write it as a bundle with contract metadata."""
    from cropedge.backend import keras, tf

    keras.utils.set_random_seed(seed)
    shape = (len(S2_BANDS), WINDOW.length, 1)
    inputs = keras.Input(shape)
    h = keras.layers.Conv2D(8, (1, 5), activation="relu")(inputs)
    h = keras.layers.Conv2D(8, (3, 3), strides=2, activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(len(CROPGLOBE_CLASSES), activation="softmax")(h)
    model = keras.Model(inputs, outputs, name="tiny")

    x_year = reflectance(256, seed=seed + 100)
    stats = BandStats.fit(x_year)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if precision == "int8":
        calib = prepare_input(x_year, WINDOW, stats)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([calib[i : i + 1]] for i in range(len(calib)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    flatbuffer = converter.convert()

    interpreter = Interpreter(model_content=flatbuffer)
    io = {}
    for key, det in (("input", interpreter.get_input_details()[0]), ("output", interpreter.get_output_details()[0])):
        scale, zero = det["quantization"]
        io[key] = {"shape": [-1, *det["shape"][1:].tolist()], "dtype": np.dtype(det["dtype"]).name,
                   "scale": float(scale), "zero_point": int(zero)}
    meta = {
        "name": f"tiny-{precision}",
        "model": "tiny",
        "precision": precision,
        "quantization": "full-int8" if precision == "int8" else "none",
        "classes": list(CROPGLOBE_CLASSES),
        "bands": list(S2_BANDS),
        "window": WINDOW.to_dict(),
        "season_offset_days": 0.0,
        "normalization": stats.to_dict(),
        **io,
        "params": int(model.count_params()),
        "macs": 0,
        "source_run": {"path": "", "validation": {}},
        "versions": {"tensorflow": tf.__version__, "python": sys.version.split()[0]},
        "created": "2025-01-01T00:00:00Z",
        "self_check": {},
    }
    return write_bundle(folder, flatbuffer, meta)


@pytest.fixture(scope="session")
def bundles(tmp_path_factory) -> dict[str, Path]:
    """{"float32": bundle folder, "int8": bundle folder}."""
    root = tmp_path_factory.mktemp("bundles")
    return {p: make_bundle(root / f"tiny-{p}", p) for p in ("float32", "int8")}


@pytest.fixture(scope="session")
def labelled_npz(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "pixels.npz"
    labelled(300, seed=3).save_npz(path)
    return path
