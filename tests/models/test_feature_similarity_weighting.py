"""Feature similarity weighting α (Eq. 5): hand-computed values, batch-mean semantics, switches."""

import numpy as np
import pytest
import tensorflow as tf

from awh_tf.models import FeatureSimilarityWeighting
from tests.layer_test_case import run_layer_test


def test_layer_contract(rng):
    z = rng.random((2, 3, 3, 5), dtype=np.float32)
    run_layer_test(FeatureSimilarityWeighting,
                   dict(stop_gradient=False, mode="awh", epsilon=1e-5, clip_negative=True),
                   (z, z), (5,), batched_output=False)


def test_identical_maps_give_one_per_channel(rng):
    z = rng.normal(size=(4, 3, 3, 6)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(FeatureSimilarityWeighting()(z, z)), np.ones(6), atol=1e-5)


def test_alpha_uses_batch_mean_maps_and_is_scale_invariant(rng):
    a, b = rng.normal(size=(2, 1, 3, 3, 4)).astype(np.float32)
    z_s = np.concatenate([a, b])
    z_t = 3.0 * np.concatenate([(a + b) / 2, (a + b) / 2])  # same batch mean up to scale
    np.testing.assert_allclose(np.asarray(FeatureSimilarityWeighting()(z_s, z_t)), np.ones(4), atol=1e-5)


def test_orthogonal_maps_give_zero():
    z_s = np.zeros((1, 2, 2, 2), np.float32)
    z_t = np.zeros((1, 2, 2, 2), np.float32)
    z_s[0, 0, :, 0], z_t[0, 1, :, 0] = 1.0, 2.0  # channel 0: disjoint supports
    z_s[0, :, :, 1] = [[1, -1], [1, -1]]  # channel 1: a +- pattern against a constant map
    z_t[0, :, :, 1] = 5.0
    np.testing.assert_array_equal(np.asarray(FeatureSimilarityWeighting()(z_s, z_t)), [0.0, 0.0])


def test_hand_computed_value():
    # H x W = 1 x 2: s = (1, 0), t = (1, 1) -> cosine 1/sqrt(2); second channel s = (3, 4), t = (4, 3) -> 24/25.
    z_s = np.array([[[[1, 3], [0, 4]]]], np.float32)
    z_t = np.array([[[[1, 4], [1, 3]]]], np.float32)
    alpha = FeatureSimilarityWeighting(epsilon=1e-12)(z_s, z_t)
    np.testing.assert_allclose(np.asarray(alpha), [1 / np.sqrt(2), 24 / 25], rtol=1e-6)


def test_ones_mode_is_plain_wdgrl(rng):
    z_s, z_t = rng.normal(size=(2, 2, 3, 3, 7)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(FeatureSimilarityWeighting(mode="ones")(z_s, z_t)), np.ones(7))


def test_clip_negative():
    z = np.arange(1, 5, dtype=np.float32).reshape(1, 2, 2, 1)
    np.testing.assert_allclose(np.asarray(FeatureSimilarityWeighting()(z, -z)), [-1.0], atol=1e-6)
    np.testing.assert_array_equal(np.asarray(FeatureSimilarityWeighting(clip_negative=True)(z, -z)), [0.0])


@pytest.mark.parametrize("stop_gradient", [True, False])
def test_stop_gradient_switch(rng, stop_gradient):
    z_s = tf.constant(rng.normal(size=(2, 2, 2, 3)).astype(np.float32))
    z_t = tf.constant(rng.normal(size=(2, 2, 2, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(z_s)
        alpha = FeatureSimilarityWeighting(stop_gradient=stop_gradient)(z_s, z_t)
        loss = tf.reduce_sum(alpha)
    grad = tape.gradient(loss, z_s, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    assert (float(tf.reduce_max(tf.abs(grad))) == 0.0) == stop_gradient


def test_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        FeatureSimilarityWeighting(mode="cosine")


def test_centred_mode_weighs_patterns_not_levels(rng):
    # Channel 0: the same centred blob in both domains on top of different levels (a "hand" channel).
    # Channel 1: a large common level, with an unrelated pattern in each domain (a "background" channel).
    # Eq. 5 cannot tell them apart (both cosines ~1); the centred correlation can.
    blob = np.zeros((4, 4), np.float32)
    blob[1:3, 1:3] = 1.0
    z_s, z_t = np.zeros((2, 1, 4, 4, 2), np.float32)
    z_s[0, :, :, 0], z_t[0, :, :, 0] = 2.0 + blob, 5.0 + 0.5 * blob
    z_s[0, :, :, 1] = 10.0 + np.array([[1, -1, 1, -1]] * 4)
    z_t[0, :, :, 1] = 10.0 + np.array([[1, -1, 1, -1]] * 4).T
    eq5 = np.asarray(FeatureSimilarityWeighting(mode="awh")(z_s, z_t))
    centred = np.asarray(FeatureSimilarityWeighting(mode="centred")(z_s, z_t))
    assert eq5.min() > 0.98
    np.testing.assert_allclose(centred, [1.0, 0.0], atol=1e-5)
    # Anti-correlated patterns get 0, not a negative weight.
    np.testing.assert_array_equal(np.asarray(FeatureSimilarityWeighting(mode="centred")(z_s, -z_s)), [0.0, 0.0])
