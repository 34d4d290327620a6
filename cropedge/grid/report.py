"""Benchmark report: figures, tables and a "what to ship" line per transfer setting.

Built from grid folders alone (``GRID/cells/*.json``, see ``cropedge.grid.bench``), so a report is
rebuilt without re-running anything, and shards of one grid are merged by passing all their
folders. Writes ``report.md`` (PNG figures beside it), a self-contained ``report.html``
(figures embedded as data URIs) and ``report.json`` (the summaries the tables show).

Accuracy is macro-F1 (the CropGlobe metric: mean F1 over the classes present in a target)
averaged over a setting's targets, then mean ± std over seeds. Latency, what bundles are
ranked by, is that of the device: measured there by ``firmware_bench`` (``device_latency``),
else estimated from the profile's throughput, else (a profile without one) the grid
machine's, named as such. Everything is read and checked before the output folder is made.
"""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
import struct
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cropedge.atomic import check_writable, write_json, write_text
from cropedge.device.latency import significant
from cropedge.errors import CropEdgeError
from cropedge.signals import held, raise_if_interrupted
from cropedge.grid.device_latency import (
    ESTIMATED,
    MEASURED,
    LatencySource,
    closest_setting,
    describe_setting,
    sources,
)
from cropedge.grid.rows import CHECK_FAILED, FAILED, KERAS, OK, SOURCE_SETTING, STATUS_TEXT, GridRow, read_rows

if TYPE_CHECKING:  # annotations only: the profile module is imported where it is used
    from cropedge.device.profile import DeviceProfile

# the paper's settings, from the mildest shift to the hardest; others follow alphabetically
SETTING_ORDER = ("cross_country", "cross_continent", "cross_hemisphere")
TIE_F1 = 0.01  # macro-F1 differences below this do not decide what to ship; latency does
_STATUS_RANK = {OK: 0, CHECK_FAILED: 1, FAILED: 2}
# tables list precisions in this order (the float reference first, then the exports from large to small)
PRECISION_ORDER = (KERAS, "float32", "float16", "dynamic", "int8", "int8-qat")
REPORT_FILES = ("report.html", "report.md", "report.json")


# --- rows -----------------------------------------------------------------------------


def load_rows(grids: Iterable[str | Path]) -> list[GridRow]:
    """Rows of all grid folders, one per cell, each checked (``read_rows``).

    A cell found in several folders (overlapping shards) keeps its best status, then its
    newest result.
    """
    best: dict[str, GridRow] = {}
    for grid in grids:
        for row in read_rows(grid):
            old = best.get(row.key)
            if old is None or _preference(row) < _preference(old):
                best[row.key] = row
    if not best:
        raise CropEdgeError("the grid folders hold no results yet: run 'cropedge bench' first")
    return sorted(best.values(), key=lambda r: r.key)


def _preference(row: GridRow) -> tuple:
    return _STATUS_RANK.get(row.status, 3), _negated(row.created or "")


def _negated(text: str) -> tuple:
    return tuple(-ord(c) for c in text)


def latency_of(row: GridRow, batch: int, threads: int, stat: str = "median_ms") -> float | None:
    """One latency statistic of a row at (batch, threads), or None if not measured."""
    for lat in row.latency or []:
        if lat.batch == batch and lat.threads == threads:
            return getattr(lat, stat)
    return None


def grid_setting(rows: list[GridRow], profile: DeviceProfile) -> tuple[int, int]:
    """The (batch, threads) the grid machine measured closest to the profile's."""
    pairs = ((lat.batch, lat.threads) for r in rows for lat in r.latency or [])
    return closest_setting(pairs, profile.batch_size, profile.threads) or (profile.batch_size, profile.threads)


def _precision_rank(precision: str) -> tuple:
    return (PRECISION_ORDER.index(precision), "") if precision in PRECISION_ORDER else (len(PRECISION_ORDER), precision)


def _setting_rank(setting: str) -> tuple:
    return (SETTING_ORDER.index(setting), "") if setting in SETTING_ORDER else (len(SETTING_ORDER), setting)


# --- summaries ------------------------------------------------------------------------


def _spread(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (None with fewer than two values)."""
    if not values:
        return None, None
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), (float(a.std(ddof=1)) if a.size > 1 else None)


def _scored(rows: list[GridRow]) -> list[GridRow]:
    """Rows that carry accuracy (ok, or exported with a failed check)."""
    return [r for r in rows if r.scored]


def target_summaries(rows: list[GridRow]) -> list[dict]:
    """Mean ± std over seeds per (setting, target, model, precision, augment, aligned)."""
    groups: dict[tuple, list[GridRow]] = defaultdict(list)
    for r in _scored(rows):
        groups[(r.setting, r.target, r.model, r.precision, r.augment, r.aligned)].append(r)
    out = []
    for (setting, target, model, precision, augment, aligned), rs in sorted(groups.items(), key=lambda kv: str(kv[0])):
        f1_mean, f1_std = _spread([r.macro_f1 for r in rs])
        oa_mean, oa_std = _spread([r.oa for r in rs])
        out.append({"setting": setting, "target": target, "model": model, "precision": precision,
                    "augment": augment, "aligned": aligned, "seeds": len(rs),
                    "f1_mean": f1_mean, "f1_std": f1_std, "oa_mean": oa_mean, "oa_std": oa_std})
    return out


def variant_summaries(rows: list[GridRow], setting: tuple[int, int]) -> list[dict]:
    """One line per (setting, model, precision, augment, aligned), in table order.

    Accuracy is averaged over the setting's targets per seed, then mean ± std over seeds;
    each line also has size, complexity, the grid machine's latency at ``setting`` (batch,
    threads) and statuses. Sorted by setting, model, augmentation, alignment and precision
    (``PRECISION_ORDER``).
    """
    batch, threads = setting
    groups: dict[tuple, list[GridRow]] = defaultdict(list)
    for r in rows:
        groups[(r.setting, r.model, r.precision, bool(r.augment), bool(r.aligned))].append(r)
    out = []
    for (name, model, precision, augment, aligned), rs in groups.items():
        scored = _scored(rs)
        by_seed: dict[int, list[GridRow]] = defaultdict(list)
        for r in scored:
            by_seed[r.seed].append(r)
        f1_mean, f1_std = _spread([float(np.mean([r.macro_f1 for r in s])) for s in by_seed.values()])
        oa_mean, oa_std = _spread([float(np.mean([r.oa for r in s])) for s in by_seed.values()])
        targets = defaultdict(list)
        for r in scored:
            targets[r.target].append(r.macro_f1)
        latency = [v for v in (latency_of(r, batch, threads) for r in scored) if v is not None]
        p95 = [v for v in (latency_of(r, batch, threads, "p95_ms") for r in scored) if v is not None]
        single = [v for v in (latency_of(r, 1, 1) for r in scored) if v is not None]
        sizes = [r.size_bytes for r in scored if r.size_bytes]
        statuses = {s: sum(r.status == s for r in rs) for s in (OK, CHECK_FAILED, FAILED)}
        out.append({
            "setting": name, "model": model, "precision": precision, "augment": augment, "aligned": aligned,
            "seeds": len(by_seed), "f1_mean": f1_mean, "f1_std": f1_std, "oa_mean": oa_mean, "oa_std": oa_std,
            "targets": {t: float(np.mean(v)) for t, v in sorted(targets.items())},
            "size_kb": float(np.mean(sizes)) / 1024 if sizes else None,
            "params": next((r.params for r in scored if r.params), None),
            "macs": next((r.macs for r in rs if r.macs), None),
            "grid_latency_ms": float(np.median(latency)) if latency else None,
            "grid_latency_p95_ms": float(np.median(p95)) if p95 else None,
            "grid_latency_b1_t1_ms": float(np.median(single)) if single else None,
            "statuses": statuses,
            "deployable": precision != KERAS,
            "all_ok": statuses[OK] == len(rs) and f1_mean is not None,
        })
    out.sort(key=lambda v: (_setting_rank(v["setting"]), v["model"], v["augment"], v["aligned"],
                            _precision_rank(v["precision"])))
    return out


def with_latency(variants: list[dict], source: LatencySource) -> list[dict]:
    """The variants with ``latency_ms``, ``latency_p95_ms``, ``latency_kind`` and ``pixels_per_s`` from ``source``.

    Only exported bundles get one (the Keras model does not run on the device).
    """
    out = []
    for v in variants:
        lat = source.latency(v["model"], v["precision"], v["macs"]) if v["deployable"] else None
        out.append({**v, "latency_ms": lat.median_ms if lat else None, "latency_p95_ms": lat.p95_ms if lat else None,
                    "latency_kind": lat.kind if lat else None,
                    "pixels_per_s": source.batch / (lat.median_ms / 1e3) if lat and lat.median_ms > 0 else None})
    return out


def choose_bundle(variants: list[dict], setting: str, budget_ms: float | None, tie: float = TIE_F1) -> dict | None:
    """The bundle to ship for ``setting``, or None when no variant qualifies.

    Among deployable variants whose every cell passed and whose latency fits the budget (no
    budget: all), the fastest of those within ``tie`` macro-F1 of the most accurate (a 4x
    slower model is not worth +0.001).
    """
    fitting = [
        v for v in variants
        if v["setting"] == setting and v["deployable"] and v["all_ok"] and v["latency_ms"] is not None
        and (budget_ms is None or v["latency_ms"] <= budget_ms)
    ]
    if not fitting:
        return None
    best = max(v["f1_mean"] for v in fitting)
    return min((v for v in fitting if v["f1_mean"] >= best - tie), key=lambda v: (v["latency_ms"], -v["f1_mean"]))


def weakest_target(variant: dict) -> tuple[str, float] | None:
    """(target, macro-F1) where a variant scores lowest: the hardest target for that bundle."""
    return min(variant["targets"].items(), key=lambda kv: kv[1], default=None)


def budget_at(profile: DeviceProfile, source: LatencySource) -> float | None:
    """The profile's latency budget at the source's batch size (the same pixels per second)."""
    if profile.latency_budget_ms is None:
        return None
    return profile.latency_budget_ms * source.batch / profile.batch_size


# --- the report -----------------------------------------------------------------------


def build_report(
    grids: Sequence[str | Path],
    out: str | Path,
    profile: str | Path | None = None,
    device_latency: Sequence[str | Path] = (),
) -> dict:
    """Write report.md, report.html, report.json and the PNG figures into ``out``.

    Every input (cells, profile, firmware_bench files, the grid's bundle metadata when
    device files are given) is read and checked first; ``out`` is made only then, and its
    files appear together.

    Args:
        grids: grid folders (shards of one grid, or grids to compare).
        out: output folder.
        profile: device profile (``export/*.toml`` or a bare name) giving the latency budget,
            batch size, threads and throughput; default ``pi4``.
        device_latency: ``firmware_bench --json`` files measured on devices; the first
            device decides what to ship, each gets a table and its own ship lines.

    Returns:
        ``{"report_html", "report_md", "report_json", "figures": [...], "ship": {setting: line},
        "ship_lines": [line, ...], "latency": {...}}``.
    """
    from cropedge.device.profile import default_profile, load_profile

    out = Path(out)
    rows = load_rows(grids)
    device = load_profile(profile) if profile is not None else default_profile()
    _check_throughputs(device)
    latency_sources = sources(rows, grids, device, device_latency)
    check_writable(out)
    base = variant_summaries(rows, grid_setting(rows, device))
    per_source = [with_latency(base, s) for s in latency_sources]
    variants, primary = per_source[0], latency_sources[0]
    targets = target_summaries(rows)
    settings = sorted({r.setting for r in rows} - {SOURCE_SETTING}, key=_setting_rank)
    ships = [{s: choose_bundle(vs, s, budget_at(device, src)) for s in settings}
             for vs, src in zip(per_source, latency_sources, strict=True)]
    ship = ships[0]
    lines = {src.name: {s: _ship_line(s, sh[s], src, device, vs) for s in settings}
             for src, sh, vs in zip(latency_sources, ships, per_source, strict=True)}
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=_existing_parent(out)))
    try:
        figures = _figures(rows, variants, settings, ship, primary, device, stage)
        blocks = _document(grids, rows, variants, settings, lines, latency_sources, device, ships, figures)
        write_text(stage / "report.md", render_markdown(blocks))
        write_text(stage / "report.html", render_html(blocks))
        summary = {"grids": [str(g) for g in grids], "profile": device.to_dict(),
                   "latency": [s.to_dict() for s in latency_sources], "ship": ship, "variants": variants,
                   "targets": targets}
        write_json(stage / "report.json", summary)
        names = [*REPORT_FILES, *(p.name for p, _ in figures)]
        _move_into(stage, out, names)
    except OSError as exc:  # disk full, a file size limit: nothing half-moved is left as a report
        raise CropEdgeError(f"cannot write the report into {out}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    ship_lines = [line if len(lines) == 1 else f"on {name}: {line}" for name, by in lines.items()
                  for line in by.values()]
    return {"report_html": out / "report.html", "report_md": out / "report.md", "report_json": out / "report.json",
            "figures": [out / p.name for p, _ in figures], "ship": lines[primary.name], "ship_lines": ship_lines,
            "latency": [s.to_dict() for s in latency_sources]}


def _check_throughputs(profile: DeviceProfile) -> None:
    from cropedge.export.exporter import PRECISION_NAMES

    unknown = sorted(set(profile.throughput_gmacs) - set(PRECISION_NAMES))
    if unknown:
        raise CropEdgeError(f"{profile.path}: 'runtime.throughput_gmacs' names unknown precision(s) "
                            f"{', '.join(unknown)} (known: {', '.join(PRECISION_NAMES)})")


def _existing_parent(out: Path) -> Path:
    """The folder the report's files are staged in: beside ``out``, on the same file system."""
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    return parent


def _move_into(stage: Path, out: Path, names: list[str]) -> None:
    """Move the staged files into ``out`` (made now), replacing a previous report's figures.

    Held: a signal waits for the last rename, so a report is never left half old and half new.
    """
    raise_if_interrupted()
    with held():
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("*.png"):  # figures of an earlier report that this one does not draw
            if old.name not in names and _is_report_figure(old.name):
                old.unlink()
        for name in names:
            os.replace(stage / name, out / name)


def _is_report_figure(name: str) -> bool:
    return name in FIGURE_NAMES or name.startswith("confusion")


FIGURE_NAMES = ("accuracy_vs_latency.png", "accuracy_vs_size.png", "precision_difference.png", "augmentation.png")


def _latency_words(source: LatencySource) -> str:
    """How a figure or table names the latency it shows."""
    if source.kind == MEASURED:
        return f"measured on {source.name}"
    if source.kind == ESTIMATED:
        return f"on {source.name.split(' (')[0]}, estimated from MACs (not measured)"
    return f"on {source.name}"


def _figures(
    rows: list[GridRow],
    variants: list[dict],
    settings: list[str],
    ship: dict[str, dict | None],
    source: LatencySource,
    profile: DeviceProfile,
    out: Path,
) -> list[tuple[Path, str]]:
    from cropedge.grid import figures as rf

    figures = []
    deploy = [v for v in variants if v["deployable"] and v["f1_mean"] is not None]
    panels = []
    for s in settings:
        for aligned in (False, True):
            vs = [v for v in deploy if v["setting"] == s and v["aligned"] == aligned]
            if vs:
                panels.append((_title(s) + (" (season-aligned)" if aligned else ""), vs))
    if panels:
        mixed = source.kind == MEASURED and any(v["latency_kind"] == ESTIMATED for _, vs in panels for v in vs)
        figures.append((rf.accuracy_vs_cost(
            panels, "latency_ms", f"ms per invoke ({source.describe()}, log)",
            f"Accuracy vs latency {_latency_words(source)}", out / "accuracy_vs_latency.png",
            budget=budget_at(profile, source),
            flag=("latency estimated, not measured", lambda v: v["latency_kind"] == ESTIMATED) if mixed else None),
            f"Accuracy against latency {_latency_words(source)}, per transfer setting; the Pareto front is dashed "
            "and circled; the dotted red line is the profile's latency budget. Panels share the y axis."))
        size_panels = [(n, vs) for n, vs in panels if not n.endswith("(season-aligned)")]
        figures.append((rf.accuracy_vs_cost(
            size_panels, "size_kb", "model size (KB, log)", "Accuracy vs model size", out / "accuracy_vs_size.png"),
            "Accuracy against the size of the .tflite flatbuffer. Panels share the y axis."))
    difference = _difference_panels(rows, settings, ship)
    if difference is not None:
        reference, diff_panels = difference
        figures.append((rf.precision_difference(diff_panels, reference, out / "precision_difference.png"),
                        f"Macro-F1 of each exported precision minus {reference}, per target: what quantisation "
                        "costs in domain (source validation) and under shift. Small points are seeds (the same "
                        "run at both precisions), larger markers the mean ± std; the recommended bundles are "
                        "ringed. Panels share the y axis."))
    aug_panels = [(_title(s), [v for v in variants if v["setting"] == s and v["precision"] == KERAS
                               and v["f1_mean"] is not None]) for s in settings]
    aug_panels = [(n, vs) for n, vs in aug_panels if vs]
    if len({(v["augment"], v["aligned"]) for _, vs in aug_panels for v in vs}) > 1:
        figures.append((rf.augmentation_effect(aug_panels, out / "augmentation.png"),
                        "Augmentation (and season alignment where the recipe enables it) against none, per "
                        "setting, for the Keras float model. Panels share the y axis (0 to 1)."))
    for s in settings:
        figures += _confusion_figure(rows, variants, s, ship.get(s), out)
    return figures


def _difference_panels(
    rows: list[GridRow], settings: list[str], ship: dict[str, dict | None]
) -> tuple[str, list[dict]] | None:
    """(reference precision, panels) of the quantisation figure; None without a precision to compare."""
    scored = _scored(rows)
    found = {r.precision for r in scored}
    reference = "float32" if "float32" in found else KERAS
    others = sorted(found - {reference, KERAS}, key=_precision_rank)
    if reference not in found or not others:
        return None
    f1 = {(r.setting, r.target, r.aligned, r.model, r.augment, r.precision, r.seed): r.macro_f1 for r in scored}
    shipped: dict[tuple[str, bool], list[dict]] = defaultdict(list)
    for v in ship.values():
        if v is not None:
            shipped[(v["model"], v["augment"])].append(v)
    pairs = list(shipped)
    for model in sorted({r.model for r in scored}):
        if not any(m == model for m, _ in pairs):
            augs = {r.augment for r in scored if r.model == model}
            pairs.append((model, True if True in augs else False))  # the recipe's usual training: augmented
    order = [SOURCE_SETTING, *settings]
    panels = []
    for model, augment in sorted(pairs):
        mine = [r for r in scored if r.model == model and r.augment == augment]
        columns = sorted({(r.setting, r.target, r.aligned) for r in mine},
                         key=lambda c: (order.index(c[0]) if c[0] in order else len(order), c[2], c[1]))
        diffs: dict[str, list[list[float]]] = {}
        for p in others:
            per_column = []
            for setting, target, aligned in columns:
                seeds = sorted({r.seed for r in mine if (r.setting, r.target, r.aligned) == (setting, target, aligned)})
                per_column.append([f1[(setting, target, aligned, model, augment, p, s)]
                                   - f1[(setting, target, aligned, model, augment, reference, s)] for s in seeds
                                   if (setting, target, aligned, model, augment, p, s) in f1
                                   and (setting, target, aligned, model, augment, reference, s) in f1])
            if any(per_column):
                diffs[p] = per_column
        if not diffs:
            continue
        marks: dict[str, list[int]] = defaultdict(list)
        for v in shipped.get((model, augment), []):
            marks[v["precision"]] += [i for i, c in enumerate(columns) if c[0] == v["setting"] and c[2] == v["aligned"]]
        recommended = "; ".join(f"{_title(v['setting'])}{' aligned' if v['aligned'] else ''}: {v['precision']}"
                                for v in shipped.get((model, augment), []))
        title = f"{model}, {'augmented' if augment else 'no augmentation'}"
        panels.append({
            "title": title + (f" (recommended for {recommended})" if recommended else ""),
            "columns": [("in domain" if s == SOURCE_SETTING else _title(s), t + (" al." if a else ""))
                        for s, t, a in columns],
            "diffs": diffs, "shipped": dict(marks),
        })
    return (reference, panels) if panels else None


def _confusion_figure(
    rows: list[GridRow], variants: list[dict], setting: str, shipped: dict | None, out: Path
) -> list[tuple[Path, str]]:
    """The confusion matrix of the setting's shipped bundle (else its most accurate variant) on its hardest target."""
    from cropedge.grid import figures as rf

    pick = shipped or next(iter(sorted((v for v in variants if v["setting"] == setting and v["f1_mean"] is not None
                                        and v["deployable"]), key=lambda v: -v["f1_mean"])), None)
    weakest = weakest_target(pick) if pick else None
    if pick is None or weakest is None:
        return []
    target, score = weakest
    chosen = [r for r in _scored(rows) if r.setting == setting and r.target == target
              and (r.model, r.precision, r.augment, r.aligned)
              == (pick["model"], pick["precision"], pick["augment"], pick["aligned"]) and r.confusion]
    if not chosen:
        return []
    matrix = np.sum([np.asarray(r.confusion) for r in chosen], axis=0)
    name = _variant_name(pick)
    path = rf.confusion(matrix, list(chosen[0].classes or ()),
                        f"{name}\non {target} ({_title(setting)}), macro-F1 {score:.3f}, "
                        + ("1 seed" if len(chosen) == 1 else f"{len(chosen)} seeds summed"),
                        out / f"confusion_{setting}.png")
    which = "the recommended bundle" if shipped else "the most accurate bundle (none is recommended)"
    return [(path, f"{_title(setting).capitalize()}: confusion matrix of {which}, {name}, on its hardest target, "
                   f"{target} (macro-F1 {score:.3f}).")]


def _title(setting: str) -> str:
    return setting.replace("_", " ")


def _variant_name(v: dict) -> str:
    extras = ["augmented" if v["augment"] else "no augmentation"] + (["season-aligned"] if v["aligned"] else [])
    return f"{v['model']} {v['precision']} ({', '.join(extras)})"


def _ms(value: float | None) -> str:
    return "–" if value is None else significant(value)


def _latency_phrase(v: dict, source: LatencySource, budget: str) -> str:
    """``166 ms per invoke measured on X (batch 256, 4 threads; budget 250 ms)``, or estimated, or the grid's."""
    ms = f"{_ms(v['latency_ms'])} ms per invoke"
    setting = f"{source.describe()}, budget {budget}"
    if v["latency_kind"] == MEASURED:
        return f"{ms} measured on {source.name}; {setting}"
    if v["latency_kind"] == ESTIMATED:
        where = source.name.split(" (")[0] if source.kind == ESTIMATED else source.name
        rate = "" if source.kind == ESTIMATED else f" at the {v['precision']} GMAC/s measured there"
        return f"{ms} **estimated** for {where} from {v['macs'] / 1e6:.3g} M MACs{rate}, not measured; {setting}"
    return f"{ms} on {source.name}; {setting}"


def _ship_line(setting: str, v: dict | None, source: LatencySource, profile: DeviceProfile,
               variants: list[dict]) -> str:
    budget = budget_at(profile, source)
    limit = f"{budget:g} ms" if budget is not None else "no budget"
    where = f"{source.describe()}, {source.kind}"
    if v is None:
        fastest = min((x for x in variants if x["setting"] == setting and x["deployable"] and x["latency_ms"]),
                      key=lambda x: (x["latency_ms"], -(x["f1_mean"] or 0)), default=None)
        hint = (f"; the fastest is {_variant_name(fastest)} at {_ms(fastest['latency_ms'])} ms "
                f"({fastest['latency_kind']})" if fastest else "")
        return f"{_title(setting)}: no bundle that passed every check fits within {limit} ({where}){hint}"
    weakest = weakest_target(v)
    weak = f", weakest on {weakest[0]} ({weakest[1]:.3f})" if weakest and len(v["targets"]) > 1 else ""
    return (f"{_title(setting)}: ship **{_variant_name(v)}**: macro-F1 {_pm(v['f1_mean'], v['f1_std'])} over "
            f"{', '.join(v['targets'])}{weak}; {_latency_phrase(v, source, limit)}; "
            f"{v['size_kb']:.0f} KB")


# --- document blocks, rendered to Markdown and HTML -------------------------------------


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _pm(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "–"
    return f"{mean:.3f} ± {std:.3f}" if std is not None else f"{mean:.3f}"


def _status_text(statuses: dict[str, int]) -> str:
    present = [(s, n) for s, n in statuses.items() if n]
    if len(present) == 1 and present[0][0] == OK:
        return "ok"
    return ", ".join(f"{n} {STATUS_TEXT[s]}" for s, n in present)


def _short(source: LatencySource) -> str:
    """A column header's name for a latency source."""
    if source.kind == MEASURED:
        return source.name.split(" (")[0]
    if source.kind == ESTIMATED:
        return f"{source.name.split(' (')[0]}, estimated"
    return "grid machine"


def _variant_table(vs: list[dict], source: LatencySource, grid_basis: tuple[int, int],
                   shipped: list[dict]) -> tuple[list[str], list[list[str]], set[int]]:
    target_names = list(dict.fromkeys(t for v in vs for t in v["targets"]))
    # an estimate is one number; a measurement its median and p95 (a model not timed there: estimated, said so)
    spread = "" if source.kind == ESTIMATED else ", median / p95"
    headers = ["Model", "Precision", "Augmented", "Aligned", "macro-F1", "OA",
               f"ms on {_short(source)}{spread} ({source.describe()})", "pixels/s", "Size (KB)",
               *[f"F1 {t}" for t in target_names], "MMACs", "Params",
               f"ms on grid machine ({describe_setting(*grid_basis)})", "Seeds", "Status"]
    rows, highlight = [], set()
    for i, v in enumerate(vs):
        if any(_same_variant(v, s) for s in shipped):
            highlight.add(i)
        if v["latency_ms"] is None:
            device = "–"
        elif v["latency_kind"] == ESTIMATED:
            device = _ms(v["latency_ms"]) + ("" if source.kind == ESTIMATED else " (estimated)")
        else:
            device = f"{_ms(v['latency_ms'])} / {_ms(v['latency_p95_ms'])}"
        rows.append([
            v["model"], v["precision"], "yes" if v["augment"] else "no", "yes" if v["aligned"] else "no",
            _pm(v["f1_mean"], v["f1_std"]), _pm(v["oa_mean"], v["oa_std"]), device,
            f"{v['pixels_per_s']:,.0f}" if v["pixels_per_s"] else "–", _fmt(v["size_kb"], 1),
            *[_fmt(v["targets"].get(t)) for t in target_names],
            f"{v['macs'] / 1e6:.2f}" if v["macs"] else "–", f"{v['params']:,}" if v["params"] else "–",
            _ms(v["grid_latency_ms"]) if v["deployable"] else "–", str(v["seeds"]), _status_text(v["statuses"]),
        ])
    return headers, rows, highlight


def _same_variant(a: dict, b: dict) -> bool:
    keys = ("setting", "model", "precision", "augment", "aligned")
    return all(a[k] == b[k] for k in keys)


def _device_blocks(source: LatencySource, profile: DeviceProfile, ships: dict[str, dict | None]) -> list[tuple]:
    """A device's section: where its numbers come from and one row per bundle, thread count and batch."""
    dev = source.device
    assert dev is not None  # measured sources carry their device
    shipped = {(v["model"], v["precision"]) for v in ships.values() if v}
    m = dev.machine
    unmatched = [b for sha, b in dev.bundles.items() if sha not in source.matched]
    text = (f"{len(dev.files)} firmware_bench file(s): {', '.join(map(str, dev.files))}; {dev.runtime}; "
            f"{m.cpu_flags or 'no SIMD flags read'}. {len(source.matched)} of its {len(dev.bundles)} bundles are "
            f"bundles of the grid (matched by sha256); each stands for every grid bundle of the same model, "
            f"precision and MACs. Ranked at {source.describe()} (the profile: batch {profile.batch_size}, "
            f"{profile.threads} threads); ms is the interpreter alone (invoke), e2e adds the numpy preprocessing.")
    if unmatched:
        text += " Not bundles of the grid, not used: " + ", ".join(
            f"{b.name} ({b.sha256[:12]})" for b in unmatched) + "."
    headers = ["Bundle", "sha256", "Precision", "Threads", "Batch", "ms median", "ms p95", "pixels/s", "e2e pixels/s",
               "GMAC/s", f"{profile.name} profile estimate, ms", "OA", "macro-F1"]
    table, highlight = [], set()
    timings = sorted((t for t in dev.timings if t.sha256 in source.matched),
                     key=lambda t: (dev.bundles[t.sha256].model, _precision_rank(dev.bundles[t.sha256].precision),
                                    t.sha256, t.threads, t.batch))
    for t in timings:
        b = dev.bundles[t.sha256]
        if (b.model, b.precision) in shipped and (t.batch, t.threads) == (source.batch, source.threads):
            highlight.add(len(table))
        estimate = profile.estimated_ms(b.macs, b.precision, t.batch) if t.threads == profile.threads else None
        gmacs = t.batch * b.macs / (t.invoke.median_ms / 1e3) / 1e9 if b.macs and t.invoke.median_ms > 0 else None
        acc = b.accuracy
        table.append([b.name, b.sha256[:12], b.precision, str(t.threads), str(t.batch), _ms(t.invoke.median_ms),
                      _ms(t.invoke.p95_ms), f"{t.invoke.pixels_per_s:,.0f}", f"{t.end_to_end.pixels_per_s:,.0f}",
                      significant(gmacs), _ms(estimate), _fmt(acc.oa if acc else None),
                      _fmt(acc.macro_f1 if acc else None)])
    keep = [i for i in range(len(headers)) if any(row[i] != "–" for row in table)]  # no column of dashes only
    table = [[row[i] for i in keep] for row in table]
    return [("h3", source.name), ("p", text), ("table", [headers[i] for i in keep], table, highlight)]


def _latency_paragraph(source: LatencySource, profile: DeviceProfile) -> str:
    budget = (f"budget {profile.latency_budget_ms:g} ms per invoke of {profile.batch_size} pixels"
              if profile.latency_budget_ms is not None else "no latency budget")
    head = f"Device profile **{profile.name}** ({profile.description}): {budget} on {profile.threads} threads. "
    if source.kind == MEASURED:
        return head + (f"Bundles are ranked by latency **measured on {source.name}** with firmware_bench "
                       f"({source.describe()}); a model that was not timed there is estimated from its MACs and "
                       "the GMAC/s the device showed for bundles of the same precision, and says so.")
    if source.kind == ESTIMATED:
        rates = ", ".join(f"{p} {r:g}" for p, r in sorted(profile.throughput_gmacs.items(),
                                                           key=lambda kv: _precision_rank(kv[0])))
        return head + ("Latency on the device is **estimated, not measured**: each model's MACs divided by the "
                       f"profile's throughput ({rates} GMAC/s at {source.describe()}). Time the bundles on the "
                       "device (python -m firmware_bench BUNDLE ... --json device.json) and pass the file with "
                       "--device-latency to rank by measured latency.")
    return head + (f"The profile gives no throughput, so bundles are ranked by the latency of **{source.name}**, "
                   "not of the device: add [runtime] throughput_gmacs to the profile, or time the bundles on the "
                   "device with firmware_bench and pass --device-latency.")


def _document(
    grids: Sequence[str | Path],
    rows: list[GridRow],
    variants: list[dict],
    settings: list[str],
    lines: dict[str, dict[str, str]],
    latency_sources: list[LatencySource],
    profile: DeviceProfile,
    ships: list[dict[str, dict | None]],
    figures: list[tuple[Path, str]],
) -> list[tuple]:
    counts = {s: sum(r.status == s for r in rows) for s in (OK, CHECK_FAILED, FAILED)}
    primary = latency_sources[0]
    blocks: list[tuple] = [
        ("h1", "cropedge benchmark report"),
        ("p", f"Grid folder(s): {', '.join(str(g) for g in grids)}. {len(rows)} result rows: {counts[OK]} ok, "
              f"{counts[CHECK_FAILED]} exported but check failed, {counts[FAILED]} failed."),
        ("p", _latency_paragraph(primary, profile)),
        ("h2", "What to ship"),
    ]
    for name, by_setting in lines.items():
        if len(lines) > 1:
            blocks.append(("h3", f"On {name}"))
        blocks.append(("ship", list(by_setting.values())))
    measured = [s for s in latency_sources if s.kind == MEASURED]
    if measured:
        blocks.append(("h2", "Latency measured on the device"))
        for src, sh in zip(latency_sources, ships, strict=True):
            if src.kind == MEASURED:
                blocks += _device_blocks(src, profile, sh)
    blocks += [("h2", "Figures"), *[("img", path, caption) for path, caption in figures]]
    basis = grid_setting(rows, profile)
    for s in [*settings, SOURCE_SETTING]:
        vs = [v for v in variants if v["setting"] == s]
        if not vs:
            continue
        title = "In domain (held-out validation split of the source)" if s == SOURCE_SETTING else _title(s)
        shipped = [v for v in [ships[0].get(s)] if v]
        blocks += [("h2", title), ("table", *_variant_table(vs, primary, basis, shipped))]
    failures = [r for r in rows if r.status != OK]
    if failures:
        blocks += [("h2", "Failures and failed checks"),
                   ("table", ["Status", "Cell", "Reason"],
                    [[STATUS_TEXT.get(r.status, r.status), r.key, r.reason or ""] for r in failures], set())]
    versions = sorted({(r.runtime, r.runtime_version, r.tensorflow, r.cpu_model, r.cores)
                       for r in rows if r.runtime}, key=str)
    blocks += [("h2", "Grid machine"),
               ("p", "Where the grid ran: its timings appear only in the 'ms on grid machine' columns."),
               ("table", ["Runtime", "Version", "TensorFlow", "CPU", "Cores"], [[_fmt(x) for x in v] for v in versions],
                set())]
    return blocks


def grid_table(rows: list[GridRow], profile: DeviceProfile | None = None) -> str:
    """A plain-text table of a grid for the terminal, with the grid machine's latency.

    One line per setting, model, precision, augmentation and alignment, with accuracy
    mean ± std over seeds and targets.
    """
    from cropedge.device.profile import DeviceProfile

    basis = grid_setting(rows, profile or DeviceProfile())
    variants = variant_summaries(rows, basis)
    headers = ["Status", "Setting", "Model", "Precision", "Augment", "Aligned", "macro-F1", "OA", "Size (KB)",
               f"ms here ({describe_setting(*basis)})"]
    words = 6  # the columns before are words (left-aligned), the rest numbers (right-aligned)
    lines = [[_status_text(v["statuses"]), _title(v["setting"]), v["model"], v["precision"],
              "yes" if v["augment"] else "no", "yes" if v["aligned"] else "no", _pm(v["f1_mean"], v["f1_std"]),
              _pm(v["oa_mean"], v["oa_std"]), _fmt(v["size_kb"], 1), _ms(v["grid_latency_ms"])] for v in variants]
    # every line has one entry per header, so the zips never cut anything
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *lines, strict=True)]
    return "\n".join(
        "  ".join(str(x).ljust(w) if i < words else str(x).rjust(w) for i, (x, w) in enumerate(zip(line, widths,
                  strict=True))).rstrip() for line in [headers, *lines]
    )


def render_markdown(blocks: list[tuple]) -> str:
    """The report blocks as Markdown; images are referred to by file name (they lie beside report.md)."""
    lines = []
    for kind, *args in blocks:
        if kind == "h1":
            lines += [f"# {args[0]}", ""]
        elif kind == "h2":
            lines += [f"## {args[0]}", ""]
        elif kind == "h3":
            lines += [f"### {args[0]}", ""]
        elif kind == "p":
            lines += [args[0], ""]
        elif kind in ("ul", "ship"):
            lines += [f"* {item}" for item in args[0]] + [""]
        elif kind == "img":
            path, caption = args
            lines += [f"![{caption}]({Path(path).name})", "", f"*{caption}*", ""]
        elif kind == "table":
            headers, rows, highlight = args
            lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
            for i, row in enumerate(rows):
                cells = [c.replace("|", "\\|") for c in row]
                if i in highlight:  # the recommended bundle
                    cells = [f"**{c}**" for c in cells]
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


_CSS = """body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1100px;
padding:0 16px;color:#222;line-height:1.45}
h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.scroll{overflow-x:auto;margin:1em 0}
table{border-collapse:collapse;font-size:12px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ccc;padding:3px 5px;text-align:left;white-space:nowrap}
th{background:#f3f3f3;white-space:normal;vertical-align:bottom;max-width:14em}th.n,td.n{text-align:right}
tr.ship td{background:#fff1b8;font-weight:600}
ul.ship li{margin:.35em 0}
img{max-width:100%;height:auto}figure{margin:1.5em 0}figcaption{color:#555;font-size:14px;max-width:900px}
.legend{color:#555;font-size:13px}.legend span{background:#fff1b8;padding:0 .4em;font-weight:600}"""


# a cell that is a number (a mean ± std, "12.6 / 13.1", "166 (estimated)", a dash): right-aligned
_NUMBER = re.compile(r"^(–|-?[\d,.]+( ± [\d.]+| / [\d.–]+| \(estimated\)|x)?)$")


def _inline(text: str) -> str:
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text))


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels of a PNG, from its header."""
    with open(path, "rb") as fh:
        head = fh.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def render_html(blocks: list[tuple]) -> str:
    """One self-contained HTML page: figures embedded as base64 PNG data URIs, shown at their drawn size."""
    from cropedge.grid.figures import CSS_PX_PER_IN, DPI

    parts = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
             "<meta name='viewport' content='width=device-width, initial-scale=1'>",
             "<title>cropedge benchmark report</title>", f"<style>{_CSS}</style></head><body>"]
    for kind, *args in blocks:
        if kind in ("h1", "h2", "h3", "p"):
            parts.append(f"<{kind}>{_inline(args[0])}</{kind}>")
        elif kind in ("ul", "ship"):
            parts.append(f"<ul class='{kind}'>" + "".join(f"<li>{_inline(i)}</li>" for i in args[0]) + "</ul>")
        elif kind == "img":
            path, caption = args
            width, height = png_size(Path(path))
            css_w, css_h = round(width / DPI * CSS_PX_PER_IN), round(height / DPI * CSS_PX_PER_IN)
            data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
            parts.append(f"<figure><img alt='{html.escape(caption)}' width='{css_w}' height='{css_h}' "
                         f"src='data:image/png;base64,{data}'><figcaption>{html.escape(caption)}</figcaption></figure>")
        elif kind == "table":
            headers, rows, highlight = args
            cls = [" class=n" if rows and all(_NUMBER.match(r[i]) for r in rows) else "" for i in range(len(headers))]
            head = "".join(f"<th{c}>{html.escape(h)}</th>" for h, c in zip(headers, cls, strict=True))
            body = "".join(
                f"<tr{' class=ship' if i in highlight else ''}>"
                + "".join(f"<td{c}>{html.escape(x)}</td>" for x, c in zip(r, cls, strict=True)) + "</tr>"
                for i, r in enumerate(rows))
            note = "<div class='legend'><span>highlighted</span> the recommended bundle</div>" if highlight else ""
            parts.append(f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
                         f"</div>{note}")
    parts.append("</body></html>")
    return "\n".join(parts)
