"""Strategy selection, and distributed training on CPU: two logical devices in one process
(MirroredStrategy) and two worker processes on localhost (MultiWorkerMirroredStrategy)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cropedge.backend import tf
from cropedge.data.synthetic import synthesize
from cropedge.errors import CropEdgeError
from cropedge.training.distribute import describe, is_chief, precision_policy_name, select_strategy
from cropedge.training.run import Run
from cropedge.training.train import TrainConfig, train_run

# one training process: TF must see its logical devices (or TF_CONFIG) before it starts,
# hence a fresh interpreter per setting
WORKER = """
import json, sys
from cropedge.backend import keras, tf
devices = int(sys.argv[1])
if devices > 1:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
from cropedge.training.distribute import describe, select_strategy
from cropedge.training.train import TrainConfig, train_run
strategy = select_strategy()

class Best(keras.callbacks.Callback):
    score = 0.0
    def on_epoch_end(self, epoch, logs=None):
        Best.score = max(Best.score, logs["val_macro_f1"])

train_run(TrainConfig.from_dict(json.loads(sys.argv[2])), sys.argv[3], verbose=0, strategy=strategy, callbacks=[Best()])
print(json.dumps({"macro_f1": Best.score, **describe(strategy)}))
"""
BAND = 0.15  # distributed and single-device runs agree this closely in validation macro-F1


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> TrainConfig:
    data = tmp_path_factory.mktemp("cropglobe")
    synthesize(data, samples_per_class=30, seed=0, regions=("FRA",))
    return TrainConfig(
        data=str(data), sources=("FRA",), model="tempcnn", model_options={"filters": 8, "hidden": 16},
        epochs=2, batch_size=32, lr=1e-2, augment=False,
    )


@pytest.fixture(scope="module")
def single_device_f1(config: TrainConfig, tmp_path_factory: pytest.TempPathFactory) -> float:
    run = Run(train_run(config, tmp_path_factory.mktemp("single") / "run", verbose=0))
    assert run.record.to_dict()["distribution"]["strategy"] == "default"
    assert run.record.to_dict()["validation"]["macro_f1"] > 0.4
    return run.record.to_dict()["validation"]["macro_f1"]


def _env(tf_config: dict | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


def _start(devices: int, config: TrainConfig, out: Path, env: dict[str, str]) -> subprocess.Popen:
    args = [sys.executable, "-c", WORKER, str(devices), json.dumps(config.to_dict()), str(out)]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen) -> dict:
    try:
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_mirrored_strategy_on_two_cpu_devices(config: TrainConfig, single_device_f1: float, tmp_path: Path) -> None:
    res = _result(_start(2, config, tmp_path / "run", _env()))
    assert res["strategy"] == "MirroredStrategy" and res["replicas"] == 2
    assert abs(res["macro_f1"] - single_device_f1) <= BAND
    meta = Run(tmp_path / "run").record.to_dict()
    assert meta["distribution"]["replicas"] == 2 and abs(meta["validation"]["macro_f1"] - single_device_f1) <= BAND


@pytest.mark.slow
def test_multi_worker_strategy_with_two_processes(config: TrainConfig, single_device_f1: float, tmp_path: Path) -> None:
    workers = [f"localhost:{p}" for p in _free_ports(2)]
    out = tmp_path / "run"  # shared storage: the chief writes the run, both resume from its backup
    procs = [
        _start(1, config, out, _env({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}))
        for i in range(2)
    ]
    results = [_result(p) for p in procs]
    for res in results:
        assert res["strategy"] == "MultiWorkerMirroredStrategy" and res["replicas"] == 2 and res["workers"] == 2
        assert abs(res["macro_f1"] - single_device_f1) <= BAND
    assert results[0]["macro_f1"] == pytest.approx(results[1]["macro_f1"])  # one model, kept in sync
    meta = Run(out).record.to_dict()
    assert meta["distribution"]["strategy"] == "MultiWorkerMirroredStrategy"
    assert meta["validation"]["macro_f1"] == pytest.approx(results[0]["macro_f1"])


def test_one_device_gets_the_default_strategy() -> None:
    strategy = select_strategy()
    assert describe(strategy)["strategy"] == "default" and strategy.num_replicas_in_sync == 1
    assert describe(strategy)["device"] == ("GPU" if tf.config.list_logical_devices("GPU") else "CPU")


def test_bad_tf_config_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in (
        "{not json",
        '{"cluster": {"worker": ["a:1"]}}',
        '{"cluster": {}, "task": {"type": "worker", "index": 0}}',
    ):
        monkeypatch.setenv("TF_CONFIG", bad)
        with pytest.raises(CropEdgeError, match="TF_CONFIG"):
            select_strategy()


@pytest.mark.parametrize(
    "cluster, task, chief",
    [
        ({"worker": ["a:1", "b:1"]}, {"type": "worker", "index": 0}, True),
        ({"worker": ["a:1", "b:1"]}, {"type": "worker", "index": 1}, False),
        ({"chief": ["c:1"], "worker": ["a:1"]}, {"type": "worker", "index": 0}, False),
        ({"chief": ["c:1"], "worker": ["a:1"]}, {"type": "chief", "index": 0}, True),
    ],
)
def test_only_the_chief_writes(monkeypatch: pytest.MonkeyPatch, cluster: dict, task: dict, chief: bool) -> None:
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    assert is_chief() is chief
    monkeypatch.delenv("TF_CONFIG")
    assert is_chief()


def test_mixed_precision_policy_follows_the_device() -> None:
    assert precision_policy_name(False) == "float32"
    gpu = bool(tf.config.list_logical_devices("GPU"))
    assert precision_policy_name(True) == ("mixed_float16" if gpu else "mixed_bfloat16")
