"""Raw palm-model tensors → scored boxes and keypoints (``TensorsToDetectionsCalculator`` semantics).

The model outputs, per anchor, 18 regressors and one logit. With ``reverse_output_order`` the box is
``(x_centre, y_centre, w, h)``, then 7 keypoints ``(x, y)``; all are in input px relative to the anchor:
``x = raw_x / 192 · anchor_w + anchor_x`` (likewise y), ``w = raw_w / 192 · anchor_w``. Scores are
``sigmoid(clip(logit, −100, 100))``; anchors under ``min_score`` (0.5) are dropped before suppression.

The input is the image letterboxed to 192×192 (aspect kept, centred, black borders; MediaPipe's
``ImageToTensorCalculator`` with ``keep_aspect_ratio``), float RGB in [0, 1]. :func:`letterbox` makes it and
returns the map back to image px; MediaPipe's normalised coordinates are continuous (0 = the left edge of
the first pixel), hence the half-pixel terms.

Legend: N anchors, P = 7 palm keypoints (0 the wrist centre and 2 the middle finger's MCP, the two
MediaPipe orients the hand by; the others lie on the palm and thumb), S = 192 the model's input size.
"""

import dataclasses

import cv2
import numpy as np

NUM_PALM_KEYPOINTS = 7
WRIST, MIDDLE_MCP = 0, 2  # the palm keypoints MediaPipe's hand rectangle is oriented by


@dataclasses.dataclass(frozen=True)
class DecodeOptions:
    """``TensorsToDetectionsCalculatorOptions`` of ``palm_detection_cpu.pbtxt``."""

    scale: float = 192.0  # x_scale = y_scale = w_scale = h_scale
    num_keypoints: int = NUM_PALM_KEYPOINTS
    score_clipping: float = 100.0
    min_score: float = 0.5


PALM_DECODING = DecodeOptions()


def decode(raw_boxes, raw_scores, anchors, options=PALM_DECODING):
    """Decodes every anchor and keeps those scoring at least ``options.min_score``.

    Args:
      raw_boxes: ``[N, 4 + 2P]`` the model's regressors.  raw_scores: ``[N]`` or ``[N, 1]`` logits.
      anchors: ``[N, 4]`` from :func:`awh_tf.detection.anchors.ssd_anchors`.
    Returns:
      ``(boxes [M, 4] (xmin, ymin, xmax, ymax), keypoints [M, P, 2] (x, y), scores [M])``, normalised
      letterboxed-input units, M the anchors kept, in anchor order.
    """
    raw_boxes = np.asarray(raw_boxes, np.float64)
    logits = np.clip(np.asarray(raw_scores, np.float64).reshape(-1), -options.score_clipping,
                     options.score_clipping)
    scores = 1.0 / (1.0 + np.exp(-logits))
    keep = scores >= options.min_score
    raw, anchors = raw_boxes[keep], np.asarray(anchors, np.float64)[keep]
    a_xy, a_wh = anchors[:, None, :2], anchors[:, None, 2:]
    centre = raw[:, None, 0:2] / options.scale * a_wh + a_xy  # [M, 1, 2]
    size = raw[:, None, 2:4] / options.scale * a_wh
    boxes = np.concatenate([centre - size / 2.0, centre + size / 2.0], axis=1).reshape(-1, 4)
    points = raw[:, 4:4 + 2 * options.num_keypoints].reshape(-1, options.num_keypoints, 2)
    keypoints = points / options.scale * a_wh + a_xy
    return boxes, keypoints, scores[keep]


def letterbox(image, size=192):
    """``image`` [H, W, 3] uint8 RGB → ``(tensor [1, size, size, 3] float32 in [0, 1], to_image)``.

    ``to_image(xy)`` maps normalised letterboxed coordinates ``[..., 2]`` to image px (pixel centres at
    integers); lengths scale by ``max(H, W)``.
    """
    h, w = image.shape[:2]
    side = float(max(h, w))
    s = size / side
    # image px → tensor px, both with pixel centres at integers: the image's centre to the tensor's.
    A = np.array([[s, 0.0, (size - 1) / 2.0 - s * (w - 1) / 2.0],
                  [0.0, s, (size - 1) / 2.0 - s * (h - 1) / 2.0]])
    tensor = cv2.warpAffine(image, A, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=0)
    offset = np.array([(w - 1) / 2.0, (h - 1) / 2.0])

    def to_image(xy):
        return (np.asarray(xy, np.float64) - 0.5) * side + offset

    return (tensor.astype(np.float32) / 255.0)[None], to_image
