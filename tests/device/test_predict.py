"""``cropedge predict`` on pixel tables: outputs, and one-line errors that leave no file behind."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from cropedge.cli import cli
from cropedge.data import load_dataset
from cropedge.device.runtime import LiteModel

from .conftest import target


def run_predict(*args) -> click.testing.Result:
    return CliRunner().invoke(cli, ["predict", *map(str, args)])


def assert_failed_cleanly(result, out: Path, match: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cropedge: error:"), result.output
    assert match in lines[0]
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]  # no temporary left


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_csv_matches_the_runtime(bundles, labelled_npz, tmp_path, precision):
    out = tmp_path / "pred.csv"
    result = run_predict(bundles[precision], labelled_npz, "--out", out, "--probabilities", "--batch", "64", "--quiet")
    assert result.exit_code == 0, result.output
    assert result.output == ""
    model = LiteModel(bundles[precision])
    data = load_dataset(labelled_npz)
    ids, probs = model.predict(model.input_from(data))
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["id", "class", "probability", "label"] + [f"p_{c}" for c in model.classes]
    assert [r["id"] for r in rows] == data.ids.tolist()
    assert [r["class"] for r in rows] == [model.classes[i] for i in ids]
    assert [r["label"] for r in rows] == [data.classes[i] for i in data.y]
    np.testing.assert_allclose([float(r["probability"]) for r in rows], probs.max(axis=1), atol=1e-6)
    np.testing.assert_allclose([[float(r[f"p_{c}"]) for c in model.classes] for r in rows], probs, atol=1e-6)


def test_npz_output_and_summary_line(bundles, labelled_npz, tmp_path):
    out = tmp_path / "pred.npz"
    result = run_predict(bundles["int8"], labelled_npz, "--out", out, "--threads", "1")
    assert result.exit_code == 0, result.output
    assert f"{len(load_dataset(labelled_npz))} pixels" in result.output and "ai-edge-litert" in result.output
    with np.load(out) as z:
        assert set(z.files) == {"ids", "pred", "probability", "classes", "labels"}
        model = LiteModel(bundles["int8"])
        ids, _ = model.predict(model.input_from(load_dataset(labelled_npz)))
        np.testing.assert_array_equal(z["pred"], ids)


def test_lone_tflite_and_season_offset(bundles, labelled_npz, tmp_path):
    lone = tmp_path / "model.tflite"
    shutil.copy(bundles["int8"] / "model.tflite", lone)
    out_a, out_b = tmp_path / "a.npz", tmp_path / "b.npz"
    assert run_predict(lone, labelled_npz, "--out", out_a, "-q").exit_code == 0
    assert run_predict(lone, labelled_npz, "--out", out_b, "-q", "--season-offset", "90").exit_code == 0
    model = LiteModel(lone)
    x = model.input_from(load_dataset(labelled_npz))
    with np.load(out_b) as z:
        np.testing.assert_array_equal(z["pred"], model.predict(x, season_offset_days=90)[0])
    with np.load(out_a) as a, np.load(out_b) as b:
        assert (a["pred"] != b["pred"]).any()


def damaged_copy(bundle: Path, tmp_path: Path, how: str) -> Path:
    copy = tmp_path / f"bundle-{how}"
    shutil.copytree(bundle, copy)
    model = copy / "model.tflite"
    data = bytearray(model.read_bytes())
    if how == "truncated":
        model.write_bytes(bytes(data[: len(data) // 2]))
    elif how == "bitflip":
        data[len(data) // 3] ^= 0x10
        model.write_bytes(bytes(data))
    elif how == "sha":  # both copies agree, with a digest of their own, but name another flatbuffer
        from cropedge.device.bundle import embed_metadata, load_bundle, metadata_digest

        flatbuffer = load_bundle(copy).model_bytes
        meta = {**json.loads((copy / "metadata.json").read_text()), "sha256": "0" * 64}
        meta["digest"] = metadata_digest(flatbuffer, meta)
        (copy / "metadata.json").write_text(json.dumps(meta))
        model.write_bytes(embed_metadata(flatbuffer, meta))
    return copy


@pytest.mark.parametrize("how", ["truncated", "bitflip", "sha"])
def test_damaged_bundle_exits_2_without_output(bundles, labelled_npz, tmp_path, how):
    out = tmp_path / "pred.csv"
    result = run_predict(damaged_copy(bundles["int8"], tmp_path, how), labelled_npz, "--out", out)
    assert_failed_cleanly(result, out, "sha256")


def test_bad_inputs_exit_2_without_output(bundles, tmp_path):
    out = tmp_path / "pred.csv"
    data = target(5)
    nine = tmp_path / "nine.npz"
    replace(data, x=data.x[:, :9], bands=data.bands[:9]).save_npz(nine)
    cases = [
        ((bundles["int8"], tmp_path / "absent.npz"), "no such file"),
        ((tmp_path / "absent-bundle", nine), "no such bundle"),
        ((bundles["int8"], nine), "missing B12"),
    ]
    for args, match in cases:
        assert_failed_cleanly(run_predict(*args, "--out", out), out, match)
    assert_failed_cleanly(run_predict(bundles["int8"], nine, "--out", tmp_path / "x.tif"), tmp_path / "x.tif", ".csv")


def test_existing_output_is_kept_without_overwrite(bundles, labelled_npz, tmp_path):
    out = tmp_path / "pred.csv"
    out.write_text("precious\n")
    result = run_predict(bundles["int8"], labelled_npz, "--out", out)
    assert result.exit_code == 2 and "exists; pass --overwrite" in result.output
    assert out.read_text() == "precious\n"
    assert run_predict(bundles["int8"], labelled_npz, "--out", out, "--overwrite", "-q").exit_code == 0
    assert out.read_text().startswith("id,class,probability")


def test_auto_season_offset_from_the_bundles_source_curve(bundles, tmp_path):
    from cropedge.data.grid import shift_season

    data = target(20)
    south = replace(data, x=shift_season(data.x, -180.0))  # the same fields, half a year later
    path = tmp_path / "south.npz"
    south.save_npz(path)
    result = CliRunner().invoke(cli, ["predict", str(bundles["int8"]), str(path), "--out", str(tmp_path / "a.npz"),
                                      "--season-offset", "auto", "--json"])
    assert result.exit_code == 0, result.output
    offset = json.loads(result.output[result.output.index("{"):])["season_offset"]
    assert offset["method"] == "auto" and 165 <= offset["days"] <= 195
    model = LiteModel(bundles["int8"])
    with np.load(tmp_path / "a.npz") as z:
        want = model.predict(model.input_from(south), season_offset_days=offset["days"])[0]
        np.testing.assert_array_equal(z["pred"], want)
    bad = run_predict(bundles["int8"], path, "--out", tmp_path / "b.npz", "--season-offset", "soon")
    assert_failed_cleanly(bad, tmp_path / "b.npz", "neither a number of days nor 'auto'")
