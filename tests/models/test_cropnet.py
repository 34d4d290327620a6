"""CropNet against the reference: parameter counts, padding semantics, layer names."""

from __future__ import annotations

import numpy as np
import pytest

from cropedge.backend import keras
from cropedge.errors import CropEdgeError
from cropedge.models import count_params, get_model
from cropedge.models.cropnet import cropnet, default_dropout


def test_reference_parameter_count() -> None:
    model = get_model("cropnet", num_classes=7)
    # Convs 3*3*1*128 + 7 * 3*3*128*128, 8 BNs * 2 * 128, dense 128*7 + 7.
    assert count_params(model) == 1_036_295
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == 2_048
    assert model.output_shape == (None, 7)


@pytest.mark.parametrize(
    ("name", "width", "blocks"),
    [("cropnet-s", 64, 4), ("cropnet-xs", 32, 4), ("cropnet-xxs", 16, 4), ("cropnet-shallow", 64, 2)],
)
def test_variants_width_and_depth(name: str, width: int, blocks: int) -> None:
    model = get_model(name, num_classes=5)
    assert model.get_layer("block1_conv1").filters == width
    assert {layer.name for layer in model.layers if layer.name.endswith("_drop")} == {
        f"block{b}_drop" for b in range(1, blocks + 1)
    }
    assert model.name == name.replace("-", "_")


def test_first_conv_pads_like_torch() -> None:
    """Stride-2 conv with PyTorch padding=1: symmetric zero pad, output 5 x 22 from 10 x 43."""
    model = cropnet(width=2, depth=1)
    conv = model.get_layer("block1_conv1")
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 1, 2)).astype(np.float32)
    conv.set_weights([kernel])
    x = rng.normal(size=(1, 10, 43, 1)).astype(np.float32)
    got = keras.Model(model.input, conv.output)(x).numpy()[0]

    xp = np.pad(x[0, :, :, 0], 1)
    want = np.zeros((5, 22, 2), np.float32)
    for i in range(5):
        for j in range(22):
            want[i, j] = np.einsum("ab,abc->c", xp[2 * i : 2 * i + 3, 2 * j : 2 * j + 3], kernel[:, :, 0])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_reference_initialisation_and_batchnorm() -> None:
    model = cropnet(width=4, depth=1)
    init = model.get_layer("block1_conv2").kernel_initializer.get_config()
    assert (init["scale"], init["mode"], init["distribution"]) == (2.0, "fan_out", "untruncated_normal")
    assert model.get_layer("logits").kernel_initializer.get_config()["mode"] == "fan_in"
    bn = model.get_layer("block1_bn1")
    assert (bn.momentum, bn.epsilon) == (0.9, 1e-5)
    assert not model.get_layer("block1_conv1").use_bias


def test_dropout_schedule() -> None:
    assert default_dropout(4) == (0.2, 0.3, 0.3, 0.4)
    assert default_dropout(2) == (0.2, 0.4)
    model = cropnet(width=4, depth=2, dropout=0.1)
    assert model.get_layer("block2_drop").rate == 0.1
    with pytest.raises(CropEdgeError, match="one per block"):
        cropnet(width=4, depth=2, dropout=(0.1, 0.2, 0.3))
    with pytest.raises(CropEdgeError, match="width"):
        cropnet(width=0)
