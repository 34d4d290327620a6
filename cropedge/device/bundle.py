"""Bundle format: a folder with ``model.tflite`` and ``metadata.json``.

The metadata is also embedded in the ``.tflite`` (a ``metadata.json`` zip entry appended
after the flatbuffer, which TFLite ignores) so a lone file is self-describing.

What a loaded bundle is checked for: the metadata is a valid ``BundleMetadata`` (every
field typed, finite numbers, parts that describe one model), the flatbuffer matches its
``sha256``, the folder's ``metadata.json`` and the embedded copy are the same, and the
``digest`` over flatbuffer and metadata matches, so a hand-edited class list or band
order is refused rather than silently relabelling predictions.

Only the standard library here: the device reads bundles with nothing but numpy and LiteRT.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from cropedge.atomic import atomic_dir
from cropedge.data.grid import STEP_DAYS, YEAR_STEPS, Window
from cropedge.data.normalize import BandStats
from cropedge.errors import CropEdgeError
from cropedge.record import Record

# 2: adds ``digest``, over flatbuffer and metadata; version 1 bundles still load
METADATA_VERSION = 2
MODEL_FILE = "model.tflite"
METADATA_FILE = "metadata.json"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_METADATA_BYTES = 8 << 20  # an embedded metadata entry larger than this is not ours


@dataclass(frozen=True)
class TensorSpec(Record):
    """Shape, type and int8 quantization of the model's input or output tensor."""

    VERSION_KEY: ClassVar[str | None] = None
    WHAT: ClassVar[str] = "tensor"

    shape: tuple[int, ...]
    dtype: str
    scale: float
    zero_point: int


@dataclass(frozen=True)
class BundleMetadata(Record):
    """What a bundle holds and how to feed it (metadata.json, also embedded in model.tflite).

    Attributes:
        model: Registered model name.
        precision: Export precision (``int8``, ``float32``, ...).
        classes: Output classes, in order.
        bands: Input bands, in order.
        window: The model window on the year grid.
        normalization: Per-band statistics applied before the model.
        input: The input tensor (int8 scale and zero point for full-integer models).
        output: The output tensor.
        model_bytes: Size of the flatbuffer (the file minus the appended metadata).
        sha256: SHA-256 of the flatbuffer alone (matches device measurements to bundles).
        name: Bundle name (``cropnet-int8``).
        quantization: The scheme and its calibration.
        season_offset_days: Days the source year was moved in training.
        source_ndvi_curve: Mean NDVI of the source training split over the year, for
            ``--season-offset auto`` on the device.
        params: Trainable parameters.
        macs: Multiply-accumulates per pixel.
        source_run: The run it was exported from, with its validation scores.
        versions: Package versions at export.
        created: UTC time of export.
        self_check: Agreement with the Keras model on the run's validation split.
        mcu: The TensorFlow Lite Micro check, when made.
        arena_bytes: Tensor arena TFLite Micro needs.
        flash_bytes: Flash the model takes on a microcontroller.
        digest: SHA-256 over flatbuffer and the rest of this metadata (version 2).
    """

    VERSION: ClassVar[int] = METADATA_VERSION
    VERSION_KEY: ClassVar[str | None] = "metadata_version"
    UNVERSIONED: ClassVar[int | None] = None
    WHAT: ClassVar[str] = "metadata"
    FIX: ClassVar[str] = "re-export the bundle"

    model: str
    precision: str
    classes: tuple[str, ...]
    bands: tuple[str, ...]
    window: Window
    normalization: BandStats
    input: TensorSpec
    output: TensorSpec
    model_bytes: int
    sha256: str
    name: str | None = None
    quantization: dict = field(default_factory=dict)
    season_offset_days: float = 0.0
    source_ndvi_curve: tuple[float, ...] | None = None
    params: int | None = None
    macs: int | None = None
    source_run: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    created: str | None = None
    self_check: dict | None = None
    mcu: dict | None = None
    arena_bytes: int | None = None
    flash_bytes: int | None = None
    digest: str | None = None

    def __post_init__(self) -> None:
        """Refuse metadata whose parts cannot describe one model."""
        problems = []
        if not self.classes or len(set(self.classes)) != len(self.classes):
            problems.append(f"classes {list(self.classes)} must be distinct and at least one")
        if not self.bands or len(set(self.bands)) != len(self.bands):
            problems.append(f"bands {list(self.bands)} must be distinct and at least one")
        if not len(self.normalization.mean) == len(self.normalization.std) == len(self.bands):
            problems.append(f"normalization has {len(self.normalization.mean)} means and "
                            f"{len(self.normalization.std)} standard deviations for {len(self.bands)} bands")
        w = self.window
        if w.step != STEP_DAYS or w.start_idx < 0 or w.stop_idx > YEAR_STEPS:
            problems.append(f"window {w.to_dict()} does not fit the {STEP_DAYS}-day year grid")
        if self.model_bytes < 1:
            problems.append(f"model_bytes is {self.model_bytes}")
        if not _HEX64.fullmatch(self.sha256) or (self.digest is not None and not _HEX64.fullmatch(self.digest)):
            problems.append("sha256 and digest must be 64 hex digits")
        if self.source_ndvi_curve is not None and len(self.source_ndvi_curve) != YEAR_STEPS:
            problems.append(f"source_ndvi_curve has {len(self.source_ndvi_curve)} steps, not {YEAR_STEPS}")
        if problems:
            raise CropEdgeError("metadata " + "; ".join(problems))

    @property
    def label(self) -> str:
        """The bundle's name, or its model's when it has none."""
        return self.name or self.model


@dataclass
class Bundle:
    """A loaded, verified bundle.

    Attributes:
        path: the bundle folder or lone ``.tflite`` it was read from.
        model_bytes: the flatbuffer alone, without the appended metadata.
        metadata: the checked metadata.
    """

    path: Path
    model_bytes: bytes
    metadata: BundleMetadata


def sha256(data: bytes) -> str:
    """Return the hex SHA-256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _canonical(meta: dict) -> bytes:
    return json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def metadata_digest(flatbuffer: bytes, meta: dict) -> str:
    """SHA-256 over the flatbuffer and the canonical JSON of ``meta`` (its own ``digest`` left out)."""
    return sha256(flatbuffer + _canonical({k: v for k, v in meta.items() if k != "digest"}))


def seal(flatbuffer: bytes, meta: dict) -> dict:
    """``meta`` (plain JSON) completed with version, size, checksum and digest of ``flatbuffer``."""
    meta = {**meta, "metadata_version": METADATA_VERSION, "model_bytes": len(flatbuffer), "sha256": sha256(flatbuffer)}
    return {**meta, "digest": metadata_digest(flatbuffer, meta)}


def embed_metadata(flatbuffer: bytes, meta: dict) -> bytes:
    """Append ``metadata.json`` as a zip entry after the flatbuffer."""
    buf = io.BytesIO()
    buf.write(flatbuffer)
    with zipfile.ZipFile(buf, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(METADATA_FILE, json.dumps(meta, indent=2))
    return buf.getvalue()


def write_bundle(
    folder: str | Path, flatbuffer: bytes, metadata: BundleMetadata, extra_files: dict[str, bytes] | None = None
) -> Path:
    """Write a bundle folder atomically (all files appear together, or none); size, checksum and digest are set here."""
    meta = seal(flatbuffer, metadata.to_dict())
    BundleMetadata.from_dict(meta, str(folder))  # what is written must read back
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        (tmp / MODEL_FILE).write_bytes(embed_metadata(flatbuffer, meta))
        (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        for name, data in (extra_files or {}).items():
            (tmp / name).write_bytes(data)
    return folder


def _parse_json(text: str | bytes, origin: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CropEdgeError(
            f"{origin}: metadata is not valid JSON ({exc.__class__.__name__}); re-export the bundle") from None


def parse_metadata(text: str | bytes, origin: str) -> BundleMetadata:
    """Parse and check metadata JSON; raise ``CropEdgeError`` for anything unusable."""
    return BundleMetadata.from_dict(_parse_json(text, origin), origin)


def _split_tflite(data: bytes, origin: str) -> tuple[bytes, dict | None]:
    """Split a .tflite into flatbuffer and embedded metadata JSON (None if there is none)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            info = zf.getinfo(METADATA_FILE)
            if info.file_size > _MAX_METADATA_BYTES:
                raise CropEdgeError(f"{origin}: embedded metadata declares {info.file_size} bytes; re-export it")
            text = zf.read(METADATA_FILE)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError, zlib.error, NotImplementedError):
        return data, None
    raw = _parse_json(text, origin)
    size = raw.get("model_bytes") if isinstance(raw, dict) else None
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= len(data):
        raise CropEdgeError(f"{origin}: metadata gives a model size of {size!r}; the file is damaged, re-export it")
    return data[:size], raw


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CropEdgeError(f"{path}: cannot read ({exc.strerror})") from None


def load_bundle(path: str | Path) -> Bundle:
    """Read a bundle folder or a lone ``.tflite`` with embedded metadata, and verify it (see the module docstring)."""
    path = Path(path)
    if path.is_dir():
        model_path, meta_path = path / MODEL_FILE, path / METADATA_FILE
        if not model_path.is_file():
            raise CropEdgeError(f"{path}: no {MODEL_FILE} in this folder; is it a bundle made by 'cropedge export'?")
    elif path.is_file():
        model_path, meta_path = path, None
    else:
        raise CropEdgeError(f"{path}: no such bundle folder or .tflite file")
    data = _read(model_path)
    if not data:
        raise CropEdgeError(f"{model_path}: file is empty; copy the bundle again")
    flatbuffer, raw = _split_tflite(data, str(model_path))
    origin = str(model_path)
    if meta_path is not None and meta_path.is_file():
        beside = _parse_json(_read(meta_path), str(meta_path))
        if raw is not None and beside != raw:
            raise CropEdgeError(
                f"{meta_path} differs from the metadata embedded in {model_path}: one of them was edited; "
                f"re-export the bundle (or delete {METADATA_FILE} to use the embedded copy)"
            )
        if raw is None:  # a flatbuffer without an embedded copy: the folder's file describes it
            raw, origin = beside, str(meta_path)
            size = raw.get("model_bytes") if isinstance(raw, dict) else None
            flatbuffer = data[:size] if isinstance(size, int) and 0 < size <= len(data) else data
    if raw is None:
        raise CropEdgeError(
            f"{model_path}: no metadata ({METADATA_FILE} missing and none embedded); export it with 'cropedge export'"
        )
    metadata = BundleMetadata.from_dict(raw, origin)
    if sha256(flatbuffer) != metadata.sha256:
        raise CropEdgeError(
            f"{model_path}: sha256 does not match the metadata: the model is corrupt or truncated; "
            "copy the bundle again"
        )
    if raw["metadata_version"] >= 2 and metadata.digest != metadata_digest(flatbuffer, raw):
        raise CropEdgeError(
            f"{origin}: the metadata does not match its digest: it was edited after export; re-export the bundle"
        )
    return Bundle(path=path, model_bytes=flatbuffer, metadata=metadata)
