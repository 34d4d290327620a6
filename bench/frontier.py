"""The edge frontier, converged: each student's cost, int8 latency and accuracy under every shift.

For every synthetic transfer setting of the CropGlobe recipes (``training/cross_*.toml``:
their sources, targets, season offsets and crop sets) the reference CropNet and each student
are trained with the **default, data-sized budget** (``TrainConfig`` defaults: the recipes'
reference-protocol settings are not used), each student twice: on the labels alone and
distilled from the CropNet of the same source and seed (``cropedge.training.distill``,
default settings). Every run is exported to full-integer int8 (post-training) and scored,
float and int8, on each target: macro-F1 with the recipe's crop-set mapping, without and
(where the recipe gives one) with its season offset; in-domain is the held-out source
validation split. A setting's score is the mean over its targets, then over seeds.

Latency: each model's int8 bundle on the raw LiteRT interpreter (XNNPACK), batch 1 and
256, 1 and 2 threads, models interleaved so that load drifts hit them alike.

Real data: the WorldCereal sets in the checkout (``tests/data/worldcereal``; skipped when
absent): France 2023 south-west tiles -> northern tiles, and France 2023, Corsica 2022
and Uganda 2017 each on a held-out 20 %; overall accuracy of CropNet and of each student
(labels alone, distilled).

Runs are kept in ``RUNS`` (``python -m bench.frontier --runs DIR``, or the environment
variable ``CROPEDGE_FRONTIER_RUNS`` for ``make bench``) and every finished run, bundle and
score is reused, so a killed measurement resumes and a rerun only re-times. ``--quick``
trains a tiny reference and one student for two epochs on a tiny set (a smoke run).
``--settings``, ``--students``, ``--samples-per-class`` and ``--real-sets`` size a run down
(settings with the same source share their runs: only the scoring is per setting).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.context import Context
from bench.results import ratio
from bench.timing import interleaved

REPO = Path(__file__).resolve().parents[1]
SETTINGS = ("cross_country", "cross_continent", "cross_hemisphere", "cross_hemisphere_usa")
STUDENTS = ("tcn-s", "tcn", "tcn-l", "tcn-dense", "cropnet-xs")
QUICK_STUDENTS = ("tcn-s",)
WORLDCEREAL = REPO / "tests" / "data" / "worldcereal"
# real sets: name -> (file, source tiles (None: all), target tiles (None: held-out split only))
REAL_SETS = {
    "France 2023, south-west -> north": ("2023_FRA_LPIS_POLY_110.geoparquet", ("30TYP", "30TYT"), ("30UYU", "30UYV")),
    "France 2023": ("2023_FRA_LPIS_POLY_110.geoparquet", None, None),
    "Corsica 2022": ("2022_FRA_LPIS_POLY_110.geoparquet", None, None),
    "Uganda 2017": ("test_public_extractions.parquet", None, None),
}
SAMPLES_PER_CLASS, QUICK_SAMPLES_PER_CLASS = 200, 20
F1_TOLERANCE = 0.01  # "within 1 point macro-F1" (and OA on real data)
INT8_TOLERANCE = 0.005  # int8 "within 0.5 point" of float32
LATENCY = ((1, 1), (1, 2), (256, 1), (256, 2))  # (batch, threads)
KD = "kd"


@dataclass(frozen=True)
class Plan:
    """What to train: models, seeds and where."""

    runs: Path
    reference: str
    students: tuple[str, ...]
    seeds: tuple[int, ...]
    quick: bool = False
    data_dir: Path | None = None
    settings: tuple[str, ...] = SETTINGS
    samples_per_class: int = SAMPLES_PER_CLASS
    real_sets: tuple[str, ...] = tuple(REAL_SETS)

    @property
    def data(self) -> Path:
        """The synthetic CropGlobe folder (``RUNS/data`` unless given; made once)."""
        return self.data_dir or self.runs / "data"

    def changes(self) -> dict:
        """TrainConfig changes of a quick run (none for a full one: the default budget)."""
        return {"epochs": 2, "patience": 0} if self.quick else {}


def _recipes(plan: Plan) -> list:
    from cropedge.grid.bench import settings_from_recipes

    return settings_from_recipes([REPO / "training" / f"{s}.toml" for s in plan.settings], data=plan.data)


def _synthesize(plan: Plan) -> None:
    """Make the synthetic regions once; a folder made at another size is refused, not mixed in."""
    if (plan.data / "USA.npz").is_file():
        with np.load(plan.data / "FRA.npz") as fra:
            sizes = set(np.unique(fra["lbl"], return_counts=True)[1].tolist())
        if sizes != {plan.samples_per_class}:
            sys.exit(f"frontier: error: {plan.data} holds {sorted(sizes)} samples per class, not "
                     f"{plan.samples_per_class}: give another --runs or --data")
        return
    from cropedge.data.synthetic import synthesize

    synthesize(plan.data, samples_per_class=plan.samples_per_class, seed=0)


def _train(config: Any, out: Path) -> Path:
    from cropedge.training.train import train_run

    print(f"[frontier] {out.name}", file=sys.stderr, flush=True)
    return train_run(config, out, verbose=0)


def train_all(plan: Plan, sources: Iterable[tuple[str, Any]]) -> dict[tuple[str, str, str | None, int], Path]:
    """Every run: ``{(source tag, model, teacher or None, seed): run folder}``; finished ones are reused.

    ``sources`` are (tag, base TrainConfig) pairs: the config of the source's data and regions
    with everything else at its default.
    """
    from cropedge.training.distill import distill_config

    done = {}
    for tag, base in sources:
        for seed in plan.seeds:
            teacher = _train(replace(base, model=plan.reference, seed=seed, **plan.changes()),
                             plan.runs / f"{tag}-{plan.reference}-s{seed}")
            done[(tag, plan.reference, None, seed)] = teacher
            for student in plan.students:
                config = replace(base, model=student, seed=seed, **plan.changes())
                done[(tag, student, None, seed)] = _train(config, plan.runs / f"{tag}-{student}-s{seed}")
                kd = distill_config(teacher, student, seed=seed, **plan.changes())
                done[(tag, student, plan.reference, seed)] = _train(kd, plan.runs / f"{tag}-{student}-{KD}-s{seed}")
    return done


def int8_bundle(plan: Plan, run_dir: Path) -> Path:
    """The run's post-training int8 bundle (exported once)."""
    from cropedge.device.bundle import load_bundle
    from cropedge.errors import CropEdgeError
    from cropedge.export.exporter import export_run
    from cropedge.training.run import Run

    out = plan.runs / "bundles" / run_dir.name
    folder = out / f"{Run(run_dir).record.model}-int8"
    try:
        load_bundle(folder)
    except CropEdgeError:
        export_run(run_dir, ["int8"], out, quiet=True)
    return folder


def _cached(path: Path, compute: Any) -> Any:
    """``compute()``, stored as JSON at ``path`` and read back on later calls."""
    from cropedge.atomic import write_json

    if path.is_file():
        return json.loads(path.read_text())
    value = compute()
    write_json(path, value)
    return value


def synthetic_scores(plan: Plan, run_dir: Path, settings: list) -> dict:
    """``{column: {"float32": macro-F1, "int8": macro-F1}}`` of one run; columns as in the table."""
    from cropedge.data import load_regions
    from cropedge.device.runtime import LiteModel
    from cropedge.training.evaluate import evaluate_run
    from cropedge.training.run import Run

    def compute() -> dict:
        run = Run(run_dir)
        models = {"float32": run, "int8": LiteModel(int8_bundle(plan, run_dir))}
        source = "+".join(run.record.sources)
        out: dict[str, dict[str, float]] = {}
        val = run.val_data()
        out[f"in-domain ({source})"] = {p: float(evaluate_run(m, val)["macro_f1"]) for p, m in models.items()}
        for s in settings:
            if "+".join(s.train.sources) != source:
                continue
            # a recipe that moves its targets' seasons gets a column without and one with the move
            variants = (False, True) if any(t.season_offset not in (None, 0) for t in s.targets) else (False,)
            for aligned in variants:
                column = s.name.replace("_", "-") + (", aligned" if aligned else "")
                per_target: dict[str, list[float]] = {p: [] for p in models}
                for t in s.targets:
                    data = load_regions(plan.data, list(t.regions))
                    offset = t.season_offset if aligned else None
                    for p, m in models.items():
                        res = evaluate_run(m, data, s.map_unknown_to_other, t.crops, season_offset=offset)
                        per_target[p].append(float(res["macro_f1"]))
                out[column] = {p: float(np.mean(v)) for p, v in per_target.items()}
        return out

    return _cached(plan.runs / "scores" / f"{run_dir.name}.json", compute)


def latency(plan: Plan, bundles: dict[str, Path], x: np.ndarray) -> dict[str, dict[str, float]]:
    """Median int8 latency (ms) per model at every (batch, threads) of ``LATENCY``, models interleaved."""
    from bench.inference import invoker, model_bytes

    out: dict[str, dict[str, float]] = {name: {} for name in bundles}
    for batch, threads in LATENCY:
        xb = np.resize(x, (batch, *x.shape[1:])).astype(np.float32)
        calls = {name: invoker(model_bytes(b), xb, threads) for name, b in bundles.items()}
        timed = interleaved(calls, batch=batch, threads=threads, rounds=3 if plan.quick else 5,
                            calls_per_round=3 if batch > 1 else 20)
        for name, stats in timed.items():
            out[name][f"int8 ms b{batch} t{threads}"] = stats["median_ms"]
    return out


def _label(model: str, teacher: str | None) -> str:
    return f"{model} <- {teacher}" if teacher else model


def frontier_table(plan: Plan, runs: dict, settings: list) -> tuple[list[dict], dict]:
    """One row per model (and distilled student): cost, size, latency, float and int8 macro-F1 per setting."""
    from cropedge.device.bundle import load_bundle
    from cropedge.models import count_macs, count_params, get_model
    from cropedge.training.run import Run

    scores: dict[tuple, dict[str, dict[str, list[float]]]] = {}
    for (_, model, teacher, _seed), run_dir in runs.items():
        cols = scores.setdefault((model, teacher), {})
        for column, by_precision in synthetic_scores(plan, run_dir, settings).items():
            for precision, value in by_precision.items():
                cols.setdefault(column, {}).setdefault(precision, []).append(value)
    first = {(m, t): d for (_, m, t, s), d in runs.items() if s == plan.seeds[0]}
    bundles = {m: int8_bundle(plan, d) for (m, t), d in first.items() if t is None}
    some_run = next(iter(first.values()))
    run = Run(some_run)
    x = run.prepare_dataset(run.val_data())
    lat = latency(plan, bundles, x)
    rows = []
    for (model, teacher), cols in scores.items():
        built = get_model(model, 7, input_shape=tuple(Run(first[(model, teacher)]).record.input_shape))
        row: dict[str, Any] = {"model": _label(model, teacher), "params": count_params(built),
                               "MACs": count_macs(built), "int8 KB": round(load_bundle(bundles[model]).metadata
                                                                          .model_bytes / 1024, 1)}
        row.update(lat[model])
        for column, by_precision in cols.items():
            row[f"{column} F1"] = float(np.mean(by_precision["float32"]))
            row[f"{column} int8"] = float(np.mean(by_precision["int8"]))
        row["seeds"] = len(plan.seeds)
        rows.append(row)
    rows.sort(key=lambda r: (-r["MACs"], r["model"]))
    return rows, scores


def _gaps(row: dict, ref: dict, columns: list[str]) -> tuple[float, float]:
    """Worst float macro-F1 gap to the reference over the columns, and worst int8 - float32."""
    vs_ref = min(row[f"{c} F1"] - ref[f"{c} F1"] for c in columns)
    int8 = min(row[f"{c} int8"] - row[f"{c} F1"] for c in columns)
    return vs_ref, int8


def lightest_good(rows: list[dict], reference: str, columns: list[str]) -> dict | None:
    """The row with the fewest MACs within ``F1_TOLERANCE`` of the reference in every column, int8 included."""
    ref = next(r for r in rows if r["model"] == reference)
    good = []
    for r in rows:
        if r["model"] == reference:
            continue
        vs_ref, int8 = _gaps(r, ref, columns)
        if vs_ref >= -F1_TOLERANCE and int8 >= -INT8_TOLERANCE:
            good.append(r)
    return min(good, key=lambda r: (r["MACs"], r["model"])) if good else None


def real_tag(name: str) -> str:
    """The short name of a real set (its runs' prefix, and what ``--real-sets`` takes)."""
    file, sources, targets = REAL_SETS[name]
    return name.split(",")[0].replace(" ", "-") + ("-sw" if targets else "")


def real_sets(plan: Plan, student: str) -> list[dict]:
    """OA of the reference and of ``student`` (labels alone, distilled) on each real set; [] without the data."""
    if plan.quick or not plan.real_sets or not WORLDCEREAL.is_dir():
        return []
    plan = replace(plan, students=(student,))
    from cropedge.data import load_dataset, load_regions
    from cropedge.training.evaluate import evaluate_run
    from cropedge.training.recipe import TrainConfig
    from cropedge.training.run import Run

    rows = []
    for name in plan.real_sets:
        file, sources, targets = REAL_SETS[name]
        path = WORLDCEREAL / file
        regions = sources or tuple(load_dataset(path).regions())
        tag = real_tag(name)
        runs = train_all(plan, [(tag, TrainConfig(data=str(path), sources=regions))])
        target = load_regions(path, list(targets)) if targets else None

        def score(run_dir: Path, target: Any = target) -> dict:
            def compute() -> dict:
                run = Run(run_dir)
                out = {"held-out OA": float(run.record.validation.oa)}
                if target is not None:
                    out["target OA"] = float(evaluate_run(run, target)["oa"])
                return out

            return _cached(plan.runs / "scores" / f"{run_dir.name}.json", compute)

        by_model: dict[str, dict[str, list[float]]] = {}
        for (_, model, teacher, _seed), run_dir in runs.items():
            for key, value in score(run_dir).items():
                by_model.setdefault(_label(model, teacher), {}).setdefault(key, []).append(value)
        for label, values in by_model.items():
            rows.append({"set": name, "model": label, **{k: float(np.mean(v)) for k, v in values.items()},
                         "n_val": Run(next(d for (_, m, t, s), d in runs.items()
                                           if _label(m, t) == label)).record.n_val})
    return rows


def _tables(rows: list[dict], columns: list[str]) -> dict[str, list[dict]]:
    """The rows as three readable tables: cost and latency, float32 macro-F1, int8 macro-F1."""
    cost = ("model", "params", "MACs", "MACs / reference", "int8 KB", *(f"int8 ms b{b} t{t}" for b, t in LATENCY))
    return {
        "Cost and int8 latency (LiteRT, XNNPACK, median ms per invoke)": [{k: r[k] for k in cost} for r in rows],
        "float32 macro-F1 per setting (mean over targets and seeds)": [
            {"model": r["model"], **{c: r[f"{c} F1"] for c in columns}, "worst - reference": r["worst F1 - reference"]}
            for r in rows],
        "int8 macro-F1 per setting": [
            {"model": r["model"], **{c: r[f"{c} int8"] for c in columns},
             "worst int8 - float32": r["worst int8 - float32"]}
            for r in rows],
    }


def run_frontier(plan: Plan) -> dict:
    """Train (or reuse) every run, score and time them; the section's result."""
    from cropedge.training.recipe import TrainConfig

    _synthesize(plan)
    settings = _recipes(plan)
    sources = {"+".join(s.train.sources): s.train.sources for s in settings}
    runs = train_all(plan, [(tag, TrainConfig(data=str(plan.data), sources=regions))
                            for tag, regions in sources.items()])
    rows, _ = frontier_table(plan, runs, settings)
    columns = [k[: -len(" F1")] for k in rows[0] if k.endswith(" F1")]
    ref = next(r for r in rows if r["model"] == plan.reference)
    for r in rows:
        r["MACs / reference"] = round(ref["MACs"] / r["MACs"], 1)
        vs_ref, int8 = _gaps(r, ref, columns)
        r["worst F1 - reference"], r["worst int8 - float32"] = vs_ref, int8
    result: dict[str, Any] = {"rows": rows, "tables": _tables(rows, columns)}
    notes = [
        f"synthetic data: cropedge data synth, {plan.samples_per_class} samples per class, seed 0; "
        f"seeds {', '.join(map(str, plan.seeds))}; default budget (data-sized) for every run"
        + (" (quick: 2 epochs)" if plan.quick else "") + f"; distillation: {plan.reference} of the same source and "
        "seed as teacher, default settings (alpha 0.5, temperature 2).",
        "columns: macro-F1 over the setting's targets (crop-set mapping as in the recipe), float32 (F1) and the "
        "post-training int8 bundle in LiteRT (int8); 'aligned' moves the targets by the recipe's season offset.",
        "latency: raw LiteRT interpreter (XNNPACK), int8, median ms per invoke of the batch, models interleaved.",
    ]
    ratios = []
    best = lightest_good(rows, plan.reference, columns)
    result["lightest_good"] = best["model"].split(" <- ")[0] if best else None
    if best is not None:
        vs_ref, int8 = _gaps(best, ref, columns)
        ratios += [
            ratio(f"MACs {plan.reference} / {best['model']} (lightest within 1 point macro-F1 in every setting)",
                  ref["MACs"], best["MACs"], (f"{plan.reference} MACs", f"{best['model']} MACs"), (">=", 10)),
            ratio(f"{best['model']} worst-setting macro-F1 / {plan.reference}'s (same setting)",
                  1 + vs_ref, 1.0, ("1 + worst difference", "1"), (">=", 1 - F1_TOLERANCE)),
            ratio(f"{best['model']} worst-setting int8 macro-F1 / its float32",
                  1 + int8, 1.0, ("1 + worst int8 - float32", "1"), (">=", 1 - INT8_TOLERANCE)),
        ]
    else:
        notes.append(f"no student is within {F1_TOLERANCE:g} macro-F1 of {plan.reference} in every setting "
                     f"with int8 within {INT8_TOLERANCE:g}: see the worst-gap columns.")
    # real data for the frontier's pick: the lightest good student, else the one closest to the reference
    candidate = best or max((r for r in rows if r["model"] != plan.reference),
                            key=lambda r: (min(r["worst F1 - reference"], 0), -r["MACs"]))
    real = real_sets(plan, candidate["model"].split(" <- ")[0])
    if real:
        result["tables"]["Real WorldCereal sets (overall accuracy, mean over seeds)"] = real
        label = candidate["model"]
        gaps = []
        for name in plan.real_sets:
            mine = next((r for r in real if r["set"] == name and r["model"] == label), None)
            refr = next((r for r in real if r["set"] == name and r["model"] == plan.reference), None)
            if mine and refr:
                key = "target OA" if "target OA" in mine else "held-out OA"
                gaps.append(mine[key] - refr[key])
        ratios.append(ratio(f"{label} worst real-set OA / {plan.reference}'s", 1 + min(gaps), 1.0,
                                ("1 + worst OA difference", "1"), (">=", 1 - F1_TOLERANCE)))
        notes.append("real sets: OA on the held-out 20 % of the source (in-domain) and, for south-west -> north, "
                     "on the northern tiles; a few dozen to a few hundred samples, so one sample moves OA by "
                     "0.5 to 2.5 points.")
    result["protocol"] = {"seeds": list(plan.seeds), "students": list(plan.students), "reference": plan.reference,
                          "settings": list(plan.settings), "samples_per_class": plan.samples_per_class,
                          "real_sets": list(plan.real_sets), "distill": {"alpha": 0.5, "temperature": 2.0}}
    return {**result, "ratios": ratios, "notes": notes}


def _plan_from(ctx: Context) -> Plan:
    runs = Path(os.environ.get("CROPEDGE_FRONTIER_RUNS") or ctx.work / "frontier")
    seeds = tuple(int(s) for s in os.environ.get("CROPEDGE_FRONTIER_SEEDS", "0").split(","))
    return Plan(runs.resolve(), ctx.reference, QUICK_STUDENTS if ctx.quick else STUDENTS, seeds, ctx.quick,
                samples_per_class=QUICK_SAMPLES_PER_CLASS if ctx.quick else SAMPLES_PER_CLASS)


def frontier(ctx: Context) -> dict:
    """The ``make bench`` section (``CROPEDGE_FRONTIER_RUNS`` keeps and reuses the runs)."""
    result = run_frontier(_plan_from(ctx))
    ctx.cache["lightest_good"] = result.get("lightest_good")
    return result


def _names(known: tuple[str, ...], allow_none: bool = False) -> Any:
    """An argparse type: a comma-separated subset of ``known`` (``none``: the empty one, if allowed)."""

    def parse(text: str) -> tuple[str, ...]:
        if allow_none and text == "none":
            return ()
        names = tuple(text.split(","))
        unknown = [n for n in names if n not in known]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown)}; known: {', '.join(known)}")
        return names

    return parse


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.frontier --runs DIR [--seeds 0,1,2] [--settings ...] [--out FILE]``: train, score, time."""
    from cropedge.atomic import write_json

    parser = argparse.ArgumentParser(prog="python -m bench.frontier", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, required=True, help="folder that keeps the runs (resumable)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    parser.add_argument("--reference", default="cropnet", help="the teacher and reference model")
    parser.add_argument("--out", type=Path, help="write the result JSON here")
    parser.add_argument("--students", help=f"comma-separated students (default {','.join(STUDENTS)})")
    parser.add_argument("--data", type=Path, help="synthetic data folder (default RUNS/data, made if missing)")
    parser.add_argument("--settings", type=_names(SETTINGS), default=SETTINGS,
                        help=f"comma-separated transfer settings (default {','.join(SETTINGS)})")
    parser.add_argument("--samples-per-class", type=int, help=f"synthetic samples per class and region (default "
                        f"{SAMPLES_PER_CLASS}, quick {QUICK_SAMPLES_PER_CLASS})")
    tags = {real_tag(n): n for n in REAL_SETS}
    parser.add_argument("--real-sets", type=_names(tuple(tags), allow_none=True), default=tuple(tags),
                        help=f"comma-separated real sets, or none (default {','.join(tags)})")
    parser.add_argument("--quick", action="store_true", help="tiny data, two epochs, one student")
    args = parser.parse_args(argv)
    students = tuple(args.students.split(",")) if args.students else QUICK_STUDENTS if args.quick else STUDENTS
    spc = args.samples_per_class or (QUICK_SAMPLES_PER_CLASS if args.quick else SAMPLES_PER_CLASS)
    plan = Plan(args.runs.resolve(), args.reference, students, tuple(int(s) for s in args.seeds.split(",")),
                args.quick, args.data.resolve() if args.data else None, settings=args.settings,
                samples_per_class=spc, real_sets=tuple(tags[t] for t in args.real_sets))
    result = run_frontier(plan)
    if args.out:
        write_json(args.out, result)
    from bench.markdown import table

    for title, rows in result["tables"].items():
        print(f"\n{title}:\n\n" + "\n".join(table(rows)))
    for r in result["ratios"]:
        print(f"{r['name']}: {r['value']:.3f} (target {r.get('target')}, met {r.get('met')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
