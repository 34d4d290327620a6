"""Training-time augmentations on full-year series, vectorised per batch for tf.data.

The three augmentations of the CropNet reference (time shift, time scale, magnitude
warp) plus an optional per-band reflectance scale / offset. They work on the whole
73-step year ``[B, bands, 73]`` and cut the model window last, because moving or
stretching the window needs the days around it.

Differences from the reference, on purpose:

* fresh randomness every batch (the reference makes two augmented copies once);
* continuous day offsets with linear interpolation between grid steps (the reference
  draws whole days and floors them to the 5-day grid);
* like the reference, a time-scaled sample is *not* also shifted (its scale step
  overwrites the shift);
* ``circular`` (what the data-sized protocol uses): the year is a circle of 73 steps of 5
  days (365 days), so a window moved past day 361 carries on at day 1. This keeps shifts and
  stretches meaningful for a window as long as the year. Off (the reference, and the
  ``AugmentConfig()`` default), window ends are clamped to the year (day 1..361, the grid's
  first and last step), so a window pushed past the year end is squeezed, not padded.

Sign convention: a positive shift of ``s`` days moves the window ``s`` days later in the
year, so the season appears ``s`` days *earlier* inside the window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
from scipy.interpolate import CubicSpline

from cropedge.backend import tf
from cropedge.data.grid import STEP_DAYS, YEAR_STEPS, Window
from cropedge.errors import CropEdgeError


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations run, how often (``*_p``) and how strongly. Defaults: the reference recipe.

    Attributes:
        time_shift: move the window by s ~ U[-time_shift_days, time_shift_days] days.
        time_scale: move window start and end independently by U[-time_scale_days, ...] days
            (stretch or squeeze the season); replaces the shift for the samples it hits.
        magnitude_warp: multiply all bands by a smooth curve through ``warp_knots`` knots
            ~ N(1, warp_sigma) spread evenly over the window (natural cubic spline).
        band_scale: multiply each band by N(1, band_scale_sigma) and add N(0, band_offset_sigma)
            DN (reflectance x 10 000): sensor / atmosphere differences between regions.
        circular: treat the year as a circle (a window moved past day 361 continues at day 1)
            instead of clamping window ends to the year as the reference does.
    """

    time_shift: bool = True
    time_shift_p: float = 1.0
    time_shift_days: float = 50.0
    time_scale: bool = True
    time_scale_p: float = 0.5
    time_scale_days: float = 50.0
    magnitude_warp: bool = True
    magnitude_warp_p: float = 0.25
    warp_sigma: float = 0.1
    warp_knots: int = 5
    band_scale: bool = False
    band_scale_p: float = 0.5
    band_scale_sigma: float = 0.05
    band_offset_sigma: float = 0.0
    circular: bool = False

    def __post_init__(self) -> None:
        """Reject probabilities outside 0..1, negative strengths and warp curves under 2 knots."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_p") and not 0.0 <= value <= 1.0:
                raise CropEdgeError(f"augment {f.name}={value} is not a probability; use a value in 0..1")
            if f.name.endswith(("_days", "_sigma")) and value < 0:
                raise CropEdgeError(f"augment {f.name}={value} is negative; use 0 or more")
        if self.warp_knots < 2:
            raise CropEdgeError(f"augment warp_knots={self.warp_knots}: a warp curve needs at least 2 knots")

    @classmethod
    def off(cls) -> AugmentConfig:
        """No augmentation: ``augment_batch`` then only cuts the window."""
        return cls(time_shift=False, time_scale=False, magnitude_warp=False, band_scale=False)

    @property
    def enabled(self) -> bool:
        """Whether any augmentation is on with a probability above 0."""
        return any(
            (self.time_shift and self.time_shift_p > 0, self.time_scale and self.time_scale_p > 0,
             self.magnitude_warp and self.magnitude_warp_p > 0, self.band_scale and self.band_scale_p > 0)
        )

    def to_dict(self) -> dict[str, Any]:
        """All settings as a plain dict (the inverse of ``from_dict``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AugmentConfig:
        """Build from a (possibly partial) dict; missing keys keep their defaults."""
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise CropEdgeError(
                f"unknown augment setting(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        cast = {"bool": _as_bool, "int": int, "float": float}
        try:
            return replace(cls(), **{k: cast[known[k]](v) for k, v in d.items()})
        except (TypeError, ValueError) as exc:
            raise CropEdgeError(f"bad augment setting: {exc}") from exc


def _as_bool(v: Any) -> bool:
    if isinstance(v, str):
        if v.lower() in ("1", "true", "yes", "on"):
            return True
        if v.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{v!r} is not true/false")
    return bool(v)


def cut_window(x_year: tf.Tensor, window: Window) -> tf.Tensor:
    """[B, bands, 73] -> [B, bands, window.length]: the model window, no augmentation."""
    return x_year[..., window.start_idx : window.stop_idx]


def resample_window(
    x_year: tf.Tensor, start_days: tf.Tensor, end_days: tf.Tensor, window: Window, circular: bool = False
) -> tf.Tensor:
    """Resample each series between its own window ends to ``window.length`` steps.

    Args:
        x_year: [B, bands, 73] float32.
        start_days: [B] offsets in days added to the window's first step (positive = later
            in the year), clamped to the year grid unless ``circular``.
        end_days: [B] offsets in days added to the window's last step, clamped alike.
        window: the model window.
        circular: read the year as a circle (step 73 is step 0 of the next turn) instead of
            clamping the window ends to it.

    Returns:
        [B, bands, window.length], linearly interpolated between grid steps.
    """
    x_year = tf.convert_to_tensor(x_year, tf.float32)
    last = float(YEAR_STEPS - 1)
    u0 = window.start_idx + tf.cast(start_days, tf.float32) / STEP_DAYS
    u1 = window.stop_idx - 1 + tf.cast(end_days, tf.float32) / STEP_DAYS
    if circular:
        u1 = tf.maximum(u1, u0 + 1.0)
    else:
        u0, u1 = tf.clip_by_value(u0, 0.0, last), tf.clip_by_value(u1, 0.0, last)
        # the reference moves the end one step past the start when a squeeze inverts them
        u1 = tf.maximum(u1, tf.minimum(u0 + 1.0, last))
    steps = tf.range(window.length, dtype=tf.float32)[None, :]
    # multiply before dividing so whole-step offsets land exactly on grid steps
    pos = u0[:, None] + (u1 - u0)[:, None] * steps / (window.length - 1)  # [B, T] fractional grid index
    if circular:
        i0 = tf.floor(pos)
        w = (pos - i0)[:, None, :]  # [B, 1, T]
        i0 = tf.cast(tf.math.floormod(i0, float(YEAR_STEPS)), tf.int32)
        i1 = tf.math.floormod(i0 + 1, YEAR_STEPS)
    else:
        i0 = tf.clip_by_value(tf.floor(pos), 0.0, last - 1.0)
        w = (pos - i0)[:, None, :]
        i0 = tf.cast(i0, tf.int32)
        i1 = i0 + 1
    lo = tf.gather(x_year, i0, axis=2, batch_dims=1)
    hi = tf.gather(x_year, i1, axis=2, batch_dims=1)
    return lo * (1.0 - w) + hi * w


def time_shift_batch(x_year: tf.Tensor, shift_days: tf.Tensor, window: Window, circular: bool = False) -> tf.Tensor:
    """Window moved by ``shift_days`` [B] (positive = later in the year; the season appears earlier)."""
    return resample_window(x_year, shift_days, shift_days, window, circular)


def warp_matrix(knots: int, length: int) -> np.ndarray:
    """[length, knots] matrix M with ``curve = M @ knot_values``.

    M evaluates a natural cubic spline through ``knots`` evenly spaced knots at every step
    of the window.
    """
    xk = np.linspace(0.0, length - 1.0, knots)
    # the spline is linear in the knot values: splining the identity gives one column per knot
    basis = CubicSpline(xk, np.eye(knots), bc_type="natural")
    return basis(np.arange(length, dtype=np.float64)).astype(np.float32)


def augment_batch(
    x_year: tf.Tensor,
    config: AugmentConfig,
    window: Window,
    seed: tf.Tensor | None = None,
    generator: tf.random.Generator | None = None,
) -> tf.Tensor:
    """Augment a batch of full-year series and cut the window: [B, bands, 73] -> [B, bands, T].

    Randomness comes from ``seed`` (a stateless seed, shape [2] int: the same seed gives
    the same output) or else from ``generator`` (fresh draws every call; the global
    generator when both are None). Traceable, so it runs inside ``tf.data`` maps.
    """
    x_year = tf.convert_to_tensor(x_year, tf.float32)
    if not config.enabled:
        return cut_window(x_year, window)
    if seed is None:
        seed = (generator or tf.random.get_global_generator()).make_seeds(1)[:, 0]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=8)
    b = tf.shape(x_year)[0]

    def hit(p: float, i: int) -> tf.Tensor:
        return tf.random.stateless_uniform([b], seeds[i]) < p

    def offset(days: float, i: int) -> tf.Tensor:
        return tf.random.stateless_uniform([b], seeds[i], -days, days)

    start = tf.zeros([b])
    end = tf.zeros([b])
    if config.time_shift:
        s = tf.where(hit(config.time_shift_p, 0), offset(config.time_shift_days, 1), 0.0)
        start, end = s, s
    if config.time_scale:
        scaled = hit(config.time_scale_p, 2)
        start = tf.where(scaled, offset(config.time_scale_days, 3), start)
        end = tf.where(scaled, offset(config.time_scale_days, 4), end)
    x = resample_window(x_year, start, end, window, config.circular)

    if config.magnitude_warp:
        knots = tf.random.stateless_normal([b, config.warp_knots], seeds[5], 1.0, config.warp_sigma)
        curve = tf.matmul(knots, tf.constant(warp_matrix(config.warp_knots, window.length)), transpose_b=True)
        curve = tf.where(hit(config.magnitude_warp_p, 6)[:, None], curve, 1.0)
        x = x * curve[:, None, :]
    if config.band_scale:
        x = _band_scale(x, config, seeds[7])
    return x


def _band_scale(x: tf.Tensor, config: AugmentConfig, seed: tf.Tensor) -> tf.Tensor:
    """Per-sample, per-band gain N(1, sigma) and offset N(0, offset_sigma) DN, with probability p."""
    b, c = tf.shape(x)[0], tf.shape(x)[1]
    s = tf.random.experimental.stateless_split(seed, num=3)
    gain = tf.random.stateless_normal([b, c, 1], s[0], 1.0, config.band_scale_sigma)
    bias = tf.random.stateless_normal([b, c, 1], s[1], 0.0, config.band_offset_sigma)
    on = (tf.random.stateless_uniform([b], s[2]) < config.band_scale_p)[:, None, None]
    return tf.where(on, x * gain + bias, x)


def augment_dataset(
    ds: tf.data.Dataset, config: AugmentConfig, window: Window, seed: int | None = None
) -> tf.data.Dataset:
    """Map batches ``(x_year, *rest)`` to ``(x_window, *rest)`` in parallel.

    Each batch carries its own stateless seed from a seeded random stream that is drawn
    afresh every epoch, so a given ``seed`` reproduces the same augmented epochs even
    with ``num_parallel_calls=AUTOTUNE``. ``seed=None`` gives non-reproducible draws.
    """
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def fn(batch: Any, s: tf.Tensor) -> Any:
        if isinstance(batch, tuple):
            return (augment_batch(batch[0], config, window, seed=s), *batch[1:])
        return augment_batch(batch, config, window, seed=s)

    return tf.data.Dataset.zip((ds, seeds)).map(fn, num_parallel_calls=tf.data.AUTOTUNE)


def make_augmenter(config: AugmentConfig, window: Window, seed: int | None = None) -> Callable[[tf.Tensor], tf.Tensor]:
    """A callable ``x_year -> x_window`` with its own generator: new draws every call, seedable."""
    if seed is None:
        gen = tf.random.Generator.from_non_deterministic_state()
    else:
        gen = tf.random.Generator.from_seed(seed)
    return lambda x_year: augment_batch(x_year, config, window, generator=gen)
