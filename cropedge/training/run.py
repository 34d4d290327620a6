"""A finished training run folder, read back: settings, model and the data it was trained on.

Layout (``cropedge.training.train`` writes it; run.json last, so its presence with
``"status": "finished"`` means the run is complete)::

    RUN/run.json        model, classes, bands, window, normalisation, season offset, sources,
                        data, seed, augmentation, params, MACs, best epoch, validation report
    RUN/config.json     the full TrainConfig
    RUN/versions.json   package versions
    RUN/history.csv     per-epoch loss, accuracy and validation OA / macro-F1 (Keras models)
    RUN/split.npz       train_idx, val_idx into the source data as loaded
    RUN/model.keras     the float tf_keras model of the best epoch (or model.joblib, scikit-learn)

A multi-seed run is a folder of such runs, ``RUN/seed-K/``, plus ``RUN/summary.json``.
TensorFlow is imported only when a Keras model is loaded.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from cropedge.data.align import shift_samples
from cropedge.data.dataset import Dataset
from cropedge.data.grid import YEAR_STEPS, Window
from cropedge.data.matching import check_model_input
from cropedge.data.normalize import BandStats
from cropedge.data.prepare import prepare_input
from cropedge.errors import CropEdgeError
from cropedge.record import Record
from cropedge.training.budget import Budget

if TYPE_CHECKING:
    from cropedge.training.recipe import TrainConfig

RUN_JSON = "run.json"
CONFIG_JSON = "config.json"
VERSIONS_JSON = "versions.json"
HISTORY_CSV = "history.csv"
SPLIT_NPZ = "split.npz"
KERAS_MODEL = "model.keras"
SKLEARN_MODEL = "model.joblib"
BACKUP_DIR = "backup"
SUMMARY_JSON = "summary.json"
SEED_DIR = re.compile(r"^seed-(-?\d+)$")
VAL_METRICS = ("oa", "macro_f1", "weighted_f1")


@dataclass(frozen=True)
class Scores(Record):
    """Classification scores of one split (``cropedge.metrics.classification_report``)."""

    VERSION_KEY: ClassVar[str | None] = None
    WHAT: ClassVar[str] = "scores"

    n: int
    oa: float
    macro_f1: float
    weighted_f1: float
    per_class_f1: dict[str, float | None]
    support: dict[str, int]
    confusion: tuple[tuple[int, ...], ...]
    classes: tuple[str, ...]


@dataclass(frozen=True)
class DistillSettings(Record):
    """How a student is taught (``cropedge.training.distill``): the loss mix, temperature, QAT.

    Attributes:
        alpha: Weight of the soft (teacher) term; ``1 - alpha`` weighs the labels.
        temperature: Softening temperature of both softmaxes in the soft term.
        qat: The student trained quantization-aware from the first step (TFMOT).
    """

    VERSION_KEY: ClassVar[str | None] = None
    WHAT: ClassVar[str] = "distillation settings"
    FIX: ClassVar[str] = "correct the distillation settings"

    alpha: float = 0.5
    temperature: float = 2.0
    qat: bool = False

    def __post_init__(self) -> None:
        """Refuse settings no loss can use."""
        if not 0.0 <= self.alpha <= 1.0:
            raise CropEdgeError(f"distillation alpha must be between 0 and 1, got {self.alpha:g}")
        if not self.temperature > 0:
            raise CropEdgeError(f"distillation temperature must be > 0, got {self.temperature:g}")


@dataclass(frozen=True)
class Distillation(Record):
    """What taught a distilled run (run.json ``distillation``).

    Attributes:
        teacher: The teacher's run folder (absolute).
        teacher_model: The teacher's registered model name.
        teacher_macs: The teacher's multiply-accumulates per pixel.
        teacher_val_macro_f1: The teacher's validation macro-F1 (the student's validation split).
        settings: Loss mix, temperature, QAT.
    """

    VERSION_KEY: ClassVar[str | None] = None
    WHAT: ClassVar[str] = "distillation record"

    teacher: str
    teacher_model: str
    teacher_macs: int
    teacher_val_macro_f1: float
    settings: DistillSettings


@dataclass(frozen=True)
class RunRecord(Record):
    """What a finished run is (run.json): written by ``train``, read by eval, export and bench.

    Attributes:
        model: Registered model name.
        classes: The model's outputs, in order.
        bands: Input bands, in order.
        window: The model window on the year grid.
        normalization: Per-band statistics of the training split.
        sources: Source regions.
        data: The data path it was trained on.
        seed: The run's seed.
        augment: The augmentation settings (``AugmentConfig.to_dict``).
        params: Trainable parameters (trees for forests).
        macs: Multiply-accumulates per pixel (0 for forests).
        input_shape: Model input without the batch axis.
        best_epoch: The kept epoch (None for models without epochs).
        validation: Scores of the kept model on the held-out source split.
        n_train: Training samples.
        n_val: Validation samples.
        train_seconds: Wall time of the fit.
        created: UTC time the run finished.
        season_offset_days: Days the first source region was moved.
        source_season_offsets: Days each source region was moved.
        source_ndvi_curve: Mean NDVI of the training split over the year (for ``auto`` alignment).
        epochs: Epochs trained (Keras models).
        precision: The Keras dtype policy it trained under.
        distribution: The ``tf.distribute`` strategy it trained under.
        class_weights: Loss weight per class, when balanced.
        distillation: The teacher and settings of a distilled student (None: trained on labels alone).
        budget: Batch size, learning-rate schedule, epochs and early stopping the run was given
            (``cropedge.training.budget.Budget``; None for forests and runs older than it).
        warnings: The warnings training gave (too few steps, tiny classes, a model near chance).
        status: Always ``finished``: run.json is written last.
    """

    WHAT: ClassVar[str] = "run.json"
    FIX: ClassVar[str] = "train the run again"

    model: str
    classes: tuple[str, ...]
    bands: tuple[str, ...]
    window: Window
    normalization: BandStats
    sources: tuple[str, ...]
    data: str
    seed: int
    augment: dict
    params: int
    macs: int
    input_shape: tuple[int, ...]
    best_epoch: int | None
    validation: Scores
    n_train: int
    n_val: int
    train_seconds: float
    created: str
    season_offset_days: float = 0.0
    source_season_offsets: dict[str, float] = field(default_factory=dict)
    source_ndvi_curve: tuple[float, ...] | None = None
    epochs: int | None = None
    precision: str | None = None
    distribution: dict = field(default_factory=dict)
    class_weights: dict[str, float] | None = None
    distillation: Distillation | None = None
    budget: Budget | None = None
    warnings: tuple[str, ...] = ()
    status: Literal["finished"] = "finished"

    def __post_init__(self) -> None:
        """Refuse a record whose parts cannot describe one model."""
        if len(self.classes) < 2:
            raise CropEdgeError(f"run.json lists {len(self.classes)} class(es); a model has at least two")
        if len(self.normalization.mean) != len(self.bands):
            raise CropEdgeError(
                f"run.json has {len(self.normalization.mean)} band statistics for {len(self.bands)} bands")
        if self.source_ndvi_curve is not None and len(self.source_ndvi_curve) != YEAR_STEPS:
            raise CropEdgeError(f"run.json source_ndvi_curve has {len(self.source_ndvi_curve)} steps, not {YEAR_STEPS}")


class Run:
    """A finished run folder.

    Args:
        run_dir: The folder ``cropedge train --out`` wrote.

    Raises:
        CropEdgeError: The folder is missing, unfinished or not a run.
    """

    def __init__(self, run_dir: str | Path) -> None:
        """Open ``run_dir`` and read its record; see the class docstring."""
        self.path = Path(run_dir)
        record_path = self.path / RUN_JSON
        if not record_path.is_file():
            hint = " (it holds seed-K runs: pick one)" if seed_dirs(self.path) else ""
            raise CropEdgeError(f"{self.path} is not a finished training run: {RUN_JSON} is missing{hint}")
        try:
            data = json.loads(record_path.read_text())
        except (OSError, ValueError) as exc:
            raise CropEdgeError(f"{record_path} is corrupt ({exc}): train the run again") from exc
        if isinstance(data, dict) and data.get("status") != "finished":
            raise CropEdgeError(f"{self.path} is not finished: run the same train command again to resume it")
        self.record = RunRecord.from_dict(data, str(record_path))

    def __repr__(self) -> str:
        """The run folder and model name."""
        return f"Run({str(self.path)!r}, model={self.record.model!r})"

    @property
    def window(self) -> Window:
        """The model window the run was trained on."""
        return self.record.window

    @property
    def stats(self) -> BandStats:
        """Per-band normalisation statistics of the training split."""
        return self.record.normalization

    @property
    def classes(self) -> tuple[str, ...]:
        """The model's class names, in output order."""
        return self.record.classes

    @property
    def bands(self) -> tuple[str, ...]:
        """The input bands, in order."""
        return self.record.bands

    @property
    def season_offset_days(self) -> float:
        """Days the run moved its (first) source region's year before training."""
        return self.record.season_offset_days

    @property
    def source_ndvi_curve(self) -> tuple[float, ...] | None:
        """Mean NDVI of the training split over the year, for ``auto`` season alignment."""
        return self.record.source_ndvi_curve

    @cached_property
    def config(self) -> TrainConfig:
        """The TrainConfig as saved in config.json (reading it needs no TensorFlow)."""
        from cropedge.training.recipe import TrainConfig

        path = self.path / CONFIG_JSON
        try:
            return TrainConfig.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            raise CropEdgeError(f"{path} is missing: train the run again") from None
        except (OSError, ValueError, TypeError, CropEdgeError) as exc:
            raise CropEdgeError(f"{path} is damaged ({exc}): train the run again") from None

    @property
    def is_sklearn(self) -> bool:
        """Whether the run holds a scikit-learn model and no Keras one."""
        return (self.path / SKLEARN_MODEL).is_file() and not (self.path / KERAS_MODEL).is_file()

    @cached_property
    def model(self) -> Any:
        """The trained model: a tf_keras model, or a scikit-learn estimator (loaded once)."""
        if self.is_sklearn:
            import joblib

            return joblib.load(self.path / SKLEARN_MODEL)
        path = self.path / KERAS_MODEL
        if not path.is_file():
            raise CropEdgeError(f"{self.path} has no {KERAS_MODEL} or {SKLEARN_MODEL}: train the run again")
        from cropedge.backend import keras

        try:
            return keras.models.load_model(path, compile=False)
        except (OSError, ValueError) as exc:
            raise CropEdgeError(f"{path} cannot be loaded ({exc}): train the run again") from exc

    # --- data -----------------------------------------------------------------------

    def source_data(self) -> Dataset:
        """The source regions as loaded at training time (what ``split.npz`` indexes)."""
        from cropedge.data import load_regions

        return load_regions(self.record.data, list(self.record.sources), **self.config.data_options)

    def split(self) -> dict[str, np.ndarray]:
        """The train / validation indices into ``source_data()``, from ``split.npz``."""
        path = self.path / SPLIT_NPZ
        try:
            with np.load(path, allow_pickle=False) as z:
                split = {k: np.asarray(z[k]) for k in ("train_idx", "val_idx")}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise CropEdgeError(f"{path} is missing or damaged ({type(exc).__name__}): train the run again") from None
        if any(v.ndim != 1 or v.dtype.kind not in "iu" for v in split.values()):
            raise CropEdgeError(f"{path} does not hold sample indices: train the run again")
        return split

    def train_data(self) -> Dataset:
        """The training part of the source data."""
        return self._part("train_idx")

    def val_data(self) -> Dataset:
        """The validation part of the source data."""
        return self._part("val_idx")

    def _part(self, name: str) -> Dataset:
        source, idx = self.source_data(), self.split()[name]
        if len(idx) and (idx.min() < 0 or idx.max() >= len(source)):
            raise CropEdgeError(f"{self.path / SPLIT_NPZ} does not match the source data: train the run again")
        return source.subset(idx)

    def check_dataset(self, dataset: Dataset) -> None:
        """Raise ``CropEdgeError`` when ``dataset`` cannot feed this model (bands, time grid)."""
        check_model_input(dataset.x, dataset.bands, self.bands, self.window, dataset.doy)

    def source_offsets(self, dataset: Dataset) -> np.ndarray:
        """Per-sample season offset (days) the run applied to its source regions.

        Samples of other regions get the run's common offset.
        """
        per_region = self.record.source_season_offsets
        out = np.full(len(dataset), self.season_offset_days, dtype=np.float64)
        for region, days in per_region.items():
            out[dataset.region == region] = days
        return out

    def prepare(self, x_year: np.ndarray, season_offset_days: float | None = None) -> np.ndarray:
        """Year-grid reflectance [N, bands, 73] -> model input [N, bands, T, 1].

        ``season_offset_days`` defaults to the run's own (applied to its source data).
        """
        days = self.season_offset_days if season_offset_days is None else season_offset_days
        return prepare_input(x_year, self.window, self.stats, season_offset_days=days)

    def prepare_dataset(self, dataset: Dataset) -> np.ndarray:
        """Model input for a dataset of source regions, each moved by the offset it had in training."""
        return self.prepare(shift_samples(dataset.x, self.source_offsets(dataset)), season_offset_days=0.0)

    def predict_proba(
        self, x_year: np.ndarray, season_offset_days: float | None = None, batch_size: int = 1024
    ) -> np.ndarray:
        """Class probabilities [N, len(classes)] float32 for year-grid reflectance."""
        x = self.prepare(x_year, season_offset_days)
        if self.is_sklearn:
            from cropedge.models.forest import flatten_features

            model = self.model
            probs = np.zeros((len(x), len(self.classes)), dtype=np.float32)
            probs[:, model.classes_] = model.predict_proba(flatten_features(x))
            return probs
        return np.asarray(self.model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float32)


# --- multi-seed folders ------------------------------------------------------------------


def seed_dirs(path: Path) -> list[Path]:
    """Finished-or-not seed runs ``path/seed-K`` in seed order (empty if there are none)."""
    if not path.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in path.iterdir() if p.is_dir() and (m := SEED_DIR.match(p.name))]
    return [p for _, p in sorted(found)]


def run_dirs(path: str | Path) -> list[Path]:
    """The run folders under ``path``: ``[path]`` for a single run, else its ``seed-K`` runs.

    Raises:
        CropEdgeError: ``path`` holds neither.
    """
    path = Path(path)
    if (path / RUN_JSON).is_file():
        return [path]
    seeds = seed_dirs(path)
    if not seeds:
        raise CropEdgeError(f"{path} is not a training run (no {RUN_JSON} and no seed-K folders)")
    return seeds


def mean_std(values: Iterable[float]) -> dict:
    """``{"mean", "std", "values"}``: population std (0 for one value), as seed tables report it."""
    v = np.asarray([float(x) for x in values], dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std()), "values": v.tolist()}


def summarise_validation(dirs: list[Path]) -> dict:
    """summary.json of a multi-seed run: validation OA, macro-F1, weighted F1 as mean ± std."""
    records = [Run(d).record for d in dirs]
    return {
        "model": records[0].model,
        "sources": list(records[0].sources),
        "seeds": [r.seed for r in records],
        "runs": [d.name for d in dirs],
        "best_epochs": [r.best_epoch for r in records],
        "validation": {k: mean_std(getattr(r.validation, k) for r in records) for k in VAL_METRICS},
    }
