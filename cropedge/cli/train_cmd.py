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
    console_options,
    emit,
    field_default,
    json_option,
    option,
    out_option,
    recipe_option,
)

EXISTING = click.Path(exists=True, path_type=Path)


def _config_default(name: str) -> Callable[[], Any]:
    """``TrainConfig``'s default of ``name``, for ``--help`` (the option itself stays unset: a recipe wins)."""

    def shown() -> Any:
        from cropedge.training.recipe import TrainConfig

        return field_default(TrainConfig, name)

    return shown


def _reference() -> Any:
    """The reference protocol's budget (the CropNet paper's settings), as the library plans it."""
    from cropedge.training.budget import plan_budget

    return plan_budget(1, 2, protocol="reference")


def _protocol_help() -> str:
    from cropedge.training.budget import REFERENCE_WINDOW

    ref = _reference()
    return ("auto: batch, lr schedule, epochs, early stopping and window sized to the training set; reference: the "
            f"CropNet paper's (Adam {ref.lr:g}, batch {ref.batch_size}, {ref.epochs} epochs, day "
            f"{REFERENCE_WINDOW[0]}..{REFERENCE_WINDOW[1]}, no early stopping).")


def budget_shown(name: str, reference: bool = True) -> Callable[[], str]:
    """What the data-sized budget (``cropedge.training.budget``) picks for ``name``, and the reference protocol."""

    def shown() -> str:
        from cropedge.training import budget as rule

        auto = {
            "batch_size": f"the power of two nearest 2√(training samples), {rule.BATCH_MIN}..{rule.BATCH_MAX}",
            "lr": f"{rule.LR:g}",
            "epochs": f"{rule.STEP_FLOOR:,} steps and {rule.MIN_EPOCHS} passes at least",
            "patience": f"{rule.PATIENCE_SHARE:.0%} of the epochs, at least {rule.PATIENCE_MIN}",
            "window": "the span the data cover",
        }[name]
        if not reference:
            return auto
        ref = _reference()
        paper = {"batch_size": ref.batch_size, "lr": f"{ref.lr:g}", "epochs": ref.epochs, "patience": "never",
                 "window": ",".join(map(str, rule.REFERENCE_WINDOW))}[name]
        return f"{auto}; reference {paper}"

    return shown


def _models_help() -> str:
    from cropedge.models import list_models

    return f"Model name: {', '.join(list_models())}."


def season_option(help_text: str, shown: Callable[[], Any]) -> Callable[[Callable], Callable]:
    """Return the ``--season-offset`` option with the verb's own ``help_text``."""
    return option("--season-offset", type=SeasonOffset(), help=help_text, shown=shown)


@click.command("train", short_help="Train a model on source regions, keeping its best epoch.")
@recipe_option()
@option("--data", type=EXISTING, help="Data file, or folder of CropGlobe .npz files (one per region).")
@option("--source", "sources", multiple=True, help="Source region to train on (repeat for several).")
@option("--model", help=_models_help, shown=_config_default("model"))
@option("--protocol", type=click.Choice(["auto", "reference"]), help=_protocol_help,
        shown=_config_default("protocol"))
@option("--epochs", type=POSITIVE_INT, help="Most training epochs (passes over the training split).",
        shown=budget_shown("epochs"))
@out_option("Run folder to write (a folder of seed-K runs with --seeds).", required=True,
            type=click.Path(file_okay=False, path_type=Path))
@option("--augment/--no-augment", default=None, help="Time shift / stretch and magnitude warp while training.",
        shown=_config_default("augment"))
@option("--seed", type=Seed(), help="One seed: a single run folder.", shown=_config_default("seed"))
@option("--seeds", type=SeedList(), help="Several seeds, e.g. 0,1,2: OUT/seed-K/ plus OUT/summary.json.",
        shown=lambda: "the recipe's seeds")
@option("--batch-size", type=POSITIVE_INT, aliases=("--batch",), help="Global batch size.",
        shown=budget_shown("batch_size"))
@option("--lr", type=FiniteFloat(min=0, min_open=True), help="Adam peak learning rate.", shown=budget_shown("lr"))
@option("--val-fraction", type=FiniteFloat(0, 1, min_open=True, max_open=True),
        help="Share of each source class held out for validation.", shown=_config_default("val_fraction"))
@option("--mixed-precision/--no-mixed-precision", default=None, help="mixed_float16 on GPU, mixed_bfloat16 on CPU.",
        shown=_config_default("mixed_precision"))
@option("--deterministic/--no-deterministic", default=None,
        help="Deterministic TensorFlow ops: the same seed gives the same model on GPU too (slower there).",
        shown=_config_default("deterministic"))
@option("--patience", type=click.IntRange(min=0),
        help="Stop after N epochs without a better validation macro-F1; 0: never.", shown=budget_shown("patience"))
@option("--window", callback=lambda ctx, param, value: _window(value), metavar="START,END",
        help="Model window, first and last day of year, e.g. 121,334.", shown=budget_shown("window"))
@option("--sweep", is_flag=True,
        help="Train a small grid of lr x batch x window (the recipe's [sweep], else around the budget), print a "
        "table scored on the validation split, keep the best run in OUT/best.")
@season_option("Move the source year by DAYS before training, or 'auto': align each source region with the first.",
               _config_default("season_offset_days"))
@console_options
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
      cropedge train --recipe training/cross_hemisphere.toml --seeds 0,1,2 --out runs/hemi
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
            raise click.UsageError("give --data and --source (or a recipe with --recipe)")
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
    if seeds is None:
        train_run(config, out, verbose=verbose, strategy=strategy)  # its last line says where and what
        return
    train_seeds(config, seeds, out, verbose=verbose, strategy=strategy)
    if not quiet:
        import json

        from cropedge.training.run import SUMMARY_JSON

        v = json.loads((out / SUMMARY_JSON).read_text(encoding="utf-8"))["validation"]
        scores = " ".join(f"val_{k} {v[k]['mean']:.3f}±{v[k]['std']:.3f}" for k in ("oa", "macro_f1"))
        click.echo(f"{out}: {len(seeds)} seeds, {scores}; {out / SUMMARY_JSON}")


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


@click.command("eval", short_help="Score a run on target regions (OA, macro-F1, per class).")
@click.argument("run", type=click.Path(exists=True, file_okay=False, path_type=Path))
@recipe_option()
@option("--data", type=EXISTING, help="Target data.", shown=lambda: "the recipe's, else the run's own data")
@option("--target", "targets", multiple=True,
        help="Target region (repeat for several); NAME=R1,R2 scores regions R1 and R2 together as NAME.",
        shown=lambda: "the recipe's targets")
@option("--map-unknown-to-other/--no-map-unknown-to-other", default=None,
        help="Predictions outside a target's crop set become 'other' (the reference protocol).",
        shown=lambda: "the recipe's, else off")
@season_option("Move each target's year by DAYS (southern hemisphere ~182), or 'auto': align its mean NDVI curve "
               "with the source's.", lambda: "the recipe target's, else the run's")
@out_option("Also write the result: JSON to this file ('-': stdout), the table beside it (.txt).",
            name="out_file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@console_options
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
    confusion matrix; the first row is the run's own validation split (in-domain), for
    comparison. Examples:

    \b
      cropedge eval runs/fra --target BEL --target AUS --season-offset auto
      cropedge eval runs/hemi --recipe training/cross_hemisphere.toml -o eval/hemi.json
    """
    from cropedge.atomic import check_output, write_json, write_text
    from cropedge.data import load_regions
    from cropedge.training.evaluate import evaluate_targets
    from cropedge.training.recipe import load_recipe
    from cropedge.training.run import Run, run_dirs, summarise_validation

    recipe = load_recipe(recipe_path) if recipe_path is not None else None
    known = {t.name: t for t in recipe.targets} if recipe else {}
    chosen = [_parse_target(t, known) for t in targets] or list(known.values())
    if not chosen:
        raise click.UsageError("name at least one --target (or a recipe with targets)")
    # targets are read like the source was (same reader options), from the same data unless told
    dirs = run_dirs(run)
    trained = recipe.config if recipe else Run(dirs[0]).config
    source = data or Path(trained.data)
    table_file = _table_file(out_file)
    inputs = [run, source, *([recipe_path] if recipe_path else [])]
    for path in (out_file, table_file):  # before minutes of scoring, and never onto the run or the data it reads
        if path is not None:
            check_output(path, inputs=inputs)
    mapping = map_unknown_to_other if map_unknown_to_other is not None else bool(recipe and recipe.map_unknown_to_other)
    datasets = {t.name: load_regions(source, list(t.regions), **trained.data_options) for t in chosen}
    offsets = {t.name: season_offset if season_offset is not None else t.season_offset for t in chosen}
    result = evaluate_targets(
        run, datasets, mapping, crops={t.name: t.crops for t in chosen}, season_offsets=offsets
    )
    summary = summarise_validation(dirs)
    result["validation"] = {"sources": summary["sources"], "n": [Run(d).record.n_val for d in dirs],
                            **summary["validation"]}
    table = _table(result)
    if out_file is not None:
        write_json(out_file, result)
    if table_file is not None:
        write_text(table_file, table + "\n")
    emit(result, as_json, quiet, table)


def _table_file(out_file: Path | None) -> Path | None:
    """Where the table goes beside ``--out`` (none for stdout or a name that is already .txt)."""
    if out_file is None or str(out_file) == "-" or out_file.suffix.lower() == ".txt":
        return None
    return out_file.with_suffix(".txt")


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


# where a target's season offset came from, after the days (a fixed --season-offset needs no word)
_HOW_ALIGNED = {"run": " (the run's)", "auto": " (auto)"}


def _table(result: dict) -> str:
    """One line per target: n, OA, macro-F1, weighted F1 (mean ± std over seeds), alignment."""
    seeds = result["seeds"]
    lines = [f"{result['run']} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})"]
    lines.append(f"{'target':<10} {'n':>7} {'OA':>13} {'macro-F1':>13} {'weighted-F1':>13}  season offset")
    val = result["validation"]
    several = len(seeds) > 1
    cells = [f"{val[k]['mean']:.3f}±{val[k]['std']:.3f}" if several else f"{val[k]['mean']:.3f}"
             for k in ("oa", "macro_f1", "weighted_f1")]
    name = "+".join(val["sources"]) + " val"
    lines.append(f"{name:<10} {round(sum(val['n']) / len(val['n'])):>7} {cells[0]:>13} {cells[1]:>13} "
                 f"{cells[2]:>13}  in-domain (held-out source split)")
    for name, res in result["targets"].items():
        runs = list(res["seeds"].values()) if "seeds" in res else [res]
        first = runs[0]
        if "seeds" in res:
            cells = [f"{res['mean'][k]:.3f}±{res['std'][k]:.3f}" for k in ("oa", "macro_f1", "weighted_f1")]
        else:
            cells = [f"{res[k]:.3f}" for k in ("oa", "macro_f1", "weighted_f1")]
        offs = sorted({r["season_alignment"]["days"] for r in runs})
        how = _HOW_ALIGNED.get(first["season_alignment"]["method"], "")
        align = f"{'/'.join(f'{d:+g}' for d in offs)} d{how}"
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
