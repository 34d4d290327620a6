"""Fuzzing the readers behind ``cropedge.data.load_dataset`` (npz, HDF5, CSV, Parquet) and the
bundle metadata fields ``LiteModel`` reads: every generated file either loads into a valid
Dataset (bundle) or raises ``CropEdgeError``, never anything else.

Inputs are structured but broken (right containers with wrong shapes, dtypes, names,
lengths, NaN/inf/no-data, odd headers and cells), then sometimes truncated or bit-flipped,
so the fuzzing reaches past the first format check; text that is not UTF-8 (or not Unicode),
values beyond float32's range, HDF5 groups and attributes. A RuntimeWarning is a failure too
(none may reach a user). ``CROPEDGE_FUZZ_EXAMPLES`` (default 1000) sets the examples per
reader; the files are tiny so all of it stays well under a minute. Under ``make test`` the
examples are the same every run (the ``repro`` profile of tests/conftest.py); ``make fuzz``
draws fresh ones, ten times as many. Failures found so far are explicit cases in
tests/data/test_bad_input.py. (``parse_metadata`` itself is fuzzed in tests/test_bundle.py.)
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cropedge.data import load_dataset
from cropedge.data.grid import CROPGLOBE_CLASSES, S2_BANDS, YEAR_STEPS
from cropedge.errors import CropEdgeError

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("CROPEDGE_FUZZ_EXAMPLES", "1000"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # derandomize and the example database: the profile (tests/conftest.py)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)

# values a reflectance cell may hold: normal, no-data, not finite, out of range
POISON = [np.nan, np.inf, -np.inf, 65535.0, 0.0, -1.0, 1e30, -1e30, 1e-30, 1e300, -3.4028235e38, 1e40]
# text numpy or a library cannot turn into Python strings: beyond Unicode, lone surrogates
BAD_CODES = [0x110000, 0xD800, 0xFFFFFFFF]
BAD_BYTES = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"]
BAND_TOKENS = [*S2_BANDS, "B02", "b8a", "B8a", "B1", "B9", "B10", "B13", "S2-L2A-B04", "OPTICAL-B08", "nir", "red",
               "swir1", "blue", "B", "", "label", "x", "B2 ", "é"]  # fmt: skip
STEP_TOKENS = ["t0", "t1", "t72", "t73", "ts3", "2023-04-01", "2023-13-01", "20231231", "doy121", "doy999",
               "day5", "step2", "0", "-1", "x", ""]  # fmt: skip
ROLE_NAMES = ["label", "class", "crop", "id", "sample_id", "region", "country", "tile", "timestamp", "date",
              "ewoc_code", "start_date", "end_date", "year", "lat"]  # fmt: skip


def check_loaded(ds) -> None:
    """What every caller relies on from a Dataset that loaded."""
    n = len(ds)
    assert n > 0 and ds.x.shape == (n, len(ds.bands), YEAR_STEPS) and ds.x.dtype == np.float32
    assert np.isfinite(ds.x).all()
    assert ds.y.shape == (n,) and ((ds.y >= -1) & (ds.y < len(ds.classes))).all()
    assert len(ds.region) == n and len(ds.ids) == n


def load_or_refuse(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # numpy's overflow / empty-slice warnings
        try:
            ds = load_dataset(path)
        except CropEdgeError:
            return
    check_loaded(ds)


def bad_text(draw: st.DrawFn, n: int) -> np.ndarray:
    """``n`` strings of which one holds a code point no Python string can (a damaged ``U`` array)."""
    codes = np.full((max(n, 1), 2), 65, dtype=np.uint32)
    codes[draw(st.integers(0, max(n, 1) - 1)), draw(st.integers(0, 1))] = draw(st.sampled_from(BAD_CODES))
    return codes.view("<U2").ravel()[:n]


@st.composite
def corrupt(draw: st.DrawFn, data: bytes) -> bytes:
    """The file as written, cut short, or with a byte flipped."""
    how = draw(st.sampled_from(["whole", "whole", "cut", "flip"]))
    if how == "cut" and data:
        return data[: draw(st.integers(0, len(data) - 1))]
    if how == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + bytes([data[i] ^ (1 << draw(st.integers(0, 7)))]) + data[i + 1 :]
    return data


@st.composite
def reflectance(draw: st.DrawFn) -> np.ndarray:
    """A ``fea``-like array: odd shapes and dtypes, poisoned cells."""
    ndim = draw(st.sampled_from([3, 3, 3, 2, 1, 4, 0]))
    dims = [draw(st.sampled_from([1, 2, 3, 0])), draw(st.sampled_from([10, 10, 9, 11, 1, 73])),
            draw(st.sampled_from([73, 73, 12, 43, 2, 1, 10, 74, 0]))]  # fmt: skip
    shape = tuple(dims[:ndim]) if ndim <= 3 else (*dims, 2)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.uniform(100, 5000, shape)
    if x.size:
        for _ in range(draw(st.integers(0, 3))):
            x.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from(POISON))
        if draw(st.booleans()) and draw(st.booleans()):
            x[...] = draw(st.sampled_from(POISON))  # all missing
    dtype = draw(st.sampled_from(["float32", "float32", "float64", "uint16", "int16", "int64", "bool", "complex64"]))
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(dtype)


@st.composite
def cropglobe_arrays(draw: st.DrawFn) -> dict[str, np.ndarray]:
    """The arrays of a CropGlobe file, each possibly missing, mis-named, mis-sized or mis-typed."""
    x = draw(reflectance())
    n = x.shape[0] if x.ndim else 1
    arrays = {draw(st.sampled_from(["fea", "fea", "x", "features", "data"])): x}
    def sized(element: st.SearchStrategy) -> st.SearchStrategy:  # n items, sometimes one more or fewer
        k = max(0, n + draw(st.sampled_from([0, 0, 0, 1, -1])))
        return st.lists(element, min_size=k, max_size=k).map(np.array)

    labels = st.one_of(
        sized(st.integers(-2, 9)),
        sized(st.sampled_from([*CROPGLOBE_CLASSES, "", "nan", "banana", "7"])),
        sized(st.floats(allow_nan=True, allow_infinity=True)),
    )
    if draw(st.integers(0, 5)):  # mostly labelled
        arrays[draw(st.sampled_from(["lbl", "lbl", "y", "labels"]))] = draw(labels)
    steps = x.shape[-1] if x.ndim else 0
    extras = {
        "bands": st.lists(st.sampled_from(BAND_TOKENS), max_size=12).map(np.array),
        "doy": st.lists(st.one_of(st.floats(-10, 800), st.just(np.nan)), min_size=steps, max_size=steps).map(np.array),
        "classes": st.lists(st.sampled_from([*CROPGLOBE_CLASSES, "", "a"]), max_size=8).map(np.array),
        "region": sized(st.text(max_size=4)),
        "ids": sized(st.text(max_size=4)),
    }
    for key in draw(st.lists(st.sampled_from(list(extras)), unique=True, max_size=5)):
        arrays[key] = draw(extras[key])
    if draw(st.integers(0, 7)) == 0:  # one text array damaged
        key = draw(st.sampled_from(["lbl", "bands", "classes", "region", "ids"]))
        arrays[key] = bad_text(draw, n if key in ("lbl", "region", "ids") else 10)
    return arrays


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{k: (v.astype("U") if v.dtype.kind == "O" else v) for k, v in arrays.items()})
    return buf.getvalue()


def _h5_value(value: np.ndarray) -> np.ndarray:
    if value.dtype.kind not in "UO":
        return value
    codes = np.ascontiguousarray(value.astype("U")).view(np.uint32) if value.size else np.zeros(0, np.uint32)
    if ((codes > 0x10FFFF) | ((codes >= 0xD800) & (codes <= 0xDFFF))).any():
        return np.array([b"A\xff" for _ in value.ravel()])  # HDF5 stores bytes: the damage is invalid UTF-8
    return np.char.encode(value.astype("U"), "utf-8")


def _h5_bytes(arrays: dict[str, np.ndarray], layout: str, attrs: dict[str, np.ndarray]) -> bytes:
    """The arrays at the root, in one group, or in two groups (regions); some metadata as attributes."""
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as fh:
        names = {"root": [], "nested": ["data"], "regions": ["field_a", "field_b"]}[layout]
        groups = [fh.create_group(name) for name in names] or [fh]
        for group in groups:
            for key, value in arrays.items():
                group[key] = _h5_value(value)
            for key, value in attrs.items():
                group.attrs[key] = value
    return buf.getvalue()


H5_ATTRS = st.dictionaries(
    st.sampled_from(["bands", "classes", "doy"]),
    st.one_of(st.lists(st.sampled_from(BAND_TOKENS), max_size=11).map(lambda v: np.array([t.encode() for t in v])),
              st.sampled_from([np.array([b"B2", b"\xff\xfe"]), np.array([1.0, 2.0]), np.array(b"\xc3")])),
    max_size=2,
)  # fmt: skip


@st.composite
def csv_text(draw: st.DrawFn) -> bytes:
    """A CSV: feature columns named in any of the known ways (or not), role columns, odd cells."""
    bands = draw(st.lists(st.sampled_from(BAND_TOKENS), min_size=0, max_size=11))
    steps = draw(st.lists(st.sampled_from(STEP_TOKENS), min_size=0, max_size=6, unique=True))
    sep = draw(st.sampled_from(["_", ".", "-", " "]))
    time_major = draw(st.booleans())
    names = [f"{s}{sep}{b}" if time_major else f"{b}{sep}{s}" for b in bands for s in steps]
    if draw(st.booleans()):
        names = [f"f{i}" for i in range(draw(st.integers(0, 40)))]  # bare numbered columns
    names += draw(st.lists(st.sampled_from(ROLE_NAMES), max_size=3, unique=True))
    names = draw(st.permutations(names)) if len(names) < 30 and draw(st.booleans()) else names
    cell = st.one_of(st.integers(-5, 70000).map(str), st.sampled_from(["", "nan", "NA", "inf", "-inf", "1e999", "x",
                     "corn", "2023-05-01", '"1,5"', "  7 ", "0x1F", "1e40", "-3.4e38", "1e300", "maïs"]))  # fmt: skip
    rows = draw(st.lists(st.lists(cell, min_size=len(names), max_size=len(names)), max_size=4))
    if rows and draw(st.booleans()):
        rows[-1] = rows[-1][: draw(st.integers(0, len(names)))]  # ragged
    if rows and draw(st.integers(0, 5)) == 0:
        names = []  # no header row: the first line is data
    delimiter = draw(st.sampled_from([",", ",", ";", "\t", "|"]))
    text = "\n".join(delimiter.join(r) for r in [names, *rows] if r or r is not names) + "\n"
    prefix = draw(st.sampled_from(["", "", "\ufeff", "\n"]))
    data = (prefix + text).encode(draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "latin-1"])), "replace")
    if data and draw(st.integers(0, 5)) == 0:  # a byte that is not UTF-8 somewhere
        i = draw(st.integers(0, len(data)))
        data = data[:i] + draw(st.sampled_from(BAD_BYTES)) + data[i:]
    return data


@st.composite
def parquet_bytes(draw: st.DrawFn) -> bytes:
    """A Parquet table: wide (one row per sample) or long (one row per sample and date)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = draw(st.integers(0, 4))
    columns: dict[str, pa.Array] = {}
    def numbers():
        values = draw(st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                                         st.integers(0, 65535)), min_size=n, max_size=n))  # fmt: skip
        if draw(st.integers(0, 9)) == 0:  # exact decimals, as some exporters write them
            exact = [None if v is None or not abs(v) < 1e30 else int(v) for v in values]
            return pa.array(exact, pa.decimal128(38, 0))
        return pa.array(values)

    def text(values: list) -> pa.Array:
        """A string column; sometimes one value's bytes are not UTF-8 (a damaged file)."""
        if not values or draw(st.integers(0, 5)):
            return pa.array(values, pa.string())
        raw = [("" if v is None else str(v)).encode() for v in values]
        raw[draw(st.integers(0, len(raw) - 1))] += draw(st.sampled_from(BAD_BYTES))
        offsets = np.cumsum([0, *map(len, raw)]).astype(np.int32)
        return pa.Array.from_buffers(pa.string(), len(raw), [None, pa.py_buffer(offsets.tobytes()),
                                                             pa.py_buffer(b"".join(raw))])  # fmt: skip
    if draw(st.booleans()):  # long: sample_id, timestamp, band columns
        columns["sample_id"] = text(draw(st.lists(st.sampled_from(["a", "b", "", None]), min_size=n, max_size=n)))
        stamps = draw(st.lists(st.one_of(st.dates(), st.none()), min_size=n, max_size=n))
        columns[draw(st.sampled_from(["timestamp", "date"]))] = (
            pa.array(stamps, type=pa.date32()) if draw(st.booleans()) else text([str(s) for s in stamps]))
        for band in draw(st.lists(st.sampled_from(["S2-L2A-B02", "S2-L2A-B03", "S2-L2A-B8A", "S2-L2A-B12", "B4"]),
                                  unique=True, max_size=5)):  # fmt: skip
            columns[band] = numbers()
    else:  # wide: band x step columns
        for band in draw(st.lists(st.sampled_from(BAND_TOKENS), unique=True, max_size=4)):
            for step in draw(st.lists(st.sampled_from(STEP_TOKENS), unique=True, max_size=4)):
                columns[f"{band}_{step}"] = numbers()
    for role in draw(st.lists(st.sampled_from(["label", "tile", "year", "ewoc_code", "start_date"]), unique=True,
                              max_size=2)):  # fmt: skip
        columns[role] = text(draw(st.lists(st.one_of(st.none(), st.integers(0, 3000).map(str)), min_size=n,
                                           max_size=n)))  # fmt: skip
    buf = io.BytesIO()
    pq.write_table(pa.table(columns) if columns else pa.table({"empty": pa.array([], pa.int8())}), buf)
    return buf.getvalue()


@FUZZ
@given(arrays=cropglobe_arrays(), data=st.data())
def test_npz_reader_loads_or_refuses(tmp_path: Path, arrays: dict, data: st.DataObject) -> None:
    path = tmp_path / "FRA.npz"
    path.write_bytes(data.draw(corrupt(_npz_bytes(arrays))))
    load_or_refuse(path)


@FUZZ
@given(arrays=cropglobe_arrays(), layout=st.sampled_from(["root", "nested", "regions"]), attrs=H5_ATTRS,
       data=st.data())  # fmt: skip
def test_hdf5_reader_loads_or_refuses(tmp_path: Path, arrays: dict, layout: str, attrs: dict,
                                      data: st.DataObject) -> None:  # fmt: skip
    path = tmp_path / "FRA.h5"
    path.write_bytes(data.draw(corrupt(_h5_bytes(arrays, layout, attrs))))
    load_or_refuse(path)


@FUZZ
@given(text=csv_text(), data=st.data())
def test_csv_reader_loads_or_refuses(tmp_path: Path, text: bytes, data: st.DataObject) -> None:
    path = tmp_path / "FRA.csv"
    path.write_bytes(data.draw(corrupt(text)))
    load_or_refuse(path)


@FUZZ
@given(table=parquet_bytes(), data=st.data())
def test_parquet_reader_loads_or_refuses(tmp_path: Path, table: bytes, data: st.DataObject) -> None:
    path = tmp_path / "FRA.parquet"
    path.write_bytes(data.draw(corrupt(table)))
    load_or_refuse(path)


# --- bundle metadata: the fields LiteModel reads, with values of every wrong kind --------------

JSON_ODD = st.one_of(st.none(), st.booleans(), st.integers(-10, 400), st.floats(allow_nan=True), st.text(max_size=5),
                     st.lists(st.integers(-1, 5), max_size=12),
                     st.dictionaries(st.text(max_size=9), st.integers(), max_size=3))  # fmt: skip
FIELDS = {
    "classes": st.lists(st.text(max_size=3), max_size=9),
    "bands": st.lists(st.sampled_from(BAND_TOKENS), max_size=11),
    "window": st.fixed_dictionaries({"start_doy": st.integers(-5, 400), "end_doy": st.integers(-5, 400),
                                     "step": st.sampled_from([5, 5, 1, 0, -5])}),  # fmt: skip
    "normalization": st.fixed_dictionaries({"mean": st.lists(st.floats(allow_nan=True), max_size=11),
                                            "std": st.lists(st.floats(allow_nan=True), max_size=11)}),  # fmt: skip
    "season_offset_days": st.floats(allow_nan=True, allow_infinity=True),
    "input": st.fixed_dictionaries({"shape": st.lists(st.integers(-1, 50), max_size=4),
                                    "scale": st.floats(allow_nan=True),
                                    "zero_point": st.integers(-300, 300)}),  # fmt: skip
}


@pytest.fixture(scope="module")
def real_meta(bundles: dict[str, Path]) -> tuple[Path, dict]:
    folder = bundles["int8"]
    return folder, json.loads((folder / "metadata.json").read_text())


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(list(FIELDS)), st.just(None), min_size=1, max_size=3), data=st.data())
def test_bundle_metadata_fields_load_or_refuse(tmp_path: Path, real_meta: tuple[Path, dict], changes: dict,
                                               data: st.DataObject) -> None:  # fmt: skip
    """A real int8 bundle whose metadata fields are replaced by odd values, in both copies and with
    a matching digest (as a faulty exporter would write them): LiteModel opens it (and classifies)
    or raises CropEdgeError."""
    from cropedge.device.bundle import embed_metadata, load_bundle, seal
    from cropedge.device.runtime import LiteModel

    folder, meta = real_meta
    meta = dict(meta)
    for key in changes:
        meta[key] = data.draw(st.one_of(FIELDS[key], JSON_ODD), label=key)
    flatbuffer = load_bundle(folder).model_bytes
    meta = seal(flatbuffer, meta)
    bundle = tmp_path / "bundle"
    bundle.mkdir(exist_ok=True)
    (bundle / "model.tflite").write_bytes(embed_metadata(flatbuffer, meta))
    (bundle / "metadata.json").write_text(json.dumps(meta))
    try:
        model = LiteModel(bundle)
        probs = model.predict_proba(np.full((2, len(model.bands), YEAR_STEPS), 1000.0, np.float32))
    except CropEdgeError:
        return
    assert probs.shape == (2, len(model.classes)) and np.isfinite(probs).all()
