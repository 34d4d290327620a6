"""Model size and cost from layer shapes: trainable parameters and MACs per pixel.

MACs (multiply-accumulates) count convolutions, dense layers and attention matmuls
for one pixel series (batch 1). BatchNorm (folded into the conv at export),
activations, pooling and residual adds are not counted. Computed from the built
functional graph, no profiler needed, so the numbers are exact and reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any


def _is_forest(model: Any) -> bool:
    return hasattr(model, "n_estimators") and not hasattr(model, "layers")


def count_params(model: Any) -> int:
    """Trainable parameters of a Keras model; tree nodes of a fitted forest (0 if unfitted)."""
    if _is_forest(model):
        return int(sum(tree.tree_.node_count for tree in getattr(model, "estimators_", [])))
    return int(sum(math.prod(w.shape) for w in model.trainable_weights))


def _leaf_layers(model: Any) -> Iterator[Any]:
    for layer in model.layers:
        if hasattr(layer, "layers"):  # nested Model / Sequential
            yield from _leaf_layers(layer)
        else:
            yield layer


def _kernel_macs(layer: Any, positions: Sequence[int]) -> int:
    # Conv, depthwise conv and dense all cost one MAC per kernel weight per output position.
    kernel = layer.depthwise_kernel if hasattr(layer, "depthwise_kernel") else layer.kernel
    return math.prod(positions) * math.prod(kernel.shape)


def _attention_macs(layer: Any) -> int:
    cfg = layer.get_config()
    heads, key_dim = cfg["num_heads"], cfg["key_dim"]
    value_dim = cfg["value_dim"] or key_dim
    q_shape, k_shape, v_shape = (tuple(cfg[k]) for k in ("query_shape", "key_shape", "value_shape"))
    out_dim = cfg["output_shape"] or q_shape[-1]
    if not isinstance(out_dim, int):
        out_dim = math.prod(out_dim)
    tq, tk = math.prod(q_shape[1:-1]), math.prod(k_shape[1:-1])
    projections = heads * (tq * q_shape[-1] * key_dim + tk * k_shape[-1] * key_dim + tk * v_shape[-1] * value_dim)
    scores_and_mix = heads * tq * tk * (key_dim + value_dim)
    return projections + scores_and_mix + tq * heads * value_dim * out_dim


def _layer_macs(layer: Any) -> int:
    from cropedge.backend import keras

    kind = type(layer)
    if kind in (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.DepthwiseConv2D):
        out = layer.output_shape
        spatial = out[2:] if layer.data_format == "channels_first" else out[1:-1]
        return _kernel_macs(layer, spatial)
    if kind is keras.layers.Dense:
        return _kernel_macs(layer, layer.input_shape[1:-1])
    if kind is keras.layers.MultiHeadAttention:
        return _attention_macs(layer)
    if hasattr(layer, "kernel") or hasattr(layer, "depthwise_kernel"):
        raise TypeError(f"count_macs does not know layer {layer.name!r} ({kind.__name__})")
    return 0


def count_macs(model: Any) -> int:
    """Multiply-accumulates to classify one pixel series (batch 1) with a built Keras model.

    Tree ensembles do comparisons, not multiply-accumulates: 0 for a forest.

    Raises:
        TypeError: for a layer with a kernel this counter does not know.
    """
    if _is_forest(model):
        return 0
    return int(sum(_layer_macs(layer) for layer in _leaf_layers(model)))


def complexity_table(num_classes: int = 7, input_shape: Sequence[int] = (10, 43, 1)) -> list[dict]:
    """One row per registered model: name, family, kind, quantizable, params, macs.

    Keras models are built at their default size; params and macs are ``None`` for
    the forest, whose size depends on the data it is fitted to.
    """
    from cropedge.models import get_model, list_models, model_spec

    rows = []
    for name in list_models():
        spec = model_spec(name)
        row = {"name": name, "family": spec.family, "kind": spec.kind, "quantizable": spec.quantizable}
        if spec.kind == "keras":
            model = get_model(name, num_classes, input_shape)
            row.update(params=count_params(model), macs=count_macs(model))
        else:
            row.update(params=None, macs=None)
        rows.append(row)
    return rows


def complexity_markdown(num_classes: int = 7, input_shape: Sequence[int] = (10, 43, 1)) -> str:
    """The models table of docs/models.md, generated from the registry (a test keeps the page equal to it)."""
    from cropedge.models import model_spec

    lines = [
        "| Model | Family | Params | MACs / pixel | MACs | int8 (TFMOT) | Description |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in complexity_table(num_classes, input_shape):
        int8 = "yes" if row["quantizable"] else "no"
        if row["params"] is None:
            cost = "- | - | -"
        else:
            cost = f"{row['params']:,} | {row['macs']:,} | {row['macs'] / 1e6:.2f} M"
        lines.append(f"| `{row['name']}` | {row['family']} | {cost} | {int8} | {model_spec(row['name']).description} |")
    return "\n".join(lines) + "\n"
