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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cropedge.align import parse_offset
from cropedge.errors import CropEdgeError
from cropedge.train import TrainConfig

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
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds) or len(set(seeds)) != len(seeds):
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
