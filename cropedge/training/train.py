"""Training: one source-region model per run folder, with a budget sized to the data.

Adam with the batch size, learning-rate schedule, epochs and early stopping of
``cropedge.training.budget`` (data-sized by default, the CropNet paper's with
``protocol="reference"``), cross-entropy with class weights balanced on the training split,
and the epoch with the best **validation** macro-F1 kept. Validation is a stratified held-out
part of the source data (never the target, never the training split). Normalisation
statistics come from the training split only.

Input pipeline (``tf.data``, built from year-grid arrays so time augmentations can move
the window): shuffle (seeded) -> batch -> augment on raw reflectance (cuts the window) ->
normalise + channel axis -> prefetch. Validation uses ``prepare_input``, the numpy
preprocessing that evaluation and the device share.

A killed run restarts where it stopped: Keras ``BackupAndRestore`` keeps weights and
optimizer state in ``RUN/backup``, and the best-so-far weights and per-epoch history are
persisted beside it, so best-epoch selection survives the restart.
"""

from __future__ import annotations

import contextlib
import csv
import inspect
import io
import json
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cropedge.atomic import atomic_path, exclusive, write_json, write_text
from cropedge.backend import keras, tf
from cropedge.console import Progress, duration, on_terminal
from cropedge.data import load_regions
from cropedge.data.align import AUTO, estimate_offset, ndvi_curve, shift_samples
from cropedge.data.dataset import Dataset
from cropedge.data.grid import Window
from cropedge.data.matching import labels_by_name, stratified_split
from cropedge.data.normalize import BandStats
from cropedge.data.prepare import prepare_input
from cropedge.errors import CropEdgeError
from cropedge.metrics import classification_report
from cropedge.models import count_macs, count_params, get_model, model_spec
from cropedge.training import distill
from cropedge.training.augment import AugmentConfig, augment_dataset
from cropedge.training.budget import Budget, budget_for, budget_warnings, chance_warning, choose_window
from cropedge.training.distribute import describe, is_chief, precision_policy, select_strategy
from cropedge.training.recipe import TrainConfig  # noqa: F401 - defined there so that parsing a recipe needs no TensorFlow
from cropedge.training.run import (
    BACKUP_DIR,
    CONFIG_JSON,
    HISTORY_CSV,
    KERAS_MODEL,
    RUN_JSON,
    SKLEARN_MODEL,
    SPLIT_NPZ,
    SUMMARY_JSON,
    VAL_METRICS,
    VERSIONS_JSON,
    Run,
    RunRecord,
    Scores,
    summarise_validation,
)
from cropedge.versions import package_versions


def balanced_class_weights(y: np.ndarray, num_classes: int, power: float = 1.0) -> dict[int, float]:
    """``(n / (k * count_c)) ** power`` over the ``k`` classes present (1: scikit-learn's 'balanced'); 0 if absent."""
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(num_classes)
    w[present] = (counts.sum() / (present.sum() * counts[present])) ** power
    return {i: float(w[i]) for i in range(num_classes)}


# The data-sized protocol balances classes by the square root of inverse frequency: fully
# balanced weights reach 30x for a class with one sample in a few hundred, and CropNet then
# never fits such a set (Uganda 2017, 379 samples: training accuracy 0.11 after 20 epochs
# fully balanced, 0.68 unweighted); the reference protocol keeps the paper's full balance.
CLASS_WEIGHT_POWER = {"auto": 0.5, "reference": 1.0}


def class_weights_for(config: TrainConfig, y: np.ndarray, num_classes: int) -> dict[int, float] | None:
    """The loss weights of a run's training labels ``y``: None when the config turns them off."""
    if not config.class_weights:
        return None
    return balanced_class_weights(y, num_classes, CLASS_WEIGHT_POWER[config.protocol])


def load_source(config: TrainConfig) -> tuple[Dataset, tuple[str, ...]]:
    """The source regions as loaded (what split.npz indexes) and the classes the model learns.

    The model's classes are the classes present in the source, in the data's class order;
    labels are renumbered to them (the reference's label mapping), so a model never has an
    output for a class it has never seen.
    """
    source = load_regions(config.data, list(config.sources), **config.data_options)
    present = np.unique(source.y[source.y >= 0])
    if len(present) < 2:
        raise CropEdgeError(
            f"source region(s) {', '.join(config.sources)} hold {len(present)} labelled class(es); "
            "training needs at least two"
        )
    classes = tuple(source.classes[i] for i in present)
    return source, classes


def source_season_offsets(source: Dataset, config: TrainConfig) -> dict[str, float]:
    """Days each source region's year is moved before training.

    A number moves every region by the same days; ``"auto"`` aligns each region's mean
    NDVI curve with the first source region's (useful when pooling regions whose seasons
    differ, e.g. both hemispheres).
    """
    regions = list(config.sources)
    if config.season_offset_days != AUTO:
        return {r: float(config.season_offset_days) for r in regions}
    reference = ndvi_curve(source.x[source.region == regions[0]], source.bands)
    return {r: estimate_offset(reference, ndvi_curve(source.x[source.region == r], source.bands))[0] for r in regions}


def train_run(
    config: TrainConfig,
    out_dir: str | Path,
    *,
    verbose: int = 2,
    strategy: Any = None,
    callbacks: Sequence[Any] = (),
    warn: Callable[[str], None] | None = None,
) -> Path:
    """Train one model and write its run folder (see docs/training.md for the layout).

    Args:
        config: The run's settings.
        out_dir: Run folder. An unfinished run with the same settings there is resumed; a
            finished one with the same settings is returned as it is.
        verbose: 2 = the budget line, about twenty progress lines and a summary line; 1 = the
            budget and summary lines; 0 = silent.
        strategy: A ``tf.distribute`` strategy; default ``distribute.select_strategy()``.
        callbacks: Extra Keras callbacks (called after validation scoring and backup).
        warn: Receives each warning (too few steps, a class with a handful of samples, a model
            near chance); default: one ``cropedge: warning:`` line on stderr when ``verbose``.
            Warnings are also stored in run.json.

    Returns:
        The run folder.
    """
    config.validate()
    out = Path(out_dir)
    # one writer per run folder (the chief: the other workers of a multi-worker run share it)
    with exclusive(out, "cropedge train") if is_chief() else contextlib.nullcontext():
        return _train(config, out, verbose, strategy, callbacks, warn)


def _train(
    config: TrainConfig,
    out: Path,
    verbose: int,
    strategy: Any,
    callbacks: Sequence[Any],
    warn: Callable[[str], None] | None,
) -> Path:
    """``train_run`` with the folder held."""
    if _check_out(out, config):
        if verbose:
            print(f"{out}: already finished, nothing to train: {_outcome(Run(out).record)}", flush=True)
        return out
    warn = warn or (_print_warning if verbose else (lambda message: None))
    plan = _plan(config, out)  # user errors in the data and settings surface before anything is written
    parts, budget, warnings = plan.parts, plan.budget, list(plan.warnings)
    if is_chief():
        write_json(out / CONFIG_JSON, config.to_dict())  # config first: a folder with it is a run to resume
        _save_split(out / SPLIT_NPZ, {"train_idx": parts.train_idx, "val_idx": parts.val_idx})
    if verbose and budget is not None:
        print(f"{out}: {budget.describe(parts.window)}", flush=True)
    for message in warnings:
        warn(message)

    started = time.time()
    if budget is None:
        fitted = _fit_sklearn(config, out, parts)
    else:
        fitted = _fit_keras(config, out, parts, budget, plan.augment, verbose=verbose, strategy=strategy,
                            callbacks=callbacks)
    if fitted is None:  # a non-chief worker: the chief writes the run folder
        return out
    late = chance_warning(fitted.validation["macro_f1"], len(parts.classes), fitted.epochs) if budget else None
    if late:
        warn(late)
        warnings.append(late)
    record = _run_record(config, plan, fitted, tuple(warnings), seconds=time.time() - started)
    write_json(out / VERSIONS_JSON, package_versions())
    write_json(out / RUN_JSON, record.to_dict())
    shutil.rmtree(out / BACKUP_DIR, ignore_errors=True)
    if verbose:
        print(f"{out}: trained in {duration(record.train_seconds)}: {_outcome(record)}", flush=True)
    return out


def _outcome(record: RunRecord) -> str:
    """``best epoch 12 of 60, val_oa 0.862 val_macro_f1 0.841 (n=280)``: what a finished run kept."""
    v = record.validation
    best = f"best epoch {record.best_epoch} of {record.epochs}, " if record.best_epoch else ""
    return f"{best}val_oa {v.oa:.3f} val_macro_f1 {v.macro_f1:.3f} (n={v.n})"


@dataclass
class _Plan:
    """A run before training: its data split, window, statistics, budget and warnings."""

    source: Dataset
    offsets: dict[str, float]
    parts: _Parts
    augment: AugmentConfig
    budget: Budget | None
    warnings: tuple[str, ...]


def _plan(config: TrainConfig, out: Path | None) -> _Plan:
    """Load the source and plan the run; the split is ``out``'s own when it has one."""
    source, classes = load_source(config)
    augment = augment_config(config)
    offsets = source_season_offsets(source, config)
    y = labels_by_name(source, classes)[0]
    # a student of a teacher run trains and is validated on the teacher's split
    split = distill.teacher_split(config, len(y)) if config.teacher else _load_or_make_split(out, config, y)
    window = choose_window(config, source.observed_doy)
    x = shift_samples(source.x, np.array([offsets[r] for r in source.region.tolist()]))
    stats = BandStats.fit(window.cut(x[split["train_idx"]]))
    parts = _Parts(x, y, split["train_idx"], split["val_idx"], window, stats, classes)
    params = _check_model(config, parts)
    keras_model = model_spec(config.model).kind == "keras"
    budget = budget_for(config, len(parts.train_idx), len(classes)) if keras_model else None
    counts = np.bincount(y[parts.train_idx], minlength=len(classes)).tolist()
    warnings = budget_warnings(budget, config.model, params, dict(zip(classes, counts, strict=True)))
    return _Plan(source, offsets, parts, augment, budget, tuple(warnings))


def plan_run(config: TrainConfig) -> tuple[Budget | None, Window, int]:
    """The budget (None for forests), window and validation size a run of ``config`` would have."""
    config.validate()
    plan = _plan(config, None)
    return plan.budget, plan.parts.window, len(plan.parts.val_idx)


def _print_warning(message: str) -> None:
    print(f"cropedge: warning: {message}", file=sys.stderr, flush=True)


def train_seeds(
    config: TrainConfig,
    seeds: Sequence[int],
    out_dir: str | Path,
    *,
    verbose: int = 2,
    strategy: Any = None,
) -> Path:
    """Train one run per seed into ``out_dir/seed-K/`` and write ``summary.json`` (mean ± std).

    Finished seeds are kept, unfinished ones resumed, so the call itself is resumable.
    """
    if len(set(seeds)) != len(seeds) or not seeds:
        raise CropEdgeError(f"seeds must be distinct and at least one, got {list(seeds)}")
    strategy = strategy or select_strategy()
    out = Path(out_dir)
    dirs = [
        train_run(replace(config, seed=int(s)), out / f"seed-{s}", verbose=verbose, strategy=strategy) for s in seeds
    ]
    if is_chief():
        write_json(out / SUMMARY_JSON, summarise_validation(dirs))
    return out


# --- run folder bookkeeping ---------------------------------------------------------


def _check_out(out: Path, config: TrainConfig) -> bool:
    """Can ``out`` take this run? True when it already holds this run, finished.

    Other workers of a multi-worker run may find the folder before the chief has written
    config.json; only the chief insists on an empty folder.
    """
    saved = out / CONFIG_JSON
    if saved.exists():
        try:
            previous = TrainConfig.from_dict(json.loads(saved.read_text()))
        except (ValueError, TypeError, CropEdgeError) as exc:
            raise CropEdgeError(f"{saved} is not a cropedge training config ({exc}): choose another --out") from exc
        if previous != config:
            raise CropEdgeError(
                f"{out} holds a run with other settings: choose another --out, or delete it to start over"
            )
        return _finished(out)
    if is_chief() and out.exists() and any(out.iterdir()):
        raise CropEdgeError(f"{out} exists and is not a cropedge run folder: choose another --out")
    return False


def _finished(out: Path) -> bool:
    try:
        return json.loads((out / RUN_JSON).read_text()).get("status") == "finished"
    except (OSError, ValueError):
        return False


def _load_or_make_split(out: Path | None, config: TrainConfig, y: np.ndarray) -> dict[str, np.ndarray]:
    """The train/validation split, fixed at the first start so a resumed run keeps it."""
    path = out / SPLIT_NPZ if out is not None else None
    if path is not None and path.exists():
        with np.load(path) as z:
            split = {k: z[k] for k in ("train_idx", "val_idx")}
        if max(split["train_idx"].max(initial=-1), split["val_idx"].max(initial=-1)) >= len(y):
            raise CropEdgeError(f"{path} does not match the source data: delete {out} to start over")
        return split
    train_idx, val_idx = stratified_split(y, config.val_fraction, config.seed)
    if len(val_idx) == 0 or len(train_idx) == 0:
        raise CropEdgeError(f"too few source samples ({len(y)}) to hold out a validation split")
    return {"train_idx": train_idx, "val_idx": val_idx}


def _save_split(path: Path, split: dict[str, np.ndarray]) -> None:
    if not path.exists():
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **split)


@dataclass
class _Parts:
    """The source split, ready for fitting: year-grid reflectance, model labels, window, stats."""

    x: np.ndarray
    y: np.ndarray
    train_idx: np.ndarray
    val_idx: np.ndarray
    window: Window
    stats: BandStats
    classes: tuple[str, ...]

    def prepared(self, idx: np.ndarray) -> np.ndarray:
        return prepare_input(self.x[idx], self.window, self.stats)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.x.shape[1], self.window.length, 1)


@dataclass
class _Fitted:
    """What a fit hands back for run.json."""

    validation: dict
    best_epoch: int | None
    params: int
    macs: int
    extra: dict
    epochs: int = 0


def _run_record(config: TrainConfig, plan: _Plan, fitted: _Fitted, warnings: tuple[str, ...], seconds: float
                ) -> RunRecord:
    source, parts, offsets = plan.source, plan.parts, plan.offsets
    try:  # stored so that targets can be aligned later without the source data
        curve = tuple(round(float(v), 5) for v in ndvi_curve(parts.x[parts.train_idx], source.bands))
    except CropEdgeError:
        curve = None
    return RunRecord(
        model=config.model,
        classes=tuple(parts.classes),
        bands=tuple(source.bands),
        window=parts.window,
        normalization=parts.stats,
        season_offset_days=offsets[config.sources[0]],
        source_season_offsets=offsets,
        sources=tuple(config.sources),
        data=str(config.data),
        seed=config.seed,
        augment=plan.augment.to_dict(),
        params=fitted.params,
        macs=fitted.macs,
        input_shape=parts.input_shape,
        best_epoch=fitted.best_epoch,
        validation=Scores.from_dict(fitted.validation, "validation"),
        n_train=int(len(parts.train_idx)),
        n_val=int(len(parts.val_idx)),
        source_ndvi_curve=curve,
        train_seconds=round(seconds, 1),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        budget=plan.budget,
        warnings=warnings,
        **fitted.extra,
    )


def augment_config(config: TrainConfig) -> AugmentConfig:
    """The run's augmentation: the config's options over the protocol's defaults.

    The data-sized protocol reads the year as a circle (a window moved past day 361 carries
    on at day 1); the reference clamps to the year, as the CropNet code does.

    Raises:
        CropEdgeError: an unknown or unusable augment option.
    """
    if not config.augment:
        return AugmentConfig.off()
    return AugmentConfig.from_dict({"circular": config.protocol == "auto", **config.augment_options})


def _check_model(config: TrainConfig, parts: _Parts) -> int:
    """Build the model once to check its options; its parameter count (trees for forests).

    Option values must have the type of the builder's default for them (a whole number where
    the default is one), and the builder must accept them.
    """
    spec = model_spec(config.model)
    defaults = {name: p.default for name, p in inspect.signature(spec.load_builder()).parameters.items()}
    defaults.update(spec.defaults)
    for key, value in config.model_options.items():
        default = defaults.get(key)
        kind = type(default) if isinstance(default, bool | int | float | str) else None
        fits = (kind is None or isinstance(value, kind) and isinstance(value, bool) == (kind is bool)
                or kind is float and isinstance(value, int) and not isinstance(value, bool))
        if not fits:
            raise CropEdgeError(
                f"model option {key} = {value!r} for {config.model} must be {_kind_words(kind)}, "
                f"like its default {default!r}"
            )
    try:
        model = get_model(config.model, len(parts.classes), input_shape=parts.input_shape, **config.model_options)
    except (TypeError, ValueError) as exc:
        raise CropEdgeError(f"model options {config.model_options} do not fit {config.model}: {exc}") from None
    return count_params(model)


def _kind_words(kind: type | None) -> str:
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(kind, "valid")


# --- scikit-learn models ------------------------------------------------------------


def _fit_sklearn(config: TrainConfig, out: Path, parts: _Parts) -> _Fitted:
    import joblib

    from cropedge.models.forest import flatten_features

    model = get_model(
        config.model, len(parts.classes), input_shape=parts.input_shape, seed=config.seed, **config.model_options
    )
    model.fit(flatten_features(parts.prepared(parts.train_idx)), parts.y[parts.train_idx])
    with atomic_path(out / SKLEARN_MODEL) as tmp:
        joblib.dump(model, tmp)
    pred = model.predict(flatten_features(parts.prepared(parts.val_idx)))
    report = classification_report(parts.y[parts.val_idx], pred, parts.classes)
    return _Fitted(report, None, count_params(model), 0, {"distribution": {"strategy": "sklearn"}})


# --- Keras models -------------------------------------------------------------------


def _fit_keras(
    config: TrainConfig, out: Path, parts: _Parts, budget: Budget, augment: AugmentConfig, *,
    verbose: int, strategy: Any, callbacks: Sequence[Any],
) -> _Fitted | None:
    strategy = strategy or select_strategy()
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        # process-wide and irreversible: fine for a training process, which trains one run config
        tf.config.experimental.enable_op_determinism()
    weights = class_weights_for(config, parts.y[parts.train_idx], len(parts.classes))
    with precision_policy(config.mixed_precision) as policy, strategy.scope():
        model = get_model(config.model, len(parts.classes), input_shape=parts.input_shape, **config.model_options)
        if config.teacher:  # fit the student through the teacher's soft labels; the saved model stays plain
            model = distill.distiller(model, config, parts)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate(budget)),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=["accuracy"],
        )
    best = BestMacroF1(
        parts.prepared(parts.val_idx), parts.y[parts.val_idx], parts.classes, out / BACKUP_DIR, write=is_chief(),
        patience=budget.patience, every=budget.check_every,
    )
    # a Keras epoch is a round of check_every passes over the data, each reshuffled and augmented afresh
    dataset = _train_dataset(config, parts, budget.batch_size, augment, repeat=budget.check_every)
    resumed = _epochs_backed_up(out)  # Keras epochs an interrupted run finished
    for _ in range(resumed):
        # each new iterator advances the seeded shuffle and augmentation streams, as each epoch
        # does: a resumed run draws the batches of the epochs it has left, not epoch 1's again.
        # A round of several passes advances them once per pass, as it runs: run it through
        # (rounds are for small sets, a few hundred batches)
        if budget.check_every == 1:
            iter(dataset)
        else:
            for _ in dataset:
                pass
    progress = epoch_lines(budget, best, resumed) if verbose >= 2 else []
    try:
        model.fit(
            dataset,
            epochs=budget.epochs // budget.check_every,
            verbose=0,
            class_weight=weights,
            callbacks=[best, _backup(out), *progress, *callbacks],
        )
    finally:
        for callback in progress:  # the step bar leaves the terminal, Ctrl-C included
            callback.on_train_end()
    if not is_chief():
        return None
    # the saved model is a plain float32 one, built outside any strategy, whatever trained it
    with precision_policy(False):
        final = get_model(config.model, len(parts.classes), input_shape=parts.input_shape, **config.model_options)
    final.set_weights(best.best_weights())
    with atomic_path(out / KERAS_MODEL) as tmp:
        final.save(tmp)
    write_text(out / HISTORY_CSV, _csv(best.history))
    probs = final.predict(parts.prepared(parts.val_idx), batch_size=1024, verbose=0)
    report = classification_report(parts.y[parts.val_idx], probs.argmax(axis=1), parts.classes)
    epochs = int(best.history[-1]["epoch"]) if best.history else 0
    extra = {
        "epochs": epochs,
        "precision": policy,
        "distribution": describe(strategy),
        "class_weights": {c: weights[i] for i, c in enumerate(parts.classes)} if weights else None,
        "distillation": distill.record(config) if config.teacher else None,
    }
    return _Fitted(report, best.best_epoch, count_params(final), count_macs(final), extra, epochs)


def learning_rate(budget: Budget) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The budget's learning rate: constant, or linear warm-up then cosine decay to 1 % at the last step."""
    if budget.schedule == "constant":
        return budget.lr
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        warmup_target=budget.lr,
        warmup_steps=budget.warmup_steps,
        decay_steps=max(1, budget.steps - budget.warmup_steps),
        alpha=0.01,
    )


def _epochs_backed_up(out: Path) -> int:
    """Epochs finished by an interrupted run, from its BackupAndRestore checkpoint (0: none)."""
    checkpoint = tf.train.latest_checkpoint(str(out / BACKUP_DIR / "keras" / "chief"))
    if checkpoint is None:
        return 0
    return int(tf.train.load_variable(checkpoint, "ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE")) + 1


def _backup(out: Path) -> keras.callbacks.Callback:
    # kept until run.json is written (train_run deletes it): a run killed after the last
    # epoch resumes with nothing left to train instead of starting over
    return keras.callbacks.BackupAndRestore(str(out / BACKUP_DIR / "keras"), delete_checkpoint=False)


def _train_dataset(
    config: TrainConfig, parts: _Parts, batch_size: int, augment: AugmentConfig, repeat: int = 1
) -> tf.data.Dataset:
    """Shuffle (seeded) -> batch -> augment (cuts the window) -> normalise + channel (-> repeat) -> prefetch."""
    x, y = parts.x[parts.train_idx], parts.y[parts.train_idx]
    mean = tf.constant(np.asarray(parts.stats.mean, np.float32)[None, :, None])
    std = tf.constant(np.asarray(parts.stats.std, np.float32)[None, :, None])
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    ds = ds.shuffle(len(x), seed=config.seed, reshuffle_each_iteration=True).batch(batch_size)
    # seeded per-batch augmentation streams: a seed reproduces the same augmented epochs
    ds = augment_dataset(ds, augment, parts.window, seed=config.seed)
    ds = ds.map(lambda xb, yb: (((xb - mean) / std)[..., None], yb), num_parallel_calls=tf.data.AUTOTUNE)
    if repeat > 1:  # each repetition reshuffles and draws new augmentation seeds
        ds = ds.repeat(repeat)
    options = tf.data.Options()
    # in-memory arrays: workers of a multi-worker run split batches, not files
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def run_train_dataset(run: Any) -> tf.data.Dataset:
    """A finished run's own training pipeline, rebuilt from its folder.

    Same split, season offsets, statistics, augmentation, batch size and seed, to fine-tune
    the trained model further: quantization-aware training in ``cropedge.export.exporter``.
    """
    config = run.config
    source = run.source_data()
    x = shift_samples(source.x, run.source_offsets(source))
    split = run.split()
    y = labels_by_name(source, run.classes)[0]
    parts = _Parts(x, y, split["train_idx"], split["val_idx"], run.window, run.stats, run.classes)
    budget = run.record.budget
    batch = budget.batch_size if budget is not None else config.batch_size or 256
    return _train_dataset(config, parts, batch, AugmentConfig.from_dict(run.record.augment))


def _csv(rows: list[dict]) -> str:
    keys = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


class BestMacroF1(keras.callbacks.Callback):
    """Score the validation split after every epoch, keep the weights with the best macro-F1, stop early.

    Adds ``val_oa``, ``val_macro_f1``, ``val_weighted_f1``, ``lr`` and ``passes`` (epochs so far,
    counted in passes over the data) to the epoch logs (so
    progress lines and later callbacks see them). The per-epoch history and the best epoch's
    weights and report are written to ``state_dir`` after every epoch, so a run restarted by
    ``BackupAndRestore`` carries on with the same best-so-far. With ``patience``, training
    stops once that many epochs have passed without a better validation macro-F1.
    """

    STATE, WEIGHTS = "state.json", "best_weights.npz"

    def __init__(
        self,
        x_val: np.ndarray,
        y_val: np.ndarray,
        classes: Sequence[str],
        state_dir: Path,
        batch_size: int = 1024,
        write: bool = True,
        patience: int | None = None,
        every: int = 1,
    ) -> None:
        """Set up scoring of one validation split.

        Args:
            x_val: Prepared validation inputs.
            y_val: Validation labels (class indices).
            classes: Class names, in model output order.
            state_dir: Folder for the history and best weights (the run's backup folder).
            batch_size: Batch size of the validation forward passes.
            write: Whether this process writes the state (the chief only, in multi-worker runs).
            patience: Epochs without a better validation macro-F1 before training stops (None: never).
            every: Epochs (passes over the data) in one Keras epoch: history and best epoch count passes.
        """
        super().__init__()
        self.x_val, self.y_val, self.classes = x_val, y_val, tuple(classes)
        self.state_dir, self.batch_size, self.write = Path(state_dir), batch_size, write
        self.patience, self.every = patience, every
        self.history: list[dict] = []
        self.best_epoch: int | None = None
        self.best_score = -np.inf
        self.best_report: dict | None = None
        self._best_weights: list[np.ndarray] | None = None

    def best_weights(self) -> list[np.ndarray]:
        """The best epoch's weights, in ``model.get_weights()`` order."""
        if self._best_weights is None:
            with np.load(self.state_dir / self.WEIGHTS) as z:
                self._best_weights = [z[f"w{i}"] for i in range(len(z.files))]
        return self._best_weights

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Build the forward pass and restore the best-so-far state of an interrupted run."""
        # a plain forward pass on this process's copy of the weights: no collective ops,
        # so every worker of a multi-worker run can score on its own
        self._forward = tf.function(lambda x: self.model(x, training=False))
        state = self.state_dir / self.STATE
        if state.exists():
            saved = json.loads(state.read_text())
            self.history, self.best_epoch = saved["history"], saved["best_epoch"]
            self.best_score, self.best_report = saved["best_score"], saved["best_report"]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Score the validation split, add ``val_*`` metrics to ``logs``, save the state, stop if patience ran out."""
        logs = logs if logs is not None else {}
        probs = np.concatenate(
            [
                self._forward(self.x_val[i : i + self.batch_size]).numpy()
                for i in range(0, len(self.x_val), self.batch_size)
            ]
        )
        report = classification_report(self.y_val, probs.argmax(axis=1), self.classes)
        for k in VAL_METRICS:
            logs[f"val_{k}"] = report[k]
        logs["lr"] = current_lr(self.model.optimizer)
        done = (epoch + 1) * self.every  # passes over the data so far
        row = {"epoch": done, **{k: float(v) for k, v in logs.items()}}
        # a restarted epoch replaces the row it had before the interruption
        self.history = [r for r in self.history if r["epoch"] < done] + [row]
        logs["passes"] = done  # for later callbacks: epochs in passes over the data, whatever the round
        improved = report["macro_f1"] > self.best_score
        if improved:
            self.best_epoch, self.best_score, self.best_report = done, report["macro_f1"], report
            # plain arrays, not save_weights: Keras' weight saving runs collective ops under
            # multi-worker training, which would hang with only the chief writing
            self._best_weights = self.model.get_weights()
        if self.patience and self.best_epoch is not None and done - self.best_epoch >= self.patience:
            self.model.stop_training = True  # every worker scores the same weights: all stop together
        if not self.write:
            return
        if improved:
            with atomic_path(self.state_dir / self.WEIGHTS, suffix=".npz") as tmp, open(tmp, "wb") as fh:
                np.savez(fh, **{f"w{i}": w for i, w in enumerate(self._best_weights)})
        state = {
            "history": self.history,
            "best_epoch": self.best_epoch,
            "best_score": self.best_score,
            "best_report": self.best_report,
        }
        write_json(self.state_dir / self.STATE, state)


def current_lr(optimizer: Any) -> float:
    """The learning rate the optimizer's next step uses (its schedule at the current step)."""
    lr = optimizer.learning_rate
    if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
        lr = lr(optimizer.iterations)
    return float(keras.backend.get_value(lr))


def epoch_lines(budget: Budget, best: BestMacroF1, resumed: int = 0) -> list[keras.callbacks.Callback]:
    """The training console: one line per validated epoch and, on a terminal, a bar over the steps."""
    lines = EpochLines(budget.epochs, best, budget.check_every)
    if not on_terminal():
        return [lines]
    bar = StepBar(budget.steps, resumed * budget.check_every * budget.steps_per_epoch)
    lines.progress = bar.progress
    return [lines, bar]


class EpochLines(keras.callbacks.Callback):
    """One line per validated epoch, metrics named alike for training and validation, ``*`` at a new best.

    ``Epoch 12/60  loss 0.412 oa 0.881 | val_oa 0.862 val_macro_f1 0.841 *  lr 2.1e-03  14 s``;
    then the reason when training stops early.
    """

    def __init__(self, epochs: int, best: BestMacroF1, every: int = 1) -> None:
        """Print for a run of ``epochs`` epochs (passes), ``every`` of them in a Keras epoch."""
        super().__init__()
        self.epochs, self.scorer, self.per_round = epochs, best, every
        self.started = time.time()
        self.progress: Progress | None = None  # the step bar, when there is one: lines go above it

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Print the epoch's line, and the reason when training stops early."""
        logs, best = logs or {}, self.scorer
        n = (epoch + 1) * self.per_round
        train = f"loss {logs.get('loss', np.nan):.3f} oa {logs.get('accuracy', np.nan):.3f}"
        val = f"val_oa {logs.get('val_oa', np.nan):.3f} val_macro_f1 {logs.get('val_macro_f1', np.nan):.3f}"
        mark = " *" if best.best_epoch == n else "  "
        count = f"Epoch {n:>{len(str(self.epochs))}}/{self.epochs}"
        self._say(f"{count}  {train} | {val}{mark}  lr {logs.get('lr', np.nan):.1e}  "
                  f"{duration(time.time() - self.started)}")
        if self.model.stop_training and n < self.epochs:
            self._say(f"stopped early at epoch {n}: no better validation macro-F1 since epoch {best.best_epoch}")

    def _say(self, line: str) -> None:
        if self.progress is not None:
            self.progress.write(line)
        else:
            print(line, flush=True)


class StepBar(keras.callbacks.Callback):
    """A bar over the run's optimizer steps (terminal only): its time left counts the whole run."""

    def __init__(self, steps: int, done: int) -> None:
        """Count ``steps`` optimizer steps, ``done`` of them before a resumed run started."""
        super().__init__()
        self.progress = Progress(steps, "step", "training", initial=min(done, steps))

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Count one step."""
        self.progress.update()

    def on_train_end(self, logs: dict | None = None) -> None:
        """Take the bar off the terminal."""
        self.progress.close()
