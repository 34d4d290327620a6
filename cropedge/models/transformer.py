"""A small Transformer encoder over time: one token per time step, bands as features.

Linear embedding of each step's band vector, a learned position embedding, pre-norm
encoder layers (self-attention + feed-forward, residuals), mean pooling over time and
a dense classifier. Float only: TFMOT's default scheme has no quantize config for
MultiHeadAttention or LayerNormalization.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cropedge.backend import keras, tf
from cropedge.errors import CropEdgeError
from cropedge.models.blocks import softmax_head


@keras.utils.register_keras_serializable(package="cropedge")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned ``[T, d]`` embedding to ``[N, T, d]`` tokens."""

    def __init__(self, initializer: str = "random_normal", **kwargs: Any) -> None:
        """Set the embedding initializer; ``kwargs`` go to ``keras.layers.Layer``."""
        super().__init__(**kwargs)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape: tf.TensorShape) -> None:
        """Create the ``[T, d]`` embedding weight for ``[N, T, d]`` inputs."""
        self.embeddings = self.add_weight(
            name="embeddings", shape=tuple(input_shape[1:]), initializer=self.initializer, trainable=True
        )
        super().build(input_shape)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        """The tokens plus the position embedding."""
        return inputs + self.embeddings

    def get_config(self) -> dict:
        """The layer config with the serialised initializer, for saving and loading."""
        base_config = super().get_config()
        config = {"initializer": keras.initializers.serialize(self.initializer)}
        return {**base_config, **config}


def _encoder_layer(x: Any, d_model: int, heads: int, ff: int, dropout: float, i: int) -> Any:
    h = keras.layers.LayerNormalization(epsilon=1e-5, name=f"enc{i}_ln1")(x)
    h = keras.layers.MultiHeadAttention(heads, d_model // heads, dropout=dropout, name=f"enc{i}_mha")(h, h)
    h = keras.layers.Dropout(dropout, name=f"enc{i}_drop1")(h)
    x = keras.layers.Add(name=f"enc{i}_add1")([x, h])
    h = keras.layers.LayerNormalization(epsilon=1e-5, name=f"enc{i}_ln2")(x)
    h = keras.layers.Dense(ff, activation="gelu", name=f"enc{i}_ff1")(h)
    h = keras.layers.Dense(d_model, name=f"enc{i}_ff2")(h)
    h = keras.layers.Dropout(dropout, name=f"enc{i}_drop2")(h)
    return keras.layers.Add(name=f"enc{i}_add2")([x, h])


def transformer(
    input_shape: Sequence[int] = (10, 43, 1),
    num_classes: int = 7,
    d_model: int = 64,
    heads: int = 4,
    depth: int = 2,
    ff: int = 128,
    dropout: float = 0.1,
    name: str | None = None,
) -> keras.Model:
    """Build the Transformer encoder classifier.

    Args:
        input_shape: ``(bands, T, channels)`` of one normalised pixel series.
        num_classes: Number of output classes.
        d_model: Token width; must be divisible by ``heads``.
        heads: Attention heads (key size ``d_model // heads``).
        depth: Number of encoder layers.
        ff: Hidden units of each feed-forward block.
        dropout: Dropout on attention weights and residual branches.
        name: Model name; default ``transformer_d{d_model}_l{depth}``.

    Returns:
        A functional tf_keras model ``[N, *input_shape]`` -> float32 probabilities.
        Layer names: ``to_tokens``, ``flatten_bands``, ``embed``, ``position``,
        ``enc{i}_*``, ``final_ln``, ``pool``, ``logits``, ``probs``.
    """
    if min(d_model, heads, depth, ff) < 1 or d_model % heads:
        raise CropEdgeError(
            "transformer needs d_model divisible by heads and all sizes >= 1, "
            f"got d_model={d_model}, heads={heads}, depth={depth}, ff={ff}"
        )
    bands, steps, channels = input_shape

    inputs = keras.Input(shape=tuple(input_shape), name="series")
    x = keras.layers.Permute((2, 1, 3), name="to_tokens")(inputs)
    x = keras.layers.Reshape((steps, bands * channels), name="flatten_bands")(x)
    x = keras.layers.Dense(d_model, name="embed")(x)
    x = PositionEmbedding(name="position")(x)
    for i in range(1, depth + 1):
        x = _encoder_layer(x, d_model, heads, ff, dropout, i)
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="final_ln")(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = softmax_head(x, num_classes)
    return keras.Model(inputs, outputs, name=name or f"transformer_d{d_model}_l{depth}")
