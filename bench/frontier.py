"""The edge frontier: every CropNet width/depth variant's size, cost, int8 latency and accuracy
under the cross-hemisphere shift (trained on FRA, scored on ARG and AUS).

Accuracy is a quick estimate: one seed, a short training on the synthetic set (epochs in
the result), macro-F1 of the float model on each southern target (the reference's
protocol: predictions outside a target's crop set become ``other``), averaged over targets.
``--quick`` skips the accuracy and times variants trained for one epoch.
"""

from __future__ import annotations

from bench import fixtures
from bench.context import Context
from bench.inference import invoker, model_bytes, prepared_samples
from bench.results import Skip, ratio
from bench.timing import interleaved

FRONTIER_EPOCHS = 15
F1_TOLERANCE = 0.01  # "within 1 point macro-F1"


def cropnet_variants() -> list[str]:
    """Registered models of the CropNet family, in registry order (the reference first)."""
    from cropedge.models import list_models, model_spec

    return [n for n in list_models() if model_spec(n).family == "cropnet"]


def target_macro_f1(ctx: Context, run_dir) -> dict[str, float]:
    """Macro-F1 of a run on each southern target region."""
    from cropedge.data import load_regions
    from cropedge.evaluate import evaluate_run

    data = fixtures.synthetic_dir(ctx)
    return {t: float(evaluate_run(run_dir, load_regions(data, [t]), map_unknown_to_other=True)["macro_f1"])
            for t in fixtures.TARGETS}


def lightest_good(rows: list[dict], reference: str) -> dict | None:
    """The variant with the fewest MACs whose macro-F1 is within ``F1_TOLERANCE`` of the reference's."""
    ref = next(r for r in rows if r["model"] == reference)
    if ref.get("macro_f1") is None:
        return None
    good = [r for r in rows if r.get("macro_f1") is not None and r["macro_f1"] >= ref["macro_f1"] - F1_TOLERANCE]
    return min(good, key=lambda r: r["macs"])


def _cost(name: str) -> dict:
    """Trainable parameters and MACs per pixel of a freshly built variant (7 classes)."""
    from cropedge.models import count_macs, count_params, get_model

    model = get_model(name, 7)
    return {"model": name, "params": int(count_params(model)), "macs": int(count_macs(model))}


def frontier(ctx: Context) -> dict:
    """Params, MACs, int8 latency (batch 1, 1 thread) and shifted macro-F1 of every CropNet variant.

    ``--quick`` times only the reference and the variant with the fewest MACs, untrained for
    accuracy (one epoch), and measures no accuracy.
    """
    from cropedge.bundle import load_bundle
    from cropedge.run import Run

    names = cropnet_variants()
    if ctx.reference not in names:
        raise Skip(f"no {ctx.reference!r} model registered")
    rows = [_cost(n) for n in names]
    lightest = min(rows, key=lambda r: r["macs"])["model"]
    timed = [n for n in names if not ctx.quick or n in (ctx.reference, lightest)]
    epochs = fixtures.SPEED_EPOCHS if ctx.quick else FRONTIER_EPOCHS
    calls = {}
    for row in rows:
        name = row["model"]
        if name not in timed:
            continue
        run_dir = fixtures.trained_run(ctx, name, epochs)
        b = fixtures.bundles(ctx, name, epochs, ("int8",))["int8"]
        calls[name] = invoker(model_bytes(b), prepared_samples(run_dir, 1), 1)
        row["int8_bytes"] = int(load_bundle(b).meta["model_bytes"])
        if not ctx.quick:
            f1 = target_macro_f1(ctx, run_dir)
            row.update({f"macro_f1_{t}": v for t, v in f1.items()})
            row["macro_f1"] = sum(f1.values()) / len(f1)
            row["val_macro_f1"] = float(Run(run_dir).meta["validation"]["macro_f1"])
            row["int8_agreement"] = (load_bundle(b).meta.get("self_check") or {}).get("agreement")
    lat = interleaved(calls, batch=1, threads=1, rounds=3 if ctx.quick else 5, calls_per_round=20)
    for row in rows:
        if row["model"] in lat:
            row["int8_ms"] = lat[row["model"]]["median_ms"]
    ref = next(r for r in rows if r["model"] == ctx.reference)
    ratios = [ratio(f"MACs of {ctx.reference} / {lightest} (fewest MACs)", ref["macs"],
                    next(r["macs"] for r in rows if r["model"] == lightest), (ctx.reference, lightest))]
    notes = [f"trained {epochs} epoch(s) on synthetic {'+'.join(fixtures.SOURCE)} "
             f"({fixtures.samples_per_class(ctx)} samples per class, 20% held out for validation), one seed; "
             "latency: raw interpreter, int8, batch 1, 1 thread, variants interleaved."]
    result = {"epochs": epochs, "tables": {"Variants": rows}}
    best = None if ctx.quick else lightest_good(rows, ctx.reference)
    if best is not None:
        result["lightest_good"] = best["model"]
        ratios.append(ratio(f"MACs of {ctx.reference} / {best['model']} (lightest within 1 point macro-F1)",
                            ref["macs"], best["macs"], (f"{ctx.reference} MACs", f"{best['model']} MACs"), (">=", 10)))
        ratios.append(ratio(f"int8 latency {best['model']} / {ctx.reference}", best["int8_ms"], ref["int8_ms"],
                            (f"{best['model']} ms", f"{ctx.reference} ms")))
        notes.append(f"macro-F1: mean over {', '.join(fixtures.TARGETS)} of the float model, predictions outside a "
                     f"target's crop set mapped to other; {ctx.reference} {ref['macro_f1']:.3f}, "
                     f"{best['model']} {best['macro_f1']:.3f}.")
    else:
        notes.append("accuracy not measured (--quick): no lightest good variant chosen.")
    ctx.cache["lightest_good"] = result.get("lightest_good")
    return {**result, "ratios": ratios, "notes": notes}
