"""Bad input through the real CLI: exit 2, one ``cropedge: error:`` line, no traceback, no output.

Every case is a user mistake (a path, a file, a model or an argument) given to the verb
that meets it in practice. A genuine bug keeps its traceback (last test).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from cropedge.data.grid import S2_BANDS, YEAR_STEPS

from .conftest import MODEL, SOURCE, TRAIN_ARGS, assert_user_error, invoke, run_cli

# files the kernel refuses to read even to root (write-only attributes); used when running as root
_ROOT_UNREADABLE = ("/sys/bus/pci/rescan", "/sys/bus/pci/drivers_probe", "/sys/bus/platform/drivers_probe")


@dataclass
class Ctx:
    """What a case may use: a private folder and, fetched only when asked, the session fixtures."""

    tmp: Path
    request: pytest.FixtureRequest

    @property
    def data(self) -> Path:
        return self.request.getfixturevalue("synth_dir")

    @property
    def run(self) -> Path:
        return self.request.getfixturevalue("trained_run")

    @property
    def bundle(self) -> Path:
        return self.request.getfixturevalue("bundles")["int8"]

    @property
    def table(self) -> Path:
        return self.data / "BEL.npz"

    def out(self, name: str = "pred.csv") -> Path:
        return self.tmp / "out" / name

    def file(self, name: str, content: bytes | str) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path

    def npz(self, name: str, n: int = 6, n_bands: int = 10, steps: int = YEAR_STEPS, fill: float | None = None,
            labels: list | None = None, **extra: np.ndarray) -> Path:
        """A CropGlobe file: ``fea`` [n, n_bands, steps] (random reflectance or ``fill``), ``lbl``, ``extra``."""
        rng = np.random.default_rng(0)
        shape = (n, n_bands, steps)
        fea = rng.uniform(100, 5000, shape).astype(np.float32) if fill is None else np.full(shape, fill)
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, fea=fea, lbl=np.array(labels if labels is not None else [i % 7 for i in range(n)]), **extra)
        return path

    def folder(self, name: str) -> Path:
        """An existing folder (with a stray file in it) where a file is expected."""
        path = self.tmp / name
        path.mkdir(parents=True)
        (path / "notes.txt").write_text("not data\n")
        return path

    def data_copy(self) -> Path:
        dst = self.tmp / "data"
        shutil.copytree(self.data, dst)
        return dst

    def link(self, name: str, target: Path) -> Path:
        path = self.tmp / name
        path.symlink_to(target)
        return path

    def hard_link(self, name: str, target: Path) -> Path:
        path = self.tmp / name
        os.link(target, path)
        return path

    def bundle_copy(self) -> Path:
        dst = self.tmp / "bundle"
        shutil.copytree(self.bundle, dst)
        return dst

    def edit_meta(self, redigest: bool = True, **changes: object) -> Path:
        """A bundle whose metadata says something else, in both copies with a matching digest (as a faulty
        exporter would write it), so each case reaches the check it is named after; ``redigest=False``
        leaves the digest as exported (an edit made after export)."""
        from cropedge.device.bundle import embed_metadata, load_bundle, metadata_digest

        folder = self.bundle_copy()
        flatbuffer = load_bundle(folder).model_bytes
        meta = {**json.loads((folder / "metadata.json").read_text()), **changes}
        if redigest:
            meta["digest"] = metadata_digest(flatbuffer, meta)
        (folder / "metadata.json").write_text(json.dumps(meta))
        (folder / "model.tflite").write_bytes(embed_metadata(flatbuffer, meta))
        return folder

    def hand_edited_meta(self, **changes: object) -> Path:
        """A bundle whose metadata.json alone was edited."""
        folder = self.bundle_copy()
        meta = {**json.loads((folder / "metadata.json").read_text()), **changes}
        (folder / "metadata.json").write_text(json.dumps(meta))
        return folder

    def run_copy(self, *remove: str) -> Path:
        dst = self.tmp / "run"
        shutil.copytree(self.run, dst)
        for name in remove:
            (dst / name).unlink()
        return dst

    def recipe(self, data: str | None = None, seeds: list[int] | None = None, **train: object) -> Path:
        lines = [f"data = {json.dumps(data or str(self.data))}", f'sources = ["{SOURCE}"]',
                 f"seeds = {json.dumps(seeds if seeds is not None else [0])}", "[train]",
                 *(f"{k} = {json.dumps(v)}" for k, v in {"model": MODEL, "epochs": 1, **train}.items()),
                 "[targets.BEL]"]  # fmt: skip
        return self.file("recipes/tiny.toml", "\n".join(lines) + "\n")

    def damaged_run(self, damage: Callable[[dict], object] | str | bytes) -> Path:
        """A copy of the run with run.json rewritten by ``damage`` (config.json for the ``config.json []`` case),
        one of its files removed (a name), or split.npz replaced by ``damage`` (bytes)."""
        run = self.run_copy()
        if isinstance(damage, str):
            (run / damage).unlink()
        elif isinstance(damage, bytes):
            (run / "split.npz").write_bytes(damage)
        else:
            record = json.loads((run / "run.json").read_text())
            changed = damage(record)
            if changed is record:  # unchanged run.json: the config is what is damaged
                (run / "config.json").write_text("[]")
            else:
                (run / "run.json").write_text(json.dumps(changed))
        return run


def _unreadable(ctx: Ctx, name: str) -> Path:
    """A file this process may not read: chmod 000, or for root (who ignores modes) a link to a
    write-only kernel attribute. Skips when neither exists."""
    path = ctx.tmp / name
    if os.geteuid() != 0:
        path.write_bytes(b"x" * 100)
        path.chmod(0)
        return path
    for target in _ROOT_UNREADABLE:
        try:
            open(target, "rb").close()
        except PermissionError:
            path.symlink_to(target)
            return path
        except OSError:
            continue
    pytest.skip("running as root and no file here refuses root's reads")


def _unwritable(ctx: Ctx) -> Path:
    """A folder this process may not create files in: mode 0o500, or for root read-only /sys."""
    if os.geteuid() != 0:
        folder = ctx.tmp / "readonly"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    try:
        (Path("/sys") / "cropedge-probe").write_bytes(b"")
    except OSError:
        return Path("/sys")
    pytest.skip("running as root and /sys is writable")


def _flip_byte(ctx: Ctx) -> Path:
    folder = ctx.bundle_copy()
    data = bytearray((folder / "model.tflite").read_bytes())
    data[len(data) // 3] ^= 0x40
    (folder / "model.tflite").write_bytes(bytes(data))
    return folder


def _truncate(ctx: Ctx, lone: bool) -> Path:
    folder = ctx.bundle_copy()
    data = (folder / "model.tflite").read_bytes()
    (folder / "model.tflite").write_bytes(data[: len(data) // 2])
    return folder / "model.tflite" if lone else folder


def _strip_metadata(ctx: Ctx) -> Path:
    from cropedge.device.bundle import load_bundle

    folder = ctx.bundle_copy()
    flatbuffer = load_bundle(folder).model_bytes
    (folder / "metadata.json").unlink()
    (folder / "model.tflite").write_bytes(flatbuffer)  # no embedded copy either
    return folder


def _csv(ctx: Ctx, name: str, header: list[str], rows: list[list[object]]) -> Path:
    text = "\n".join(",".join(map(str, r)) for r in [header, *rows]) + "\n"
    return ctx.file(name, text)


BAND_MAJOR = [f"{b}_t{t}" for b in S2_BANDS for t in range(YEAR_STEPS)]


def _train(ctx: Ctx, data: Path, *extra: object, out: Path | None = None) -> tuple[list, list]:
    out = out or ctx.tmp / "newrun"
    base = dict(zip(TRAIN_ARGS[::2], TRAIN_ARGS[1::2], strict=False))
    for flag, value in zip(extra[::2], extra[1::2], strict=False):
        base[flag] = value
    return ["train", "--data", data, *[x for kv in base.items() for x in kv], "--out", out], [out]


def _classes(ctx: Ctx) -> list[str]:
    return json.loads((ctx.bundle / "metadata.json").read_text())["classes"]


def _predict(ctx: Ctx, bundle: Path, table: Path, *extra: object, out: Path | None = None) -> tuple[list, list]:
    out = out or ctx.out()
    # an --out that is already there (a folder) must stay as it was; anything else must not appear
    return ["predict", bundle, table, "--out", out, *extra], [] if out.exists() else [out]


def _export(ctx: Ctx, run: Path, *flags: str) -> tuple[list, list]:
    out = ctx.tmp / "exported"
    return ["export", run, *(flags or ("--int8",)), "--out", out], [out]


def _synth(out: Path) -> tuple[list, list]:
    return ["data", "synth", "--out", out, "--samples-per-class", 1], [out]


def _bench(ctx: Ctx, *extra: object, recipe: Path | None = None) -> tuple[list, list]:
    out = ctx.tmp / "grid"
    return ["bench", "--recipe", recipe or ctx.recipe(), "--out", out, "--quiet", *extra], [out]


# id -> (ctx -> (argv, paths that must not exist afterwards), words the one line must contain)
Case = Callable[[Ctx], tuple[list, list]]
CASES: dict[str, tuple[Case, str]] = {
    # --- paths: missing, a folder for a file, no permission, through a file, empty ------------------
    "info/missing file": (lambda c: (["data", "info", c.tmp / "missing.npz"], []), "no such file"),
    "import/missing file": (lambda c: (["data", "import", c.tmp / "no.csv", "--out", c.tmp / "o"], [c.tmp / "o"]),
                            "no such file"),
    "train/missing data": (lambda c: _train(c, c.tmp / "nothing"), "does not exist"),
    "predict/missing input": (lambda c: _predict(c, c.bundle, c.tmp / "missing.npz"), "no such file"),
    "predict/missing bundle": (lambda c: _predict(c, c.tmp / "nobundle", c.table), "no such bundle"),
    "export/missing run": (lambda c: _export(c, c.tmp / "norun"), "no such run"),
    "eval/missing run": (lambda c: (["eval", c.tmp / "norun", "--target", "BEL"], []), "does not exist"),
    "bench/missing recipe": (lambda c: _bench(c, recipe=c.tmp / "none.toml"), "does not exist"),
    "report/missing grid": (lambda c: (["report", c.tmp / "nogrid", "--out", c.tmp / "r"], [c.tmp / "r"]),
                            "does not exist"),
    "import/folder as file": (lambda c: (["data", "import", c.folder("d.csv"), "--out", c.tmp / "o"], [c.tmp / "o"]),
                              "is a folder"),
    "predict/folder as bundle": (lambda c: _predict(c, c.folder("b"), c.table), "no model.tflite"),
    "predict/folder of no data": (lambda c: _predict(c, c.bundle, c.folder("t")), "no data files"),
    "predict/folder as --out": (lambda c: _predict(c, c.bundle, c.table, out=c.folder("o.csv")), "is a folder"),
    "eval/folder as --out": (lambda c: (["eval", c.run, "--target", "BEL", "--out", c.folder("e.json")], []),
                             "is a directory"),
    "bench/folder as recipe": (lambda c: _bench(c, recipe=c.folder("r.toml")), "is a directory"),
    "info/no permission": (lambda c: (["data", "info", _unreadable(c, "locked.npz")], []), "permission"),
    "predict/unreadable model": (lambda c: _predict(c, _locked_model(c), c.table), "cannot read"),
    "train/unreadable recipe": (lambda c: (["train", "--config", _unreadable(c, "r.toml"), "--out", c.tmp / "r"],
                                           [c.tmp / "r"]), "cannot read"),
    "predict/unwritable --out": (lambda c: _predict(c, c.bundle, c.table, out=_unwritable(c) / "cropedge-p.csv"),
                                 "cannot write"),
    "synth/unwritable --out": (lambda c: _synth(_unwritable(c) / "cropedge-syn"), "cannot write"),
    "predict/--out through a file": (lambda c: _predict(c, c.bundle, c.table, out=c.file("f.txt", "x") / "p.csv"),
                                     "cannot write"),
    "synth/--out through a file": (lambda c: _synth(c.file("f.txt", "x") / "d"), "cannot write"),
    "train/--out through a file": (lambda c: _train(c, c.data, out=c.file("f.txt", "x") / "r"), "cannot write"),
    "export/--out through a file": (lambda c: (["export", c.run, "--float32", "--out", c.file("f.txt", "x") / "b"],
                                               []), "cannot write"),
    "info/input through a file": (lambda c: (["data", "info", c.file("f.npz", "x") / "g.npz"], []), "no such file"),
    "info/empty npz": (lambda c: (["data", "info", c.file("e.npz", b"")], []), "empty"),
    "predict/empty csv": (lambda c: _predict(c, c.bundle, c.file("e.csv", b"")), "empty"),
    "predict/empty model.tflite": (lambda c: _predict(c, _empty_model(c), c.table), "empty"),
    "predict/empty metadata.json": (lambda c: _predict(c, _empty_meta(c), c.table), "not valid JSON"),
    "train/empty recipe": (lambda c: (["train", "--config", c.file("e.toml", b""), "--out", c.tmp / "r"],
                                      [c.tmp / "r"]), "missing 'data'"),
    "eval/empty run.json": (lambda c: (["eval", _empty_run_json(c), "--target", "BEL"], []), "corrupt"),
    # --- data --------------------------------------------------------------------------------------------
    # the comprehensions below call a factory per loop value, so each case keeps its own value
    **{f"info/random bytes {s}": ((lambda suffix: lambda c: (["data", "info", c.file(f"r{suffix}", _noise())], []))(s),
                                  "not utf-8" if s == ".csv" else "not a")
       for s in (".npz", ".h5", ".parquet", ".csv")},
    "predict/random bytes csv": (lambda c: _predict(c, c.bundle, c.file("r.csv", _noise())), "not utf-8"),
    "train/random bytes npz": (lambda c: _train(c, c.file("rnd/FRA.npz", _noise()).parent), "not a"),
    "predict/csv without band columns": (lambda c: _predict(c, c.bundle, _csv(c, "nb.csv", ["id", "lat", "label"],
                                                                                [[1, 4.5, "corn"]])),
                                         "no band columns"),
    "train/csv without band columns": (lambda c: _train(c, _csv(c, "nb.csv", ["id", "region", "label"],
                                                                [[1, SOURCE, "corn"]])), "no band columns"),
    "predict/wrong band count": (lambda c: _predict(c, c.bundle, c.npz("b9.npz", n_bands=9)), "9 bands but 10"),
    "train/wrong band count": (lambda c: _train(c, c.npz("b9/FRA.npz", n_bands=9).parent), "9 bands but 10"),
    "predict/time axis too short": (lambda c: _predict(c, c.bundle, _csv(c, "short.csv", ["label", "B2_t0", "B2_t1"],
                                                                         [["corn", 1, 2]])), "time axis too short"),
    "predict/NaN everywhere": (lambda c: _predict(c, c.bundle, c.npz("nan.npz", fill=np.nan)), "none of the 6 samples"),
    "train/inf everywhere": (lambda c: _train(c, c.npz("inf/FRA.npz", fill=np.inf).parent), "none of the 6 samples"),
    "import/label not in --classes": (lambda c: (["data", "import", _csv(c, "l.csv", ["label", *BAND_MAJOR],
                                                                         [["banana", *[500] * len(BAND_MAJOR)]]),
                                                  "--classes", "corn,wheat", "--out", c.tmp / "o"], [c.tmp / "o"]),
                                      "not among"),
    "train/label index past the classes": (lambda c: _train(c, c.npz("lbl/FRA.npz", labels=[0, 1, 2, 3, 4, 9]).parent),
                                           "not indices"),
    "train/single class": (lambda c: _train(c, c.npz("one/FRA.npz", labels=[2] * 6).parent), "at least two"),
    "train/too few samples to split": (lambda c: _train(c, c.npz("few/FRA.npz", n=2, labels=[0, 1]).parent),
                                       "too few"),
    "train/source not in data": (lambda c: _train(c, c.data, "--source", "XYZ"), "XYZ"),
    "eval/target not in data": (lambda c: (["eval", c.run, "--target", "XYZ", "--out", c.tmp / "e.json"],
                                           [c.tmp / "e.json"]), "XYZ"),
    # --- models and bundles -------------------------------------------------------------------------------
    "export/run without model": (lambda c: _export(c, c.run_copy("model.keras")), "no model.keras"),
    "eval/run without model": (lambda c: (["eval", c.run_copy("model.keras"), "--target", "BEL"], []),
                               "no model.keras"),
    "export/unfinished run": (lambda c: _export(c, c.run_copy("run.json")), "not a finished training run"),
    "predict/truncated tflite": (lambda c: _predict(c, _truncate(c, lone=False), c.table), "sha256"),
    "predict/truncated lone tflite": (lambda c: _predict(c, _truncate(c, lone=True), c.table), "no metadata"),
    "predict/bit-flipped tflite": (lambda c: _predict(c, _flip_byte(c), c.table), "sha256"),
    "predict/sha256 mismatch": (lambda c: _predict(c, c.edit_meta(sha256="0" * 64), c.table), "sha256"),
    "predict/metadata missing": (lambda c: _predict(c, _strip_metadata(c), c.table), "no metadata"),
    "predict/newer metadata version": (lambda c: _predict(c, c.edit_meta(metadata_version=99), c.table), "newer"),
    "predict/metadata window not the model's": (lambda c: _predict(c, c.edit_meta(window={"start_doy": 121,
                                                "end_doy": 200, "step": 5}), c.table), "re-export"),
    "predict/metadata classes not the model's": (lambda c: _predict(c, c.edit_meta(classes=["a", "b"]), c.table),
                                                 "re-export"),
    "predict/metadata.json classes swapped by hand": (
        lambda c: _predict(c, c.hand_edited_meta(classes=list(reversed(_classes(c)))), c.table), "was edited"),
    "predict/metadata classes not a list": (lambda c: _predict(c, c.edit_meta(classes="abcdefg"), c.table),
                                            "field 'classes' is 'abcdefg', not a list"),
    "predict/metadata edited in both copies": (
        lambda c: _predict(c, c.edit_meta(redigest=False, classes=list(reversed(_classes(c)))), c.table),
        "does not match its digest"),
    "predict/input bands not the bundle's": (lambda c: _predict(c, c.bundle, _bands_table(c)), "bands do not match"),
    "predict/input season misses the window": (lambda c: _predict(c, c.bundle, _early_season_table(c)), "window"),
    # --- arguments ----------------------------------------------------------------------------------------
    "train/unknown model": (lambda c: _train(c, c.data, "--model", "resnet-9000"), "unknown model"),
    "bench/unknown model": (lambda c: _bench(c, "--models", "resnet-9000", "--precisions", "int8"), "unknown model"),
    "bench/unknown precision": (lambda c: _bench(c, "--precisions", "int4"), "unknown precision"),
    "export/unknown precision flag": (lambda c: _export(c, c.run, "--int4"), "no such option"),
    "export/--c-array without int8": (lambda c: _export(c, c.run, "--float32", "--c-array"), "--c-array"),
    "export/--qat-epochs without --qat": (lambda c: _export(c, c.run, "--int8", "--qat-epochs", "2"), "--qat-epochs"),
    "export/--rep-samples without int8": (lambda c: _export(c, c.run, "--float16", "--rep-samples", "9"),
                                          "--rep-samples"),
    "export/a forest to TFLite": (lambda c: _export(c, _forest_run(c), "--int8"), "randomforest"),
    "predict/--probabilities for a raster": (lambda c: _predict(c, c.bundle, c.file("s.tif", b"x"), "--probabilities",
                                                                out=c.out("map.tif")), "--probabilities"),
    "predict/--bands for a table": (lambda c: _predict(c, c.bundle, c.table, "--bands", "B2,B3"), "--bands"),
    "predict/output format": (lambda c: _predict(c, c.bundle, c.table, out=c.out("p.txt")), ".csv or .npz"),
    "train/--seed with --seeds": (lambda c: _train(c, c.data, "--seeds", "1,2"), "not both"),
    "train/--val-fraction 1": (lambda c: _train(c, c.data, "--val-fraction", "1"), "--val-fraction"),
    **{f"train/{flag} {v}": ((lambda f, value: lambda c: _train(c, c.data, f, value))(flag, v), flag)
       for flag in ("--epochs", "--batch-size") for v in ("0", "-3")},
    **{f"predict/{flag} {v}": ((lambda f, value: lambda c: _predict(c, c.bundle, c.table, f, value))(flag, v), flag)
       for flag in ("--threads", "--batch") for v in ("0", "-1")},
    "export/--rep-samples 0": (lambda c: _export(c, c.run, "--int8", "--rep-samples", "0"), "--rep-samples"),
    **{f"bench/{flag} {v}": ((lambda f, value: lambda c: _bench(c, f, value))(flag, v), flag)
       for flag, v in (("--epochs", "0"), ("--seeds", "-1"), ("--runs", "0"), ("--threads", "-2"),
                       ("--batch-size", "0"))},
    # --- numbers that are not numbers, seeds numpy refuses: refused before anything is written --------
    **{f"{verb}/{flag} {v}": ((lambda mk, f, value: lambda c: mk(c, f, value))(make, flag, v),
                              "season offset" if verb == "predict" else flag)
       for verb, make, flags in (
           ("train", lambda c, f, v: _train(c, c.data, f, v), ("--lr", "--val-fraction", "--season-offset")),
           ("bench", lambda c, f, v: _bench(c, f, v), ("--min-oa",)),
           ("eval", lambda c, f, v: _eval(c, f, v), ("--season-offset",)),
           ("predict", lambda c, f, v: _predict(c, c.bundle, c.table, f, v), ("--season-offset",)))
       for flag in flags for v in ("nan", "inf", "-inf")},
    **{f"train/--seed {v}": ((lambda value: lambda c: _train(c, c.data, "--seed", value))(v), "--seed")
       for v in ("-1", "1099511627776", "1.5")},
    "train/--seeds with -1": (lambda c: (["train", "--data", c.data, "--source", SOURCE, "--seeds", "0,-1",
                                          "--out", c.tmp / "r"], [c.tmp / "r"]), "--seeds"),
    "train/recipe seeds [-1]": (lambda c: (["train", "--config", c.recipe(seeds=[-1]), "--out", c.tmp / "r"],
                                           [c.tmp / "r"]), "seeds"),
    "bench/recipe seeds [-1]": (lambda c: _bench(c, recipe=c.recipe(seeds=[-1])), "seeds"),
    **{f"synth/--seed {v}": ((lambda value: lambda c: (_synth(c.tmp / "d")[0] + ["--seed", value],
                                                        [c.tmp / "d"]))(v), "--seed") for v in ("-1", "4294967296")},
    # --- damaged run folders, in every verb that reads one ----------------------------------------------
    # (eval reads no split.npz: it scores targets)
    **{f"{verb}/run {what}": ((lambda mk, dmg: lambda c: mk(c, c.damaged_run(dmg)))(make, damage), words)
       for verb, make in (("export", lambda c, r: _export(c, r, "--float32")), ("eval", lambda c, r: _eval(c, run=r)))
       for what, damage, words in (
           ("run.json []", lambda d: [], "not a list"),
           ("window start_doy 'abc'", lambda d: {**d, "window": {**d["window"], "start_doy": "abc"}}, "window"),
           ("std as words", lambda d: {**d, "normalization": {**d["normalization"],
                                       "std": ["abc"] * len(d["normalization"]["std"])}}, "normalization"),
           ("classes a string", lambda d: {**d, "classes": "abcdefg"}, "'classes' is 'abcdefg', not a list"),
           ("without config.json", "config.json", "config.json is missing"),
           ("config.json []", lambda d: d, "config.json"),
           *((("without split.npz", "split.npz", "split.npz"), ("split.npz of text", b"not an archive\n", "split.npz"))
             if verb == "export" else ()),
       )},
    # --- nothing is made before every argument is checked ----------------------------------------------
    "bench/recipe data missing": (lambda c: _bench(c, recipe=c.recipe(data=str(c.tmp / "nowhere"))), "no such file"),
    "demo/unknown model": (lambda c: (["demo", "--out", c.tmp / "demo", "--models", "bogus"], [c.tmp / "demo"]),
                           "unknown model"),
    "demo/unknown precision": (lambda c: (["demo", "--out", c.tmp / "demo", "--precisions", "int4"], [c.tmp / "demo"]),
                               "unknown precision"),
}  # fmt: skip


def _eval(ctx: Ctx, *extra: object, run: Path | None = None) -> tuple[list, list]:
    out = ctx.tmp / "eval.json"
    return ["eval", run or ctx.run, "--target", "BEL", "--out", out, *extra], [out]


def _noise() -> bytes:
    return b"\x00\xffPK\x03" + np.random.default_rng(1).bytes(3000)


def _locked_model(ctx: Ctx) -> Path:
    folder = ctx.bundle_copy()
    (folder / "model.tflite").unlink()
    os.replace(_unreadable(ctx, "locked.tflite"), folder / "model.tflite")
    return folder


def _empty_model(ctx: Ctx) -> Path:
    folder = ctx.bundle_copy()
    (folder / "model.tflite").write_bytes(b"")
    return folder


def _empty_meta(ctx: Ctx) -> Path:
    folder = ctx.bundle_copy()
    (folder / "metadata.json").write_bytes(b"")
    return folder


def _empty_run_json(ctx: Ctx) -> Path:
    run = ctx.run_copy()
    (run / "run.json").write_bytes(b"")
    return run


def _bands_table(ctx: Ctx) -> Path:
    """A CropGlobe file whose bands lack B8A and B12 (a Sentinel-2 subset the model was not trained on)."""
    keep = [b for b in S2_BANDS if b not in ("B8A", "B12")]
    return ctx.npz("b8.npz", n_bands=len(keep), bands=np.array(keep))


def _early_season_table(ctx: Ctx) -> Path:
    """Observations from January to March only: the model's window (May to November) is unseen."""
    return ctx.npz("early.npz", steps=12, doy=np.arange(1, 90, 8, dtype=float)[:12])


def _forest_run(ctx: Ctx) -> Path:
    """A finished randomforest run (scikit-learn: trains in a moment)."""
    argv, _ = _train(ctx, ctx.data, "--model", "randomforest", out=ctx.tmp / "forest")
    result = invoke(*argv, "--quiet")
    assert result.exit_code == 0, result.output
    return ctx.tmp / "forest"


@pytest.mark.parametrize("case", list(CASES))
def test_user_error_is_one_line_exit_2_and_no_output(tmp_path: Path, request: pytest.FixtureRequest, case: str) -> None:
    make, words = CASES[case]
    argv, outputs = make(Ctx(tmp_path, request))
    assert_user_error(invoke(*argv), outputs, words)


# --- outputs that would destroy an input, a run, a bundle or a data folder ---------------------------------
# id -> (ctx -> (argv, paths that must be exactly as before), words the one line must contain)
KEEP: dict[str, tuple[Callable[[Ctx], tuple[list, list]], str]] = {
    "eval/--out RUN/run.json": (lambda c: (lambda r: (_eval(c, run=r)[0][:-2] + ["--out", r / "run.json"], [r]))(
        c.run_copy()), "part of the training run"),
    "eval/--out a link to RUN/run.json": (lambda c: (lambda r, link: (
        ["eval", r, "--target", "BEL", "--out", link], [r, link]))(c.run_copy(), c.link("e.json", c.tmp / "run" /
                                                                                      "run.json")), "training run"),
    "eval/--out in the data folder": (lambda c: (lambda d: (["eval", c.run, "--data", d, "--target", "BEL",
                                                             "--out", d / "eval.npz"], [d]))(c.data_copy()),
                                      "input folder"),
    "eval/--out its recipe": (lambda c: (lambda r: (["eval", c.run, "--config", r, "--out", r], [r]))(c.recipe()),
                              "an input"),
    "predict/--out its input": (lambda c: (lambda t: _keep_predict(c, c.bundle, t, t))(c.npz("x.npz")), "an input"),
    "predict/--out a link to its input": (lambda c: (lambda t: _keep_predict(c, c.bundle, t, c.link("o.npz", t)))(
        c.npz("x.npz")), "an input"),
    "predict/--out a hard link of its input": (lambda c: (lambda t: _keep_predict(c, c.bundle, t, c.hard_link(
        "o.npz", t)))(c.npz("x.npz")), "an input"),
    "predict/--out inside the bundle": (lambda c: (lambda b: _keep_predict(c, b, c.table, b / "labels.csv"))(
        c.bundle_copy()), "inside the bundle"),
    "export/--out the run": (lambda c: (lambda r: (_export(c, r, "--float32")[0][:-1] + [r], [r]))(c.run_copy()),
                             "an input"),
    "export/--out RUN/backup": (lambda c: (lambda r: (_export(c, r, "--float32")[0][:-1] + [r / "backup"], [r]))(
        c.run_copy()), "part of the training run"),
    "export/--out into a bundle": (lambda c: (lambda b: (_export(c, c.run, "--float32")[0][:-1] + [b], [b]))(
        c.bundle_copy()), "the bundle"),
    "export/--out over a folder that is not a bundle": (lambda c: (lambda f: (
        _export(c, c.run, "--float32")[0][:-1] + [f.parent], [f.parent]))(c.folder(f"notes/{MODEL}-float32")),
        "not a bundle"),
    "train/--out a bundle": (lambda c: (lambda b: (_train(c, c.data, out=b)[0], [b]))(c.bundle_copy()), "the bundle"),
    "train/--out its data folder": (lambda c: (lambda d: (_train(c, d, out=d)[0], [d]))(c.data_copy()), "an input"),
    "train/--out RUN/backup": (lambda c: (lambda r: (_train(c, c.data, out=r / "backup")[0], [r]))(c.run_copy()),
                               "part of the training run"),
    "bench/--out its data folder": (lambda c: (lambda d: (_bench(c, recipe=c.recipe(data=str(d)))[0][:-3] +
                                                          ["--out", d, "--quiet"], [d]))(c.data_copy()), "an input"),
    "bench/--out inside a run": (lambda c: (lambda r: (_bench(c)[0][:-3] + ["--out", r / "backup", "--quiet"], [r]))(
        c.run_copy()), "part of the training run"),
    "report/--out the grid itself": (lambda c: (lambda g: (["report", g, "--out", g], [g]))(c.folder("grid")),
                                     "an input"),
    "synth/--out inside a bundle": (lambda c: (lambda b: (_synth(b / "data")[0], [b]))(c.bundle_copy()),
                                    "inside the bundle"),
    "import/--out over its own input": (lambda c: (lambda d: (["data", "import", d / "BEL.npz", "--out", d], [d]))(
        c.data_copy()), "input"),
}  # fmt: skip


def _keep_predict(ctx: Ctx, bundle: Path, table: Path, out: Path) -> tuple[list, list]:
    return ["predict", bundle, table, "--out", out, "--overwrite"], [bundle, table, out]


def snapshot(*paths: Path) -> dict[str, object]:
    """Everything at ``paths``: each file's kind, link target and bytes, recursively."""
    seen: dict[str, object] = {}
    for root in paths:
        for p in [root, *(sorted(root.rglob("*")) if root.is_dir() and not root.is_symlink() else [])]:
            if p.is_symlink():
                seen[str(p)] = ("link", os.readlink(p))
            elif p.is_dir():
                seen[str(p)] = "folder"
            elif not p.exists():
                seen[str(p)] = "absent"
            else:
                seen[str(p)] = ("file", p.stat().st_ino, p.read_bytes())
    return seen


@pytest.mark.parametrize("case", list(KEEP))
def test_output_onto_what_must_be_kept_is_refused(tmp_path: Path, request: pytest.FixtureRequest, case: str) -> None:
    """One line, exit 2, and every input, run, bundle and data folder exactly as it was (same inode, same bytes)."""
    make, words = KEEP[case]
    argv, keep = make(Ctx(tmp_path, request))
    before = snapshot(*keep)
    assert_user_error(invoke(*argv), (), words)
    assert snapshot(*keep) == before


@pytest.mark.parametrize("case", ["info/missing file", "predict/bit-flipped tflite", "train/single class",
                                  "export/--c-array without int8", "predict/--threads 0",
                                  "train/--epochs 0"])  # fmt: skip
def test_console_script_prints_one_line(tmp_path: Path, request: pytest.FixtureRequest, case: str) -> None:
    """The installed entry point, as a user runs it: the same single line from a separate process."""
    make, words = CASES[case]
    argv, outputs = make(Ctx(tmp_path, request))
    assert_user_error(run_cli(*argv), outputs, words)


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only CropEdgeError is a user error: anything else propagates with its traceback."""
    from click.testing import CliRunner

    import cropedge.data
    from cropedge.cli import cli

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in a reader")

    monkeypatch.setattr(cropedge.data, "load_dataset", broken)
    path = tmp_path / "x.npz"
    path.write_bytes(b"")
    with pytest.raises(RuntimeError, match="a bug in a reader"):
        CliRunner().invoke(cli, ["data", "info", str(path)], catch_exceptions=False)
    result = CliRunner().invoke(cli, ["data", "info", str(path)])
    assert isinstance(result.exception, RuntimeError) and result.exit_code == 1
    assert "cropedge: error" not in result.output
