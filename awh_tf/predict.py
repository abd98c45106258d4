"""Predicts the hand pose in user images and videos with a trained run (the RGB-only path).

    python -m awh_tf.predict --workdir runs/demo photo.jpg clip.mp4 frames/ [--out predictions]
    python -m awh_tf.predict --workdir runs/demo photo.jpg --bbox 210,140,120,130 \
        --intrinsics 607.9,607.9,314.8,236.4 --bone_length_mm 30 [--hand right]
    python -m awh_tf.predict --workdir runs/demo crop.png --hand_crops

An image is a full image in which the palm detector (``awh_tf.detection``; install it once with
``python -m awh_tf.detection.fetch``) finds up to ``--max_hands`` hands; with ``--bbox x,y,w,h`` (px) the
box is given instead, and with ``--hand_crops`` each image is a hand crop used whole. A video file or a
folder of frames is run frame by frame with tracking and One-Euro smoothing (``evaluation/video_lib.py``).

Writes ``<out>/<name>.json`` (the 21 named keypoints: ``uv`` in image px, ``z_rel``, and ``xyz_mm`` in the
camera frame when ``--intrinsics`` and the palm → middle-MCP ``--bone_length_mm`` are given; with the
detector, one entry per hand under ``hands``) and ``<out>/<name>_overlay.png``; for a video
``<out>/<name>/frame_<i>.json`` and ``<out>/<name>_overlay.mp4``. An unreadable input, a video without
frames, a box outside the image or an image without a hand prints one error line and the other inputs are
still processed; the exit status is 1 if any failed.
"""

import os
import sys

from absl import app, flags

from awh_tf import flags as awh_flags

awh_flags.define_flags()  # --workdir, shared with training
if "bbox" not in flags.FLAGS:
    flags.DEFINE_string("bbox", None, "Hand box x,y,w,h in image px (top-left pixel, size) for full "
                        "images; without it the palm detector finds the hands.")
    flags.DEFINE_string("out", "predictions", "Output folder for the JSON files and overlays.")
    flags.DEFINE_string("intrinsics", None, "Camera intrinsics fx,fy,cx,cy in px (for 3D output).")
    flags.DEFINE_float("bone_length_mm", None, "Length of the palm -> middle MCP bone in mm (for 3D).")
    flags.DEFINE_enum("hand", "left", ["left", "right"], "Which hand the images show (the detector cannot "
                      "tell: a left palm and the back of a right hand look alike).")
    flags.DEFINE_bool("hand_crops", False, "Each image is a hand crop, used whole (no detector).")
if "checkpoint" not in flags.FLAGS:
    flags.DEFINE_string("checkpoint", None, "A checkpoint prefix to use instead of the latest.")
if "detector" not in flags.FLAGS:
    flags.DEFINE_enum("detector", "full", ["full", "lite"], "MediaPipe palm model (palm_detection_<name>.tflite).")
    flags.DEFINE_string("detector_dir", None, "Where `python -m awh_tf.detection.fetch` installed the palm "
                        "models (default $AWH_DETECTOR_DIR or ~/.cache/awh_tf/palm_detection).")
    flags.DEFINE_integer("max_hands", 2, "At most this many hands per image / video.", lower_bound=1)
    flags.DEFINE_float("min_detection_score", 0.5, "Palm detections scoring below are dropped.")
    flags.DEFINE_integer("refine_passes", 1, "Re-crops on the predicted keypoints after a detection.",
                         lower_bound=0)
    flags.DEFINE_integer("redetect_every", 10, "Videos: run the detector every N frames (0: only when a "
                         "track is lost).", lower_bound=0)
    flags.DEFINE_float("min_track_score", 0.5, "Videos: a track whose keypoint extent falls below this "
                       "fraction of its crop's box is lost (re-detection).")
    flags.DEFINE_bool("smooth", True, "Videos: One-Euro filter on uv and z_rel.")
    flags.DEFINE_float("smooth_min_cutoff", 1.0, "One-Euro min cutoff, Hz (lower: smoother at rest).")
    flags.DEFINE_float("smooth_beta", 1.0, "One-Euro beta per hand size / s of speed (higher: less lag).")
    flags.DEFINE_float("smooth_d_cutoff", 1.0, "One-Euro cutoff of the speed estimate, Hz.")
    flags.DEFINE_float("fps", None, "Frame rate for folders of frames (videos: their header's).")
    flags.DEFINE_bool("progress", True, "Progress bar on videos.")
FLAGS = flags.FLAGS


def _fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def _tracker_options():
    from awh_tf.detection.one_euro import OneEuroParams
    from awh_tf.detection.tracker import TrackerOptions

    smoothing = OneEuroParams(FLAGS.smooth_min_cutoff, FLAGS.smooth_beta, FLAGS.smooth_d_cutoff) if FLAGS.smooth else None
    return TrackerOptions(redetect_every=FLAGS.redetect_every, min_track_score=FLAGS.min_track_score,
                          max_hands=FLAGS.max_hands, refine_passes=FLAGS.refine_passes, smoothing=smoothing)


def main(argv):
    paths = argv[1:]
    if not paths:
        raise app.UsageError("give one or more image files, videos or folders of frames")
    if not FLAGS.workdir:
        raise app.UsageError("--workdir is required")
    if (FLAGS.intrinsics is None) != (FLAGS.bone_length_mm is None):
        raise app.UsageError("3D output needs both --intrinsics and --bone_length_mm")
    from awh_tf import run_dir
    from awh_tf.detection import fetch
    from awh_tf.errors import TrainingError
    from awh_tf.evaluation import predict_lib, video_lib

    sequences = [p for p in paths if video_lib.is_sequence(p)]
    images = [p for p in paths if p not in sequences]
    if sequences and (FLAGS.bbox or FLAGS.hand_crops):
        raise app.UsageError("--bbox and --hand_crops apply to images; videos and folders are tracked from detections")
    try:
        bbox = None if FLAGS.bbox is None else predict_lib.parse_bbox(FLAGS.bbox)
        K = None if FLAGS.intrinsics is None else predict_lib.parse_intrinsics(FLAGS.intrinsics)
        if FLAGS.bone_length_mm is not None and FLAGS.bone_length_mm <= 0:
            raise ValueError(f"--bone_length_mm: must be > 0, got {FLAGS.bone_length_mm}")
        options = _tracker_options()
        detector = None
        if sequences or (images and bbox is None and not FLAGS.hand_crops):
            from awh_tf.detection.palm_detector import PalmDetector

            detector = PalmDetector(FLAGS.detector, FLAGS.detector_dir, FLAGS.min_detection_score, FLAGS.max_hands)
        config, pose_net, _ = run_dir.load_run(FLAGS.workdir, FLAGS.checkpoint)
    except (TrainingError, ValueError, fetch.DetectorNotInstalled) as e:
        _fail(e)
    warn = lambda line: print(line, file=sys.stderr)  # noqa: E731
    _, failed = predict_lib.predict_files(pose_net, config, images, FLAGS.out, bbox, K, FLAGS.bone_length_mm,
                                          FLAGS.hand, warn=warn, detector=detector,
                                          refine_passes=FLAGS.refine_passes)
    failed += _predict_sequences(sequences, pose_net, config, detector, K, options, warn)
    if failed:
        print(f"{len(failed)} of {len(paths)} input(s) failed", file=sys.stderr)
        sys.exit(1)


def _predict_sequences(paths, pose_net, config, detector, K, options, warn):
    from awh_tf.detection.tracker import HandTracker
    from awh_tf.evaluation import predict_lib, video_lib

    failed = []
    pose_fn = predict_lib.pose_function(pose_net, config)
    for path, stem in zip(paths, predict_lib.output_stems([os.path.normpath(p) for p in paths])):
        tracker = HandTracker(detector, pose_fn, FLAGS.hand == "right", options)
        try:
            summary = video_lib.predict_sequence(tracker, path, FLAGS.out, stem, FLAGS.fps, K, FLAGS.bone_length_mm,
                                                 FLAGS.hand, progress=FLAGS.progress, warn=warn)
        except predict_lib.PredictError as e:
            failed.append(str(e))
            warn(f"error: {e}")
            continue
        print(f"{path}: {summary['frames']} frames, hands in {summary['frames_with_hands']}, detector run "
              f"{summary['detections_run']} times -> {summary['json_dir']}/, {summary['video']}")
    return failed


if __name__ == "__main__":
    app.run(main)
