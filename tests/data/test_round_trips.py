"""Every sample keeps its label and its bands through every round trip: a CSV imported and read
back (a property over random label sets), and import -> train -> eval -> export -> predict with
land-cover codes as labels and bands that are not Sentinel-2's."""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cropedge.cli import cli
from cropedge.data import load_dataset
from cropedge.data.build import label_text

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

MISSING = {"", "nan", "na", "n/a", "none", "null"}
# land-cover codes, negative codes, gaps, names, names that look like numbers
LABELS = st.one_of(
    st.integers(-20, 300).map(str),
    st.sampled_from(["1", "3", "6", "8", "10", "12", "-1", "007", "3.0", "1100000000", "maize", "Maïs", "a b", "x,y"]),
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), min_size=1, max_size=6),
)


def _write(path: Path, labels: list[str], ids: list[str], bands: tuple[str, ...], steps: int = 4) -> Path:
    rng = np.random.default_rng(0)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "label", "region", *[f"{b}_t{t}" for b in bands for t in range(steps)]])
        for k, (i, label) in enumerate(zip(ids, labels, strict=True)):
            writer.writerow([i, label, "AB"[k % 2], *rng.integers(100, 5000, len(bands) * steps)])
    return path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=st.lists(LABELS, min_size=1, max_size=30))
def test_csv_import_then_read_keeps_every_label(tmp_path: Path, labels: list[str]) -> None:
    """The class a sample reads back as (from the imported .npz folder) is the label it had."""
    if all(label_text(v) == "" or v.strip().lower() in MISSING for v in labels):
        labels = [*labels, "7"]  # at least one labelled sample
    ids = [f"p{i}" for i in range(len(labels))]
    work = Path(tempfile.mkdtemp(dir=tmp_path))  # one folder per example
    src = _write(work / "pixels.csv", labels, ids, ("B2", "B8"))
    out = work / "npz"
    result = CliRunner().invoke(cli, ["data", "import", str(src), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    back = load_dataset(out)
    names = np.array([*back.classes, ""])[back.y]
    expected = {i: label_text(v) for i, v in zip(ids, labels, strict=True)}
    assert {i: n for i, n in zip(back.ids.tolist(), names.tolist(), strict=True)} == expected
    assert not (out / "INCOMPLETE").exists() and not list(out.glob(".*"))


def test_cropglobe_indices_are_never_read_as_names(tmp_path: Path) -> None:
    """An .npz whose classes are codes ("1", "3", ...) stores indices: index 1 is class "3"."""
    from cropedge.data import Dataset

    classes = ("1", "3", "6", "8", "10", "12")
    y = np.repeat(np.arange(6), [11, 27, 20, 47, 3, 5])
    Dataset(x=np.full((len(y), 10, 73), 1000.0), y=y, classes=classes).save_npz(tmp_path / "codes.npz")
    back = load_dataset(tmp_path / "codes.npz")
    assert back.classes == classes and back.class_counts() == {"1": 11, "3": 27, "6": 20, "8": 47, "10": 3, "12": 5}


BANDS = ("VV", "VH", "NDVI")  # Sentinel-1 backscatter (dB) and an index: no Sentinel-2 band
CODES = (1, 3, 6, 8, 10, 12)


def _sensor_csv(path: Path, region: str, seed: int, per_class: int = 12) -> tuple[Path, dict[str, str]]:
    """Monthly VV, VH, NDVI columns (``VV_2023-01-15``), a code per sample; the classes differ in level."""
    rng = np.random.default_rng(seed)
    months = [f"2023-{m:02d}-15" for m in range(1, 13)]
    season = np.sin(np.linspace(0, np.pi, 12))
    header = ["id", "code", *[f"{b}_{d}" for b in BANDS for d in months]]
    truth, rows = {}, []
    for k, code in enumerate(CODES):
        for j in range(per_class):
            i = f"{region}{k}-{j}"
            vv = -15 + k + rng.normal(0, 0.3, 12)
            vh = -22 + k + rng.normal(0, 0.3, 12)
            ndvi = 0.2 + 0.1 * k * season + rng.normal(0, 0.02, 12)
            rows.append([i, code, *np.round(np.concatenate([vv, vh, ndvi]), 4)])
            truth[i] = str(code)
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path, truth


@pytest.mark.slow
def test_codes_and_other_sensors_survive_train_eval_export_predict(tmp_path: Path) -> None:
    invoke = lambda *a: CliRunner().invoke(cli, [str(x) for x in a])  # noqa: E731
    data = tmp_path / "data"
    for region, seed in (("A", 0), ("B", 1)):
        src, _ = _sensor_csv(tmp_path / f"{region}.csv", region, seed)
        result = invoke("data", "import", src, "--out", data, "--quiet")
        assert result.exit_code == 0, result.output
    target_csv, truth = _sensor_csv(tmp_path / "B.csv", "B", 1)
    back = load_dataset(data)
    assert back.bands == BANDS and back.classes == tuple(map(str, CODES))
    run = tmp_path / "run"
    result = invoke("train", "--data", data, "--source", "A", "--model", "cropnet-xxs", "--epochs", 2,
                    "--batch-size", 16, "--lr", 0.003, "--seed", 0, "--out", run, "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads((run / "run.json").read_text())
    assert record["bands"] == list(BANDS) and record["classes"] == list(map(str, CODES))
    assert record["source_ndvi_curve"] is not None  # from the NDVI band: auto alignment works
    result = invoke("eval", run, "--data", data, "--target", "B", "--season-offset", "auto", "--json")
    assert result.exit_code == 0, result.output
    scored = json.loads(result.stdout)
    target = scored["targets"]["B"] if "targets" in scored else scored["B"]
    assert target["support"] == {str(c): 12 for c in CODES} and target["season_alignment"]["method"] == "auto"
    bundles = tmp_path / "bundles"
    result = invoke("export", run, "--float32", "--out", bundles, "--quiet")
    assert result.exit_code == 0, result.output
    bundle = next(bundles.iterdir())
    assert json.loads((bundle / "metadata.json").read_text())["bands"] == list(BANDS)
    pred = tmp_path / "pred.csv"
    result = invoke("predict", bundle, target_csv, "--out", pred, "--quiet")
    assert result.exit_code == 0, result.output
    with open(pred, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["id"]: r["label"] for r in rows} == truth  # every sample's own code
    # the same pixels as bare numbered columns: predict takes the reader options of data import
    bare = tmp_path / "bare.csv"
    with open(target_csv, newline="") as fh, open(bare, "w", newline="") as out:
        table = list(csv.reader(fh))
        csv.writer(out).writerows([["id", "code", *[f"v{i}" for i in range(36)]], *table[1:]])
    result = invoke("predict", bundle, bare, "--out", tmp_path / "bare_pred.csv", "--quiet")
    assert result.exit_code == 2 and "--layout" in result.stderr
    result = invoke("predict", bundle, bare, "--out", tmp_path / "bare_pred.csv", "--layout", "band-major",
                    "--bands", ",".join(BANDS), "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    with open(tmp_path / "bare_pred.csv", newline="") as fh:  # numbered steps: spread over the year, not dated
        assert {r["id"]: r["label"] for r in csv.DictReader(fh)} == truth
    # bands are checked by name: the same numbers called B2, B3, B4 are refused
    result = invoke("predict", bundle, bare, "--out", tmp_path / "x.csv", "--layout", "band-major",
                    "--bands", "B2,B3,B4", "--quiet")  # fmt: skip
    assert result.exit_code == 2 and "bands do not match" in result.stderr and not (tmp_path / "x.csv").exists()
