"""Full image → every hand's pose: detect palms, predict in each hand box, re-crop on the keypoints, predict.

Works with any pose function ``pose_fn(image, box, right_hand) -> (uv [21, 2] image px, z_rel [21])`` —
the Keras network (``awh_tf.evaluation.predict_lib``) or a ``.tflite`` (``export/litert_infer.py``) — so
both clients share one path.

Why a second pass: the detector's box is a square derived from the palm (``hand_box``), looser than the
keypoint boxes the network was trained on, and centred on the palm rather than on the hand. Re-cropping on
the box of the first pass's keypoints, as MediaPipe's tracking re-crops on its landmarks, brings the crop
back to the training distribution (``refine_passes``; its effect is measured in ``docs/full_images.md``).

Two palm detections on one hand (weighted NMS merges only palm boxes overlapping by IoU > 0.3) end on the
same keypoints after the second pass; as MediaPipe's ``HandAssociationCalculator`` does with its hand
rectangles, a hand whose keypoint box overlaps a better-scored one's by IoU > ``SAME_HAND_IOU`` is dropped.
"""

import dataclasses

import numpy as np

from awh_tf.detection.hand_box import corners, keypoint_box
from awh_tf.detection.nms import iou

MIN_BOX_PX = 8.0
SAME_HAND_IOU = 0.5


@dataclasses.dataclass(frozen=True)
class HandPose:
    """One hand: ``uv`` [21, 2] image px, ``z_rel`` [21], ``box`` ``(x, y, w, h)`` px of the last crop,
    ``detection`` the :class:`~awh_tf.detection.palm_detector.PalmDetection` it came from (None when tracked)."""

    uv: np.ndarray
    z_rel: np.ndarray
    box: tuple
    detection: object = None


def clip_box(box, image_shape, min_size=MIN_BOX_PX):
    """``box`` ``(x, y, w, h)`` cut to the image (H, W, …), at least ``min_size`` px a side; None if it
    does not overlap the image."""
    h, w = image_shape[:2]
    x0, y0 = max(box[0], 0.0), max(box[1], 0.0)
    x1, y1 = min(box[0] + box[2], float(w)), min(box[1] + box[3], float(h))
    if x1 - x0 <= 0 or y1 - y0 <= 0:
        return None
    bw, bh = max(x1 - x0, min(min_size, w)), max(y1 - y0, min(min_size, h))
    x0, y0 = min(x0, w - bw), min(y0, h - bh)  # grown to min_size: keep inside
    return (float(x0), float(y0), float(bw), float(bh))


def pose_in_box(pose_fn, image, box, right_hand=False, refine_passes=1):
    """The pose in ``box``, then ``refine_passes`` times in the box of the last pose's keypoints.

    Returns:
      ``(uv, z_rel, box)`` of the last pass, or None when a box falls outside the image.
    """
    box = clip_box(box, image.shape)
    if box is None:
        return None
    uv, z_rel = pose_fn(image, box, right_hand)
    for _ in range(refine_passes):
        refined = clip_box(keypoint_box(uv), image.shape)
        if refined is None:
            break
        box = refined
        uv, z_rel = pose_fn(image, box, right_hand)
    return uv, z_rel, box


def detect_hands(detector, pose_fn, image, right_hand=False, refine_passes=1):
    """Every hand the detector finds in ``image`` [H, W, 3] uint8 RGB: a list of :class:`HandPose`, best first."""
    hands, boxes = [], []
    for detection in detector(image):  # best first
        found = pose_in_box(pose_fn, image, detection.hand_box, right_hand, refine_passes)
        if found is None:
            continue
        box = corners(keypoint_box(found[0]))
        if boxes and iou(box, np.array(boxes)).max() > SAME_HAND_IOU:
            continue
        boxes.append(box)
        hands.append(HandPose(uv=found[0], z_rel=found[1], box=found[2], detection=detection))
    return hands
