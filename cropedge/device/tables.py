"""Pixel tables (npz, h5, csv, parquet) -> predictions as CSV or NPZ, written atomically.

numpy and LiteRT only; ``--season-offset auto`` estimates the shift from the table's own
mean NDVI curve against the one the bundle carries.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cropedge.atomic import atomic_open, atomic_path
from cropedge.device.runtime import DEFAULT_BATCH, LiteModel
from cropedge.device.season import season_offset

TABLE_OUTPUTS = (".csv", ".npz")


def predict_table(
    model: LiteModel,
    input_path: Path,
    out: Path,
    *,
    batch_size: int = DEFAULT_BATCH,
    season_offset_days: float | str | None = None,
    probabilities: bool = False,
    progress: bool = False,
    data_options: Mapping[str, Any] | None = None,
) -> dict:
    """Classify every sample of a pixel table and write ``out`` (.csv or .npz).

    ``data_options``: reader options (``cropedge.data.load_dataset``'s: layout, bands, ...).
    """
    from cropedge.console import Progress
    from cropedge.data import load_dataset

    dataset = load_dataset(input_path, **(data_options or {}))
    x = model.input_from(dataset)
    offset = season_offset(model, season_offset_days, lambda: x)
    if dataset.observed_doy is not None:  # gap filling must not invent the season the model needs
        model.check_dates(dataset.observed_doy, offset["days"])
    with Progress(len(x), "px", "predict", enabled=progress, heartbeat=30) as bar:
        ids, probs = model.predict(x, batch_size, offset["days"], progress=bar.update)
    labels = model.labels_of(dataset) if (dataset.y >= 0).any() else None
    write = write_csv if out.suffix.lower() == ".csv" else write_npz
    assert dataset.ids is not None, "set by Dataset.__post_init__"
    write(out, dataset.ids, model.classes, ids, probs, probabilities, labels)
    summary: dict[str, Any] = {"pixels": len(x), "dropped": dataset.dropped, "filled": dataset.filled,
                               "season_offset": offset}
    if labels is not None:
        known = labels >= 0
        summary["labelled_accuracy"] = float((ids[known] == labels[known]).mean()) if known.any() else None
    return summary


def write_csv(
    path: Path,
    sample_ids: np.ndarray,
    classes: tuple[str, ...],
    ids: np.ndarray,
    probs: np.ndarray,
    all_probabilities: bool,
    labels: np.ndarray | None = None,
) -> None:
    """id, class, probability [, label] [, p_<class> ...] per sample."""
    header = ["id", "class", "probability"] + (["label"] if labels is not None else [])
    header += [f"p_{c}" for c in classes] if all_probabilities else []
    names = np.asarray(classes + ("",))
    top = probs[np.arange(len(ids)), ids]
    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for i in range(len(ids)):
            row = [sample_ids[i], classes[ids[i]], f"{top[i]:.6f}"]
            if labels is not None:
                row.append(names[labels[i]])
            if all_probabilities:
                row += [f"{p:.6f}" for p in probs[i]]
            writer.writerow(row)


def write_npz(
    path: Path,
    sample_ids: np.ndarray,
    classes: tuple[str, ...],
    ids: np.ndarray,
    probs: np.ndarray,
    all_probabilities: bool,
    labels: np.ndarray | None = None,
) -> None:
    """Arrays ``ids``, ``pred`` (class id), ``probability``, ``classes`` [, ``labels``, ``probabilities``]."""
    arrays = {
        "ids": np.asarray(sample_ids).astype(str),
        "pred": ids.astype(np.int64),
        "probability": probs[np.arange(len(ids)), ids],
        "classes": np.asarray(classes),
    }
    if labels is not None:
        arrays["labels"] = labels
    if all_probabilities:
        arrays["probabilities"] = probs
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
