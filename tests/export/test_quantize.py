"""Converter settings per precision, calibration sampling and QAT, run for real in LiteRT."""

from __future__ import annotations

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from cropedge.backend import keras, tf
from cropedge.data.matching import stratified_sample
from cropedge.errors import CropEdgeError
from cropedge.export import quantize
from cropedge.models import get_model

SHAPE = (10, 43, 1)
CLASSES = 4


def separable_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Normalised inputs whose class sets the mean of a few bands: learnable in seconds."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    x = rng.normal(0, 0.5, (n, *SHAPE)).astype(np.float32)
    for c in range(CLASSES):
        x[y == c, 2 * c : 2 * c + 2] += 1.5
    return x, y


@pytest.fixture(scope="module")
def trained() -> tuple[keras.Model, np.ndarray, np.ndarray]:
    keras.utils.set_random_seed(0)
    x, y = separable_data(512)
    model = get_model("cropnet-xs-shallow", CLASSES, input_shape=SHAPE, width=8)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=64, epochs=10, verbose=0)
    return model, x, y


def run_tflite(flatbuffer: bytes, x: np.ndarray) -> tuple[np.ndarray, dict, dict]:
    """Probabilities from LiteRT (quantizing int8 input, dequantizing int8 output)."""
    interp = Interpreter(model_content=flatbuffer)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.resize_tensor_input(inp["index"], [len(x), *SHAPE])
    interp.allocate_tensors()
    scale, zero = inp["quantization"]
    feed = np.clip(np.rint(x / scale + zero), -128, 127).astype(np.int8) if scale else x
    interp.set_tensor(inp["index"], feed)
    interp.invoke()
    probs = interp.get_tensor(out["index"]).astype(np.float32)
    o_scale, o_zero = out["quantization"]
    if o_scale:
        probs = (probs - o_zero) * o_scale
    return probs, inp, out


@pytest.mark.parametrize(
    ("convert", "io_dtype", "min_agreement"),
    [
        (quantize.convert_float32, np.float32, 1.0),
        (quantize.convert_float16, np.float32, 0.98),
        (quantize.convert_dynamic, np.float32, 0.95),
        (lambda m, x: quantize.convert_int8(m, x[:300]), np.int8, 0.95),
    ],
    ids=["float32", "float16", "dynamic", "int8"],
)
def test_every_precision_runs_and_agrees_with_keras(trained, convert, io_dtype, min_agreement) -> None:
    model, x, _ = trained
    flatbuffer = convert(model, x) if io_dtype == np.int8 else convert(model)
    x_val, _ = separable_data(256, seed=1)
    probs, inp, out = run_tflite(flatbuffer, x_val)
    assert inp["dtype"] == io_dtype and out["dtype"] == io_dtype
    keras_probs = model.predict(x_val, verbose=0)
    agreement = (probs.argmax(1) == keras_probs.argmax(1)).mean()
    assert agreement >= min_agreement
    if io_dtype == np.int8:
        # softmax output: TFLite fixes [0, 1] onto int8 as scale 1/256, zero point -128
        assert out["quantization"] == (pytest.approx(1 / 256), -128)
        assert inp["quantization"][0] > 0
    else:
        assert np.abs(probs - keras_probs).max() < (1e-5 if convert is quantize.convert_float32 else 0.1)


def test_int8_is_about_a_quarter_of_float32() -> None:
    model = get_model("cropnet-xs", 7, input_shape=SHAPE)  # 4 blocks, width 32: ~65k weights
    x, _ = separable_data(16)
    f32, i8 = quantize.convert_float32(model), quantize.convert_int8(model, x)
    assert 0.2 < len(i8) / len(f32) < 0.33


def test_stratified_sample_covers_every_class() -> None:
    y = np.array([0] * 500 + [1] * 20 + [2] * 3)
    idx = stratified_sample(y, 30, seed=1)
    assert len(idx) == 30 and len(set(idx)) == 30
    assert np.bincount(y[idx]).tolist() == [14, 13, 3]  # round-robin until class 2 runs out
    assert np.array_equal(idx, stratified_sample(y, 30, seed=1))
    assert len(stratified_sample(y, 10_000)) == len(y)


@pytest.mark.slow
def test_qat_fine_tune_then_int8(trained) -> None:
    model, x, y = trained
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    qmodel = quantize.qat_finetune(model, ds, epochs=1)
    flatbuffer = quantize.convert_int8(qmodel, x[:64])
    x_val, y_val = separable_data(256, seed=2)
    probs, inp, _ = run_tflite(flatbuffer, x_val)
    assert inp["dtype"] == np.int8
    keras_pred = model.predict(x_val, verbose=0).argmax(1)
    assert (probs.argmax(1) == keras_pred).mean() >= 0.9
    assert (probs.argmax(1) == y_val).mean() >= 0.8


def test_non_quantizable_layers_are_a_clear_error() -> None:
    inp = keras.Input((43, 10))
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Conv1D(4, 3)(inp))
    out = keras.layers.Dense(3, activation="softmax")(x)
    with pytest.raises(CropEdgeError, match="cannot be quantization-aware trained.*--int8"):
        quantize.quantize_aware(keras.Model(inp, out))


def test_int8_needs_representative_samples(trained) -> None:
    with pytest.raises(CropEdgeError, match="representative"):
        quantize.convert_int8(trained[0], np.zeros((0, *SHAPE), np.float32))
