"""Tests for awh_tf.metrics: hand-computed EPE/PCK/AUC, visibility, streaming, input checks."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from awh_tf import metrics

# Hand table: 3 samples x 3 keypoints, root-relative 3D distances (mm); keypoint 0 is the root.
#   kp0: 0, 0, 0      mean 0,  median 0
#   kp1: 10, 20, 60   mean 30, median 20
#   kp2: 5, 5, 50     mean 20, median 5
# epe_mean = (0 + 30 + 20) / 3 = 50/3; epe_median = (0 + 20 + 5) / 3 = 25/3.
#
# AUC of one distance d on a uniform grid t_j = j*h, j = 0..J: PCK is 0 below the first t_j >= d
# (index j*) and 1 from there on, so the trapezoid area is (J - j*) h + h/2 (no h/2 when j* = 0),
# and d beyond the grid gives 0. A keypoint's AUC is the mean of its samples' AUCs.
# * 0-50 mm, h = 50/19, J = 19: j*(5) = 2, j*(10) = 4, j*(20) = 8, j*(50) = 19 (on the grid: counts).
#     kp0 = 1; kp1 = (15.5 + 11.5 + 0) / 19 / 3 = 27/57; kp2 = (17.5 + 17.5 + 0.5) / 19 / 3 = 35.5/57
#     auc_0_50 = (57 + 27 + 35.5) / 171 = 119.5/171.
# * 20-50 mm: indices 8..19, range 11h; j* <= 8 gives 1, else (19.5 - j*) / 11.
#     kp0 = 1; kp1 = (1 + 1 + 0) / 3 = 2/3; kp2 = (1 + 1 + 0.5/11) / 3 = 15/22
#     auc_20_50 = (1 + 2/3 + 15/22) / 3 = 155/198.
# * 0-30 mm, h = 1, J = 30: AUC(d) = (30.5 - d) / 30 for integer 1 <= d <= 30.
#     kp0 = 1; kp1 = (20.5 + 10.5 + 0) / 90 = 31/90; kp2 = (25.5 + 25.5 + 0) / 90 = 51/90
#     auc_0_30 = (90 + 31 + 51) / 270 = 172/270.
# PCK curve on the 20 thresholds, per keypoint (index j):
#     kp1 = 0 for j < 4, 1/3 for 4 <= j < 8, 2/3 from 8; kp2 = 0 for j < 2, 2/3 for 2 <= j < 19, 1 at 19.
TABLE_DISTANCES = np.array([[0.0, 10.0, 5.0], [0.0, 20.0, 5.0], [0.0, 60.0, 50.0]])
KP1_CURVE = np.array([0] * 4 + [1 / 3] * 4 + [2 / 3] * 12)
KP2_CURVE = np.array([0] * 2 + [2 / 3] * 17 + [1])
TABLE_PCK_CURVE = (1 + KP1_CURVE + KP2_CURVE) / 3


def _table_poses():
    """Poses whose root-relative distances are TABLE_DISTANCES; the prediction is translated per sample.

    Offsets lie along one axis (x, y or z, by keypoint) and translations are integers, so every
    distance is exact in float64 and the threshold boundaries are hit exactly.
    """
    gt = np.array([[[0.0, 0.0, 500.0], [30.0, -40.0, 510.0], [-20.0, 10.0, 490.0]]] * 3)
    offsets = np.zeros((3, 3, 3))
    offsets[:, 1, 0] = TABLE_DISTANCES[:, 1]  # kp1 along x
    offsets[:, 2, 2] = -TABLE_DISTANCES[:, 2]  # kp2 along -z
    translation = np.array([[7.0, -3.0, 11.0], [0.0, 0.0, 0.0], [-100.0, 25.0, 40.0]])
    pred = gt + offsets + translation[:, None, :]
    return pred, gt


def test_pck_curve_counts_equal_distances():
    curve = metrics.pck_curve([1.0, 2.0, 2.0, 4.0], [0.0, 1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(curve, [0.0, 0.25, 0.75, 0.75, 1.0])


def test_auc_of_step_curve():
    # Step at t = 2 on 0..4: area = 0 + 0.5 + 1 + 1 = 2.5 over range 4.
    assert metrics.auc(np.array([0.0, 0.0, 1.0, 1.0, 1.0]), np.arange(5.0)) == pytest.approx(2.5 / 4)


def test_evaluate_3d_hand_table():
    pred, gt = _table_poses()
    result = metrics.evaluate_3d(pred, gt)
    assert result["epe_mean_mm"] == pytest.approx(50 / 3)
    assert result["epe_median_mm"] == pytest.approx(25 / 3)
    assert result["auc_0_50"] == pytest.approx(119.5 / 171)
    assert result["auc_20_50"] == pytest.approx(155 / 198)
    assert result["auc_0_30"] == pytest.approx(172 / 270)
    np.testing.assert_allclose(result["pck_thresholds_mm"], np.linspace(0, 50, 20))
    np.testing.assert_allclose(result["pck_curve"], TABLE_PCK_CURVE)
    np.testing.assert_allclose(result["per_keypoint_epe_mm"], [0.0, 30.0, 20.0])


def test_evaluate_2d_hand_table():
    # Same distances in px, no root subtraction: kp0 has 2D error 0 by construction here.
    gt = np.zeros((3, 3, 2))
    pred = np.zeros((3, 3, 2))
    pred[:, 1, 0] = TABLE_DISTANCES[:, 1]
    pred[:, 2, 1] = -TABLE_DISTANCES[:, 2]
    result = metrics.evaluate_2d(pred, gt)
    assert result["epe_mean_px"] == pytest.approx(50 / 3)
    assert result["epe_median_px"] == pytest.approx(25 / 3)
    # 0-30 px, h = 30/19: j*(5) = 4 (4h = 6.32), j*(10) = 7 (7h = 11.05), j*(20) = 13 (13h = 20.53);
    # kp1 = (12.5 + 6.5 + 0) / 19 / 3 = 19/57; kp2 = (15.5 + 15.5 + 0) / 19 / 3 = 31/57.
    assert result["auc_0_30"] == pytest.approx((57 + 19 + 31) / 171)
    np.testing.assert_allclose(result["per_keypoint_epe_px"], [0.0, 30.0, 20.0])


def test_2d_has_no_root_subtraction():
    gt = np.zeros((1, 2, 2))
    pred = gt + [3.0, 4.0]  # global shift of 5 px: every keypoint is 5 px off
    assert metrics.evaluate_2d(pred, gt)["epe_mean_px"] == pytest.approx(5.0)


def test_invisible_and_never_visible_keypoints():
    pred, gt = _table_poses()
    # Add a keypoint 3 that is never visible and holds garbage; hide kp1's 60 mm sample.
    pred = np.concatenate([pred, np.full((3, 1, 3), np.nan)], axis=1)
    gt = np.concatenate([gt, np.full((3, 1, 3), 1e6)], axis=1)
    visible = np.ones((3, 4), bool)
    visible[:, 3] = False
    visible[2, 1] = False
    result = metrics.evaluate_3d(pred, gt, visible)
    # kp1 now 10, 20: mean = median = 15; kp3 is excluded from the averages.
    assert result["epe_mean_mm"] == pytest.approx((0 + 15 + 20) / 3)
    assert result["epe_median_mm"] == pytest.approx((0 + 15 + 5) / 3)
    # kp1 0-50: (15.5 + 11.5) / 19 / 2 = 27/38.
    assert result["auc_0_50"] == pytest.approx((1 + 27 / 38 + 35.5 / 57) / 3)
    per_kp = result["per_keypoint_epe_mm"]
    np.testing.assert_allclose(per_kp[:3], [0.0, 15.0, 20.0])
    assert np.isnan(per_kp[3])
    assert np.all(np.isfinite(result["pck_curve"]))


def test_threshold_boundary_counts_as_correct():
    # Root at 0 (d = 0) and one keypoint exactly at the second threshold (50/19 mm).
    t1 = metrics.PCK_THRESHOLDS_MM[1]
    gt = np.zeros((1, 2, 3))
    pred = np.array([[[0.0, 0.0, 0.0], [0.0, t1, 0.0]]])
    curve = metrics.evaluate_3d(pred, gt)["pck_curve"]
    np.testing.assert_array_equal(curve[:3], [0.5, 1.0, 1.0])
    # 2D: exactly on the fourth pixel threshold.
    t3 = metrics.PCK_THRESHOLDS_PX[3]
    curve_2d = metrics.evaluate_2d(np.array([[[t3, 0.0]]]), np.zeros((1, 1, 2)))["pck_curve"]
    np.testing.assert_array_equal(curve_2d[2:5], [0.0, 1.0, 1.0])


def test_global_translation_of_prediction_does_not_change_3d(rng):
    gt = rng.normal(0, 40, (6, 21, 3)) + [0, 0, 600]
    pred = gt + rng.normal(0, 8, gt.shape)
    shifted = pred + rng.normal(0, 200, (6, 1, 3))
    base, moved = metrics.evaluate_3d(pred, gt), metrics.evaluate_3d(shifted, gt)
    for key in ("epe_mean_mm", "epe_median_mm", "auc_0_50", "auc_20_50", "auc_0_30"):
        assert moved[key] == pytest.approx(base[key], rel=1e-9)
    assert base["per_keypoint_epe_mm"][0] == 0.0  # root-relative root error, counted in the mean


def test_single_pose_accepted():
    pred, gt = _table_poses()
    single = metrics.evaluate_3d(pred[0], gt[0], visible=[True, True, False])
    batched = metrics.evaluate_3d(pred[:1], gt[:1], visible=[[True, True, False]])
    assert single["epe_mean_mm"] == batched["epe_mean_mm"] == pytest.approx(5.0)  # (0 + 10 + -) / 2


def _evalutil_reference(distances, visible, thresholds):
    """A literal loop over keypoints as in hand3d's EvalUtil.get_measures (independent of metrics)."""
    means, medians, aucs, curves = [], [], [], []
    for k in range(distances.shape[1]):
        d = distances[visible[:, k], k]
        if d.size == 0:
            continue
        means.append(np.mean(d))
        medians.append(np.median(d))
        curve = np.array([np.mean(d <= t) for t in thresholds])
        curves.append(curve)
        aucs.append(np.trapezoid(curve, thresholds) / np.trapezoid(np.ones_like(thresholds), thresholds))
    return np.mean(means), np.mean(medians), np.mean(aucs), np.mean(curves, axis=0)


def test_matches_evalutil_loop_on_random_data(rng):
    gt = rng.normal(0, 40, (40, 21, 3))
    pred = gt + rng.normal(0, 12, gt.shape)
    visible = rng.random((40, 21)) > 0.2
    visible[:, 20] = False
    result = metrics.evaluate_3d(pred, gt, visible)
    distances = np.linalg.norm((pred - pred[:, :1]) - (gt - gt[:, :1]), axis=-1)
    mean, median, auc_50, curve = _evalutil_reference(distances, visible, np.linspace(0, 50, 20))
    assert result["epe_mean_mm"] == pytest.approx(mean)
    assert result["epe_median_mm"] == pytest.approx(median)
    assert result["auc_0_50"] == pytest.approx(auc_50)
    np.testing.assert_allclose(result["pck_curve"], curve)
    auc_30 = _evalutil_reference(distances, visible, np.linspace(0, 30, 31))[2]
    assert result["auc_0_30"] == pytest.approx(auc_30)
    tail = np.linspace(0, 50, 20)[8:]
    assert result["auc_20_50"] == pytest.approx(_evalutil_reference(distances, visible, tail)[2])


@pytest.mark.parametrize("mode", ["3d", "2d"])
def test_streaming_equals_single_call(rng, mode):
    dim, evaluate, evaluator = {
        "3d": (3, metrics.evaluate_3d, metrics.PoseEvaluator3D()),
        "2d": (2, metrics.evaluate_2d, metrics.PoseEvaluator2D()),
    }[mode]
    gt = rng.normal(0, 30, (23, 21, dim))
    pred = gt + rng.normal(0, 15, gt.shape)
    visible = rng.random((23, 21)) > 0.3
    visible[:, 7] = False  # one never-visible keypoint
    expected = evaluate(pred, gt, visible)
    evaluator.update(pred[:1], gt[:1], visible[:1])  # discarded by reset
    evaluator.reset()
    for start, stop in [(0, 5), (5, 6), (6, 17), (17, 23)]:
        evaluator.update(pred[start:stop], gt[start:stop], visible[start:stop])
    result = evaluator.result()
    assert result.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_array_equal(result[key], value, err_msg=key)


def test_bad_inputs_name_the_argument():
    good = np.zeros((2, 4, 3))
    with pytest.raises(ValueError, match="pred shape"):
        metrics.evaluate_3d(good, np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match=r"\[N, K, 3\]"):
        metrics.evaluate_3d(np.zeros((2, 4, 2)), np.zeros((2, 4, 2)))
    with pytest.raises(ValueError, match=r"\[N, K, 2\]"):
        metrics.evaluate_2d(good, good)
    with pytest.raises(ValueError, match="visible shape"):
        metrics.evaluate_3d(good, good, visible=np.ones((2, 5), bool))
    with pytest.raises(ValueError, match="no visible keypoint"):
        metrics.evaluate_3d(good, good, visible=np.zeros((2, 4), bool))


def test_non_finite_visible_value_names_sample():
    gt = np.zeros((4, 3, 2))
    pred = gt.copy()
    pred[2, 1] = np.nan
    with pytest.raises(ValueError, match="sample 2, keypoint 1"):
        metrics.evaluate_2d(pred, gt)
    evaluator = metrics.PoseEvaluator2D()
    evaluator.update(pred[:2], gt[:2])
    with pytest.raises(ValueError, match="sample 2, keypoint 1"):  # index counts earlier batches
        evaluator.update(pred[2:], gt[2:])
    with pytest.raises(ValueError, match="before any update"):
        metrics.PoseEvaluator3D().result()


def test_module_does_not_import_tensorflow():
    # A fresh interpreter: other tests in this process may already have imported TensorFlow.
    code = "import sys, awh_tf.metrics; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=pathlib.Path(__file__).parents[1])


# F-score cloud: gt A (0, 0, 0), B (10, 0, 0), C (20, 0, 0); pred p1 (1, 0, 0), p2 (10, 4, 0), p3 (0, 5, 0),
# p4 (100, 0, 0). Nearest gt of each pred point: p1 -> A at 1, p2 -> B at 4, p3 -> A at 5 (B at √125),
# p4 -> C at 80. Nearest pred of each gt point: A -> p1 at 1, B -> p2 at 4, C -> p2 at √116 ≈ 10.8.
# At 5 mm (strictly closer): precision 2/4 (p3 sits on the threshold), recall 2/3, F = (2/3) / (7/6) = 4/7.
# At 15 mm: precision 3/4, recall 3/3, F = 1.5 / 1.75 = 6/7. At 0.5 mm nothing matches: F = 0.
FSCORE_GT = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [20.0, 0.0, 0.0]])
FSCORE_PRED = np.array([[1.0, 0.0, 0.0], [10.0, 4.0, 0.0], [0.0, 5.0, 0.0], [100.0, 0.0, 0.0]])


def test_fscore_on_a_cloud_whose_distances_are_counted_by_hand():
    assert metrics.fscore(FSCORE_PRED, FSCORE_GT, 5.0) == pytest.approx(4 / 7)
    assert metrics.fscore(FSCORE_PRED, FSCORE_GT, 15.0) == pytest.approx(6 / 7)
    assert metrics.fscore(FSCORE_PRED, FSCORE_GT, 0.5) == 0.0
    batch = metrics.fscore(np.stack([FSCORE_PRED, FSCORE_PRED + [0.0, 0.0, 1000.0]]), np.stack([FSCORE_GT] * 2), 5.0)
    np.testing.assert_allclose(batch, [4 / 7, 0.0])
