"""LiteModel against the raw interpreter, batching, input checks and interpreter resolution."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from cropedge.data.grid import S2_BANDS, Window
from cropedge.data.normalize import BandStats
from cropedge.data.prepare import prepare_input
from cropedge.device.bundle import load_bundle
from cropedge.device.runtime import LiteModel, resolve_interpreter
from cropedge.errors import CropEdgeError

from .conftest import reflectance, target


def raw_probabilities(bundle_path, x_year: np.ndarray) -> np.ndarray:
    """The reference: one direct interpreter call on the whole input, (de)quantized by hand."""
    bundle = load_bundle(bundle_path)
    meta = bundle.metadata.to_dict()
    x = prepare_input(x_year, Window.from_dict(meta["window"]), BandStats.from_dict(meta["normalization"]))
    interpreter = Interpreter(model_content=bundle.model_bytes)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(inp["index"], list(x.shape))
    interpreter.allocate_tensors()
    if inp["dtype"] == np.int8:
        scale, zero = inp["quantization"]
        x = np.clip(np.round(x / scale) + zero, -128, 127).astype(np.int8)
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    y = interpreter.get_tensor(out["index"])
    if out["dtype"] == np.int8:
        scale, zero = out["quantization"]
        y = (y.astype(np.float32) - zero) * scale
    return y


def test_resolves_litert_first():
    interpreter_cls, info = resolve_interpreter()
    assert interpreter_cls is Interpreter
    assert info["runtime"] == "ai-edge-litert"
    assert info["version"][0].isdigit()


def test_falls_back_to_tf_lite_without_litert(bundles):
    code = (
        "import sys; sys.modules['ai_edge_litert'] = None\n"
        "from cropedge.device.runtime import LiteModel\n"
        f"m = LiteModel({str(bundles['int8'])!r})\n"
        "print(m.runtime_info['runtime'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "tensorflow"


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_matches_direct_interpreter(bundles, precision):
    x = reflectance(300, seed=5)
    model = LiteModel(bundles[precision])
    ids, probs = model.predict(x, batch_size=300)
    ref = raw_probabilities(bundles[precision], x)
    if precision == "int8":
        np.testing.assert_array_equal(probs, ref)
    else:
        np.testing.assert_allclose(probs, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ids, ref.argmax(axis=1))
    assert len(np.unique(ids)) > 1  # the model separates something, or the comparison proves little


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_batch_size_does_not_change_predictions(bundles, precision):
    x = reflectance(1500, seed=6)
    model = LiteModel(bundles[precision], num_threads=1)
    results = {b: model.predict(x, batch_size=b) for b in (1, 7, 1024)}
    ids_1024, probs_1024 = results[1024]
    for b in (1, 7):
        np.testing.assert_array_equal(results[b][0], ids_1024)
        np.testing.assert_allclose(results[b][1], probs_1024, atol=1e-6)
    # another call: the full-batch interpreter is reused, the tail of 6 runs padded to 8
    before = set(model._runners)
    model.predict(x[:1030], batch_size=1024)
    assert set(model._runners) - before == {8}


def test_progress_counts_every_sample(bundles):
    done = []
    LiteModel(bundles["int8"]).predict(reflectance(50), batch_size=16, progress=done.append)
    assert done == [16, 16, 16, 2]


def test_season_offset_moves_the_window(bundles):
    x = reflectance(200, seed=7)
    model = LiteModel(bundles["float32"])
    shifted = np.roll(x, 20, axis=-1)  # the season 100 days later
    np.testing.assert_allclose(model.predict_proba(shifted, season_offset_days=100), model.predict_proba(x), atol=1e-6)


@pytest.mark.parametrize(
    "shape, match",
    [((4, 9, 73), "10 bands"), ((4, 10, 43), "73 steps"), ((10, 73), "shape")],
)
def test_rejects_wrong_shapes(bundles, shape, match):
    with pytest.raises(CropEdgeError, match=match):
        LiteModel(bundles["int8"]).predict(np.ones(shape, np.float32))


def test_rejects_missing_values(bundles):
    x = reflectance(3)
    x[1, 2, 30] = np.nan
    with pytest.raises(CropEdgeError, match="missing values"):
        LiteModel(bundles["int8"]).predict(x)


def test_dataset_bands_are_checked_and_reordered(bundles):
    model = LiteModel(bundles["int8"])
    data = target(5)
    order = list(reversed(range(len(S2_BANDS))))
    reordered = replace(data, x=data.x[:, order], bands=tuple(S2_BANDS[i] for i in order))
    np.testing.assert_array_equal(model.input_from(reordered), data.x)
    with pytest.raises(CropEdgeError, match="missing B12"):
        model.input_from(replace(data, x=data.x[:, :9], bands=S2_BANDS[:9]))
    with pytest.raises(CropEdgeError, match="year grid"):
        model.check_dataset(replace(data, x=data.x[:, :, :40], doy=data.doy[:40]))


def test_metadata_must_describe_the_model(bundles, tmp_path):
    from cropedge.device.bundle import write_bundle

    bundle = load_bundle(bundles["int8"])
    write_bundle(tmp_path / "b", bundle.model_bytes, replace(bundle.metadata, window=Window(121, 300)))
    with pytest.raises(CropEdgeError, match="metadata says"):
        LiteModel(tmp_path / "b")
