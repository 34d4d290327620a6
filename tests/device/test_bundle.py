"""Bundle format: metadata embedding, verification and fuzzing of the metadata parser."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cropedge.device.bundle import (
    METADATA_VERSION,
    REQUIRED_KEYS,
    embed_metadata,
    load_bundle,
    parse_metadata,
    write_bundle,
)
from cropedge.errors import CropEdgeError

FUZZ_EXAMPLES = int(os.environ.get("CROPEDGE_FUZZ_EXAMPLES", "1000"))

# a stand-in flatbuffer: the bundle layer treats the model as opaque bytes
FLATBUFFER = bytes(range(256)) * 8


def _meta(**extra) -> dict:
    base = {k: None for k in REQUIRED_KEYS if k not in ("metadata_version", "model_bytes", "sha256")}
    base.update(model="cropnet", precision="int8", classes=["a", "b"], bands=["B2"], window={})
    base.update(extra)
    return base


def test_round_trip_folder_and_lone_file(tmp_path):
    folder = write_bundle(tmp_path / "m-int8", FLATBUFFER, _meta())
    b = load_bundle(folder)
    assert b.model_bytes == FLATBUFFER
    assert b.meta["metadata_version"] == METADATA_VERSION
    assert b.meta["model_bytes"] == len(FLATBUFFER)
    # the .tflite alone carries the same metadata
    lone = load_bundle(folder / "model.tflite")
    assert lone.model_bytes == FLATBUFFER and lone.meta == b.meta


def test_bit_flip_and_truncation_are_detected(tmp_path):
    folder = write_bundle(tmp_path / "m", FLATBUFFER, _meta())
    model = folder / "model.tflite"
    data = bytearray(model.read_bytes())
    data[100] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(CropEdgeError, match="sha256"):
        load_bundle(folder)
    model.write_bytes(FLATBUFFER[:1000])
    with pytest.raises(CropEdgeError):
        load_bundle(folder)


def test_newer_format_and_missing_metadata(tmp_path):
    folder = write_bundle(tmp_path / "m", FLATBUFFER, _meta())
    meta = json.loads((folder / "metadata.json").read_text())
    meta["metadata_version"] = METADATA_VERSION + 1
    (folder / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(CropEdgeError, match="newer"):
        load_bundle(folder)
    (folder / "metadata.json").unlink()
    (folder / "model.tflite").write_bytes(FLATBUFFER)  # no embedded copy either
    with pytest.raises(CropEdgeError, match="no metadata"):
        load_bundle(folder)


def test_empty_and_missing_paths(tmp_path):
    with pytest.raises(CropEdgeError, match="no such"):
        load_bundle(tmp_path / "nothing")
    (tmp_path / "empty.tflite").write_bytes(b"")
    with pytest.raises(CropEdgeError, match="empty"):
        load_bundle(tmp_path / "empty.tflite")
    with pytest.raises(CropEdgeError, match="no model.tflite"):
        load_bundle(tmp_path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()),
                 st.dictionaries(st.sampled_from(list(REQUIRED_KEYS) + ["x"]), json_values).map(
                     lambda d: json.dumps(d).encode())))
def test_metadata_parser_fuzz(raw):
    """Any bytes either parse into a metadata dict or raise the project error: nothing else."""
    try:
        meta = parse_metadata(raw, "fuzz")
    except CropEdgeError:
        return
    assert isinstance(meta, dict) and all(k in meta for k in REQUIRED_KEYS)


@settings(max_examples=max(FUZZ_EXAMPLES // 4, 50), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=1, max_size=300), st.integers(min_value=0, max_value=400))
def test_lone_tflite_fuzz(tmp_path, garbage, cut):
    """Random or truncated files named .tflite load or raise the project error."""
    good = embed_metadata(FLATBUFFER, {**_meta(), "metadata_version": 1,
                                       "model_bytes": len(FLATBUFFER), "sha256": "0" * 64})
    for data in (garbage, good[:cut] + garbage):
        path = tmp_path / "f.tflite"
        path.write_bytes(data)
        with pytest.raises(CropEdgeError):
            load_bundle(path)
