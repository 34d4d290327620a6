"""The Transformer's custom position layer survives a .keras save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cropedge.errors import CropEdgeError
from cropedge.models import get_model, load_model


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = get_model("transformer", num_classes=4, d_model=8, heads=2, ff=16)
    x = np.random.default_rng(0).normal(size=(3, 10, 43, 1)).astype(np.float32)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = load_model(path)
    assert loaded.get_layer("position").embeddings.shape == (43, 8)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_load_model_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CropEdgeError, match="no saved model"):
        load_model(tmp_path / "missing.keras")
