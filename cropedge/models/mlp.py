"""The reference MLP baseline: hidden blocks of Dense -> BN -> GELU -> Dropout.

Eight hidden layers of 128 units on the flattened ``bands x T`` window, dropout
0.3, Kaiming-normal (fan_in) weights, as in the CropNet paper's MLP baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

from cropedge.backend import keras
from cropedge.errors import CropEdgeError
from cropedge.models.blocks import batch_norm, he_normal, softmax_head


def mlp(
    input_shape: Sequence[int] = (10, 43, 1),
    num_classes: int = 7,
    width: int = 128,
    depth: int = 8,
    dropout: float = 0.3,
    name: str | None = None,
) -> keras.Model:
    """Build the MLP.

    Args:
        input_shape: ``(bands, T, channels)`` of one normalised pixel series.
        num_classes: Number of output classes.
        width: Units of every hidden layer.
        depth: Number of hidden layers.
        dropout: Dropout rate after every hidden layer.
        name: Model name; default ``mlp_w{width}_d{depth}``.

    Returns:
        A functional tf_keras model ``[N, *input_shape]`` -> float32 probabilities.
        Layer names: ``flatten``, ``dense{i}``, ``bn{i}``, ``gelu{i}``, ``drop{i}``,
        ``logits``, ``probs``.
    """
    if width < 1 or depth < 1:
        raise CropEdgeError(f"mlp needs width >= 1 and depth >= 1, got width={width}, depth={depth}")

    inputs = keras.Input(shape=tuple(input_shape), name="series")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i in range(1, depth + 1):
        x = keras.layers.Dense(width, kernel_initializer=he_normal("fan_in"), name=f"dense{i}")(x)
        x = batch_norm(f"bn{i}")(x)
        # Exact (erf) GELU, PyTorch's default.
        x = keras.layers.Activation("gelu", name=f"gelu{i}")(x)
        x = keras.layers.Dropout(dropout, name=f"drop{i}")(x)
    outputs = softmax_head(x, num_classes)
    return keras.Model(inputs, outputs, name=name or f"mlp_w{width}_d{depth}")
