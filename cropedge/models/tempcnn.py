"""TempCNN (Pelletier et al. 2019): temporal convolutions with bands as channels.

Three Conv(k=5, 64 filters) -> BN -> ReLU -> Dropout layers over time, then
Flatten -> Dense(256) -> BN -> ReLU -> Dropout -> Dense -> softmax. TFMOT cannot
quantize Conv1D, so the series is permuted to ``[N, 1, T, bands]`` and each temporal
convolution is a Conv2D with a ``(1, k)`` kernel (the same arithmetic).
"""

from __future__ import annotations

from collections.abc import Sequence

from cropedge.backend import keras
from cropedge.errors import CropEdgeError
from cropedge.models.blocks import batch_norm, he_normal, softmax_head


def tempcnn(
    input_shape: Sequence[int] = (10, 43, 1),
    num_classes: int = 7,
    filters: int = 64,
    kernel_size: int = 5,
    depth: int = 3,
    hidden: int = 256,
    dropout: float = 0.2,
    name: str | None = None,
) -> keras.Model:
    """Build TempCNN.

    Args:
        input_shape: ``(bands, T, channels)`` of one normalised pixel series.
        num_classes: Number of output classes.
        filters: Filters of every temporal convolution.
        kernel_size: Temporal kernel length.
        depth: Number of temporal convolutions.
        hidden: Units of the dense layer after flattening.
        dropout: Dropout rate after every block.
        name: Model name; default ``tempcnn_f{filters}_k{kernel_size}``.

    Returns:
        A functional tf_keras model ``[N, *input_shape]`` -> float32 probabilities.
        Layer names: ``to_time_major``, ``conv{i}``, ``bn{i}``, ``relu{i}``,
        ``drop{i}``, ``flatten``, ``dense``, ``dense_bn``, ``dense_relu``,
        ``dense_drop``, ``logits``, ``probs``.
    """
    if min(filters, kernel_size, depth, hidden) < 1:
        raise CropEdgeError("tempcnn filters, kernel_size, depth and hidden must all be >= 1")

    inputs = keras.Input(shape=tuple(input_shape), name="series")
    # [bands, T, C] -> [C, T, bands]: time along the conv's width, bands as channels.
    x = keras.layers.Permute((3, 2, 1), name="to_time_major")(inputs)
    for i in range(1, depth + 1):
        # No bias: the following BatchNorm's beta plays that role (and is folded in int8).
        x = keras.layers.Conv2D(
            filters,
            (1, kernel_size),
            padding="same",
            use_bias=False,
            kernel_initializer=he_normal("fan_in"),
            name=f"conv{i}",
        )(x)
        x = batch_norm(f"bn{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
        x = keras.layers.Dropout(dropout, name=f"drop{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(hidden, use_bias=False, kernel_initializer=he_normal("fan_in"), name="dense")(x)
    x = batch_norm("dense_bn")(x)
    x = keras.layers.ReLU(name="dense_relu")(x)
    x = keras.layers.Dropout(dropout, name="dense_drop")(x)
    outputs = softmax_head(x, num_classes)
    return keras.Model(inputs, outputs, name=name or f"tempcnn_f{filters}_k{kernel_size}")
