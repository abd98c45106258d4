"""The latent 2.5D head: layer contract, and hand-computed decodings of features whose peaks are known."""

import numpy as np
import pytest

from awh_tf.models import Latent25DHead
from tests.layer_test_case import run_layer_test


def test_layer_contract(rng):
    x = rng.random((2, 4, 4, 6), dtype=np.float32)
    maps = (2, 4, 4, 5)
    run_layer_test(Latent25DHead, dict(num_keypoints=5, stride=4), x,
                   {"uv": (2, 5, 2), "z_rel": (2, 5), "heatmaps": maps, "heatmap_logits": maps,
                    "depth_maps": maps})


def _head_with_weights(num_keypoints, channels, stride):
    """A head whose heatmap logits are ``1000 ×`` input channels ``0..K-1`` and whose depth maps are input
    channels ``K..2K-1`` (1×1 convolutions set by hand)."""
    head = Latent25DHead(num_keypoints=num_keypoints, stride=stride)
    head.build((None, None, None, channels))
    k = num_keypoints
    heat = np.zeros((1, 1, channels, k), np.float32)
    depth = np.zeros((1, 1, channels, k), np.float32)
    for i in range(k):
        heat[0, 0, i, i] = 1000.0
        depth[0, 0, k + i, i] = 1.0
    head.heatmap_conv.set_weights([heat, np.zeros(k, np.float32)])
    head.depth_conv.set_weights([depth, np.zeros(k, np.float32)])
    return head


def test_a_peak_in_the_features_decodes_to_its_cell_centre_and_depth():
    # 4x6 cells at stride 4 (a 24x16 crop). Keypoint 0 peaks at row 1, col 4; keypoint 1 at row 3, col 0.
    head = _head_with_weights(num_keypoints=2, channels=4, stride=4)
    x = np.zeros((1, 4, 6, 4), np.float32)
    x[0, 1, 4, 0] = 1.0
    x[0, 3, 0, 1] = 1.0
    x[0, :, :, 2] = 0.5  # keypoint 0's depth map: 0.5 bone units everywhere
    x[0, 3, 0, 3] = -2.0  # keypoint 1's depth map: -2 at its peak, 0 elsewhere
    out = head(x)
    # cell j maps to the centre of its stride x stride block: j*4 + 1.5.
    np.testing.assert_allclose(np.asarray(out["uv"]), [[[4 * 4 + 1.5, 1 * 4 + 1.5], [0 * 4 + 1.5, 3 * 4 + 1.5]]],
                               atol=1e-4)
    np.testing.assert_allclose(np.asarray(out["z_rel"]), [[0.5, -2.0]], atol=1e-4)


def test_two_equal_peaks_decode_to_their_midpoint_and_mean_depth():
    head = _head_with_weights(num_keypoints=1, channels=2, stride=2)
    x = np.zeros((1, 3, 5, 2), np.float32)
    x[0, 0, 0, 0] = x[0, 2, 4, 0] = 1.0  # equal peaks at (row 0, col 0) and (row 2, col 4)
    x[0, 0, 0, 1], x[0, 2, 4, 1] = 1.0, 3.0
    out = head(x)
    # centres (0.5, 0.5) and (8.5, 4.5) at stride 2: midpoint (4.5, 2.5); depth (1 + 3) / 2.
    np.testing.assert_allclose(np.asarray(out["uv"]), [[[4.5, 2.5]]], atol=1e-4)
    np.testing.assert_allclose(np.asarray(out["z_rel"]), [[2.0]], atol=1e-4)
    heat = np.asarray(out["heatmaps"])[0, :, :, 0]
    assert heat[0, 0] == pytest.approx(0.5, abs=1e-4) and heat[2, 4] == pytest.approx(0.5, abs=1e-4)
