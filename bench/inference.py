"""Inference speed: int8 vs float32, cropedge vs a plain conversion, throughput, predict, maps, memory.

Latencies use the raw LiteRT interpreter (XNNPACK, the default CPU delegate) on each
flatbuffer unless a section says it times cropedge's own path (``LiteModel`` or
``cropedge predict``). Inputs are real prepared samples of the synthetic source region.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from bench import fixtures
from bench.context import Context
from bench.results import ratio
from bench.stack import STACK_DOY
from bench.timing import interleaved


def interpreter(flatbuffer: bytes, threads: int, batch: int, xnnpack: bool = True):
    """A LiteRT interpreter for ``batch`` inputs (XNNPACK off only to show what it gives)."""
    from cropedge.runtime import resolve_interpreter

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


def invoker(flatbuffer: bytes, x: np.ndarray, threads: int, xnnpack: bool = True):
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
    from cropedge.run import Run

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
    from cropedge.bundle import load_bundle

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
    from cropedge.bundle import load_bundle

    meta = load_bundle(b["int8"]).meta
    macs = int(meta["macs"])
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
    from cropedge.run import Run

    path = ctx.work / f"pixels-{n}.npz"
    if not path.is_file():
        src = Run(run_dir).source_data()
        src.subset(np.resize(np.arange(len(src.y)), n)).save_npz(path)
    return path


def predict_vs_raw(ctx: Context) -> dict:
    """``cropedge predict`` on a pixel table, end to end, vs the raw interpreter on the same pixels."""
    from cropedge.data import load_dataset
    from cropedge.predict import predict_file
    from cropedge.runtime import LiteModel

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
        "notes": [f"{n} pixels, int8 {ctx.reference}, batch {batch}, {threads} threads. predict: read the .npz, gap-fill, "
                  "normalise, quantize, batched invoke, write an .npz (predict_file, model load included); raw: "
                  "invoke on already prepared and quantized batches. Three interleaved rounds, medians."],
    }


def predict_grid(ctx: Context) -> dict:
    """``LiteModel.predict_proba`` pixels/s for threads (1, all) x batch (1, 64, 1024), int8 reference."""
    from cropedge.latency import measure_bundle
    from cropedge.run import Run

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


def _map_model(ctx: Context) -> tuple[str, str]:
    """The frontier's lightest good variant, else the lightest CropNet variant by MACs (and why)."""
    chosen = ctx.cache.get("lightest_good")
    if chosen:
        return chosen, "lightest CropNet variant within 1 point macro-F1 of the reference (frontier section)"
    from bench.frontier import cropnet_variants
    from cropedge.models import count_macs, get_model

    name = min(cropnet_variants(), key=lambda n: count_macs(get_model(n, 7)))
    return name, "no accuracy frontier in this run: the CropNet variant with the fewest MACs"


def _stack(ctx: Context, size: int, run_dir: Path) -> Path:
    from bench.stack import write_stack
    from cropedge.run import Run

    path = ctx.work / f"stack-{size}.tif"
    if not path.is_file():
        src = Run(run_dir).source_data()
        write_stack(path, size, src.x, tuple(src.bands))
    return path


TILE = 10980  # a Sentinel-2 tile, 10 m pixels


def maps(ctx: Context) -> dict:
    """Pixels/s of ``cropedge predict`` on a GeoTIFF stack end to end; a full S2 tile extrapolated.

    The model alone (raw interpreter, same batch and threads, prepared input) is timed too:
    their ratio is the share of the time the model gets, the rest being reading, resampling
    to the year grid, gap filling, preprocessing and writing.
    """
    from cropedge.predict import predict_file

    name, why = _map_model(ctx)
    run_dir = fixtures.trained_run(ctx, name)
    b = fixtures.bundles(ctx, run_dir, ("int8",))["int8"]
    size, batch = (128 if ctx.quick else 1024), 1024
    stack = _stack(ctx, size, run_dir)
    summary = predict_file(b, stack, ctx.work / "map.tif", batch_size=batch, num_threads=ctx.threads)
    px_s = size * size / summary["seconds"]
    model_only = interleaved({"model": invoker(model_bytes(b), prepared_samples(run_dir, batch), ctx.threads)},
                             batch=batch, threads=ctx.threads, rounds=2, calls_per_round=5)["model"]["pixels_per_s"]
    tile_min = TILE * TILE / px_s / 60
    return {
        "model": name, "why": why, "size": size, "pixels_per_s": px_s, "tile_minutes": tile_min,
        "ratios": [ratio("map pixels/s / 200 000 (a 10 980 x 10 980 tile in 10 min)", px_s, 200_000,
                         ("measured px/s", "needed px/s"), (">=", 1.0)),
                   ratio("map pixels/s / model-only pixels/s", px_s, model_only,
                         ("end-to-end px/s", "interpreter px/s"))],
        "notes": [f"{name} int8 ({why}); {size} x {size} px uint16 stack of 10 bands x {len(STACK_DOY)} dates "
                  f"(every 10 days, day 111..341), {ctx.threads} threads, batch {batch}: {px_s:,.0f} px/s end to end "
                  f"(read, resample to the year grid, gap-fill, classify, write) -> a {TILE} x {TILE} tile in "
                  f"{tile_min:.1f} min; the interpreter alone runs {model_only:,.0f} px/s."],
    }


def predict_peak_rss(bundle: str, stack: str, out: str, threads: int) -> dict:
    """Run ``cropedge predict`` on a GeoTIFF in this (fresh) process; its summary."""
    from cropedge.predict import predict_file

    s = predict_file(bundle, stack, out, num_threads=threads)
    return {"pixels": int(s["pixels"]), "seconds": float(s["seconds"]), "tensorflow_loaded": "tensorflow" in sys.modules}


def memory(ctx: Context) -> dict:
    """Peak RSS of ``cropedge predict`` (a fresh process each) on a small and a 16x larger stack."""
    from bench.worker import run_in_subprocess

    name, _ = _map_model(ctx)
    run_dir = fixtures.trained_run(ctx, name)
    b = fixtures.bundles(ctx, run_dir, ("int8",))["int8"]
    sizes = (64, 256) if ctx.quick else (512, 2048)
    rows = []
    for size in sizes:
        stack = _stack(ctx, size, run_dir)
        r = run_in_subprocess("bench.inference:predict_peak_rss",
                              {"bundle": str(b), "stack": str(stack), "out": str(ctx.work / f"mem-{size}.tif"),
                               "threads": ctx.threads}, ctx.work / "workers")
        rows.append({"size": f"{size} x {size}", "pixels": r["pixels"], "stack_mb": stack.stat().st_size / 2**20,
                     "peak_rss_mb": r["peak_rss_mb"], "seconds": r["seconds"],
                     "tensorflow loaded": r["tensorflow_loaded"]})
        stack.unlink()
    small, large = rows
    return {
        "model": name,
        "ratios": [ratio(f"peak RSS {large['size']} / {small['size']}", large["peak_rss_mb"], small["peak_rss_mb"],
                         ("large MiB", "small MiB"))],
        "tables": {"Peak memory of cropedge predict": rows},
        "notes": [f"{name} int8, each size in a fresh process (its own peak RSS, VmHWM): "
                  "16x the pixels should not need 16x the memory, since rasters are read strip by strip."],
    }
