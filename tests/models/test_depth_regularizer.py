"""The depth regularizer: layer contract, both input forms, and that it can fit a tiny batch."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from awh_tf.losses import loss_depth_reg
from awh_tf.models import DepthRegularizer
from tests.layer_test_case import run_layer_test

SMALL = dict(output_size=8, units=(16,), filters=(8, 4), num_keypoints=5, output_activation="linear")


def _pose(rng, b, k=5):
    return (rng.random((b, k, 2), dtype=np.float32), rng.normal(size=(b, k)).astype(np.float32))


def test_layer_contract(rng, tmp_path):
    uv, z = _pose(rng, 2)
    run_layer_test(DepthRegularizer, SMALL, {"uv_norm": uv, "z_rel": z}, (2, 8, 8), run_saving=True,
                   tmp_path=tmp_path)


def test_two_tensors_equal_the_dict_form(rng):
    uv, z = _pose(rng, 3)
    regularizer = DepthRegularizer(**SMALL)
    image = np.asarray(regularizer({"uv_norm": uv, "z_rel": z}))
    np.testing.assert_array_equal(np.asarray(regularizer(uv, z)), image)
    assert image.shape == (3, 8, 8)
    sigmoid = DepthRegularizer(**dict(SMALL, output_activation="sigmoid"))(uv, z)
    assert np.all((np.asarray(sigmoid) > 0) & (np.asarray(sigmoid) < 1))


def test_sub_layer_names(rng):
    regularizer = DepthRegularizer(**SMALL)
    regularizer(*_pose(rng, 1))
    assert [l.name for l in regularizer.layers] == ["fc1", "seed", "deconv1", "deconv2", "depth"]


def test_rejects_output_size_not_divisible():
    with pytest.raises(ValueError, match="divisible by 2\\*\\*len\\(filters\\) = 4"):
        DepthRegularizer(output_size=10, filters=(8, 4))({"uv_norm": np.zeros((1, 21, 2), np.float32),
                                                         "z_rel": np.zeros((1, 21), np.float32)})


def _blob_images(uv, z, size):
    """Hand-like targets: a disc per keypoint at uv (in [0, 1]) whose value depends on z, else 0."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    images = np.zeros((len(uv), size, size), np.float32)
    for b in range(len(uv)):
        for (u, v), d in zip(uv[b], z[b]):
            disc = (xx - u) ** 2 + (yy - v) ** 2 < 0.02
            images[b][disc] = np.maximum(images[b][disc], 0.5 + 0.4 * np.tanh(d))
    return images


def test_fits_a_tiny_fixed_batch(rng):
    """300 Adam steps (~2 s) on 8 poses: the L1 error ends far below the best constant image's."""
    keras.utils.set_random_seed(0)
    uv, z = _pose(rng, 8)
    target = _blob_images(uv, z, 16)
    best_constant = np.abs(target - np.median(target, axis=0)).mean()
    regularizer = DepthRegularizer(output_size=16, units=(64,), filters=(16, 8), num_keypoints=5)
    optimizer = keras.optimizers.Adam(3e-3)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_depth_reg(regularizer(uv, z, training=True), target)
        grads = tape.gradient(loss, regularizer.trainable_weights)
        optimizer.apply(grads, regularizer.trainable_weights)
        return loss

    for _ in range(300):
        last = float(step())
    assert last < 0.2 * best_constant, (best_constant, last)
