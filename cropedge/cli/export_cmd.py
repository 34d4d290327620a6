"""``cropedge export``: a trained run -> device bundles (one per precision)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cropedge.cli.options import POSITIVE_INT, console_options, emit, json_option, option, out_option
from cropedge.console import duration
from cropedge.export.exporter import PRECISIONS


def _precision_flags(func: Callable[..., Any]) -> Callable[..., Any]:
    # one flag per row of the precision table, so the table and the CLI cannot drift apart
    for p in reversed(PRECISIONS):
        func = option(p.flag, _param(p.name), is_flag=True, help=p.description)(func)
    return func


def _param(name: str) -> str:
    return name.replace("-", "_")


@click.command("export")
@click.argument("run", type=click.Path(path_type=Path))
@_precision_flags
@option("--c-array", is_flag=True, help="Also write model_data.cc/.h (TFLite Micro) into the int8 bundles.")
@option("--profile", metavar="TOML", help=lambda: "Device profile (export/*.toml or a name: "
        f"{', '.join(_profile_names())}): default precisions, calibration, QAT epochs, check threshold.",
        shown=lambda: _generic().description)
@option("--rep-samples", type=POSITIVE_INT, help="Training samples calibrating int8.",
        shown=lambda: f"the profile's; {_generic().rep_samples} without one")
@option("--qat-epochs", type=POSITIVE_INT, help="Quantization-aware fine-tuning epochs for --qat.",
        shown=lambda: f"the profile's; {_generic().qat_epochs} without one")
@option("--strict", is_flag=True, help="Exit 2 (and skip the bundle) when a self-check fails.")
@out_option("Bundle folder.", type=click.Path(path_type=Path), shown=lambda: "RUN/bundles")
@json_option
@console_options
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
    started = time.perf_counter()
    from cropedge.export.exporter import export_run

    _check_out(run, out, profile, [p for p in PRECISIONS if flags[_param(p.name)]] or list(PRECISIONS))
    def echo(line: str) -> None:
        if not quiet:
            click.echo(line, err=as_json)

    def warn(line: str) -> None:
        if not quiet:
            click.echo(f"cropedge: warning: {line}", err=True)

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
    text = f"{len(written)} bundle(s) in {where} in {duration(time.perf_counter() - started)}"
    if written:
        first = next((r for r in written if r["precision"].startswith("int8")), written[0])["path"]
        text += (f"\nnext: cropedge predict {first} PIXELS.csv -o labels.csv; on the device: "
                 f"python -m firmware_bench {' '.join(r['path'] for r in written)}")
    emit(results, as_json, quiet, text)


def _generic() -> Any:
    """The profile used without --profile (a generic CPU)."""
    from cropedge.device.profile import DeviceProfile

    return DeviceProfile()


def _profile_names() -> list[str]:
    from cropedge.device.profile import PROFILE_DIR

    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


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
