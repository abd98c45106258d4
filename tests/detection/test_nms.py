"""Weighted non-maximum suppression on boxes whose merged result is worked out by hand."""

import numpy as np
import pytest

from awh_tf.detection.nms import iou, weighted_nms


def test_iou_by_hand():
    np.testing.assert_allclose(iou(np.array([0, 0, 10, 10.0]), [[1, 0, 11, 10], [5, 5, 15, 15], [20, 20, 30, 30],
                                                                  [3, 3, 3, 3]]),
                               [90 / 110, 25 / 175, 0.0, 0.0])


def test_overlapping_boxes_merge_by_score_weights_and_keep_the_top_score():
    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [1, 0, 11, 10]], float)
    kps = np.array([[[0, 0]], [[5, 5]], [[3, 0]]], float)
    scores = np.array([0.9, 0.8, 0.6])
    out_boxes, out_kps, out_scores = weighted_nms(boxes, kps, scores, iou_threshold=0.3)
    # A (0.9) and C (0.6) overlap at IoU 0.82: weights 0.6 and 0.4.
    np.testing.assert_allclose(out_boxes, [[0.4, 0, 10.4, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(out_kps, [[[1.2, 0]], [[5, 5]]])
    np.testing.assert_allclose(out_scores, [0.9, 0.8])


def test_threshold_is_strict_and_max_detections_stops_early():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], float)  # IoU exactly 50 / 150
    kps = np.zeros((2, 7, 2))
    _, _, scores = weighted_nms(boxes, kps, np.array([0.7, 0.9]), iou_threshold=1 / 3)
    np.testing.assert_allclose(scores, [0.9, 0.7])  # not merged; best first
    out_boxes, out_kps, scores = weighted_nms(boxes, kps, np.array([0.7, 0.9]), 1 / 3, max_detections=1)
    np.testing.assert_allclose(out_boxes, [[5, 0, 15, 10]])
    assert out_kps.shape == (1, 7, 2)


def test_empty_input():
    boxes, kps, scores = weighted_nms(np.zeros((0, 4)), np.zeros((0, 7, 2)), np.zeros(0))
    assert boxes.shape == (0, 4) and kps.shape == (0, 7, 2) and scores.shape == (0,)


@pytest.mark.parametrize("n", [1, 5])
def test_identical_boxes_collapse_to_one(n):
    boxes = np.tile([[2.0, 3.0, 8.0, 9.0]], (n, 1))
    out, _, scores = weighted_nms(boxes, np.zeros((n, 7, 2)), np.linspace(0.9, 0.5, n))
    np.testing.assert_allclose(out, boxes[:1])
    assert scores.tolist() == [0.9]
