"""``cropedge train`` and ``cropedge eval``: fit a model on source regions, score it on targets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from cropedge.cli.options import (
    POSITIVE_INT,
    FiniteFloat,
    SeasonOffset,
    Seed,
    SeedList,
    emit,
    json_option,
    quiet_option,
)

EXISTING = click.Path(exists=True, path_type=Path)
RECIPE = click.Path(exists=True, dir_okay=False, path_type=Path)


recipe_option = click.option(
    "--config", "recipe_path", type=RECIPE, help="Recipe (training/*.toml); options given here override it."
)

def season_option(help_text: str) -> Callable[[Callable], Callable]:
    """Return the ``--season-offset`` option with the verb's own ``help_text``."""
    return click.option("--season-offset", type=SeasonOffset(), help=help_text)


@click.command("train")
@recipe_option
@click.option("--data", type=EXISTING, help="Data file, or folder of CropGlobe .npz files (one per region).")
@click.option("--source", "sources", multiple=True, help="Source region to train on (repeat for several).")
@click.option("--model", help="Model name (cropnet, cropnet-s, cropnet-xs, tempcnn, mlp, randomforest, ...).")
@click.option(
    "--protocol",
    type=click.Choice(["auto", "reference"]),
    help="auto: batch, lr schedule, epochs, early stopping and window sized to the training set; reference: the "
    "CropNet paper's (Adam 1e-4, batch 256, 50 epochs, day 121..334, no early stopping) [auto].",
)
@click.option("--epochs", type=POSITIVE_INT, help="Most training epochs [from the training set size].")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run folder to write.")
@click.option("--augment/--no-augment", default=None, help="Time shift / stretch and magnitude warp [on].")
@click.option("--seed", type=Seed(), help="One seed: a single run folder [0].")
@click.option("--seeds", type=SeedList(), help="Several seeds, e.g. 0,1,2: OUT/seed-K/ plus OUT/summary.json.")
@click.option("--batch-size", type=POSITIVE_INT, help="Global batch size [from the training set size].")
@click.option("--lr", type=FiniteFloat(min=0, min_open=True), help="Adam peak lr [3e-3, reference 1e-4].")
@click.option(
    "--val-fraction",
    type=FiniteFloat(0, 1, min_open=True, max_open=True),
    help="Share of each source class held out for validation [0.2].",
)
@click.option(
    "--mixed-precision/--no-mixed-precision", default=None, help="mixed_float16 on GPU, mixed_bfloat16 on CPU [off]."
)
@click.option(
    "--deterministic/--no-deterministic",
    default=None,
    help="Deterministic TensorFlow ops: the same seed gives the same model on GPU too (slower there) [off].",
)
@click.option(
    "--patience",
    type=click.IntRange(min=0),
    help="Stop after N epochs without a better validation macro-F1; 0: never [half of the epochs].",
)
@click.option(
    "--window", callback=lambda ctx, param, value: _window(value), metavar="START,END",
    help="Model window, first and last day of year, e.g. 121,334 [the span the data cover].",
)
@click.option(
    "--sweep", is_flag=True,
    help="Train a small grid of lr x batch x window (the recipe's [sweep], else around the budget), print a "
    "table scored on the validation split, keep the best run in OUT/best.",
)
@season_option("Move the source year by DAYS before training, or 'auto': align each source region with the first [0].")
@quiet_option
def train(
    recipe_path: Path | None,
    data: Path | None,
    sources: tuple[str, ...],
    model: str | None,
    protocol: str | None,
    epochs: int | None,
    out: Path,
    augment: bool | None,
    seed: int | None,
    seeds: list[int] | None,
    batch_size: int | None,
    lr: float | None,
    val_fraction: float | None,
    mixed_precision: bool | None,
    deterministic: bool | None,
    patience: int | None,
    window: tuple[int, int] | None,
    sweep: bool,
    season_offset: float | str | None,
    quiet: bool,
) -> None:
    r"""Train a model on source regions; keep the epoch with the best validation macro-F1.

    Validation is a stratified held-out part of the source data. A run folder that holds
    an unfinished run with the same settings is resumed from its last epoch. Examples:

    \b
      cropedge train --data data/cropglobe --source FRA --model cropnet --out runs/fra
      cropedge train --config training/cross_hemisphere.toml --out runs/hemi
      cropedge train --data data/cropglobe --source FRA --model cropnet-xs --sweep --out runs/sweep
    """
    if seed is not None and seeds is not None:
        raise click.UsageError("give --seed or --seeds, not both")
    if sweep and seeds is not None:
        raise click.UsageError("--sweep trains every trial with one seed: give --seed, not --seeds")
    from cropedge.atomic import check_output
    from cropedge.training.recipe import TrainConfig, load_recipe

    overrides = {
        "model": model,
        "protocol": protocol,
        "epochs": epochs,
        "patience": patience,
        "window": window,
        "augment": augment,
        "batch_size": batch_size,
        "lr": lr,
        "val_fraction": val_fraction,
        "mixed_precision": mixed_precision,
        "deterministic": deterministic,
        "season_offset_days": season_offset,
        "seed": seed,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if data is not None:
        overrides["data"] = str(data.resolve())
    if sources:
        overrides["sources"] = tuple(sources)
    recipe_seeds: tuple[int, ...] | None = None
    if recipe_path is not None:
        recipe = load_recipe(recipe_path)
        config = replace(recipe.config, **overrides)
        recipe_seeds = recipe.seeds
    else:
        if data is None or not sources:
            raise click.UsageError("give --data and --source (or a recipe with --config)")
        config = TrainConfig(**overrides)
    config.validate()
    if seeds is None and seed is None and recipe_seeds is not None:
        seeds = list(recipe_seeds)
    # every argument is checked before TensorFlow starts and before anything is written
    check_output(out, inputs=[p for p in (config.data, recipe_path) if p], kind="folder")
    from cropedge.training.distribute import select_strategy

    strategy = select_strategy()  # first TF work: multi-worker collectives must be set up before any other
    from cropedge.training.train import train_run, train_seeds

    verbose = 0 if quiet else 2
    if sweep:
        from cropedge.training.sweep import SweepGrid, run_sweep, sweep_table

        grid = recipe.sweep if recipe_path is not None and recipe.sweep is not None else SweepGrid()
        result = run_sweep(config, grid, out, verbose=min(verbose, 1), strategy=strategy)
        if not quiet:
            click.echo(sweep_table(result, out))
        return
    if seeds is not None:
        train_seeds(config, seeds, out, verbose=verbose, strategy=strategy)
    else:
        train_run(config, out, verbose=verbose, strategy=strategy)
    if not quiet:
        click.echo(f"run written to {out}")


def _window(value: str | None) -> tuple[int, int] | None:
    """``START,END`` -> (START, END) days of year."""
    if value is None:
        return None
    parts = value.split(",")
    try:
        days = tuple(int(p) for p in parts)
    except ValueError:
        days = ()
    if len(days) != 2 or not 1 <= days[0] < days[1] <= 365:
        raise click.BadParameter(f"{value!r}: give two days of year START,END with 1 <= START < END <= 365",
                                 param_hint="--window")
    return days[0], days[1]


@click.command("eval")
@click.argument("run", type=click.Path(exists=True, file_okay=False, path_type=Path))
@recipe_option
@click.option("--data", type=EXISTING, help="Target data [the recipe's, else the run's own data].")
@click.option(
    "--target",
    "targets",
    multiple=True,
    help="Target region (repeat for several); NAME=R1,R2 scores regions R1 and R2 together as NAME.",
)
@click.option(
    "--map-unknown-to-other/--no-map-unknown-to-other",
    default=None,
    help="Predictions outside a target's crop set become 'other' (the reference protocol) [off].",
)
@season_option(
    "Move each target's year by DAYS (southern hemisphere ~182), or 'auto': "
    "align its mean NDVI curve with the source's."
)
@click.option(
    "--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), help="Also write the result JSON here."
)
@json_option
@quiet_option
def evaluate(
    run: Path,
    recipe_path: Path | None,
    data: Path | None,
    targets: tuple[str, ...],
    map_unknown_to_other: bool | None,
    season_offset: float | str | None,
    out_file: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    r"""Score a run (or each seed of a multi-seed run, mean ± std) on target regions.

    Per target: OA, macro-F1 over the classes present, weighted F1, per-class F1 and the
    confusion matrix. Examples:

    \b
      cropedge eval runs/fra --target BEL --target AUS --season-offset auto
      cropedge eval runs/hemi --config training/cross_hemisphere.toml --json
    """
    from cropedge.atomic import check_output, write_json
    from cropedge.data import load_regions
    from cropedge.training.evaluate import evaluate_targets
    from cropedge.training.recipe import load_recipe
    from cropedge.training.run import Run, run_dirs

    recipe = load_recipe(recipe_path) if recipe_path is not None else None
    known = {t.name: t for t in recipe.targets} if recipe else {}
    chosen = [_parse_target(t, known) for t in targets] or list(known.values())
    if not chosen:
        raise click.UsageError("name at least one --target (or a recipe with targets)")
    # targets are read like the source was (same reader options), from the same data unless told
    trained = recipe.config if recipe else Run(run_dirs(run)[0]).config
    source = data or Path(trained.data)
    if out_file is not None:  # before minutes of scoring, and never onto the run or the data it reads
        check_output(out_file, inputs=[run, source, *([recipe_path] if recipe_path else [])])
    mapping = map_unknown_to_other if map_unknown_to_other is not None else bool(recipe and recipe.map_unknown_to_other)
    datasets = {t.name: load_regions(source, list(t.regions), **trained.data_options) for t in chosen}
    offsets = {t.name: season_offset if season_offset is not None else t.season_offset for t in chosen}
    result = evaluate_targets(
        run, datasets, mapping, crops={t.name: t.crops for t in chosen}, season_offsets=offsets
    )
    if out_file is not None:
        write_json(out_file, result)
    emit(result, as_json, quiet, _table(result))


def _parse_target(text: str, known: dict) -> Any:
    """``REGION``, ``NAME=R1,R2``, or the name of a recipe target (with its settings)."""
    from cropedge.training.recipe import Target

    if text in known:
        return known[text]
    name, _, regions = text.partition("=")
    names = tuple(r.strip() for r in regions.split(",") if r.strip()) if regions else (name,)
    if not name.strip() or not names:
        raise click.BadParameter(f"{text!r}: use REGION or NAME=R1,R2", param_hint="--target")
    return Target(name=name.strip(), regions=names)


def _table(result: dict) -> str:
    """One line per target: n, OA, macro-F1, weighted F1 (mean ± std over seeds), alignment."""
    seeds = result["seeds"]
    lines = [f"{result['run']} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})"]
    lines.append(f"{'target':<10} {'n':>7} {'OA':>13} {'macro-F1':>13} {'weighted-F1':>13}  season offset")
    for name, res in result["targets"].items():
        runs = list(res["seeds"].values()) if "seeds" in res else [res]
        first = runs[0]
        if "seeds" in res:
            cells = [f"{res['mean'][k]:.3f}±{res['std'][k]:.3f}" for k in ("oa", "macro_f1", "weighted_f1")]
        else:
            cells = [f"{res[k]:.3f}" for k in ("oa", "macro_f1", "weighted_f1")]
        offs = sorted({r["season_alignment"]["days"] for r in runs})
        align = f"{first['season_alignment']['method']} {'/'.join(f'{d:+g}' for d in offs)} d"
        lines.append(f"{name:<10} {first['n']:>7} {cells[0]:>13} {cells[1]:>13} {cells[2]:>13}  {align}")
        for cls, info in first["unseen_classes"].items():
            lines.append(f"{'':<10} unseen class {cls!r}: {info['n']} samples left out of the scores")
        if first["map_unknown_to_other"]["enabled"]:
            crops = first["map_unknown_to_other"].get("crops")
            lines.append(
                f"{'':<10} predictions outside {crops} mapped to 'other'"
                if crops
                else f"{'':<10} no crop set known: nothing mapped"
            )
    return "\n".join(lines)


COMMANDS = [train, evaluate]
