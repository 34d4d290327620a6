"""Real Sentinel-2 data: ``cropedge train`` defaults vs RandomForest(500), float32 vs int8.

    python scripts/real_data.py tests/data/worldcereal OUT [--seeds 0,1,2] [--sets uganda-2017,...] [--sweep]
        [--json docs/real_data.json]

The data folder holds the WorldCereal public extractions (``2023_FRA_LPIS_POLY_110.geoparquet``,
``2022_FRA_LPIS_POLY_110.geoparquet``, ``test_public_extractions.parquet``; legend CROPTYPE24).
Sets: France 2023 by tile group (south 30TYP+30TYT and north 30UYU+30UYV, each trained on and
scored on the other), France 2022 (Corsica, every tile) and Uganda 2017 (every tile). Per set
and seed: CropNet, cropnet-xs and TempCNN with the defaults (the data-sized budget), CropNet
under ``--protocol reference``, RandomForest(500) on the same split; every run scored on its
held-out validation split (in-domain) and on the other tile group; the default CropNet run
exported to float32 and int8 bundles and those scored in LiteRT on the same samples. With
``--sweep``: ``cropedge train --sweep`` of cropnet-xs per set (seed 0; 9 trials: lr x batch,
the data's window).

Everything resumes: runs, bundles and the JSON (one entry per set, model and seed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cropedge.atomic import write_json  # noqa: E402
from cropedge.data import load_regions  # noqa: E402
from cropedge.device.runtime import LiteModel  # noqa: E402
from cropedge.metrics import classification_report  # noqa: E402
from cropedge.training.evaluate import evaluate_run  # noqa: E402
from cropedge.training.recipe import TrainConfig  # noqa: E402
from cropedge.training.run import Run  # noqa: E402
from cropedge.training.sweep import BEST_DIR, SweepGrid, run_sweep  # noqa: E402
from cropedge.training.train import plan_run, train_run  # noqa: E402

FRA23, FRA22, UGA = "2023_FRA_LPIS_POLY_110.geoparquet", "2022_FRA_LPIS_POLY_110.geoparquet", \
    "test_public_extractions.parquet"
SOUTH, NORTH = ("30TYP", "30TYT"), ("30UYU", "30UYV")
SETS = {  # name -> (file, source tiles, {target name: tiles})
    "France 2023 south": (FRA23, SOUTH, {"north": NORTH}),
    "France 2023 north": (FRA23, NORTH, {"south": SOUTH}),
    "France 2022 (Corsica)": (FRA22, ("32TMM", "32TMN", "32TNL", "32TNM", "32TNN"), {}),
    "Uganda 2017": (UGA, ("36NWH", "36NWJ", "36NWK", "36NWL", "36NXF", "36NXH", "36NXJ", "36NXK", "36NXL"), {}),
}
MODELS = {  # label -> TrainConfig settings
    "cropnet": {"model": "cropnet"},
    "cropnet-xs": {"model": "cropnet-xs"},
    "tempcnn": {"model": "tempcnn"},
    "cropnet-reference": {"model": "cropnet", "protocol": "reference"},
    "randomforest": {"model": "randomforest"},
}


def slug(text: str) -> str:
    """A folder name for a set or model label."""
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def keras_scores(run_dir: Path, targets: dict) -> dict:
    """Validation and per-target OA / macro-F1 of a run (Keras or forest)."""
    run = Run(run_dir)
    out = {"validation": {"oa": run.record.validation.oa, "macro_f1": run.record.validation.macro_f1,
                          "n": run.record.validation.n}}
    for name, ds in targets.items():
        r = evaluate_run(run, ds)
        out[name] = {"oa": r["oa"], "macro_f1": r["macro_f1"], "n": r["n"]}
    rec = run.record
    out["info"] = {"epochs": rec.epochs, "best_epoch": rec.best_epoch, "train_seconds": rec.train_seconds,
                   "window": [rec.window.start_doy, rec.window.end_doy], "warnings": list(rec.warnings),
                   "budget": rec.budget.to_dict() if rec.budget else None, "n_train": rec.n_train}
    return out


def bundle_scores(bundle: Path, datasets: dict) -> dict:
    """OA / macro-F1 of a bundle in LiteRT on each dataset (labels matched by name)."""
    lite = LiteModel(bundle)
    out = {}
    for name, ds in datasets.items():
        y = lite.labels_of(ds)
        keep = y >= 0
        pred = lite.predict(lite.input_from(ds)[keep])[0]
        r = classification_report(y[keep], pred, lite.classes)
        out[name] = {"oa": r["oa"], "macro_f1": r["macro_f1"], "n": r["n"]}
    return out


def measure(data_dir: Path, out: Path, name: str, model: str, seed: int) -> dict:
    """One set, model and seed: train (or reuse), score, and for the default CropNet export and score bundles."""
    file, sources, target_tiles = SETS[name]
    data = str(data_dir / file)
    config = TrainConfig(data=data, sources=sources, seed=seed, **MODELS[model])
    run_dir = train_run(config, out / slug(name) / f"{slug(model)}-s{seed}", verbose=1)
    targets = {t: load_regions(data, list(tiles)) for t, tiles in target_tiles.items()}
    result = keras_scores(run_dir, targets)
    if model == "cropnet":
        from cropedge.export.exporter import export_run

        bundles = run_dir / "bundles"
        if not (bundles / "cropnet-int8" / "metadata.json").is_file():
            export_run(run_dir, ["float32", "int8"], bundles, quiet=True)
        run = Run(run_dir)
        datasets = {"validation": run.val_data(), **targets}
        result["bundles"] = {p: bundle_scores(bundles / f"cropnet-{p}", datasets) for p in ("float32", "int8")}
    return result


def sweep(data_dir: Path, out: Path, name: str) -> dict:
    """cropnet-xs sweep of one set (seed 0): lr x batch around the budget, the data's window; the best scored."""
    file, sources, target_tiles = SETS[name]
    data = str(data_dir / file)
    config = TrainConfig(data=data, sources=sources, model="cropnet-xs")
    _, window, _ = plan_run(config)
    grid = SweepGrid(window=((window.start_doy, window.end_doy),))
    folder = out / slug(name) / "sweep-cropnet-xs"
    record = run_sweep(config, grid, folder, verbose=1)
    targets = {t: load_regions(data, list(tiles)) for t, tiles in target_tiles.items()}
    return {"sweep": record.to_dict(), "best": keras_scores(folder / BEST_DIR, targets)}


def main() -> None:
    """Measure what the JSON lacks, then print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--sets", default=",".join(slug(n) for n in SETS), help="sets by folder name, e.g. uganda-2017")
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--json", type=Path, default=REPO / "docs" / "real_data.json")
    args = parser.parse_args()
    results = json.loads(args.json.read_text()) if args.json.is_file() else {}
    names = [n for n in SETS if slug(n) in args.sets.split(",")]
    for seed in (int(s) for s in args.seeds.split(",")):
        for name in names:
            for model in args.models.split(","):
                key = f"{name} | {model} | {seed}"
                if key not in results:
                    results[key] = measure(args.data_dir, args.out, name, model, seed)
                    write_json(args.json, results)
    if args.sweep:
        for name in names:
            key = f"{name} | sweep cropnet-xs | 0"
            if key not in results:
                results[key] = sweep(args.data_dir, args.out, name)
                write_json(args.json, results)
    print(table(results))


def table(results: dict) -> str:
    """Markdown: per set and scoring split, OA / macro-F1 of every model, the cropnet-xs sweep's best, int8."""
    seeds = sorted({int(k.split(" | ")[2]) for k in results if "sweep" not in k})
    lines = ["| set | train | scored on | n | " + " | ".join(MODELS) + " | cropnet-xs sweep's best | "
             "CropNet float32 / int8 OA (LiteRT) |", "|---|---|---|---|" + "---|" * (len(MODELS) + 2)]
    for name, (_, _, target_tiles) in SETS.items():
        first = results.get(f"{name} | cropnet | {seeds[0]}") if seeds else None
        n_train = first["info"]["n_train"] if first else ""
        for where in ("validation", *target_tiles):
            cells, n = [], ""
            for model in MODELS:
                runs = [results.get(f"{name} | {model} | {s}") for s in seeds]
                runs = [r[where] for r in runs if r is not None]
                n = n or (runs[0]["n"] if runs else "")
                cells.append(_cell(runs))
            best = results.get(f"{name} | sweep cropnet-xs | 0")
            cells.append(_cell([best["best"][where]]) if best else "")
            bundles = [results[k]["bundles"] for k in (f"{name} | cropnet | {s}" for s in seeds) if k in results]
            oa = {p: sum(b[p][where]["oa"] for b in bundles) / len(bundles) for p in ("float32", "int8")} \
                if bundles else None
            cells.append(f"{oa['float32']:.3f} / {oa['int8']:.3f}" if oa else "")
            lines.append(f"| {name} | {n_train} | {where} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(runs: list[dict]) -> str:
    """``OA / macro-F1``, means over seeds."""
    if not runs:
        return ""
    oa, f1 = (sum(r[k] for r in runs) / len(runs) for k in ("oa", "macro_f1"))
    return f"{oa:.3f} / {f1:.3f}"


if __name__ == "__main__":
    main()
