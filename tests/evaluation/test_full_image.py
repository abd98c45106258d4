"""Predict without a box: the palm detector on full frames, videos and folders with tracking, bad inputs."""

import json
import os

import cv2
import numpy as np
import pytest

from awh_tf import run_dir
from awh_tf.data.procedural.sequences import moving_frames
from awh_tf.detection.hand_box import corners, keypoint_box
from awh_tf.detection.nms import iou
from awh_tf.detection.one_euro import OneEuroParams
from awh_tf.detection.tracker import HandTracker, TrackerOptions
from awh_tf.evaluation import predict_lib, video_lib


@pytest.fixture(scope="module")
def run(tiny_run):
    config, pose_net, _ = run_dir.load_run(tiny_run.workdir)
    return config, pose_net


@pytest.fixture(scope="module")
def detector(installed_detector_dir):
    from awh_tf.detection.palm_detector import PalmDetector

    return PalmDetector("full", installed_detector_dir, num_threads=1)


@pytest.fixture(scope="module")
def found_frame(tiny_run, detector):
    """``(path, sample)`` of the first real test frame in which the detector finds a palm on the hand."""
    from awh_tf.data import STB_TEST_SEQUENCES, STBDataset

    ds = STBDataset(tiny_run.config.data.stb_path(), sequences=STB_TEST_SEQUENCES, with_depth=False)
    for i in range(len(ds)):
        sample = ds[i]
        found = detector(sample["image"])
        if found and iou(corners(keypoint_box(sample["uv"])), corners(found[0].hand_box)[None])[0] > 0.3:
            seq, frame = sample["name"].split("/")
            return os.path.join(tiny_run.config.data.stb_path(), "images", seq, f"SK_color_{frame}.png"), sample
    pytest.fail("the palm detector found no hand in the tiny run's 8 real test frames")


def _write_video(path, frames, fps=10.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, frames.shape[2:0:-1])
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def test_full_image_predict_finds_the_hand_and_writes_each_hand(run, detector, found_frame, tmp_path):
    config, pose_net = run
    path, sample = found_frame
    written, failed = predict_lib.predict_files(pose_net, config, [path], str(tmp_path), detector=detector,
                                                K=sample["K"], bone_length_mm=30.0, log=lambda _: None)
    assert failed == []
    record = json.loads(open(written[0]).read())
    assert record["image_size_wh"] == [640, 480] and 1 <= len(record["hands"]) <= 2
    best = record["hands"][0]
    assert 0.5 <= best["detector_score"] <= 1.0 and len(best["keypoints"]) == 21
    palm = best["palm_box_xyxy"]
    x0, y0, x1, y1 = corners(keypoint_box(sample["uv"]))
    assert x0 <= (palm[0] + palm[2]) / 2 <= x1 and y0 <= (palm[1] + palm[3]) / 2 <= y1
    x, y, w, h = best["bbox_xywh"]  # the second pass's box (the first pass's keypoints), inside the image
    assert x >= 0 and y >= 0 and x + w <= 640 and y + h <= 480
    assert os.path.getsize(os.path.join(tmp_path, os.path.basename(path)[:-4] + "_overlay.png")) > 1000
    # Without the second pass the box is the detector's: it covers the hand (the tiny network's keypoints
    # need not).
    single = predict_lib.predict_full_image(pose_net, config, detector, path, refine_passes=0).record["hands"][0]
    assert iou(corners(keypoint_box(sample["uv"])), corners(single["bbox_xywh"])[None])[0] > 0.3


def test_no_hand_and_bad_files_give_one_line_each_and_the_rest_run(run, detector, found_frame, tmp_path):
    config, pose_net = run
    black = tmp_path / "black.png"
    cv2.imwrite(str(black), np.zeros((240, 320, 3), np.uint8))
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"nope")
    warnings = []
    written, failed = predict_lib.predict_files(pose_net, config, [str(black), str(garbage), found_frame[0]],
                                                str(tmp_path / "out"), detector=detector, log=lambda _: None,
                                                warn=warnings.append)
    assert len(written) == 1 and len(failed) == 2
    assert "no hand found" in failed[0] and failed[1].endswith("not a readable image")
    assert all("\n" not in w for w in warnings)


def test_a_video_runs_end_to_end_with_tracking_and_smoothing(run, detector, found_frame, tmp_path):
    config, pose_net = run
    video, _ = moving_frames(found_frame[1]["image"], found_frame[1]["uv"], frames=4, motion="slow")
    path = tmp_path / "clip.mp4"
    _write_video(path, video)
    options = TrackerOptions(redetect_every=2, smoothing=OneEuroParams())
    tracker = HandTracker(detector, predict_lib.pose_function(pose_net, config), options=options)
    summary = video_lib.predict_sequence(tracker, str(path), str(tmp_path / "out"), "clip", progress=False)
    assert summary["frames"] == 4 and summary["frames_with_hands"] >= 1 and summary["detections_run"] >= 2
    records = [json.loads(open(os.path.join(summary["json_dir"], f"frame_{i:06d}.json")).read()) for i in range(4)]
    assert [r["frame"] for r in records] == [0, 1, 2, 3] and records[1]["time_s"] == pytest.approx(0.1)
    first = records[0]["hands"][0]
    assert first["detected"] and first["track_id"] == 0 and "track_score" in first
    capture = cv2.VideoCapture(summary["video"])
    n = 0
    while capture.read()[0]:
        n += 1
    assert n == 4


def test_a_folder_of_frames_skips_bad_ones_with_a_warning(run, detector, found_frame, tmp_path):
    config, pose_net = run
    folder = tmp_path / "frames"
    folder.mkdir()
    video, _ = moving_frames(found_frame[1]["image"], found_frame[1]["uv"], frames=2, motion="static")
    for i, frame in enumerate(video):
        cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    (folder / "002.png").write_bytes(b"broken")
    cv2.imwrite(str(folder / "003.png"), np.zeros((10, 10, 3), np.uint8))
    warnings = []
    tracker = HandTracker(detector, predict_lib.pose_function(pose_net, config))
    summary = video_lib.predict_sequence(tracker, str(folder), str(tmp_path / "out"), "frames", fps=5.0,
                                         progress=False, warn=warnings.append)
    assert summary["frames"] == 2 and len(warnings) == 2
    assert "002.png" in warnings[0] and "10x10" in warnings[1]


def test_unreadable_and_empty_inputs_are_one_line_errors(tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video")
    with pytest.raises(predict_lib.PredictError, match="not a readable video"):
        video_lib.open_frames(str(garbage))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(predict_lib.PredictError, match="without image files"):
        video_lib.open_frames(str(empty))
    zero = tmp_path / "zero.avi"
    cv2.VideoWriter(str(zero), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48)).release()
    with pytest.raises(predict_lib.PredictError, match="readable video|no frames"):
        video_lib.open_frames(str(zero))
    assert video_lib.is_sequence(str(empty)) and video_lib.is_sequence("a.MP4") and not video_lib.is_sequence("a.png")
