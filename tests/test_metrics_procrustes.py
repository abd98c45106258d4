"""Tests for the Procrustes protocol in awh_tf.metrics: hand-worked transforms and PA errors."""

import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.transform import Rotation

from awh_tf import metrics

# Four non-coplanar points (mm) and a copy scaled by 2, turned 90 degrees about Z ((x, y, z) ->
# (-y, x, z)) and shifted by (5, -5, 100):
#   pred = (5, -5, 100), (5, 15, 100), (-35, -5, 100), (5, -5, 160).
# The transform back is scale 1/2, R = Rz(-90) ((x, y, z) -> (y, -x, z)) and t = -R (5, -5, 100) / 2
# = -(-5, -5, 100) / 2 = (2.5, 2.5, -50).
GT = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 20.0, 0.0], [0.0, 0.0, 30.0]])
PRED = np.array([[5.0, -5.0, 100.0], [5.0, 15.0, 100.0], [-35.0, -5.0, 100.0], [5.0, -5.0, 160.0]])
RZ_MINUS_90 = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def test_hand_worked_transform_is_recovered():
    scale, rotation, translation = metrics.procrustes_transform(PRED, GT)
    assert scale == pytest.approx(0.5)
    np.testing.assert_allclose(rotation, RZ_MINUS_90, atol=1e-12)
    np.testing.assert_allclose(translation, [2.5, 2.5, -50.0], atol=1e-9)
    np.testing.assert_allclose(metrics.procrustes_align(PRED, GT), GT, atol=1e-9)


def test_similar_copy_scores_zero_and_unaligned_does_not():
    aligned = metrics.evaluate_3d(PRED, GT, align="procrustes")
    assert aligned["epe_mean_mm"] == pytest.approx(0.0, abs=1e-9)
    # Rounding leaves ~1e-14 mm, so only the 0 mm threshold may miss (PCK uses d <= t).
    np.testing.assert_array_equal(aligned["pck_curve"][1:], 1.0)
    assert aligned["auc_20_50"] == 1.0
    assert metrics.evaluate_3d(PRED, GT)["epe_mean_mm"] > 10.0


def test_reflected_copy_is_not_fitted():
    mirrored = GT * [-1.0, 1.0, 1.0] + [3.0, 0.0, 0.0]
    scale, rotation, _ = metrics.procrustes_transform(mirrored, GT)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    assert metrics.evaluate_3d(mirrored, GT, align="procrustes")["epe_mean_mm"] > 1.0
    # An orthogonal fit that may reflect (scipy) matches it exactly: only the det = +1 rule differs.
    x, y = mirrored - mirrored.mean(0), GT - GT.mean(0)
    r, s = scipy.linalg.orthogonal_procrustes(x, y)
    assert np.linalg.det(r) == pytest.approx(-1.0)
    np.testing.assert_allclose(s / np.sum(x**2) * x @ r + GT.mean(0), GT, atol=1e-9)


def test_hand_worked_residual_is_not_root_relative():
    # gt on the X axis: (-10, 0, 0), (0, 0, 0), (10, 0, 0); pred bends the middle point to (0, 6, 0).
    # Centred pred: (-10, -2, 0), (0, 4, 0), (10, -2, 0); cross-covariance diag(200/3, 0, 0), so R keeps
    # the X axis and s = (200/3) / (224/3) = 25/28. Aligned: (-250/28, ±50/28), (0, ∓100/28),
    # (250/28, ±50/28) (the Y part may turn about X); errors: sqrt(30² + 50²)/28 = sqrt(3400)/28 at the
    # ends, 100/28 in the middle. Root-relative unaligned errors would be 0, 6, 0.
    gt = np.array([[-10.0, 0.0, 0.0], [0.0, 0.0, 0.0], [10.0, 0.0, 0.0]])
    pred = np.array([[-10.0, 0.0, 0.0], [0.0, 6.0, 0.0], [10.0, 0.0, 0.0]])
    end, middle = np.sqrt(3400.0) / 28.0, 100.0 / 28.0
    result = metrics.evaluate_3d(pred, gt, align="procrustes")
    np.testing.assert_allclose(result["per_keypoint_epe_mm"], [end, middle, end], rtol=1e-12)
    assert result["epe_mean_mm"] == pytest.approx((2 * end + middle) / 3)
    assert metrics.procrustes_transform(pred, gt)[0] == pytest.approx(25 / 28)
    np.testing.assert_allclose(metrics.evaluate_3d(pred, gt)["per_keypoint_epe_mm"], [0.0, 6.0, 0.0])


def test_batched_per_sample_transforms(rng):
    gt = rng.normal(0.0, 40.0, (6, 21, 3)) + [0.0, 0.0, 600.0]
    rotation = Rotation.random(6, random_state=3).as_matrix()
    scale = rng.uniform(0.5, 2.0, 6)
    pred = scale[:, None, None] * np.einsum("nij,nkj->nki", rotation, gt) + rng.normal(0, 300, (6, 1, 3))
    np.testing.assert_allclose(metrics.procrustes_align(pred, gt), gt, atol=1e-8)
    s, r, _ = metrics.procrustes_transform(pred, gt)
    np.testing.assert_allclose(s, 1.0 / scale, rtol=1e-10)
    np.testing.assert_allclose(r, np.transpose(rotation, (0, 2, 1)), atol=1e-10)
    # One pose [21, 3] gives the same as its batch of one, without the N axis.
    single = metrics.procrustes_align(pred[2], gt[2])
    assert single.shape == (21, 3)
    np.testing.assert_allclose(single, metrics.procrustes_align(pred[2:3], gt[2:3])[0], atol=1e-12)
    assert metrics.evaluate_3d(pred, gt, align="procrustes")["epe_mean_mm"] == pytest.approx(0.0, abs=1e-8)


def test_matches_an_independent_fit_on_noisy_poses(rng):
    gt = rng.normal(0.0, 40.0, (5, 21, 3)) + [0.0, 0.0, 500.0]
    pred = gt + rng.normal(0.0, 8.0, gt.shape) + [20.0, -10.0, 50.0]
    expected = []
    for p, g in zip(pred, gt):
        x, y = p - p.mean(0), g - g.mean(0)
        r, s = scipy.linalg.orthogonal_procrustes(x, y)  # no reflection at this noise level
        assert np.linalg.det(r) > 0
        expected.append(s / np.sum(x**2) * x @ r + g.mean(0))
    np.testing.assert_allclose(metrics.procrustes_align(pred, gt), np.array(expected), atol=1e-9)
    distances = np.linalg.norm(np.array(expected) - gt, axis=-1)
    want = metrics.keypoint_statistics(distances, np.ones_like(distances, bool), metrics.PCK_THRESHOLDS_MM)
    result = metrics.evaluate_3d(pred, gt, align="procrustes")
    assert result["epe_mean_mm"] == pytest.approx(want["epe_mean"].mean())
    assert result["epe_mean_mm"] < metrics.evaluate_3d(pred, gt)["epe_mean_mm"]


def test_fit_uses_visible_keypoints_only():
    # Two samples: the hand-worked pair with a fifth keypoint that is hidden and garbage (NaN in the
    # prediction, far off in the truth); and a sample with nothing visible, which must not matter.
    pred = np.concatenate([PRED, [[np.nan, np.nan, np.nan]]])[None].repeat(2, axis=0)
    gt = np.concatenate([GT, [[1e6, -1e6, 1e6]]])[None].repeat(2, axis=0)
    visible = np.array([[True] * 4 + [False], [False] * 5])
    aligned = metrics.procrustes_align(pred, gt, visible)
    np.testing.assert_allclose(aligned[0, :4], GT, atol=1e-9)
    scale, rotation, translation = metrics.procrustes_transform(pred, gt, visible)
    assert scale[1] == 1.0 and np.array_equal(rotation[1], np.eye(3)) and not translation[1].any()
    result = metrics.evaluate_3d(pred, gt, visible, align="procrustes")
    assert result["epe_mean_mm"] == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(result["per_keypoint_epe_mm"][4])


def test_align_none_is_the_unchanged_protocol(rng):
    gt = rng.normal(0.0, 40.0, (7, 21, 3)) + [0.0, 0.0, 600.0]
    pred = gt + rng.normal(0.0, 10.0, gt.shape)
    visible = rng.random((7, 21)) > 0.2
    default = metrics.evaluate_3d(pred, gt, visible)
    explicit = metrics.evaluate_3d(pred, gt, visible, align=None)
    assert default.keys() == explicit.keys()
    for key, value in default.items():
        np.testing.assert_array_equal(explicit[key], value, err_msg=key)
    # Bit-identical to the root-relative distances summarised directly.
    distances = metrics.distances_3d(pred, gt)
    np.testing.assert_array_equal(default["per_keypoint_epe_mm"],
                                  metrics.keypoint_statistics(distances, visible,
                                                              metrics.PCK_THRESHOLDS_MM)["epe_mean"])
    aligned = metrics.evaluate_3d(pred, gt, visible, align="procrustes")
    assert aligned.keys() == default.keys()


def test_bad_align_and_non_finite_inputs():
    with pytest.raises(ValueError, match="align must be one of"):
        metrics.evaluate_3d(PRED, GT, align="rigid")
    pred = np.stack([PRED, PRED])
    pred[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="sample 1, keypoint 2"):
        metrics.evaluate_3d(pred, np.stack([GT, GT]), align="procrustes")
    with pytest.raises(ValueError, match="pred shape"):
        metrics.procrustes_align(PRED, GT[:3])


# pred = 2·M·gt + (1, 2, 3) with M the swap of x and y ((x, y, z) -> (y, x, z)): a 90° turn about Z followed
# by a mirror in x, det M = −1. pred = (1, 2, 3), (1, 22, 3), (41, 2, 3), (1, 2, 63). The fit back that may
# reflect is s = 1/2, R = M (its own inverse), t = −M (1, 2, 3) / 2 = (−1, −0.5, −1.5): exact.
SWAP_XY = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
REFLECTED = 2.0 * GT @ SWAP_XY.T + [1.0, 2.0, 3.0]


def test_reflection_allowed_recovers_scale_and_mirror_exactly():
    np.testing.assert_allclose(REFLECTED[1], [1.0, 22.0, 3.0])
    scale, rotation, translation = metrics.procrustes_transform(REFLECTED, GT, allow_reflection=True)
    assert scale == pytest.approx(0.5)
    np.testing.assert_allclose(rotation, SWAP_XY, atol=1e-12)
    np.testing.assert_allclose(translation, [-1.0, -0.5, -1.5], atol=1e-9)
    np.testing.assert_allclose(metrics.procrustes_align(REFLECTED, GT, allow_reflection=True), GT, atol=1e-9)
    # The default is a rotation: it cannot undo the mirror, so a clear error is left.
    scale, rotation, _ = metrics.procrustes_transform(REFLECTED, GT)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    assert np.abs(metrics.procrustes_align(REFLECTED, GT) - GT).max() > 1.0


def test_reflection_allowed_changes_nothing_when_a_rotation_fits_best():
    for allow in (False, True):
        scale, rotation, translation = metrics.procrustes_transform(PRED, GT, allow_reflection=allow)
        assert scale == pytest.approx(0.5)
        np.testing.assert_allclose(rotation, RZ_MINUS_90, atol=1e-12)
