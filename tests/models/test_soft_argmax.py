"""Latent 2.5D decoding: hand-computed soft-argmax values and the pixel-centre convention."""

import numpy as np
import pytest

from awh_tf.models import soft_argmax_25d, spatial_softmax


def _one_hot_logits(h, w, cells, scale=1e4):
    """``[B, h, w, K]`` logits, 0 everywhere and ``scale`` at cells[b][k] = (row, col)."""
    logits = np.zeros((len(cells), h, w, len(cells[0])), np.float32)
    for b, row in enumerate(cells):
        for k, (i, j) in enumerate(row):
            logits[b, i, j, k] = scale
    return logits


@pytest.mark.parametrize("stride", [1, 4])
def test_one_hot_heatmap_decodes_to_its_cell_centre_exactly(rng, stride):
    h, w = 5, 7
    cells = [[(0, 0), (4, 6), (2, 3)], [(1, 5), (3, 0), (4, 4)]]
    depth = rng.normal(size=(2, h, w, 3)).astype(np.float32)
    out = soft_argmax_25d(_one_hot_logits(h, w, cells), depth, stride)
    centre = (stride - 1) / 2
    expected_uv = np.array([[[j * stride + centre, i * stride + centre] for i, j in row] for row in cells])
    expected_z = np.array([[depth[b, i, j, k] for k, (i, j) in enumerate(row)] for b, row in enumerate(cells)])
    np.testing.assert_array_equal(np.asarray(out["uv"]), expected_uv)
    np.testing.assert_array_equal(np.asarray(out["z_rel"]), expected_z)


def test_uniform_heatmap_decodes_to_the_image_centre():
    # 6x8 cells at stride 4 cover a 32x24 input whose centre is ((32-1)/2, (24-1)/2) = (15.5, 11.5).
    depth = np.arange(6 * 8, dtype=np.float32).reshape(1, 6, 8, 1)
    out = soft_argmax_25d(np.full((1, 6, 8, 1), 3.0, np.float32), depth, 4)
    np.testing.assert_allclose(np.asarray(out["uv"]), [[[15.5, 11.5]]], atol=1e-5)
    np.testing.assert_allclose(np.asarray(out["z_rel"]), [[depth.mean()]], rtol=1e-6)


def test_two_cell_expectation_by_hand():
    # One row of 2 cells, logits (0, log 3): p = (1/4, 3/4); stride 2 -> centres 0.5 and 2.5;
    # u = 0.25 * 0.5 + 0.75 * 2.5 = 2.0, v = 0.5; z = 0.25 * 4 + 0.75 * 8 = 7.
    logits = np.array([0.0, np.log(3.0)], np.float32).reshape(1, 1, 2, 1)
    depth = np.array([4.0, 8.0], np.float32).reshape(1, 1, 2, 1)
    out = soft_argmax_25d(logits, depth, 2)
    np.testing.assert_allclose(np.asarray(out["uv"]), [[[2.0, 0.5]]], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out["z_rel"]), [[7.0]], rtol=1e-6)


def test_spatial_softmax_is_normalised_and_safe_for_huge_logits(rng):
    logits = (rng.normal(size=(2, 4, 5, 3)) * 1e4).astype(np.float32)
    p = np.asarray(spatial_softmax(logits))
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=(1, 2)), np.ones((2, 3)), rtol=1e-6)
    out = soft_argmax_25d(logits, np.ones_like(logits), 4)
    assert np.all(np.isfinite(np.asarray(out["uv"]))) and np.all(np.isfinite(np.asarray(out["z_rel"])))
