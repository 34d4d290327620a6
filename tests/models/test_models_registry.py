"""The registry table against the builders: every model builds, predicts and validates options."""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest

from cropedge.backend import keras
from cropedge.errors import CropEdgeError
from cropedge.models import MODELS, get_model, list_models, model_spec
from cropedge.models.forest import flatten_features

KERAS_MODELS = [n for n in list_models() if model_spec(n).kind == "keras"]


def test_table_matches_builders() -> None:
    assert set(list_models()) == set(MODELS)
    assert {"cropnet", "cropnet-s", "cropnet-xs", "cropnet-xxs", "cropnet-shallow"} <= set(list_models())
    assert {"tempcnn", "mlp", "transformer", "randomforest"} <= set(list_models())
    for name in list_models():
        spec = model_spec(name)
        assert spec.name == name and spec.kind in ("keras", "sklearn")
        params = inspect.signature(spec.load_builder()).parameters
        assert {"input_shape", "num_classes"} <= set(params)
        assert set(spec.defaults) <= set(params), name


@pytest.mark.parametrize("name", KERAS_MODELS)
def test_every_keras_model_predicts_probabilities(name: str) -> None:
    model = get_model(name, num_classes=5, input_shape=(10, 43, 1))
    x = np.random.default_rng(0).normal(size=(2, 10, 43, 1)).astype(np.float32)
    probs = model.predict(x, verbose=0)
    assert probs.shape == (2, 5)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert model.get_layer("probs").dtype == "float32"


def test_other_input_shapes() -> None:
    for name in ("cropnet", "tempcnn", "mlp", "transformer"):
        model = get_model(name, num_classes=3, input_shape=(4, 20, 1), **({"width": 8} if name == "cropnet" else {}))
        assert model.predict(np.zeros((1, 4, 20, 1), np.float32), verbose=0).shape == (1, 3)


def test_overrides_reach_the_builder() -> None:
    model = get_model("cropnet-shallow", num_classes=4, width=8, name="tiny")
    assert model.name == "tiny"
    assert model.get_layer("block2_conv2").filters == 8
    assert get_model("tempcnn", 4, filters=8).get_layer("conv3").filters == 8


def test_unknown_name_and_option() -> None:
    with pytest.raises(CropEdgeError, match="cropnet-xs.*randomforest"):
        get_model("resnet", num_classes=7)
    with pytest.raises(CropEdgeError, match="unknown option.*widht.*valid: width"):
        get_model("cropnet", num_classes=7, widht=8)
    with pytest.raises(CropEdgeError, match="input_shape"):
        get_model("cropnet", num_classes=7, input_shape=(10, 43))
    with pytest.raises(CropEdgeError, match="num_classes"):
        get_model("mlp", num_classes=1)


def test_mixed_precision_outputs_float32() -> None:
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = get_model("cropnet", num_classes=3, width=8)
        assert model.get_layer("logits").compute_dtype == "float16"
        probs = model(np.zeros((2, 10, 43, 1), np.float32), training=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert probs.dtype == "float32"
    np.testing.assert_allclose(probs.numpy().sum(axis=1), 1.0, rtol=1e-5)


def test_randomforest_is_a_seeded_sklearn_estimator() -> None:
    from sklearn.ensemble import RandomForestClassifier

    forest = get_model("randomforest", num_classes=3, seed=3)
    assert isinstance(forest, RandomForestClassifier)
    assert (forest.n_estimators, forest.class_weight, forest.random_state, forest.n_jobs) == (500, "balanced", 3, -1)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 10, 43, 1)).astype(np.float32)
    y = np.repeat(np.arange(3), 10)
    x[:, 0, :, 0] += y[:, None]  # one informative band
    small = get_model("randomforest", num_classes=3, n_estimators=10, n_jobs=1).fit(flatten_features(x), y)
    assert flatten_features(x).shape == (30, 430)
    assert small.predict_proba(flatten_features(x)).shape == (30, 3)
    assert (small.predict(flatten_features(x)) == y).mean() > 0.9


def test_listing_models_does_not_import_tensorflow() -> None:
    code = (
        "import sys; from cropedge.models import list_models, model_spec; list_models(); model_spec('mlp');"
        "assert 'tensorflow' not in sys.modules and 'sklearn' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
