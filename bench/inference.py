"""Inference speed: int8 vs float32, cropedge vs a plain conversion, throughput, predict, maps, memory.

Latencies use the raw LiteRT interpreter (XNNPACK, the default CPU delegate) on each
flatbuffer unless a section says it times cropedge's own path (``LiteModel`` or
``cropedge predict``). Inputs are real prepared samples of the synthetic source region.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench import fixtures
from bench.context import Context
from bench.results import Skip, ratio
from bench.stack import STACK_DOY
from bench.timing import interleaved


def interpreter(flatbuffer: bytes, threads: int, batch: int, xnnpack: bool = True) -> Any:
    """A LiteRT interpreter for ``batch`` inputs (XNNPACK off only to show what it gives).

    Returns:
        An allocated interpreter of the class ``resolve_interpreter`` picks (LiteRT or TF Lite).
    """
    from cropedge.device.runtime import resolve_interpreter

    cls, _ = resolve_interpreter()
    kw = {}
    if not xnnpack:
        from ai_edge_litert.interpreter import OpResolverType

        kw["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    it = cls(model_content=flatbuffer, num_threads=threads, **kw)
    inp = it.get_input_details()[0]
    if inp["shape"][0] != batch:
        it.resize_tensor_input(inp["index"], [batch, *inp["shape"][1:]])
    it.allocate_tensors()
    return it


def quantize_input(x: np.ndarray, details: dict) -> np.ndarray:
    """Prepared float input -> the model's input dtype (int8 with the tensor's scale/zero point)."""
    dtype = np.dtype(details["dtype"])
    if dtype == np.float32:
        return x.astype(np.float32)
    scale, zero = details["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


def invoker(flatbuffer: bytes, x: np.ndarray, threads: int, xnnpack: bool = True) -> Callable[[], np.ndarray]:
    """A callable running one ``set_tensor`` + ``invoke`` + ``get_tensor`` on the batch ``x``."""
    it = interpreter(flatbuffer, threads, len(x), xnnpack)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    xq = quantize_input(x, inp)

    def call() -> np.ndarray:
        it.set_tensor(inp["index"], xq)
        it.invoke()
        return it.get_tensor(out["index"])

    return call


def prepared_samples(run_dir: Path, n: int) -> np.ndarray:
    """``n`` prepared [n, bands, T, 1] source samples (tiled if the source has fewer)."""
    from cropedge.training.run import Run

    run = Run(run_dir)
    x = run.prepare(run.source_data().x[:n])
    return np.resize(x, (n, *x.shape[1:])).astype(np.float32)


def plain_int8(run_dir: Path, rep: np.ndarray) -> bytes:
    """The same Keras model converted with a bare TFLiteConverter, no cropedge involved."""
    from cropedge.backend import keras, tf

    model = keras.models.load_model(Path(run_dir) / "model.keras", compile=False)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([rep[i : i + 1]] for i in range(len(rep)))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def model_bytes(bundle: Path) -> bytes:
    """The .tflite flatbuffer of a bundle folder."""
    from cropedge.device.bundle import load_bundle

    return load_bundle(bundle).model_bytes


def _reference_bundles(ctx: Context) -> tuple[Path, dict[str, Path]]:
    run_dir = fixtures.trained_run(ctx, ctx.reference)
    return run_dir, fixtures.bundles(ctx, run_dir)


def int8_vs_float(ctx: Context) -> dict:
    """Batch-1, 1-thread latency and file size of int8 vs float32, and cropedge vs plain int8."""
    run_dir, b = _reference_bundles(ctx)
    fp32, int8 = model_bytes(b["float32"]), model_bytes(b["int8"])
    rep = prepared_samples(run_dir, 300)
    plain = plain_int8(run_dir, rep)
    x1 = rep[:1]
    rounds = 3 if ctx.quick else 7
    lat = interleaved(
        {
            "float32": invoker(fp32, x1, 1),
            "int8 (cropedge bundle)": invoker(int8, x1, 1),
            "int8 (plain conversion)": invoker(plain, x1, 1),
            "int8 without XNNPACK": invoker(int8, x1, 1, xnnpack=False),
        },
        batch=1, threads=1, rounds=rounds, calls_per_round=20 if ctx.quick else 50,
    )
    ms = {k: v["median_ms"] for k, v in lat.items()}
    agree = float(np.mean(invoker(int8, rep, 1)().argmax(1) == invoker(plain, rep, 1)().argmax(1)))
    return {
        "ratios": [
            ratio("int8 / float32 latency (batch 1, 1 thread)", ms["int8 (cropedge bundle)"], ms["float32"],
                  ("int8 ms", "float32 ms"), ("<=", 0.25)),
            ratio("int8 / float32 file size", len(int8), len(fp32), ("int8 bytes", "float32 bytes"), ("<=", 0.27)),
            ratio("cropedge int8 / plain int8 latency", ms["int8 (cropedge bundle)"], ms["int8 (plain conversion)"],
                  ("cropedge ms", "plain ms"), ("<=", 1.10)),
            ratio("int8 without / with XNNPACK latency", ms["int8 without XNNPACK"], ms["int8 (cropedge bundle)"],
                  ("builtin kernels ms", "XNNPACK ms")),
        ],
        "latency": lat,
        "bytes": {"float32": len(fp32), "int8": len(int8), "int8_plain": len(plain)},
        "int8_plain_agreement": agree,
        "tables": {"Latency, batch 1, 1 thread (ms)": [
            {"model": k, "median": v["median_ms"], "mean": v["mean_ms"], "p5": v["p5_ms"], "p95": v["p95_ms"],
             "runs": v["runs"]} for k, v in lat.items()]},
        "notes": [f"{ctx.reference}, raw LiteRT interpreter, set_tensor + invoke + get_tensor; "
                  f"rounds of the four models interleaved; cropedge and plain int8 agree on {agree:.1%} of "
                  f"{len(rep)} source samples."],
    }


def throughput(ctx: Context) -> dict:
    """int8 and float32 pixels/s at a large batch, as MACs per second per core."""
    run_dir, b = _reference_bundles(ctx)
    from cropedge.device.bundle import load_bundle

    macs = load_bundle(b["int8"]).metadata.macs
    if macs is None:
        raise Skip("the int8 bundle records no MACs")
    batch = 64 if ctx.quick else 256
    x = prepared_samples(run_dir, batch)
    rows, per_core = [], {}
    for threads in sorted({1, ctx.threads}):
        lat = interleaved({p: invoker(model_bytes(b[p]), x, threads) for p in ("float32", "int8")},
                          batch=batch, threads=threads, rounds=3 if ctx.quick else 5, calls_per_round=3)
        for p, s in lat.items():
            mps = macs * s["pixels_per_s"] / threads
            per_core[(p, threads)] = mps
            rows.append({"precision": p, "threads": threads, "batch": batch, "pixels/s": s["pixels_per_s"],
                         "GMAC/s per core": mps / 1e9})
    t = ctx.threads
    return {
        "macs_per_pixel": macs,
        "int8_macs_per_s_per_core": per_core[("int8", 1)],
        "ratios": [ratio("int8 / float32 MACs/s per core (1 thread)", per_core[("int8", 1)], per_core[("float32", 1)],
                         ("int8 MAC/s", "float32 MAC/s")),
                   ratio(f"int8 MACs/s per core, {t} threads / 1 thread", per_core[("int8", t)], per_core[("int8", 1)],
                         (f"{t} threads", "1 thread"))],
        "tables": {"Throughput": rows},
        "notes": [f"MACs per pixel from count_macs (bundle metadata): {macs:,}; MACs/s per core = MACs x pixels/s / "
                  "threads; raw interpreter, prepared input already quantized."],
    }


def _pixel_table(ctx: Context, run_dir: Path, n: int) -> Path:
    """An .npz pixel table (CropGlobe format) of ``n`` source samples for ``cropedge predict``."""
    from cropedge.training.run import Run

    path = ctx.work / f"pixels-{n}.npz"
    if not path.is_file():
        src = Run(run_dir).source_data()
        src.subset(np.resize(np.arange(len(src.y)), n)).save_npz(path)
    return path


def predict_vs_raw(ctx: Context) -> dict:
    """``cropedge predict`` on a pixel table, end to end, vs the raw interpreter on the same pixels."""
    from cropedge.data import load_dataset
    from cropedge.device.predict import predict_file
    from cropedge.device.runtime import LiteModel

    run_dir, b = _reference_bundles(ctx)
    n, batch, threads = (2048 if ctx.quick else 8192), 1024, ctx.threads
    table = _pixel_table(ctx, run_dir, n)
    x = LiteModel(b["int8"]).prepare(load_dataset(table).x)
    raw_calls = [invoker(model_bytes(b["int8"]), x[i : i + batch], threads) for i in range(0, n, batch)]

    def raw() -> None:
        for call in raw_calls:
            call()

    def e2e() -> None:
        predict_file(b["int8"], table, ctx.work / "pred.npz", batch_size=batch, num_threads=threads)

    lat = interleaved({"cropedge predict": e2e, "raw interpreter": raw}, batch=n, threads=threads,
                      rounds=3, calls_per_round=1, warmup=1)
    e2e_px, raw_px = lat["cropedge predict"]["pixels_per_s"], lat["raw interpreter"]["pixels_per_s"]
    return {
        "ratios": [ratio("cropedge predict / raw interpreter pixels/s", e2e_px, raw_px,
                         ("predict px/s", "raw px/s"), (">=", 0.8))],
        "pixels": n, "batch": batch, "threads": threads, "latency": lat,
        "notes": [f"{n} pixels, int8 {ctx.reference}, batch {batch}, {threads} threads. "
                  "predict: read the .npz, gap-fill, normalise, quantize, batched invoke, write an .npz "
                  "(predict_file, model load included); raw: "
                  "invoke on already prepared and quantized batches. Three interleaved rounds, medians."],
    }


def predict_grid(ctx: Context) -> dict:
    """``LiteModel.predict_proba`` pixels/s for threads (1, all) x batch (1, 64, 1024), int8 reference."""
    from cropedge.device.latency import measure_bundle
    from cropedge.training.run import Run

    run_dir, b = _reference_bundles(ctx)
    x = Run(run_dir).source_data().x[:1024]
    rows = {}
    for threads in sorted({1, ctx.threads}):
        for batch in (1, 64, 1024):
            s = measure_bundle(b["int8"], batch, threads, warmup=1 if ctx.quick else 2,
                               runs=(3 if ctx.quick else 5) if batch == 1024 else 20,
                               max_seconds=1 if ctx.quick else 8, x_year=x)
            rows[(threads, batch)] = s.pixels_per_s
    t = ctx.threads
    return {
        "rows": [{"threads": k[0], "batch": k[1], "pixels/s": v} for k, v in rows.items()],
        "ratios": [
            ratio(f"predict pixels/s, {t} threads / 1 thread (batch 1024)", rows[(t, 1024)], rows[(1, 1024)],
                  (f"{t} threads", "1 thread")),
            ratio("predict pixels/s, batch 1024 / batch 1 (1 thread)", rows[(1, 1024)], rows[(1, 1)],
                  ("batch 1024", "batch 1")),
            ratio("predict pixels/s, batch 64 / batch 1 (1 thread)", rows[(1, 64)], rows[(1, 1)],
                  ("batch 64", "batch 1")),
        ],
    }


def _fewest_macs() -> str:
    from cropedge.models import count_macs, get_model, list_models

    return min(list_models(family="cropnet"), key=lambda n: count_macs(get_model(n, 7)))


def map_models(ctx: Context) -> dict[str, str]:
    """``{model: why}``: the registered int8 model with the fewest MACs, the lightest CropNet and student.

    Students are the ``tcn`` family (distillation targets). Map speed is about the cheap end of
    the frontier: a model of CropNet's cost runs at the interpreter's speed already (about
    1 000 px/s here) and would take an hour a round.
    """
    from cropedge.models import MODELS, count_macs, get_model, list_models

    def macs(name: str) -> int:
        return count_macs(get_model(name, 7))

    int8 = [n for n, spec in MODELS.items() if spec.quantizable]
    chosen = {min(int8, key=macs): "fewest MACs of every int8 model",
              min(list_models(family="cropnet"), key=macs): "fewest MACs of the CropNet variants"}
    students = list_models(family="tcn")
    if students:
        chosen.setdefault(min(students, key=macs), "the lightest temporal student (tcn family)")
    return chosen


def map_stack(ctx: Context, size: int, run_dir: Path, name: str = "stack") -> Path:
    """A ``size`` x ``size`` uint16 stack of the run's source series in the scratch folder (made once)."""
    from bench.stack import write_stack
    from cropedge.training.run import Run

    path = ctx.work / f"{name}-{size}.tif"
    if not path.is_file():
        src = Run(run_dir).source_data()
        write_stack(path, size, src.x, tuple(src.bands))
    return path


TILE = 10980  # a Sentinel-2 tile, 10 m pixels
MAP_SIZE = 1024  # the maps section's stack: 1 M pixels, 776 MB for a year of 10-day dates (quick: 128)


def _map_row(ctx: Context, name: str, why: str, batch: int = 1024) -> dict:
    """End-to-end map pixels/s of one model vs the bare interpreter on as many pixels, interleaved."""
    from cropedge.device.predict import predict_file

    run_dir = fixtures.trained_run(ctx, name)
    b = fixtures.bundles(ctx, run_dir, ("int8",))["int8"]
    size = 128 if ctx.quick else MAP_SIZE
    stack = map_stack(ctx, size, run_dir)
    call = invoker(model_bytes(b), prepared_samples(run_dir, batch), ctx.threads)
    calls = -(-size * size // batch)

    def interpreter() -> None:
        for _ in range(calls):
            call()

    def end_to_end() -> None:
        predict_file(b, stack, ctx.work / "map.tif", batch_size=batch, num_threads=ctx.threads)

    lat = interleaved({"map": end_to_end, "interpreter": interpreter}, batch=size * size, threads=ctx.threads,
                      rounds=2, calls_per_round=1, warmup=0, max_seconds=1)
    px_s, model_px = lat["map"]["pixels_per_s"], lat["interpreter"]["pixels_per_s"]
    return {"model": name, "why": why, "stack": f"{size} x {size}", "pixels/s": px_s, "model-only pixels/s": model_px,
            "map / interpreter": px_s / model_px, "tile minutes": TILE * TILE / px_s / 60}


def maps(ctx: Context) -> dict:
    """Pixels/s of ``cropedge predict`` on a GeoTIFF stack end to end vs the bare interpreter; a tile extrapolated.

    The model alone (raw interpreter, same batch and threads, prepared and quantized input,
    as many pixels as the stack) is timed in alternation with the map: their ratio is the
    share of the time the model gets, the rest being reading, resampling, gap filling,
    quantizing and writing that the map could not hide behind the model.
    """
    rows = [_map_row(ctx, name, why) for name, why in map_models(ctx).items()]
    ratios = []
    for r in rows:
        ratios.append(ratio(f"{r['model']}: map pixels/s / 200 000 (a {TILE} x {TILE} tile in 10 min)",
                            r["pixels/s"], 200_000, ("measured px/s", "needed px/s"), (">=", 1.0)))
        ratios.append(ratio(f"{r['model']}: map pixels/s / bare interpreter pixels/s", r["pixels/s"],
                            r["model-only pixels/s"], ("end-to-end px/s", "interpreter px/s"), (">=", 0.8)))
    return {
        "model": rows[0]["model"], "pixels_per_s": rows[0]["pixels/s"], "tile_minutes": rows[0]["tile minutes"],
        "ratios": ratios, "tables": {"Maps (int8)": rows},
        "notes": [f"uint16 GeoTIFF stack of 10 bands x {len(STACK_DOY)} dates (every 10 days, day 1..361), "
                  f"{ctx.threads} interpreter threads, batch 1024, cropedge predict end to end (read, resample to "
                  "the year grid, gap-fill, normalise, quantize, classify, write the class map; model load "
                  "included); two interleaved rounds of map and bare interpreter, medians; the tile time is "
                  "extrapolated from the measured pixels/s. Trainings are one epoch: speed does not depend on "
                  "the weights."],
    }


def predict_peak_rss(bundle: str, stack: str, out: str, threads: int) -> dict:
    """Run ``cropedge predict`` on a GeoTIFF in this (fresh) process; its summary."""
    from cropedge.device.predict import predict_file

    s = predict_file(bundle, stack, out, num_threads=threads)
    return {
        "pixels": int(s["pixels"]), "seconds": float(s["seconds"]), "tensorflow_loaded": "tensorflow" in sys.modules
    }


GDAL_CACHE_MB = 64  # a small GDAL block cache: strips are read once, in order


def memory(ctx: Context) -> dict:
    """Peak RSS of ``cropedge predict`` (a fresh process each) on a small and a 16x larger stack.

    Each with GDAL's default block cache (5 % of RAM) and with it capped at ``GDAL_CACHE_MB``.
    """
    from bench.worker import run_in_subprocess

    name = _fewest_macs()  # memory is about the reader, not the model: the fastest variant keeps it short
    run_dir = fixtures.trained_run(ctx, name)
    b = fixtures.bundles(ctx, run_dir, ("int8",))["int8"]
    sizes = (64, 256) if ctx.quick else (512, 2048)
    rows, peak = [], {}
    for size in sizes:
        stack = map_stack(ctx, size, run_dir)
        for cache in ("default", f"{GDAL_CACHE_MB} MB"):
            env = None if cache == "default" else {"GDAL_CACHEMAX": str(GDAL_CACHE_MB)}
            r = run_in_subprocess("bench.inference:predict_peak_rss",
                                  {"bundle": str(b), "stack": str(stack), "out": str(ctx.work / f"mem-{size}.tif"),
                                   "threads": ctx.threads}, ctx.work / "workers", env=env)
            peak[(size, cache)] = r["peak_rss_mb"]
            rows.append({"size": f"{size} x {size}", "GDAL cache": cache, "pixels": r["pixels"],
                         "stack MiB": stack.stat().st_size / 2**20, "peak RSS MiB": r["peak_rss_mb"],
                         "seconds": r["seconds"], "tensorflow loaded": r["tensorflow_loaded"]})
        stack.unlink()
    small, large = sizes
    ratios = [ratio(f"peak RSS {large} / {small} px stack, GDAL cache {cache}", peak[(large, cache)],
                    peak[(small, cache)], (f"{large} px MiB", f"{small} px MiB"))
              for cache in ("default", f"{GDAL_CACHE_MB} MB")]
    return {
        "model": name, "ratios": ratios, "tables": {"Peak memory of cropedge predict": rows},
        "notes": [f"{name} int8, each run in a fresh process (its own peak RSS, VmHWM). cropedge's own working "
                  "arrays are bounded (strips of about 128 MB); GDAL's block cache comes on top, up to "
                  f"GDAL_CACHEMAX (default 5 % of RAM): capped at {GDAL_CACHE_MB} MB, 16x the pixels need about "
                  "the same memory."],
    }
