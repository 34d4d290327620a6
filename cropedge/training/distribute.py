"""Which ``tf.distribute`` strategy and numeric precision a training run uses.

* ``TF_CONFIG`` set -> ``MultiWorkerMirroredStrategy`` (several processes or machines,
  each with its local devices; see docs/training.md).
* more than one local GPU (or, without GPUs, more than one logical CPU device) ->
  ``MirroredStrategy`` over all of them.
* otherwise the default strategy (one device: the GPU when there is one).

Multi-worker collectives must be set up before TensorFlow runs anything else, so callers
pick the strategy first thing and reuse it (one strategy per process).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator

from cropedge.backend import keras, tf
from cropedge.errors import CropEdgeError


def _tf_config() -> dict | None:
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return None
    try:
        cfg = json.loads(raw)
        cluster, task = cfg["cluster"], cfg["task"]
        int(task["index"])
        if task["type"] not in cluster:
            raise KeyError(task["type"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CropEdgeError(
            f"TF_CONFIG is not valid ({exc}): it must be JSON like "
            '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}'
        ) from exc
    return cfg


def select_strategy() -> tf.distribute.Strategy:
    """The strategy for this process (see the module docstring for the rule)."""
    if _tf_config() is not None:
        return tf.distribute.MultiWorkerMirroredStrategy()
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.get_strategy()


def describe(strategy: tf.distribute.Strategy) -> dict:
    """What the run used, for run.json: strategy name, replicas, workers, device kind."""
    cfg = _tf_config()
    # by the public names (MultiWorkerMirroredStrategy's class calls itself CollectiveAllReduceStrategy)
    kinds = {
        "MultiWorkerMirroredStrategy": tf.distribute.MultiWorkerMirroredStrategy,
        "MirroredStrategy": tf.distribute.MirroredStrategy,
    }
    name = next((n for n, k in kinds.items() if isinstance(strategy, k)), "default")
    return {
        "strategy": name,
        "replicas": int(strategy.num_replicas_in_sync),
        "workers": len(cfg["cluster"].get("worker", [])) + len(cfg["cluster"].get("chief", [])) if cfg else 1,
        "device": "GPU" if tf.config.list_logical_devices("GPU") else "CPU",
    }


def is_chief() -> bool:
    """True in the process that writes results: the only process, the chief, or worker 0 without a chief."""
    cfg = _tf_config()
    if cfg is None:
        return True
    task_type, index = cfg["task"]["type"], int(cfg["task"]["index"])
    if "chief" in cfg["cluster"]:
        return task_type == "chief"
    return task_type == "worker" and index == 0


def precision_policy_name(mixed: bool) -> str:
    """``mixed_float16`` on GPU (tensor cores), ``mixed_bfloat16`` on CPU, else ``float32``."""
    if not mixed:
        return "float32"
    return "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"


@contextlib.contextmanager
def precision_policy(mixed: bool) -> Iterator[str]:
    """Build models under the mixed (or float32) Keras policy; restore the previous one afterwards."""
    previous = keras.mixed_precision.global_policy()
    name = precision_policy_name(mixed)
    keras.mixed_precision.set_global_policy(name)
    try:
        yield name
    finally:
        keras.mixed_precision.set_global_policy(previous)
