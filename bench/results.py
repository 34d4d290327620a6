"""Shapes shared by every benchmark section: targets, ratios and the skip signal.

A ratio is always stored with the two measurements it divides, so a reader (or a test)
can check that it was computed from numbers this run measured.
"""

from __future__ import annotations

import operator


class Skip(Exception):
    """Raised by a section that cannot run here (missing package, nothing to measure)."""


_OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


def ratio(
    name: str,
    numerator: float,
    denominator: float,
    what: tuple[str, str],
    target: tuple[str, float] | None = None,
) -> dict:
    """A measured ratio ``numerator / denominator``, with its target (``("<=", 0.25)``) if any.

    Args:
        name: what the ratio means, e.g. ``"int8 / float32 latency"``.
        numerator: measured value on top.
        denominator: measured value below (must be > 0).
        what: labels of numerator and denominator, e.g. ``("int8 ms", "float32 ms")``.
        target: comparison and bound the ratio should meet.
    """
    value = float(numerator) / float(denominator)
    out = {
        "name": name,
        "value": value,
        "numerator": {"what": what[0], "value": float(numerator)},
        "denominator": {"what": what[1], "value": float(denominator)},
    }
    if target is not None:
        op, bound = target
        out["target"] = f"{op} {bound:g}"
        out["met"] = bool(_OPS[op](value, bound))
    return out
