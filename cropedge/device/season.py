"""``--season-offset`` on the device: days, ``auto`` from the input's own NDVI curve, or the bundle's.

``auto`` compares the input's mean NDVI curve with the source curve the bundle carries
(``BundleMetadata.source_ndvi_curve``), with ``cropedge.data.align``: numpy only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cropedge.data.align import AUTO, parse_offset, resolve_offset
from cropedge.device.runtime import LiteModel
from cropedge.errors import CropEdgeError


def season_offset(model: LiteModel, spec: float | str | None, sample: Callable[[], np.ndarray]) -> dict:
    """The days to move the input's year, and how they were found (``method``: bundle, fixed or auto).

    Args:
        model: the bundle.
        spec: days, ``"auto"``, or None for the bundle's own offset.
        sample: gives year-grid series [n, model bands, 73] of the input; called for ``auto`` only.
    """
    spec = parse_offset(spec)
    if spec is None:
        return {"method": "bundle", "days": float(model.season_offset_days)}
    if spec != AUTO:
        return {"method": "fixed", "days": float(spec)}
    if model.source_ndvi_curve is None:
        raise CropEdgeError(
            f"{model.origin}: the bundle stores no source NDVI curve (export it again with bands B4 and B8): "
            "give --season-offset in days"
        )
    x = sample()
    if not len(x):
        raise CropEdgeError("no pixel with a complete series to estimate the season offset from; give it in days")
    return {**resolve_offset(AUTO, x, model.bands, list(model.source_ndvi_curve)), "pixels": len(x)}
