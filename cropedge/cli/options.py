"""Options and parameter types shared by several verbs, defined once."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

quiet_option = click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")


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

_READER_FLAGS: dict[str, Any] = {
    "layout": lambda: click.option(
        "--layout", type=click.Choice(["band-major", "time-major"]),
        help="Column order of bare numbered columns (f0.., b0.., 0..: bands x dates); overrides the header.",
    ),
    "bands": lambda: click.option(
        "--bands", metavar="B2,B3,...",
        help="Bands to keep or, for numbered columns, their order: Sentinel-2 (B2, B8A, nir), or any "
        "names (SR_B5, VV, NDVI) [default: the Sentinel-2 bands present, else all].",
    ),
    "label_col": lambda: click.option(
        "--label-col", help="Label column, by name or position [default: label, class, crop, code, ... or "
        "ewoc_code; column 0 without a header row].",
    ),
    "id_col": lambda: click.option("--id-col", help="Sample id column, by name or position [default: id, ...]."),
    "region_col": lambda: click.option(
        "--region-col", help="Region column, by name or position [default: region, country, tile; else the file name].",
    ),
    "classes": lambda: click.option("--classes", help="Names of numeric labels 0,1,2,... in order, comma-separated."),
    "nodata": lambda: click.option(
        "--nodata", type=float, multiple=True,
        help="A value meaning 'no observation', e.g. 0 (repeatable); 65535, NaN, inf and |values| >= 1e30 always are.",
    ),
    "year": lambda: click.option(
        "--year", type=int, help="Calendar year to keep when a series spans more than a year "
        "[default: the labels' year, else the year with the most dates].",
    ),
    "encoding": lambda: click.option(
        "--encoding", help="Text encoding of a CSV, e.g. latin-1 [default: UTF-8, or UTF-16/32 by byte-order mark].",
    ),
    "no_header": lambda: click.option(
        "--no-header", is_flag=True, default=None,
        help="The CSV's first line is data (found by itself when it is numbers); columns go by position.",
    ),
    "legend": lambda: click.option(
        "--legend", help="Legend in class_mappings.json for WorldCereal ewoc_code labels [default: CROPTYPE24].",
    ),
    "legend_file": lambda: click.option(
        "--legend-file", type=click.Path(dir_okay=False, path_type=Path),
        help="WorldCereal class_mappings.json [default: beside the data file].",
    ),
    "groups": lambda: click.option(
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
