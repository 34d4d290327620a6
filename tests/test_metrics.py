"""Metrics against hand-computed values and scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import f1_score

from cropedge.metrics import classification_report, confusion_matrix


def test_confusion_and_scores_match_sklearn():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 500)
    y_pred = np.where(rng.random(500) < 0.7, y_true, rng.integers(0, 4, 500))
    rep = classification_report(y_true, y_pred, ["a", "b", "c", "d"])
    assert rep["oa"] == pytest.approx((y_true == y_pred).mean())
    assert rep["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert rep["weighted_f1"] == pytest.approx(f1_score(y_true, y_pred, average="weighted"))
    assert np.array(rep["confusion"]).sum() == 500


def test_macro_f1_only_over_classes_present_in_reference():
    # class 2 never occurs in y_true; a wrong prediction into it must not add a zero-F1 class
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 2, 1, 1])
    rep = classification_report(y_true, y_pred, ["a", "b", "c"])
    f1_a, f1_b = 2 * 1 / (2 + 1), 1.0
    assert rep["macro_f1"] == pytest.approx((f1_a + f1_b) / 2)
    assert rep["per_class_f1"]["c"] is None
    assert confusion_matrix(y_true, y_pred, 3).tolist() == [[1, 0, 1], [0, 2, 0], [0, 0, 0]]
