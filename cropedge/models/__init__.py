"""Model registry: one table of every model cropedge can train, and ``get_model``.

Each family is one module with one builder; the table below names the variants
(a builder plus default keyword arguments). Builders are imported only when a
model is built, so listing models never imports TensorFlow or scikit-learn.

    >>> model = get_model("cropnet-xs", num_classes=7)           # tf_keras.Model
    >>> forest = get_model("randomforest", 7, n_estimators=100)  # sklearn estimator
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cropedge.errors import CropEdgeError
from cropedge.models.complexity import complexity_markdown, complexity_table, count_macs, count_params


@dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    Attributes:
        name: Registry name (``get_model(name, ...)``).
        family: Builder family (``cropnet``, ``tempcnn``, ...).
        kind: ``"keras"`` (tf_keras.Model, softmax output) or ``"sklearn"`` (estimator).
        quantizable: ``tfmot.quantization.keras.quantize_model`` accepts it and it
            converts to a full-int8 TFLite model.
        description: One line for listings and docs.
        builder: ``"module:function"`` of the builder.
        defaults: Keyword arguments this variant passes to the builder.
    """

    name: str
    family: str
    kind: str
    quantizable: bool
    description: str
    builder: str
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Freeze ``defaults`` into a read-only mapping."""
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))

    def load_builder(self) -> Callable[..., Any]:
        """Import and return the builder function."""
        module, func = self.builder.split(":")
        return getattr(importlib.import_module(module), func)


def _cropnet(name: str, description: str, **defaults: Any) -> ModelSpec:
    return ModelSpec(name, "cropnet", "keras", True, description, "cropedge.models.cropnet:cropnet", defaults)


def _tcn(name: str, description: str, **defaults: Any) -> ModelSpec:
    return ModelSpec(name, "tcn", "keras", True, description, "cropedge.models.tcn:tcn", defaults)


_SPECS: tuple[ModelSpec, ...] = (
    _cropnet("cropnet", "CropNet reference: 4 conv blocks, width 128"),
    _cropnet("cropnet-s", "CropNet, width 64", width=64),
    _cropnet("cropnet-xs", "CropNet, width 32", width=32),
    _cropnet("cropnet-xxs", "CropNet, width 16", width=16),
    _cropnet("cropnet-shallow", "CropNet, 2 blocks, width 64", width=64, depth=2),
    _cropnet("cropnet-xs-shallow", "CropNet, 2 blocks, width 32", width=32, depth=2),
    _tcn("tcn-s", "Temporal student: bands as channels, stride-2 stem, 4 separable blocks, width 32", width=32),
    _tcn("tcn", "Temporal student: bands as channels, stride-2 stem, 4 separable blocks, width 64"),
    _tcn("tcn-l", "Temporal student: bands as channels, stride-2 stem, 4 separable blocks, width 128", width=128),
    _tcn("tcn-dense", "Temporal student: bands as channels, stride-2 stem, 4 full (1, 5) conv blocks, width 64",
         separable=False),
    ModelSpec(
        "tempcnn",
        "tempcnn",
        "keras",
        True,
        "TempCNN (Pelletier 2019): 3 temporal convs k=5 x 64, dense 256",
        "cropedge.models.tempcnn:tempcnn",
    ),
    ModelSpec(
        "mlp",
        "mlp",
        "keras",
        True,
        "Reference MLP: 8 x (dense 128, BN, GELU, dropout 0.3) on the flattened window",
        "cropedge.models.mlp:mlp",
    ),
    ModelSpec(
        "transformer",
        "transformer",
        "keras",
        False,
        "Transformer encoder over time steps: d=64, 4 heads, 2 layers (float only)",
        "cropedge.models.transformer:transformer",
    ),
    ModelSpec(
        "randomforest",
        "forest",
        "sklearn",
        False,
        "RandomForest, 500 trees, balanced class weights, on the flattened window",
        "cropedge.models.forest:randomforest",
    ),
)

MODELS: Mapping[str, ModelSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})


def list_models(family: str | None = None) -> list[str]:
    """Registered model names, in table order; only those of ``family`` (e.g. ``"cropnet"``) if given."""
    return [n for n, spec in MODELS.items() if family is None or spec.family == family]


def model_spec(name: str) -> ModelSpec:
    """The ``ModelSpec`` registered as ``name``.

    Raises:
        CropEdgeError: if no model has that name.
    """
    try:
        return MODELS[name]
    except KeyError:
        raise CropEdgeError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None


def _check_shape(num_classes: int, input_shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(d, int) and d >= 1 for d in shape):
        raise CropEdgeError(f"input_shape must be (bands, T, channels) of positive ints, got {shape}")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise CropEdgeError(f"num_classes must be an int >= 2, got {num_classes!r}")
    return shape


def get_model(name: str, /, num_classes: int, input_shape: Sequence[int] = (10, 43, 1), **kw: Any) -> Any:
    """Build a registered model.

    Args:
        name: A name from ``list_models()`` (positional, so ``name=`` can
            still be passed to the builder as the Keras model name).
        num_classes: Number of output classes.
        input_shape: ``(bands, T, channels)`` of one normalised pixel series.
        **kw: Builder options overriding the variant's defaults (for example
            ``width=8`` for CropNet, ``n_estimators=50`` for the forest).

    Returns:
        A tf_keras functional model with float32 softmax output ``[N, num_classes]``
        (kind ``keras``) or an unfitted scikit-learn estimator (kind ``sklearn``).

    Raises:
        CropEdgeError: unknown name, unknown option, or a bad shape/class count.
    """
    spec = model_spec(name)
    shape = _check_shape(num_classes, input_shape)
    builder = spec.load_builder()
    options = [p for p in inspect.signature(builder).parameters if p not in ("input_shape", "num_classes")]
    unknown = sorted(set(kw) - set(options))
    if unknown:
        raise CropEdgeError(
            f"unknown option(s) for model {name!r}: {', '.join(unknown)}; valid: {', '.join(options)}"
        )
    args = {**spec.defaults, **kw}
    if "name" in options and args.get("name") is None:
        args["name"] = name.replace("-", "_")
    return builder(input_shape=shape, num_classes=num_classes, **args)


def load_model(path: str | Path) -> Any:
    """Load a saved ``.keras`` model, custom cropedge layers included.

    Raises:
        CropEdgeError: if the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise CropEdgeError(f"no saved model at {path}: train one first (cropedge train)")
    # Importing the module registers its serializable layers (PositionEmbedding).
    importlib.import_module("cropedge.models.transformer")
    from cropedge.backend import keras

    return keras.models.load_model(path)


__all__ = [
    "MODELS",
    "ModelSpec",
    "complexity_markdown",
    "complexity_table",
    "count_macs",
    "count_params",
    "get_model",
    "list_models",
    "load_model",
    "model_spec",
]
