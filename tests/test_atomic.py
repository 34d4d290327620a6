"""cropedge.atomic knows the folders cropedge keeps by the names their own modules use."""

from __future__ import annotations

from cropedge import atomic
from cropedge.device import bundle
from cropedge.training import run


def test_kept_folder_names_are_the_modules_own() -> None:
    kinds = {kind: (markers, names) for kind, markers, names in atomic._KEPT_FOLDERS}
    assert kinds["bundle"][0] == ((bundle.MODEL_FILE, bundle.METADATA_FILE),)
    run_files = {run.RUN_JSON, run.CONFIG_JSON, run.VERSIONS_JSON, run.HISTORY_CSV, run.SPLIT_NPZ, run.KERAS_MODEL,
                 run.SKLEARN_MODEL, run.BACKUP_DIR, run.SUMMARY_JSON}
    names = set(kinds["training run"][1])
    assert names - {"seed-*"} == run_files
    assert run.SEED_DIR.match("seed-3") and "seed-*" in names
    assert all(set(marker) <= run_files for marker in kinds["training run"][0])
