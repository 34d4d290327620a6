"""Bundle format: a folder with ``model.tflite`` and ``metadata.json``.

The metadata is also embedded in the ``.tflite`` (a ``metadata.json`` zip entry appended
after the flatbuffer, which TFLite ignores) so a lone file is self-describing.

Only the standard library here: the device reads bundles with nothing but numpy and LiteRT.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from cropedge.atomic import atomic_dir
from cropedge.errors import CropEdgeError

METADATA_VERSION = 1
MODEL_FILE = "model.tflite"
METADATA_FILE = "metadata.json"
# keys every reader relies on; the rest is informative
REQUIRED_KEYS = ("metadata_version", "model", "precision", "classes", "bands", "window",
                 "normalization", "input", "output", "model_bytes", "sha256")


@dataclass
class Bundle:
    """A loaded, verified bundle.

    Attributes:
        path: the bundle folder or lone ``.tflite`` it was read from.
        model_bytes: the flatbuffer alone, without the appended metadata.
        meta: the parsed metadata.
    """

    path: Path
    model_bytes: bytes  # the flatbuffer alone, without the appended metadata
    meta: dict


def sha256(data: bytes) -> str:
    """Return the hex SHA-256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def embed_metadata(flatbuffer: bytes, meta: dict) -> bytes:
    """Append ``metadata.json`` as a zip entry after the flatbuffer."""
    buf = io.BytesIO()
    buf.write(flatbuffer)
    with zipfile.ZipFile(buf, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(METADATA_FILE, json.dumps(meta, indent=2))
    return buf.getvalue()


def complete_metadata(flatbuffer: bytes, meta: dict) -> dict:
    """Add the format version, size and checksum of ``flatbuffer`` to ``meta``."""
    return {**meta, "metadata_version": METADATA_VERSION, "model_bytes": len(flatbuffer), "sha256": sha256(flatbuffer)}


def write_bundle(
    folder: str | Path, flatbuffer: bytes, meta: dict, extra_files: dict[str, bytes] | None = None
) -> Path:
    """Write a bundle folder atomically: all files appear together, or none."""
    meta = complete_metadata(flatbuffer, meta)
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        (tmp / MODEL_FILE).write_bytes(embed_metadata(flatbuffer, meta))
        (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        for name, data in (extra_files or {}).items():
            (tmp / name).write_bytes(data)
    return folder


def parse_metadata(text: str | bytes, origin: str) -> dict:
    """Parse and validate metadata JSON; raise ``CropEdgeError`` for anything unusable."""
    try:
        meta = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CropEdgeError(
            f"{origin}: metadata is not valid JSON ({exc.__class__.__name__}); re-export the bundle"
        ) from None
    if not isinstance(meta, dict):
        raise CropEdgeError(f"{origin}: metadata must be a JSON object; re-export the bundle")
    version = meta.get("metadata_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise CropEdgeError(f"{origin}: metadata has no valid metadata_version; re-export the bundle")
    if version > METADATA_VERSION:
        raise CropEdgeError(
            f"{origin}: metadata version {version} is newer than this cropedge reads ({METADATA_VERSION}); "
            "upgrade cropedge on this device"
        )
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise CropEdgeError(f"{origin}: metadata lacks {', '.join(missing)}; re-export the bundle")
    return meta


def _split_tflite(data: bytes, origin: str) -> tuple[bytes, dict | None]:
    """Split a .tflite into flatbuffer and embedded metadata (None if there is none)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            text = zf.read(METADATA_FILE)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError, zlib.error):
        return data, None
    meta = parse_metadata(text, origin)
    size = meta["model_bytes"]
    if not isinstance(size, int) or not 0 < size <= len(data):
        raise CropEdgeError(f"{origin}: metadata gives a model size of {size!r}; the file is damaged, re-export it")
    return data[:size], meta


def load_bundle(path: str | Path) -> Bundle:
    """Read a bundle folder or a lone ``.tflite`` with embedded metadata, and verify it.

    Checks: files exist and are readable, the metadata parses and is not from a newer
    format, and the flatbuffer's sha256 matches the metadata.
    """
    path = Path(path)
    if path.is_dir():
        model_path, meta_path = path / MODEL_FILE, path / METADATA_FILE
        if not model_path.is_file():
            raise CropEdgeError(f"{path}: no {MODEL_FILE} in this folder; is it a bundle made by 'cropedge export'?")
    elif path.is_file():
        model_path, meta_path = path, None
    else:
        raise CropEdgeError(f"{path}: no such bundle folder or .tflite file")
    try:
        data = model_path.read_bytes()
    except OSError as exc:
        raise CropEdgeError(f"{model_path}: cannot read ({exc.strerror})") from None
    if not data:
        raise CropEdgeError(f"{model_path}: file is empty; copy the bundle again")
    flatbuffer, embedded = _split_tflite(data, str(model_path))
    if meta_path is not None and meta_path.is_file():
        try:
            meta = parse_metadata(meta_path.read_bytes(), str(meta_path))
        except OSError as exc:
            raise CropEdgeError(f"{meta_path}: cannot read ({exc.strerror})") from None
        if embedded is None:
            flatbuffer = data[: meta["model_bytes"]] if isinstance(meta["model_bytes"], int) else data
    elif embedded is not None:
        meta = embedded
    else:
        raise CropEdgeError(
            f"{model_path}: no metadata ({METADATA_FILE} missing and none embedded); export it with 'cropedge export'"
        )
    if sha256(flatbuffer) != meta["sha256"]:
        raise CropEdgeError(
            f"{model_path}: sha256 does not match the metadata: the model is corrupt or truncated; "
            "copy the bundle again"
        )
    return Bundle(path=path, model_bytes=flatbuffer, meta=meta)
