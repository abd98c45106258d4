"""Decoding raw palm-model outputs and the letterbox, on synthetic inputs with known answers."""

import numpy as np
import pytest

from awh_tf.detection.anchors import ssd_anchors
from awh_tf.detection.decoding import DecodeOptions, decode, letterbox


def _raw_for(anchor, centre, size, keypoints, scale=192.0):
    """The regressors that decode to a box (centre, size) and keypoints [7, 2] (normalised) at ``anchor``."""
    ax, ay = anchor[:2]
    box = [(centre[0] - ax) * scale, (centre[1] - ay) * scale, size[0] * scale, size[1] * scale]
    return np.concatenate([box, ((np.asarray(keypoints) - [ax, ay]) * scale).ravel()])


def test_decode_recovers_a_known_box_keypoints_and_sigmoid_score():
    anchors = ssd_anchors()
    raw = np.zeros((2016, 18))
    logits = np.full(2016, -5.0)  # sigmoid(-5) = 0.0067: dropped
    kps = np.linspace(0.3, 0.6, 14).reshape(7, 2)
    raw[1300] = _raw_for(anchors[1300], (0.40, 0.55), (0.2, 0.1), kps)
    logits[1300] = 2.0
    raw[7] = _raw_for(anchors[7], (0.1, 0.1), (0.05, 0.05), kps)
    logits[7] = 1000.0  # clipped to 100: score 1
    boxes, points, scores = decode(raw, logits[:, None], anchors)
    assert len(boxes) == 2  # anchor order kept
    np.testing.assert_allclose(boxes[1], [0.30, 0.50, 0.50, 0.60], atol=1e-9)
    np.testing.assert_allclose(points[1], kps, atol=1e-9)
    np.testing.assert_allclose(scores, [1.0, 1.0 / (1.0 + np.exp(-2.0))])
    np.testing.assert_allclose(boxes[0], [0.075, 0.075, 0.125, 0.125], atol=1e-9)


def test_min_score_is_inclusive_and_configurable():
    anchors = ssd_anchors()[:3]
    raw = np.zeros((3, 18))
    boxes, _, scores = decode(raw, np.array([0.0, -0.1, 0.1]), anchors)
    np.testing.assert_allclose(scores, [0.5, 1.0 / (1.0 + np.exp(-0.1))])  # sigmoid(0) = 0.5 is kept
    _, _, scores = decode(raw, np.array([0.0, -0.1, 0.1]), anchors, DecodeOptions(min_score=0.0))
    assert len(scores) == 3


def test_letterbox_centres_the_image_and_maps_back_to_image_px():
    image = np.full((480, 640, 3), 255, np.uint8)
    tensor, to_image = letterbox(image, 192)
    assert tensor.shape == (1, 192, 192, 3) and tensor.dtype == np.float32
    # 640 -> 192: scale 0.3; 480 -> 144 rows, 24 black rows above and below.
    assert tensor[0, :23].max() == 0.0 and tensor[0, -23:].max() == 0.0
    assert tensor[0, 26:166].min() == pytest.approx(1.0)
    np.testing.assert_allclose(to_image([[0.5, 0.5]]), [[319.5, 239.5]])
    np.testing.assert_allclose(to_image([[0.0, 0.125]]), [[-0.5, -0.5]])  # the image's top-left edge
    np.testing.assert_allclose(to_image([[1.0, 0.875]]), [[639.5, 479.5]])


def test_letterbox_of_a_tall_image_pads_the_sides():
    tensor, to_image = letterbox(np.full((200, 100, 3), 255, np.uint8), 192)
    assert tensor[0, :, :47].max() == 0.0 and tensor[0, :, 50:142].min() == pytest.approx(1.0)
    np.testing.assert_allclose(to_image([[0.25, 0.0]]), [[-0.5, -0.5]])
