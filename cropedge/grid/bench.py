"""Benchmark grid: accuracy under shift, size and latency of every model x precision x seed.

The unit of work is a **job**: one training run (model, augmentation on/off, seed, training
settings). Settings that train on the same source with the same settings share their jobs,
so a model is trained once and scored on every target of every setting. A job exports its
run at each precision, times each bundle, and fills one **cell** per result row:
(setting, target, model, precision, seed, augment, aligned). Precision ``keras`` is the float
Keras model the bundles are checked against.

Grid folder::

    GRID/grid.json                     what the last call asked for
    GRID/runs/<job>/                   training runs (cropedge.training.train run folders)
    GRID/bundles/<job>/<model>-<precision>/   exported bundles
    GRID/latency/<model>-<precision>.json     latency of that architecture at that precision
    GRID/cells/<cell>.json             one result row each, written atomically
    GRID/results.json, results.csv     every row, rebuilt from cells/ after each call

Every step is resumable: a finished run, bundle, latency file or cell is reused, so a second
call does no work and a killed grid carries on where it stopped. A failure is a row with a
status and a reason, never a crash of the whole grid (tracebacks go into the cell's JSON).
"""

from __future__ import annotations

import hashlib
import json
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cropedge.atomic import write_json
from cropedge.console import Progress
from cropedge.errors import CropEdgeError
from cropedge.grid.rows import (
    CHECK_FAILED,
    FAILED,
    KERAS,
    OK,
    SOURCE_SETTING,
    STATUS_TEXT,
    Cell,
    GridRow,
    GridSummary,
    load_cell,
    write_cell,
    write_results,
)

if TYPE_CHECKING:  # only for annotations: reading a grid (cropedge report) needs no recipes, TensorFlow or runtime
    from cropedge.backend import keras
    from cropedge.data.dataset import Dataset
    from cropedge.device.bundle import BundleMetadata
    from cropedge.device.profile import DeviceProfile
    from cropedge.device.runtime import LiteModel
    from cropedge.training.recipe import Target, TrainConfig
    from cropedge.training.run import Run

# --- what the grid holds --------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One transfer setting (one recipe): train on ``train.sources``, score on each target.

    Attributes:
        name: short name (the recipe's file stem, ``cross_hemisphere``), used in cell keys.
        train: the ``TrainConfig`` every job of this setting starts from.
        targets: the recipe's ``Target`` entries; one with a ``season_offset`` also gets
            season-aligned rows.
        map_unknown_to_other: map predictions outside a target's crop set to ``other``.
        seeds: the recipe's seeds (the default seed axis).
    """

    name: str
    train: TrainConfig
    targets: tuple[Target, ...] = ()
    map_unknown_to_other: bool = False
    seeds: tuple[int, ...] = (0,)

    def target(self, name: str) -> Target:
        """The target called ``name`` (``StopIteration`` when there is none)."""
        return next(t for t in self.targets if t.name == name)


def settings_from_recipes(paths: Iterable[str | Path], data: str | Path | None = None) -> list[Setting]:
    """One ``Setting`` per recipe file; ``data`` replaces the recipes' data path."""
    from cropedge.training.recipe import load_recipe

    settings = []
    for path in paths:
        recipe = load_recipe(path)
        config = recipe.config if data is None else replace(recipe.config, data=str(Path(data).resolve()))
        settings.append(Setting(Path(path).stem, config, recipe.targets, recipe.map_unknown_to_other, recipe.seeds))
    names = [s.name for s in settings]
    if len(set(names)) != len(names):
        raise CropEdgeError(f"recipes with the same file name ({', '.join(names)}): rename one, names label the rows")
    return settings


@dataclass(frozen=True)
class Job:
    """One training run and the cells it fills."""

    name: str
    config: TrainConfig
    cells: tuple[Cell, ...]
    settings: tuple[Setting, ...]

    @property
    def model(self) -> str:
        """The model name the job trains."""
        return self.config.model


# the grid's precision axis when the command names none (``dynamic`` left out: int8 weights
# with float compute are rarely what a device should run)
DEFAULT_PRECISIONS = ("float32", "float16", "int8", "int8-qat")


@dataclass(frozen=True)
class LatencyOptions:
    """How bundles are timed: every batch size with every thread count."""

    batches: tuple[int, ...] = (1, 256)
    threads: tuple[int, ...] = (1, 0)  # 0 = all available cores
    warmup: int = 3
    runs: int = 20
    max_seconds: float = 5.0

    def resolved_threads(self) -> tuple[int, ...]:
        """The distinct thread counts, sorted, with 0 replaced by the available cores."""
        from cropedge.device.latency import available_threads

        return tuple(sorted({t if t > 0 else available_threads() for t in self.threads}))

    def to_dict(self) -> dict:
        """The options with resolved thread counts, as saved with latency results."""
        return {"batches": list(self.batches), "threads": list(self.resolved_threads()), "warmup": self.warmup,
                "runs": self.runs, "max_seconds": self.max_seconds}


def job_name(config: TrainConfig) -> str:
    """``<model>-<aug|noaug>-s<seed>-<hash of the training settings>``: readable and unique."""
    digest = hashlib.sha1(json.dumps(config.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{config.model}-{'aug' if config.augment else 'noaug'}-s{config.seed}-{digest}"


def plan(
    settings: Iterable[Setting],
    models: Iterable[str],
    precisions: Iterable[str],
    seeds: Iterable[int],
    augment: Iterable[bool],
    epochs: int | None = None,
) -> list[Job]:
    """Every job and its cells, sorted by job name (the order shards are dealt from)."""
    settings, precisions = list(settings), [KERAS, *[p for p in precisions if p != KERAS]]
    jobs: dict[str, tuple[TrainConfig, list[Cell], list[Setting]]] = {}
    for s in settings:
        for model in models:
            for seed in seeds:
                for aug in augment:
                    changes = {"model": model, "seed": int(seed), "augment": bool(aug)}
                    if epochs is not None:
                        changes["epochs"] = int(epochs)
                    config = replace(s.train, **changes)
                    name = job_name(config)
                    _, cells, owners = jobs.setdefault(name, (config, [], []))
                    owners.append(s)
                    cells.extend(_setting_cells(s, model, precisions, int(seed), bool(aug)))
    out = []
    for name, (config, cells, owners) in sorted(jobs.items()):
        source = "+".join(config.sources)
        cells += [Cell(SOURCE_SETTING, source, config.model, p, config.seed, config.augment) for p in precisions]
        out.append(Job(name, config, tuple(dict.fromkeys(cells)), tuple(owners)))
    _check_unique(out)
    return out


def _setting_cells(s: Setting, model: str, precisions: list[str], seed: int, aug: bool) -> list[Cell]:
    return [
        Cell(s.name, t.name, model, p, seed, aug, aligned)
        for t in s.targets
        for aligned in ((False, True) if t.season_offset not in (None, 0) else (False,))
        for p in precisions
    ]


def _check_unique(jobs: list[Job]) -> None:
    owner: dict[str, str] = {}
    for job in jobs:
        for cell in job.cells:
            if owner.setdefault(cell.key, job.name) != job.name:
                raise CropEdgeError(
                    f"two training set-ups both fill {cell.key}: give settings with different training "
                    "data or options different names"
                )


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"K/N"`` (1 <= K <= N) -> (K, N); None -> (1, 1)."""
    if text is None:
        return 1, 1
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise CropEdgeError(f"--shard {text!r}: write it as K/N, e.g. 2/4 for the second of four shards") from None
    if not 1 <= k <= n:
        raise CropEdgeError(f"--shard {text}: K must be between 1 and N")
    return k, n


def shard(jobs: list[Job], k: int, n: int) -> list[Job]:
    """Shard ``k`` of ``n``: round-robin over jobs sorted by name.

    Shards differ by at most one job, every cell belongs to exactly one shard, and a job
    (one training run) is never split.
    """
    ordered = sorted(jobs, key=lambda j: j.name)
    return [job for i, job in enumerate(ordered) if i % n == k - 1]


# --- the cell store -------------------------------------------------------------------


def is_done(row: GridRow | None, job: Job, retry_failed: bool) -> bool:
    """A cell is done when it holds this job's result (not a stale one) and is not a failure to retry."""
    return row is not None and row.job == job.name and not (retry_failed and row.status == FAILED)


# --- running the grid -----------------------------------------------------------------


def run_grid(
    settings: list[Setting],
    out: str | Path,
    models: Iterable[str],
    precisions: Iterable[str],
    seeds: Iterable[int],
    augment: Iterable[bool] = (True,),
    epochs: int | None = None,
    export_profile: DeviceProfile | str | Path | None = None,
    latency: LatencyOptions = LatencyOptions(),
    shard_of: tuple[int, int] = (1, 1),
    retry_failed: bool = False,
    progress: bool = True,
) -> GridSummary:
    """Train, export, time and score every cell of this shard that is not done yet.

    Args:
        settings: transfer settings (``settings_from_recipes``).
        out: the grid folder.
        models: the grid's model axis.
        precisions: the grid's precision axis (``keras`` rows are always added).
        seeds: the grid's seed axis.
        augment: the grid's augmentation axis (with and / or without).
        epochs: overrides the recipes' training epochs.
        export_profile: ``DeviceProfile`` for export (calibration samples, QAT epochs,
            self-check threshold); default: generic CPU.
        latency: batch sizes, thread counts, warm-up and runs of the latency measurement.
        shard_of: (K, N): run only shard K of N (``shard``).
        retry_failed: run failed cells again instead of keeping them.
        progress: show a progress bar and one line per step.

    Returns:
        Counts of what this call did, and all rows of the grid folder.
    """
    from cropedge.export.exporter import get_precision
    from cropedge.models import model_spec

    models, seeds, augment = list(models), [int(s) for s in seeds], [bool(a) for a in augment]
    precisions = list(dict.fromkeys(precisions))
    for name in models:  # unknown names are user errors before any work starts, not failed rows
        model_spec(name)
    for p in precisions:
        get_precision(p)
    grid = Path(out)
    jobs = shard(plan(settings, models, precisions, seeds, augment, epochs), *shard_of)
    summary = GridSummary(jobs=len(jobs), cells=sum(len(j.cells) for j in jobs))
    runner = _Runner(grid, latency, export_profile, progress)
    runner.load_regions(settings)  # missing or unreadable data: an error before the grid folder is made
    write_json(grid / "grid.json", {
        "settings": {
            s.name: {"sources": list(s.train.sources), "targets": [t.name for t in s.targets]} for s in settings
        },
        "models": models, "precisions": precisions, "seeds": seeds, "augment": augment,
        "epochs": epochs, "latency": latency.to_dict(), "shard": f"{shard_of[0]}/{shard_of[1]}",
    })
    # the bar counts jobs: training dominates a job's time, so its time left is one of jobs left
    finished = sum(all(is_done(load_cell(grid, c), j, retry_failed) for c in j.cells) for j in jobs)
    with Progress(len(jobs), "job", "bench", enabled=progress, initial=finished) as bar:
        runner.bar = bar
        for job in jobs:
            bar.status(job.name)
            if runner.run_job(job, retry_failed, summary):
                bar.update()
    summary.rows = write_results(grid)
    return summary


class _Runner:
    """Does one job at a time: train (or reuse), export, time, score; writes one cell per row."""

    def __init__(
        self, grid: Path, latency: LatencyOptions, export_profile: DeviceProfile | str | Path | None, progress: bool
    ) -> None:
        from cropedge.device.latency import cpu_info
        from cropedge.device.runtime import resolve_interpreter
        from cropedge.versions import package_versions

        self.grid, self.latency, self.export_profile, self.progress = grid, latency, export_profile, progress
        _, runtime = resolve_interpreter()
        self.env = {**cpu_info(), "runtime": runtime["runtime"], "runtime_version": runtime["version"],
                    "tensorflow": package_versions().get("tensorflow")}
        self.regions: dict[tuple, object] = {}  # (data path, regions) -> Dataset, for the whole call
        self.val = None  # the current job's source validation split
        self.offsets: dict[tuple[str, str], dict] = {}  # the current job's season alignment per (setting, target)
        self.bar = Progress(0, "job", enabled=False)  # run_grid's, while it runs

    def load_regions(self, settings: list[Setting]) -> None:
        """Read every source and target once, up front: missing data is a user error, not a grid of failures."""
        from cropedge.data import load_regions

        for s in settings:
            for regions in (s.train.sources, *(t.regions for t in s.targets)):
                key = (s.train.data, tuple(regions))
                if key not in self.regions:
                    self.regions[key] = load_regions(s.train.data, list(regions), **s.train.data_options)

    def say(self, message: str) -> None:
        self.bar.write(message)

    # -- one job ---------------------------------------------------------------------

    def run_job(self, job: Job, retry_failed: bool, summary: GridSummary) -> bool:
        """Fill the job's cells that are not done; False when there were none."""
        pending = [c for c in job.cells if not is_done(load_cell(self.grid, c), job, retry_failed)]
        summary.skipped += len(job.cells) - len(pending)
        if not pending:
            return False
        self.val, self.offsets = None, {}
        run_dir = self.grid / "runs" / job.name
        try:
            run, trained = self._train(job, run_dir)
            summary.trained += trained
        except Exception as exc:  # noqa: BLE001 - a failed run is a row, the grid goes on
            self._fail(job, pending, f"training failed: {_reason(exc)}", exc)
            return True
        bundles, made = self._bundles(job, run_dir, [c.precision for c in pending if c.precision != KERAS])
        summary.exported += made
        for cell in pending:
            self.bar.status(f"{job.name}: scoring {cell.setting} {cell.target} {cell.precision}")
            self._cell(job, run, cell, bundles.get(cell.precision))
            summary.evaluated += 1
        return True

    def _train(self, job: Job, run_dir: Path) -> tuple[Run, int]:
        from cropedge.training.run import Run

        try:
            return Run(run_dir), 0
        except CropEdgeError:
            pass  # not there or not finished: train (train_run resumes an unfinished run)
        from cropedge.training.train import train_run

        self.say(f"{job.name}: training {job.model} on {'+'.join(job.config.sources)} "
                 f"({'with' if job.config.augment else 'without'} augmentation, seed {job.config.seed}, "
                 f"{job.config.epochs or 'budget-sized'} epochs)")
        train_run(job.config, run_dir, verbose=0, callbacks=[self._epoch_callback(job)])
        run = Run(run_dir)
        self.say(f"{job.name}: trained in {run.record.train_seconds:.0f} s, validation macro-F1 "
                 f"{run.record.validation.macro_f1:.3f}")
        return run, 1

    def _epoch_callback(self, job: Job) -> keras.callbacks.Callback:
        from cropedge.backend import keras

        bar, epochs = self.bar, job.config.epochs

        class _Epochs(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                f1, done = (logs or {}).get("val_macro_f1"), (logs or {}).get("passes", epoch + 1)
                bar.status(f"{job.name}: epoch {done}" + (f"/{epochs}" if epochs else "")
                           + (f" val_macro_f1 {f1:.3f}" if f1 is not None else ""))

        return _Epochs()

    def _bundles(self, job: Job, run_dir: Path, precisions: list[str]) -> tuple[dict, int]:
        """{precision: bundle folder, or the exception that stopped its export}, and how many were exported.

        Finished bundle folders are reused, not exported again.
        """
        from cropedge.device.bundle import load_bundle
        from cropedge.export.exporter import export_run, get_precision

        out = self.grid / "bundles" / job.name
        folders = {p: out / f"{job.model}{get_precision(p).suffix}" for p in dict.fromkeys(precisions)}
        missing = []
        for p, folder in folders.items():
            try:
                load_bundle(folder)
            except CropEdgeError:
                missing.append(p)
        result: dict = dict(folders)
        if not missing:
            return result, 0
        self.say(f"{job.name}: exporting {', '.join(missing)}")
        try:  # one call shares the loaded model and its validation predictions
            export_run(run_dir, missing, out, profile=self.export_profile, quiet=True)
        except Exception:  # noqa: BLE001 - find which precision failed, keep the others
            for p in missing:
                try:
                    export_run(run_dir, [p], out, profile=self.export_profile, quiet=True)
                except Exception as exc:  # noqa: BLE001 - a failed export is a row
                    result[p] = exc
                    self.say(f"{job.name}: {p} export failed: {_reason(exc)}")
        return result, sum(not isinstance(result[p], Exception) for p in missing)

    # -- one cell --------------------------------------------------------------------

    def _cell(self, job: Job, run: Run, cell: Cell, bundle: Path | Exception | None) -> None:
        row = {**cell.identity(), "source": "+".join(job.config.sources), "job": job.name,
               "train_seconds": run.record.train_seconds, "params": run.record.params,
               "macs": run.record.macs, **self.env}
        if isinstance(bundle, Exception):
            self._write(cell, row, FAILED, f"export failed: {_reason(bundle)}", bundle, announce=False)
            return
        try:
            dataset, setting = self._target_data(job, run, cell)
            offset = self._offset(run, cell, setting, dataset)
            if cell.precision == KERAS:  # the run's own float model (an estimator for scikit-learn models)
                from cropedge.training.run import KERAS_MODEL, SKLEARN_MODEL

                model, problems = run, []
                row["size_bytes"] = (run.path / (SKLEARN_MODEL if run.is_sklearn else KERAS_MODEL)).stat().st_size
            else:
                model, problems = self._lite(bundle, row)
            row.update(self._score(model, dataset, setting, cell, offset))
        except Exception as exc:  # noqa: BLE001
            self._write(cell, row, FAILED, f"evaluation failed: {_reason(exc)}", exc)
            return
        self._write(cell, row, CHECK_FAILED if problems else OK, "; ".join(problems))

    def _lite(self, bundle: Path, row: dict) -> tuple[LiteModel, list[str]]:
        """The bundle's LiteModel, its size, export check, latency; problems of its checks."""
        from cropedge.device.runtime import LiteModel

        model = LiteModel(bundle)
        meta = model.metadata
        check = meta.self_check or {}
        problems = []
        if check and not check.get("passed", True):
            problems.append(f"export self-check: agreement with Keras {check['agreement']:.1%} "
                            f"< {check['threshold']:.1%} on the source validation split")
        problems += (meta.mcu or {}).get("problems", [])
        row.update(size_bytes=meta.model_bytes, val_agreement=check.get("agreement"),
                   bundle=str(bundle.relative_to(self.grid)), latency=self._latency(bundle, meta))
        return model, problems

    def _latency(self, bundle: Path, meta: BundleMetadata) -> list[dict]:
        """Latency of this model at this precision, measured once per grid (weights do not change it)."""
        from cropedge.device.latency import measure_bundle

        path = self.grid / "latency" / f"{meta.model}-{meta.precision}.json"
        options = self.latency.to_dict()
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved["options"] == options:
                return saved["stats"]
        except (OSError, ValueError, KeyError):
            pass
        self.say(f"timing {meta.model}-{meta.precision}")
        stats = [
            measure_bundle(bundle, b, t, self.latency.warmup, self.latency.runs, self.latency.max_seconds).to_dict()
            for b in self.latency.batches for t in options["threads"]
        ]
        write_json(path, {"options": options, "bundle": str(bundle), "env": self.env, "stats": stats})
        return stats

    def _target_data(self, job: Job, run: Run, cell: Cell) -> tuple[Dataset, Setting | None]:
        """The cell's samples and its setting (None for source rows)."""
        if cell.setting == SOURCE_SETTING:
            if self.val is None:
                self.val = run.val_data()
            return self.val, None
        setting = next(s for s in job.settings if s.name == cell.setting)
        return self.regions[(job.config.data, tuple(setting.target(cell.target).regions))], setting

    def _offset(self, run: Run, cell: Cell, setting: Setting | None, dataset: Dataset) -> dict | None:
        """Season alignment of an aligned cell, resolved once per run and target.

        ``auto`` is estimated from the target's unlabelled series; resolving once moves every
        precision alike.
        """
        if not cell.aligned:
            return None
        from cropedge.data.align import resolve_offset

        key = (cell.setting, cell.target)
        if key not in self.offsets:
            spec = setting.target(cell.target).season_offset
            self.offsets[key] = resolve_offset(spec, dataset.x, dataset.bands, run.source_ndvi_curve)
        return self.offsets[key]

    def _score(
        self, model: Run | LiteModel, dataset: Dataset, setting: Setting | None, cell: Cell, offset: dict | None
    ) -> dict:
        from cropedge.training.evaluate import evaluate_run

        if setting is None:
            result = evaluate_run(model, dataset)
        else:
            result = evaluate_run(model, dataset, setting.map_unknown_to_other, setting.target(cell.target).crops,
                                  season_offset=offset["days"] if offset else None)
        keep = ("n", "oa", "macro_f1", "weighted_f1", "per_class_f1", "support", "confusion", "classes",
                "unseen_classes", "map_unknown_to_other")
        return {**{k: result[k] for k in keep if k in result},
                "season_offset_days": result["season_alignment"]["days"],
                "season_alignment": offset or result["season_alignment"]}

    def _write(self, cell: Cell, row: dict, status: str, reason: str, exc: BaseException | None = None,
               announce: bool = True) -> None:
        row.update(status=status, reason=reason,
                   created=datetime.now(UTC).isoformat(timespec="seconds"))
        if exc is not None:
            row["traceback"] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            if announce:
                self.say(f"{row['key']}: {STATUS_TEXT[status]}: {reason}")
        write_cell(self.grid, GridRow.build(row, cell.key))
        scores = f", OA {row['oa']:.3f} macro-F1 {row['macro_f1']:.3f}" if row.get("oa") is not None else ""
        self.bar.plain(f"  {cell.key.replace('__', ' ')}: {status.replace('_', ' ')}{scores}")

    def _fail(self, job: Job, cells: list[Cell], reason: str, exc: BaseException) -> None:
        self.say(f"{job.name}: failed: {reason}")
        for cell in cells:
            self._write(cell, {**cell.identity(), "source": "+".join(job.config.sources), "job": job.name, **self.env},
                        FAILED, reason, exc, announce=False)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if isinstance(exc, CropEdgeError) else f"{type(exc).__name__}: {text}"
