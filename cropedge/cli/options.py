"""Options and parameter types shared by several verbs, defined once.

One vocabulary across verbs: ``-o/--out``, ``--recipe``, ``--seeds 0,1,2``, ``--batch-size``,
``--profile``, ``--json``, ``-q/--quiet``, ``--verbose``. Old spellings stay as hidden aliases
(accepted, left out of ``--help`` and of messages). Every default shown in ``--help`` is read
from the code (the dataclasses, registries and constants the library uses) when the help is
printed, and shown one way, click's ``[default: ...]``; help strings never spell one out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from cropedge import console


class Opt(click.Option):
    """A click option with hidden aliases, a default shown from the code, and help built lazily.

    Args:
        param_decls: The flags (and name) as for ``click.Option``.
        aliases: Old spellings that set the same value; accepted, never shown.
        shown: Returns the default to show in ``--help``: a string as it is, or a value
            (``show_value``); default: the option's own default when that is a callable.
        help: The help text, or a callable returning it (help that quotes the code).
        **attrs: Anything else ``click.Option`` takes.
    """

    def __init__(
        self,
        param_decls: list[str],
        aliases: tuple[str, ...] = (),
        shown: Callable[[], Any] | None = None,
        help: str | Callable[[], str] | None = None,  # noqa: A002 - click's own name
        **attrs: Any,
    ) -> None:
        """Make the option; see the class docstring."""
        super().__init__([*param_decls, *aliases], help=help if not callable(help) else None, **attrs)
        self.aliases, self.lazy_help = tuple(aliases), help if callable(help) else None
        default = attrs.get("default")
        self.shown = shown if shown is not None else (default if callable(default) else None)

    @contextlib.contextmanager
    def _aliases_hidden(self) -> Iterator[None]:
        opts, secondary = self.opts, self.secondary_opts
        self.opts = [o for o in opts if o not in self.aliases]
        self.secondary_opts = [o for o in secondary if o not in self.aliases]
        try:
            yield
        finally:
            self.opts, self.secondary_opts = opts, secondary

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        """The help line, without the aliases, with the lazily built help text."""
        if self.lazy_help is not None:
            self.help = self.lazy_help()
        with self._aliases_hidden():
            return super().get_help_record(ctx)

    def get_help_extra(self, ctx: click.Context) -> Any:
        """Click's ``[default: ...; range]``, the default read from the code."""
        extra = super().get_help_extra(ctx)
        if self.shown is not None:
            text = self.show_value(self.shown())
            if text:
                extra["default"] = text
            else:
                extra.pop("default", None)
        return extra

    def show_value(self, value: Any) -> str:
        """A default as ``--help`` shows it: flag pairs by the flag's name, lists comma-separated."""
        if isinstance(value, bool) and self.secondary_opts:
            with self._aliases_hidden():
                return (self.opts if value else self.secondary_opts)[0].lstrip("-")
        return show_value(value)

    def get_error_hint(self, ctx: click.Context | None) -> str:
        """The option's name in error messages, without the aliases."""
        with self._aliases_hidden():
            return super().get_error_hint(ctx)


class Command(click.Command):
    """A click command whose help may be a callable: help that quotes the code, built when shown."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Make the command; ``help`` may be a callable returning the text."""
        text = kwargs.pop("help", None)
        self.lazy_help = text if callable(text) else None
        super().__init__(*args, help=None if callable(text) else text, **kwargs)

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Build the help text, then format it as click does."""
        if self.lazy_help is not None:
            self.help = self.lazy_help()
        super().format_help_text(ctx, formatter)


class OrderedGroup(click.Group):
    """A group listing its verbs in the order they were added (pipeline order), not alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The verbs' names, in the order they were added."""
        return list(self.commands)


def show_value(value: Any) -> str:
    """``0.2``, ``1e-4``, ``1,256``, ``on``: a default as ``--help`` shows it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple | list):
        return ",".join(show_value(v) for v in value)
    return "" if value is None else str(value)


def option(*param_decls: str, **attrs: Any) -> Callable[[Any], Any]:
    """``click.option`` with ``Opt``'s aliases, shown default and lazy help."""
    return click.option(*param_decls, cls=Opt, **attrs)


def field_default(cls: type, name: str) -> Any:
    """The default of dataclass ``cls``'s field ``name`` (its factory called)."""
    field = {f.name: f for f in dataclasses.fields(cls)}[name]
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    if field.default is dataclasses.MISSING:
        raise AssertionError(f"{cls.__name__}.{name} has no default to show")
    return field.default


def _verbose(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:  # before the command imports TensorFlow or LiteRT (an eager option runs first)
        console.set_verbose()


quiet_option = option("--quiet", "-q", is_flag=True, help="Print nothing on success; errors still go to stderr.")
verbose_option = option(
    "--verbose", is_flag=True, is_eager=True, expose_value=False, callback=_verbose,
    help="Also print the log lines of TensorFlow, absl and LiteRT (held back otherwise).",
)
json_option = option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")


def console_options(command: Any) -> Any:
    """``--verbose`` and ``-q/--quiet``: what every verb prints."""
    return verbose_option(quiet_option(command))


def out_option(help_text: str, **attrs: Any) -> Callable[[Any], Any]:
    """``-o/--out``: where a verb writes, the same flag on every verb."""
    name = attrs.pop("name", "out")
    return option("--out", "-o", name, help=help_text, **attrs)


def recipe_option(**attrs: Any) -> Callable[[Any], Any]:
    """``--recipe`` (``--config`` is an old spelling): a training/*.toml transfer setting."""
    name = attrs.pop("name", "recipe_path")
    attrs.setdefault("help", "Recipe (training/*.toml); options given here override it.")
    return option("--recipe", name, aliases=("--config",), metavar="TOML",
                  type=click.Path(exists=True, dir_okay=False, path_type=Path), **attrs)


# counts that must be >= 1 (epochs, batch, threads): click rejects 0 and negatives with exit 2
POSITIVE_INT = click.IntRange(min=1)

# numpy's legacy seeding (np.random.seed, which keras.utils.set_random_seed calls) takes 0 .. 2**32 - 1
SEED_MIN, SEED_MAX = 0, 2**32 - 1


class FiniteFloat(click.FloatRange):
    """A real number, optionally within a range; ``nan`` and ``inf`` are refused.

    click's ``FloatRange`` lets ``nan`` through every bound (comparisons with it are false)
    and ``inf`` through an open one, which would switch a threshold off or a budget to
    "unlimited" without a word. Every threshold, budget, rate or size on the command line
    takes this type.
    """

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse ``value`` as a float; refuse non-finite values, then check the range."""
        number = click.types.FloatParamType.convert(self, value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


FINITE = FiniteFloat()


def check_seed(value: Any) -> int:
    """``value`` as a seed numpy and TensorFlow accept, or ``ValueError`` saying the range."""
    if isinstance(value, bool) or not isinstance(value, int) or not SEED_MIN <= value <= SEED_MAX:
        raise ValueError(f"seed {value!r} is not a whole number in {SEED_MIN}..{SEED_MAX}")
    return value


class Seed(click.ParamType):
    """One seed: a whole number in ``SEED_MIN..SEED_MAX``."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """Parse ``value`` into a seed; anything else is a usage error."""
        try:
            return check_seed(value if isinstance(value, int) else int(str(value).strip()))
        except ValueError:
            self.fail(f"{value!r} is not a whole number in {SEED_MIN}..{SEED_MAX}", param, ctx)


class SeedList(click.ParamType):
    """``0,1,2`` -> [0, 1, 2] (distinct seeds)."""

    name = "SEEDS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[int]:
        """Parse ``value`` into a list of distinct seeds; anything else is a usage error."""
        if isinstance(value, list):
            return value
        words = [s.strip() for s in str(value).split(",") if s.strip()]
        seeds = [Seed().convert(w, param, ctx) for w in words]
        if not seeds or len(set(seeds)) != len(seeds):
            self.fail(f"{value!r} must list distinct integers, e.g. 0,1,2", param, ctx)
        return seeds


class SeasonOffset(click.ParamType):
    """Days (a finite number) or ``auto``."""

    name = "DAYS|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float | str:
        """Parse ``value`` into days or ``"auto"``; anything else is a usage error."""
        from cropedge.data.align import AUTO

        if isinstance(value, str) and value.strip().lower() == AUTO:
            return AUTO
        return FINITE.convert(value, param, ctx)


def emit(result: Any, as_json: bool, quiet: bool, text: str) -> None:
    """Print ``result`` as JSON for machines, or ``text`` for people (unless quiet)."""
    if as_json:
        click.echo(json.dumps(result, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    elif not quiet:
        click.echo(text)


# --- reader options: one definition for every verb that reads data (data info, data import, predict) ---

def _usual(role: str, first: int) -> str:
    """The first usual names of a ``role`` column (``cropedge.data.columns``), for ``--help``."""
    from cropedge.data.columns import ROLE_NAMES

    names = ROLE_NAMES[role]
    return ", ".join(names[:first]) + (", ..." if len(names) > first else "")


def _legend() -> str:
    from cropedge.data.worldcereal import DEFAULT_LEGEND

    return DEFAULT_LEGEND


_READER_FLAGS: dict[str, Any] = {
    "layout": lambda: option(
        "--layout", type=click.Choice(["band-major", "time-major"]),
        help="Column order of bare numbered columns (f0.., b0.., 0..: bands x dates); overrides the header.",
    ),
    "bands": lambda: option(
        "--bands", metavar="B2,B3,...",
        help="Bands to keep or, for numbered columns, their order: Sentinel-2 (B2, B8A, nir), or any "
        "names (SR_B5, VV, NDVI).", shown=lambda: "the Sentinel-2 bands present, else all",
    ),
    "label_col": lambda: option(
        "--label-col", help="Label column, by name or position.",
        shown=lambda: f"{_usual('label', 4)} or ewoc_code; column 0 without a header row",
    ),
    "id_col": lambda: option("--id-col", help="Sample id column, by name or position.",
                             shown=lambda: _usual("id", 2)),
    "region_col": lambda: option(
        "--region-col", help="Region column, by name or position.",
        shown=lambda: f"{_usual('region', 3)}; else the file name",
    ),
    "classes": lambda: option("--classes", help="Names of numeric labels 0,1,2,... in order, comma-separated."),
    "nodata": lambda: option(
        "--nodata", type=float, multiple=True,
        help="A value meaning 'no observation', e.g. 0 (repeatable); 65535, NaN, inf and |values| >= 1e30 always are.",
    ),
    "year": lambda: option(
        "--year", type=int, help="Calendar year to keep when a series spans more than a year.",
        shown=lambda: "the labels' year, else the year with the most dates",
    ),
    "encoding": lambda: option(
        "--encoding", help="Text encoding of a CSV, e.g. latin-1.",
        shown=lambda: "UTF-8, or UTF-16/32 by byte-order mark",
    ),
    "no_header": lambda: option(
        "--no-header", is_flag=True, default=None,
        help="The CSV's first line is data (found by itself when it is numbers); columns go by position.",
    ),
    "legend": lambda: option(
        "--legend", help="Legend in class_mappings.json for WorldCereal ewoc_code labels.", shown=_legend,
    ),
    "legend_file": lambda: option(
        "--legend-file", type=click.Path(dir_okay=False, path_type=Path),
        help="WorldCereal class_mappings.json.", shown=lambda: "beside the data file",
    ),
    "groups": lambda: option(
        "--group", "groups", multiple=True, metavar="NAME=R1+R2",
        help="Merge regions under one name, e.g. south=30TYP+30TYT (repeatable).",
    ),
}  # fmt: skip


def reader_options(skip: tuple[str, ...] = ()) -> Any:
    """Decorator adding a flag for each option of ``cropedge.data.load.OPTIONS`` (and ``--group``).

    ``skip`` leaves out options the verb defines itself (``predict`` has its own ``--bands``).
    Values reach the command as keywords; ``reader_kwargs`` turns them into ``load_dataset``'s.
    """
    from cropedge.data.load import OPTIONS

    missing = [n for n in OPTIONS if n not in _READER_FLAGS]
    if missing:  # a reader option without a flag: add it above
        raise AssertionError(f"reader option(s) without a command-line flag: {', '.join(missing)}")
    names = [n for n in _READER_FLAGS if n in OPTIONS or n == "groups"]  # in the order above

    def decorate(command: Any) -> Any:
        for name in reversed(names):
            if name not in skip:
                command = _READER_FLAGS[name]()(command)
        return command

    return decorate


def reader_kwargs(opts: dict[str, Any]) -> dict[str, Any]:
    """Values of ``reader_options`` -> ``load_dataset`` keywords (unset options keep the reader's default)."""
    from cropedge.data import parse_groups

    out = {k: v for k, v in opts.items() if v not in (None, (), False)}
    if "classes" in out:
        out["classes"] = [c.strip() for c in out["classes"].split(",") if c.strip()]
    if "groups" in out:
        out["groups"] = parse_groups(out["groups"])
    return out
