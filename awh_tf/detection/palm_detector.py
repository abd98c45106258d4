"""``PalmDetector``: MediaPipe's palm model through LiteRT, with the post-processing of its graph in numpy.

image → letterbox to 192×192 → model → decode against the SSD anchors → weighted NMS → back to image px →
MediaPipe's hand rectangle → the upright hand box our pose crop is made of (``hand_box``).

Left or right: the palm model has no handedness output (MediaPipe takes handedness from its landmark
model), and the palm's outline cannot tell it either — a left palm seen from the front and a right hand
seen from the back are mirror images. So the detector says where hands are, not which; the caller says
which (``predict --hand``; left by default, like STB).
"""

import dataclasses

import numpy as np

from awh_tf.detection import fetch
from awh_tf.detection.anchors import PALM_ANCHORS, ssd_anchors
from awh_tf.detection.decoding import PALM_DECODING, decode, letterbox
from awh_tf.detection.hand_box import BOX_SCALE, box_from_rect, hand_rect
from awh_tf.detection.nms import weighted_nms

NMS_IOU = 0.3


@dataclasses.dataclass(frozen=True)
class PalmDetection:
    """One palm in image px.

    ``score`` in (0, 1); ``palm_box`` ``(xmin, ymin, xmax, ymax)`` (edges; its centre is the palm's); ``palm_keypoints`` ``[7, 2]``;
    ``rect`` MediaPipe's rotated hand rectangle; ``hand_box`` ``(x, y, w, h)`` the upright box for the pose crop.
    """

    score: float
    palm_box: tuple
    palm_keypoints: np.ndarray
    rect: object
    hand_box: tuple


class PalmDetector:
    """Finds palms in RGB images.

    Args:
      variant: ``full`` (MediaPipe's default) or ``lite``.  model_dir: where ``fetch`` installed them.
      min_score: detections scoring below are dropped (MediaPipe: 0.5).  max_hands: keep the best this many.
      box_scale: hand box side over the hand rectangle's (``hand_box.BOX_SCALE``).  num_threads: LiteRT's.
    Raises:
      fetch.DetectorNotInstalled: no model file (the message names the install step).
    """

    def __init__(self, variant="full", model_dir=None, min_score=0.5, max_hands=2, box_scale=BOX_SCALE,
                 num_threads=2):
        from ai_edge_litert.interpreter import Interpreter

        self.path = fetch.model_path(variant, model_dir)
        self.min_score, self.max_hands, self.box_scale = float(min_score), int(max_hands), float(box_scale)
        self.interpreter = Interpreter(model_path=self.path, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]["index"]
        outputs = sorted(self.interpreter.get_output_details(), key=lambda d: -int(d["shape"][-1]))
        self._boxes, self._scores = outputs[0]["index"], outputs[1]["index"]  # [1, N, 18], [1, N, 1]
        self.input_size = int(self.interpreter.get_input_details()[0]["shape"][1])
        self.anchors = ssd_anchors(PALM_ANCHORS)

    def raw(self, tensor):
        """The model on a letterboxed ``[1, S, S, 3]`` float32: ``(raw_boxes [N, 18], logits [N])``."""
        self.interpreter.set_tensor(self._input, np.ascontiguousarray(tensor, np.float32))
        self.interpreter.invoke()
        return (self.interpreter.get_tensor(self._boxes)[0],
                self.interpreter.get_tensor(self._scores)[0, :, 0])

    def __call__(self, image):
        """``image`` [H, W, 3] uint8 RGB → list of :class:`PalmDetection`, best first, at most ``max_hands``."""
        tensor, to_image = letterbox(image, self.input_size)
        raw_boxes, logits = self.raw(tensor)
        options = dataclasses.replace(PALM_DECODING, min_score=self.min_score)
        boxes, points, scores = decode(raw_boxes, logits, self.anchors, options)
        boxes, points, scores = weighted_nms(boxes, points, scores, NMS_IOU, self.max_hands)
        found = []
        for box, kps, score in zip(boxes, points, scores):
            lo, hi = to_image(box[:2]), to_image(box[2:])
            palm_box = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
            kps_px = to_image(kps)
            rect = hand_rect(palm_box, kps_px)
            found.append(PalmDetection(score=float(score), palm_box=palm_box, palm_keypoints=kps_px, rect=rect,
                                       hand_box=box_from_rect(rect, self.box_scale)))
        return found
