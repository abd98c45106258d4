"""The real palm model through LiteRT: our decoding finds the hand in procedural real-domain frames."""

import numpy as np
import pytest

from awh_tf.detection.hand_box import corners, keypoint_box
from awh_tf.detection.palm_detector import PalmDetector


@pytest.mark.parametrize("variant", ["full", "lite"])
def test_the_palm_model_finds_the_procedural_hand(variant, installed_detector_dir, real_test_frames):
    detector = PalmDetector(variant, installed_detector_dir, max_hands=2, num_threads=1)
    assert detector.input_size == 192 and len(detector.anchors) == 2016
    hits = 0
    for sample in real_test_frames:
        found = detector(sample["image"])
        assert len(found) <= 2 and all(0.5 <= d.score <= 1.0 for d in found)
        assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)
        x0, y0, x1, y1 = corners(keypoint_box(sample["uv"][sample["visible"]]))
        palm = np.array(found[0].palm_box) if found else np.zeros(4)
        u, v = (palm[0] + palm[2]) / 2, (palm[1] + palm[3]) / 2
        hits += bool(found) and x0 <= u <= x1 and y0 <= v <= y1  # the best palm lies on the hand
    # These 8 frames (seed 0) have large hands, which the palm model finds less often than the demo data's:
    # the full model finds 4 of them here, the lite one 3 (on the demo data ~70% of frames, docs/full_images.md).
    assert hits >= 2, f"{variant}: the hand found in {hits} of {len(real_test_frames)} frames"


def test_an_empty_image_has_no_palm(installed_detector_dir):
    detector = PalmDetector("full", installed_detector_dir, num_threads=1)
    assert detector(np.zeros((480, 640, 3), np.uint8)) == []
