"""Palm detection → hand rectangle → the axis-aligned box a pose crop is made of.

MediaPipe's rectangle (``palm_detection_detection_to_roi.pbtxt``: ``DetectionsToRectsCalculator`` then
``RectTransformationCalculator``): centred on the palm box, rotated so that wrist → middle-finger MCP
points up (``rotation = π/2 − atan2(−Δv, Δu)``), shifted by −0.5 of the palm box's height along that
axis (towards the fingers), made square on its longer side and scaled by 2.6. It is the landmark
model's (rotated) input crop, margin included.

Our network takes an upright crop made like the training crops: the square of side
``max(w, h)·(1 + 2·crop_margin)`` around a box that stands for the hand's keypoint box. So the box
returned here is the square centred on MediaPipe's rectangle of side ``box_scale`` × the rectangle's
side (:data:`BOX_SCALE`, chosen from the measurement in ``docs/full_images.md``: the median ratio of
the keypoint box's longer side to the rectangle's side on procedural real-domain frames). It is looser
than a keypoint box for most poses; the second pass (``full_image``) re-crops on the predicted keypoints.

Angles in radians, image px.
"""

import dataclasses
import math

import numpy as np

from awh_tf.detection.decoding import MIDDLE_MCP, WRIST

RECT_SCALE = 2.6
RECT_SHIFT_Y = -0.5
BOX_SCALE = 0.86  # median keypoint-box side / rectangle side, demo test frames (docs/full_images.md)


@dataclasses.dataclass(frozen=True)
class HandRect:
    """A square hand rectangle: centre ``(u, v)`` px, side px, rotation rad (0 = fingers up)."""

    centre: tuple
    side: float
    rotation: float


def hand_rect(palm_box, palm_keypoints, scale=RECT_SCALE, shift_y=RECT_SHIFT_Y):
    """MediaPipe's hand rectangle (module docstring).

    Args:
      palm_box: ``(xmin, ymin, xmax, ymax)`` px.  palm_keypoints: ``[7, 2]`` px.
    """
    xmin, ymin, xmax, ymax = (float(v) for v in palm_box)
    w, h = xmax - xmin, ymax - ymin
    du, dv = np.asarray(palm_keypoints[MIDDLE_MCP], float) - np.asarray(palm_keypoints[WRIST], float)
    rotation = _wrap(math.pi / 2.0 - math.atan2(-dv, du))
    # The shift is along the rectangle's own (rotated) y axis, scaled by the box height.
    cu = (xmin + xmax) / 2.0 - h * shift_y * math.sin(rotation)
    cv = (ymin + ymax) / 2.0 + h * shift_y * math.cos(rotation)
    return HandRect(centre=(cu, cv), side=max(w, h) * scale, rotation=rotation)


def box_from_rect(rect, box_scale=BOX_SCALE):
    """The upright square ``(x, y, w, h)`` px of side ``box_scale · rect.side`` centred on ``rect``."""
    side = box_scale * rect.side
    return (rect.centre[0] - (side - 1.0) / 2.0, rect.centre[1] - (side - 1.0) / 2.0, side, side)


def keypoint_box(uv):
    """The bounding box ``(x, y, w, h)`` px of keypoints ``[K, 2]`` (what training crops are made of)."""
    uv = np.asarray(uv, np.float64)
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    return (float(lo[0]), float(lo[1]), float(hi[0] - lo[0] + 1.0), float(hi[1] - lo[1] + 1.0))


def corners(box):
    """``(x, y, w, h)`` → ``(xmin, ymin, xmax, ymax)`` with the max the box's last pixel + 1."""
    x, y, w, h = box
    return np.array([x, y, x + w, y + h], np.float64)


def _wrap(angle):
    return angle - 2.0 * math.pi * math.floor((angle + math.pi) / (2.0 * math.pi))
