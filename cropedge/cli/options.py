"""Options shared by several verbs, defined once."""

from __future__ import annotations

import json
from typing import Any

import click

quiet_option = click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")


# counts that must be >= 1 (epochs, batch, threads): click rejects 0 and negatives with exit 2
POSITIVE_INT = click.IntRange(min=1)


def emit(result: Any, as_json: bool, quiet: bool, text: str) -> None:
    """Print ``result`` as JSON for machines, or ``text`` for people (unless quiet)."""
    if as_json:
        click.echo(json.dumps(result, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    elif not quiet:
        click.echo(text)
