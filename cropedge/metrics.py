"""Classification metrics (numpy only, so the device harness can score bundles too)."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """[true, predicted] counts."""
    idx = np.asarray(y_true, dtype=np.int64) * num_classes + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def classification_report(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    classes: tuple[str, ...] | list[str],
) -> dict:
    """OA, macro-F1 and weighted F1 over the classes present in ``y_true``, per-class F1, confusion.

    Macro-F1 averages only classes that occur in the reference labels (as the CropGlobe
    evaluation does): a class absent from a target does not count as an F1 of zero.
    """
    k = len(classes)
    cm = confusion_matrix(y_true, y_pred, k)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(support + predicted > 0, 2 * tp / (support + predicted), 0.0)
    present = support > 0
    n = support.sum()
    return {
        "n": int(n),
        "oa": float(tp.sum() / n) if n else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "weighted_f1": float((f1 * support).sum() / n) if n else float("nan"),
        "per_class_f1": {c: (float(f1[i]) if present[i] else None) for i, c in enumerate(classes)},
        "support": {c: int(support[i]) for i, c in enumerate(classes)},
        "confusion": cm.tolist(),
        "classes": list(classes),
    }
