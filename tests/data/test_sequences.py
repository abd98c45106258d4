"""Procedural clips for tracking: the true keypoints move with the frame, the noise is fresh each frame."""

import cv2
import numpy as np
import pytest

from awh_tf.data.procedural.sequences import moving_frames


def _frame():
    image = np.zeros((120, 160, 3), np.uint8)
    cv2.circle(image, (60, 50), 6, (255, 255, 255), -1)
    uv = np.tile([[60.0, 50.0]], (21, 1))
    uv[1] = [70.0, 60.0]
    return image, uv


def test_static_clip_keeps_the_keypoints_and_changes_only_the_noise():
    image, uv = _frame()
    video, truth = moving_frames(image, uv, frames=3, motion="static", noise=3.0)
    assert video.shape == (3, 120, 160, 3) and video.dtype == np.uint8
    np.testing.assert_allclose(truth, np.broadcast_to(uv, (3, 21, 2)))
    assert not np.array_equal(video[0], video[1])
    assert np.abs(video[0].astype(float) - image).mean() < 4.0


def test_slow_clip_moves_the_keypoints_with_the_image():
    image, uv = _frame()
    video, truth = moving_frames(image, uv, frames=4, motion="slow", drift_px=2.0, turn_deg=0.0, noise=0.0)
    np.testing.assert_allclose(truth[3] - truth[0], np.broadcast_to([6.0, 3.0], (21, 2)), atol=1e-9)
    ys, xs = np.nonzero(video[3][..., 0] > 128)
    assert (xs.mean(), ys.mean()) == pytest.approx((66.0, 53.0), abs=0.3)  # the disc moved like the labels
    with pytest.raises(ValueError, match="motion"):
        moving_frames(image, uv, motion="fast")
