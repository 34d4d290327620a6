"""``cropedge demo``: the whole job on built-in synthetic data, from nothing to a report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from cropedge.cli.options import (
    POSITIVE_INT,
    Command,
    console_options,
    emit,
    json_option,
    option,
    out_option,
    show_value,
)


def _sizes(name: str) -> Callable[[], str]:
    """The demo's ``name`` and the quick demo's, for ``--help``."""

    def shown() -> str:
        from cropedge.grid.demo import DEFAULT, QUICK

        return f"{show_value(getattr(DEFAULT, name))}; --quick {show_value(getattr(QUICK, name))}"

    return shown


def _demo_help() -> str:
    from cropedge.grid.demo import MEASURED_MINUTES

    return (f"{SUMMARY}\n\nMeasured: {MEASURED_MINUTES:g} minutes on 2 idle CPU cores, set-up excluded; --quick "
            "about half that. Synthesize CropGlobe-like data, train CropNet variants with and without augmentation, "
            "export float32 and int8, benchmark on cross-country, cross-continent and cross-hemisphere targets, "
            "and write the report.")


SUMMARY = "Run the whole job on synthetic data, from nothing to a report."


@click.command("demo", cls=Command, help=_demo_help, short_help=SUMMARY)
@out_option("Output folder (data/, grid/, report/); a second call resumes it.", required=True,
            type=click.Path(file_okay=False, path_type=Path))
@option("--quick", is_flag=True, help="Less data, smaller models, the same code: about half the time.")
@option("--samples-per-class", type=POSITIVE_INT, help="Synthetic samples per class and region.",
        shown=_sizes("samples_per_class"))
@option("--epochs", type=POSITIVE_INT, help="Training epochs per run.", shown=_sizes("epochs"))
@option("--models", help="Comma-separated models to train.", shown=_sizes("models"))
@option("--precisions", help="Comma-separated export precisions.", shown=_sizes("precisions"))
@json_option
@console_options
def demo(
    out: Path,
    quick: bool,
    samples_per_class: int | None,
    epochs: int | None,
    models: str | None,
    precisions: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Run the demo (its help, ``_demo_help``, quotes the measured time)."""
    from dataclasses import replace

    from cropedge.atomic import check_output
    from cropedge.cli.bench_cmd import comma_list
    from cropedge.grid.demo import DEFAULT, QUICK, run_demo

    config = QUICK if quick else DEFAULT
    changes = {"samples_per_class": samples_per_class, "epochs": epochs, "models": comma_list(models),
               "precisions": comma_list(precisions)}
    config = replace(config, **{k: v for k, v in changes.items() if v})
    check_output(out, kind="folder")
    loud = not (quiet or as_json)
    result = run_demo(out, config, progress=loud, echo=click.echo if loud else (lambda _: None))
    text = "\n".join([
        *(f"* {line.replace('**', '')}" for line in result["ship"].values()),
        f"done in {result['seconds']['total']:.0f} s; report: {result['report_html']} (also {result['report_md']})",
    ])
    emit({k: (str(v) if isinstance(v, Path) else v) for k, v in result.items()}, as_json, quiet, text)


COMMANDS = [demo]
