"""The ``cropedge`` command: a thin face over the library.

Each verb lives in its own module and imports heavy libraries (TensorFlow) only when it
runs, so ``cropedge predict`` on a device install never touches TensorFlow.
A ``CropEdgeError`` or a bad argument becomes one line on stderr and exit status 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from cropedge import __version__
from cropedge.errors import CropEdgeError


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CropEdgeError as exc:
            _fail(ctx, str(exc))
        except click.exceptions.NoArgsIsHelpError:
            raise  # a bare group name: click prints the group's help
        except click.UsageError as exc:
            # a bad argument is a user error like any other: the same single line, plus where help is
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            _fail(ctx, f"{exc.format_message()} (see '{where} --help')")


def _fail(ctx: click.Context, message: str) -> None:
    click.echo(f"cropedge: error: {' '.join(message.split())}", err=True)
    ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cropedge")
def cli() -> None:
    """Crop-type classification of Sentinel-2 pixel time series, from training to the field."""


def _register() -> None:
    # the verb modules import nothing heavy at module level, so loading them all is cheap
    from cropedge.cli import bench_cmd, data_cmd, demo_cmd, export_cmd, predict_cmd, train_cmd

    for module in (data_cmd, train_cmd, export_cmd, predict_cmd, bench_cmd, demo_cmd):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    """Run the ``cropedge`` command line (the console-script entry point)."""
    cli(prog_name="cropedge")


if __name__ == "__main__":
    sys.exit(main())
