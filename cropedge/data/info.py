"""What a dataset holds, for ``cropedge data info`` and ``data import``.

Counts, bands, time grid, classes, regions and what reading did (values filled,
samples left out).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cropedge.data.dataset import Dataset


def summarize(ds: Dataset) -> dict[str, Any]:
    """Plain-JSON summary of ``ds``."""
    labelled = ds.y >= 0
    assert ds.region is not None, "set by Dataset.__post_init__"
    regions, counts = np.unique(ds.region, return_counts=True)
    step = float(np.median(np.diff(ds.doy))) if len(ds.doy) > 1 else 0.0
    return {
        "source": ds.source,
        "samples": len(ds),
        "samples_read": len(ds) + ds.dropped + ds.ignored,
        "dropped_no_valid_value": ds.dropped,
        "ignored_by_legend": ds.ignored,
        "values_filled": ds.filled,
        "filled_fraction": round(ds.filled / max(ds.x.size, 1), 4),
        "bands": list(ds.bands),
        "time_steps": len(ds.doy),
        "doy_first": float(ds.doy[0]) if len(ds.doy) else None,
        "doy_last": float(ds.doy[-1]) if len(ds.doy) else None,
        "step_days": step,
        "classes": ds.class_counts(),
        "unlabelled": int((~labelled).sum()),
        "regions": {str(r): int(c) for r, c in zip(regions, counts, strict=False)},
        "notes": list(ds.notes),
    }


def format_summary(s: dict[str, Any]) -> str:
    """The summary as a few lines for people."""
    left_out = f"{s['dropped_no_valid_value']} dropped (no valid value)"
    if s["ignored_by_legend"]:
        left_out += f", {s['ignored_by_legend']} ignored by the legend"
    classes = ", ".join(f"{c} {n}" for c, n in s["classes"].items())
    if s["unlabelled"]:
        classes += f"{', ' if classes else ''}unlabelled {s['unlabelled']}"
    lines = [
        f"{s['source']}",
        f"  samples    {s['samples']} of {s['samples_read']} read; {left_out}",
        f"  bands      {len(s['bands'])}: {' '.join(s['bands'])}",
        f"  time steps {s['time_steps']} (day {s['doy_first']:.0f}..{s['doy_last']:.0f}, "
        f"every {s['step_days']:g} days)",
        f"  classes    {len(s['classes'])}: {classes}",
        f"  regions    {len(s['regions'])}: {', '.join(f'{r} {n}' for r, n in s['regions'].items())}",
        f"  filled     {s['values_filled']} values ({100 * s['filled_fraction']:.1f} %) by interpolation in time",
    ]
    lines += [f"  note       {n}" for n in s["notes"]]
    return "\n".join(lines)
