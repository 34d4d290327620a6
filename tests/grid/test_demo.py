"""``cropedge demo`` end to end on tiny settings: same code path as the real demo, smaller knobs."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from cropedge.cli import cli
from cropedge.grid.rows import CHECK_FAILED, OK
from cropedge.grid.demo import QUICK, RECIPES, run_demo

# the quick demo shrunk further; the CLI call below asks for exactly this with its knobs
TINY = replace(QUICK, samples_per_class=10, epochs=1, models=("cropnet-xxs",), precisions=("int8",))
TINY_ARGS = ["--quick", "--samples-per-class", "10", "--epochs", "1", "--models", "cropnet-xxs", "--precisions", "int8"]
# cross-country 3 targets, cross-continent 2, cross-hemisphere 2 (each also season-aligned), FRA validation
TARGET_ROWS = 3 + 2 + 2 * 2 + 1


@pytest.mark.slow
def test_demo_end_to_end_then_resumed_from_the_cli(tmp_path):
    said: list[str] = []
    result = run_demo(tmp_path, TINY, progress=False, echo=said.append)

    assert len(RECIPES) == 3 and all(p.is_file() for p in RECIPES)
    # one training per augmentation setting, reused by all three transfer settings
    assert result["counts"]["trained"] == 2
    assert result["rows"] == result["counts"]["cells"] == 2 * TARGET_ROWS * (1 + len(TINY.precisions))
    rows = json.loads((tmp_path / "grid" / "results.json").read_text(encoding="utf-8"))
    assert {r["status"] for r in rows} <= {OK, CHECK_FAILED}
    assert {r["setting"] for r in rows} == {"cross_country", "cross_continent", "cross_hemisphere", "source"}
    html = result["report_html"].read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "What to ship" in html
    assert set(result["ship"]) == {"cross_country", "cross_continent", "cross_hemisphere"}
    assert any("synthesizing" in line for line in said) and said[-1].startswith("[3/3]")

    again = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path), *TINY_ARGS, "--json"])
    assert again.exit_code == 0, again.output
    resumed = json.loads(again.output)
    assert resumed["counts"]["trained"] == resumed["counts"]["evaluated"] == 0
    assert resumed["counts"]["skipped"] == result["rows"]
