"""The edge frontier: every CropNet width/depth variant's size, cost, int8 latency and accuracy.

Accuracy is under the cross-hemisphere shift (trained on FRA, scored on ARG and AUS).

Accuracy is a quick estimate, the same short protocol for every variant: one seed,
``FRONTIER`` (more synthetic data and a 10x higher learning rate than the reference's 1e-4,
so that a few epochs learn something), macro-F1 of the float model on each southern target
with predictions outside a target's crop set mapped to ``other`` (the reference's test
protocol), averaged over the targets. Scored twice: as is, and with cropedge's automatic
season alignment (``season_offset="auto"``); the frontier is drawn on the aligned score,
cropedge's answer to a hemisphere shift. ``--quick`` times only the reference and the
variant with the fewest MACs, and measures no accuracy.
"""

from __future__ import annotations

from pathlib import Path

from bench import fixtures
from bench.context import Context
from bench.inference import invoker, model_bytes, prepared_samples
from bench.results import Skip, ratio
from bench.timing import interleaved

FRONTIER = {"epochs": 10, "lr": 1e-3, "per_class": 600}
F1_TOLERANCE = 0.01  # "within 1 point macro-F1"


def target_scores(ctx: Context, run_dir: Path) -> dict[str, float]:
    """Macro-F1 of a run on each southern target, unaligned and automatically aligned."""
    from cropedge.data import load_regions
    from cropedge.training.evaluate import evaluate_run

    data = fixtures.synthetic_dir(ctx, FRONTIER["per_class"])
    out = {}
    for t in fixtures.TARGETS:
        target = load_regions(data, [t])
        out[f"f1_{t}"] = float(evaluate_run(run_dir, target, map_unknown_to_other=True)["macro_f1"])
        aligned = evaluate_run(run_dir, target, map_unknown_to_other=True, season_offset="auto")
        out[f"f1_{t}_aligned"] = float(aligned["macro_f1"])
        out[f"offset_{t}"] = aligned["season_alignment"].get("days")
    out["macro_f1"] = sum(out[f"f1_{t}"] for t in fixtures.TARGETS) / len(fixtures.TARGETS)
    out["macro_f1_aligned"] = sum(out[f"f1_{t}_aligned"] for t in fixtures.TARGETS) / len(fixtures.TARGETS)
    return out


def lightest_good(rows: list[dict], reference: str, key: str = "macro_f1_aligned") -> dict | None:
    """The variant with the fewest MACs whose ``key`` score is within ``F1_TOLERANCE`` of the reference's."""
    ref = next(r for r in rows if r["model"] == reference)
    if ref.get(key) is None:
        return None
    good = [r for r in rows if r.get(key) is not None and r[key] >= ref[key] - F1_TOLERANCE]
    return min(good, key=lambda r: r["macs"])


def _cost(name: str) -> dict:
    """Trainable parameters and MACs per pixel of a freshly built variant (7 classes)."""
    from cropedge.models import count_macs, count_params, get_model

    model = get_model(name, 7)
    return {"model": name, "params": int(count_params(model)), "macs": int(count_macs(model))}


def frontier(ctx: Context) -> dict:
    """Params, MACs, int8 latency (batch 1, 1 thread) and shifted macro-F1 of every CropNet variant."""
    from cropedge.device.bundle import load_bundle
    from cropedge.models import list_models
    from cropedge.training.run import Run

    names = list_models(family="cropnet")
    if ctx.reference not in names:
        raise Skip(f"no {ctx.reference!r} model registered")
    rows = [_cost(n) for n in names]
    lightest = min(rows, key=lambda r: r["macs"])["model"]
    calls = {}
    for row in rows:
        name = row["model"]
        if ctx.quick and name not in (ctx.reference, lightest):
            continue
        run_dir = fixtures.trained_run(ctx, name) if ctx.quick else fixtures.trained_run(ctx, name, **FRONTIER)
        b = fixtures.bundles(ctx, run_dir, ("int8",))["int8"]
        meta = load_bundle(b).metadata
        calls[name] = invoker(model_bytes(b), prepared_samples(run_dir, 1), 1)
        row["int8_bytes"] = meta.model_bytes
        if not ctx.quick:
            row["val_f1"] = Run(run_dir).record.validation.macro_f1
            row.update(target_scores(ctx, run_dir))
            row["int8_agreement"] = (meta.self_check or {}).get("agreement")
    lat = interleaved(calls, batch=1, threads=1, rounds=3 if ctx.quick else 5, calls_per_round=20)
    for row in rows:
        if row["model"] in lat:
            row["int8_ms"] = lat[row["model"]]["median_ms"]
    ref = next(r for r in rows if r["model"] == ctx.reference)
    light = next(r for r in rows if r["model"] == lightest)
    ratios = [ratio(f"MACs {ctx.reference} / {lightest} (fewest MACs)", ref["macs"], light["macs"],
                    (ctx.reference, lightest)),
              ratio(f"int8 latency {lightest} / {ctx.reference}", light["int8_ms"], ref["int8_ms"],
                    (f"{lightest} ms", f"{ctx.reference} ms"))]
    notes = ["latency: raw interpreter, int8, batch 1, 1 thread, variants interleaved."]
    result: dict = {"tables": {"Variants": rows}}
    if ctx.quick:
        notes.append("accuracy not measured (--quick): no lightest good variant chosen.")
    else:
        best = lightest_good(rows, ctx.reference)
        result["lightest_good"] = best["model"]
        result["protocol"] = dict(FRONTIER, source=fixtures.SOURCE, targets=fixtures.TARGETS, seeds=1)
        ratios.append(ratio(f"MACs {ctx.reference} / {best['model']} (lightest within 1 point aligned macro-F1)",
                            ref["macs"], best["macs"], (f"{ctx.reference} MACs", f"{best['model']} MACs"), (">=", 10)))
        notes.append(
            f"trained {FRONTIER['epochs']} epochs, Adam lr {FRONTIER['lr']:g}, batch 256, on synthetic "
            f"{'+'.join(fixtures.SOURCE)} ({FRONTIER['per_class']} samples per class, 20% held out), one seed. "
            f"macro-F1 (mean over {', '.join(fixtures.TARGETS)}, float model): aligned {ctx.reference} "
            f"{ref['macro_f1_aligned']:.3f} vs {best['model']} {best['macro_f1_aligned']:.3f}; unaligned "
            f"{ref['macro_f1']:.3f} vs {best['macro_f1']:.3f}. One seed: differences of a few points are noise.")
    ctx.cache["lightest_good"] = result.get("lightest_good")
    return {**result, "ratios": ratios, "notes": notes}
