"""The rows of a benchmark grid: one typed ``GridRow`` per cell file, and the tables built from them.

``cropedge bench`` writes ``GRID/cells/<key>.json`` (one ``GridRow`` each, atomically) and
rebuilds ``results.json`` / ``results.csv`` from them; ``cropedge report`` reads them back
through ``read_rows``, which checks every field, so a damaged cell is one clear error.
Reading a grid needs neither TensorFlow nor the recipes.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from cropedge.atomic import write_json, write_text
from cropedge.device.latency import LatencyStats
from cropedge.errors import CropEdgeError
from cropedge.record import Record

KERAS = "keras"  # the float Keras model: the reference row of every job
SOURCE_SETTING = "source"  # in-domain rows: the held-out validation split of the source
OK, CHECK_FAILED, FAILED = "ok", "check_failed", "failed"
# how a status reads in tables and console lines: plain words (a glyph needs an emoji font to show)
STATUS_TEXT = {OK: "ok", CHECK_FAILED: "check failed", FAILED: "failed"}
Status = Literal["ok", "check_failed", "failed"]

# results.csv columns, in order; per-class F1 (f1_<class>) and latency (lat_b<B>_t<T>_...) follow
ROW_FIELDS = (
    "key", "status", "reason",
    "setting", "source", "target", "model", "precision", "seed", "augment", "aligned", "season_offset_days",
    "n", "oa", "macro_f1", "weighted_f1", "val_agreement",
    "size_bytes", "params", "macs",
    "runtime", "runtime_version", "tensorflow", "cpu_model", "cpu_flags", "cores",
    "train_seconds", "job", "bundle", "created",
)
LATENCY_STATS = ("median_ms", "p95_ms", "mean_ms", "p5_ms")


@dataclass(frozen=True)
class Cell:
    """One result row's identity."""

    setting: str
    target: str
    model: str
    precision: str
    seed: int
    augment: bool
    aligned: bool = False

    @property
    def key(self) -> str:
        """The cell's unique name: its fields joined by ``__`` (the cell file's stem)."""
        aug = "aug" if self.augment else "noaug"
        aligned = "aligned" if self.aligned else "raw"
        return "__".join((self.setting, self.target, self.model, self.precision, f"s{self.seed}", aug, aligned))

    def identity(self) -> dict:
        """The key and every field, as the identifying columns of a result row."""
        return {"key": self.key, **asdict(self)}


@dataclass(frozen=True)
class GridRow(Record):
    """One cell of the grid: what was scored, how well, how fast, on what machine.

    Scores are None on a failed row (and where a target had no scorable sample).
    ``season_alignment``, ``unseen_classes`` and ``map_unknown_to_other`` are as
    ``cropedge.training.evaluate.evaluate_run`` reports them.
    """

    WHAT: ClassVar[str] = "grid cell"
    FIX: ClassVar[str] = "delete it and run 'cropedge bench' again"

    key: str
    status: Status
    setting: str
    target: str
    model: str
    precision: str
    seed: int
    augment: bool
    aligned: bool = False
    reason: str = ""
    source: str = ""
    job: str = ""
    created: str = ""
    n: int | None = None
    oa: float | None = None
    macro_f1: float | None = None
    weighted_f1: float | None = None
    per_class_f1: dict[str, float | None] | None = None
    support: dict[str, int] | None = None
    confusion: tuple[tuple[int, ...], ...] | None = None
    classes: tuple[str, ...] | None = None
    unseen_classes: dict | None = None
    map_unknown_to_other: dict | None = None
    season_offset_days: float | None = None
    season_alignment: dict | None = None
    val_agreement: float | None = None
    size_bytes: int | None = None
    params: int | None = None
    macs: int | None = None
    train_seconds: float | None = None
    runtime: str | None = None
    runtime_version: str | None = None
    tensorflow: str | None = None
    cpu_model: str | None = None
    machine: str | None = None
    cpu_flags: str | None = None
    cores: int | None = None
    bundle: str | None = None
    latency: tuple[LatencyStats, ...] = ()
    traceback: str | None = None

    def __post_init__(self) -> None:
        """A row's key must be the key of its own identity (the file name says what it holds)."""
        if self.key != self.cell.key:
            raise CropEdgeError(f"grid cell key {self.key!r} does not match its fields ({self.cell.key!r})")

    @property
    def cell(self) -> Cell:
        """The identity of this row."""
        return Cell(self.setting, self.target, self.model, self.precision, self.seed, self.augment, self.aligned)

    @property
    def scored(self) -> bool:
        """Ran (a failed check still scores) and has a macro-F1."""
        return self.status in (OK, CHECK_FAILED) and self.macro_f1 is not None

    @classmethod
    def build(cls, fields_: dict[str, Any], origin: str) -> GridRow:
        """A row from what a grid run gathered; non-finite scores (an empty target) become None."""
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in fields_.items()}
        return cls.from_dict(json.loads(json.dumps(clean, default=_plain)), origin)


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


def cell_path(grid: Path, cell: Cell) -> Path:
    """Where the grid keeps the row of ``cell``."""
    return grid / "cells" / f"{cell.key}.json"


def write_cell(grid: Path, row: GridRow) -> None:
    """Write one row to its cell file, atomically."""
    write_json(cell_path(grid, row.cell), row.to_dict())


def load_cell(grid: Path, cell: Cell) -> GridRow | None:
    """The row a cell holds, or None when it holds none that this cropedge can read (it is redone)."""
    path = cell_path(grid, cell)
    try:
        return GridRow.from_dict(json.loads(path.read_text(encoding="utf-8")), str(path))
    except (OSError, ValueError, CropEdgeError):
        return None


def read_rows(grid: str | Path) -> list[GridRow]:
    """All result rows of a grid folder (from cells/, the source of truth), each checked.

    Raises:
        CropEdgeError: the folder is not a grid, or a cell is damaged (named, with what to do).
    """
    grid = Path(grid)
    if not (grid / "cells").is_dir():
        raise CropEdgeError(f"{grid}: no cells/ folder; is it a grid made by 'cropedge bench'?")
    rows = []
    for path in sorted((grid / "cells").glob("*.json")):
        if path.name.startswith("."):
            continue  # the temporary file of a cell whose writer was killed: not a row
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            raise CropEdgeError(f"{path}: not valid JSON; delete it and run 'cropedge bench' again") from None
        rows.append(GridRow.from_dict(data, str(path)))
    return rows


def flat_row(row: GridRow) -> dict:
    """One CSV row: scalars, ``f1_<class>`` per class and ``lat_b<B>_t<T>_<stat>`` / ``pps_b<B>_t<T>``."""
    flat = {k: getattr(row, k) for k in ROW_FIELDS}
    for cls, f1 in (row.per_class_f1 or {}).items():
        flat[f"f1_{cls}"] = f1
    for lat in row.latency:
        tag = f"b{lat.batch}_t{lat.threads}"
        for stat in LATENCY_STATS:
            flat[f"lat_{tag}_{stat}"] = getattr(lat, stat)
        flat[f"pps_{tag}"] = lat.pixels_per_s
    return flat


def write_results(grid: str | Path, rows: list[GridRow] | None = None) -> list[GridRow]:
    """Rebuild ``results.json`` and ``results.csv`` from the cells (atomically)."""
    grid = Path(grid)
    rows = read_rows(grid) if rows is None else rows
    write_json(grid / "results.json", [r.to_dict() for r in rows])
    flats = [flat_row(r) for r in rows]
    columns = list(dict.fromkeys([*ROW_FIELDS, *(k for f in flats for k in f)]))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in f.items()} for f in flats)
    write_text(grid / "results.csv", buf.getvalue())
    return rows


def below_floor(rows: Iterable[GridRow], min_oa: float) -> list[GridRow]:
    """Rows that ran fine (status ok) but whose overall accuracy is under ``min_oa``."""
    return [r for r in rows if r.status == OK and r.oa is not None and r.oa < min_oa]


@dataclass
class GridSummary:
    """What one ``run_grid`` call did (counts of this call) and every row of the grid."""

    jobs: int = 0
    cells: int = 0
    trained: int = 0
    exported: int = 0
    evaluated: int = 0
    skipped: int = 0
    rows: list[GridRow] = field(default_factory=list)

    def counts(self) -> dict:
        """The counts of this call, without the rows."""
        return {k: getattr(self, k) for k in ("jobs", "cells", "trained", "exported", "evaluated", "skipped")}
