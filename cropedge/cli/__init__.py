"""The ``cropedge`` command: a thin face over the library.

Each verb lives in its own module and imports heavy libraries (TensorFlow) only when it
runs, so ``cropedge predict`` on a device install never touches TensorFlow.
A ``CropEdgeError``, a bad argument or a full disk becomes one line on stderr and exit
status 2; Ctrl-C one line saying how to carry on and exit status 130, SIGTERM (a scheduler
stopping or preempting the job: Slurm, Kubernetes, systemd) the same line and 143; anything else is a
bug and keeps its traceback. numpy's floating-point warnings never reach the terminal:
the code checks its results for non-finite values where they matter.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import click

from cropedge import __version__
from cropedge.cli.options import OrderedGroup
from cropedge.errors import CropEdgeError
from cropedge.signals import Terminated, signals_as_interrupts

INTERRUPTED_EXIT = 130  # 128 + SIGINT, what a shell reports for a command stopped with Ctrl-C
TERMINATED_EXIT = 143  # 128 + SIGTERM
# what Ctrl-C leaves behind, per verb: the resumable verbs keep their finished work
_ON_INTERRUPT = {
    "train": "run the same command again to resume from the last finished epoch",
    "bench": "run the same command again to resume: finished cells and runs are kept",
    "demo": "run the same command again to resume: finished cells and runs are kept",
}
_START_OVER = "nothing half-written was left; run the same command again to start over"


class _Group(OrderedGroup):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            with _numpy_quiet(), signals_as_interrupts(click.exceptions.Exit):
                return super().invoke(ctx)
        except CropEdgeError as exc:
            _fail(ctx, str(exc))
        except KeyboardInterrupt as exc:
            hint = _ON_INTERRUPT.get(ctx.invoked_subcommand or "", _START_OVER)
            what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
            click.echo(f"cropedge: error: {what}; {hint}", err=True)
            ctx.exit(TERMINATED_EXIT if isinstance(exc, Terminated) else INTERRUPTED_EXIT)
        except click.exceptions.NoArgsIsHelpError:
            raise  # a bare group name: click prints the group's help
        except click.UsageError as exc:
            # a bad argument is a user error like any other: the same single line, plus where help is
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            _fail(ctx, f"{exc.format_message()} (see '{where} --help')")
        except click.exceptions.Exit:
            raise
        except Exception as exc:
            # a full disk met outside cropedge's own writers (TensorFlow's checkpoints, say)
            from cropedge.atomic import out_of_space

            error = out_of_space(exc)
            if error is None:
                raise
            _fail(ctx, str(error))


@contextlib.contextmanager
def _numpy_quiet() -> Iterator[None]:
    """No numpy RuntimeWarning ("invalid value encountered ...") around the one line a user reads."""
    import numpy as np

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _fail(ctx: click.Context, message: str) -> None:
    click.echo(f"cropedge: error: {' '.join(message.split())}", err=True)
    ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="cropedge")
def cli() -> None:
    """Crop-type classification of Sentinel-2 pixel time series, from training to the field."""


def _whole_names_in_help() -> None:
    """Wrap ``--help`` text between words only, so hyphenated names stay whole.

    click wraps with ``textwrap``'s default of breaking after a hyphen, which splits model and
    precision names across lines (``cropnet-xs-`` / ``shallow``) where a reader copies them.
    click takes no setting for it: its wrapper class is replaced by one that never does.
    """
    from click import _textwrap

    class Wrapper(_textwrap.TextWrapper):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "break_on_hyphens": False})

    _textwrap.TextWrapper = Wrapper  # type: ignore[misc]


def _register() -> None:
    # the verb modules import nothing heavy at module level, so loading them all is cheap
    from cropedge.cli import bench_cmd, data_cmd, demo_cmd, distill_cmd, export_cmd, predict_cmd, train_cmd

    for module in (data_cmd, train_cmd, distill_cmd, export_cmd, predict_cmd, bench_cmd, demo_cmd):
        for command in module.COMMANDS:
            _keep_examples(command)
            cli.add_command(command)


def _keep_examples(command: click.Command) -> None:
    r"""Make the ``\b`` lines of raw docstrings click's no-rewrap marker (the backspace character)."""
    if command.help:
        command.help = command.help.replace("\\b\n", "\b\n")
    for sub in getattr(command, "commands", {}).values():
        _keep_examples(sub)


_whole_names_in_help()
_register()


def main() -> None:
    """Run the ``cropedge`` command line (the console-script entry point)."""
    cli(prog_name="cropedge")


if __name__ == "__main__":
    sys.exit(main())
