"""Bundle format: metadata embedding, verification and fuzzing of the metadata parser."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cropedge.data.grid import Window
from cropedge.data.normalize import BandStats
from cropedge.device.bundle import (
    METADATA_VERSION,
    BundleMetadata,
    TensorSpec,
    embed_metadata,
    load_bundle,
    metadata_digest,
    parse_metadata,
    seal,
    sha256,
    write_bundle,
)
from cropedge.errors import CropEdgeError

FUZZ_EXAMPLES = int(os.environ.get("CROPEDGE_FUZZ_EXAMPLES", "1000"))

# a stand-in flatbuffer: the bundle layer treats the model as opaque bytes
FLATBUFFER = bytes(range(256)) * 8
REQUIRED_KEYS = [f.name for f in dataclasses.fields(BundleMetadata)
                 if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]


def _metadata(**changes) -> BundleMetadata:
    base = BundleMetadata(
        model="cropnet", precision="int8", classes=("a", "b"), bands=("B2", "B3"), window=Window(),
        normalization=BandStats((1.0, 2.0), (3.0, 4.0)), input=TensorSpec((-1, 2, 43, 1), "int8", 0.1, -3),
        output=TensorSpec((-1, 2), "int8", 1 / 256, -128), model_bytes=len(FLATBUFFER), sha256=sha256(FLATBUFFER),
        name="cropnet-int8")
    return dataclasses.replace(base, **changes)


def test_round_trip_folder_and_lone_file(tmp_path):
    folder = write_bundle(tmp_path / "m-int8", FLATBUFFER, _metadata())
    b = load_bundle(folder)
    assert b.model_bytes == FLATBUFFER
    saved = json.loads((folder / "metadata.json").read_text())
    assert saved["metadata_version"] == METADATA_VERSION == 2
    assert b.metadata.model_bytes == len(FLATBUFFER) and b.metadata.digest == metadata_digest(FLATBUFFER, saved)
    assert dataclasses.replace(b.metadata, digest=None) == _metadata()
    # the .tflite alone carries the same metadata
    lone = load_bundle(folder / "model.tflite")
    assert lone.model_bytes == FLATBUFFER and lone.metadata == b.metadata


def test_bit_flip_and_truncation_are_detected(tmp_path):
    folder = write_bundle(tmp_path / "m", FLATBUFFER, _metadata())
    model = folder / "model.tflite"
    data = bytearray(model.read_bytes())
    data[100] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(CropEdgeError, match="sha256"):
        load_bundle(folder)
    model.write_bytes(FLATBUFFER[:1000])
    with pytest.raises(CropEdgeError):
        load_bundle(folder)


def _edit(folder, **changes) -> dict:
    meta = {**json.loads((folder / "metadata.json").read_text()), **changes}
    (folder / "metadata.json").write_text(json.dumps(meta))
    return meta


def test_edited_metadata_is_refused(tmp_path):
    # swapped class names would relabel every prediction: the two copies differ
    folder = write_bundle(tmp_path / "m", FLATBUFFER, _metadata())
    _edit(folder, classes=["b", "a"])
    with pytest.raises(CropEdgeError, match="differs from the metadata embedded in .*one of them was edited"):
        load_bundle(folder)
    # edited consistently in both copies (the lone file too): the digest no longer matches
    meta = _edit(folder, classes=["b", "a"])
    (folder / "model.tflite").write_bytes(embed_metadata(FLATBUFFER, meta))
    for path in (folder, folder / "model.tflite"):
        with pytest.raises(CropEdgeError, match="does not match its digest: it was edited after export"):
            load_bundle(path)
    # a bundle of metadata version 1 (no digest) still loads when its copies agree
    old = {k: v for k, v in seal(FLATBUFFER, _metadata().to_dict()).items() if k != "digest"}
    old["metadata_version"] = 1
    (folder / "model.tflite").write_bytes(embed_metadata(FLATBUFFER, old))
    (folder / "metadata.json").write_text(json.dumps(old))
    assert load_bundle(folder).metadata.classes == ("a", "b")


@pytest.mark.parametrize("changes, message", [
    ({"classes": "abcdefg"}, "field 'classes' is 'abcdefg', not a list"),
    ({"classes": ["a", "a"]}, "must be distinct"),
    ({"bands": ["B2"]}, "2 means and 2 standard deviations for 1 bands"),
    ({"window": {"start_doy": 121, "end_doy": 334, "step": 7}}, "does not fit the 5-day year grid"),
    ({"season_offset_days": float("nan")}, "field 'season_offset_days' is nan, not a finite number"),
    ({"input": {"shape": [1], "dtype": "int8", "scale": "x", "zero_point": 0}}, "field 'input' tensor field 'scale'"),
    ({"normalization": {"mean": [1, 2], "std": [0, 4]}}, "field 'normalization' is unusable"),
])
def test_ill_typed_metadata_is_refused_with_the_field(tmp_path, changes, message):
    meta = seal(FLATBUFFER, {**_metadata().to_dict(), **changes})
    with pytest.raises(CropEdgeError, match=message):
        parse_metadata(json.dumps(meta), "m/metadata.json")


def test_newer_format_and_missing_metadata(tmp_path):
    folder = write_bundle(tmp_path / "m", FLATBUFFER, _metadata())
    meta = _edit(folder, metadata_version=METADATA_VERSION + 1)
    (folder / "model.tflite").write_bytes(embed_metadata(FLATBUFFER, meta))
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
    assert isinstance(meta, BundleMetadata)


@settings(max_examples=max(FUZZ_EXAMPLES // 4, 50), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=1, max_size=300), st.integers(min_value=0, max_value=400))
def test_lone_tflite_fuzz(tmp_path, garbage, cut):
    """Random or truncated files named .tflite load or raise the project error."""
    good = embed_metadata(FLATBUFFER, seal(FLATBUFFER, _metadata().to_dict()))
    for data in (garbage, good[:cut] + garbage):
        path = tmp_path / "f.tflite"
        path.write_bytes(data)
        with pytest.raises(CropEdgeError):
            load_bundle(path)
