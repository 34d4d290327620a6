"""Per-field labels from a GeoPackage in another CRS, over two stacks, against the one-process pixel maps."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from rasterio.warp import transform

from cropedge.cli import cli
from cropedge.data.grid import fill_gaps, resample_to_year_grid
from cropedge.device.predict import predict_file
from cropedge.device.runtime import LiteModel

from .conftest import CRS, DATES, ORIGIN, read_map, write_stack

# (id, first row, stop row, first column, stop column) on the two stacks' common grid (40 x 96)
FIELDS = [("A", 2, 12, 3, 20), ("B", 5, 30, 40, 60), ("C", 20, 38, 70, 90), ("D", 0, 10, 200, 210)]
HEIGHT, WIDTH = 40, 48


@pytest.fixture(scope="module")
def two_stacks(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("stacks")
    return [write_stack(folder / f"half{i}.tif", HEIGHT, WIDTH, column=WIDTH * i, seed=20 + i) for i in range(2)]


@pytest.fixture(scope="module")
def parcels(tmp_path_factory) -> Path:
    """The fields as polygons in WGS 84 (edges on pixel edges of the UTM grid)."""
    wkb = []
    for _, r0, r1, c0, c1 in FIELDS:
        xs = [ORIGIN[0] + 10 * c for c in (c0, c1, c1, c0, c0)]
        ys = [ORIGIN[1] - 10 * r for r in (r0, r0, r1, r1, r0)]
        lon, lat = transform(CRS, "EPSG:4326", xs, ys)
        wkb.append(shapely.to_wkb(shapely.Polygon(zip(lon, lat, strict=True))))
    path = tmp_path_factory.mktemp("fields") / "parcels.gpkg"
    pyogrio.raw.write(str(path), np.array(wkb, dtype=object), [np.array([f[0] for f in FIELDS], dtype=object)],
                      ["parcel"], driver="GPKG", crs="EPSG:4326", geometry_type="Polygon")
    return path


def pixel_year_series(stacks: list[Path]) -> np.ndarray:
    """The reference year-grid series of every pixel of the common grid [40, 96, bands, 73] (NaN: no data)."""
    doy = np.array([(d - dt.date(2023, 1, 1)).days + 1 for d in DATES], float)
    halves = []
    for s in stacks:
        with rasterio.open(s) as src:
            data = src.read().astype(np.float32)
        obs = data.reshape(len(DATES), -1, HEIGHT * WIDTH).transpose(2, 1, 0)
        year, _ = fill_gaps(resample_to_year_grid(np.where(obs == 0, np.nan, obs), doy))
        halves.append(year.reshape(HEIGHT, WIDTH, *year.shape[1:]))
    return np.concatenate(halves, axis=1)


def read_labels(path: Path) -> dict[str, tuple]:
    meta, _, _, data = pyogrio.raw.read(str(path))
    cols = dict(zip(meta["fields"], data, strict=True))
    return {i: (c, conf, n) for i, c, conf, n in zip(cols["field_id"], cols["class"], cols["confidence"],
                                                     cols["pixels"], strict=True)}


def run_fields(bundle: Path, stacks: list[Path], parcels: Path, out: Path, mode: str) -> dict[str, tuple]:
    result = CliRunner().invoke(cli, ["predict", str(bundle), *map(str, stacks), "--out", str(out), "--fields",
                                      str(parcels), "--field-id", "parcel", "--field-label", mode, "--workers", "1",
                                      "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["fields"]["labelled"] == 3
    return read_labels(out / "fields.gpkg")


def test_field_labels_agree_with_the_one_process_pixel_maps(bundles, two_stacks, parcels, tmp_path):
    bundle = bundles["int8"]
    maps = []
    for s in two_stacks:
        predict_file(bundle, s, tmp_path / f"one-{s.name}")
        maps.append(read_map(tmp_path / f"one-{s.name}")[0])
    pixel_map = np.hstack(maps)  # [40, 96]
    model = LiteModel(bundle)
    year = pixel_year_series(two_stacks)
    majority = run_fields(bundle, two_stacks, parcels, tmp_path / "majority", "majority")
    mean = run_fields(bundle, two_stacks, parcels, tmp_path / "mean", "mean")
    series = run_fields(bundle, two_stacks, parcels, tmp_path / "series", "series")
    assert not (tmp_path / "series" / "half0.tif").exists()  # the series mode classifies no pixel
    for fid, r0, r1, c0, c1 in FIELDS:
        classes = pixel_map[r0:r1, c0:c1].ravel() if c0 < 96 else np.zeros(0, np.uint8)
        classes = classes[classes != 255]
        if not classes.size:  # outside every stack: listed, unlabelled
            assert majority[fid][0] is None and majority[fid][2] == 0 and np.isnan(mean[fid][1])
            continue
        votes = np.bincount(classes, minlength=len(model.classes))
        assert majority[fid] == (model.classes[votes.argmax()], pytest.approx(votes.max() / classes.size, abs=1e-6),
                                 classes.size)
        x = year[r0:r1, c0:c1].reshape(-1, *year.shape[2:])
        x = x[np.isfinite(x).all(axis=(1, 2))]
        assert len(x) == classes.size == mean[fid][2] == series[fid][2]
        for got, probs in ((mean[fid], model.predict_proba(x).mean(axis=0)),
                           (series[fid], model.predict_proba(x.mean(axis=0, keepdims=True))[0])):
            top2 = np.sort(probs)[-2:]
            if top2[1] - top2[0] > 0.02:  # not a near tie at int8 resolution
                assert got[0] == model.classes[probs.argmax()]
            assert got[1] == pytest.approx(probs.max(), abs=0.02)


def test_bad_vector_files_are_one_line(bundles, two_stacks, tmp_path):
    points = tmp_path / "points.gpkg"
    pyogrio.raw.write(str(points), np.array([shapely.to_wkb(shapely.Point(ORIGIN))], dtype=object),
                      [np.array([1])], ["id"], driver="GPKG", crs=CRS, geometry_type="Point")
    not_vector = tmp_path / "fields.gpkg"
    not_vector.write_text("not a GeoPackage")
    for path, match in ((points, "must be polygons"), (not_vector, "not a readable vector file")):
        result = CliRunner().invoke(cli, ["predict", str(bundles["int8"]), *map(str, two_stacks), "--out",
                                          str(tmp_path / "out"), "--fields", str(path), "--workers", "1"])
        assert result.exit_code == 2 and match in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
