"""Training recipes: one TOML file per transfer setting under ``training/``.

A recipe names the data, the source regions, the seeds, the training settings (any
``TrainConfig`` field) and the targets with their season alignment and crop sets::

    data = "data/cropglobe"           # relative paths: from the project root (above training/)
    sources = ["FRA"]
    seeds = [0, 1, 2]

    [train]                           # TrainConfig fields; left out: chosen from the data
    model = "cropnet"
    protocol = "auto"                 # or "reference": the CropNet paper's settings

    [sweep]                           # cropedge train --sweep: the grid (default: around the budget)
    lr = [3e-4, 1e-3, 3e-3]
    batch_size = [16, 32, 64]
    window = ["data", [121, 334]]     # "data": the span the data cover

    [eval]
    map_unknown_to_other = false
    season_offset = 0                 # default for every target: days, or "auto"

    [targets.BEL]                     # regions default to [name]
    [targets.north]
    regions = ["30UYU", "30UYV"]
    season_offset = "auto"
    crops = ["maize", "wheat"]        # the target's crop set for map_unknown_to_other

Unknown keys and wrong types raise ``CropEdgeError`` naming the file and the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from cropedge.data.align import parse_offset
from cropedge.data.load import OPTIONS as DATA_OPTIONS
from cropedge.errors import CropEdgeError
from cropedge.models import list_models, model_spec
from cropedge.record import Record
from cropedge.training.budget import PROTOCOLS
from cropedge.training.run import DistillSettings
from cropedge.training.sweep import SweepGrid

# recipe keys -> accepted types (bool is checked apart from int: TOML keeps them distinct);
# [train] is checked against TrainConfig's own field types (data, sources and seed come from the top)
_TOP = {"description": str, "data": str, "sources": list, "seeds": list, "train": dict, "eval": dict,
        "targets": dict, "sweep": dict}
_EVAL = {"map_unknown_to_other": bool, "season_offset": (int, float, str)}
_TARGET = {"regions": list, "season_offset": (int, float, str), "crops": list}
_SWEEP = {"lr": list, "batch_size": list, "window": list}
_NOT_IN_TRAIN = ("data", "sources", "seed")
# reader options -> the JSON values they take (kinds, list items, in words); options not listed take any
_NAME_OR_INDEX = ((str, int), (), "a column name or index")
_DATA_OPTIONS: dict[str, tuple[tuple[type, ...], tuple[type, ...], str]] = {
    "layout": ((str,), (), "a layout name"),
    "bands": ((str, list), (str,), "a band name or a list of them"),
    "label_col": _NAME_OR_INDEX, "id_col": _NAME_OR_INDEX, "region_col": _NAME_OR_INDEX,
    "classes": ((list,), (str,), "a list of class names"),
    "nodata": ((int, float, list), (int, float), "a number or a list of numbers"),
    "year": ((int,), (), "a whole number"),
    "legend": ((str,), (), "a legend name"),
    "legend_file": ((str,), (), "a file path"),
    "groups": ((dict,), (), "a table of lists of region names"),
}
SEED_MAX = 2**32 - 1


@dataclass(frozen=True)
class TrainConfig(Record):
    """Everything that decides what a training run produces (saved as config.json).

    Settings left as None are chosen by the ``protocol`` from the training data
    (``cropedge.training.budget``): the batch size, learning rate, epochs, patience and window.

    Attributes:
        data: A data file or a folder of CropGlobe ``.npz`` files (``cropedge.data.load_dataset``).
        sources: Source regions to train on (file stems such as ``FRA``, or tile names).
        model: A name from ``cropedge.models.list_models()``.
        model_options: Extra keyword arguments for the model builder (e.g. ``{"width": 16}``).
        protocol: ``auto`` (budget sized to the training set) or ``reference`` (the CropNet
            paper's: Adam 1e-4, batch 256, 50 epochs, window day 121..334, no early stopping).
        epochs: Most passes over the training split (None: the protocol's; ignored by sklearn models).
        batch_size: Global batch size (split over replicas when distributed; None: the protocol's).
        lr: Adam peak learning rate (None: the protocol's).
        patience: Epochs without a better validation macro-F1 before stopping early; 0 never stops
            (None: the protocol's).
        seed: Seed for the split, initialisation, shuffling and augmentation.
        val_fraction: Share of each source class held out for validation.
        augment: Apply time / magnitude augmentations during training.
        augment_options: Overrides of ``cropedge.training.augment.AugmentConfig`` fields.
        window: Model window, first and last day-of-year (None: the protocol's, see
            ``budget.choose_window``).
        season_offset_days: Days the source year is moved before training (usually 0), or
            ``"auto"`` to align every source region with the first one.
        class_weights: Weight the loss by inverse class frequency of the training split.
        mixed_precision: Train under mixed_float16 (GPU) / mixed_bfloat16 (CPU); the saved model is float32.
        deterministic: Use only deterministic op implementations (TensorFlow op determinism),
            so a seed gives the same weights on GPU too; slower there, no effect on CPU results.
        data_options: Extra keyword arguments for the data reader.
        teacher: A finished Keras run to distil from (``cropedge.training.distill``): the run
            trains on the teacher's split and learns from its softened predictions too.
        distill: ``DistillSettings`` fields (``alpha``, ``temperature``, ``qat``) of a run with a teacher.
    """

    VERSION_KEY: ClassVar[str | None] = None
    WHAT: ClassVar[str] = "training config"
    FIX: ClassVar[str] = "correct that setting"

    data: str
    sources: tuple[str, ...]
    model: str = "cropnet"
    model_options: dict = field(default_factory=dict)
    protocol: Literal["auto", "reference"] = "auto"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    patience: int | None = None
    seed: int = 0
    val_fraction: float = 0.2
    augment: bool = True
    augment_options: dict = field(default_factory=dict)
    window: tuple[int, ...] | None = None
    season_offset_days: float | str = 0.0
    class_weights: bool = True
    mixed_precision: bool = False
    deterministic: bool = False
    data_options: dict = field(default_factory=dict)
    teacher: str | None = None
    distill: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Normalise sources, window and season offset after construction."""
        # lists from JSON / TOML become tuples so that equal configs compare equal
        object.__setattr__(self, "sources", tuple(str(s) for s in self.sources))
        if self.window is not None:
            object.__setattr__(self, "window", tuple(self.window))
        object.__setattr__(self, "season_offset_days", parse_offset(self.season_offset_days) or 0.0)

    def validate(self) -> None:
        """Raise ``CropEdgeError`` for settings no run can use."""
        problems = []
        if not self.sources:
            problems.append("name at least one source region")
        if self.model not in list_models():
            problems.append(f"unknown model {self.model!r} (choose from {', '.join(list_models())})")
        if self.protocol not in PROTOCOLS:
            problems.append(f"unknown protocol {self.protocol!r} (choose from {', '.join(PROTOCOLS)})")
        if any(v is not None and v < 1 for v in (self.epochs, self.batch_size)):
            problems.append("epochs and batch size must be >= 1")
        if self.lr is not None and not self.lr > 0:
            problems.append("learning rate must be > 0")
        if self.patience is not None and self.patience < 0:
            problems.append("patience must be >= 0 (0: no early stopping)")
        if not 0 <= self.seed <= SEED_MAX:
            problems.append(f"seed {self.seed} must be within 0..{SEED_MAX}")
        if not 0 < self.val_fraction < 1:
            problems.append("validation fraction must be between 0 and 1")
        problems += _data_option_problems(self.data_options)
        if self.distill and self.teacher is None:
            problems.append("distill settings need a teacher run")
        elif self.teacher is not None:
            problems += _student_problems(self.model, self.distill)
        days = self.window
        if days is not None and not (len(days) == 2 and all(map(_is_int, days)) and 1 <= days[0] < days[1] <= 365):
            problems.append(f"window {list(self.window)} must be two days of year, first < last, within 1..365")
        if problems:
            raise CropEdgeError("; ".join(problems))

    @classmethod
    def from_dict(cls, data: Any, origin: str = "training config") -> Self:
        """Build from a dict of settings, each checked against its type; unknown keys raise ``CropEdgeError``."""
        if isinstance(data, dict):
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(data) - known)
            if unknown:
                raise CropEdgeError(
                    f"{origin}: unknown training setting(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})"
                )
        return super().from_dict(data, origin)


def _student_problems(model: str, distill: dict) -> list[str]:
    """What keeps ``model`` from learning from a teacher with these distillation settings."""
    try:
        settings = DistillSettings.from_dict(distill, "distill")
    except CropEdgeError as exc:
        return [str(exc)]
    if model not in list_models():
        return []  # said above
    spec = model_spec(model)
    if spec.kind != "keras":
        return [f"a student must be a Keras model with logits; {model} is a {spec.kind} model"]
    if settings.qat and not spec.quantizable:
        return [f"{model} cannot train quantization-aware (TFMOT does not quantize it): drop qat"]
    return []


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _data_option_problems(options: dict) -> list[str]:
    """What is wrong with reader options: unknown names, or values of a type the option never takes."""
    unknown = sorted(set(options) - set(DATA_OPTIONS) - {"groups"})
    if unknown:
        return [f"unknown data option(s) {', '.join(unknown)} (known: groups, {', '.join(DATA_OPTIONS)})"]
    problems = []
    for key, value in options.items():
        kinds, inner, expected = _DATA_OPTIONS.get(key, ((object,), (object,), ""))
        ok = isinstance(value, kinds) and not isinstance(value, bool)
        if ok and isinstance(value, list):
            ok = all(isinstance(v, inner) and not isinstance(v, bool) for v in value)
        if ok and isinstance(value, dict):  # groups: name -> regions
            ok = all(isinstance(v, list) and v and all(isinstance(r, str) for r in v) for v in value.values())
        if not ok:
            problems.append(f"data option {key} = {value!r} must be {expected}")
    return problems


@dataclass(frozen=True)
class Target:
    """A named evaluation target: one or more regions of the data."""

    name: str
    regions: tuple[str, ...]
    season_offset: float | str | None = None
    crops: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe: the training config (seed = first seed), seeds and targets."""

    path: Path
    description: str
    config: TrainConfig
    seeds: tuple[int, ...]
    targets: tuple[Target, ...]
    map_unknown_to_other: bool = False
    sweep: SweepGrid | None = None


def load_recipe(path: str | Path) -> Recipe:
    """Read and check a recipe file.

    Raises:
        CropEdgeError: The file is missing, not TOML, or has unknown keys or wrong types.
    """
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CropEdgeError(f"cannot read recipe {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CropEdgeError(f"recipe {path} is not valid TOML: {exc}") from exc
    _check(doc, _TOP, path, "")
    for key in ("data", "sources"):
        if key not in doc:
            raise CropEdgeError(f"recipe {path}: missing {key!r}")
    train = doc.get("train", {})
    settable = {f.name for f in fields(TrainConfig)} - set(_NOT_IN_TRAIN)
    for key in train:
        if key not in settable:
            raise CropEdgeError(f"recipe {path}: unknown key 'train.{key}' (known here: {', '.join(sorted(settable))})")
    evaluation = doc.get("eval", {})
    _check(evaluation, _EVAL, path, "eval.")
    seeds = tuple(doc.get("seeds", [0]))
    integers = all(_is_int(s) and 0 <= s <= SEED_MAX for s in seeds)
    if not seeds or not integers or len(set(seeds)) != len(seeds):
        raise CropEdgeError(f"recipe {path}: 'seeds' must be a list of distinct integers within 0..{SEED_MAX}")

    settings = {"data": str(resolve_data_path(doc["data"], path)), "sources": _strings(doc["sources"], path, "sources"),
                "seed": seeds[0], **train}
    config = TrainConfig.from_dict(settings, f"recipe {path}")
    try:
        config.validate()
    except CropEdgeError as exc:
        raise CropEdgeError(f"recipe {path}: {exc}") from None
    default_offset = parse_offset(evaluation.get("season_offset"))
    targets = tuple(_target(name, t, path, default_offset) for name, t in doc.get("targets", {}).items())
    return Recipe(
        path=path,
        description=doc.get("description", ""),
        config=config,
        seeds=seeds,
        targets=targets,
        map_unknown_to_other=evaluation.get("map_unknown_to_other", False),
        sweep=_sweep(doc["sweep"], path) if "sweep" in doc else None,
    )


def resolve_data_path(data: str, recipe_path: Path) -> Path:
    """Relative data paths in a recipe count from the project root, the folder above ``training/``."""
    p = Path(data).expanduser()
    return p if p.is_absolute() else (recipe_path.resolve().parent.parent / p).resolve()


def _target(name: str, table: Any, path: Path, default_offset: float | str | None) -> Target:
    if not isinstance(table, dict):
        raise CropEdgeError(f"recipe {path}: [targets.{name}] must be a table")
    _check(table, _TARGET, path, f"targets.{name}.")
    crops = table.get("crops")
    return Target(
        name=name,
        regions=tuple(_strings(table.get("regions", [name]), path, f"targets.{name}.regions")),
        season_offset=parse_offset(table["season_offset"]) if "season_offset" in table else default_offset,
        crops=tuple(_strings(crops, path, f"targets.{name}.crops")) if crops is not None else None,
    )


def _sweep(table: dict, path: Path) -> SweepGrid:
    """The [sweep] table: lists of learning rates, batch sizes and windows ([first, last] or "data")."""
    _check(table, _SWEEP, path, "sweep.")
    lr, batch, window = (table.get(k) for k in ("lr", "batch_size", "window"))
    numbers = lr and all(not isinstance(v, bool) and isinstance(v, int | float) and v > 0 for v in lr)
    if lr is not None and not numbers:
        raise CropEdgeError(f"recipe {path}: 'sweep.lr' must be a non-empty list of positive numbers")
    if batch is not None and not (batch and all(_is_int(v) and v >= 1 for v in batch)):
        raise CropEdgeError(f"recipe {path}: 'sweep.batch_size' must be a non-empty list of whole numbers >= 1")
    windows: list[tuple[int, int] | None] = []
    for w in window or []:
        if w == "data":
            windows.append(None)
        elif isinstance(w, list) and len(w) == 2 and all(_is_int(d) for d in w) and 1 <= w[0] < w[1] <= 365:
            windows.append((w[0], w[1]))
        else:
            raise CropEdgeError(
                f"recipe {path}: 'sweep.window' entries must be [first, last] days of year or \"data\", got {w!r}"
            )
    if window is not None and not windows:
        raise CropEdgeError(f"recipe {path}: 'sweep.window' must list at least one window")
    return SweepGrid(
        lr=tuple(float(v) for v in lr) if lr else None,
        batch_size=tuple(batch) if batch else None,
        window=tuple(windows) if window else None,
    )


def _check(table: dict, spec: dict[str, Any], path: Path, prefix: str) -> None:
    for key, value in table.items():
        if key not in spec:
            raise CropEdgeError(
                f"recipe {path}: unknown key '{prefix}{key}' (known here: {', '.join(sorted(spec))})"
            )
        types = spec[key] if isinstance(spec[key], tuple) else (spec[key],)
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            names = " or ".join(t.__name__ for t in types)
            raise CropEdgeError(f"recipe {path}: '{prefix}{key}' must be {names}, got {value!r}")


def _strings(value: Any, path: Path, key: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise CropEdgeError(f"recipe {path}: '{key}' must be a non-empty list of strings")
    return value
