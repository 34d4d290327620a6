"""Temporal students: cheap 1-D convolutional nets over time, with the bands as channels.

Built to be fast under XNNPACK int8 and small enough for per-pixel maps on a Pi, and to be
taught by CropNet (``cropedge distill``):

* **Stem**: one Conv2D whose kernel spans every band and ``stem_kernel`` time steps
  (``(bands, k)``, valid over bands), with an early temporal **stride** (default 2). On the
  ``[N, bands, T, 1]`` input this is exactly a temporal convolution with the bands as
  input channels, without a transpose in the graph: the output is ``[N, 1, T / stride, width]``.
* **Blocks**: ``depth`` temporal blocks at that resolution, each a **depthwise-separable**
  convolution (DepthwiseConv2D ``(1, k)`` -> BN -> ReLU -> Conv2D 1x1 -> BN -> ReLU) or,
  with ``separable=False``, a full ``(1, k)`` Conv2D -> BN -> ReLU; a residual add around
  every block after the first, dropout after every block.
* **Head**: global average pooling over time (as CropNet, so a shifted season still maps
  to the same features) -> Dense -> softmax.

Every layer is one TFMOT's default 8-bit scheme quantizes (Conv2D, DepthwiseConv2D, BN
folded into the conv before it, ReLU, Add, pooling, Dense), and the int8 TFLite graph is
PAD, CONV_2D, DEPTHWISE_CONV_2D, ADD, MEAN, FULLY_CONNECTED, SOFTMAX.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cropedge.backend import keras
from cropedge.errors import CropEdgeError
from cropedge.models.blocks import batch_norm, he_normal, softmax_head


def _temporal_pad(x: Any, kernel: int, name: str) -> Any:
    # 'same' along time for any kernel and stride, with PyTorch-style symmetric padding
    left = (kernel - 1) // 2
    return keras.layers.ZeroPadding2D(((0, 0), (left, kernel - 1 - left)), name=name)(x)


def _block(x: Any, width: int, kernel: int, separable: bool, b: int) -> Any:
    p = f"block{b}_"
    if separable:
        x = keras.layers.DepthwiseConv2D(
            (1, kernel), padding="same", use_bias=False, depthwise_initializer=he_normal("fan_out"), name=p + "dw"
        )(x)
        x = batch_norm(p + "dw_bn")(x)
        x = keras.layers.ReLU(name=p + "dw_relu")(x)
        kernel_shape: tuple[int, int] = (1, 1)
    else:
        kernel_shape = (1, kernel)
    x = keras.layers.Conv2D(
        width, kernel_shape, padding="same", use_bias=False, kernel_initializer=he_normal("fan_out"), name=p + "conv"
    )(x)
    x = batch_norm(p + "bn")(x)
    return keras.layers.ReLU(name=p + "relu")(x)


def tcn(
    input_shape: Sequence[int] = (10, 43, 1),
    num_classes: int = 7,
    width: int = 64,
    depth: int = 4,
    kernel_size: int = 5,
    stem_kernel: int = 5,
    stride: int = 2,
    separable: bool = True,
    dropout: float = 0.1,
    name: str | None = None,
) -> keras.Model:
    """Build a temporal student.

    Args:
        input_shape: ``(bands, T, 1)`` of one normalised pixel series.
        num_classes: Number of output classes.
        width: Channels of the stem and of every block.
        depth: Temporal blocks after the stem (0: stem and head only).
        kernel_size: Temporal kernel of every block.
        stem_kernel: Temporal kernel of the stem.
        stride: Temporal stride of the stem (1 keeps every time step).
        separable: Depthwise-separable blocks (``False``: full ``(1, k)`` convolutions).
        dropout: Dropout rate after the stem and every block.
        name: Model name; default ``tcn_w{width}_d{depth}``.

    Returns:
        A functional tf_keras model ``[N, *input_shape]`` -> float32 probabilities. Layer
        names: ``stem_pad``, ``stem_conv``, ``stem_bn``, ``stem_relu``, ``stem_drop``, then per
        block ``block{b}_dw``/``_dw_bn``/``_dw_relu`` (separable only), ``block{b}_conv``,
        ``block{b}_bn``, ``block{b}_relu``, ``block{b}_add`` (b >= 2), ``block{b}_drop``;
        ``pool``, ``logits``, ``probs``.
    """
    bands, steps, channels = (int(d) for d in input_shape)
    if min(width, kernel_size, stem_kernel, stride) < 1 or depth < 0:
        raise CropEdgeError("tcn width, kernel_size, stem_kernel and stride must be >= 1, depth >= 0")
    if channels != 1:
        raise CropEdgeError(f"tcn takes one channel per (band, time) cell, got input_shape {tuple(input_shape)}")
    if not 0 <= dropout < 1:
        raise CropEdgeError(f"tcn dropout must be in [0, 1), got {dropout}")

    inputs = keras.Input(shape=(bands, steps, channels), name="series")
    x = _temporal_pad(inputs, stem_kernel, "stem_pad")
    # kernel over all bands at once: bands act as the input channels of a temporal conv
    x = keras.layers.Conv2D(
        width,
        (bands, stem_kernel),
        strides=(1, stride),
        padding="valid",
        use_bias=False,
        kernel_initializer=he_normal("fan_out"),
        name="stem_conv",
    )(x)
    x = batch_norm("stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.Dropout(dropout, name="stem_drop")(x)
    for b in range(1, depth + 1):
        y = _block(x, width, kernel_size, separable, b)
        if b > 1:  # the first block's input is the stem's: keep one plain path before the first add
            y = keras.layers.Add(name=f"block{b}_add")([x, y])
        x = keras.layers.Dropout(dropout, name=f"block{b}_drop")(y)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = softmax_head(x, num_classes)
    return keras.Model(inputs, outputs, name=name or f"tcn_w{width}_d{depth}")
