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
    return 20 if ctx.quick else 200


def synthetic_dir(ctx: Context) -> Path:
    """CropGlobe-like synthetic regions (one .npz each) in the scratch folder."""
    if "synthetic" not in ctx.cache:
        from cropedge.data.synthetic import synthesize

        out = ctx.work / "synthetic"
        synthesize(out, samples_per_class=samples_per_class(ctx), seed=0, regions=SOURCE + TARGETS)
        ctx.cache["synthetic"] = out
    return ctx.cache["synthetic"]


def trained_run(ctx: Context, model: str, epochs: int) -> Path:
    """A finished cropedge run of ``model`` trained on the source region for ``epochs``."""
    key = ("run", model, epochs)
    if key not in ctx.cache:
        from cropedge.train import TrainConfig, train_run

        config = TrainConfig(data=str(synthetic_dir(ctx)), sources=SOURCE, model=model, epochs=epochs, seed=0)
        ctx.cache[key] = train_run(config, ctx.work / "runs" / f"{model}-e{epochs}", verbose=0)
    return ctx.cache[key]


def bundles(ctx: Context, model: str, epochs: int, precisions: tuple[str, ...] = ("float32", "int8")) -> dict[str, Path]:
    """``{precision: bundle folder}`` exported by ``cropedge.export.export_run``."""
    key = ("bundles", model, epochs, precisions)
    if key not in ctx.cache:
        from cropedge.export import export_run

        rows = export_run(trained_run(ctx, model, epochs), precisions, ctx.work / "bundles" / f"{model}-e{epochs}",
                          quiet=True)
        missing = [r["precision"] for r in rows if r.get("path") is None]
        if missing:
            raise RuntimeError(f"export of {model} wrote no bundle for {', '.join(missing)}")
        ctx.cache[key] = {r["precision"]: Path(r["path"]) for r in rows}
    return ctx.cache[key]
