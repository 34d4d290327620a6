"""Benchmark report: figures, tables and a "what to ship" line per transfer setting.

Built from grid folders alone (``GRID/cells/*.json``, see ``cropedge.grid.bench``), so a report is
rebuilt without re-running anything, and shards of one grid are merged by passing all their
folders. Writes ``report.md`` (PNG figures beside it), a self-contained ``report.html``
(figures embedded as data URIs) and ``report.json`` (the summaries the tables show).

Accuracy is macro-F1 (the CropGlobe metric: mean F1 over the classes present in a target)
averaged over a setting's targets, then mean ± std over seeds. Latency is the median of the
timed invokes at the batch size and thread count closest to the device profile's.
"""

from __future__ import annotations

import base64
import html
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cropedge.atomic import write_json, write_text
from cropedge.errors import CropEdgeError
from cropedge.grid.rows import CHECK_FAILED, FAILED, KERAS, OK, SOURCE_SETTING, STATUS_ICONS, GridRow, read_rows

if TYPE_CHECKING:  # annotations only: the profile module is imported where it is used
    from cropedge.device.profile import DeviceProfile

DEFAULT_PROFILE = "pi4"
# the paper's settings, from the mildest shift to the hardest; others follow alphabetically
SETTING_ORDER = ("cross_country", "cross_continent", "cross_hemisphere")
TIE_F1 = 0.01  # macro-F1 differences below this do not decide what to ship; latency does
_STATUS_RANK = {OK: 0, CHECK_FAILED: 1, FAILED: 2}


# --- rows -----------------------------------------------------------------------------


def load_rows(grids: Iterable[str | Path]) -> list[GridRow]:
    """Rows of all grid folders, one per cell.

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


@dataclass(frozen=True)
class Basis:
    """Where the profile's latency budget is compared: a measured (batch, threads) pair."""

    batch: int
    threads: int
    budget_ms: float | None
    profile: dict

    def describe(self) -> str:
        """``batch B, T thread(s)``, for table headers and captions."""
        return f"batch {self.batch}, {self.threads} thread{'s' if self.threads > 1 else ''}"


def latency_basis(rows: list[GridRow], profile: DeviceProfile) -> Basis:
    """The measured (batch, threads) closest to the profile's batch size and threads."""
    pairs = {(lat.batch, lat.threads) for r in rows for lat in r.latency or []}
    if not pairs:
        return Basis(profile.batch_size, profile.threads, profile.latency_budget_ms, profile.to_dict())
    batches = sorted({b for b, _ in pairs})
    batch = min(batches, key=lambda b: (abs(np.log(b / profile.batch_size)), -b))
    threads = sorted({t for b, t in pairs if b == batch})
    fitting = [t for t in threads if t <= profile.threads]
    return Basis(batch, max(fitting) if fitting else min(threads), profile.latency_budget_ms, profile.to_dict())


# --- summaries ------------------------------------------------------------------------


def _spread(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (None with fewer than two values)."""
    if not values:
        return None, None
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), (float(a.std(ddof=1)) if a.size > 1 else None)


def _scored(rows: list[GridRow]) -> list[GridRow]:
    """Rows that carry accuracy (ok, or exported with a failed check)."""
    return [r for r in rows if r.status in (OK, CHECK_FAILED) and r.macro_f1 is not None]


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


def variant_summaries(rows: list[GridRow], basis: Basis) -> list[dict]:
    """One line per (setting, model, precision, augment, aligned), best macro-F1 first per setting.

    Accuracy is averaged over the setting's targets per seed, then mean ± std over seeds;
    each line also has size, complexity, latency and statuses.
    """
    groups: dict[tuple, list[GridRow]] = defaultdict(list)
    for r in rows:
        groups[(r.setting, r.model, r.precision, bool(r.augment), bool(r.aligned))].append(r)
    out = []
    for (setting, model, precision, augment, aligned), rs in groups.items():
        scored = _scored(rs)
        by_seed: dict[int, list[GridRow]] = defaultdict(list)
        for r in scored:
            by_seed[r.seed].append(r)
        f1_mean, f1_std = _spread([np.mean([r.macro_f1 for r in s]) for s in by_seed.values()])
        oa_mean, oa_std = _spread([np.mean([r.oa for r in s]) for s in by_seed.values()])
        targets = defaultdict(list)
        for r in scored:
            targets[r.target].append(r.macro_f1)
        latency = [v for v in (latency_of(r, basis.batch, basis.threads) for r in scored) if v is not None]
        p95 = [v for v in (latency_of(r, basis.batch, basis.threads, "p95_ms") for r in scored) if v is not None]
        single = [v for v in (latency_of(r, 1, 1) for r in scored) if v is not None]
        sizes = [r.size_bytes for r in scored if r.size_bytes]
        statuses = {s: sum(r.status == s for r in rs) for s in (OK, CHECK_FAILED, FAILED)}
        out.append({
            "setting": setting, "model": model, "precision": precision, "augment": augment, "aligned": aligned,
            "seeds": len(by_seed), "f1_mean": f1_mean, "f1_std": f1_std, "oa_mean": oa_mean, "oa_std": oa_std,
            "targets": {t: float(np.mean(v)) for t, v in sorted(targets.items())},
            "size_kb": float(np.mean(sizes)) / 1024 if sizes else None,
            "params": next((r.params for r in scored if r.params), None),
            "macs": next((r.macs for r in scored if r.macs), None),
            "latency_ms": float(np.median(latency)) if latency else None,
            "latency_p95_ms": float(np.median(p95)) if p95 else None,
            "latency_b1_t1_ms": float(np.median(single)) if single else None,
            "pixels_per_s": basis.batch / (float(np.median(latency)) / 1e3) if latency else None,
            "statuses": statuses,
            "deployable": precision != KERAS,
            "all_ok": statuses[OK] == len(rs) and f1_mean is not None,
        })
    out.sort(
        key=lambda v: (v["setting"], -(v["f1_mean"] if v["f1_mean"] is not None else -1), v["model"], v["precision"])
    )
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


def hardest_target(targets: list[dict]) -> tuple[str, str] | None:
    """(setting, target) with the lowest macro-F1 of the Keras float models, averaged over models."""
    scores: dict[tuple[str, str], list[float]] = defaultdict(list)
    for t in targets:
        if t["precision"] == KERAS and not t["aligned"] and t["setting"] != SOURCE_SETTING:
            scores[(t["setting"], t["target"])].append(t["f1_mean"])
    return min(scores, key=lambda k: np.mean(scores[k]), default=None)


# --- the report -----------------------------------------------------------------------


def build_report(grids: list[str | Path], out: str | Path, profile: str | Path | None = None) -> dict:
    """Write report.md, report.html, report.json and the PNG figures into ``out``.

    Args:
        grids: grid folders (shards of one grid, or grids to compare).
        out: output folder.
        profile: device profile (``export/*.toml`` or a bare name) giving the latency budget,
            batch size and threads; default ``pi4``.

    Returns:
        ``{"report_html", "report_md", "report_json", "figures": [...], "ship": {setting: line}}``.
    """
    from cropedge.device.profile import PROFILE_DIR, DeviceProfile, load_profile

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = load_rows(grids)
    if profile is None and (PROFILE_DIR / f"{DEFAULT_PROFILE}.toml").is_file():
        profile = DEFAULT_PROFILE
    device = load_profile(profile) if profile is not None else DeviceProfile()
    basis = latency_basis(rows, device)
    variants = variant_summaries(rows, basis)
    targets = target_summaries(rows)
    settings = sorted({r.setting for r in rows} - {SOURCE_SETTING}, key=_setting_rank)
    ship = {s: choose_bundle(variants, s, basis.budget_ms) for s in settings}
    figures = _figures(rows, variants, targets, settings, ship, basis, out)
    blocks = _document(grids, rows, variants, settings, ship, basis, device, figures)
    write_text(out / "report.md", render_markdown(blocks, out))
    write_text(out / "report.html", render_html(blocks))
    summary = {"grids": [str(g) for g in grids], "basis": basis.__dict__, "ship": ship, "variants": variants,
               "targets": targets}
    write_json(out / "report.json", summary)
    return {"report_html": out / "report.html", "report_md": out / "report.md", "report_json": out / "report.json",
            "figures": [f for f, _ in figures], "ship": {s: _ship_line(s, v, basis, variants) for s, v in ship.items()}}


def _figures(
    rows: list[GridRow],
    variants: list[dict],
    targets: list[dict],
    settings: list[str],
    ship: dict[str, dict | None],
    basis: Basis,
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
    cpu = next((r.cpu_model for r in rows if r.cpu_model), "this CPU")
    if panels:
        figures.append((rf.accuracy_vs_cost(
            panels, "latency_ms", f"median latency per invoke (ms, {basis.describe()}, log)",
            f"Accuracy vs latency on {cpu}", out / "accuracy_vs_latency.png", budget=basis.budget_ms),
            "Accuracy against latency per transfer setting; the Pareto front is dashed and circled; "
            "the dotted red line is the profile's latency budget."))
        size_panels = [(n, vs) for n, vs in panels if not n.endswith("(season-aligned)")]
        figures.append((rf.accuracy_vs_cost(
            size_panels, "size_kb", "model size (KB, log)", "Accuracy vs model size", out / "accuracy_vs_size.png"),
            "Accuracy against the size of the .tflite flatbuffer."))
    per_model = []
    found = {t["precision"] for t in targets}
    precisions = [p for p in rf.PRECISION_MARKERS if p in found] + sorted(found - set(rf.PRECISION_MARKERS))
    for model in sorted({t["model"] for t in targets}):
        mine = [t for t in targets if t["model"] == model and not t["aligned"]]
        aug = any(t["augment"] for t in mine)  # the recipe's usual training: augmented when it was run
        chosen = [t for t in mine if t["augment"] == aug]
        order = [SOURCE_SETTING, *settings]
        chosen.sort(key=lambda t: (order.index(t["setting"]) if t["setting"] in order else 99, t["target"]))
        if chosen:
            per_model.append((f"{model} ({'augmented' if aug else 'no augmentation'})", chosen))
    if per_model:
        figures.append((rf.precision_drop(per_model, precisions, out / "precision_drop.png"),
                        "Macro-F1 per target for the Keras float model and each exported precision: "
                        "how much quantisation costs in domain (source validation) and under shift."))
    aug_panels = [(_title(s), [v for v in variants if v["setting"] == s and v["precision"] == KERAS
                               and v["f1_mean"] is not None]) for s in settings]
    aug_panels = [(n, vs) for n, vs in aug_panels if vs]
    if aug_panels:
        figures.append((rf.augmentation_effect(aug_panels, out / "augmentation.png"),
                        "Augmentation (and season alignment where the recipe enables it) against none, per setting."))
    hardest = hardest_target(targets)
    if hardest is not None:
        figures += _confusion_figure(rows, variants, hardest, ship.get(hardest[0]), out)
    return figures


def _confusion_figure(
    rows: list[GridRow], variants: list[dict], hardest: tuple[str, str], shipped: dict | None, out: Path
) -> list[tuple[Path, str]]:
    from cropedge.grid import figures as rf

    setting, target = hardest
    pick = shipped or next((v for v in variants if v["setting"] == setting and v["f1_mean"] is not None), None)
    if pick is None:
        return []
    chosen = [r for r in _scored(rows) if r.setting == setting and r.target == target
              and (r.model, r.precision, r.augment, r.aligned)
              == (pick["model"], pick["precision"], pick["augment"], pick["aligned"]) and r.confusion]
    if not chosen:
        return []
    matrix = np.sum([np.asarray(r.confusion) for r in chosen], axis=0)
    name = _variant_name(pick)
    path = rf.confusion(matrix, chosen[0].classes,
                        f"{name} on {target} ({setting.replace('_', ' ')}), {len(chosen)} seed(s) summed",
                        out / "confusion.png")
    return [(path, f"Confusion matrix of the chosen bundle ({name}) on the hardest target, {target}.")]


def _setting_rank(setting: str) -> tuple:
    return (SETTING_ORDER.index(setting), "") if setting in SETTING_ORDER else (len(SETTING_ORDER), setting)


def _title(setting: str) -> str:
    return setting.replace("_", " ")


def _variant_name(v: dict) -> str:
    extras = ["augmented" if v["augment"] else "no augmentation"] + (["season-aligned"] if v["aligned"] else [])
    return f"{v['model']} {v['precision']} ({', '.join(extras)})"


def _ship_line(setting: str, v: dict | None, basis: Basis, variants: list[dict]) -> str:
    budget = f"{basis.budget_ms:g} ms" if basis.budget_ms is not None else "no budget"
    if v is None:
        fastest = min((x for x in variants if x["setting"] == setting and x["deployable"] and x["latency_ms"]),
                      key=lambda x: x["latency_ms"], default=None)
        hint = f"; the fastest is {_variant_name(fastest)} at {fastest['latency_ms']:.3g} ms" if fastest else ""
        return f"{_title(setting)}: no bundle passed every check within {budget} ({basis.describe()}){hint}"
    return (f"{_title(setting)}: ship **{_variant_name(v)}**: macro-F1 {_pm(v['f1_mean'], v['f1_std'])} over "
            f"{', '.join(v['targets'])}; {v['latency_ms']:.3g} ms per invoke ({basis.describe()}, budget {budget}); "
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


def _variant_table(vs: list[dict], basis: Basis) -> tuple[list[str], list[list[str]]]:
    target_names = list(dict.fromkeys(t for v in vs for t in v["targets"]))
    headers = ["Model", "Precision", "Augm.", "Aligned", "OA", "macro-F1", *[f"F1 {t}" for t in target_names],
               "Size (KB)", "Params", "MMACs", f"ms median / p95 ({basis.describe()})", "ms (batch 1, 1 thread)",
               "pixels/s", "Seeds", "Status"]
    rows = []
    for v in vs:
        st = v["statuses"]
        status = " ".join(f"{STATUS_ICONS[s]}{n}" for s, n in st.items() if n)
        rows.append([
            v["model"], v["precision"], "yes" if v["augment"] else "no", "yes" if v["aligned"] else "no",
            _pm(v["oa_mean"], v["oa_std"]), _pm(v["f1_mean"], v["f1_std"]),
            *[_fmt(v["targets"].get(t)) for t in target_names],
            _fmt(v["size_kb"], 1), _fmt(v["params"]), _fmt(v["macs"] / 1e6 if v["macs"] else None, 2),
            f"{_fmt(v['latency_ms'], 3)} / {_fmt(v['latency_p95_ms'], 3)}" if v["latency_ms"] else "–",
            _fmt(v["latency_b1_t1_ms"], 3), _fmt(round(v["pixels_per_s"]) if v["pixels_per_s"] else None),
            str(v["seeds"]), status,
        ])
    return headers, rows


def _document(
    grids: list[str | Path],
    rows: list[GridRow],
    variants: list[dict],
    settings: list[str],
    ship: dict[str, dict | None],
    basis: Basis,
    device: DeviceProfile,
    figures: list[tuple[Path, str]],
) -> list[tuple]:
    counts = {s: sum(r.status == s for r in rows) for s in (OK, CHECK_FAILED, FAILED)}
    first = next((r for r in rows if r.runtime), rows[0])
    budget = f"{basis.budget_ms:g} ms per invoke" if basis.budget_ms is not None else "no latency budget"
    blocks: list[tuple] = [
        ("h1", "cropedge benchmark report"),
        ("p", f"Grid folder(s): {', '.join(str(g) for g in grids)}. {len(rows)} result rows: "
              f"{STATUS_ICONS[OK]} {counts[OK]} ok, {STATUS_ICONS[CHECK_FAILED]} {counts[CHECK_FAILED]} exported but "
              f"check failed, {STATUS_ICONS[FAILED]} {counts[FAILED]} failed."),
        ("p", f"Device profile **{device.name}** ({device.description}): {budget} at batch {device.batch_size}, "
              f"{device.threads} threads; compared at the closest measured setting, {basis.describe()}. "
              f"Latency was measured on {first.cpu_model or '?'} ({first.cores or '?'} cores, "
              f"{first.cpu_flags or 'no SIMD flags read'}) with {first.runtime or '?'} "
              f"{first.runtime_version or ''}, not on the device: "
              "time the chosen bundle there with firmware_bench."),
        ("h2", "What to ship"),
        ("ul", [_ship_line(s, ship[s], basis, variants) for s in settings]),
        ("h2", "Figures"),
        *[("img", path, caption) for path, caption in figures],
    ]
    for s in [*settings, SOURCE_SETTING]:
        vs = [v for v in variants if v["setting"] == s]
        if not vs:
            continue
        title = "In domain (held-out validation split of the source)" if s == SOURCE_SETTING else _title(s)
        blocks += [("h2", title), ("table", *_variant_table(vs, basis))]
    failures = [r for r in rows if r.status != OK]
    if failures:
        blocks += [("h2", "Failures and failed checks"),
                   ("table", ["Status", "Cell", "Reason"],
                    [[STATUS_ICONS.get(r.status, "?"), r.key, r.reason or ""] for r in failures])]
    versions = sorted({(r.runtime, r.runtime_version, r.tensorflow, r.cpu_model)
                       for r in rows if r.runtime}, key=str)
    blocks += [("h2", "Environment"),
               ("table", ["Runtime", "Version", "TensorFlow", "CPU"], [[_fmt(x) for x in v] for v in versions])]
    return blocks


def grid_table(rows: list[GridRow], profile: DeviceProfile | None = None) -> str:
    """A plain-text table of a grid for the terminal.

    One line per setting, model, precision, augmentation and alignment, with accuracy
    mean ± std over seeds and targets.
    """
    from cropedge.device.profile import DeviceProfile

    basis = latency_basis(rows, profile or DeviceProfile())
    variants = variant_summaries(rows, basis)
    headers = ["", "Setting", "Model", "Precision", "Augm.", "Aligned", "macro-F1", "OA", "Size (KB)",
               f"ms ({basis.describe()})"]
    lines = [[" ".join(STATUS_ICONS[s] for s, n in v["statuses"].items() if n), _title(v["setting"]), v["model"],
              v["precision"], "yes" if v["augment"] else "no", "yes" if v["aligned"] else "no",
              _pm(v["f1_mean"], v["f1_std"]), _pm(v["oa_mean"], v["oa_std"]), _fmt(v["size_kb"], 1),
              _fmt(v["latency_ms"], 3)] for v in sorted(variants, key=lambda v: _setting_rank(v["setting"]))]
    # every line has one entry per header, so the zips never cut anything
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *lines, strict=True)]
    return "\n".join(
        "  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip() for line in [headers, *lines]
    )


def render_markdown(blocks: list[tuple], out: Path) -> str:
    """The report blocks as Markdown; image paths are written relative to ``out``."""
    lines = []
    for kind, *args in blocks:
        if kind == "h1":
            lines += [f"# {args[0]}", ""]
        elif kind == "h2":
            lines += [f"## {args[0]}", ""]
        elif kind == "p":
            lines += [args[0], ""]
        elif kind == "ul":
            lines += [f"* {item}" for item in args[0]] + [""]
        elif kind == "img":
            path, caption = args
            lines += [f"![{caption}]({Path(path).relative_to(out).as_posix()})", "", f"*{caption}*", ""]
        elif kind == "table":
            headers, rows = args
            lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows] + [""]
    return "\n".join(lines)


_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3}td:nth-child(-n+4){text-align:left}img{max-width:100%;border:1px solid #eee}
figure{margin:1.5em 0}figcaption{color:#555;font-size:14px}"""


def _inline(text: str) -> str:
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text))


def render_html(blocks: list[tuple]) -> str:
    """One self-contained HTML page: figures embedded as base64 PNG data URIs."""
    parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'><title>cropedge benchmark report</title>",
             f"<style>{_CSS}</style></head><body>"]
    for kind, *args in blocks:
        if kind in ("h1", "h2", "p"):
            parts.append(f"<{kind}>{_inline(args[0])}</{kind}>")
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in args[0]) + "</ul>")
        elif kind == "img":
            path, caption = args
            data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
            parts.append(f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        elif kind == "table":
            headers, rows = args
            head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
            body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts)
