"""Pose losses (Eq. 8, 10): hand-computed values, visibility masking, the documented normalisation."""

import numpy as np
import pytest

from awh_tf.losses import INTERMEDIATE_TERMS, loss_25d, loss_2d, loss_depth_reg, loss_first_stack

# Two samples, three keypoints. Per-keypoint |du| + |dv| (px):
#   sample 0: (1+2, 0+0, 3+1) = (3, 0, 4);   sample 1: (0+0, 2+2, 1+0) = (0, 4, 1)
UV_GT = np.zeros((2, 3, 2), np.float32)
UV_PRED = np.array([[[1, -2], [0, 0], [3, 1]],
                    [[0, 0], [-2, 2], [1, 0]]], np.float32)
# |dz| per keypoint: sample 0: (0.5, 1, 0); sample 1: (2, 0, 0.25)
Z_GT = np.zeros((2, 3), np.float32)
Z_PRED = np.array([[0.5, -1, 0], [2, 0, -0.25]], np.float32)
VISIBLE = np.array([[True, False, True], [True, True, False]])


def test_loss_2d_all_visible_is_the_mean_per_keypoint_l1():
    assert float(loss_2d(UV_PRED, UV_GT)) == pytest.approx((3 + 0 + 4 + 0 + 4 + 1) / 6)


def test_loss_2d_masks_hidden_keypoints():
    # visible errors: 3, 4 (sample 0) and 0, 4 (sample 1) over 4 visible keypoints.
    assert float(loss_2d(UV_PRED, UV_GT, VISIBLE)) == pytest.approx(11 / 4)
    assert float(loss_2d(UV_PRED, UV_GT, np.zeros((2, 3)))) == 0.0


def test_loss_25d_adds_lambda_z_times_depth_error():
    # visible: 3 + 0.5λ, 4 + 0, 0 + 2λ, 4 + 0  with λ = 2 -> (3 + 1 + 4 + 0 + 4 + 4) / 4 = 4
    value = loss_25d(UV_PRED, UV_GT, Z_PRED, Z_GT, VISIBLE, lambda_z=2.0)
    assert float(value) == pytest.approx(4.0)
    assert float(loss_25d(UV_PRED, UV_GT, Z_PRED, Z_GT, VISIBLE, lambda_z=0.0)) == pytest.approx(11 / 4)


def test_loss_depth_reg_is_the_mean_absolute_difference():
    pred = np.array([[[0.0, 1.0], [0.5, 0.5]]], np.float32)
    target = np.array([[[1.0, 1.0], [0.0, 0.25]]], np.float32)
    assert float(loss_depth_reg(pred, target)) == pytest.approx((1 + 0 + 0.5 + 0.25) / 4)


def test_loss_depth_reg_weights_count_only_the_chosen_samples():
    # Sample 0 errs by 1 everywhere, sample 1 by 0.5: only sample 1 may be supervised -> 0.5.
    pred = np.zeros((2, 2, 2), np.float32)
    target = np.stack([np.ones((2, 2)), np.full((2, 2), 0.5)]).astype(np.float32)
    assert float(loss_depth_reg(pred, target, np.array([False, True]))) == pytest.approx(0.5)
    assert float(loss_depth_reg(pred, target, np.array([True, True]))) == pytest.approx(0.75)
    assert float(loss_depth_reg(pred, target, np.array([False, False]))) == 0.0


def test_first_stack_terms_select_domains():
    is_source = np.array([True, False])
    # Sample 0 is source, sample 1 target; visible errors as above.
    r2d = (3 + 4) / 2
    r3d = (0.5 + 0) / 2
    s2d = (0 + 4) / 2
    args = (UV_PRED, UV_GT, Z_PRED, Z_GT, VISIBLE, is_source)
    assert float(loss_first_stack((), *args)) == 0.0
    assert float(loss_first_stack(("R2D",), *args)) == pytest.approx(r2d)
    assert float(loss_first_stack(("R3D",), *args, lambda_z=3.0)) == pytest.approx(3 * r3d)
    assert float(loss_first_stack(("S2D",), *args)) == pytest.approx(s2d)
    assert float(loss_first_stack(INTERMEDIATE_TERMS, *args)) == pytest.approx(r2d + r3d + s2d)


def test_first_stack_rejects_unknown_terms():
    with pytest.raises(ValueError, match="R4D"):
        loss_first_stack(("R4D",), UV_PRED, UV_GT, Z_PRED, Z_GT, VISIBLE, np.array([True, False]))
