"""Device profiles: what to export for a target and how to check it (``export/*.toml``).

A profile is a small commented TOML file a user edits: the precisions to export, the
calibration and QAT settings, the self-check threshold, and the target's runtime
settings (threads, batch), budgets (latency, and for microcontrollers RAM and flash) and
the target's documented throughput per precision, from which the report estimates latency
on the device when no device measurement is given. Standard library only, so the
device-side benchmark can read the same files.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import NoReturn

from cropedge.errors import CropEdgeError

TARGETS = ("cpu", "mcu")
# where the profiles shipped with the project live (the repository's export/ folder)
PROFILE_DIR = Path(__file__).resolve().parents[2] / "export"
# the device ``cropedge bench`` and ``cropedge report`` assume when given no --profile
DEFAULT_PROFILE = "pi4"


@dataclass(frozen=True)
class DeviceProfile:
    """Export and runtime settings for one target; the defaults describe a generic CPU.

    Attributes:
        name: short name (``pi4``), used in reports.
        description: the hardware in words.
        target: ``cpu`` (LiteRT on Linux) or ``mcu`` (TensorFlow Lite Micro).
        precisions: precisions exported when the command names none.
        rep_samples: representative training samples for full-integer calibration.
        qat_epochs: fine-tuning epochs for quantization-aware training.
        agreement_threshold: least top-1 agreement with the Keras model that passes the self-check.
        threads: interpreter threads on the device.
        batch_size: pixels per invoke on the device.
        latency_budget_ms: most milliseconds one invoke of ``batch_size`` pixels may take.
        throughput_gmacs: billions of multiply-accumulates per second one invoke of
            ``batch_size`` pixels on ``threads`` threads sustains, per precision: the basis
            of the report's latency estimate (``estimated_ms``) when the device was not timed.
        c_array: write ``model_data.cc``/``.h`` with int8 bundles.
        arena_budget_bytes: RAM for the TFLite Micro tensor arena (mcu only).
        flash_budget_bytes: flash for the model array (mcu only).
        path: the file the profile came from (None for the defaults).
    """

    name: str = "default"
    description: str = "generic 64-bit CPU with LiteRT"
    target: str = "cpu"
    precisions: tuple[str, ...] = ()
    rep_samples: int = 300
    qat_epochs: int = 2
    agreement_threshold: float = 0.98
    threads: int = 4
    batch_size: int = 256
    latency_budget_ms: float | None = None
    throughput_gmacs: dict[str, float] = field(default_factory=dict)
    c_array: bool = False
    arena_budget_bytes: int | None = None
    flash_budget_bytes: int | None = None
    path: Path | None = None

    def to_dict(self) -> dict:
        """Return the fields as a JSON-ready dict (precisions a list, path a string or None)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["precisions"] = list(self.precisions)
        d["throughput_gmacs"] = dict(self.throughput_gmacs)
        d["path"] = str(self.path) if self.path else None
        return d

    def estimated_ms(self, macs: int | None, precision: str, batch: int | None = None) -> float | None:
        """Milliseconds one invoke of ``batch`` pixels (default ``batch_size``) would take on the target.

        ``batch * macs`` divided by the profile's throughput for ``precision``; None when the
        profile gives no throughput for it or the model's MACs are unknown. A first-order
        estimate: it ignores memory traffic and per-invoke overhead, which dominate for very
        small models and batches.
        """
        rate = self.throughput_gmacs.get(precision)
        if rate is None or not macs:
            return None
        return (batch or self.batch_size) * macs / (rate * 1e9) * 1e3


def default_profile() -> DeviceProfile:
    """The ``DEFAULT_PROFILE`` profile; the generic CPU where the shipped profiles are not installed."""
    path = PROFILE_DIR / f"{DEFAULT_PROFILE}.toml"
    return load_profile(path) if path.is_file() else DeviceProfile()


# TOML layout: table -> {key: (field, expected types)}; anything else in a file is an error
_SCHEMA: dict[str | None, dict[str, tuple[str, tuple[type, ...]]]] = {
    None: {"name": ("name", (str,)), "description": ("description", (str,)), "target": ("target", (str,))},
    "export": {
        "precisions": ("precisions", (list,)),
        "rep_samples": ("rep_samples", (int,)),
        "qat_epochs": ("qat_epochs", (int,)),
        "agreement_threshold": ("agreement_threshold", (float, int)),
        "c_array": ("c_array", (bool,)),
    },
    "runtime": {
        "threads": ("threads", (int,)),
        "batch_size": ("batch_size", (int,)),
        "latency_budget_ms": ("latency_budget_ms", (float, int)),
        "throughput_gmacs": ("throughput_gmacs", (dict,)),
    },
    "mcu": {
        "arena_budget_bytes": ("arena_budget_bytes", (int,)),
        "flash_budget_bytes": ("flash_budget_bytes", (int,)),
    },
}


def load_profile(path: str | Path) -> DeviceProfile:
    """Read and validate a profile; a bare name (``pi4``) means ``export/pi4.toml``.

    Raises:
        CropEdgeError: the file is missing, is not TOML, has unknown keys (typos), wrong
            types or values out of range.
    """
    path = Path(path)
    if not path.suffix and not path.exists() and (PROFILE_DIR / f"{path}.toml").is_file():
        path = PROFILE_DIR / f"{path}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))) or "none"
        raise CropEdgeError(f"{path}: no such profile file (profiles shipped in {PROFILE_DIR}: {known})")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CropEdgeError(f"{path}: not a valid TOML file ({exc})") from None
    values = _flatten(doc, path)
    values.setdefault("name", path.stem)
    profile = DeviceProfile(**values, path=path)
    _validate(profile)
    return profile


def _flatten(doc: dict, path: Path) -> dict:
    """Map the TOML tables onto profile fields, rejecting unknown keys and wrong types."""
    values: dict = {}
    for key, value in doc.items():
        table, items = (key, value) if isinstance(value, dict) else (None, {key: value})
        schema = _SCHEMA.get(table)
        if schema is None:
            tables = ", ".join(f"[{t}]" for t in _SCHEMA if t)
            raise CropEdgeError(f"{path}: unknown table [{table}] (known: {tables})")
        for name, item in items.items():
            where = f"{table}.{name}" if table else name
            if name not in schema:
                raise CropEdgeError(f"{path}: unknown key '{where}' (known in this table: {', '.join(schema)})")
            field, types = schema[name]
            # bool is an int in Python; a flag written as 1 or a count written as true is a typo
            if not isinstance(item, types) or (isinstance(item, bool) and bool not in types):
                raise CropEdgeError(f"{path}: '{where}' must be {' or '.join(t.__name__ for t in types)}, got {item!r}")
            values[field] = item
    if "precisions" in values:
        if not all(isinstance(p, str) for p in values["precisions"]):
            raise CropEdgeError(f"{path}: 'export.precisions' must be a list of names, e.g. [\"int8\"]")
        values["precisions"] = tuple(values["precisions"])
    for key in ("agreement_threshold", "latency_budget_ms"):
        if key in values:
            values[key] = float(values[key])
    if "throughput_gmacs" in values:
        values["throughput_gmacs"] = _throughputs(values["throughput_gmacs"], path)
    return values


def _throughputs(table: dict, path: Path) -> dict[str, float]:
    """``{precision: GMAC/s}``, each a finite positive number."""
    out = {}
    for name, rate in table.items():
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate) or rate <= 0:
            raise CropEdgeError(
                f"{path}: 'runtime.throughput_gmacs.{name}' must be a positive number of GMAC/s, got {rate!r}"
            )
        out[name] = float(rate)
    return out


def _validate(p: DeviceProfile) -> None:
    def fail(msg: str) -> NoReturn:
        raise CropEdgeError(f"{p.path}: {msg}")

    if p.target not in TARGETS:
        fail(f"target '{p.target}' is not one of {', '.join(TARGETS)}")
    for key in ("rep_samples", "qat_epochs", "threads", "batch_size"):
        if getattr(p, key) < 1:
            fail(f"{key} must be at least 1, got {getattr(p, key)}")
    if not 0.0 <= p.agreement_threshold <= 1.0:  # nan fails this too
        fail(f"agreement_threshold is a fraction in 0..1, got {p.agreement_threshold}")
    if p.latency_budget_ms is not None and not (math.isfinite(p.latency_budget_ms) and p.latency_budget_ms > 0):
        fail(f"latency_budget_ms must be a positive, finite number of milliseconds, got {p.latency_budget_ms}")
    if p.target == "mcu":
        if p.arena_budget_bytes is None or p.flash_budget_bytes is None:
            fail("an mcu profile needs [mcu] arena_budget_bytes and flash_budget_bytes")
        elif min(p.arena_budget_bytes, p.flash_budget_bytes) < 1:
            fail("[mcu] budgets must be positive byte counts")
        if p.batch_size != 1:
            fail("TensorFlow Lite Micro runs one sample per invoke: set [runtime] batch_size = 1")
    elif (p.arena_budget_bytes, p.flash_budget_bytes) != (None, None):
        fail("[mcu] budgets only apply to target = \"mcu\"")
