"""Measure the data-sized training budget: defaults vs the sweep's best vs RandomForest(500).

    python scripts/budget_sweep.py OUT [--sizes 20,100,500,5000] [--json bench/budget_sweep.json]

For each size (synthetic samples per class and region, ``cropedge data synth`` generator,
seed 0, regions FRA, ARG, AUS): ``cropedge train --sweep`` on FRA (the default grid: lr x 1,
/ 3, x 3, batch x 1, / 2, x 2, window the data's and day 121..334, each trial with the
budget the rule gives it), every trial scored on its held-out FRA validation split
(in-domain) and on ARG and AUS (cross-hemisphere, no season alignment, the reference's crop
sets as in training/cross_hemisphere.toml), and RandomForest(500) trained on the same split.

CPU time decides the models: CropNet width 32 (``cropnet-xs``) for 20 and 100 samples per
class, width 16 (``cropnet-xxs``) for 500 and 5 000, and at 5 000 a smaller grid (lr x 3,
batch x 1 and x 2, the data's window: 6 trials). The rule is about the optimizer and the
data size; docs/training.md says where the full CropNet was checked.

Everything resumes (sweeps, runs and the JSON are per size); a second call only prints.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cropedge.atomic import write_json  # noqa: E402
from cropedge.data import load_regions  # noqa: E402
from cropedge.data.synthetic import synthesize  # noqa: E402
from cropedge.training.evaluate import evaluate_run  # noqa: E402
from cropedge.training.recipe import TrainConfig, load_recipe  # noqa: E402
from cropedge.training.run import Run  # noqa: E402
from cropedge.training.sweep import BEST_DIR, TRIALS_DIR, SweepGrid, run_sweep  # noqa: E402
from cropedge.training.train import plan_run, train_run  # noqa: E402

PLAN = {  # samples per class -> (model, grid)
    20: ("cropnet-xs", SweepGrid()),
    100: ("cropnet-xs", SweepGrid()),
    500: ("cropnet-xxs", SweepGrid()),
    5000: ("cropnet-xxs", None),  # built from the budget: lr x 3, batch x 1 / x 2, the data's window
}
TARGETS = ("ARG", "AUS")


def small_grid(config: TrainConfig) -> SweepGrid:
    """The 5 000-sample grid: learning rate x 1, / 3, x 3; batch x 1, x 2; the data's window only."""
    budget, window, _ = plan_run(config)
    assert budget is not None
    lrs = tuple(float(f"{budget.lr * f:.1g}") for f in (1.0, 1 / 3, 3.0))
    return SweepGrid(lr=lrs, batch_size=(budget.batch_size, budget.batch_size * 2),
                     window=((window.start_doy, window.end_doy),))


def scores(run_dir: Path, targets: dict, crops: dict) -> dict:
    """In-domain (validation) and cross-hemisphere (mean over ARG, AUS) OA and macro-F1."""
    run = Run(run_dir)
    hemi = {t: evaluate_run(run, ds, map_unknown_to_other=True, crops=crops[t], season_offset=0)
            for t, ds in targets.items()}
    return {
        "val_oa": run.record.validation.oa, "val_macro_f1": run.record.validation.macro_f1,
        "hemi_oa": float(np.mean([r["oa"] for r in hemi.values()])),
        "hemi_macro_f1": float(np.mean([r["macro_f1"] for r in hemi.values()])),
        "per_target": {t: {"oa": r["oa"], "macro_f1": r["macro_f1"]} for t, r in hemi.items()},
        "epochs": run.record.epochs, "best_epoch": run.record.best_epoch,
        "train_seconds": run.record.train_seconds,
        "budget": run.record.budget.to_dict() if run.record.budget else None,
    }


def measure(out: Path, spc: int) -> dict:
    """Sweep, score every trial and the forest for one size."""
    data = out / "data" / f"spc{spc}"
    if not (data / "AUS.npz").is_file():
        synthesize(data, samples_per_class=spc, seed=0, regions=("FRA", *TARGETS))
    model, grid = PLAN[spc]
    config = TrainConfig(data=str(data), sources=("FRA",), model=model)
    grid = grid or small_grid(config)
    hemi = load_recipe(REPO / "training" / "cross_hemisphere.toml")
    crops = {t.name: t.crops for t in hemi.targets}
    targets = {t: load_regions(data, [t]) for t in TARGETS}
    started = time.time()
    sweep = run_sweep(config, grid, out / f"sweep-spc{spc}", verbose=1, prune=False)
    trials = {}
    for t in sweep.trials:
        folder = out / f"sweep-spc{spc}" / (BEST_DIR if t.name == sweep.best else f"{TRIALS_DIR}/{t.name}")
        trials[t.name] = {"lr": t.lr, "batch_size": t.batch_size, "window": [t.window.start_doy, t.window.end_doy],
                          "default": t.default, **scores(folder, targets, crops)}
    rf_dir = train_run(TrainConfig(data=str(data), sources=("FRA",), model="randomforest"), out / f"rf-spc{spc}",
                       verbose=0)
    default = next(name for name, t in trials.items() if t["default"])
    return {"samples_per_class": spc, "model": model, "n_train": trials[default]["budget"]["n_train"],
            "n_val": sweep.n_val, "default": default, "best": sweep.best, "trials": trials,
            "randomforest": scores(rf_dir, targets, crops), "seconds": round(time.time() - started)}


def table(results: dict) -> str:
    """Markdown: per size, defaults vs the sweep's best (chosen on validation) vs the forest, macro-F1."""
    lines = ["| samples per class | model | train / val | trials | default: val / cross-hemi. | sweep's best: val / "
             "cross-hemi. | best - default (points) | any trial's best cross-hemi. | "
             "RandomForest(500): val / cross-hemi. |",
             "|---|---|---|---|---|---|---|---|---|"]
    for spc in sorted(results, key=int):
        r = results[spc]
        d, b, rf = r["trials"][r["default"]], r["trials"][r["best"]], r["randomforest"]
        gap = " / ".join(f"{100 * (b[k] - d[k]):+.1f}" for k in ("val_macro_f1", "hemi_macro_f1"))
        top = max(r["trials"], key=lambda name: r["trials"][name]["hemi_macro_f1"])
        lines.append(f"| {spc} | {r['model']} | {r['n_train']} / {r['n_val']} | {len(r['trials'])} | "
                     f"{d['val_macro_f1']:.3f} / {d['hemi_macro_f1']:.3f} | {b['val_macro_f1']:.3f} / "
                     f"{b['hemi_macro_f1']:.3f} ({r['best']}) | {gap} | "
                     f"{r['trials'][top]['hemi_macro_f1']:.3f} ({top}) | "
                     f"{rf['val_macro_f1']:.3f} / {rf['hemi_macro_f1']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    """Measure the sizes not yet in the JSON, then print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--sizes", default="20,100,500,5000")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "budget_sweep.json")
    args = parser.parse_args()
    results = json.loads(args.json.read_text()) if args.json.is_file() else {}
    for spc in (int(s) for s in args.sizes.split(",")):
        if str(spc) not in results:
            results[str(spc)] = measure(args.out, spc)
            write_json(args.json, results)
    print(table(results))


if __name__ == "__main__":
    main()
