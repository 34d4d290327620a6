"""Training recipes: one TOML file per transfer setting under ``training/``.

A recipe names the data, the source regions, the seeds, the training settings (any
``TrainConfig`` field) and the targets with their season alignment and crop sets::

    data = "data/cropglobe"           # relative paths: from the project root (above training/)
    sources = ["FRA"]
    seeds = [0, 1, 2]

    [train]                           # TrainConfig fields
    model = "cropnet"
    epochs = 50

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
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from cropedge.data.align import parse_offset
from cropedge.data.grid import Window
from cropedge.data.load import OPTIONS as DATA_OPTIONS
from cropedge.errors import CropEdgeError
from cropedge.models import list_models

# recipe keys -> accepted types (bool is checked apart from int: TOML keeps them distinct)
_TOP = {"description": str, "data": str, "sources": list, "seeds": list, "train": dict, "eval": dict, "targets": dict}
_EVAL = {"map_unknown_to_other": bool, "season_offset": (int, float, str)}
_TARGET = {"regions": list, "season_offset": (int, float, str), "crops": list}
# TrainConfig fields a recipe sets under [train]; data, sources and seed come from the top level
_TRAIN = {
    "model": str,
    "model_options": dict,
    "epochs": int,
    "batch_size": int,
    "lr": (int, float),
    "val_fraction": (int, float),
    "augment": bool,
    "augment_options": dict,
    "window": list,
    "season_offset_days": (int, float, str),
    "class_weights": bool,
    "mixed_precision": bool,
    "deterministic": bool,
    "data_options": dict,
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run produces (saved as config.json).

    Attributes:
        data: A data file or a folder of CropGlobe ``.npz`` files (``cropedge.data.load_dataset``).
        sources: Source regions to train on (file stems such as ``FRA``, or tile names).
        model: A name from ``cropedge.models.list_models()``.
        model_options: Extra keyword arguments for the model builder (e.g. ``{"filters": 16}``).
        epochs: Training epochs (ignored by sklearn models).
        batch_size: Global batch size (split over replicas when distributed).
        lr: Adam learning rate.
        seed: Seed for the split, initialisation, shuffling and augmentation.
        val_fraction: Share of each source class held out for validation.
        augment: Apply time / magnitude augmentations during training.
        augment_options: Overrides of ``cropedge.training.augment.AugmentConfig`` fields.
        window: Model window, first and last day-of-year.
        season_offset_days: Days the source year is moved before training (usually 0), or
            ``"auto"`` to align every source region with the first one.
        class_weights: Weight the loss by inverse class frequency of the training split.
        mixed_precision: Train under mixed_float16 (GPU) / mixed_bfloat16 (CPU); the saved model is float32.
        deterministic: Use only deterministic op implementations (TensorFlow op determinism),
            so a seed gives the same weights on GPU too; slower there, no effect on CPU results.
        data_options: Extra keyword arguments for the data reader.
    """

    data: str
    sources: tuple[str, ...]
    model: str = "cropnet"
    model_options: dict = field(default_factory=dict)
    epochs: int = 50
    batch_size: int = 256
    lr: float = 1e-4
    seed: int = 0
    val_fraction: float = 0.2
    augment: bool = True
    augment_options: dict = field(default_factory=dict)
    window: tuple[int, int] = (121, 334)
    season_offset_days: float | str = 0.0
    class_weights: bool = True
    mixed_precision: bool = False
    deterministic: bool = False
    data_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Normalise sources, window and season offset after construction."""
        # lists from JSON / TOML become tuples so that equal configs compare equal
        object.__setattr__(self, "sources", tuple(str(s) for s in self.sources))
        object.__setattr__(self, "window", tuple(int(d) for d in self.window))
        object.__setattr__(self, "season_offset_days", parse_offset(self.season_offset_days) or 0.0)

    def validate(self) -> None:
        """Raise ``CropEdgeError`` for settings no run can use."""
        problems = []
        if not self.sources:
            problems.append("name at least one source region")
        if self.model not in list_models():
            problems.append(f"unknown model {self.model!r} (choose from {', '.join(list_models())})")
        if self.epochs < 1 or self.batch_size < 1:
            problems.append("epochs and batch size must be >= 1")
        if not self.lr > 0:
            problems.append("learning rate must be > 0")
        if not 0 < self.val_fraction < 1:
            problems.append("validation fraction must be between 0 and 1")
        unknown = sorted(set(self.data_options) - set(DATA_OPTIONS) - {"groups"})
        if unknown:
            problems.append(f"unknown data option(s) {', '.join(unknown)} (known: groups, {', '.join(DATA_OPTIONS)})")
        if len(self.window) != 2 or not 1 <= self.window[0] < self.window[1] <= 365:
            problems.append(f"window {self.window} must be two days of year, first < last, within 1..365")
        if problems:
            raise CropEdgeError("; ".join(problems))

    @property
    def model_window(self) -> Window:
        """The training window as a ``Window`` (first and last day of year)."""
        return Window(*self.window)

    def to_dict(self) -> dict:
        """All settings as a plain dict (the inverse of ``from_dict``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Build from a dict of settings; unknown keys raise ``CropEdgeError``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise CropEdgeError(
                f"unknown training setting(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        return cls(**d)


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
    _check(train, _TRAIN, path, "train.")
    evaluation = doc.get("eval", {})
    _check(evaluation, _EVAL, path, "eval.")
    seeds = tuple(doc.get("seeds", [0]))
    integers = all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    if not seeds or not integers or len(set(seeds)) != len(seeds):
        raise CropEdgeError(f"recipe {path}: 'seeds' must be a list of distinct integers")

    config = TrainConfig(
        data=str(resolve_data_path(doc["data"], path)),
        sources=tuple(_strings(doc["sources"], path, "sources")),
        seed=seeds[0],
        **train,
    )
    config.validate()
    default_offset = parse_offset(evaluation.get("season_offset"))
    targets = tuple(_target(name, t, path, default_offset) for name, t in doc.get("targets", {}).items())
    return Recipe(
        path=path,
        description=doc.get("description", ""),
        config=config,
        seeds=seeds,
        targets=targets,
        map_unknown_to_other=evaluation.get("map_unknown_to_other", False),
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
