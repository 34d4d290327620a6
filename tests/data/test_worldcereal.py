"""The real WorldCereal extractions in tests/data/worldcereal: the long France 2023 table and the
wide Uganda / South Sudan 2017 table."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from cropedge.data import S2_BANDS, YEAR_DOY, YEAR_STEPS, load_dataset
from cropedge.data.worldcereal import load_legend
from cropedge.errors import CropEdgeError

FRANCE = "2023_FRA_LPIS_POLY_110.geoparquet"
UGANDA = "test_public_extractions.parquet"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def france(worldcereal_dir):
    return load_dataset(worldcereal_dir / FRANCE)


def _check_clean_year_grid(ds):
    assert ds.bands == S2_BANDS
    assert ds.x.shape[1:] == (len(S2_BANDS), YEAR_STEPS) and np.array_equal(ds.doy, YEAR_DOY)
    assert np.isfinite(ds.x).all() and ds.filled > 0
    assert 0 < ds.x.mean() < 10_000  # reflectance DNs, no 65535 left


def test_long_table_france_2023(france, worldcereal_dir):
    ds = france
    assert len(ds) + ds.ignored + ds.dropped == 500
    assert ds.ignored == 182 and ds.dropped == 1  # CROPTYPE24 'ignore'; one parcel never seen cloud-free
    _check_clean_year_grid(ds)
    assert ds.regions() == ["30TYP", "30TYT", "30UYU", "30UYV"]
    assert ds.class_counts()["maize"] == 88 and ds.class_counts()["wheat"] == 61
    assert len(set(ds.ids)) == len(ds) and ds.ids[0].startswith("2023_FRA_LPIS_POLY_110_")
    assert any("B8A" in n and "B8" in n for n in ds.notes)  # B8A is all no-data in this file
    np.testing.assert_array_equal(ds.x[:, S2_BANDS.index("B8A")], ds.x[:, S2_BANDS.index("B8")])


def test_long_table_keeps_one_year(france, worldcereal_dir):
    """Day 11 of the grid holds 11 January 2023 as observed, not a mean with 11 January 2024."""
    raw = pq.read_table(worldcereal_dir / FRANCE, columns=["sample_id", "timestamp", "S2-L2A-B02"]).to_pydict()
    day = {}
    for sid, ts, b2 in zip(raw["sample_id"], raw["timestamp"], raw["S2-L2A-B02"], strict=False):
        if (ts.month, ts.day) == (1, 11) and b2 != 65535:
            day.setdefault(sid, {})[ts.year] = b2
    both = [s for s, v in day.items() if {2023, 2024} <= set(v) and v[2023] != v[2024] and s in set(france.ids)]
    assert both
    for sid in both[:5]:
        i = int(np.flatnonzero(france.ids == sid)[0])
        assert france.x[i, 0, 2] == day[sid][2023]


def test_wide_table_uganda_monthly(worldcereal_dir):
    ds = load_dataset(worldcereal_dir / UGANDA)
    assert len(ds) + ds.ignored + ds.dropped == 500 and ds.ignored == 26
    _check_clean_year_grid(ds)
    assert ds.class_counts()["sorghum"] == 305 and ds.class_counts()["maize"] == 97
    assert "36NXJ" in ds.regions()
    own = load_dataset(worldcereal_dir / UGANDA, label_col="sampling_label")
    assert len(own) == 500 and own.ignored == 0 and "sorghum" in own.classes


def test_group_tiles_south_north(worldcereal_dir):
    ds = load_dataset(worldcereal_dir / FRANCE, groups={"south": ["30TYP", "30TYT"], "north": ["30UYU", "30UYV"]})
    counts = dict(zip(*np.unique(ds.region, return_counts=True), strict=False))
    assert counts == {"north": 176, "south": 141}


def test_legend_choice_and_errors(tmp_path, worldcereal_dir):
    mapping, legend = load_legend(worldcereal_dir / "class_mappings.json", "LANDCOVER10")
    assert legend == "LANDCOVER10" and "temporary_crops" in mapping.values()
    lc = load_dataset(worldcereal_dir / UGANDA, legend="LANDCOVER10")
    assert "temporary_crops" in lc.classes
    with pytest.raises(CropEdgeError, match="legend 'NOPE' not in"):
        load_dataset(worldcereal_dir / UGANDA, legend="NOPE")
    alone = tmp_path / UGANDA
    shutil.copy(worldcereal_dir / UGANDA, alone)
    with pytest.raises(CropEdgeError, match="class_mappings.json not found"):
        load_dataset(alone)
    assert len(load_dataset(alone, legend_file=worldcereal_dir / "class_mappings.json")) == 474


def test_checkout_reads_nothing_outside_itself(worldcereal_dir):
    """Tests, recipes, the Makefile and CI read the copies in tests/data/worldcereal, never a
    folder beside the checkout (a user's clone has none)."""
    from cropedge.training.recipe import load_recipe

    assert worldcereal_dir.is_relative_to(REPO) and (worldcereal_dir / "LICENSE").is_file()
    outside = re.compile(r"\.\./" + "shared|parents?\\[?\\d*\\]?\\.parent\\s*/\\s*\"" + "shared\"")
    files = [REPO / "Makefile", *(REPO / ".ci").rglob("*"), *(REPO / "training").rglob("*.toml"),
             *(REPO / "tests").rglob("*.py")]  # fmt: skip
    found = [str(p.relative_to(REPO)) for p in files if p.is_file() and outside.search(p.read_text())]
    assert not found
    recipe = load_recipe(REPO / "training" / "worldcereal_france.toml")
    assert Path(recipe.config.data).resolve().is_relative_to(REPO) and Path(recipe.config.data).is_file()


def test_rows_without_a_date_are_counted_in_the_notes(france, worldcereal_dir, tmp_path):
    """A null timestamp is no observation: left out, and said, never dropped silently."""
    import pyarrow as pa

    table = pq.read_table(worldcereal_dir / FRANCE)
    column = table.column("timestamp").to_pylist()
    column[0] = column[7] = None
    path = tmp_path / "nulls.parquet"
    pq.write_table(table.set_column(table.schema.get_field_index("timestamp"), "timestamp",
                                    pa.array(column, type=table.schema.field("timestamp").type)), path)
    shutil.copy(worldcereal_dir / "class_mappings.json", tmp_path)
    ds = load_dataset(path)
    assert "2 row(s) without a date in column timestamp left out" in ds.notes
    assert len(ds) == len(france) and not any("without a date" in n for n in france.notes)
