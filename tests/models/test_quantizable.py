"""The ``quantizable`` flag is true: QAT wrapping, full-int8 TFLite conversion and LiteRT inference.

Tiny widths keep this fast; variants that differ only in width collapse to one tiny
configuration, so every quantizable spec is covered by the parametrisation below.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
from ai_edge_litert.interpreter import Interpreter

from cropedge.backend import tf
from cropedge.models import get_model, list_models, model_spec

SHAPE = (10, 43, 1)
CLASSES = 5
TINY = {
    "cropnet": {"width": 8},
    "tcn": {"width": 8},
    "tempcnn": {"filters": 8, "hidden": 16},
    "mlp": {"width": 16, "depth": 2},
    "transformer": {"d_model": 8, "heads": 2, "ff": 16},
}


def _tiny_configs(quantizable: bool) -> dict[str, list[str]]:
    """Tiny build options (as a hashable key) -> the spec names they stand for."""
    configs: dict[str, list[str]] = {}
    for name in list_models():
        spec = model_spec(name)
        if spec.kind == "keras" and spec.quantizable == quantizable:
            options = {**spec.defaults, **TINY[spec.family]}
            key = f"{spec.family}:" + ",".join(f"{k}={v}" for k, v in sorted(options.items()))
            configs.setdefault(key, []).append(name)
    return configs


QUANTIZABLE = _tiny_configs(True)
FLOAT_ONLY = _tiny_configs(False)


def _build(key: str):
    names = (QUANTIZABLE | FLOAT_ONLY)[key]
    return get_model(names[0], CLASSES, SHAPE, **TINY[model_spec(names[0]).family])


def _int8_tflite(model, samples: np.ndarray) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([s[None]] for s in samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def _run_int8(flatbuffer: bytes, x: np.ndarray) -> np.ndarray:
    interpreter = Interpreter(model_content=flatbuffer)
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], list(x.shape))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8
    scale, zero = inp["quantization"]
    interpreter.set_tensor(inp["index"], np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8))
    interpreter.invoke()
    scale, zero = out["quantization"]
    return (interpreter.get_tensor(out["index"]).astype(np.float32) - zero) * scale


def test_every_quantizable_spec_is_covered() -> None:
    covered = {name for names in QUANTIZABLE.values() for name in names}
    assert covered == {n for n in list_models() if model_spec(n).quantizable}
    assert {"cropnet", "cropnet-shallow", "tcn", "tcn-dense", "tempcnn", "mlp"} <= covered


@pytest.mark.parametrize("key", sorted(QUANTIZABLE))
def test_quantize_and_convert_to_full_int8(key: str) -> None:
    qat = tfmot.quantization.keras.quantize_model(_build(key))
    x = np.random.default_rng(0).normal(size=(16, *SHAPE)).astype(np.float32)
    probs = _run_int8(_int8_tflite(qat, x), x)
    assert probs.shape == (16, CLASSES)
    # The int8 model computes what the fake-quantised Keras model computes, to a few output steps.
    np.testing.assert_allclose(probs, qat(x, training=False).numpy(), atol=0.02)


@pytest.mark.parametrize("key", sorted(FLOAT_ONLY))
def test_float_only_models_are_refused_by_tfmot(key: str) -> None:
    with pytest.raises(RuntimeError, match="not supported"):
        tfmot.quantization.keras.quantize_model(_build(key))
