"""``cropedge train --sweep``: learning rate x batch size x window, scored on the validation split.

A small grid of trials, a table of the results, and the best run kept. By default the grid
is centred on the data-sized budget (``cropedge.training.budget``): its learning rate x 1,
/ 3 and x 3, its batch size x 1, / 2 and x 2, and two windows (the one the run would use,
the span of the data unless set, and the reference's day 121..334): 18 trials, each a full
run with the budget the rule gives for its batch size. The trial with the budget's own
values is exactly the run ``cropedge train`` makes without ``--sweep``, so the table shows
how far the defaults are from the best of the grid. A recipe's ``[sweep]`` table replaces
any of the three lists.

Folder (resumable: a killed sweep carries on where it stopped, finished trials are kept)::

    OUT/sweep.json     the grid, one row per trial, the best (``SweepRecord``)
    OUT/trials/NAME/   one run folder per trial; once the sweep is finished the trials that
                       lost keep only run.json, config.json and history.csv
    OUT/best/          the winning trial's run folder (eval, export and bench take it as it is)

Picking by validation macro-F1 makes the winner's validation score an optimistic estimate:
score it on held-out targets (``cropedge eval OUT/best``) before trusting it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from cropedge.atomic import write_json
from cropedge.data.grid import Window
from cropedge.errors import CropEdgeError
from cropedge.record import Record
from cropedge.training.budget import REFERENCE_WINDOW, Budget

if TYPE_CHECKING:
    from cropedge.training.recipe import TrainConfig

SWEEP_JSON = "sweep.json"
TRIALS_DIR = "trials"
BEST_DIR = "best"
KEEP = ("run.json", "config.json", "history.csv")  # what a losing trial keeps


@dataclass(frozen=True)
class SweepGrid:
    """The values a sweep tries; None: centred on the run's budget (see the module docstring).

    Attributes:
        lr: Adam peak learning rates.
        batch_size: Batch sizes.
        window: Windows as (first, last) day of year; a None entry is the span the data cover.
    """

    lr: tuple[float, ...] | None = None
    batch_size: tuple[int, ...] | None = None
    window: tuple[tuple[int, int] | None, ...] | None = None


@dataclass(frozen=True)
class SweepTrial(Record):
    """One trial of a sweep: its settings and how its kept epoch scored on the validation split."""

    VERSION_KEY: ClassVar[str | None] = None
    WHAT: ClassVar[str] = "sweep trial"

    name: str
    lr: float
    batch_size: int
    window: Window
    default: bool
    epochs: int
    planned_epochs: int
    best_epoch: int
    steps: int
    val_oa: float
    val_macro_f1: float
    train_seconds: float


@dataclass(frozen=True)
class SweepRecord(Record):
    """sweep.json: the base settings, the trials so far and, once finished, the best."""

    WHAT: ClassVar[str] = "sweep.json"
    FIX: ClassVar[str] = "delete the sweep folder and run the sweep again"

    config: dict
    grid: dict
    trials: tuple[SweepTrial, ...]
    n_val: int
    best: str | None = None
    status: Literal["running", "finished"] = "running"

    def best_trial(self) -> SweepTrial | None:
        """The winning trial (None until the sweep is finished)."""
        return next((t for t in self.trials if t.name == self.best), None)


def plan_trials(config: TrainConfig, grid: SweepGrid, budget: Budget, window: Window) -> list[tuple[str, TrainConfig]]:
    """(name, config) of every trial, the budget's own values first.

    A trial leaves a setting unset (None) where its value is the one the protocol chose, so
    the trial with all of the budget's values is the run the config alone makes.
    """
    lrs = grid.lr or _around(budget.lr, (1.0, 1 / 3, 3.0))
    batches = grid.batch_size or tuple(dict.fromkeys(
        (budget.batch_size, max(1, budget.batch_size // 2), budget.batch_size * 2)))
    run_window = (window.start_doy, window.end_doy)
    windows = grid.window or tuple(dict.fromkeys((run_window, REFERENCE_WINDOW)))
    trials = []
    for w in windows:
        for batch in batches:
            for lr in lrs:
                changes: dict[str, Any] = {}
                if not (lr == budget.lr and "lr" in budget.chosen):
                    changes["lr"] = lr
                if not (batch == budget.batch_size and "batch_size" in budget.chosen):
                    changes["batch_size"] = batch
                if w is not None and not (w == run_window and config.window is None):
                    changes["window"] = tuple(w)
                shown = run_window if w is None else w
                trials.append((f"lr{lr:.0e}-b{batch}-w{shown[0]}-{shown[1]}", replace(config, **changes)))
    return trials


def _around(value: float, factors: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(dict.fromkeys(float(f"{value * f:.1g}") for f in factors))


def run_sweep(
    config: TrainConfig,
    grid: SweepGrid,
    out_dir: str | Path,
    *,
    verbose: int = 1,
    strategy: Any = None,
    warn: Callable[[str], None] | None = None,
    prune: bool = True,
) -> SweepRecord:
    """Train every trial of ``grid`` into ``out_dir/trials/``, keep the best in ``out_dir/best/``.

    Args:
        config: The base settings (seed, data, model, ...); the grid overrides lr, batch, window.
        grid: The values to try.
        out_dir: Sweep folder; a sweep with the same settings there is resumed or, when
            finished, returned as it is.
        verbose: Passed to each trial's ``train_run`` (1: its budget and summary lines).
        strategy: A ``tf.distribute`` strategy shared by the trials.
        warn: Receives the trials' warnings.
        prune: Strip the losing trials to their records once the sweep is finished (off: keep
            every trial's model, to score them all on targets).

    Raises:
        CropEdgeError: The model has no learning rate or batch (forests), or the folder holds
            something else.
    """
    from cropedge.training.train import model_spec, plan_run, train_run

    config.validate()
    if model_spec(config.model).kind != "keras":
        raise CropEdgeError(f"--sweep tunes learning rate, batch size and window of Keras models; {config.model} has "
                            "no learning rate or batch: train it once without --sweep")
    out = Path(out_dir)
    base = {"config": config.to_dict(), "grid": _grid_dict(grid)}
    previous = _read(out)
    if previous is not None and {"config": previous.config, "grid": previous.grid} != json.loads(json.dumps(base)):
        raise CropEdgeError(f"{out} holds a sweep with other settings: choose another --out, or delete it to restart")
    if previous is None and out.exists() and any(out.iterdir()):
        raise CropEdgeError(f"{out} exists and is not a sweep folder: choose another --out")
    if previous is not None and previous.status == "finished":
        _keep_best(out, previous, prune)
        return previous

    budget, window, n_val = plan_run(config)
    assert budget is not None  # a Keras model
    trials = plan_trials(config, grid, budget, window)
    rows: list[SweepTrial] = []
    for i, (name, trial) in enumerate(trials, 1):
        if verbose:
            print(f"sweep trial {i}/{len(trials)}: {name}", flush=True)
        run_dir = train_run(trial, out / TRIALS_DIR / name, verbose=verbose, strategy=strategy, warn=warn)
        rows.append(_trial_row(name, run_dir, default=trial == config))
        write_json(out / SWEEP_JSON, SweepRecord(**base, trials=tuple(rows), n_val=n_val).to_dict())
    best = max(rows, key=lambda t: (t.val_macro_f1, t.val_oa, -rows.index(t)))
    record = SweepRecord(**base, trials=tuple(rows), n_val=n_val, best=best.name, status="finished")
    write_json(out / SWEEP_JSON, record.to_dict())
    _keep_best(out, record, prune)
    return record


def _trial_row(name: str, run_dir: Path, default: bool) -> SweepTrial:
    from cropedge.training.run import Run

    record = Run(run_dir).record
    budget = record.budget
    assert budget is not None and record.best_epoch is not None and record.epochs is not None
    return SweepTrial(
        name=name, lr=budget.lr, batch_size=budget.batch_size, window=record.window, default=default,
        epochs=record.epochs, planned_epochs=budget.epochs, best_epoch=record.best_epoch,
        steps=record.epochs * budget.steps_per_epoch, val_oa=record.validation.oa,
        val_macro_f1=record.validation.macro_f1, train_seconds=record.train_seconds,
    )


def _grid_dict(grid: SweepGrid) -> dict:
    return {"lr": grid.lr, "batch_size": grid.batch_size,
            "window": None if grid.window is None else [None if w is None else list(w) for w in grid.window]}


def _read(out: Path) -> SweepRecord | None:
    path = out / SWEEP_JSON
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CropEdgeError(f"{path} is damaged ({exc}): delete {out} and run the sweep again") from None
    return SweepRecord.from_dict(data, str(path))


def _keep_best(out: Path, record: SweepRecord, prune: bool = True) -> None:
    """Move the winner to ``out/best`` and strip the other trials to their records (idempotent)."""
    trials = out / TRIALS_DIR
    winner = trials / str(record.best)
    if winner.is_dir() and not (out / BEST_DIR).exists():
        winner.rename(out / BEST_DIR)
    for trial in record.trials if prune else ():
        folder = trials / trial.name
        if trial.name == record.best or not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.name not in KEEP:
                shutil.rmtree(path) if path.is_dir() else path.unlink()


def sweep_table(record: SweepRecord, out: str | Path) -> str:
    """The trials, best first: settings, epochs, validation OA and macro-F1, minutes."""
    lines = [f"sweep: {len(record.trials)} trials scored on the validation split ({record.n_val} samples), best first",
             f"{'lr':>7}  {'batch':>5}  {'window':<11}  {'epochs':>9}  {'best':>4}  {'val OA':>6}  {'macro-F1':>8}  "
             f"{'min':>5}"]
    for t in sorted(record.trials, key=lambda t: (-t.val_macro_f1, -t.val_oa)):
        notes = [n for n, on in (("best", t.name == record.best), ("default", t.default)) if on]
        window = f"{t.window.start_doy}..{t.window.end_doy}"
        lines.append(f"{t.lr:>7.0e}  {t.batch_size:>5}  {window:<11}  {t.epochs:>4}/{t.planned_epochs:<4}  "
                     f"{t.best_epoch:>4}  {t.val_oa:>6.3f}  {t.val_macro_f1:>8.3f}  {t.train_seconds / 60:>5.1f}  "
                     f"{', '.join(notes)}".rstrip())
    if record.best is not None:
        lines.append(f"best run kept in {Path(out) / BEST_DIR}")
    return "\n".join(lines)
