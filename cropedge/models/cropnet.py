"""CropNet: a small 2-D CNN over the (band x time) image of one pixel.

Reference configuration (Tong et al., CropNet): four ConvBlocks of
Conv3x3 -> BN -> ReLU -> Conv3x3 -> BN -> ReLU -> SpatialDropout, the first conv of
block 1 with stride 2, then global average pooling and a dense classifier. Input is
channels-last ``[N, bands, T, 1]`` (the reference is ``[N, 1, bands, T]``).
With width 128, depth 4 and 7 classes: 1 036 295 trainable parameters and
113.67 M multiply-accumulates per pixel; ``width``/``depth`` give the smaller variants.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cropedge.backend import keras
from cropedge.errors import CropEdgeError
from cropedge.models.blocks import batch_norm, he_normal, softmax_head


def default_dropout(depth: int) -> tuple[float, ...]:
    """Reference schedule 0.2, 0.3, ..., 0.3, 0.4 (block 1, middle blocks, last block)."""
    if depth == 1:
        return (0.2,)
    return (0.2,) + (0.3,) * (depth - 2) + (0.4,)


def _conv_bn_relu(x: Any, filters: int, stride: int, block: int, i: int) -> Any:
    if stride == 1:
        padding = "same"
    else:
        # Keras 'same' with stride 2 pads only bottom/right when the total pad is odd
        # (10 rows: 0 top, 1 bottom), PyTorch's padding=1 pads 1 on every side: the
        # output sizes agree (5 x 22) but the sampled positions do not. Pad explicitly.
        x = keras.layers.ZeroPadding2D(1, name=f"block{block}_pad{i}")(x)
        padding = "valid"
    x = keras.layers.Conv2D(
        filters,
        3,
        strides=stride,
        padding=padding,
        use_bias=False,
        kernel_initializer=he_normal("fan_out"),
        name=f"block{block}_conv{i}",
    )(x)
    x = batch_norm(f"block{block}_bn{i}")(x)
    return keras.layers.ReLU(name=f"block{block}_relu{i}")(x)


def cropnet(
    input_shape: Sequence[int] = (10, 43, 1),
    num_classes: int = 7,
    width: int = 128,
    depth: int = 4,
    dropout: float | Sequence[float] | None = None,
    name: str | None = None,
) -> keras.Model:
    """Build CropNet.

    Args:
        input_shape: ``(bands, T, channels)`` of one normalised pixel series.
        num_classes: Number of output classes.
        width: Channels of every conv (reference 128).
        depth: Number of ConvBlocks (reference 4); block 1 downsamples by 2.
        dropout: SpatialDropout rate per block, one float for all blocks, or
            ``None`` for the reference schedule (``default_dropout(depth)``).
        name: Model name; default ``cropnet_w{width}_d{depth}``.

    Returns:
        A functional tf_keras model mapping ``[N, *input_shape]`` to float32
        softmax probabilities ``[N, num_classes]``. Layer names are stable:
        ``block1_pad1``, ``block{b}_conv{i}``, ``block{b}_bn{i}``, ``block{b}_relu{i}``,
        ``block{b}_drop``, ``pool``, ``logits``, ``probs``.
    """
    if width < 1 or depth < 1:
        raise CropEdgeError(f"cropnet needs width >= 1 and depth >= 1, got width={width}, depth={depth}")
    if dropout is None:
        rates = default_dropout(depth)
    elif isinstance(dropout, (int, float)):
        rates = (float(dropout),) * depth
    else:
        rates = tuple(float(r) for r in dropout)
    if len(rates) != depth:
        raise CropEdgeError(f"cropnet dropout has {len(rates)} rates for {depth} blocks: give one per block")

    inputs = keras.Input(shape=tuple(input_shape), name="series")
    x = inputs
    for b, rate in enumerate(rates, start=1):
        x = _conv_bn_relu(x, width, 2 if b == 1 else 1, b, 1)
        x = _conv_bn_relu(x, width, 1, b, 2)
        x = keras.layers.SpatialDropout2D(rate, name=f"block{b}_drop")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = softmax_head(x, num_classes)
    return keras.Model(inputs, outputs, name=name or f"cropnet_w{width}_d{depth}")
