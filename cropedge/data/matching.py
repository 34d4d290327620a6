"""How data meets a model: labels matched by class name, stratified draws, the band and grid check.

One place for what training, evaluation, export and the device all do to a ``Dataset``
before it reaches a model (numpy only).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cropedge.data.dataset import Dataset
from cropedge.data.grid import YEAR_DOY, YEAR_STEPS, Window
from cropedge.errors import CropEdgeError


def labels_by_name(dataset: Dataset, classes: Sequence[str]) -> tuple[np.ndarray, dict[str, int]]:
    """The dataset's labels as indices into a model's ``classes``, matched by name.

    Returns the labels (-1 for unlabelled samples and for classes the model never saw) and
    the sample count of each class the model does not know.
    """
    lookup = {c: i for i, c in enumerate(classes)}
    index = np.array([lookup.get(c, -1) for c in dataset.classes] + [-1], dtype=np.int64)
    y = index[np.where(dataset.y >= 0, dataset.y, -1)]  # unlabelled (-1) picks the trailing -1
    unseen = {c: int((dataset.y == i).sum()) for i, c in enumerate(dataset.classes) if c not in lookup}
    return y, {c: n for c, n in unseen.items() if n}


def class_pools(y: np.ndarray, seed: int) -> list[np.ndarray]:
    """Each labelled class's sample indices in a seeded random order (classes in label order)."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    return [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y[y >= 0])]


def stratified_split(y: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hold out ``val_fraction`` of every class (at least one sample of classes with two or more).

    Unlabelled samples (``y < 0``) go to neither part. Returns sorted ``(train_idx, val_idx)``.
    """
    none = np.empty(0, dtype=np.int64)
    train, val = [none], [none]
    for idx in class_pools(y, seed):
        n_val = max(int(round(len(idx) * val_fraction)), 1) if len(idx) > 1 else 0
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)).astype(np.int64), np.sort(np.concatenate(val)).astype(np.int64)


def stratified_sample(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` samples (all if fewer exist) drawn round-robin over the classes.

    Every class present gets its share before any class gets more, so rare crops still
    count (int8 calibration: they set the activation ranges they produce).
    """
    pools = class_pools(y, seed)
    depth = max((len(p) for p in pools), default=0)
    # interleave: first sample of every class, then second of every class, ...
    order = [p[i] for i in range(depth) for p in pools if i < len(p)]
    return np.sort(np.asarray(order[:n], dtype=np.int64))


def check_model_input(
    x_year: np.ndarray,
    bands: Sequence[str] | None,
    model_bands: Sequence[str],
    window: Window,
    doy: np.ndarray | None = None,
) -> None:
    """Raise ``CropEdgeError`` unless ``x_year`` can feed a model of ``model_bands`` and ``window``.

    That is: [N, model bands, 73] on the 5-day year grid, bands in the model's order.

    Args:
        x_year: The series.
        bands: Their band names (None: only the shape is checked).
        model_bands: The bands the model was trained on, in order.
        window: The model window (for messages).
        doy: The series' days of year, when known: they must be the year grid.
    """
    model_bands = tuple(model_bands)
    if bands is not None and tuple(bands) != model_bands:
        missing = [b for b in model_bands if b not in bands]
        hint = f"missing {', '.join(missing)}" if missing else f"order {', '.join(bands)}"
        raise CropEdgeError(f"input bands do not match the model ({hint}); the model needs {', '.join(model_bands)}")
    on_grid = doy is None or (len(doy) == YEAR_STEPS and np.allclose(doy, YEAR_DOY))
    if x_year.ndim != 3 or x_year.shape[1] != len(model_bands) or x_year.shape[2] != YEAR_STEPS or not on_grid:
        raise CropEdgeError(
            f"input has shape {list(x_year.shape)} but the model needs [samples, {len(model_bands)} bands, "
            f"{YEAR_STEPS} steps] on the {YEAR_STEPS}-step year grid (5-day steps) to cut its window day "
            f"{window.start_doy}..{window.end_doy}"
        )
