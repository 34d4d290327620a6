"""Augmentations: exact window cuts, known shifts, spline warp, tf.data use."""

from __future__ import annotations

import numpy as np
import pytest

from cropedge.backend import tf
from cropedge.data.grid import YEAR_STEPS, Window
from cropedge.errors import CropEdgeError
from cropedge.training.augment import (
    AugmentConfig,
    augment_batch,
    augment_dataset,
    cut_window,
    make_augmenter,
    resample_window,
    time_shift_batch,
    warp_matrix,
)

W = Window()


def _year(b: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(100, 5000, (b, 10, YEAR_STEPS)).astype(np.float32)


def _only(**kw) -> AugmentConfig:
    """One augmentation switched on, the others off."""
    return AugmentConfig(**{**AugmentConfig.off().to_dict(), **kw})


def test_config_round_trip_and_validation():
    cfg = AugmentConfig(time_scale_p=0.3, warp_knots=4)
    assert AugmentConfig.from_dict(cfg.to_dict()) == cfg
    assert AugmentConfig.from_dict({"time_shift": "false", "warp_sigma": "0.2"}).time_shift is False
    assert not AugmentConfig.off().enabled and AugmentConfig().enabled
    with pytest.raises(CropEdgeError, match="unknown augment setting.*time_warp"):
        AugmentConfig.from_dict({"time_warp": True})
    with pytest.raises(CropEdgeError, match="probability"):
        AugmentConfig(time_shift_p=1.5)
    with pytest.raises(CropEdgeError, match="negative"):
        AugmentConfig(time_shift_days=-1)
    with pytest.raises(CropEdgeError, match="bad augment setting"):
        AugmentConfig.from_dict({"time_shift": "maybe"})


def test_off_is_exactly_the_window_cut():
    x = _year()
    want = x[..., W.start_idx : W.stop_idx]
    np.testing.assert_array_equal(augment_batch(x, AugmentConfig.off(), W).numpy(), want)
    np.testing.assert_array_equal(cut_window(tf.constant(x), W).numpy(), want)
    # shifts of zero and whole grid steps go through the interpolation and stay exact
    np.testing.assert_array_equal(time_shift_batch(x, tf.zeros([6]), W).numpy(), want)
    np.testing.assert_array_equal(time_shift_batch(x, tf.fill([6], -10.0), W).numpy(), x[..., 22:65])


@pytest.mark.parametrize("shift_days, peak_at", [(25.0, 40 - 24 - 5), (-25.0, 40 - 24 + 5), (12.5, 40 - 24 - 2.5)])
def test_known_shift_moves_the_peak(shift_days, peak_at):
    # positive shift = window later in the year = season earlier in the window
    t = np.arange(YEAR_STEPS, dtype=np.float32)
    x = np.broadcast_to(np.exp(-0.5 * ((t - 40) / 3) ** 2), (1, 10, YEAR_STEPS)).copy()
    out = time_shift_batch(x, tf.constant([shift_days]), W).numpy()[0, 0]
    i = int(out.argmax())
    # parabolic peak position, exact for whole steps and close for half steps
    a, b, c = out[i - 1], out[i], out[i + 1]
    assert i + 0.5 * (a - c) / (a - 2 * b + c) == pytest.approx(peak_at, abs=0.15)


def test_time_scale_endpoints_and_clamp():
    ramp = np.broadcast_to(np.arange(YEAR_STEPS, dtype=np.float32), (2, 10, YEAR_STEPS)).copy()
    out = resample_window(ramp, tf.constant([0.0, -30.0]), tf.constant([0.0, 20.0]), W).numpy()[:, 0]
    np.testing.assert_array_equal(out[0], np.arange(W.start_idx, W.stop_idx))  # no offsets: endpoints kept
    assert out[1, 0] == pytest.approx(W.start_idx - 6) and out[1, -1] == pytest.approx(W.stop_idx - 1 + 4)
    assert np.allclose(np.diff(out[1]), (6 + 42 + 4) / 42)  # stretched evenly
    # past the year end the window end is clamped to the last grid step (squeezed, not padded)
    late = time_shift_batch(ramp[:1], tf.constant([80.0]), W).numpy()[0, 0]
    assert late[-1] == YEAR_STEPS - 1 and late[0] == pytest.approx(W.start_idx + 16)


def test_scale_replaces_shift_like_the_reference():
    x = _year()
    cfg = _only(time_shift=True, time_shift_days=50.0, time_scale=True, time_scale_p=1.0, time_scale_days=0.0)
    np.testing.assert_array_equal(augment_batch(x, cfg, W, seed=[1, 2]).numpy(), x[..., W.start_idx : W.stop_idx])


def test_shift_draws_cover_the_range():
    ramp = np.broadcast_to(np.arange(YEAR_STEPS, dtype=np.float32), (4000, 1, YEAR_STEPS)).copy()
    out = augment_batch(ramp, _only(time_shift=True), W, seed=[3, 4]).numpy()
    start_days = (out[:, 0, 0] - W.start_idx) * 5
    assert -50 <= start_days.min() < -48 and 48 < start_days.max() <= 50
    assert abs(start_days.mean()) < 2.5 and np.std(start_days) == pytest.approx(100 / np.sqrt(12), rel=0.05)


def test_warp_matrix_is_a_natural_cubic_spline():
    m = warp_matrix(5, 41).astype(np.float64)  # knots on steps 0, 10, 20, 30, 40
    xk = np.linspace(0, 40, 5)
    # through the knots: at knot positions the basis is the identity
    np.testing.assert_allclose(m[xk.astype(int)], np.eye(5), atol=1e-6)
    np.testing.assert_allclose(warp_matrix(7, 43).sum(axis=1), 1.0, atol=1e-6)  # flat knots, flat curve
    # cubic pieces: third differences are constant inside a segment (steps 0..10 form the first)
    # and a central second difference is the exact second derivative; natural ends: S'' = 0 there,
    # extrapolated linearly from the first two (last two) steps
    d2 = np.diff(m, 2, axis=0)
    assert np.abs(d2).max() > 1e-3
    np.testing.assert_allclose(2 * d2[0] - d2[1], 0.0, atol=1e-5)
    np.testing.assert_allclose(2 * d2[-1] - d2[-2], 0.0, atol=1e-5)
    np.testing.assert_allclose(np.diff(m[:11], 3, axis=0), np.diff(m[:4], 3, axis=0).repeat(8, 0), atol=1e-5)


def test_magnitude_warp_output_unchanged():
    # produced by the hand-solved tridiagonal spline that SciPy's CubicSpline replaced
    x = np.linspace(500, 4000, 3 * 2 * YEAR_STEPS, dtype=np.float32).reshape(3, 2, YEAR_STEPS)
    out = augment_batch(x, _only(magnitude_warp=True, magnitude_warp_p=1.0), W, seed=[11, 12]).numpy()
    want = [[624.3512, 698.8907, 865.9524, 1011.76965, 905.3053, 908.1212, 1201.0005],
            [1722.5189, 1838.9856, 2115.6062, 2294.8774, 1946.897, 1779.802, 2102.8047],
            [3344.9426, 3726.3503, 3411.763, 2808.156, 3058.3518, 3512.4294, 3712.1658]]
    np.testing.assert_allclose(out[:, 0, ::7], want, rtol=1e-6)


def test_warp_curve_mean_about_one_and_smooth():
    ones = np.ones((2000, 1, YEAR_STEPS), np.float32)
    curve = augment_batch(ones, _only(magnitude_warp=True, magnitude_warp_p=1.0), W, seed=[5, 6]).numpy()[:, 0]
    assert curve.mean() == pytest.approx(1.0, abs=0.01)
    assert 0.07 < curve[:, 0].std() < 0.13  # the end knots are ~N(1, 0.1)
    assert np.abs(np.diff(curve, axis=1)).max() < 0.2  # smooth: no jumps between steps
    same = augment_batch(ones[:4], _only(magnitude_warp=True, magnitude_warp_p=0.0), W, seed=[5, 6]).numpy()
    np.testing.assert_array_equal(same, 1.0)


def test_band_scale_is_a_per_band_gain_and_offset():
    x = _year(200)
    cfg = _only(band_scale=True, band_scale_p=1.0, band_scale_sigma=0.05, band_offset_sigma=0.0)
    ratio = augment_batch(x, cfg, W, seed=[7, 8]).numpy() / x[..., W.start_idx : W.stop_idx]
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[..., :1], ratio.shape), rtol=1e-5)  # constant along time
    assert 0.04 < ratio[..., 0].std() < 0.06 and ratio[0, :, 0].std() > 0  # differs between bands


def test_seeds_repeat_and_generators_refresh():
    x = _year()
    cfg = AugmentConfig()
    a = augment_batch(x, cfg, W, seed=[1, 2]).numpy()
    np.testing.assert_array_equal(a, augment_batch(x, cfg, W, seed=[1, 2]).numpy())
    assert not np.array_equal(a, augment_batch(x, cfg, W, seed=[1, 3]).numpy())
    aug = make_augmenter(cfg, W, seed=0)
    first, second = aug(x).numpy(), aug(x).numpy()
    assert first.shape == (6, 10, W.length) and not np.array_equal(first, second)
    np.testing.assert_array_equal(first, make_augmenter(cfg, W, seed=0)(x).numpy())


def test_inside_tf_data_parallel_and_reproducible():
    x, y = _year(64), np.arange(64) % 7

    def epochs(seed: int) -> list[np.ndarray]:
        ds = augment_dataset(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), AugmentConfig(), W, seed=seed)
        return [np.concatenate([xb.numpy() for xb, _ in ds]) for _ in range(2)]

    e1, e2 = epochs(11)
    assert e1.shape == (64, 10, W.length) and np.isfinite(e1).all()
    assert not np.array_equal(e1, e2)  # fresh draws every epoch
    r1, r2 = epochs(11)
    np.testing.assert_array_equal(e1, r1)  # same seed, same epochs, despite AUTOTUNE
    np.testing.assert_array_equal(e2, r2)
    # a generator-based augmenter also traces inside a parallel map
    aug = make_augmenter(AugmentConfig(), W, seed=1)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(16).map(aug, num_parallel_calls=tf.data.AUTOTUNE)
    assert sum(int(b.shape[0]) for b in ds) == 64


def test_circular_shift_of_the_whole_year_is_a_roll_and_clamping_is_not():
    x, year = _year(), Window(1, 361)
    for steps in (3, -7, 20):
        shifted = time_shift_batch(x, tf.fill([6], 5.0 * steps), year, circular=True).numpy()
        np.testing.assert_allclose(shifted, np.roll(x, -steps, axis=2), rtol=1e-6)
    # clamped (the reference), a whole-year window cannot move: a shift only squeezes it
    clamped = time_shift_batch(x, tf.fill([6], 15.0), year).numpy()
    assert not np.allclose(clamped, np.roll(x, -3, axis=2))
    # half steps interpolate across the year end: day 361 is followed by day 1
    half = time_shift_batch(x, tf.fill([6], 2.5), year, circular=True).numpy()
    np.testing.assert_allclose(half[..., -1], (x[..., -1] + x[..., 0]) / 2, rtol=1e-6)


def test_circular_stretch_reads_across_the_year_end():
    x, year = _year(), Window(1, 361)
    # start 20 days early, end 20 days late: the 73 steps cover 405 days, from day 346 of the year before
    out = resample_window(x, tf.fill([6], -20.0), tf.fill([6], 20.0), year, circular=True).numpy()
    np.testing.assert_allclose(out[..., 0], x[..., -4], rtol=1e-6)
    np.testing.assert_allclose(out[..., -1], x[..., 3], rtol=1e-6)  # step 72 + 4 = 76 = 3 of the next turn
    assert np.isfinite(out).all() and out.shape == x.shape
