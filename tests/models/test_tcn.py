"""The temporal students: the stem is a temporal convolution with bands as channels, costs by hand."""

from __future__ import annotations

import numpy as np
import pytest

from cropedge.backend import keras
from cropedge.errors import CropEdgeError
from cropedge.models import count_macs, get_model
from cropedge.models.tcn import tcn


def test_stem_is_a_temporal_conv_with_bands_as_channels() -> None:
    model = tcn(width=3, depth=0)
    stem = model.get_layer("stem_conv")
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(10, 5, 1, 3)).astype(np.float32)  # (bands, k, 1, out)
    stem.set_weights([kernel])
    x = rng.normal(size=(2, 10, 43, 1)).astype(np.float32)
    got = keras.Model(model.input, stem.output)(x).numpy()
    assert got.shape == (2, 1, 22, 3)  # stride 2 over 43 steps, one row: the bands are gone into channels

    # the same as a 1-D convolution over time, 10 input channels, 'same' padding (2 each side), stride 2
    xp = np.pad(x[..., 0], ((0, 0), (0, 0), (2, 2)))
    want = np.stack(
        [np.einsum("nbk,bko->no", xp[:, :, 2 * t : 2 * t + 5], kernel[:, :, 0]) for t in range(22)], axis=1
    )
    np.testing.assert_allclose(got[:, 0], want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("separable", "block"), [(True, 22 * (5 * 64 + 64 * 64)), (False, 22 * 5 * 64 * 64)])
def test_macs_by_hand(separable: bool, block: int) -> None:
    stem = 22 * 10 * 5 * 64
    assert count_macs(tcn(width=64, depth=4, separable=separable)) == stem + 4 * block + 64 * 7


def test_residual_blocks_and_registry_variants() -> None:
    model = get_model("tcn", num_classes=5)
    assert {layer.name for layer in model.layers if layer.name.endswith("_add")} == {"block2_add", "block3_add",
                                                                                     "block4_add"}
    assert model.get_layer("stem_conv").strides == (1, 2)
    assert get_model("tcn-l", 5).get_layer("block1_conv").filters == 128
    assert not any(isinstance(layer, keras.layers.DepthwiseConv2D) for layer in get_model("tcn-dense", 5).layers)
    # other band counts and lengths: the stem spans whatever bands the input has
    assert get_model("tcn-s", 3, input_shape=(4, 73, 1)).predict(np.zeros((1, 4, 73, 1)), verbose=0).shape == (1, 3)


def test_bad_options() -> None:
    with pytest.raises(CropEdgeError, match="width"):
        tcn(width=0)
    with pytest.raises(CropEdgeError, match="dropout"):
        tcn(dropout=1.0)
    with pytest.raises(CropEdgeError, match="one channel"):
        tcn(input_shape=(10, 43, 2))
