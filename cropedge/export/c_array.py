"""Write a model as a C++ source file for TensorFlow Lite Micro firmware.

Same shape as the arrays TFLM's examples and ``xxd -i`` produce: an ``alignas(16)``
``const unsigned char`` array (flatbuffers need aligned tables; ``const`` keeps it in
flash) and its length, plus the constants the firmware needs to feed the model
(quantization, input shape, normalisation, class names), so nothing is copied by hand.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from cropedge.errors import CropEdgeError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
BYTES_PER_LINE = 12


def _check_ident(name: str) -> str:
    if not _IDENT.fullmatch(name):
        raise CropEdgeError(f"'{name}' is not a valid C identifier")
    return name


def _float(v: float) -> str:
    if not math.isfinite(v):
        raise CropEdgeError(f"cannot write {v} as a C float constant")
    return f"{float(v)!r}f"


def _string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _constant(name: str, value: int | float) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CropEdgeError(f"constant {name} must be an int or a float, got {value!r}")
    if isinstance(value, int):
        return f"constexpr int {name} = {value};"
    return f"constexpr float {name} = {_float(value)};"


def c_array_files(
    data: bytes,
    header: str = "model_data.h",
    array_name: str = "g_model_data",
    comment: str = "",
    constants: Mapping[str, int | float] | None = None,
    float_arrays: Mapping[str, Sequence[float]] | None = None,
    string_arrays: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, bytes]:
    """Render ``data`` as ``{header: ..., <header stem>.cc: ...}`` file contents.

    Args:
        data: the bytes to embed (the ``.tflite`` flatbuffer).
        header: header file name; the source file gets the same stem with ``.cc``.
        array_name: the array's C name; its length is ``<array_name>_len``.
        comment: a line or more placed at the top of both files.
        constants: ``constexpr`` ints/floats declared in the header.
        float_arrays: ``const float`` arrays (declared in the header, defined in the source).
        string_arrays: ``const char* const`` arrays (declared in the header, defined in the source).
    """
    if not data:
        raise CropEdgeError("nothing to write: the model is empty")
    _check_ident(array_name)
    stem = header.rsplit(".", 1)[0]
    guard = _check_ident(re.sub(r"\W", "_", f"CROPEDGE_{stem}_H_").upper())
    top = "".join(f"// {line}\n" for line in comment.splitlines()) if comment else ""
    constants, float_arrays, string_arrays = constants or {}, float_arrays or {}, string_arrays or {}

    h = [top + f"#ifndef {guard}", f"#define {guard}", ""]
    h += [f"extern const unsigned char {array_name}[];", f"extern const unsigned int {array_name}_len;"]
    h += [_constant(_check_ident(k), v) for k, v in constants.items()]
    h += [f"extern const float {_check_ident(k)}[{len(v)}];" for k, v in float_arrays.items()]
    h += [f"extern const char* const {_check_ident(k)}[{len(v)}];" for k, v in string_arrays.items()]
    h += ["", f"#endif  // {guard}", ""]

    rows = (
        "  " + ", ".join(f"0x{b:02x}" for b in data[i : i + BYTES_PER_LINE])
        for i in range(0, len(data), BYTES_PER_LINE)
    )
    cc = [top + f'#include "{header}"', ""]
    # 16-byte alignment: TFLM reads flatbuffer tables in place and needs them aligned
    cc += [f"alignas(16) const unsigned char {array_name}[] = {{", ",\n".join(rows), "};"]
    cc += [f"const unsigned int {array_name}_len = {len(data)};"]
    cc += [f"const float {k}[{len(v)}] = {{{', '.join(_float(x) for x in v)}}};" for k, v in float_arrays.items()]
    cc += [
        f"const char* const {k}[{len(v)}] = {{{', '.join(_string(s) for s in v)}}};" for k, v in string_arrays.items()
    ]
    cc += [""]
    return {header: "\n".join(h).encode(), f"{stem}.cc": "\n".join(cc).encode()}
