"""Trained run -> device bundles, one per precision, each checked against the Keras model.

``PRECISIONS`` is the table every part reads: argument checking, the CLI's flags and help,
the precision table in docs/export.md (:func:`precision_table_markdown`) and the
benchmark loop. Each row names a small converter function; ``export_run`` converts,
self-checks the flatbuffer with the device runtime on the run's validation split (and
with TensorFlow Lite Micro for microcontroller targets), and writes the bundle.

Importing this module is light (no TensorFlow): the CLI builds its help from the table.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cropedge.atomic import check_writable
from cropedge.device.bundle import Bundle, BundleMetadata, TensorSpec, sha256, write_bundle
from cropedge.device.profile import DeviceProfile, load_profile
from cropedge.errors import CropEdgeError

if TYPE_CHECKING:  # annotations only: importing this module must stay free of TensorFlow
    from cropedge.backend import tf
    from cropedge.data.dataset import Dataset
    from cropedge.training.run import Run

# options a precision may accept, and the CLI flag that sets each (for messages)
OPTION_FLAGS = {"rep_samples": "--rep-samples", "qat_epochs": "--qat-epochs", "c_array": "--c-array"}
# validation samples run through TFLite Micro (one invoke each, reference kernels: slow)
MCU_CHECK_SAMPLES = 200


@dataclass(frozen=True)
class Precision:
    """One row of the export table.

    Attributes:
        name: precision name, used in bundle names and metadata (``int8``).
        flag: the ``cropedge export`` flag that selects it.
        suffix: appended to the model name for the bundle folder.
        description: one line for help text and docs.
        quantization: the scheme recorded in metadata.
        io_dtype: input/output tensor type of the exported model.
        convert: ``(context) -> flatbuffer bytes``.
        options: export options this precision uses (keys of ``OPTION_FLAGS``).
        targets: profile targets that can run it.
    """

    name: str
    flag: str
    suffix: str
    description: str
    quantization: str
    io_dtype: str
    convert: Callable[[_Context], bytes]
    options: tuple[str, ...]
    targets: tuple[str, ...]

    @property
    def full_integer(self) -> bool:
        """Whether the model takes and returns int8 tensors (full-integer quantization)."""
        return self.io_dtype == "int8"


# --- converters: one small function per precision -----------------------------------


def _float32(ctx: _Context) -> bytes:
    from cropedge.export.quantize import convert_float32

    return convert_float32(ctx.model)


def _float16(ctx: _Context) -> bytes:
    from cropedge.export.quantize import convert_float16

    return convert_float16(ctx.model)


def _dynamic(ctx: _Context) -> bytes:
    from cropedge.export.quantize import convert_dynamic

    return convert_dynamic(ctx.model)


def _int8(ctx: _Context) -> bytes:
    from cropedge.export.quantize import convert_int8

    return convert_int8(ctx.model, ctx.rep_x)


def _int8_qat(ctx: _Context) -> bytes:
    from cropedge.export.quantize import convert_int8, qat_finetune

    ctx.echo(f"{ctx.model_name}-int8-qat: quantization-aware fine-tuning, {ctx.qat_epochs} epoch(s)")
    qmodel = qat_finetune(
        ctx.model, ctx.qat_dataset(), ctx.qat_epochs, class_weight=ctx.class_weight, verbose=0 if ctx.quiet else 2
    )
    return convert_int8(qmodel, ctx.rep_x)


PRECISIONS: tuple[Precision, ...] = (
    Precision("float32", "--float32", "-float32", "Float32 weights and compute: the reference, largest and slowest",
              "none", "float32", _float32, (), ("cpu",)),
    Precision("float16", "--float16", "-float16", "Float16 weights (half size), float32 compute and I/O",
              "float16 weights (post-training)", "float32", _float16, (), ("cpu",)),
    Precision("dynamic", "--dynamic", "-dynamic", "Int8 weights, activations quantized at run time, float32 I/O",
              "dynamic-range int8 (post-training)", "float32", _dynamic, (), ("cpu",)),
    Precision("int8", "--int8", "-int8",
              "Full-integer int8, calibrated on representative training samples, int8 I/O (Pi, MCU)",
              "full-integer int8 (post-training)", "int8", _int8, ("rep_samples", "c_array"), ("cpu", "mcu")),
    Precision("int8-qat", "--qat", "-int8-qat",
              "Full-integer int8 after quantization-aware fine-tuning (TFMOT), int8 I/O",
              "full-integer int8 (quantization-aware training)", "int8", _int8_qat,
              ("rep_samples", "qat_epochs", "c_array"), ("cpu", "mcu")),
)
PRECISION_NAMES = tuple(p.name for p in PRECISIONS)


def get_precision(name: str) -> Precision:
    """The ``PRECISIONS`` row named ``name``; an unknown name raises ``CropEdgeError``."""
    for p in PRECISIONS:
        if p.name == name:
            return p
    raise CropEdgeError(f"unknown precision '{name}' (choose from {', '.join(PRECISION_NAMES)})")


def precision_table_markdown() -> str:
    """The precision table of docs/export.md, rendered from ``PRECISIONS``."""
    rows = ["| precision | flag | bundle | quantization | I/O | runs on | options | what it is |",
            "|---|---|---|---|---|---|---|---|"]
    for p in PRECISIONS:
        options = ", ".join(f"`{OPTION_FLAGS[o]}`" for o in p.options) or "-"
        rows.append(
            f"| {p.name} | `{p.flag}` | `{{model}}{p.suffix}` | {p.quantization} | {p.io_dtype} | "
            f"{', '.join(p.targets)} | {options} | {p.description} |"
        )
    return "\n".join(rows) + "\n"


# --- argument checking --------------------------------------------------------------


def resolve_request(
    precisions: Sequence[str],
    profile: DeviceProfile,
    rep_samples: int | None = None,
    qat_epochs: int | None = None,
    c_array: bool = False,
) -> tuple[list[Precision], dict]:
    """Check a request against the table and the profile; return the rows and the settings.

    Options given explicitly must be used by at least one requested precision, and every
    precision must run on the profile's target: impossible combinations are errors, never
    silently dropped.
    """
    names = list(dict.fromkeys(precisions)) or list(profile.precisions)
    if not names:
        flags = " ".join(p.flag for p in PRECISIONS)
        raise CropEdgeError(f"choose at least one precision ({flags}) or a --profile that lists some")
    rows = [get_precision(n) for n in names]
    where = f"profile {profile.path}" if profile.path else "the default profile"
    for p in rows:
        if profile.target not in p.targets:
            runs_on = ", ".join(q.flag for q in PRECISIONS if profile.target in q.targets)
            raise CropEdgeError(
                f"{p.name} ({p.flag}) cannot run on target '{profile.target}' ({where}): "
                f"TensorFlow Lite Micro runs full-integer models only; use {runs_on}"
            )
    given = {"rep_samples": rep_samples is not None, "qat_epochs": qat_epochs is not None, "c_array": c_array}
    for option, is_given in given.items():
        if is_given and not any(option in p.options for p in rows):
            users = [p for p in PRECISIONS if option in p.options]
            raise CropEdgeError(
                f"{OPTION_FLAGS[option]} applies only to {', '.join(f'{p.name} ({p.flag})' for p in users)}; "
                f"add one of those flags or drop {OPTION_FLAGS[option]}"
            )
    for option, value in (("rep_samples", rep_samples), ("qat_epochs", qat_epochs)):
        if value is not None and value < 1:
            raise CropEdgeError(f"{OPTION_FLAGS[option]} must be at least 1, got {value}")
    settings = {
        "rep_samples": rep_samples if rep_samples is not None else profile.rep_samples,
        "qat_epochs": qat_epochs if qat_epochs is not None else profile.qat_epochs,
        "c_array": c_array or profile.c_array,
        # microcontroller targets (and anyone asking for a C array) get the TFLite Micro check
        "mcu_check": profile.target == "mcu" or c_array,
    }
    return rows, settings


def open_run(run_dir: str | Path) -> Run:
    """The finished run at ``run_dir`` (``cropedge.training.run.Run``).

    A folder of seed runs (``seed-K/``) is not exported as a whole: one model is shipped,
    so the user picks the seed (the error names the one with the best validation macro-F1).
    """
    from cropedge.training.run import RUN_JSON, Run, seed_dirs

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CropEdgeError(f"{run_dir}: no such run folder; train one with 'cropedge train'")
    seeds = [p for p in seed_dirs(run_dir) if (p / RUN_JSON).is_file()]
    if seeds and not (run_dir / RUN_JSON).is_file():
        scores = {p: _val_macro_f1(p) for p in seeds}
        best = max(seeds, key=lambda p: scores[p])
        listed = ", ".join(f"{p.name} ({scores[p]:.3f})" for p in seeds)
        raise CropEdgeError(
            f"{run_dir} holds {len(seeds)} seed runs (validation macro-F1 {listed}); export one of them, "
            f"e.g. 'cropedge export {best} ...' (best validation macro-F1)"
        )
    return Run(run_dir)


def _val_macro_f1(path: Path) -> float:
    from cropedge.training.run import RUN_JSON

    try:
        return float(json.loads((path / RUN_JSON).read_text())["validation"]["macro_f1"])
    except (OSError, ValueError, KeyError, TypeError):
        return float("nan")


def by_season_offset(run: Any, dataset: Any, fn: Callable[[np.ndarray, float], np.ndarray]) -> np.ndarray:
    """``fn(x_year, days)`` per season-offset group of samples, stitched back in sample order.

    Samples are grouped by the season offset the run moved them by in training (source
    regions may differ).
    """
    offsets = run.source_offsets(dataset)
    parts = {days: fn(dataset.x[offsets == days], float(days)) for days in np.unique(offsets)}
    first = next(iter(parts.values()))
    out = np.empty((len(dataset), *first.shape[1:]), dtype=first.dtype)
    for days, values in parts.items():
        out[offsets == days] = values
    return out


# --- export ---------------------------------------------------------------------------


class _Context:
    """What the converters and checks share; expensive pieces are built on first use."""

    def __init__(
        self,
        run: Any,
        run_dir: Path,
        settings: dict,
        echo: Callable[[str], None],
        warn: Callable[[str], None],
        quiet: bool,
    ) -> None:
        self.run, self.run_dir, self.settings, self.quiet = run, run_dir, settings, quiet
        self.echo, self._warn = echo, warn
        self.model_name: str = run.record.model
        self.model = run.model
        self.qat_epochs: int = settings["qat_epochs"]
        self.warnings: list[str] = []  # of the bundle being made

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self._warn(message)

    @cached_property
    def train(self) -> Dataset:
        """The run's training split, labelled with the model's class indices."""
        return self._model_labels(self.run.train_data())

    @cached_property
    def val(self) -> Dataset:
        """The run's validation split, labelled with the model's class indices."""
        return self._model_labels(self.run.val_data())

    def _model_labels(self, dataset: Dataset) -> Dataset:
        from cropedge.data.matching import labels_by_name

        return replace(dataset, y=labels_by_name(dataset, self.run.classes)[0], classes=self.run.classes)

    @cached_property
    def rep_x(self) -> np.ndarray:
        """Stratified, un-augmented source training samples, prepared like the model's input."""
        from cropedge.data.matching import stratified_sample
        from cropedge.export.quantize import MIN_REP_SAMPLES

        wanted = self.settings["rep_samples"]
        idx = stratified_sample(self.train.y, wanted)
        if len(idx) < wanted:
            self.warn(f"only {len(idx)} training samples for int8 calibration ({wanted} asked for)")
        elif len(idx) < MIN_REP_SAMPLES:
            self.warn(f"{len(idx)} representative samples; >= {MIN_REP_SAMPLES} recommended for int8 calibration")
        return self.run.prepare_dataset(self.train.subset(idx))

    @property
    def class_weight(self) -> dict[int, float] | None:
        """Training's class weights, when the run used them (the same as its training)."""
        from cropedge.training.train import class_weights_for

        return class_weights_for(self.run.config, self.train.y, len(self.run.classes))

    @cached_property
    def keras_probs(self) -> np.ndarray:
        return self.model.predict(self.run.prepare_dataset(self.val), batch_size=1024, verbose=0)

    def qat_dataset(self) -> tf.data.Dataset:
        """Augmented source training batches: the run's own training pipeline."""
        from cropedge.training.train import run_train_dataset

        return run_train_dataset(self.run)


def export_run(
    run_dir: str | Path,
    precisions: Sequence[str] = (),
    out_dir: str | Path | None = None,
    profile: DeviceProfile | str | Path | None = None,
    strict: bool = False,
    c_array: bool = False,
    rep_samples: int | None = None,
    qat_epochs: int | None = None,
    echo: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
    quiet: bool = False,
) -> list[dict]:
    """Export a trained run to one bundle per precision in ``out_dir/{model}-{precision}/``.

    Args:
        run_dir: a finished run folder from ``cropedge train``.
        precisions: names from ``PRECISIONS``; empty means the profile's list.
        out_dir: where the bundle folders go (default ``run_dir/bundles``).
        profile: a ``DeviceProfile`` or a profile file (default: generic CPU).
        strict: a bundle failing its checks is not written, and the call raises at the end.
        c_array: also write ``model_data.cc``/``.h`` into the int8 bundles.
        rep_samples: representative samples for int8 calibration (default: the profile's).
        qat_epochs: QAT fine-tuning epochs (default: the profile's).
        echo: receives one summary line per bundle (and progress notes).
        warn: receives warnings (they are also in each result's ``warnings``).
        quiet: no Keras progress output while fine-tuning.

    Returns:
        One dict per precision: name, precision, path (None when not written), bytes,
        seconds, self_check, mcu, passed, problems, warnings.

    Raises:
        CropEdgeError: bad run, impossible request, or (``strict``) a failed check.
    """
    if not isinstance(profile, DeviceProfile):
        profile = load_profile(profile) if profile is not None else DeviceProfile()
    rows, settings = resolve_request(precisions, profile, rep_samples, qat_epochs, c_array)
    run = open_run(run_dir)
    _check_model_kind(run.record.model, rows)
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "bundles"
    check_writable(out)  # before minutes of conversion and checks
    ctx = _Context(run, Path(run_dir), settings, echo or _ignore, warn or _ignore, quiet)
    results = [_export_one(ctx, p, out, profile, strict) for p in rows]
    failed = [r for r in results if not r["passed"]]
    if strict and failed:
        why = "; ".join(f"{r['name']}: {', '.join(r['problems'])}" for r in failed)
        raise CropEdgeError(f"--strict: {why}; those bundles were not written")
    return results


def _ignore(_: str) -> None:
    pass


def _check_model_kind(name: str, rows: list[Precision]) -> None:
    from cropedge.models import model_spec

    spec = model_spec(name)
    if spec.kind != "keras":
        raise CropEdgeError(
            f"model '{name}' is a {spec.kind} model; only Keras models convert to TFLite "
            "(train a CNN such as cropnet-xs to deploy)"
        )
    qat = [p for p in rows if p.name == "int8-qat"]
    if qat and not spec.quantizable:
        raise CropEdgeError(
            f"model '{name}' is not quantizable with TFMOT (its layers are outside the default 8-bit scheme): "
            f"drop {qat[0].flag} and export it with post-training --int8"
        )


def _export_one(ctx: _Context, p: Precision, out: Path, profile: DeviceProfile, strict: bool) -> dict:
    """Convert, check and (unless a strict check failed) write one bundle."""
    ctx.warnings = []
    name = f"{ctx.model_name}{p.suffix}"
    folder = out / name
    started = time.perf_counter()
    flatbuffer = p.convert(ctx)
    meta = _metadata(ctx, p, name, flatbuffer)
    bundle = Bundle(folder, flatbuffer, meta)
    check = self_check(bundle, ctx.run, ctx.val, ctx.keras_probs, profile.agreement_threshold, progress=not ctx.quiet)
    meta = replace(meta, self_check=check)
    problems = [] if check["passed"] else [
        f"agreement {check['agreement']:.1%} < {profile.agreement_threshold:.1%}"
    ]
    extra_files: dict[str, bytes] = {}
    if p.full_integer and ctx.settings["mcu_check"]:
        mcu = _mcu_check(ctx, bundle, profile)
        problems += mcu["problems"]
        meta = replace(meta, mcu=mcu)
        if mcu["status"] == "ok":
            meta = replace(meta, arena_bytes=mcu["arena_bytes"], flash_bytes=mcu["flash_bytes"])
    if p.full_integer and ctx.settings["c_array"]:
        extra_files = _c_array(flatbuffer, meta)
    for problem in problems:
        ctx.warn(f"{name}: {problem}")
    passed = not problems
    written = not (strict and not passed)
    if written:
        write_bundle(folder, flatbuffer, meta, extra_files)
    result = {
        "name": name,
        "precision": p.name,
        "path": str(folder) if written else None,
        "bytes": len(flatbuffer),
        "seconds": round(time.perf_counter() - started, 2),
        "self_check": check,
        "mcu": meta.mcu,
        "passed": passed,
        "problems": problems,
        "warnings": list(ctx.warnings),
    }
    ctx.echo(summary_line(result))
    return result


def _metadata(ctx: _Context, p: Precision, name: str, flatbuffer: bytes) -> BundleMetadata:
    from cropedge.versions import package_versions

    record = ctx.run.record
    quantization: dict[str, Any] = {"scheme": p.quantization}
    if p.full_integer:
        quantization["representative_samples"] = len(ctx.rep_x)
        quantization["representative_source"] = "source training split, stratified by class, not augmented"
    if p.name == "int8-qat":
        quantization["qat_epochs"] = ctx.qat_epochs
    inp, outp = io_details(flatbuffer)
    return BundleMetadata(
        name=name,
        model=record.model,
        precision=p.name,
        quantization=quantization,
        classes=record.classes,
        bands=record.bands,
        window=record.window,
        season_offset_days=record.season_offset_days,
        source_ndvi_curve=record.source_ndvi_curve,
        normalization=record.normalization,
        input=inp,
        output=outp,
        params=record.params,
        macs=record.macs,
        source_run={"path": str(ctx.run_dir.resolve()), "validation": record.validation.to_dict()},
        versions=package_versions(),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        model_bytes=len(flatbuffer),
        sha256=sha256(flatbuffer),
    )


def io_details(flatbuffer: bytes) -> tuple[TensorSpec, TensorSpec]:
    """Shape, dtype, scale and zero point of the model's input and output (batch dimension -1)."""
    from cropedge.device.runtime import resolve_interpreter

    interpreter_cls, _ = resolve_interpreter()
    interp = interpreter_cls(model_content=flatbuffer)

    def describe(d: dict) -> TensorSpec:
        scale, zero = d["quantization"]
        shape = tuple(int(v) for v in d["shape_signature"])
        return TensorSpec(shape, np.dtype(d["dtype"]).name, float(scale), int(zero))

    return describe(interp.get_input_details()[0]), describe(interp.get_output_details()[0])


def self_check(
    bundle: Bundle, run: Any, val: Any, keras_probs: np.ndarray, threshold: float, progress: bool = False
) -> dict:
    """Run the bundle with the device runtime on validation data and compare with Keras.

    Returns top-1 agreement (fraction), OA and macro-F1 of both models, the largest
    probability difference, n, threshold, passed and the runtime used.
    """
    from cropedge.console import Progress
    from cropedge.device.runtime import LiteModel
    from cropedge.metrics import classification_report

    lite = LiteModel(bundle)
    # a bar on a terminal; in a log, a line every half minute of a long check, none for a short one
    with Progress(len(val), "px", f"{bundle.metadata.label} self-check", enabled=progress, heartbeat=30) as bar:
        probs = by_season_offset(
            run, val, lambda x, days: lite.predict_proba(x, season_offset_days=days, progress=bar.update)
        )
    ours, theirs = probs.argmax(axis=1), keras_probs.argmax(axis=1)
    tfl = classification_report(val.y, ours, lite.classes)
    ker = classification_report(val.y, theirs, lite.classes)
    agreement = float((ours == theirs).mean()) if len(ours) else float("nan")
    return {
        "n": len(ours),
        "agreement": agreement,
        "keras_oa": ker["oa"],
        "tflite_oa": tfl["oa"],
        "keras_macro_f1": ker["macro_f1"],
        "tflite_macro_f1": tfl["macro_f1"],
        "max_prob_diff": float(np.abs(probs - keras_probs).max(initial=0.0)),
        "threshold": threshold,
        "passed": bool(agreement >= threshold),
        "runtime": f"{lite.runtime_info['runtime']} {lite.runtime_info['version']}",
    }


def _mcu_check(ctx: _Context, bundle: Bundle, profile: DeviceProfile) -> dict:
    """TFLite Micro on the host: outputs against LiteRT's, arena and flash against the budgets."""
    from cropedge.device.runtime import LiteModel
    from cropedge.export.mcu import check_micro, micro_available

    ok, why = micro_available()
    if not ok:
        if profile.target == "mcu":
            return {"status": "skipped", "reason": why, "problems": [why]}
        ctx.warn(f"TFLite Micro check skipped: {why}")
        return {"status": "skipped", "reason": why, "problems": []}
    lite = LiteModel(bundle)
    val = ctx.val.subset(np.arange(min(len(ctx.val), MCU_CHECK_SAMPLES)))
    x = by_season_offset(ctx.run, val, lambda x, days: lite.prepare(x, days))  # int8, as LiteRT is fed
    out = bundle.metadata.output
    reference = np.rint(lite.invoke(x) / out.scale + out.zero_point).astype(np.int32)
    result = check_micro(bundle.model_bytes, x, reference)
    result.pop("outputs")
    problems = []
    if result["agreement"] is not None and result["agreement"] < profile.agreement_threshold:
        problems.append(f"TFLite Micro agrees with LiteRT on {result['agreement']:.1%} only")
    if profile.arena_budget_bytes is not None and (result["arena_bytes"] or 0) > profile.arena_budget_bytes:
        problems.append(f"tensor arena {result['arena_bytes']} B > budget {profile.arena_budget_bytes} B")
    if profile.flash_budget_bytes is not None and result["flash_bytes"] > profile.flash_budget_bytes:
        problems.append(f"model {result['flash_bytes']} B > flash budget {profile.flash_budget_bytes} B")
    return {"status": "ok", **result, "problems": problems}


def _c_array(flatbuffer: bytes, meta: BundleMetadata) -> dict[str, bytes]:
    """model_data.cc / model_data.h with the flatbuffer and what firmware needs to feed it."""
    from cropedge.export.c_array import c_array_files

    constants: dict[str, int | float] = {
        "kModelBands": len(meta.bands),
        "kModelSteps": meta.window.length,
        "kModelClasses": len(meta.classes),
        "kInputScale": meta.input.scale,
        "kInputZeroPoint": meta.input.zero_point,
        "kOutputScale": meta.output.scale,
        "kOutputZeroPoint": meta.output.zero_point,
    }
    if meta.arena_bytes:
        # measured on a 64-bit host: round up to 1 KiB; 32-bit MCUs need a little less
        constants["kTensorArenaSize"] = -(-meta.arena_bytes // 1024) * 1024
    comment = (
        f"{meta.label}: {meta.quantization['scheme']}, {meta.model_bytes} bytes, sha256 {meta.sha256}\n"
        f"Generated by cropedge export from {meta.source_run['path']}; do not edit.\n"
        "Input: [1, kModelBands, kModelSteps, 1] int8 =\n"
        "  round(((x - kBandMean) / kBandStd) / kInputScale) + kInputZeroPoint"
    )
    return c_array_files(
        flatbuffer,
        comment=comment,
        constants=constants,
        float_arrays={"kBandMean": list(meta.normalization.mean), "kBandStd": list(meta.normalization.std)},
        string_arrays={"kClassNames": list(meta.classes)},
    )


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} KB"


def summary_line(result: dict) -> str:
    """``cropnet-int8  int8  0.27 MB  agree 99.2%  OA 0.912 (keras 0.915)  macro-F1 ...``."""
    c = result["self_check"]
    line = (
        f"{result['name']:<20} {result['precision']:<8} {_size(result['bytes']):>9}  agree {c['agreement']:.1%}  "
        f"OA {c['tflite_oa']:.3f} (keras {c['keras_oa']:.3f})  "
        f"macro-F1 {c['tflite_macro_f1']:.3f} (keras {c['keras_macro_f1']:.3f})"
    )
    mcu = result.get("mcu")
    if mcu and mcu["status"] == "ok":
        line += f"  tflm arena {_size(mcu['arena_bytes'] or 0)}, max diff {mcu['max_lsb_diff']} LSB"
    elif mcu:
        line += "  tflm skipped"
    status = "ok" if result["passed"] else ("FAILED, not written" if result["path"] is None else "FAILED")
    return f"{line}  {status}"
