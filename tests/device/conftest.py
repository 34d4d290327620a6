"""Device-test fixtures: bundles made the way users make them (synthetic FRA data,
``train_run``, ``export_run`` to float32 and full int8) and target-region samples (BEL).

The bundles take a few tens of seconds to make, so every device test runs in one xdist
group: one worker builds them once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cropedge.data.dataset import Dataset
from cropedge.data.synthetic import generate_region

HERE = Path(__file__).resolve().parent
MODEL = "cropnet-xxs"


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if HERE in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.xdist_group("device"))


def target(samples_per_class: int = 40, seed: int = 1) -> Dataset:
    """Labelled BEL samples: another region than the training one, as a device would see."""
    return generate_region("BEL", samples_per_class=samples_per_class, seed=seed)


def reflectance(n: int, seed: int = 0) -> np.ndarray:
    """[n, 10, 73] year-grid reflectance (DN) of BEL samples, shuffled."""
    x = target(samples_per_class=n // 4 + 1, seed=seed).x
    return x[np.random.default_rng(seed).permutation(len(x))[:n]]


@pytest.fixture(scope="session")
def bundles(tmp_path_factory) -> dict[str, Path]:
    """{"float32": bundle folder, "int8": bundle folder} of a briefly trained cropnet-xxs."""
    from cropedge.export.exporter import export_run
    from cropedge.training.train import TrainConfig, train_run

    root = tmp_path_factory.mktemp("bundles")
    (root / "data").mkdir()
    generate_region("FRA", samples_per_class=40, seed=0).save_npz(root / "data" / "FRA.npz")
    config = TrainConfig(data=str(root / "data"), sources=("FRA",), model=MODEL, epochs=3, batch_size=32, lr=3e-3)
    run = train_run(config, root / "run", verbose=0)
    export_run(run, ["float32", "int8"], root / "bundles", rep_samples=100, quiet=True)
    return {p: root / "bundles" / f"{MODEL}-{p}" for p in ("float32", "int8")}


@pytest.fixture(scope="session")
def labelled_npz(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "BEL.npz"
    target().save_npz(path)
    return path
