"""Figures of the benchmark report (matplotlib, Agg backend: no display needed).

Each function takes summaries built by ``cropedge.grid.report`` and writes one PNG. Colour
always means the model, marker shape the precision, and in the scatter plots a filled
marker a model trained with augmentation and a hollow one without, so figures read the same
way throughout. Figures are drawn at the width the HTML report shows them (at most
``MAX_WIDTH_IN`` inches, at 96 CSS pixels per inch), so their text is never scaled down;
``DPI`` is higher than that for sharp lines on high-density screens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from cropedge.atomic import atomic_path

if TYPE_CHECKING:  # annotations only: matplotlib is imported when a figure is drawn
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PRECISION_MARKERS = {"keras": "*", "float32": "o", "float16": "s", "dynamic": "D", "int8": "^", "int8-qat": "v"}
# float reference dark, float exports blue, quantised exports warm: the drop reads at a glance
PRECISION_COLOURS = {"keras": "0.35", "float32": "tab:blue", "float16": "lightskyblue", "dynamic": "tab:purple",
                     "int8": "tab:orange", "int8-qat": "tab:red"}
DPI = 200
CSS_PX_PER_IN = 96  # how a browser sizes an image shown at its natural size: the report's <img> width
MAX_WIDTH_IN = 11.0  # the HTML report's content width (1100 CSS pixels): figures are drawn no wider
STYLE = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "xtick.labelsize": 10.5,
         "ytick.labelsize": 10.5, "legend.fontsize": 10.5, "legend.title_fontsize": 11, "figure.titlesize": 13}


def _plt() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def model_colours(models: Sequence[str]) -> dict[str, tuple]:
    """One tab10 colour (RGBA) per model, assigned in sorted name order."""
    cmap = _plt().get_cmap("tab10")
    return {m: cmap(i % 10) for i, m in enumerate(sorted(models))}


def _marker(precision: str) -> str:
    return PRECISION_MARKERS.get(precision, "P")


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points no other point beats on both cost (x, lower is better) and score (y, higher is better)."""
    front, best = [], -np.inf
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front


def _save(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:  # the temporary name keeps .png, which picks the format
        fig.savefig(tmp, dpi=DPI, bbox_inches="tight", pad_inches=0.08)
    _plt().close(fig)
    return path


def _grid(n: int, width: float, height: float, sharey: bool = True) -> tuple[Figure, list[Axes]]:
    """Figure with ``n`` panels (up to 3 per row, 2 x 2 for four), at most ``MAX_WIDTH_IN`` wide."""
    plt = _plt()
    cols = 2 if n == 4 else min(n, 3)
    rows = -(-n // cols)
    width = min(width, MAX_WIDTH_IN / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False, sharey=sharey)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _legends_below(fig: Figure, groups: list[tuple[str, list]]) -> None:
    """One legend under the panels, a column per group headed by the group's title in bold."""
    from matplotlib.lines import Line2D

    groups = [(t, h) for t, h in groups if h]
    rows = max(len(h) for _, h in groups) + 1
    handles = []
    for title, group in groups:  # the legend fills column by column: title, entries, blanks
        column = [Line2D([], [], ls="", label=title), *group]
        handles += column + [Line2D([], [], ls="", label=" ")] * (rows - len(column))
    legend = fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(groups),
                        frameon=False, handlelength=1.6, columnspacing=2.0)
    for i, text in enumerate(legend.get_texts()):
        if i % rows == 0:
            text.set_fontweight("bold")


def _styled(draw: Callable[..., Path]) -> Callable[..., Path]:
    """Draw with the report's font sizes without changing the caller's matplotlib settings."""

    def wrapper(*args: Any, **kwargs: Any) -> Path:
        with _plt().rc_context(STYLE):
            return draw(*args, **kwargs)

    wrapper.__doc__, wrapper.__name__ = draw.__doc__, draw.__name__
    return wrapper


def _scatter_panel(
    ax: Axes, variants: list[dict], x_of: Callable[[dict], float | None], colours: dict, budget: float | None,
    flag: Callable[[dict], bool],
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
        if flag(v):
            ax.plot(x, y, ls="", marker="x", ms=5, color="k", mew=1)
        points.append((x, y))
    front = pareto_front(points)
    if len(front) > 1:
        ax.step(*zip(*front, strict=True), where="post", color="0.4", ls="--", lw=1)  # (x, y) pairs
    if front:
        ax.plot(*zip(*front, strict=True), ls="", marker="o", ms=15, markerfacecolor="none", color="0.4", mew=0.8)
    _log_x(ax)
    if budget is not None:
        ax.axvline(budget, color="crimson", ls=":", lw=1.5)
        # inside the axes, left of the line: to its right the label would run into the next panel
        ax.annotate(f"budget {budget:g} ms", xy=(budget, 1), xycoords=("data", "axes fraction"), xytext=(-3, -3),
                    textcoords="offset points", ha="right", va="top", color="crimson", fontsize=9.5)


def _log_x(ax: Axes) -> None:
    """A log x axis labelled 1, 2, 5, 10, 20, ... in plain digits (no 10^x), light grid."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    from cropedge.device.latency import significant

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: significant(x, 2)))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="both", alpha=0.3)


@_styled
def accuracy_vs_cost(
    panels: list[tuple[str, list[dict]]],
    cost: str,
    xlabel: str,
    title: str,
    path: Path,
    budget: float | None = None,
    flag: tuple[str, Callable[[dict], bool]] | None = None,
) -> Path:
    """Macro-F1 against a cost (``latency_ms`` or ``size_kb``) per transfer setting, Pareto front dashed.

    Panels share the y axis.

    Args:
        panels: (panel title, deployable variant summaries) per panel.
        cost: the variant key plotted on the x axis.
        xlabel: x axis label (with unit).
        title: figure title.
        path: PNG to write.
        budget: draw the latency budget at this x, if given.
        flag: (legend label, predicate): variants to mark with a small cross (estimated latency
            among measured ones).
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    models = sorted({v["model"] for _, vs in panels for v in vs})
    found = {v["precision"] for _, vs in panels for v in vs}
    precisions = [p for p in PRECISION_MARKERS if p in found] + sorted(found - set(PRECISION_MARKERS))
    colours = model_colours(models)
    fig, axes = _grid(len(panels), 5.3, 3.7)
    flagged = False
    for i, (ax, (name, variants)) in enumerate(zip(axes, panels, strict=True)):  # one axis per panel
        _scatter_panel(ax, variants, lambda v: v.get(cost), colours, budget, flag[1] if flag else lambda v: False)
        flagged |= bool(flag) and any(flag[1](v) for v in variants)
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        if i % (2 if len(panels) == 4 else 3) == 0:
            ax.set_ylabel("macro-F1 (mean ± std, seeds)")
        ax.tick_params(labelleft=True)
    marks = [Line2D([], [], color="0.4", ls="--", marker="o", ms=11, markerfacecolor="none", label="Pareto front")]
    if budget is not None:
        marks.append(Line2D([], [], color="crimson", ls=":", lw=1.5, label="latency budget"))
    if flagged and flag:
        marks.append(Line2D([], [], ls="", marker="x", color="k", label=flag[0]))
    _legends_below(fig, [
        ("model (colour)", [Patch(color=colours[m], label=m) for m in models]),
        ("precision (marker)", [Line2D([], [], ls="", marker=_marker(p), ms=8, color="0.3", label=p)
                                for p in precisions]),
        ("training (fill)", [Patch(facecolor="0.3", edgecolor="0.3", label="augmented: filled"),
                             Patch(facecolor="none", edgecolor="0.3", label="no augmentation: hollow")]),
        ("marks", marks),
    ])
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


@_styled
def precision_difference(
    panels: list[dict],
    reference: str,
    path: Path,
) -> Path:
    """Macro-F1 of each exported precision minus ``reference``, per target; one panel per model.

    Each small point is one seed (the same run exported at both precisions), the larger marker
    with error bar the mean ± std over seeds. Panels share the y axis, centred on zero.

    Args:
        panels: dicts with ``title``, ``columns`` [(setting label, target label)],
            ``diffs`` {precision: [[per-seed differences] per column]} and ``shipped``
            {precision: [column indices]} (the recommended bundles, ringed).
        reference: what is subtracted (``float32``, or ``keras`` without a float32 export).
        path: PNG to write.
    """
    from matplotlib.lines import Line2D

    plt = _plt()
    precisions = list(dict.fromkeys(p for panel in panels for p in panel["diffs"]))
    widest = max(len(panel["columns"]) for panel in panels)
    fig, axes = plt.subplots(len(panels), 1, figsize=(min(MAX_WIDTH_IN, 2.2 + 0.75 * widest * max(len(precisions), 1)),
                                                      2.6 * len(panels) + 0.4), squeeze=False, sharey=True)
    # the seeds and the error bars, with room for a recommended bundle's ring at the edge
    spread = max([_reach(c) for panel in panels for cols in panel["diffs"].values() for c in cols if c], default=0.0)
    limit = max(0.02, 1.3 * spread)
    width = 0.7 / max(len(precisions), 1)
    rng = np.random.default_rng(0)  # jitter of the seed points: fixed, so a rebuilt report is identical
    ringed = False
    for ax, panel in zip(axes[:, 0], panels, strict=True):  # one row of axes per panel
        ax.axhline(0, color="0.2", lw=0.8)
        for j, p in enumerate(precisions):
            offset = (j - (len(precisions) - 1) / 2) * width
            colour = PRECISION_COLOURS.get(p, "0.5")
            for i, seeds in enumerate(panel["diffs"].get(p, [])):
                if not seeds:
                    continue
                x = i + offset
                ax.plot(x + rng.uniform(-width / 5, width / 5, len(seeds)), seeds, ls="", marker=".", ms=5,
                        color=colour, alpha=0.6)
                mean = float(np.mean(seeds))
                ax.errorbar(x, mean, yerr=float(np.std(seeds, ddof=1)) if len(seeds) > 1 else None, fmt=_marker(p),
                            ms=7, color=colour, mec="0.2", mew=0.6, capsize=3, lw=1)
                if i in panel["shipped"].get(p, []):
                    ax.plot(x, mean, ls="", marker="o", ms=15, markerfacecolor="none", color="k", mew=1.2)
                    ringed = True
        columns = panel["columns"]
        ax.set_xticks(range(len(columns)), [t for _, t in columns])
        ax.set_xlim(-0.6, len(columns) - 0.4)
        _setting_separators(ax, columns, limit)
        ax.set_ylim(-limit, limit)
        ax.set_ylabel(f"Δ macro-F1 vs {reference}")
        ax.set_title(panel["title"], pad=16)
        ax.grid(True, axis="y", alpha=0.3)
    handles = [Line2D([], [], ls="", marker=_marker(p), ms=7, color=PRECISION_COLOURS.get(p, "0.5"), mec="0.2",
                      label=f"{p} − {reference}") for p in precisions]
    handles.append(Line2D([], [], ls="", marker=".", color="0.4", label="one seed"))
    if ringed:
        handles.append(Line2D([], [], ls="", marker="o", ms=11, markerfacecolor="none", color="k",
                              label="recommended bundle"))
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(handles), 4),
               frameon=False)
    fig.suptitle(f"What quantisation costs per target: macro-F1 minus {reference} (mean ± std over seeds; "
                 "shared y axis)")
    fig.tight_layout()
    return _save(fig, path)


def _reach(seeds: list[float]) -> float:
    """How far from zero one column's points and mean ± std error bar go."""
    std = float(np.std(seeds, ddof=1)) if len(seeds) > 1 else 0.0
    return max(max(abs(d) for d in seeds), abs(float(np.mean(seeds))) + std)


def _setting_separators(ax: Axes, columns: list[tuple[str, str]], top: float) -> None:
    """Vertical lines between settings and the setting's name above its targets."""
    start = 0
    for i in range(1, len(columns) + 1):
        if i == len(columns) or columns[i][0] != columns[start][0]:
            ax.text((start + i - 1) / 2, top, columns[start][0], ha="center", va="bottom", fontsize=9, color="0.3")
            if i < len(columns):
                ax.axvline(i - 0.5, color="0.6", lw=0.8)
            start = i


@_styled
def augmentation_effect(panels: list[tuple[str, list[dict]]], path: Path) -> Path:
    """Macro-F1 of each model with and without augmentation (and season alignment), per setting.

    Panels share the y axis (0 to 1).

    Args:
        panels: (setting, variant summaries of the Keras float model) per setting.
        path: PNG to write.
    """
    from matplotlib.patches import Patch

    fig, axes = _grid(len(panels), 5.0, 3.4)
    styles = {(False, False): ("no augmentation", "0.75"), (True, False): ("augmentation", "tab:blue"),
              (False, True): ("no augm. + season alignment", "tab:olive"),
              (True, True): ("augm. + season alignment", "tab:green")}
    used = [k for k in styles if any((v["augment"], v["aligned"]) == k for _, vs in panels for v in vs)]
    for i, (ax, (name, variants)) in enumerate(zip(axes, panels, strict=True)):  # one axis per panel
        models = sorted({v["model"] for v in variants})
        here = [k for k in used if any((v["augment"], v["aligned"]) == k for v in variants)]
        width = 0.8 / max(len(here), 1)
        for j, key in enumerate(here):
            rows = {v["model"]: v for v in variants if (v["augment"], v["aligned"]) == key}
            xs = [k + (j - (len(here) - 1) / 2) * width for k, m in enumerate(models) if m in rows]
            ys = [rows[m]["f1_mean"] for m in models if m in rows]
            stds = [rows[m]["f1_std"] for m in models if m in rows]
            errors = None if all(s is None for s in stds) else [s or 0 for s in stds]
            ax.bar(xs, ys, width, yerr=errors, capsize=2, color=styles[key][1], error_kw={"lw": 0.8})
        ax.set_xticks(range(len(models)), models)
        ax.set_ylim(0, 1.0)
        if i % (2 if len(panels) == 4 else 3) == 0:
            ax.set_ylabel("macro-F1 on the targets")
        ax.tick_params(labelleft=True)
        ax.set_title(name)
        ax.grid(True, axis="y", alpha=0.3)
    _legends_below(fig, [("training", [Patch(color=styles[k][1], label=styles[k][0]) for k in used])])
    fig.suptitle("Augmentation and season alignment, Keras float model (error bars: std over seeds; shared y axis)")
    fig.tight_layout()
    return _save(fig, path)


@_styled
def confusion(matrix: np.ndarray, classes: list[str], title: str, path: Path) -> Path:
    """Row-normalised confusion matrix (colour: share of the true class) with counts written in."""
    plt = _plt()
    m = np.asarray(matrix, dtype=np.float64)
    keep = (m.sum(axis=0) + m.sum(axis=1)) > 0  # classes neither present nor predicted say nothing
    # strict=False keeps the old truncation when a caller's classes and matrix differ in length
    m, classes = m[np.ix_(keep, keep)], [c for c, k in zip(classes, keep, strict=False) if k]
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(0.62 * len(classes) + 2.8, 0.55 * len(classes) + 1.8))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=9,
                    color="white" if share[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=35, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
