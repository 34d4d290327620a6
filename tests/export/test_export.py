"""``cropedge export`` end to end: a real tiny training run -> bundles checked in LiteRT
(and TensorFlow Lite Micro), the C array compiled, and every impossible request refused."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cropedge.cli import cli
from cropedge.data.matching import labels_by_name
from cropedge.data.synthetic import synthesize
from cropedge.device.bundle import BundleMetadata, load_bundle, sha256
from cropedge.device.runtime import LiteModel
from cropedge.errors import CropEdgeError
from cropedge.export.exporter import PRECISIONS, export_run, precision_table_markdown
from cropedge.export.mcu import micro_available
from cropedge.training.run import Run
from cropedge.training.train import TrainConfig, train_run

REPO = Path(__file__).resolve().parents[2]
CXX = shutil.which("g++") or shutil.which("c++")
HAS_MICRO, NO_MICRO = micro_available()
REQUIRED_KEYS = {f.name for f in dataclasses.fields(BundleMetadata) if f.default is dataclasses.MISSING
                 and f.default_factory is dataclasses.MISSING}
META_KEYS = REQUIRED_KEYS | {"metadata_version", "digest", "source_ndvi_curve",
    "name", "quantization", "season_offset_days", "params", "macs", "source_run", "versions", "created", "self_check",
}


def cli_run(*args: str):
    return CliRunner().invoke(cli, ["export", *map(str, args)])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("cropglobe")
    synthesize(data, samples_per_class=60, seed=0, regions=("FRA",))
    config = TrainConfig(
        data=str(data), sources=("FRA",), model="cropnet-xs-shallow", model_options={"width": 16},
        epochs=6, batch_size=32, lr=3e-3, window=(121, 334),  # 43 steps: the shapes asserted below
    )
    return train_run(config, tmp_path_factory.mktemp("runs") / "fra", verbose=0)


@pytest.fixture(scope="module")
def exported(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], str]:
    """float32 + int8 with a C array, through the CLI as a user runs it (JSON on stdout)."""
    out = tmp_path_factory.mktemp("export") / "bundles"
    result = cli_run(run_dir, "--int8", "--float32", "--c-array", "--rep-samples", 100, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout), result.stderr


def bundle_of(exported, precision: str):
    out, results, _ = exported
    (row,) = [r for r in results if r["precision"] == precision]
    return load_bundle(row["path"]), row


def test_one_bundle_folder_per_precision(exported) -> None:
    out, results, stderr = exported
    assert sorted(p.name for p in out.iterdir()) == ["cropnet-xs-shallow-float32", "cropnet-xs-shallow-int8"]
    assert [r["precision"] for r in results] == ["float32", "int8"]  # table order
    # one summary line per bundle (on stderr, stdout being JSON), and the calibration warning
    assert "cropnet-xs-shallow-int8" in stderr and "agree" in stderr and "OA" in stderr
    assert "warning: 100 representative samples; >= 300 recommended" in stderr


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_metadata_is_complete_and_verified(exported, run_dir: Path, precision: str) -> None:
    bundle, row = bundle_of(exported, precision)  # load_bundle checks sha256 against the flatbuffer
    meta = bundle.metadata.to_dict()
    assert META_KEYS <= set(meta)
    assert meta["sha256"] == sha256(bundle.model_bytes) and meta["model_bytes"] == row["bytes"]
    folder = Path(row["path"])
    embedded = load_bundle(folder / "model.tflite").metadata.to_dict()  # the lone .tflite describes itself too
    assert embedded == json.loads((folder / "metadata.json").read_text())
    run = json.loads((run_dir / "run.json").read_text())
    for key in ("model", "classes", "bands", "window", "normalization", "params", "macs"):
        assert meta[key] == run[key], key
    assert meta["source_run"] == {"path": str(run_dir.resolve()), "validation": run["validation"]}
    assert meta["precision"] == precision and meta["name"] == f"cropnet-xs-shallow-{precision}"
    assert datetime.fromisoformat(meta["created"]).utcoffset().total_seconds() == 0
    assert {"tensorflow", "ai-edge-litert", "numpy"} <= set(meta["versions"])


def test_int8_io_is_int8_with_its_quantization(exported) -> None:
    meta = bundle_of(exported, "int8")[0].metadata.to_dict()
    assert meta["input"]["dtype"] == meta["output"]["dtype"] == "int8"
    assert meta["input"]["shape"] == [-1, 10, 43, 1] and meta["output"]["shape"] == [-1, 7]
    assert meta["input"]["scale"] > 0 and -128 <= meta["input"]["zero_point"] <= 127
    assert meta["output"]["scale"] == pytest.approx(1 / 256) and meta["output"]["zero_point"] == -128
    assert meta["quantization"]["representative_samples"] == 100
    f32 = bundle_of(exported, "float32")[0].metadata.to_dict()
    assert f32["input"] == {"shape": [-1, 10, 43, 1], "dtype": "float32", "scale": 0.0, "zero_point": 0}


@pytest.mark.parametrize(("precision", "least"), [("float32", 1.0), ("int8", 0.95)])
def test_bundle_agrees_with_keras_in_litert(exported, run_dir: Path, precision: str, least: float) -> None:
    bundle, row = bundle_of(exported, precision)
    run = Run(run_dir)
    val = run.val_data()
    keras_pred = run.predict_proba(val.x).argmax(1)
    lite_pred = LiteModel(bundle.path).predict(val.x)[0]
    agreement = float((lite_pred == keras_pred).mean())
    assert agreement >= least
    check = bundle.metadata.to_dict()["self_check"]
    assert check["n"] == len(val) and check["agreement"] == pytest.approx(agreement) and check["passed"]
    y = labels_by_name(val, run.classes)[0]
    assert check["tflite_oa"] == pytest.approx((lite_pred == y).mean())
    assert check["keras_oa"] == pytest.approx(run.record.to_dict()["validation"]["oa"])


@pytest.mark.skipif(CXX is None, reason="no C++ compiler on this machine")
def test_c_array_compiles_and_holds_the_model(exported, tmp_path: Path) -> None:
    bundle, row = bundle_of(exported, "int8")
    folder = Path(row["path"])
    assert not (Path(bundle_of(exported, "float32")[1]["path"]) / "model_data.cc").exists()
    for name in ("model_data.cc", "model_data.h"):
        shutil.copy(folder / name, tmp_path / name)
    (tmp_path / "main.cc").write_text(
        '#include <cstdio>\n#include "model_data.h"\n'
        "int main() { std::fwrite(g_model_data, 1, g_model_data_len, stdout);\n"
        '  std::fprintf(stderr, "%d %d %d %s", kModelBands, kModelSteps, kInputZeroPoint, kClassNames[0]); }\n'
    )
    subprocess.run([CXX, "-std=c++11", "-o", "main", "main.cc", "model_data.cc"], cwd=tmp_path, check=True)
    done = subprocess.run([tmp_path / "main"], capture_output=True, check=True)
    assert done.stdout == bundle.model_bytes
    meta = bundle.metadata.to_dict()
    assert done.stderr.decode() == f"10 43 {meta['input']['zero_point']} {meta['classes'][0]}"


def test_micro_check_is_recorded(exported) -> None:
    meta = bundle_of(exported, "int8")[0].metadata.to_dict()
    if not HAS_MICRO:
        assert meta["mcu"] == {"status": "skipped", "reason": NO_MICRO, "problems": []}
        pytest.skip(NO_MICRO)
    mcu = meta["mcu"]
    assert mcu["status"] == "ok" and mcu["n"] == meta["self_check"]["n"]
    assert mcu["max_lsb_diff"] <= 8  # reference kernels vs XNNPACK: rounding, not a different model
    assert mcu["agreement"] >= 0.98 and mcu["problems"] == []
    assert meta["flash_bytes"] == meta["model_bytes"] and 0 < meta["arena_bytes"] < 100_000
    header = (Path(bundle_of(exported, "int8")[1]["path"]) / "model_data.h").read_text()
    assert f"kTensorArenaSize = {-(-meta['arena_bytes'] // 1024) * 1024};" in header


def test_strict_refuses_a_bundle_that_fails_its_checks(run_dir: Path, tmp_path: Path) -> None:
    # calibrated on one sample, int8 clips most activations: it cannot match Keras everywhere;
    # and no model fits a microcontroller with 1 KB of RAM and flash
    profile = tmp_path / "tiny.toml"
    profile.write_text(
        'target = "mcu"\n[export]\nagreement_threshold = 1.0\n[runtime]\nbatch_size = 1\n'
        "[mcu]\narena_budget_bytes = 1024\nflash_budget_bytes = 1024\n"
    )
    out = tmp_path / "bundles"
    result = cli_run(run_dir, "--int8", "--rep-samples", 1, "--profile", profile, "--strict", "--out", out)
    assert result.exit_code == 2
    assert "FAILED, not written" in result.stdout
    (line,) = [s for s in result.stderr.splitlines() if s.startswith("cropedge: error")]  # after the warnings
    assert line.startswith("cropedge: error: --strict: cropnet-xs-shallow-int8: agreement")
    assert ("tensor arena" in line and "flash budget 1024 B" in line) if HAS_MICRO else NO_MICRO in line
    assert not (out / "cropnet-xs-shallow-int8").exists()


# --- requests that cannot work: exit 2, one line, nothing written ----------------------


def damaged_run(run_dir: Path, tmp_path: Path, model: str | None = None, drop_model: bool = False) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    if model:
        meta = json.loads((copy / "run.json").read_text())
        (copy / "run.json").write_text(json.dumps({**meta, "model": model}))
    if drop_model:
        (copy / "model.keras").unlink()
    return copy


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        ("missing", ["--int8"], "no such run folder"),
        ("no-model", ["--int8"], "has no model.keras"),
        ("transformer", ["--qat"], "not quantizable with TFMOT"),
        ("randomforest", ["--float32"], "sklearn model"),
        ("seeds", ["--int8"], "holds 2 seed runs"),
        ("run", [], "choose at least one precision"),
        ("run", ["--float32", "--c-array"], "--c-array applies only to int8 (--int8), int8-qat (--qat)"),
        ("run", ["--int8", "--qat-epochs", "2"], "--qat-epochs applies only to int8-qat (--qat)"),
        ("run", ["--float16", "--rep-samples", "300"], "--rep-samples applies only to int8"),
        ("run", ["--float16", "--profile", "mcu"], "float16 (--float16) cannot run on target 'mcu'"),
        ("run", ["--int8", "--profile", "nope.toml"], "no such profile file"),
    ],
)
def test_impossible_requests_exit_2_with_one_line(run_dir: Path, tmp_path: Path, setup, args, message) -> None:
    run = {
        "missing": lambda: tmp_path / "nope",
        "no-model": lambda: damaged_run(run_dir, tmp_path, drop_model=True),
        "transformer": lambda: damaged_run(run_dir, tmp_path, model="transformer"),
        "randomforest": lambda: damaged_run(run_dir, tmp_path, model="randomforest"),
        "seeds": lambda: seed_folder(run_dir, tmp_path),
        "run": lambda: run_dir,
    }[setup]()
    out = tmp_path / "bundles"
    result = cli_run(run, *args, "--out", out)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cropedge: error:") and message in lines[0], lines
    assert not out.exists()


def seed_folder(run_dir: Path, tmp_path: Path) -> Path:
    for seed in (0, 1):
        shutil.copytree(run_dir, tmp_path / "seeds" / f"seed-{seed}")
    return tmp_path / "seeds"


def test_unknown_precision_is_named(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(CropEdgeError, match="unknown precision 'int4'.*float32, float16, dynamic, int8, int8-qat"):
        export_run(run_dir, ["int4"], tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_docs_embed_the_precision_table() -> None:
    docs = (REPO / "docs" / "export.md").read_text()
    assert precision_table_markdown() in docs
    assert all(p.flag in precision_table_markdown() for p in PRECISIONS)


@pytest.mark.slow
def test_float16_dynamic_and_qat_export_and_run(run_dir: Path, tmp_path: Path) -> None:
    results = export_run(run_dir, ["float16", "dynamic", "int8-qat"], tmp_path, qat_epochs=1, quiet=True)
    run = Run(run_dir)
    val = run.val_data()
    keras_pred = run.predict_proba(val.x).argmax(1)
    sizes = {}
    for row in results:
        bundle = load_bundle(row["path"])
        assert bundle.metadata.to_dict()["self_check"]["agreement"] >= 0.9, row
        lite_pred = LiteModel(bundle).predict(val.x)[0]
        assert (lite_pred == keras_pred).mean() >= 0.9
        sizes[row["precision"]] = row["bytes"]
    qat = load_bundle(tmp_path / "cropnet-xs-shallow-int8-qat").metadata.to_dict()
    assert qat["input"]["dtype"] == "int8" and qat["quantization"]["qat_epochs"] == 1
    assert qat["quantization"]["scheme"] == "full-integer int8 (quantization-aware training)"
    assert sizes["dynamic"] < sizes["float16"]
    assert np.isfinite(qat["self_check"]["tflite_macro_f1"])
