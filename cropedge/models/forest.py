"""RandomForest baseline on the flattened raw window (the reference's 'RF').

scikit-learn is imported only when a forest is built, so this module stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from sklearn.ensemble import RandomForestClassifier


def flatten_features(x: np.ndarray) -> np.ndarray:
    """``[N, bands, T(, 1)]`` windows -> ``[N, bands * T]`` feature rows, band-major."""
    return np.asarray(x).reshape(len(x), -1)


def randomforest(
    input_shape: Sequence[int] = (10, 43, 1),
    num_classes: int = 7,
    n_estimators: int = 500,
    seed: int = 0,
    n_jobs: int = -1,
) -> RandomForestClassifier:
    """Build the reference forest: 500 trees, class weights balanced on the training labels.

    Args:
        input_shape: Unused (the forest takes any feature count); kept so every
            registered builder has the same signature.
        num_classes: Unused (classes come from the labels at fit time).
        n_estimators: Number of trees.
        seed: ``random_state`` of the forest.
        n_jobs: Parallel jobs for fit and predict (-1: all cores).

    Returns:
        An unfitted ``sklearn.ensemble.RandomForestClassifier``; fit it on
        ``flatten_features(x)``.
    """
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=n_estimators, class_weight="balanced", n_jobs=n_jobs, random_state=seed
    )
