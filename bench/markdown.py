"""Markdown summary of a benchmark report (``bench/perf.md`` beside ``bench/perf.json``).

A section result may carry ``ratios`` (from ``bench.results.ratio``), ``tables``
(title -> list of row dicts) and ``notes`` (list of strings); all are rendered.
"""

from __future__ import annotations

from typing import Any

MARK = {True: "yes", False: "**no**"}


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "-" if value is None else str(value)


def table(rows: list[dict]) -> list[str]:
    """Rows of dicts as a Markdown table (columns: union of keys, first-seen order)."""
    if not rows:
        return []
    cols: list[str] = []
    for row in rows:
        cols += [k for k in row if k not in cols]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(row.get(c)) for c in cols) + " |" for row in rows]
    return lines


def _ratio_rows(ratios: list[dict], section: str | None = None) -> list[dict]:
    rows = []
    for r in ratios:
        row = {"section": section} if section else {}
        row.update({
            "ratio": r["name"],
            "value": r["value"],
            "from": f"{_fmt(r['numerator']['value'])} {r['numerator']['what']} / "
                    f"{_fmt(r['denominator']['value'])} {r['denominator']['what']}",
            "target": r.get("target", "-"),
            "met": MARK[r["met"]] if "met" in r else "-",
        })
        rows.append(row)
    return rows


def _machine(m: dict) -> list[str]:
    feats = ", ".join(f for f, present in m.get("int8_features", {}).items() if present) or "none"
    v = m.get("versions", {})
    versions = ", ".join(f"{k} {v[k]}" for k in ("python", "tensorflow", "tf-keras", "ai-edge-litert", "torch", "numpy")
                         if k in v)
    return [
        f"* CPU: {m.get('cpu_model', '?')} ({m.get('machine', '?')}), {m.get('cores', '?')} usable cores",
        f"* int8/bf16 features: {feats}",
        f"* versions: {versions}",
    ]


def render(report: dict) -> str:
    """The whole report as Markdown: machine, every target, then each section."""
    sections = report.get("sections", {})
    lines = ["# cropedge performance", "",
             f"Mode: {'quick (tiny sizes, no accuracy training)' if report.get('quick') else 'full'}. "
             "All figures from one run on one machine; ratios are what to compare, absolute numbers are context.", ""]
    lines += _machine(report.get("machine", {})) + ["", "## Targets", ""]
    target_rows = []
    for name, s in sections.items():
        target_rows += _ratio_rows([r for r in s.get("ratios", []) if "target" in r], name)
        if s["status"] != "ok":
            target_rows.append({"section": name, "ratio": f"({s['status']}: {s.get('reason', '')})"})
    lines += table(target_rows) + [""]
    for name, s in sections.items():
        load = f", load average {s['load_average_1min']:.1f}" if "load_average_1min" in s else ""
        lines += [f"## {name}: {s.get('title', '')}", "", f"Status: {s['status']} ({s.get('seconds', 0):.0f} s{load})."]
        if s["status"] != "ok":
            lines += ["", f"Reason: {s.get('reason', '')}"]
        if s.get("ratios"):
            lines += [""] + table(_ratio_rows(s["ratios"]))
        for title, rows in s.get("tables", {}).items():
            lines += ["", f"{title}:", ""] + table(rows)
        if s.get("notes"):
            lines += [""] + [f"* {n}" for n in s["notes"]]
        lines.append("")
    return "\n".join(lines)
