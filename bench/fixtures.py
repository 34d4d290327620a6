"""Things several sections need, made once per run: synthetic data, short trainings, bundles.

Trainings here are short on purpose (speed is what most sections measure, and the
frontier's accuracy is a quick, one-seed estimate; docs/performance.md says so).
"""

from __future__ import annotations

from pathlib import Path

from bench.context import Context

SOURCE = ("FRA",)  # northern source region
TARGETS = ("ARG", "AUS")  # southern targets: the cross-hemisphere shift
SPEED_EPOCHS = 1  # the bundles the speed sections time: accuracy does not matter there


def samples_per_class(ctx: Context) -> int:
    """Synthetic samples per class of the speed sections' data (accuracy does not matter there)."""
    return 20 if ctx.quick else 200


def synthetic_dir(ctx: Context, per_class: int) -> Path:
    """CropGlobe-like synthetic source and target regions (one .npz each) in the scratch folder."""
    key = ("synthetic", per_class)
    if key not in ctx.cache:
        from cropedge.data.synthetic import synthesize

        out = ctx.work / f"synthetic-{per_class}"
        synthesize(out, samples_per_class=per_class, seed=0, regions=SOURCE + TARGETS)
        ctx.cache[key] = out
    return ctx.cache[key]


def trained_run(ctx: Context, model: str, epochs: int = SPEED_EPOCHS, lr: float = 1e-4,
                per_class: int | None = None) -> Path:
    """A finished cropedge run of ``model`` trained on the source region.

    The reference protocol but for ``epochs``, ``lr`` and the data size.
    """
    per_class = per_class or samples_per_class(ctx)
    key = ("run", model, epochs, lr, per_class)
    if key not in ctx.cache:
        from cropedge.training.train import TrainConfig, train_run

        config = TrainConfig(data=str(synthetic_dir(ctx, per_class)), sources=SOURCE, model=model, epochs=epochs,
                             lr=lr, seed=0)
        ctx.cache[key] = train_run(config, ctx.work / "runs" / f"{model}-e{epochs}-lr{lr:g}-n{per_class}", verbose=0)
    return ctx.cache[key]


def bundles(ctx: Context, run_dir: Path, precisions: tuple[str, ...] = ("float32", "int8")) -> dict[str, Path]:
    """``{precision: bundle folder}`` of a run, exported by ``cropedge.export.exporter.export_run``."""
    key = ("bundles", run_dir, precisions)
    if key not in ctx.cache:
        from cropedge.export.exporter import export_run

        rows = export_run(run_dir, precisions, ctx.work / "bundles" / run_dir.name, quiet=True)
        missing = [r["precision"] for r in rows if r.get("path") is None]
        if missing:
            raise RuntimeError(f"export of {run_dir.name} wrote no bundle for {', '.join(missing)}")
        ctx.cache[key] = {r["precision"]: Path(r["path"]) for r in rows}
    return ctx.cache[key]
