"""Evaluate a trained run on target regions: the numbers of a transfer experiment.

Per target: overall accuracy, macro-F1 over the classes present in the target, weighted
F1, per-class F1 and the confusion matrix (``cropedge.metrics.classification_report``).

* Classes are matched **by name** between the run and the target data, whatever order or
  class list the target's files use. Target samples of a class the run never learned are
  left out of the scores and reported under ``unseen_classes`` (with what the model
  predicted for them), never merged into another class.
* Season alignment (``cropedge.data.align``): a fixed offset, or ``"auto"`` from the target's
  own unlabelled series; what was applied is reported under ``season_alignment``.
* The reference's optional remapping: predictions outside the target's known crop set
  become ``other`` (``map_unknown_to_other``); the crop set used is reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from cropedge.data.align import resolve_offset
from cropedge.data.dataset import Dataset
from cropedge.data.matching import labels_by_name
from cropedge.errors import CropEdgeError
from cropedge.metrics import classification_report
from cropedge.training.run import VAL_METRICS, Run, mean_std, run_dirs

OTHER = "other"

# The crops each CropGlobe target grows (the reference's test-time remapping): predictions
# of any other crop become "other". Recipes restate these so a user can edit them.
REFERENCE_CROPS: dict[str, tuple[str, ...]] = {
    "AUS": ("sugarcane", "cotton"),
    "CHN": ("corn", "soybeans", "rice"),
    "ARG": ("corn", "soybeans", "rice", "sugarcane", "cotton"),  # all but wheat
}


def remap_unknown_to_other(pred: np.ndarray, classes: Sequence[str], crops: Sequence[str]) -> np.ndarray:
    """Predictions of classes outside ``crops`` (and not ``other``) become ``other``."""
    if OTHER not in classes:
        raise CropEdgeError(
            f"mapping predictions to {OTHER!r} needs a model with an {OTHER!r} class (it has {', '.join(classes)})"
        )
    unknown = [c for c in crops if c not in classes]
    if unknown:
        raise CropEdgeError(
            f"target crop set names {', '.join(unknown)}, which the model does not know ({', '.join(classes)})"
        )
    keep = np.array([c in crops or c == OTHER for c in classes])
    return np.where(keep[pred], pred, list(classes).index(OTHER))


def evaluate_run(
    run: Run | str | Path,
    dataset: Dataset,
    map_unknown_to_other: bool = False,
    crops: Sequence[str] | None = None,
    season_offset: float | str | None = None,
) -> dict:
    """Score ``run`` on a target ``dataset``.

    Args:
        run: A finished run (or its folder), or an exported bundle's ``runtime.LiteModel``
            (anything with ``classes``, ``check_dataset``, ``predict_proba``, ``season_offset_days``,
            ``source_ndvi_curve``).
        dataset: Target samples on the year grid, with the run's bands.
        map_unknown_to_other: Turn predictions outside the target's crop set into ``other``.
        crops: The target's crop set; default ``REFERENCE_CROPS`` of its region (no remapping
            for regions not in that table).
        season_offset: Days to move the target year, ``"auto"`` to estimate them from the
            target's series, or None for the run's own offset.

    Returns:
        ``classification_report`` keys plus ``regions``, ``n_excluded``, ``unseen_classes``,
        ``season_alignment`` and ``map_unknown_to_other``.
    """
    run = Run(run) if isinstance(run, (str, Path)) else run
    run.check_dataset(dataset)
    y, unseen = labels_by_name(dataset, run.classes)
    if season_offset is None:
        alignment = {"method": "run", "days": run.season_offset_days}
    else:
        alignment = resolve_offset(season_offset, dataset.x, dataset.bands, run.source_ndvi_curve)
    pred = run.predict_proba(dataset.x, season_offset_days=alignment["days"]).argmax(axis=1)

    mapping: dict = {"enabled": bool(map_unknown_to_other)}
    if map_unknown_to_other:
        crops = tuple(crops) if crops is not None else _reference_crops(dataset)
        if crops is not None:
            mapped = remap_unknown_to_other(pred, run.classes, crops)
            mapping.update(crops=list(crops), remapped=int((mapped != pred)[y >= 0].sum()))
            pred = mapped
        else:
            mapping.update(crops=None, remapped=0)

    scored = y >= 0
    report = classification_report(y[scored], pred[scored], run.classes)
    return {
        **report,
        "regions": dataset.regions(),
        "n_excluded": int((~scored).sum()),
        "unseen_classes": {
            c: {"n": n, "predicted": _counts(pred[dataset.y == dataset.classes.index(c)], run.classes)}
            for c, n in unseen.items()
        },
        "season_alignment": alignment,
        "map_unknown_to_other": mapping,
    }


def _reference_crops(dataset: Dataset) -> tuple[str, ...] | None:
    regions = dataset.regions()
    if len(regions) == 1 and regions[0] in REFERENCE_CROPS:
        return REFERENCE_CROPS[regions[0]]
    return None


def _counts(pred: np.ndarray, classes: Sequence[str]) -> dict[str, int]:
    counts = np.bincount(pred, minlength=len(classes))
    return {c: int(k) for c, k in zip(classes, counts, strict=False) if k}


def evaluate_targets(
    run_path: str | Path,
    targets: Mapping[str, Dataset],
    map_unknown_to_other: bool = False,
    crops: Mapping[str, Sequence[str] | None] | None = None,
    season_offsets: Mapping[str, float | str | None] | None = None,
) -> dict:
    """Evaluate a run folder, or every seed of a multi-seed folder, on named targets.

    Returns ``{"run", "seeds", "targets": {name: result}}``. For one run a target's result
    is ``evaluate_run``'s dict; for several seeds it is ``{"mean": {...}, "std": {...},
    "seeds": {seed: evaluate_run dict}}`` over OA, macro-F1 and weighted F1.
    """
    crops = crops or {}
    season_offsets = season_offsets or {}
    runs = [Run(d) for d in run_dirs(run_path)]
    per_target: dict[str, dict] = {}
    for name, data in targets.items():
        results = {
            str(r.record.seed): evaluate_run(r, data, map_unknown_to_other, crops.get(name), season_offsets.get(name))
            for r in runs
        }
        if len(runs) == 1:
            per_target[name] = next(iter(results.values()))
        else:
            stats = {k: mean_std(res[k] for res in results.values()) for k in VAL_METRICS}
            per_target[name] = {
                "mean": {k: s["mean"] for k, s in stats.items()},
                "std": {k: s["std"] for k, s in stats.items()},
                "seeds": results,
            }
    return {"run": str(run_path), "seeds": [r.record.seed for r in runs], "targets": per_target}
