"""TensorFlow Lite Micro check on the host: runs an int8 model, matches LiteRT, measures the arena."""

from __future__ import annotations

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from cropedge.errors import CropEdgeError
from cropedge.export.mcu import check_micro, micro_available
from cropedge.export.quantize import convert_float32, convert_int8
from cropedge.models import get_model

pytestmark = pytest.mark.skipif(not micro_available()[0], reason=micro_available()[1])
SHAPE = (10, 43, 1)


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    model = get_model("cropnet-xs-shallow", 5, input_shape=SHAPE, width=8)
    x = np.random.default_rng(0).normal(size=(64, *SHAPE)).astype(np.float32)
    return {"int8": convert_int8(model, x), "float32": convert_float32(model)}


def litert_int8(flatbuffer: bytes, xq: np.ndarray) -> np.ndarray:
    interp = Interpreter(model_content=flatbuffer)
    inp = interp.get_input_details()[0]
    interp.resize_tensor_input(inp["index"], [len(xq), *SHAPE])
    interp.allocate_tensors()
    interp.set_tensor(inp["index"], xq)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def test_micro_matches_litert_and_reports_memory(models) -> None:
    xq = np.random.default_rng(1).integers(-128, 128, (20, *SHAPE)).astype(np.int8)
    reference = litert_int8(models["int8"], xq)
    result = check_micro(models["int8"], xq, reference)
    assert result["n"] == 20 and result["outputs"].shape == reference.shape
    assert result["max_lsb_diff"] is not None and result["max_lsb_diff"] <= 2
    assert result["agreement"] == (result["outputs"].argmax(1) == reference.argmax(1)).mean()
    assert 1000 < result["arena_bytes"] < 200_000
    assert result["flash_bytes"] == len(models["int8"])


def test_float_models_and_inputs_are_refused(models) -> None:
    xq = np.zeros((1, *SHAPE), np.int8)
    with pytest.raises(CropEdgeError, match="int8"):
        check_micro(models["float32"], xq)
    with pytest.raises(CropEdgeError, match="int8 inputs"):
        check_micro(models["int8"], xq.astype(np.float32))
