"""The One-Euro filter against values computed by hand, and its behaviour on noise and ramps."""

import math

import numpy as np
import pytest

from awh_tf.detection.one_euro import OneEuroFilter, OneEuroParams, smoothing_factor

DT = 1.0 / (2.0 * math.pi)  # with a 1 Hz cutoff: tau = dt, so the smoothing factor is 1/2


def test_smoothing_factor_by_hand():
    assert smoothing_factor(DT, 1.0) == pytest.approx(0.5)
    assert smoothing_factor(DT, 3.0) == pytest.approx(0.75)


def test_constant_beta_zero_is_a_first_order_low_pass():
    f = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=0.0, d_cutoff=1.0))
    assert f(0.0, 0.0) == 0.0  # the first sample passes through
    assert f(1.0, DT) == pytest.approx(0.5)
    assert f(1.0, 2 * DT) == pytest.approx(0.75)
    assert f(1.0, 2 * DT) == pytest.approx(0.75)  # a repeated timestamp changes nothing


def test_beta_raises_the_cutoff_with_the_filtered_speed():
    f = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=1.0, d_cutoff=1.0))
    f(np.array([0.0]), 0.0)
    # speed (1 - 0) / DT = 2π, low-passed with factor 1/2: π; cutoff 1 + π Hz.
    a = smoothing_factor(DT, 1.0 + math.pi)
    np.testing.assert_allclose(f(np.array([1.0]), DT), [a])


def test_scale_makes_the_filter_unit_free():
    params = OneEuroParams(min_cutoff=0.5, beta=3.0, d_cutoff=1.0)
    a, b = OneEuroFilter(params), OneEuroFilter(params)
    signal = np.cumsum(np.random.default_rng(0).normal(size=(30, 2)), axis=0)
    for i, x in enumerate(signal):
        np.testing.assert_allclose(b(100.0 * x, i / 30, scale=100.0), 100.0 * a(x, i / 30), rtol=1e-9)


def test_noise_is_reduced_and_a_ramp_is_followed_with_less_lag_for_larger_beta(rng):
    t = np.arange(120) / 30.0
    noisy = rng.normal(0.0, 1.0, 120)
    f = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=0.0))
    smoothed = np.array([f(x, ti) for x, ti in zip(noisy, t)])
    assert np.abs(np.diff(smoothed)).mean() < 0.4 * np.abs(np.diff(noisy)).mean()
    lags = []
    for beta in (0.0, 5.0):
        f = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=beta))
        out = [f(10.0 * ti, ti) for ti in t]
        lags.append(10.0 * t[-1] - out[-1])
    assert 0 < lags[1] < 0.5 * lags[0]


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroParams(min_cutoff=0.0)
