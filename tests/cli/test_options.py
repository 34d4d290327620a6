"""One vocabulary: old spellings work as hidden aliases, and ``--help`` shows defaults read from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cropedge.cli import cli
from cropedge.cli.options import field_default, show_value

# verb -> arguments it requires, and (old spelling, new spelling, parameter, value, parsed value);
# RECIPE stands for a recipe file (the option checks that it exists), RUN for a folder
ALIASES = {
    "train": (["-o", "out"], [("--config", "--recipe", "recipe_path", "RECIPE", "RECIPE"),
                              ("--batch", "--batch-size", "batch_size", "32", 32)]),
    "eval": (["RUN"], [("--config", "--recipe", "recipe_path", "RECIPE", "RECIPE")]),
    "bench": (["-o", "grid", "--recipe", "RECIPE"], [("--config", "--recipe", "recipes", "RECIPE", ("RECIPE",) * 2),
                               ("--batches", "--batch-size", "batches", "1,64", (1, 64))]),
    "predict": (["bundle", "x.npz", "-o", "y.csv"], [("--batch", "--batch-size", "batch", "64", 64)]),
    "distill": (["RUN", "--model", "tcn", "-o", "out"], [("--batch", "--batch-size", "batch_size", "32", 32)]),
}


def _help(*verb: str) -> str:
    result = CliRunner().invoke(cli, [*verb, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.output


def _option_help(text: str, flag: str) -> str:
    """The help of the option listed as ``flag ...`` in ``--help`` output, its wrapped lines joined."""
    blocks = re.split(r"\n  (?=-)", text)  # an option's entry starts at the options' indent with a dash
    found = [b for b in blocks if b.startswith(flag)]
    assert len(found) == 1, flag
    return " ".join(found[0].split())


@pytest.mark.parametrize("verb", list(ALIASES))
def test_old_spellings_set_the_same_option_and_stay_out_of_help(verb: str, tmp_path: Path) -> None:
    recipe, run = tmp_path / "r.toml", tmp_path / "run"
    recipe.write_text("")
    run.mkdir()
    stand_in = {"RECIPE": recipe, ("RECIPE",) * 2: (recipe,) * 2, "RUN": run}
    required, aliases = ALIASES[verb]
    shown = [w.rstrip(",") for w in _help(verb).split()]
    for old, new, name, value, parsed in aliases:
        args = [str(stand_in.get(a, a)) for a in [*required, old, value]]
        ctx = cli.commands[verb].make_context(verb, args)
        assert ctx.params[name] == stand_in.get(parsed, parsed), old
        assert new in shown and old not in shown, f"{verb} --help: {old} shown or {new} missing"


def test_train_help_shows_the_code_defaults() -> None:
    from cropedge.training import budget
    from cropedge.training.recipe import TrainConfig

    text = _help("train")
    val_fraction = show_value(field_default(TrainConfig, "val_fraction"))
    assert f"[default: {val_fraction};" in _option_help(text, "--val-fraction")  # then click's range
    reference = budget.plan_budget(1, 2, protocol="reference")
    assert f"[default: {budget.LR:g}; reference {reference.lr:g};" in _option_help(text, "--lr ")
    assert f"[default: {field_default(TrainConfig, 'model')}]" in _option_help(text, "--model")
    assert "[default: augment]" in _option_help(text, "--augment / --no-augment")
    for flag in ("--out", "--recipe", "--seeds", "--batch-size", "--verbose", "--quiet"):
        assert f" {flag} " in " ".join(text.split())


def test_every_verb_has_quiet_and_verbose() -> None:
    verbs = [["data", "synth"], ["data", "info"], ["data", "import"], *[[v] for v in
             ("train", "eval", "distill", "export", "predict", "bench", "report", "demo")]]
    for verb in verbs:
        words = " ".join(_help(*verb).split())
        assert "-q, --quiet" in words and "--verbose" in words, verb


def test_demo_help_quotes_the_measured_minutes_the_readme_gives() -> None:
    from cropedge.grid.demo import MEASURED_MINUTES

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"{MEASURED_MINUTES:g} measured on an idle machine" in readme
    assert f"Measured: {MEASURED_MINUTES:g} minutes" in " ".join(_help("demo").split())


def test_help_never_splits_a_hyphenated_name() -> None:
    """``cropnet-xs-shallow``, ``int8-qat``: whole on one line, as a reader copies them."""
    verbs = [["data", "synth"], ["data", "info"], ["data", "import"], *[[v] for v in
             ("train", "eval", "distill", "export", "predict", "bench", "report", "demo")]]
    for verb in verbs:
        broken = [line for line in _help(*verb).splitlines() if re.search(r"\w-$", line)]
        assert not broken, (verb, broken)
    assert "cropnet-xs-shallow" in _help("train")


@pytest.mark.parametrize(("group", "verbs"), [
    ((), ["data", "train", "eval", "distill", "export", "predict", "bench", "report", "demo"]),
    (("data",), ["synth", "info", "import"]),
])
def test_groups_list_their_verbs_in_pipeline_order_untruncated(group: tuple[str, ...], verbs: list[str]) -> None:
    text = CliRunner().invoke(cli, [*group, "--help"], terminal_width=80).output
    listed = text.split("Commands:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in listed if line.strip()] == verbs
    assert not any(line.rstrip().endswith("...") for line in listed), listed
