"""Print the transfer table of docs/results.md from ``cropedge bench`` grid folders.

    python scripts/results_table.py GRID [GRID ...]

Reads every grid's result cells (float Keras rows, status ok) and prints one Markdown
table per model: a row per target (and per setting, the mean over its targets), columns
OA and macro-F1 without and with augmentation, each mean ± std over seeds. A setting's
mean is taken per seed first, so its std is the spread over seeds. The last lines check
the targets the synthetic data are calibrated for.
"""

from __future__ import annotations

import sys
from collections import defaultdict

import numpy as np

from cropedge.grid.rows import GridRow, read_rows

# table sections, in this order: (label, setting name in the grid, aligned?, source regions or
# None for any). Source rows are in-domain scores on the held-out source validation split.
SETTINGS = (
    ("in-domain (FRA held-out validation)", "source", False, "FRA"),
    ("cross-country", "cross_country", False, None),
    ("cross-continent", "cross_continent", False, None),
    ("cross-hemisphere", "cross_hemisphere", False, None),
    ("cross-hemisphere, aligned +182 d", "cross_hemisphere", True, None),
    ("cross-hemisphere, aligned auto", "cross_hemisphere_auto", True, None),
    ("WorldCereal (real), held-out south", "source", False, "30TYP+30TYT"),
    ("WorldCereal (real), south -> north", "worldcereal_france", False, None),
)
MODEL_NAMES = {"cropnet": "CropNet", "tempcnn": "TempCNN", "randomforest": "RandomForest"}


def load_rows(grids: list[str]) -> list[GridRow]:
    """The finished float Keras rows (status ok) of all grid folders."""
    rows = [row for grid in grids for row in read_rows(grid)]  # the cells: complete even mid-run
    return [r for r in rows if r.status == "ok" and r.precision == "keras"]


def per_seed(rows: list[GridRow], model: str, setting: str, aligned: bool, source: str | None,
             augment: bool) -> dict[str, dict[int, GridRow]]:
    """{target: {seed: row}} for one table cell group."""
    out: dict[str, dict[int, GridRow]] = defaultdict(dict)
    for r in rows:
        if (r.model, r.setting, bool(r.aligned), bool(r.augment)) == (model, setting, aligned, augment) \
                and source in (None, r.source):
            out[r.target][int(r.seed)] = r
    return dict(sorted(out.items()))


def seed_values(by_seed: dict[int, GridRow], key: str) -> np.ndarray:
    """The ``key`` metric of each seed's row, in seed order."""
    return np.array([getattr(by_seed[s], key) for s in sorted(by_seed)], dtype=np.float64)


def setting_values(targets: dict[str, dict[int, GridRow]], key: str) -> np.ndarray:
    """Per seed, the mean over the setting's targets (seeds every target has)."""
    seeds = sorted(set.intersection(*(set(t) for t in targets.values())))
    return np.array([np.mean([getattr(targets[t][s], key) for t in targets]) for s in seeds], dtype=np.float64)


def fmt(v: np.ndarray | None) -> str:
    """``mean ± std`` of per-seed values (just the mean for one seed; empty for none)."""
    if v is None or len(v) == 0:
        return ""
    return f"{v.mean():.3f} ± {v.std():.3f}" if len(v) > 1 else f"{v.mean():.3f}"


def model_table(rows: list[GridRow], model: str) -> tuple[list[str], dict]:
    """Markdown lines of one model's table, and the setting means (for the target check)."""
    lines = [f"### {MODEL_NAMES.get(model, model)}", "",
             "| setting | target | n | OA, no aug. | macro-F1, no aug. | OA, aug. | macro-F1, aug. |",
             "|---|---|---|---|---|---|---|"]
    means: dict = {}
    for label, setting, aligned, source in SETTINGS:
        groups = {aug: per_seed(rows, model, setting, aligned, source, aug) for aug in (False, True)}
        names = sorted(set(groups[False]) | set(groups[True]))
        if not names:
            continue
        for name in names:
            cells, n, days = [], "", []
            for aug in (False, True):
                by_seed = groups[aug].get(name, {})
                cells += [fmt(seed_values(by_seed, k)) if by_seed else "" for k in ("oa", "macro_f1")]
                n = next((r.n for r in by_seed.values()), n)
                days += [r.season_offset_days or 0.0 for r in by_seed.values()]
            target = name + (f" ({np.mean(days):+.0f} d)" if aligned else "")
            lines.append(f"| {label} | {target} | {n} | " + " | ".join(cells) + " |")
        if len(names) > 1:
            cells = []
            for aug in (False, True):
                present = {t: by_seed for t, by_seed in groups[aug].items() if by_seed}
                cells += [f"**{fmt(setting_values(present, k))}**" if present else "" for k in ("oa", "macro_f1")]
                means[(label, aug)] = setting_values(present, "oa") if present else None
            lines.append(f"| {label} | **mean** | | " + " | ".join(cells) + " |")
        else:
            for aug in (False, True):
                by_seed = groups[aug].get(names[0])
                means[(label, aug)] = seed_values(by_seed, "oa") if by_seed else None
    return lines + [""], means


def target_check(means: dict) -> list[str]:
    """The calibration targets of the synthetic data, on CropNet's OA means."""
    in_domain, hemisphere = SETTINGS[0][0], SETTINGS[3][0]
    src, hemi, hemi_aug = (means.get(k) for k in ((in_domain, False), (hemisphere, False), (hemisphere, True)))
    if src is None or hemi is None:
        return []
    lines = [f"* in-domain OA (no aug.) {src.mean():.3f}: target >= 0.90 {'met' if src.mean() >= 0.90 else 'MISSED'}",
             f"* cross-hemisphere drop without aug. {100 * (src.mean() - hemi.mean()):.1f} points: target >= 15 "
             f"{'met' if src.mean() - hemi.mean() >= 0.15 else 'MISSED'}"]
    if hemi_aug is not None:
        gain = hemi_aug.mean() - hemi.mean()
        lines.append(f"* cross-hemisphere gain from aug. {100 * gain:+.1f} points: target >= +5 "
                     f"{'met' if gain >= 0.05 else 'MISSED'}")
    return lines


def main(grids: list[str]) -> None:
    """Print one Markdown table per model found in ``grids``, then CropNet's target check."""
    rows = load_rows(grids)
    models = [m for m in MODEL_NAMES if any(r.model == m for r in rows)]
    models += sorted({r.model for r in rows} - set(models))
    check: list[str] = []
    for model in models:
        lines, means = model_table(rows, model)
        print("\n".join(lines))
        if model == "cropnet":
            check = target_check(means)
    if check:
        print("Targets (CropNet, OA):\n" + "\n".join(check))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
