"""Finding hands in full images: MediaPipe's palm detector, tracking across frames, temporal smoothing.

numpy, OpenCV and ``ai_edge_litert`` only — no TensorFlow and nothing else of ``awh_tf`` — so the
standalone LiteRT client (``export/litert_infer.py``) runs the same full-image path on a device.

* ``fetch``: installs the palm model (``python -m awh_tf.detection.fetch``) and finds it, SHA-256 checked.
* ``anchors`` / ``decoding`` / ``nms``: the SSD post-processing MediaPipe does in C++ calculators.
* ``hand_box``: palm detection → MediaPipe's hand rectangle → the axis-aligned box the pose crop is made of.
* ``palm_detector``: ``PalmDetector`` (image → ``PalmDetection`` list).
* ``full_image``: detect → pose → re-crop on the pose's keypoints → pose, for any pose function.
* ``one_euro`` / ``tracker``: video — boxes from the last frame's keypoints, re-detection, One-Euro smoothing.

Coordinates: image px, pixel centres at integer coordinates, u right, v down. Boxes ``(x, y, w, h)``
cover pixels ``x .. x + w − 1`` (``awh_tf.evaluation.predict_lib``'s convention).
"""
