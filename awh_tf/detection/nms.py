"""Weighted non-maximum suppression (MediaPipe's ``NonMaxSuppressionCalculator``, ``WEIGHTED``).

Repeatedly take the highest-scoring remaining detection; every remaining detection whose IoU with it
exceeds ``iou_threshold`` (0.3 in the palm graph), itself included, is merged into one: box and keypoints
are the score-weighted means of the group's, the score is the top one's. This averages the many
overlapping anchors that fire on one palm instead of keeping only one of them (less jitter).

Boxes ``[N, 4]`` are ``(xmin, ymin, xmax, ymax)`` in any one unit.
"""

import numpy as np


def iou(box, boxes):
    """IoU ``[N]`` of one box ``[4]`` with each of ``boxes`` ``[N, 4]`` (0 where the union is empty)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=1)
    area = lambda b: np.prod(np.clip(b[..., 2:] - b[..., :2], 0.0, None), axis=-1)  # noqa: E731
    union = area(np.asarray(box, np.float64)) + area(boxes) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def weighted_nms(boxes, keypoints, scores, iou_threshold=0.3, max_detections=None):
    """Merges overlapping detections (module docstring).

    Args:
      boxes: ``[N, 4]``.  keypoints: ``[N, P, 2]``.  scores: ``[N]``.
      iou_threshold: merge when IoU > this.  max_detections: stop after this many (None: all).
    Returns:
      ``(boxes [M, 4], keypoints [M, P, 2], scores [M])``, best first.
    """
    boxes = np.asarray(boxes, np.float64)
    keypoints = np.asarray(keypoints, np.float64)
    scores = np.asarray(scores, np.float64)
    remaining = np.argsort(-scores, kind="stable")
    out_boxes, out_points, out_scores = [], [], []
    while remaining.size and (max_detections is None or len(out_scores) < max_detections):
        top = remaining[0]
        group = iou(boxes[top], boxes[remaining]) > iou_threshold
        group[0] = True  # a degenerate (empty) top box still stands for itself
        members, remaining = remaining[group], remaining[~group]
        weights = scores[members] / scores[members].sum()
        out_boxes.append(weights @ boxes[members])
        out_points.append(np.tensordot(weights, keypoints[members], axes=1))
        out_scores.append(scores[top])
    p = keypoints.shape[1] if keypoints.ndim == 3 else 0
    return (np.array(out_boxes).reshape(-1, 4), np.array(out_points).reshape(-1, p, 2),
            np.array(out_scores))
