"""Parameter and MAC counts against hand-computed numbers, and docs/models.md against the code."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from cropedge.backend import keras
from cropedge.models import complexity_markdown, complexity_table, count_macs, count_params, get_model

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "models.md"
README = REPO / "README.md"


def test_cropnet_macs_by_hand() -> None:
    first = 5 * 22 * 9 * 1 * 128  # stride-2 conv on 10 x 43 -> 5 x 22
    other = 5 * 22 * 9 * 128 * 128  # the seven 128 -> 128 convs
    dense = 128 * 7
    assert count_macs(get_model("cropnet", num_classes=7)) == first + 7 * other + dense == 113_668_736


def test_dense_and_grouped_strided_conv() -> None:
    x = keras.Input((6,))
    model = keras.Model(x, keras.layers.Dense(3)(keras.layers.Dense(4)(x)))
    assert count_macs(model) == 6 * 4 + 4 * 3
    assert count_params(model) == (6 * 4 + 4) + (4 * 3 + 3)

    x = keras.Input((8, 8, 4))
    y = keras.layers.Conv2D(6, 3, strides=2, padding="same", groups=2)(x)  # 4 x 4 out, 2 in-channels per group
    z = keras.layers.Dense(5)(keras.layers.Reshape((16, 6))(y))  # dense on 16 tokens
    assert count_macs(keras.Model(x, z)) == 4 * 4 * 9 * 2 * 6 + 16 * 6 * 5


def test_attention_macs_by_hand() -> None:
    q_in, kv = keras.Input((4, 6)), keras.Input((5, 3))
    q = keras.layers.Dense(8)(q_in)
    out = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(q, kv)
    projections = 2 * (4 * 8 * 4 + 5 * 3 * 4 + 5 * 3 * 4)  # Q, K, V per head
    scores_and_mix = 2 * 4 * 5 * (4 + 4)  # QK^T and AV per head
    output = 4 * 2 * 4 * 8
    assert count_macs(keras.Model([q_in, kv], out)) == 4 * 6 * 8 + projections + scores_and_mix + output


def test_unknown_layer_with_kernel_is_refused() -> None:
    x = keras.Input((8, 8, 2))
    model = keras.Model(x, keras.layers.SeparableConv2D(4, 3)(x))
    with pytest.raises(TypeError, match="separable"):
        count_macs(model)


def test_forest_counts() -> None:
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=3, random_state=0)
    assert count_params(forest) == 0
    rng = np.random.default_rng(0)
    forest.fit(rng.normal(size=(40, 5)), np.arange(40) % 2)
    assert count_params(forest) == sum(t.tree_.node_count for t in forest.estimators_) > 3
    assert count_macs(forest) == 0


def test_docs_table_is_the_generated_one() -> None:
    assert complexity_markdown(num_classes=7, input_shape=(10, 43, 1)) in DOCS.read_text()


def test_readme_table_matches_the_code() -> None:
    text = README.read_text()
    section = text[text.index("## Models") : text.index("\n## ", text.index("## Models") + 1)]
    # the model table's rows (five columns), not the other tables of the section
    lines = {m.group(1): line for line in section.splitlines()
             if line.count("|") == 6 and (m := re.match(r"\| `([\w-]+)` \|", line))}
    rows = complexity_table(num_classes=7, input_shape=(10, 43, 1))
    assert set(lines) == {row["name"] for row in rows}
    for row in rows:
        cells = [c.strip() for c in lines[row["name"]].strip("|").split("|")]
        assert ("yes" if row["quantizable"] else "no") in cells, lines[row["name"]]
        if row["params"] is not None:
            assert f"{row['params']:,}" in cells and f"{row['macs'] / 1e6:.2f} M" in cells, lines[row["name"]]
