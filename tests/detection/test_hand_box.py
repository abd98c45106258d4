"""MediaPipe's hand rectangle from a palm detection, and the boxes the pose crops are made of."""

import math

import numpy as np
import pytest

from awh_tf.detection.hand_box import box_from_rect, corners, hand_rect, keypoint_box


def _palm(wrist, mcp):
    kps = np.zeros((7, 2))
    kps[0], kps[2] = wrist, mcp
    return kps


def test_upright_palm_shifts_towards_the_fingers():
    rect = hand_rect((100, 100, 140, 140), _palm((120, 140), (120, 100)))
    assert rect.rotation == pytest.approx(0.0)
    assert rect.centre == pytest.approx((120.0, 100.0))  # up by half the box height
    assert rect.side == pytest.approx(2.6 * 40)


def test_fingers_to_the_right_rotate_by_a_quarter_turn_and_shift_right():
    rect = hand_rect((100, 100, 140, 160), _palm((100, 130), (140, 130)))  # w 40, h 60
    assert rect.rotation == pytest.approx(math.pi / 2)
    assert rect.centre == pytest.approx((150.0, 130.0))  # right by half the (palm box) height
    assert rect.side == pytest.approx(2.6 * 60)  # square on the longer side


def test_fingers_down_rotate_by_half_a_turn():
    rect = hand_rect((0, 0, 40, 40), _palm((20, 0), (20, 40)))
    assert abs(rect.rotation) == pytest.approx(math.pi)
    assert rect.centre == pytest.approx((20.0, 40.0))


def test_box_from_rect_is_a_centred_square():
    rect = hand_rect((100, 100, 140, 140), _palm((120, 140), (120, 100)))
    x, y, w, h = box_from_rect(rect, box_scale=0.5)
    assert w == h == pytest.approx(52.0)
    assert (x + (w - 1) / 2, y + (h - 1) / 2) == pytest.approx(rect.centre)


def test_keypoint_box_and_corners():
    box = keypoint_box([[10, 20], [30, 25], [15, 60]])
    assert box == (10.0, 20.0, 21.0, 41.0)  # covers pixels 10..30 and 20..60
    np.testing.assert_allclose(corners(box), [10, 20, 31, 61])
