"""Pieces every Keras builder shares: He-normal initialisers and the softmax head.

Kept to plain tf_keras layers that TFMOT's default 8-bit scheme knows, so every
model built from them can go through ``quantize_model`` unchanged.
"""

from __future__ import annotations

from typing import Any

from cropedge.backend import keras


def he_normal(mode: str = "fan_in") -> keras.initializers.Initializer:
    """Kaiming normal (untruncated, gain sqrt(2)) as in PyTorch's ``kaiming_normal_``.

    Keras' ``he_normal`` draws from a truncated normal and uses fan_in only; the
    reference CropNet uses fan_out for convolutions and fan_in for dense layers.
    """
    return keras.initializers.VarianceScaling(2.0, mode=mode, distribution="untruncated_normal")


def batch_norm(name: str) -> keras.layers.BatchNormalization:
    """BatchNorm with PyTorch's defaults (momentum 0.1 there = 0.9 here, eps 1e-5)."""
    return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)


def softmax_head(x: Any, num_classes: int) -> Any:
    """Dense logits -> softmax probabilities in float32.

    The softmax is its own layer with a float32 dtype so that under a
    ``mixed_float16`` policy the model still outputs float32 probabilities.
    """
    logits = keras.layers.Dense(num_classes, kernel_initializer=he_normal("fan_in"), name="logits")(x)
    return keras.layers.Activation("softmax", dtype="float32", name="probs")(logits)
