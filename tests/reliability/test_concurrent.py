"""Two commands writing one folder at once: the second is refused with one line, the first's files kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cropedge.atomic import exclusive

from .conftest import assert_ok, assert_user_error, run_cli, train_args


def _table(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    path = folder / "pixels.npz"
    np.savez(path, fea=rng.integers(100, 5000, (40, 10, 73), dtype=np.uint16), lbl=rng.integers(0, 4, 40),
             region=np.array(["A", "B"] * 20))
    return path


def test_a_second_import_into_a_folder_being_written_is_refused(tmp_path: Path) -> None:
    table, out = _table(tmp_path), tmp_path / "imported"
    with exclusive(out, "cropedge data import"):  # another process is writing the folder
        assert_user_error(run_cli("data", "import", table, "--out", out), [out / "A.npz"], "being written by another")
    assert_ok(run_cli("data", "import", table, "--out", out, "--quiet"))  # free again: it goes through
    assert sorted(p.name for p in out.iterdir()) == ["A.npz", "B.npz"]
    assert not list(tmp_path.glob(".*.lock"))  # the lock leaves nothing behind


def test_a_second_training_into_a_run_folder_being_written_is_refused(recipe: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    with exclusive(out, "cropedge train"):
        assert_user_error(run_cli(*train_args(recipe, out)), [out], "being written by another cropedge train")
