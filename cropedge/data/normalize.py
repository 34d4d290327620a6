"""Per-band normalisation statistics, computed on training data only and stored with every model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cropedge.errors import CropEdgeError


@dataclass(frozen=True)
class BandStats:
    """Mean and standard deviation of each band (``fit`` stores a near-zero std as 1).

    Attributes:
        mean: per-band mean, in band order.
        std: per-band standard deviation, in band order.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        """Refuse statistics no model can be fed with (read back from a damaged file, or fit on no data)."""
        mean, std = np.asarray(self.mean, np.float64), np.asarray(self.std, np.float64)
        if mean.shape != std.shape or mean.ndim != 1 or mean.size == 0:
            raise CropEdgeError(f"band statistics have {mean.size} means and {std.size} standard deviations")
        # float32 is what the model is fed: values beyond its range would overflow to inf
        if not (np.isfinite(mean).all() and np.isfinite(std).all()) or np.abs(mean).max() > 1e30:
            raise CropEdgeError("band statistics are not finite numbers")
        if not (std > 0).all() or std.max() > 1e30:
            raise CropEdgeError("band standard deviations must be positive numbers")

    @classmethod
    def fit(cls, x: np.ndarray) -> BandStats:
        """Statistics over samples and time for each band of [N, bands, T]."""
        mean = np.asarray(np.nanmean(x, axis=(0, 2), dtype=np.float64))  # an array: axis is given
        std = np.nanstd(x, axis=(0, 2), dtype=np.float64)
        std = np.where(std > 1e-6, std, 1.0)
        return cls(tuple(float(v) for v in mean), tuple(float(v) for v in std))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Standardise [N, bands, T] band by band, as float32."""
        mean = np.asarray(self.mean, dtype=np.float32)[None, :, None]
        std = np.asarray(self.std, dtype=np.float32)[None, :, None]
        return ((np.asarray(x, dtype=np.float32) - mean) / std).astype(np.float32)

    def to_dict(self) -> dict:
        """Return the statistics as JSON-ready lists."""
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> BandStats:
        """Read statistics back from ``to_dict`` output: JSON numbers only (a string or a bool is damage)."""
        for key in ("mean", "std"):
            values = d.get(key) if isinstance(d, dict) else None
            if not isinstance(values, list) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in values
            ):
                raise CropEdgeError("band statistics must be two lists of numbers, 'mean' and 'std'")
        return cls(tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["std"]))
