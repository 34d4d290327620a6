"""Figures of the benchmark report (matplotlib, Agg backend: no display needed).

Each function takes summaries built by ``cropedge.grid.report`` and writes one PNG. Colour
always means the model, marker shape the precision, a filled marker a model trained with
augmentation and a hollow one without, so figures read the same way throughout.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from cropedge.atomic import atomic_path

if TYPE_CHECKING:  # annotations only: matplotlib is imported when a figure is drawn
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PRECISION_MARKERS = {"keras": "*", "float32": "o", "float16": "s", "dynamic": "D", "int8": "^", "int8-qat": "v"}
# float reference dark, float exports blue, quantised exports warm: the drop reads at a glance
PRECISION_COLOURS = {"keras": "0.35", "float32": "tab:blue", "float16": "lightskyblue", "dynamic": "tab:purple",
                     "int8": "tab:orange", "int8-qat": "tab:red"}
DPI = 110


def _plt() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def model_colours(models: list[str]) -> dict[str, tuple]:
    """One tab10 colour (RGBA) per model, assigned in sorted name order."""
    plt = _plt()
    cmap = plt.get_cmap("tab10")
    return {m: cmap(i % 10) for i, m in enumerate(sorted(models))}


def _marker(precision: str) -> str:
    return PRECISION_MARKERS.get(precision, "P")


def _legend_handles(models: list[str], precisions: list[str], colours: dict, with_fill: bool) -> list:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="o", color=colours[m], label=m) for m in sorted(models)]
    handles += [Line2D([], [], ls="", marker=_marker(p), color="0.3", label=p) for p in precisions]
    if with_fill:
        handles += [
            Line2D([], [], ls="", marker="o", color="0.3", label="augmented"),
            Line2D([], [], ls="", marker="o", color="0.3", markerfacecolor="none", label="no augmentation"),
        ]
    return handles


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points no other point beats on both cost (x, lower is better) and score (y, higher is better)."""
    front, best = [], -np.inf
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front


def _yerr(stds: list) -> list | None:
    """Error bars from seed spreads; none at all when no group had two seeds (no spread to show)."""
    return None if all(v is None for v in stds) else [v or 0 for v in stds]


def _save(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:  # the temporary name keeps .png, which picks the format
        fig.savefig(tmp, dpi=DPI, bbox_inches="tight")
    _plt().close(fig)
    return path


def _panels(n: int, width: float = 4.6, height: float = 3.8) -> tuple[Figure, list[Axes]]:
    plt = _plt()
    cols = 2 if n == 4 else min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols + 1.8, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _scatter_panel(
    ax: Axes, variants: list[dict], x_of: Callable[[dict], float | None], colours: dict, budget: float | None
) -> None:
    points = []
    for v in variants:
        x, y = x_of(v), v["f1_mean"]
        if x is None or y is None:
            continue
        c = colours[v["model"]]
        if v["f1_std"] is not None:
            ax.errorbar(x, y, yerr=v["f1_std"], fmt="none", ecolor=c, alpha=0.5, lw=1)
        ax.plot(x, y, ls="", marker=_marker(v["precision"]), ms=8, color=c,
                markerfacecolor=c if v["augment"] else "none", mew=1.5)
        points.append((x, y))
    front = pareto_front(points)
    if len(front) > 1:
        xs, ys = zip(*front, strict=True)  # (x, y) pairs: always equal lengths
        ax.step(xs, ys, where="post", color="0.4", ls="--", lw=1, label="Pareto front")
    if front:
        ax.plot(*zip(*front, strict=True), ls="", marker="o", ms=15, markerfacecolor="none", color="0.4", mew=0.8)
    if budget is not None:
        ax.axvline(budget, color="crimson", ls=":", lw=1.5)
        ax.text(budget, ax.get_ylim()[0], " budget", color="crimson", va="bottom", ha="left", fontsize=8)
    ax.set_xscale("log")
    ax.grid(True, which="both", alpha=0.3)


def accuracy_vs_cost(
    panels: list[tuple[str, list[dict]]],
    cost: str,
    xlabel: str,
    title: str,
    path: Path,
    budget: float | None = None,
) -> Path:
    """Macro-F1 against a cost (``latency_ms`` or ``size_kb``) per transfer setting, Pareto front dashed.

    Args:
        panels: (panel title, deployable variant summaries) per panel.
        cost: the variant key plotted on the x axis.
        xlabel: x axis label (with unit).
        title: figure title.
        path: PNG to write.
        budget: draw the latency budget at this x, if given.
    """
    from matplotlib.lines import Line2D

    models = sorted({v["model"] for _, vs in panels for v in vs})
    precisions = list(dict.fromkeys(v["precision"] for _, vs in panels for v in vs))
    colours = model_colours(models)
    fig, axes = _panels(len(panels))
    for ax, (name, variants) in zip(axes, panels, strict=True):  # _panels gives one axis per panel
        _scatter_panel(ax, variants, lambda v: v.get(cost), colours, budget)
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("macro-F1 (mean ± std over seeds)")
    handles = _legend_handles(models, precisions, colours, with_fill=True)
    handles.append(Line2D([], [], color="0.4", ls="--", label="Pareto front (circled)"))
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def precision_drop(per_model: list[tuple[str, list[dict]]], precisions: list[str], path: Path) -> Path:
    """Bars of macro-F1 per target (grouped by setting) for each precision, one panel per model.

    Args:
        per_model: (model, target summaries with ``setting``, ``target``, ``precision``,
            ``f1_mean``, ``f1_std``) per model, targets in display order.
        precisions: bar order.
        path: PNG to write.
    """
    plt = _plt()
    fig, axes = plt.subplots(len(per_model), 1, figsize=(11, 3.4 * len(per_model)), squeeze=False)
    width = 0.8 / max(len(precisions), 1)
    for ax, (model, summaries) in zip(axes[:, 0], per_model, strict=True):  # one row of axes per model
        columns = list(dict.fromkeys((s["setting"], s["target"]) for s in summaries))
        index = {c: i for i, c in enumerate(columns)}
        for j, p in enumerate(precisions):
            rows = [s for s in summaries if s["precision"] == p]
            xs = [index[(s["setting"], s["target"])] + (j - (len(precisions) - 1) / 2) * width for s in rows]
            ax.bar(xs, [s["f1_mean"] for s in rows], width, yerr=_yerr([s["f1_std"] for s in rows]),
                   color=PRECISION_COLOURS.get(p, "0.6"), capsize=2, label=p, error_kw={"lw": 0.8})
        ax.set_xticks(range(len(columns)), [t for _, t in columns])
        _setting_separators(ax, columns)
        ax.set_ylim(0, 1.08)
        ax.set_ylabel("macro-F1")
        ax.set_title(f"{model}: accuracy per target and precision (error bars: std over seeds)")
        ax.grid(True, axis="y", alpha=0.3)
    axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, title="precision")
    fig.tight_layout()
    return _save(fig, path)


def _setting_separators(ax: Axes, columns: list[tuple[str, str]]) -> None:
    """Vertical lines between settings and the setting's name above its targets."""
    start = 0
    for i in range(1, len(columns) + 1):
        if i == len(columns) or columns[i][0] != columns[start][0]:
            ax.text((start + i - 1) / 2, 1.02, columns[start][0].replace("_", " "), ha="center", va="bottom",
                    fontsize=8, color="0.3")
            if i < len(columns):
                ax.axvline(i - 0.5, color="0.6", lw=0.8)
            start = i


def augmentation_effect(panels: list[tuple[str, list[dict]]], path: Path) -> Path:
    """Macro-F1 of each model with and without augmentation (and season alignment), per setting.

    Args:
        panels: (setting, variant summaries of the Keras float model) per setting.
        path: PNG to write.
    """
    fig, axes = _panels(len(panels), width=4.4, height=3.6)
    styles = {(False, False): ("no augmentation", "0.75"), (True, False): ("augmentation", "tab:blue"),
              (False, True): ("no augm. + season alignment", "tab:olive"),
              (True, True): ("augm. + season alignment", "tab:green")}
    used = [k for k in styles if any((v["augment"], v["aligned"]) == k for _, vs in panels for v in vs)]
    for ax, (name, variants) in zip(axes, panels, strict=True):  # _panels gives one axis per panel
        models = sorted({v["model"] for v in variants})
        here = [k for k in used if any((v["augment"], v["aligned"]) == k for v in variants)]
        width = 0.8 / max(len(here), 1)
        for j, key in enumerate(here):
            rows = {v["model"]: v for v in variants if (v["augment"], v["aligned"]) == key}
            xs = [i + (j - (len(here) - 1) / 2) * width for i, m in enumerate(models) if m in rows]
            ys = [rows[m]["f1_mean"] for m in models if m in rows]
            es = _yerr([rows[m]["f1_std"] for m in models if m in rows])
            ax.bar(xs, ys, width, yerr=es, capsize=2, color=styles[key][1], label=styles[key][0], error_kw={"lw": 0.8})
        ax.set_xticks(range(len(models)), models, rotation=15)
        ax.set_ylim(0, 1.0)
        ax.set_ylabel("macro-F1 on the targets")
        ax.set_title(name)
        ax.grid(True, axis="y", alpha=0.3)
    from matplotlib.patches import Patch

    handles = [Patch(color=styles[k][1], label=styles[k][0]) for k in used]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.suptitle("Effect of augmentation and season alignment (Keras float model; error bars: std over seeds)")
    fig.tight_layout()
    return _save(fig, path)


def confusion(matrix: np.ndarray, classes: list[str], title: str, path: Path) -> Path:
    """Row-normalised confusion matrix (colour: share of the true class) with counts written in."""
    plt = _plt()
    m = np.asarray(matrix, dtype=np.float64)
    keep = (m.sum(axis=0) + m.sum(axis=1)) > 0  # classes neither present nor predicted say nothing
    # strict=False keeps the old truncation when a caller's classes and matrix differ in length
    m, classes = m[np.ix_(keep, keep)], [c for c, k in zip(classes, keep, strict=False) if k]
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 * len(classes) + 2.5, 0.9 * len(classes) + 1.8))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=35, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
