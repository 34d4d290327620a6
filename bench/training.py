"""Training speed: cropedge's tf.data pipeline + CropNet train step vs the PyTorch reference.

Every TensorFlow measurement runs in its own process (``bench.worker``): oneDNN, thread
pools and the number of logical CPU devices are fixed when TensorFlow starts, and a fresh
process keeps one variant's compiled graphs and allocator state out of the next one's.
Inputs are random reflectance of CropGlobe's shape: values do not change the speed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.context import Context
from bench.results import Skip, ratio
from bench.worker import run_in_subprocess

if TYPE_CHECKING:  # annotations only: TensorFlow starts in the worker processes, never here
    from cropedge.backend import keras, tf
    from cropedge.training.train import _Parts

NUM_CLASSES = 7
BANDS = 10

# what each TensorFlow variant changes (env is set before TensorFlow starts)
TF_VARIANTS: dict[str, dict] = {
    "baseline": {"note": "as cropedge trains today: float32, oneDNN on (TF default), no XLA"},
    "onednn-off": {"env": {"TF_ENABLE_ONEDNN_OPTS": "0"}, "note": "TF_ENABLE_ONEDNN_OPTS=0"},
    "xla": {"jit_compile": True, "note": "model.compile(jit_compile=True)"},
    "bf16": {"mixed_precision": True, "note": "mixed_bfloat16 policy (TrainConfig.mixed_precision)"},
    "bf16-xla": {"mixed_precision": True, "jit_compile": True, "note": "mixed_bfloat16 + XLA"},
}


def _sizes(ctx: Context) -> dict:
    if ctx.quick:
        return {"batch_size": 32, "warmup_steps": 2, "steps": 3}
    return {"batch_size": 256, "warmup_steps": 5, "steps": 15}


def _train_parts(n: int, seed: int = 0) -> _Parts:
    """cropedge.training.train's fitting inputs for ``n`` random samples (all in the training split)."""
    from cropedge.data.grid import Window
    from cropedge.data.normalize import BandStats
    from cropedge.device.latency import random_reflectance
    from cropedge.training.train import _Parts

    window = Window()
    x = random_reflectance(n, BANDS, seed=seed)
    y = np.arange(n) % NUM_CLASSES
    idx = np.arange(n)
    stats = BandStats.fit(window.cut(x))
    classes = tuple(f"c{i}" for i in range(NUM_CLASSES))
    return _Parts(x, y, idx, idx[:0], window, stats, classes)


def _pipeline(parts: _Parts, batch_size: int) -> tf.data.Dataset:
    """Cropedge's real training input pipeline (shuffle, batch, augment, normalise, prefetch)."""
    from cropedge.training.train import TrainConfig, _train_dataset, augment_config

    config = TrainConfig(data="-", sources=("bench",), batch_size=batch_size)
    return _train_dataset(config, parts, batch_size, augment_config(config))


def _samples_per_s(ds: tf.data.Dataset, batch_size: int, warmup: int, steps: int) -> float:
    """Rate at which ``ds`` yields batches (the pipeline alone, nothing consumes them)."""
    it = iter(ds.repeat())
    for _ in range(warmup):
        next(it)
    t0 = time.perf_counter()
    for _ in range(steps):
        next(it)
    return steps * batch_size / (time.perf_counter() - t0)


def _step_timer(warmup: int) -> keras.callbacks.Callback:
    """A Keras callback noting the wall time from the end of the warm-up steps to the last step."""
    from cropedge.backend import keras

    class StepTimer(keras.callbacks.Callback):
        t0 = t1 = None

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if batch + 1 == warmup:
                self.t0 = time.perf_counter()
            self.t1 = time.perf_counter()

    return StepTimer()


def tf_train_throughput(
    threads: int,
    batch_size: int,
    warmup_steps: int,
    steps: int,
    jit_compile: bool = False,
    mixed_precision: bool = False,
    logical_devices: int = 1,
    model: str = "cropnet",
    measure_parts: bool = False,
) -> dict:
    """Samples/s of ``model.fit`` on cropedge's augmented pipeline (run in a fresh process).

    Args:
        threads: TensorFlow intra- and inter-op threads.
        batch_size: global batch (split over replicas with several logical devices).
        warmup_steps: untimed steps (graph tracing, XLA compilation, oneDNN primitive caches).
        steps: timed steps.
        jit_compile: compile the train step with XLA.
        mixed_precision: train under the mixed_bfloat16 policy.
        logical_devices: split the CPU into this many logical devices (MirroredStrategy if > 1).
        model: a cropedge model name.
        measure_parts: also time the input pipeline alone and the train step alone on one
            cached batch (how well the two overlap, and how much faster augmentation is).
    """
    from cropedge.backend import keras, tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    if logical_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * logical_devices)
    from cropedge.models import get_model
    from cropedge.training.distribute import precision_policy, select_strategy
    from cropedge.training.train import balanced_class_weights

    strategy = select_strategy()
    n = batch_size * 8
    parts = _train_parts(n)
    ds = _pipeline(parts, batch_size)
    keras.utils.set_random_seed(0)
    with precision_policy(mixed_precision) as policy, strategy.scope():
        net = get_model(model, NUM_CLASSES, input_shape=parts.input_shape)
        net.compile(
            optimizer=keras.optimizers.Adam(1e-4),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=["accuracy"],
            jit_compile=jit_compile,
        )
    weights = balanced_class_weights(parts.y, NUM_CLASSES)

    def fit_rate(data: tf.data.Dataset) -> float:
        timer = _step_timer(warmup_steps)
        net.fit(data.repeat(), epochs=1, steps_per_epoch=warmup_steps + steps, class_weight=weights, verbose=0,
                callbacks=[timer])
        return steps * batch_size / (timer.t1 - timer.t0)

    out = {
        "samples_per_s": fit_rate(ds),
        "policy": policy,
        "replicas": int(strategy.num_replicas_in_sync),
        "strategy": type(strategy).__name__,
        "jit_compile": jit_compile,
        "threads": threads,
        "batch_size": batch_size,
        "warmup_steps": warmup_steps,
        "steps": steps,
        "tensorflow": tf.__version__,
    }
    if measure_parts:
        out["pipeline_samples_per_s"] = _samples_per_s(ds, batch_size, warmup_steps, max(steps, 10))
        cached = tf.data.Dataset.from_tensors(next(iter(ds))).cache()
        out["step_only_samples_per_s"] = fit_rate(cached)
    return out


def torch_train_throughput(
    threads: int, batch_size: int, warmup_steps: int, steps: int, channels_last: bool = False, width: int = 128,
    depth: int = 4,
) -> dict:
    """The reference PyTorch loop's samples/s on the same shapes (run in a fresh process without TensorFlow)."""
    from bench.torch_reference import train_throughput
    from cropedge.data.grid import Window
    from cropedge.data.normalize import BandStats
    from cropedge.device.latency import random_reflectance

    window = Window()
    n = batch_size * 8
    x = window.cut(random_reflectance(n, BANDS))
    x = BandStats.fit(x).apply(x)  # what the reference does not do, but values do not change the speed
    y = np.arange(n) % NUM_CLASSES
    return train_throughput(x, y, NUM_CLASSES, threads, batch_size, warmup_steps, steps, channels_last,
                            width=width, depth=depth)


def _cropnet_size(model: str) -> dict:
    """Width and depth of a registered CropNet variant, for the torch model of the same size."""
    from cropedge.models import model_spec

    spec = model_spec(model)
    if spec.family != "cropnet":
        raise Skip(f"the torch reference is CropNet; {model} is a {spec.family}")
    return {"width": int(spec.defaults.get("width", 128)), "depth": int(spec.defaults.get("depth", 4))}


def _torch_available() -> str | None:
    from importlib.util import find_spec

    return None if find_spec("torch") is not None else "torch is not installed (make bench installs it into the venv)"


def _tf_variant(ctx: Context, name: str, **extra: Any) -> dict:
    """One TensorFlow variant's measurement, cached for the sections that share it."""
    key = ("tf_train", name, tuple(sorted(extra.items())))
    if key not in ctx.cache:
        spec = TF_VARIANTS[name]
        flags = {k: spec[k] for k in ("jit_compile", "mixed_precision") if k in spec}
        kwargs = {"threads": ctx.threads, "model": ctx.reference, **_sizes(ctx), **flags, **extra}
        ctx.cache[key] = run_in_subprocess("bench.training:tf_train_throughput", kwargs, ctx.work / "workers",
                                           env=spec.get("env"))
    return ctx.cache[key]


def _torch_run(ctx: Context, channels_last: bool) -> dict:
    return run_in_subprocess("bench.training:torch_train_throughput",
                             {"threads": ctx.threads, **_sizes(ctx), "channels_last": channels_last,
                              **_cropnet_size(ctx.reference)}, ctx.work / "workers")


def training_vs_torch(ctx: Context) -> dict:
    """Cropedge samples/s vs the PyTorch reference; each TensorFlow variant's gain over baseline.

    The torch reference runs right after the TensorFlow baseline, so that the headline ratio
    compares two measurements taken under the same machine load.
    """
    results, rows, ratios, notes = {}, [], [], []
    results["baseline"] = base_r = _tf_variant(ctx, "baseline", measure_parts=True)
    torch_missing = _torch_available()
    torch_ref = None if torch_missing else _torch_run(ctx, channels_last=False)
    for name in TF_VARIANTS if not ctx.quick else ():
        if name == "baseline":
            continue
        try:
            results[name] = _tf_variant(ctx, name)
        except RuntimeError as exc:
            rows.append({"variant": name, "status": "failed", "note": str(exc)[:300]})
    rows = [{"variant": n, "status": "ok", "samples/s": r["samples_per_s"], "policy": r["policy"],
             "note": TF_VARIANTS[n]["note"]} for n, r in results.items()] + rows
    base = base_r["samples_per_s"]
    for name, r in results.items():
        if name != "baseline":
            ratios.append(ratio(f"{name} / baseline samples/s", r["samples_per_s"], base, (name, "baseline")))
    best_name = max(results, key=lambda n: results[n]["samples_per_s"])
    if torch_ref is not None:
        torch_rows = [torch_ref] + ([] if ctx.quick else [_torch_run(ctx, channels_last=True)])
        rows += [{"variant": "torch channels-last" if t["channels_last"] else "torch (reference)", "status": "ok",
                  "samples/s": t["samples_per_s"], "policy": "float32", "note": f"torch {t['torch']}"}
                 for t in torch_rows]
        ref = torch_ref["samples_per_s"]
        ratios.insert(0, ratio("cropedge (baseline) / torch reference samples/s", base, ref,
                               ("cropedge samples/s", "torch samples/s"), (">=", 1.5)))
        if best_name != "baseline":
            ratios.insert(1, ratio(f"cropedge ({best_name}) / torch reference samples/s",
                                   results[best_name]["samples_per_s"], ref,
                                   (f"cropedge {best_name} samples/s", "torch samples/s"), (">=", 1.5)))
    else:
        notes.append(f"torch comparison skipped: {torch_missing}")
    ratios.append(ratio("train step fed by the real pipeline / by one cached batch", base,
                        base_r["step_only_samples_per_s"], ("pipeline-fed samples/s", "cached-batch samples/s")))
    notes.append(f"{ctx.reference}, batch {base_r['batch_size']}, {base_r['steps']} timed steps after "
                 f"{base_r['warmup_steps']} warm-up steps, {ctx.threads} threads in both frameworks, Adam lr 1e-4, "
                 "class-weighted cross-entropy; each measurement in a fresh process.")
    notes.append("Keras models are channels-last (NHWC) already; TensorFlow's CPU Conv2D has no NCHW kernel, so "
                 "'channels-last' is measured on the torch side.")
    return {"ratios": ratios, "best_variant": best_name, "tables": {"Variants (samples/s)": rows}, "notes": notes}


def augment_vs_step(ctx: Context) -> dict:
    """The augmented input pipeline alone vs the train step alone (same process, same threads)."""
    r = _tf_variant(ctx, "baseline", measure_parts=True)
    return {"ratios": [ratio("augmentation pipeline / train step samples/s", r["pipeline_samples_per_s"],
                             r["step_only_samples_per_s"], ("pipeline samples/s", "train step samples/s"), (">=", 5))],
            "notes": ["pipeline: cropedge.training.train's tf.data (shuffle, batch, augment_batch with all time "
                      "and magnitude augmentations, normalise, prefetch) iterated with nothing consuming it; "
                      "train step: model.fit on one cached batch."]}


def scale(ctx: Context) -> dict:
    """Training over 1 vs 2 logical CPU devices (MirroredStrategy); predict vs threads and batch."""
    from bench import inference

    if ctx.threads < 2 and not ctx.quick:
        raise Skip("only one usable core")
    one = _tf_variant(ctx, "baseline", measure_parts=True)  # the training section's run
    two = _tf_variant(ctx, "baseline", logical_devices=2)
    ratios = [ratio("2 / 1 logical CPU devices training samples/s", two["samples_per_s"], one["samples_per_s"],
                    (f"{two['strategy']} x{two['replicas']}", f"{one['strategy']}"))]
    pred = inference.predict_grid(ctx)
    return {"ratios": ratios + pred["ratios"], "tables": {"Predict pixels/s (int8 CropNet)": pred["rows"]},
            "notes": ["Logical devices split the same physical cores: on one machine this measures MirroredStrategy's "
                      "overhead, not a speed-up; the speed-up comes from more machines or GPUs (docs/performance.md)."]}
