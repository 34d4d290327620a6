"""Turn year-grid reflectance into model input.

The one preprocessing shared by evaluation, export self-checks and the device runtime
(numpy only).
"""

from __future__ import annotations

import numpy as np

from cropedge.data.grid import Window, shift_season
from cropedge.data.normalize import BandStats


def prepare_input(
    x_year: np.ndarray,
    window: Window,
    stats: BandStats,
    season_offset_days: float = 0.0,
) -> np.ndarray:
    """[N, bands, 73] reflectance -> [N, bands, T, 1] normalised float32 (channels last).

    Season alignment (if any) moves the year first, then the window is cut, then bands
    are normalised with the training statistics.
    """
    x = shift_season(np.asarray(x_year, dtype=np.float32), season_offset_days)
    x = stats.apply(window.cut(x))
    return x[..., None]
