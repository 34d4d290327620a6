"""Keras model -> TFLite flatbuffer at a given precision.

Converter settings for post-training quantization (float16 weights, dynamic-range int8,
full-integer int8), the representative dataset that calibrates full-integer int8, and
quantization-aware training with TFMOT.

Each converter takes a float ``tf_keras`` model whose input is the normalised
``[batch, bands, T, 1]`` tensor and returns the flatbuffer bytes.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import numpy as np

from cropedge.backend import keras, tf
from cropedge.console import native_quiet
from cropedge.errors import CropEdgeError

# fewer samples than this leave activation ranges under-sampled (rare classes, extremes)
MIN_REP_SAMPLES = 300


def representative_dataset(x: np.ndarray) -> Callable[[], Iterator[list[np.ndarray]]]:
    """The converter's calibration callback: one prepared sample [1, bands, T, 1] per step."""
    x = np.asarray(x, dtype=np.float32)

    def gen() -> Iterator[list[np.ndarray]]:
        for i in range(len(x)):
            yield [x[i : i + 1]]

    return gen


def _converter(model: keras.Model) -> tf.lite.TFLiteConverter:
    return tf.lite.TFLiteConverter.from_keras_model(model)


def _convert(converter: tf.lite.TFLiteConverter, what: str) -> bytes:
    try:
        with warnings.catch_warnings():
            # int8 I/O without input statistics is what we ask for: the scale comes from calibration
            warnings.filterwarnings("ignore", "Statistics for quantized inputs", UserWarning)
            with native_quiet():  # the MLIR quantizer's "fully_quantize: 0, inference_type: 6, ..." line
                return converter.convert()
    except Exception as exc:  # the converter raises bare Exception/ConverterError for unsupported graphs
        raise CropEdgeError(f"TFLite conversion to {what} failed: {' '.join(str(exc).split())[:400]}") from None


def convert_float32(model: keras.Model) -> bytes:
    """Plain float32 flatbuffer: the reference every quantized model is compared with."""
    return _convert(_converter(model), "float32")


def convert_float16(model: keras.Model) -> bytes:
    """Float16 weights (half the size), float32 compute and I/O on CPUs."""
    c = _converter(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.target_spec.supported_types = [tf.float16]
    return _convert(c, "float16")


def convert_dynamic(model: keras.Model) -> bytes:
    """Dynamic-range: int8 weights, activations quantized on the fly, float32 I/O; no calibration."""
    c = _converter(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    return _convert(c, "dynamic-range int8")


def convert_int8(model: keras.Model, rep_x: np.ndarray) -> bytes:
    """Full-integer int8: int8 kernels only, int8 input and output.

    ``rep_x`` are prepared (normalised) representative samples. For a QAT model the
    ranges come from training and ``rep_x`` only satisfies the converter.
    """
    if len(rep_x) == 0:
        raise CropEdgeError("full-integer int8 needs representative samples, got none")
    c = _converter(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = representative_dataset(rep_x)
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    c.inference_input_type = tf.int8
    c.inference_output_type = tf.int8
    return _convert(c, "full-integer int8")


def quantize_aware(model: keras.Model) -> keras.Model:
    """Wrap a trained float model with TFMOT's default 8-bit fake-quantization.

    Raises:
        CropEdgeError: a layer TFMOT's default scheme does not know (Conv1D, attention, ...).
    """
    import tensorflow_model_optimization as tfmot

    try:
        return tfmot.quantization.keras.quantize_model(model)
    except (RuntimeError, ValueError) as exc:
        raise CropEdgeError(
            f"model '{model.name}' cannot be quantization-aware trained: {' '.join(str(exc).split())[:300]}; "
            "export it with post-training --int8 instead"
        ) from None


def qat_finetune(
    model: keras.Model,
    train_ds: tf.data.Dataset,
    epochs: int,
    learning_rate: float = 1e-5,
    class_weight: dict[int, float] | None = None,
    verbose: int = 0,
) -> keras.Model:
    """Quantization-aware fine-tuning of a trained float model.

    Args:
        model: the trained float model (left unchanged).
        train_ds: batches of (normalised input, label); augmented source training data.
        epochs: a few are enough: the weights are already trained, only the ranges adapt.
        learning_rate: small, so fine-tuning does not undo training.
        class_weight: the loss weights training used (balanced classes), if any.
        verbose: Keras fit verbosity.

    Returns:
        The quantization-aware model, ready for :func:`convert_int8`.
    """
    qmodel = quantize_aware(model)
    qmodel.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    qmodel.fit(train_ds, epochs=epochs, class_weight=class_weight, verbose=verbose)
    return qmodel
