"""``cropedge demo``: the whole job on built-in synthetic data, from nothing to a report."""

from __future__ import annotations

from pathlib import Path

import click

from cropedge.cli.options import POSITIVE_INT, emit, json_option, quiet_option


@click.command("demo")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (data/, grid/, report/); a second call resumes it.")
@click.option("--quick", is_flag=True, help="Smaller data, fewer epochs, smaller models: a few minutes.")
@click.option("--samples-per-class", type=POSITIVE_INT, help="Synthetic samples per class and region.")
@click.option("--epochs", type=POSITIVE_INT, help="Training epochs per run.")
@click.option("--models", help="Comma-separated models to train.")
@click.option("--precisions", help="Comma-separated export precisions [float32,int8].")
@quiet_option
@json_option
def demo(
    out: Path,
    quick: bool,
    samples_per_class: int | None,
    epochs: int | None,
    models: str | None,
    precisions: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run the whole job on synthetic data, from nothing to a report.

    Synthesize CropGlobe-like data, train CropNet variants with and without augmentation,
    export float32 and int8, benchmark on cross-country, cross-continent and cross-hemisphere
    targets, and write the report (default about 20 minutes on 2 cores; --quick about 5).
    """
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
