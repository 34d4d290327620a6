"""Typed records: round trip, and every kind of damaged field refused with its name."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import pytest

from cropedge.data.grid import Window
from cropedge.data.normalize import BandStats
from cropedge.errors import CropEdgeError
from cropedge.record import Record


@dataclass(frozen=True)
class _Inner(Record):
    WHAT: ClassVar[str] = "inner"
    name: str
    size: int


@dataclass(frozen=True)
class _Sample(Record):
    VERSION: ClassVar[int] = 2
    WHAT: ClassVar[str] = "sample.json"
    FIX: ClassVar[str] = "write it again"
    name: str
    count: int
    score: float
    flag: bool
    bands: tuple[str, ...]
    offsets: dict[str, float]
    window: Window
    stats: BandStats
    inner: _Inner
    kind: Literal["a", "b"] = "a"
    note: str | None = None
    anything: dict = field(default_factory=dict)


def _sample() -> _Sample:
    return _Sample("x", 3, 0.5, True, ("B2", "B3"), {"FRA": 0.0, "AUS": 182.0}, Window(),
                   BandStats((1.0, 2.0), (3.0, 4.0)), _Inner("i", 7), kind="b", anything={"free": [1, "two"]})


def test_round_trip_through_json():
    rec = _sample()
    data = json.loads(json.dumps(rec.to_dict()))
    assert data["record_version"] == 2 and data["window"]["length"] == 43 and data["inner"]["record_version"] == 1
    assert _Sample.from_dict(data, "s.json") == rec


@pytest.mark.parametrize("field_name, value, message", [
    ("name", 3, "field 'name' is 3, not a string"),
    ("count", "3", "field 'count' is '3', not a whole number"),
    ("count", True, "field 'count' is True, not a whole number"),
    ("score", float("nan"), "field 'score' is nan, not a finite number"),
    ("score", "high", "field 'score' is 'high', not a finite number"),
    ("flag", 1, "field 'flag' is 1, not true or false"),
    ("bands", "B2B3", "field 'bands' is 'B2B3', not a list"),
    ("bands", ["B2", 4], "field 'bands' is 4, not a string"),
    ("offsets", {"FRA": "x"}, "field 'offsets' is 'x', not a finite number"),
    ("window", {"start_doy": "abc", "end_doy": 334}, "field 'window' is unusable"),
    ("window", [], "field 'window' is [], not an object"),
    ("stats", {"mean": ["a"], "std": [1.0]}, "field 'stats' is unusable"),
    ("inner", {"name": "i", "size": 1.5}, "field 'inner' inner field 'size' is 1.5, not a whole number"),
    ("kind", "c", "field 'kind' is 'c', not one of 'a', 'b'"),
    ("note", 5, "field 'note' is 5, not a string"),
    ("anything", [], "field 'anything' is [], not an object"),
])
def test_a_damaged_field_is_named(field_name, value, message):
    data = {**_sample().to_dict(), field_name: value}
    with pytest.raises(CropEdgeError) as err:
        _Sample.from_dict(data, "s.json")
    assert str(err.value).startswith(f"s.json: sample.json {message}") and str(err.value).endswith("; write it again")


def test_shape_missing_fields_and_versions():
    with pytest.raises(CropEdgeError, match=r"^s.json: sample.json must be a JSON object, not a list; write it again$"):
        _Sample.from_dict([], "s.json")
    data = _sample().to_dict()
    del data["score"]
    with pytest.raises(CropEdgeError, match="lacks 'score'"):
        _Sample.from_dict(data, "s.json")
    with pytest.raises(CropEdgeError, match="version 3 is newer than this cropedge reads \\(2\\); upgrade cropedge"):
        _Sample.from_dict({**_sample().to_dict(), "record_version": 3}, "s.json")
    with pytest.raises(CropEdgeError, match="no valid record_version"):
        _Sample.from_dict({**_sample().to_dict(), "record_version": "2"}, "s.json")
    # a file from before the version key is read as version 1; defaults fill optional fields
    data = {k: v for k, v in _sample().to_dict().items() if k not in ("record_version", "note", "anything", "kind")}
    assert _Sample.from_dict(data, "s.json") == _Sample(**{**_sample().__dict__, "kind": "a", "anything": {}})
