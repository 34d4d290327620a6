"""Check an int8 model with TensorFlow Lite Micro on the host before it goes into firmware.

Runs the flatbuffer with ``tflite-micro`` (optional: ``pip install "cropedge[mcu]"``) on
real samples and reports what a firmware author needs: does it run with TFLM's kernels,
do its int8 outputs match LiteRT's (in least-significant bits), how big a tensor arena it
needs and how much flash the model takes, against the profile's budgets.
"""

from __future__ import annotations

import re

import numpy as np

from cropedge.console import captured_fd2
from cropedge.errors import CropEdgeError

INSTALL_HINT = 'pip install "cropedge[mcu]" (the tflite-micro package)'
# generous arena for the measuring run; the recording allocator reports what was used
_MEASURE_ARENA = 16 * 1024 * 1024
_ARENA_LINE = re.compile(rb"Arena allocation total (\d+) bytes")


def micro_available() -> tuple[bool, str]:
    """(True, version) when tflite-micro imports, else (False, why)."""
    try:
        from tflite_micro.python.tflite_micro import runtime  # noqa: F401
    except ImportError as exc:
        return False, f"tflite-micro is not installed ({exc.name}): {INSTALL_HINT}"
    from importlib import metadata

    try:
        return True, metadata.version("tflite-micro")
    except metadata.PackageNotFoundError:  # pragma: no cover - source build
        return True, "unknown"


def check_micro(flatbuffer: bytes, x: np.ndarray, reference: np.ndarray | None = None) -> dict:
    """Run ``flatbuffer`` with TFLite Micro, one sample per invoke, as firmware does.

    Args:
        flatbuffer: a full-integer int8 model.
        x: quantized int8 model inputs [N, bands, T, 1] (as fed to LiteRT).
        reference: [N, classes] int8 outputs of another runtime (LiteRT) for the same inputs.

    Returns:
        ``{"runtime", "n", "arena_bytes", "flash_bytes", "max_lsb_diff", "agreement", "outputs"}``:
        the arena TFLM's recording allocator used, the flatbuffer size, the largest output
        difference to ``reference`` in least-significant bits and the top-1 agreement with
        it (None without one), and TFLM's int8 outputs [N, classes].

    Raises:
        CropEdgeError: tflite-micro is missing, or the model does not run with it.
    """
    ok, version = micro_available()
    if not ok:
        raise CropEdgeError(version)
    from tflite_micro.python.tflite_micro import runtime

    x = np.asarray(x)
    if x.dtype != np.int8:
        raise CropEdgeError(f"TFLite Micro check needs int8 inputs, got {x.dtype}")
    try:
        interp = runtime.Interpreter.from_bytes(flatbuffer, arena_size=_MEASURE_ARENA + len(flatbuffer))
        model_dtype = np.dtype(interp.get_input_details(0)["dtype"])
        if model_dtype != np.int8:
            raise CropEdgeError(f"TFLite Micro check needs a full-integer int8 model; this one takes {model_dtype}")
        outputs = []
        with captured_fd2() as captured:  # TFLM prints its allocations there
            for i in range(len(x)):
                interp.set_input(x[i : i + 1], 0)
                interp.invoke()
                outputs.append(np.array(interp.get_output(0)).reshape(-1))
            interp.print_allocations()
    except RuntimeError as exc:  # TFLM reports unsupported ops and allocation failures this way
        raise CropEdgeError(f"TensorFlow Lite Micro cannot run this model: {' '.join(str(exc).split())}") from None
    match = _ARENA_LINE.search(captured[0])
    out = np.stack(outputs) if outputs else np.zeros((0, 0), np.int8)
    max_lsb = agreement = None
    if reference is not None and len(out):
        reference = np.asarray(reference, dtype=np.int32)
        max_lsb = int(np.abs(out.astype(np.int32) - reference).max())
        agreement = float((out.argmax(axis=1) == reference.argmax(axis=1)).mean())
    return {
        "runtime": f"tflite-micro {version}",
        "n": len(out),
        "arena_bytes": int(match.group(1)) if match else None,
        "flash_bytes": len(flatbuffer),
        "max_lsb_diff": max_lsb,
        "agreement": agreement,
        "outputs": out,
    }
