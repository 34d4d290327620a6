"""``cropedge distill``: train a small student on a trained teacher run's softened predictions."""

from __future__ import annotations

from pathlib import Path

import click

from cropedge.cli.options import POSITIVE_INT, FiniteFloat, Seed, console_options, field_default, option, out_option
from cropedge.cli.train_cmd import budget_shown


def _settings_default(name: str) -> float:
    from cropedge.training.run import DistillSettings

    return field_default(DistillSettings, name)


@click.command("distill")
@click.argument("teacher", type=click.Path(exists=True, file_okay=False, path_type=Path))
@option("--model", required=True, help="Student model name (tcn, tcn-s, tcn-dense, cropnet-xs, ...).")
@out_option("Run folder to write.", required=True, type=click.Path(file_okay=False, path_type=Path))
@option(
    "--alpha", type=FiniteFloat(0, 1), default=lambda: _settings_default("alpha"),
    help="Weight of the teacher's soft predictions; 1 - alpha weighs the labels.",
)
@option(
    "--temperature", type=FiniteFloat(min=0, min_open=True), default=lambda: _settings_default("temperature"),
    help="Softmax temperature of the soft term (higher: softer targets).",
)
@option("--qat", is_flag=True, help="Train the student quantization-aware (TFMOT) from the first step.")
@option("--seed", type=Seed(), help="Student seed for initialisation and shuffling.", shown=lambda: "the teacher's")
@option("--epochs", type=POSITIVE_INT, help="Most training epochs.", shown=budget_shown("epochs", reference=False))
@option("--batch-size", type=POSITIVE_INT, aliases=("--batch",), help="Global batch size.",
        shown=budget_shown("batch_size", reference=False))
@option("--lr", type=FiniteFloat(min=0, min_open=True), help="Adam peak learning rate.",
        shown=budget_shown("lr", reference=False))
@option(
    "--patience", type=click.IntRange(min=0),
    help="Stop after N epochs without a better validation macro-F1; 0: never.",
    shown=budget_shown("patience", reference=False),
)
@console_options
def distill(
    teacher: Path,
    model: str,
    out: Path,
    alpha: float,
    temperature: float,
    qat: bool,
    seed: int | None,
    epochs: int | None,
    batch_size: int | None,
    lr: float | None,
    patience: int | None,
    quiet: bool,
) -> None:
    r"""Distil TEACHER (a training run) into a smaller student model.

    The student learns from the teacher's temperature-softened predictions mixed with the
    labels (Hinton et al. 2015), on the same augmented batches the teacher is shown. It
    trains on the teacher's data, sources, window, season offsets, augmentation and
    train / validation split, with its own default budget and early stopping. OUT is an
    ordinary run folder (eval, export, bench and report take it); its run.json names the
    teacher. A TEACHER holding seed-K runs gives one student per seed (OUT/seed-K/, plus
    OUT/summary.json). Examples:

    \b
      cropedge train --data data/cropglobe --source FRA --model cropnet --out runs/cropnet
      cropedge distill runs/cropnet --model tcn --out runs/tcn-kd
      cropedge export runs/tcn-kd --int8 --out bundles
    """
    from cropedge.atomic import check_output
    from cropedge.training.distill import distill_config
    from cropedge.training.run import DistillSettings, run_dirs

    settings = DistillSettings(alpha=alpha, temperature=temperature, qat=qat)
    changes = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "patience": patience}
    changes = {k: v for k, v in changes.items() if v is not None}
    teachers = run_dirs(teacher)
    several = teachers != [teacher]
    if several and seed is not None:
        raise click.UsageError("TEACHER holds seed-K runs: each student takes its teacher's seed, drop --seed")
    configs = []
    for run_dir in teachers:
        config = distill_config(run_dir, model, settings, **changes, **({"seed": seed} if seed is not None else {}))
        config.validate()
        configs.append((out / run_dir.name if several else out, config))
    # every argument is checked before TensorFlow starts and before anything is written
    check_output(out, inputs=[teacher, *(Path(c.data) for _, c in configs)], kind="folder")
    from cropedge.training.distribute import select_strategy

    strategy = select_strategy()
    from cropedge.training.train import train_run

    dirs = [train_run(config, run_out, verbose=0 if quiet else 2, strategy=strategy) for run_out, config in configs]
    if several:
        from cropedge.atomic import write_json
        from cropedge.training.run import SUMMARY_JSON, summarise_validation

        write_json(out / SUMMARY_JSON, summarise_validation(dirs))
        if not quiet:  # each student's own last line said where it is and what it scored
            click.echo(f"{out}: {len(dirs)} students, one per teacher seed; {out / SUMMARY_JSON}")


COMMANDS = [distill]
