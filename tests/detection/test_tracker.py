"""Tracking logic with a scripted detector and pose function: ids, re-detection, losses, smoothing."""

import numpy as np
import pytest

from awh_tf.detection.full_image import clip_box, pose_in_box
from awh_tf.detection.hand_box import keypoint_box
from awh_tf.detection.one_euro import OneEuroParams
from awh_tf.detection.tracker import HandTracker, TrackerOptions, track_score

SHAPE = np.array([[0, 0], [40, 0], [0, 60], [40, 60]] + [[20, 30]] * 17, float)  # a 41 x 61 px "hand"
IMAGE = np.zeros((480, 640, 3), np.uint8)


class Scene:
    """Hands at known places: the detector finds those listed for the frame; the pose function returns a
    hand's keypoints when the box overlaps it and collapsed keypoints (no hand) otherwise."""

    def __init__(self):
        self.hands, self.detectable, self.calls = [], True, 0

    def detector(self, image):
        self.calls += 1
        if not self.detectable:
            return []
        return [_Detection(0.9 - 0.1 * i, (x - 10, y - 10, 61, 81)) for i, (x, y) in enumerate(self.hands)]

    def pose_fn(self, image, box, right_hand):
        for x, y in self.hands:
            if box[0] < x + 40 and x < box[0] + box[2] and box[1] < y + 60 and y < box[1] + box[3]:
                return SHAPE + [x, y], np.linspace(0, 1, 21)
        centre = np.array([box[0] + box[2] / 2, box[1] + box[3] / 2])
        return centre + 0.01 * SHAPE, np.zeros(21)


class _Detection:
    def __init__(self, score, hand_box):
        self.score, self.hand_box = score, hand_box


def _run(scene, tracker, frames, move=(0, 0)):
    out = []
    for i in range(frames):
        scene.hands = [(x + move[0], y + move[1]) for x, y in scene.hands] if i else scene.hands
        out.append(tracker(IMAGE, i / 30.0))
    return out


def test_one_detection_then_tracking_keeps_the_id():
    scene = Scene()
    scene.hands = [(100, 100)]
    tracker = HandTracker(scene.detector, scene.pose_fn, options=TrackerOptions(redetect_every=0))
    frames = _run(scene, tracker, 6, move=(3, 2))
    assert scene.calls == 1 and tracker.detections_run == 1
    assert [h.track_id for f in frames for h in f] == [0] * 6
    assert frames[0][0].detected and not frames[1][0].detected
    assert frames[-1][0].raw_uv[0].tolist() == [115.0, 110.0]
    assert frames[3][0].track_score == pytest.approx(1.0)


def test_redetect_every_n_frames_matches_the_same_track():
    scene = Scene()
    scene.hands = [(100, 100)]
    tracker = HandTracker(scene.detector, scene.pose_fn, options=TrackerOptions(redetect_every=3))
    frames = _run(scene, tracker, 7, move=(1, 0))
    assert scene.calls == 3  # frames 0, 3, 6
    assert {h.track_id for f in frames for h in f} == {0}
    assert [f[0].detected for f in frames] == [True, False, False, True, False, False, True]


def test_a_lost_track_triggers_detection_and_a_far_hand_gets_a_new_id():
    scene = Scene()
    scene.hands = [(100, 100)]
    tracker = HandTracker(scene.detector, scene.pose_fn, options=TrackerOptions(redetect_every=0))
    tracker(IMAGE, 0.0)
    scene.hands = [(400, 300)]  # jumps: the old crop sees no hand, its keypoints collapse
    hands = tracker(IMAGE, 1 / 30)
    assert scene.calls == 2 and [h.track_id for h in hands] == [1] and hands[0].detected


def test_a_missed_redetection_keeps_a_good_track_and_drops_a_lost_one():
    scene = Scene()
    scene.hands = [(100, 100)]
    tracker = HandTracker(scene.detector, scene.pose_fn, options=TrackerOptions(redetect_every=1))
    tracker(IMAGE, 0.0)
    scene.detectable = False
    hands = tracker(IMAGE, 1 / 30)
    assert [h.track_id for h in hands] == [0] and not hands[0].detected
    scene.hands = []
    assert tracker(IMAGE, 2 / 30) == []


def test_two_hands_keep_their_ids_and_max_hands_caps_them():
    scene = Scene()
    scene.hands = [(100, 100), (400, 100)]
    tracker = HandTracker(scene.detector, scene.pose_fn, options=TrackerOptions(redetect_every=2))
    frames = _run(scene, tracker, 5, move=(2, 0))
    assert [[h.track_id for h in f] for f in frames] == [[0, 1]] * 5
    capped = HandTracker(scene.detector, scene.pose_fn, options=TrackerOptions(max_hands=1))
    assert len(capped(IMAGE, 0.0)) == 1


def test_smoothing_changes_the_output_and_the_next_crop():
    scene = Scene()
    scene.hands = [(100, 100)]
    smooth = HandTracker(scene.detector, scene.pose_fn,
                         options=TrackerOptions(redetect_every=0, smoothing=OneEuroParams(1.0, 0.0, 1.0)))
    frames = _run(scene, smooth, 4, move=(6, 0))
    last = frames[-1][0]
    assert last.raw_uv[0, 0] == 118.0 and 100.0 < last.uv[0, 0] < 118.0  # lags behind the raw pose
    assert last.box == pytest.approx(keypoint_box(frames[-2][0].uv))  # cropped on last frame's smoothed pose
    assert last.box != pytest.approx(keypoint_box(frames[-2][0].raw_uv))


def test_track_score_and_box_helpers():
    assert track_score(SHAPE, (0, 0, 41, 61)) == pytest.approx(1.0)
    assert track_score(0.1 * SHAPE, (0, 0, 41, 61)) == pytest.approx(7 / 61)
    assert clip_box((-10, -10, 30, 30), (480, 640)) == (0.0, 0.0, 20.0, 20.0)
    assert clip_box((700, 10, 30, 30), (480, 640)) is None
    assert clip_box((636, 10, 2, 2), (480, 640)) == (632.0, 10.0, 8.0, 8.0)  # grown to 8 px, kept inside


def test_pose_in_box_refines_on_the_keypoints():
    seen = []

    def pose_fn(image, box, right_hand):
        seen.append(box)
        return SHAPE + [200, 150], np.zeros(21)

    uv, _, box = pose_in_box(pose_fn, IMAGE, (150, 100, 200, 200), refine_passes=2)
    assert len(seen) == 3 and seen[1] == seen[2] == box == keypoint_box(SHAPE + [200, 150])
