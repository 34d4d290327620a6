"""GeoTIFF stacks in, classified GeoTIFF out: georeferencing, nodata, colours, class names, strips."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner

from cropedge.cli import cli
from cropedge.data.geotiff import GeoTiffStack
from cropedge.data.grid import S2_BANDS, fill_gaps, resample_to_year_grid
from cropedge.device.maps import CONFIDENCE_SCALE, NODATA, predict_raster
from cropedge.device.runtime import LiteModel

from .conftest import reflectance

DATES = [dt.date(2023, 1, 15) + dt.timedelta(days=30 * k) for k in range(12)]  # monthly
HEIGHT, WIDTH = 23, 37
TRANSFORM = Affine(10.0, 0.0, 600000.0, 0.0, -10.0, 5000000.0)  # 10 m UTM pixels


def series() -> np.ndarray:
    """[H*W, bands, dates] monthly observations with a nodata pixel, a cloudy date and a partial pixel."""
    doy = np.array([(d - dt.date(2023, 1, 1)).days + 1 for d in DATES])
    x = reflectance(HEIGHT * WIDTH, seed=11)[:, :, np.clip(np.rint((doy - 1) / 5).astype(int), 0, 72)]
    x = np.rint(x)
    x[5] = 0  # no data at all
    x[WIDTH + 3] = 0
    x[40, :, 4] = 0  # one cloudy date
    x[41, 2, :] = 0  # one band missing everywhere: no prediction possible
    return x


def write_stack(path: Path, x: np.ndarray, descriptions: str | None = "band_date", tiled: bool = False) -> Path:
    data = x.reshape(HEIGHT, WIDTH, len(S2_BANDS), len(DATES)).transpose(3, 2, 0, 1)  # date-major
    data = data.reshape(-1, HEIGHT, WIDTH).astype(np.uint16)
    blocks = {"tiled": True, "blockxsize": 16, "blockysize": 16} if tiled else {}
    with rasterio.open(path, "w", driver="GTiff", width=WIDTH, height=HEIGHT, count=len(data), dtype="uint16",
                       crs="EPSG:32631", transform=TRANSFORM, nodata=0, **blocks) as dst:
        dst.write(data)
        if descriptions:
            for i, (d, b) in enumerate((d, b) for d in DATES for b in S2_BANDS):
                dst.set_band_description(i + 1, f"{b}_{d}" if descriptions == "band_date" else f"{d:%Y%m%d}.{b}")
    return path


def expected(model: LiteModel, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reference: the same observations through the year grid and LiteModel in one go.

    Returns classes, confidence and the margin between the two most probable classes.
    """
    obs = np.where(x == 0, np.nan, x).astype(np.float32)
    first = dt.date(2023, 1, 1)
    year, _ = fill_gaps(resample_to_year_grid(obs, np.array([(d - first).days + 1 for d in DATES], float)))
    valid = np.isfinite(year).all(axis=(1, 2))
    classes = np.full(len(x), NODATA, np.uint8)
    conf = np.full(len(x), NODATA, np.uint8)
    margin = np.full(len(x), np.inf)
    ids, probs = model.predict(year[valid])
    classes[valid], conf[valid] = ids, np.rint(probs.max(axis=1) * CONFIDENCE_SCALE)
    top2 = np.sort(probs, axis=1)[:, -2:]
    margin[valid] = top2[:, 1] - top2[:, 0]
    return classes.reshape(HEIGHT, WIDTH), conf.reshape(HEIGHT, WIDTH), margin.reshape(HEIGHT, WIDTH)


def assert_same_map(classes: np.ndarray, want: tuple[np.ndarray, np.ndarray, np.ndarray],
                    conf: np.ndarray | None = None) -> None:
    """The map equals the reference up to float rounding.

    Fused resampling, normalisation and quantization round differently from the step-by-step
    reference by a float ulp, which can move an int8 input by one step and the output by a
    step or two: classes may differ only where the reference's top two are that close.
    """
    want_classes, want_conf, margin = want
    np.testing.assert_array_equal(classes == NODATA, want_classes == NODATA)
    close = margin < 3 / 256
    assert (classes[~close] == want_classes[~close]).all()
    assert (classes != want_classes).mean() < 0.01
    if conf is not None:
        assert np.abs(conf.astype(int) - want_conf).max() <= 3


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> tuple[Path, np.ndarray]:
    x = series()
    return write_stack(tmp_path_factory.mktemp("stack") / "stack.tif", x), x


def test_class_map_keeps_georeferencing_nodata_and_names(bundles, stack, tmp_path):
    path, x = stack
    out = tmp_path / "map.tif"
    result = CliRunner().invoke(cli, ["predict", str(bundles["int8"]), str(path), "--out", str(out), "--confidence"])
    assert result.exit_code == 0, result.output
    assert f"{HEIGHT * WIDTH - 3} pixels" in result.output and "3 nodata" in result.output
    model = LiteModel(bundles["int8"])
    want = expected(model, x)
    with rasterio.open(out) as src:
        assert (src.width, src.height, src.count) == (WIDTH, HEIGHT, 2)
        assert src.crs.to_epsg() == 32631 and src.transform == TRANSFORM
        assert src.dtypes == ("uint8", "uint8") and src.nodata == NODATA
        assert_same_map(src.read(1), want, src.read(2))
        assert src.read(1)[0, 5] == NODATA and src.read(1)[1, 3] == NODATA and src.read(1)[1, 4] == NODATA
        assert src.colormap(1)[0][:3] == (255, 211, 0)  # corn
        assert src.colormap(1)[NODATA][3] == 0
        assert src.descriptions == ("class", "confidence")
        assert src.scales[1] == pytest.approx(1 / CONFIDENCE_SCALE)
        tags = src.tags(1)
        assert [tags[f"CLASS_{i}"] for i in range(len(model.classes))] == list(model.classes)
        assert src.tags()["MODEL_SHA256"] == model.metadata.to_dict()["sha256"]
    assert len(np.unique(want[0])) > 2


@pytest.mark.parametrize("tiled", [False, True])
def test_windows_and_stack_order_from_arguments(bundles, stack, tmp_path, tiled):
    path, x = stack
    model = LiteModel(bundles["float32"])
    plain = write_stack(tmp_path / "plain.tif", x, descriptions=None, tiled=tiled)
    out = tmp_path / "windows.tif"
    dates = [str(d) for d in DATES]
    summary = predict_raster(model, plain, out, bands=list(S2_BANDS), dates=dates, max_pixels=80)
    assert summary["nodata"] == 3
    with rasterio.open(out) as src:
        assert_same_map(src.read(1), expected(model, x))
    with GeoTiffStack(plain, S2_BANDS, S2_BANDS, dates) as stack_:
        windows = list(stack_.windows(80))
    covered = np.zeros((HEIGHT, WIDTH), int)
    for w in windows:
        assert w.width * w.height <= 80 or w.height == 1
        covered[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] += 1
    assert (covered == 1).all()
    assert {int(w.width) for w in windows} == ({16, WIDTH - 32} if tiled else {WIDTH})


def test_date_first_descriptions(bundles, stack, tmp_path):
    path, x = stack
    other = write_stack(tmp_path / "other.tif", x, descriptions="date_band")
    out = tmp_path / "map.tif"
    predict_raster(LiteModel(bundles["int8"]), other, out)
    with rasterio.open(out) as src:
        assert_same_map(src.read(1), expected(LiteModel(bundles["int8"]), x))


def test_stack_errors_exit_2_without_output(bundles, stack, tmp_path):
    path, x = stack
    out = tmp_path / "map.tif"
    plain = write_stack(tmp_path / "plain.tif", x, descriptions=None)
    cases = [
        ([path, "--probabilities"], "--probabilities"),
        ([plain], "--bands and --dates"),
        ([plain, "--bands", ",".join(S2_BANDS[:9]), "--dates", ",".join(map(str, DATES))], "120 raster bands"),
        ([plain, "--bands", ",".join(S2_BANDS), "--dates", ",".join(map(str, DATES[:1] * 12))], "same band"),
    ]
    for args, match in cases:
        result = CliRunner().invoke(cli, ["predict", str(bundles["int8"]), *map(str, args), "--out", str(out)])
        assert result.exit_code == 2, result.output
        assert match in result.output and len(result.output.strip().splitlines()) == 1
        assert not out.exists()


def test_stack_must_cover_the_window(bundles, stack, tmp_path):
    x = series()[:, :, :6]  # January to June only: the window runs to 30 November
    short = tmp_path / "short.tif"
    data = x.reshape(HEIGHT, WIDTH, len(S2_BANDS), 6).transpose(3, 2, 0, 1).reshape(-1, HEIGHT, WIDTH)
    with rasterio.open(short, "w", driver="GTiff", width=WIDTH, height=HEIGHT, count=len(data), dtype="uint16",
                       transform=TRANSFORM, nodata=0) as dst:
        dst.write(data.astype(np.uint16))
    out = tmp_path / "map.tif"
    args = ["--bands", ",".join(S2_BANDS), "--dates", ",".join(map(str, DATES[:6]))]
    result = CliRunner().invoke(cli, ["predict", str(bundles["int8"]), str(short), "--out", str(out), *args])
    assert result.exit_code == 2 and "from any observation" in result.output
    assert not out.exists()


def run_cli(*args) -> object:
    return CliRunner().invoke(cli, ["predict", *map(str, args)])


def assert_one_line_error(result, out: Path, match: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cropedge: error:") and match in lines[0], result.output
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]


def write_mask(path: Path, keep: np.ndarray, transform: Affine = TRANSFORM, crs: str = "EPSG:32631") -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=keep.shape[1], height=keep.shape[0], count=1, dtype="uint8",
                       crs=crs, transform=transform) as dst:
        dst.write(keep.astype(np.uint8)[None])
    return path


def test_mask_is_honoured_even_when_larger_than_the_stack(bundles, stack, tmp_path):
    path, x = stack
    rng = np.random.default_rng(3)
    # a cropland mask 2 columns further west and 3 rows further north than the stack, and larger
    big = rng.random((HEIGHT + 7, WIDTH + 5)) < 0.6
    mask = write_mask(tmp_path / "mask.tif", big, TRANSFORM @ Affine.translation(-2, -3))
    keep = big[3 : 3 + HEIGHT, 2 : 2 + WIDTH]
    out = tmp_path / "masked.tif"
    result = run_cli(bundles["int8"], path, "--out", out, "--mask", mask, "--confidence")
    assert result.exit_code == 0, result.output
    want = expected(LiteModel(bundles["int8"]), x)
    with rasterio.open(out) as src:
        classes, conf = src.read(1), src.read(2)
    assert (classes[~keep] == NODATA).all() and (conf[~keep] == NODATA).all()
    masked = [np.where(keep, w, NODATA) for w in want[:2]] + [want[2]]
    assert_same_map(classes, tuple(masked), conf)
    assert f"{int((~keep).sum())} masked" in result.output


def test_mask_off_the_grid_and_other_crs_are_refused(bundles, stack, tmp_path):
    path, _ = stack
    keep = np.ones((HEIGHT, WIDTH), bool)
    out = tmp_path / "map.tif"
    shifted = write_mask(tmp_path / "half.tif", keep, TRANSFORM @ Affine.translation(0.5, 0))
    assert_one_line_error(run_cli(bundles["int8"], path, "--out", out, "--mask", shifted), out, "do not line up")
    other = write_mask(tmp_path / "crs.tif", keep, crs="EPSG:32632")
    assert_one_line_error(run_cli(bundles["int8"], path, "--out", out, "--mask", other), out, "CRS")


def test_complex_stack_is_refused(bundles, stack, tmp_path):
    _, x = stack
    data = x.reshape(HEIGHT, WIDTH, len(S2_BANDS), len(DATES)).transpose(3, 2, 0, 1).reshape(-1, HEIGHT, WIDTH)
    path = tmp_path / "complex.tif"
    with rasterio.open(path, "w", driver="GTiff", width=WIDTH, height=HEIGHT, count=len(data), dtype="complex64",
                       transform=TRANSFORM) as dst:
        dst.write(data.astype(np.complex64) * (1 + 0.5j))
        for i, (d, b) in enumerate((d, b) for d in DATES for b in S2_BANDS):
            dst.set_band_description(i + 1, f"{b}_{d}")
    out = tmp_path / "map.tif"
    assert_one_line_error(run_cli(bundles["int8"], path, "--out", out), out, "complex64 is not real-valued")


def test_damaged_compressed_strips_exit_2_without_output(bundles, stack, tmp_path):
    _, x = stack
    path = write_stack(tmp_path / "deflate.tif", x)
    with rasterio.open(path) as src:
        profile, data = src.profile, src.read()
        descriptions = src.descriptions
    good = tmp_path / "good.tif"
    with rasterio.open(good, "w", **{**profile, "compress": "deflate"}) as dst:
        dst.write(data)
        for i, d in enumerate(descriptions, 1):
            dst.set_band_description(i, d)
    raw = bytearray(good.read_bytes())
    middle = len(raw) // 2  # inside the strips; the header and directory are intact
    raw[middle : middle + 4000] = np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.tif"
    damaged.write_bytes(bytes(raw))
    out = tmp_path / "map.tif"
    assert_one_line_error(run_cli(bundles["int8"], damaged, "--out", out), out, "the file is damaged")


def test_existing_output_needs_overwrite(bundles, stack, tmp_path):
    path, _ = stack
    out = tmp_path / "map.tif"
    out.write_bytes(b"keep me")
    result = run_cli(bundles["int8"], path, "--out", out)
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert out.read_bytes() == b"keep me"
    assert run_cli(bundles["int8"], path, "--out", out, "--overwrite", "-q").exit_code == 0
    with rasterio.open(out) as src:
        assert src.count == 1


def test_auto_season_offset_finds_a_shifted_calendar(bundles, stack, tmp_path):
    _, x = stack
    global DATES
    northern = DATES
    try:  # the same series, observed half a year later (a southern season on a northern model)
        DATES = [d + dt.timedelta(days=180) for d in northern]
        shifted = write_stack(tmp_path / "south.tif", x)
    finally:
        DATES = northern
    out_auto, out_fixed = tmp_path / "auto.tif", tmp_path / "fixed.tif"
    model = LiteModel(bundles["int8"])
    auto = predict_raster(model, shifted, out_auto, season_offset_days="auto")
    assert auto["season_offset"]["method"] == "auto" and 165 <= auto["season_offset"]["days"] <= 195
    predict_raster(model, shifted, out_fixed, season_offset_days=auto["season_offset"]["days"])
    with rasterio.open(out_auto) as a, rasterio.open(out_fixed) as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))


def test_a_share_of_rows_and_the_block_layout(bundles, stack, tmp_path):
    path, x = stack
    model = LiteModel(bundles["int8"])
    tiled = write_stack(tmp_path / "tiled.tif", x, tiled=True)
    whole, share = tmp_path / "whole.tif", tmp_path / "share.tif"
    predict_raster(model, tiled, whole, max_pixels=100)
    summary = predict_raster(model, tiled, share, rows=(16, HEIGHT), max_pixels=100)
    with rasterio.open(whole) as w, rasterio.open(share) as s:
        assert w.block_shapes[0] == (16, 16) and w.profile["tiled"]
        assert s.height == HEIGHT - 16 and s.transform == TRANSFORM @ Affine.translation(0, 16)
        np.testing.assert_array_equal(s.read(1), w.read(1)[16:])
    assert summary["pixels"] + summary["nodata"] == (HEIGHT - 16) * WIDTH


@pytest.mark.parametrize("described", [True, False])
def test_stacks_of_any_sensor_bands(tmp_path, described):
    """Sentinel-1 backscatter and an index, by descriptions or by --bands/--dates, read as they are."""
    bands, dates = ("VV", "VH", "NDVI"), DATES[:4]
    data = np.arange(len(dates) * len(bands) * 6, dtype=np.float32).reshape(-1, 2, 3) + 1  # date-major
    path = tmp_path / "s1.tif"
    with rasterio.open(path, "w", driver="GTiff", width=3, height=2, count=len(data), dtype="float32",
                       crs="EPSG:32631", transform=TRANSFORM) as dst:
        dst.write(data)
        if described:
            for i, (d, b) in enumerate((d, b) for d in dates for b in bands):
                dst.set_band_description(i + 1, f"{b}_{d}")
    given = {} if described else {"bands": bands, "dates": [str(d) for d in dates]}
    with GeoTiffStack(path, keep=("VH", "NDVI"), **given) as stack:
        assert stack.bands == ("VH", "NDVI") and len(stack.doy) == len(dates)
        raw = stack.read_raw(next(iter(stack.windows(10**6))))
    # [bands, dates, pixels]: VH is the stack's second band (raster bands 2, 5, 8, 11), NDVI its third
    assert raw.shape == (2, len(dates), 6)
    assert raw[0, :, 0].tolist() == [data[k * 3 + 1, 0, 0] for k in range(len(dates))]
    assert raw[1, :, 5].tolist() == [data[k * 3 + 2, 1, 2] for k in range(len(dates))]
