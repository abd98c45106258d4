"""The reference-comparable figures of awh_tf.evaluation.protocol on hand-built predictions (docs/protocol.md):
STB's keypoints outside the image, FreiHAND's reflection-allowing alignment and its 100-threshold grid."""

import numpy as np
import pytest

from awh_tf.evaluation import protocol

# One camera, fx = fy = 200 px, and a non-planar hand (so no rotation can pass for a mirror image): keypoint k
# at X = 3k − 30, Y = (−1)^k · 2k, Z = 500 + k²/10 mm; scale = |xyz_12 − xyz_0|, z_rel = (Z − 500) / scale.
K = np.array([[200.0, 0.0, 32.0], [0.0, 200.0, 32.0], [0.0, 0.0, 1.0]])
_k = np.arange(21.0)
TOL = 1e-4  # mm: xyz_from_25d returns float32 (~3e-5 mm at 500 mm)
HAND = np.stack([3 * _k - 30, (-1.0) ** _k * 2 * _k, 500 + _k**2 / 10], axis=-1)


def _pred(xyz_gt, xyz_pred):
    """predict_dataset's dict for poses [N, 21, 3] mm; the prediction's 2.5D pose is that of ``xyz_pred``."""
    n = len(xyz_gt)
    scale = np.linalg.norm(xyz_gt[:, 12] - xyz_gt[:, 0], axis=-1)

    def to_25d(xyz):
        p = xyz @ K.T
        return p[..., :2] / p[..., 2:], (xyz[..., 2] - xyz_gt[:, :1, 2]) / scale[:, None]

    (uv, z_rel), (uv_pred, z_pred) = to_25d(xyz_gt), to_25d(xyz_pred)
    return {"uv": uv, "z_rel": z_rel, "uv_pred": uv_pred, "z_pred": z_pred, "xyz": xyz_gt,
            "visible": np.ones((n, 21), bool), "crop_K": np.broadcast_to(K, (n, 3, 3)), "scale": scale,
            "root_depth": xyz_gt[:, 0, 2], "index": np.arange(n), "has_3d": np.ones(n, bool)}


def test_a_keypoint_outside_the_image_counts_by_default_and_not_in_image():
    # Two exact samples, but in sample 0 keypoint 8 (index tip, Z = 506.4 mm) is 2 px off in u: 506.4·2/200 =
    # 5.064 mm off in X, and it lies outside the image (visible False). Default, every keypoint: keypoint 8's
    # mean is 5.064/2, the others 0, so EPE = 2.532/21 mm and 2D EPE = (2/2)/21 px over 42 keypoints.
    # In-image only: keypoint 8 keeps its exact sample 1, so everything is 0 over 41 keypoints.
    gt = np.stack([HAND, HAND])
    pred = _pred(gt, gt)
    pred["uv_pred"][0, 8, 0] += 2.0
    pred["visible"][0, 8] = False
    result = protocol.evaluate_predictions(pred, in_image_visibility=True)
    assert result["scored_keypoints"] == "labelled" and result["num_scored_keypoints"] == 42
    assert result["epe_mean_mm"] == pytest.approx(2.532 / 21, abs=TOL)
    assert result["per_keypoint_epe_mm"][8] == pytest.approx(2.532, abs=TOL)
    assert result["epe2d_mean_px"] == pytest.approx(1 / 21, rel=1e-9)
    in_image = result["in_image"]
    assert in_image["num_scored_keypoints"] == 41
    assert in_image["epe_mean_mm"] == pytest.approx(0.0, abs=TOL)
    assert in_image["epe2d_mean_px"] == 0.0
    assert in_image["procrustes"]["epe_mean_mm"] == pytest.approx(0.0, abs=TOL)
    assert result["procrustes"]["epe_mean_mm"] > 1e-3  # the fit now sees the wrong keypoint too
    # A loader whose ``visible`` is the label itself (RHD, FreiHAND, COCO): the old mask, no in-image block.
    plain = protocol.evaluate_predictions(pred)
    assert plain["scored_keypoints"] == "visible" and "in_image" not in plain
    assert plain["epe_mean_mm"] == pytest.approx(0.0, abs=TOL)
    assert "42 labelled keypoints scored" in protocol.format_table(result)


def test_a_mirrored_prediction_scores_zero_under_freihand_alignment_only():
    # The prediction is the hand mirrored in X about its root, scaled by 1.5 about it and moved: one
    # reflection plus a similarity, which FreiHAND's align_w_scale undoes exactly and a rotation cannot.
    mirrored = (HAND - HAND[0]) * [-1.5, 1.5, 1.5] + HAND[0] + [4.0, -3.0, 20.0]
    gt = np.stack([HAND, HAND])
    pred = _pred(gt, np.stack([mirrored, HAND]))  # sample 1 is exact
    result = protocol.evaluate_predictions(pred)
    freihand = result["procrustes_freihand"]
    assert freihand["epe_mean_mm"] == pytest.approx(0.0, abs=TOL)
    assert freihand["num_reflections"] == 1
    assert freihand["fscore_5mm"] == pytest.approx(1.0) and freihand["fscore_15mm"] == pytest.approx(1.0)
    assert freihand["auc_0_50"] >= 1 - 1 / 198 - 1e-12  # float32 rounding may miss the 0 mm threshold only
    assert result["procrustes"]["epe_mean_mm"] > 1.0
    assert "align_w_scale" in freihand["alignment"] and "rotation (det +1)" in result["procrustes"]["alignment"]
    scalars = protocol.headline_scalars(result)
    assert scalars["freihand_pa_epe_mean_mm"] == freihand["epe_mean_mm"]
    assert "PA-MPJPE, FreiHAND align_w_scale (mm)" in protocol.format_table(result)


def test_freihand_block_uses_its_100_threshold_grid():
    # The residual of the Procrustes test file: gt on the X axis (−10, 0, 0), (0, 0, 0), (10, 0, 0) and the
    # middle point bent to (0, 6, 0) leave √3400/28 ≈ 2.08 mm at the ends and 100/28 ≈ 3.57 mm in the middle
    # after any fit (a reflection does not help a line). On 100 thresholds t_i = 50i/99, a keypoint with one
    # distance d has AUC (50 − t_j + 25/99) / 50, j the first index with t_j >= d: j = 5 for both
    # (2.08·99/50 = 4.12, 3.57·99/50 = 7.07 -> j = 8 for the middle). So AUC = (2·(50 − 250/99) + 50 − 400/99
    # + 3·25/99) / 150 ≈ 0.9444; the 20-threshold grid would give (2·48.68 + 46.05) / 150 ≈ 0.9561.
    gt = np.array([[[-10.0, 0.0, 0.0], [0.0, 0.0, 0.0], [10.0, 0.0, 0.0]]])
    pred = np.array([[[-10.0, 0.0, 0.0], [0.0, 6.0, 0.0], [10.0, 0.0, 0.0]]])
    freihand = protocol.freihand_aligned(pred, gt)
    end, middle = np.sqrt(3400.0) / 28.0, 100.0 / 28.0
    assert freihand["epe_mean_mm"] == pytest.approx((2 * end + middle) / 3, rel=1e-12)
    want = (2 * (50 - 250 / 99) + 50 - 400 / 99 + 3 * 25 / 99) / 150
    assert freihand["auc_0_50"] == pytest.approx(want, rel=1e-12)
