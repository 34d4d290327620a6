"""The whole job on built-in synthetic data: synthesize, train, export, benchmark, report.

One grid serves the three transfer settings of the paper (cross-country, cross-continent,
cross-hemisphere: ``training/*.toml``). They all train on FRA with the same settings, so
each (model, augmentation, seed) is trained once and scored on every target. The quick
variant runs the same code on less data, fewer epochs and smaller models.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from cropedge.grid.bench import LatencyOptions

RECIPE_DIR = Path(__file__).resolve().parents[2] / "training"
RECIPES = tuple(RECIPE_DIR / f"{name}.toml" for name in ("cross_country", "cross_continent", "cross_hemisphere"))


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of a demo run.

    Attributes:
        samples_per_class: synthetic samples per class and region.
        epochs: training epochs per run.
        batch_size: training batch size: with the epochs fixed, a set batch keeps the step count
            (some 400 steps at 1 120 samples) that the demo's figures were measured with.
        models: models to train (the reference CropNet and a temporal student cheap enough for a Pi).
        precisions: export precisions.
        seeds: training seeds.
        augment: trainings with augmentation off and on.
        rep_samples, qat_epochs: int8 calibration samples and QAT epochs (export profile).
        latency: how bundles are timed.
    """

    samples_per_class: int = 150
    epochs: int = 12
    batch_size: int = 32
    models: tuple[str, ...] = ("cropnet", "tcn")
    precisions: tuple[str, ...] = ("float32", "int8")
    seeds: tuple[int, ...] = (0,)
    augment: tuple[bool, ...] = (False, True)
    rep_samples: int = 300
    qat_epochs: int = 1
    latency: LatencyOptions = field(default_factory=lambda: LatencyOptions(batches=(1, 256), runs=10, max_seconds=3.0))


# minutes `cropedge demo` (DEFAULT) took on 2 idle CPU cores, set-up excluded (`demo --help` quotes it)
MEASURED_MINUTES = 4.7
DEFAULT = DemoConfig()
QUICK = DemoConfig(samples_per_class=60, epochs=15, models=("cropnet-xs", "tcn"), rep_samples=100,
                   latency=LatencyOptions(batches=(1, 256), runs=5, max_seconds=1.0))


def run_demo(
    out: str | Path,
    config: DemoConfig = DEFAULT,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    recipes: Sequence[str | Path] = RECIPES,
) -> dict:
    """Run the demo into ``out`` (``data/``, ``grid/``, ``report/``); resumable like the grid.

    The recipes' sources and targets are used; their data path, epochs and batch size are
    replaced by the demo's, and they train under the data-sized protocol (learning-rate
    schedule from ``cropedge.training.budget``), not the paper's.

    Returns:
        ``{"report_html", "report_md", "grid", "data", "ship", "seconds": {step: s}, "counts"}``.
    """
    from cropedge.data.synthetic import REGIONS, synthesize
    from cropedge.device.profile import DeviceProfile
    from cropedge.export.exporter import get_precision
    from cropedge.grid.bench import run_grid, settings_from_recipes
    from cropedge.grid.report import build_report
    from cropedge.models import model_spec

    for name in config.models:  # unknown names are errors before anything is written
        model_spec(name)
    for precision in config.precisions:
        get_precision(precision)
    out = Path(out)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    data = out / "data"
    if not all((data / f"{r}.npz").is_file() for r in REGIONS):
        echo(f"[1/3] synthesizing {len(REGIONS)} regions x {config.samples_per_class} samples per class into {data}")
        synthesize(data, samples_per_class=config.samples_per_class, seed=0)
    seconds["data"] = time.perf_counter() - started

    settings = [
        replace(s, train=replace(s.train, protocol="auto", batch_size=config.batch_size))
        for s in settings_from_recipes(recipes, data)
    ]
    echo(f"[2/3] benchmark grid: {', '.join(config.models)} x augmentation off/on x {', '.join(config.precisions)} "
         f"on {', '.join(s.name for s in settings)}, {config.epochs} epochs")
    t0 = time.perf_counter()
    summary = run_grid(
        settings, out / "grid", config.models, config.precisions, config.seeds, config.augment,
        epochs=config.epochs,
        export_profile=DeviceProfile(rep_samples=config.rep_samples, qat_epochs=config.qat_epochs),
        latency=config.latency, progress=progress,
    )
    seconds["grid"] = time.perf_counter() - t0

    echo("[3/3] report")
    t0 = time.perf_counter()
    report = build_report([out / "grid"], out / "report")
    seconds["report"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - started
    return {**{k: report[k] for k in ("report_html", "report_md")}, "grid": out / "grid", "data": data,
            "ship": report["ship"], "seconds": {k: round(v, 1) for k, v in seconds.items()},
            "counts": summary.counts(), "rows": len(summary.rows)}
