"""``cropedge export``: a trained run -> device bundles (one per precision)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cropedge.cli.options import POSITIVE_INT, emit, json_option, quiet_option
from cropedge.export.exporter import PRECISIONS


def _precision_flags(func: Callable[..., Any]) -> Callable[..., Any]:
    # one flag per row of the precision table, so the table and the CLI cannot drift apart
    for p in reversed(PRECISIONS):
        func = click.option(p.flag, _param(p.name), is_flag=True, help=p.description)(func)
    return func


def _param(name: str) -> str:
    return name.replace("-", "_")


@click.command("export")
@click.argument("run", type=click.Path(path_type=Path))
@_precision_flags
@click.option("--c-array", is_flag=True, help="Also write model_data.cc/.h (TFLite Micro) into the int8 bundles.")
@click.option(
    "--profile",
    metavar="TOML",
    help="Device profile (export/pi4.toml, pi5, mcu, x86): default precisions, threads, budgets, check threshold.",
)
@click.option("--rep-samples", type=POSITIVE_INT, help="Training samples calibrating int8 [profile, 300].")
@click.option("--qat-epochs", type=POSITIVE_INT, help="Quantization-aware fine-tuning epochs for --qat [profile, 2].")
@click.option("--strict", is_flag=True, help="Exit 2 (and skip the bundle) when a self-check fails.")
@click.option("--out", type=click.Path(path_type=Path), help="Bundle folder [RUN/bundles].")
@json_option
@quiet_option
def export_cmd(
    run: Path,
    c_array: bool,
    profile: str | None,
    rep_samples: int | None,
    qat_epochs: int | None,
    strict: bool,
    out: Path | None,
    as_json: bool,
    quiet: bool,
    **flags: bool,
) -> None:
    r"""Export a trained RUN folder to TFLite bundles, one per precision.

    Each bundle (OUT/{model}-{precision}/: model.tflite + metadata.json) is checked
    against the Keras model on the run's validation split; one summary line each.
    RUN is one trained model: for a folder of seed runs, name one seed (RUN/seed-0).

    \b
    Examples:
      cropedge export runs/fra --int8 --float32
      cropedge export runs/fra --profile export/mcu.toml --strict
    """
    from cropedge.export.exporter import export_run

    _check_out(run, out, profile, [p for p in PRECISIONS if flags[_param(p.name)]] or list(PRECISIONS))
    def echo(line: str) -> None:
        if not quiet:
            click.echo(line, err=as_json)

    def warn(line: str) -> None:
        if not quiet:
            click.echo(f"warning: {line}", err=True)

    precisions = [p.name for p in PRECISIONS if flags[_param(p.name)]]
    results = export_run(
        run,
        precisions,
        out_dir=out,
        profile=profile,
        strict=strict,
        c_array=c_array,
        rep_samples=rep_samples,
        qat_epochs=qat_epochs,
        echo=echo,
        warn=warn,
        quiet=quiet or as_json,
    )
    written = [r for r in results if r["path"]]
    where = Path(written[0]["path"]).parent if written else out
    emit(results, as_json, quiet, f"{len(written)} bundle(s) in {where}")


def _check_out(run: Path, out: Path | None, profile: str | None, rows: list) -> None:
    """Refuse, before minutes of conversion, a --out inside the run's own files or over what is not a bundle."""
    from cropedge.atomic import check_output
    from cropedge.export.exporter import open_run

    model = open_run(run).record.model  # a damaged or unfinished run is one line here, before TensorFlow starts
    folder = out if out is not None else run / "bundles"
    inputs = [run, *([profile] if profile and Path(profile).is_file() else [])]
    check_output(folder, inputs=inputs, kind="folder")
    for p in rows:  # each bundle replaces its folder whole: only an older bundle may be there
        check_output(folder / f"{model}{p.suffix}", inputs=inputs, kind="bundle")


COMMANDS = [export_cmd]
