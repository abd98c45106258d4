"""Full images and video, measured: detector recall, what detection costs in 2D/3D error, per-frame latency
at 1 thread, and tracking jitter with and without One-Euro smoothing.

Usage (from the repository root)::

    python tools/benchmark_full_image.py --workdir runs/demo [--pose_tflite export/out/demo/pose_fp32.tflite] \\
        [--max_frames 400] [--video_index 5] [--json full_image_bench.json]

On the run's procedural real-domain test split (STB B1Counting + B1Random, 640×480 full frames):

* **recall**: a frame counts when a hand box overlaps the ground-truth keypoint box at IoU ≥ 0.5 — the
  detector's own box (``hand_box``, a square) and the box after 1 and 2 re-crops on the predicted keypoints
  (``awh_tf.detection.full_image``); also the rate at which the best palm's centre lies on the hand.
* **error**: 2D EPE (image px) and 3D mean EPE (mm, DESIGN.md §4 protocol: GT root depth and scale) of the
  pipeline, against the pipeline fed the ground-truth keypoint box, paired on the frames the pipeline found.
* **latency** (LiteRT, 1 thread, median over the frames): the palm detector with its pre/post-processing
  (full and lite), and with ``--pose_tflite`` the pose model and the whole frame (detector + 2 pose passes).
* **jitter**: a 60-frame clip of test frame ``--video_index`` (``awh_tf/data/procedural/sequences.py``),
  static and slowly moving with fresh noise per frame, through ``HandTracker`` with and without smoothing:
  mean frame-to-frame keypoint motion minus the true motion (px), its z_rel counterpart, the 2D EPE against
  the true keypoints (the cost of lag), and frames per second of the Keras tracking loop; as a reference,
  every frame cropped on its true keypoint box (the network's own jitter, no tracking).
"""

import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from absl import app, flags  # noqa: E402

flags.DEFINE_string("workdir", None, "A trained run.", required=True)
flags.DEFINE_string("pose_tflite", None, "The run's exported pose .tflite (for the LiteRT per-frame latency).")
flags.DEFINE_integer("max_frames", 400, "Test frames used (spread over the split).")
flags.DEFINE_integer("video_index", 5, "Test frame the jitter clip is made of.")
flags.DEFINE_integer("video_frames", 60, "Frames of the jitter clip.")
flags.DEFINE_float("smooth_min_cutoff", 1.0, "One-Euro min cutoff (Hz) for the smoothed run.")
flags.DEFINE_float("smooth_beta", 1.0, "One-Euro beta for the smoothed run.")
flags.DEFINE_string("json", None, "Write the figures to this JSON file.")
FLAGS = flags.FLAGS


def _errors(uv, z_rel, sample):
    """``(2D EPE px, 3D EPE mm)`` of one prediction in image px under the GT-root, GT-scale protocol."""
    import numpy as np

    from awh_tf import geometry, metrics

    xyz = sample["xyz"]
    scale = float(np.linalg.norm(xyz[0] - xyz[12]))
    pred = geometry.xyz_from_25d(uv[None], z_rel[None], sample["K"][None], np.array([scale]), xyz[None, 0, 2])
    vis = sample["visible"][None]
    return (metrics.evaluate_2d(uv[None], sample["uv"][None], vis)["epe_mean_px"],
            metrics.evaluate_3d(pred, xyz[None], vis)["epe_mean_mm"])


def accuracy(detector, pose_fn, samples):
    """Recall, palm-on-hand rate and paired errors over ``samples`` (module docstring).

    The pipeline's errors are taken on the frames where a palm detection lies on the hand (its centre in
    the ground-truth keypoint box) — a choice independent of the pose — and paired with the ground-truth-box
    pipeline's errors on the same frames.
    """
    import numpy as np

    from awh_tf.detection import full_image
    from awh_tf.detection.hand_box import corners, keypoint_box
    from awh_tf.detection.nms import iou

    passes = (0, 1, 2)
    hits = dict.fromkeys(["detector_box"] + [f"keypoint_box_after_{p}_recrops" for p in passes], 0)
    palm_on_hand, paired, gt_only = 0, {p: [] for p in passes}, []
    for sample in samples:
        image, gt = sample["image"], keypoint_box(sample["uv"][sample["visible"]])
        gt_c = corners(gt)
        uv, z = pose_fn(image, gt, False)
        gt_errors = _errors(uv, z, sample)
        gt_only.append(gt_errors)
        found = detector(image)
        hits["detector_box"] += any(iou(gt_c, corners(d.hand_box)[None])[0] >= 0.5 for d in found)
        on_hand = [d for d in found if gt_c[0] <= (d.palm_box[0] + d.palm_box[2]) / 2 <= gt_c[2]
                   and gt_c[1] <= (d.palm_box[1] + d.palm_box[3]) / 2 <= gt_c[3]]
        palm_on_hand += bool(on_hand)
        for p in passes:
            outs = [full_image.pose_in_box(pose_fn, image, d.hand_box, refine_passes=p) for d in found]
            hits[f"keypoint_box_after_{p}_recrops"] += any(
                iou(gt_c, corners(keypoint_box(o[0]))[None])[0] >= 0.5 for o in outs if o)
            if on_hand:
                o = outs[found.index(on_hand[0])]
                if o:
                    paired[p].append(_errors(o[0], o[1], sample) + gt_errors)
    n = len(samples)
    out = {"frames": n, "recall_iou50": {k: v / n for k, v in hits.items()}, "palm_on_hand": palm_on_hand / n,
           "gt_box_all": dict(zip(("epe2d_px", "epe3d_mm"), np.mean(gt_only, axis=0).tolist()))}
    for p, rows in paired.items():
        if rows:
            m = np.mean(rows, axis=0).tolist()
            out[f"pipeline_{p}_recrops"] = {"frames": len(rows), "epe2d_px": m[0], "epe3d_mm": m[1],
                                            "gt_box_epe2d_px": m[2], "gt_box_epe3d_mm": m[3]}
    return out


def latency(samples, pose_tflite=None, n=60):
    """Median ms at 1 thread: detector (full, lite) with pre/post-processing; pose and frame with a .tflite."""
    from awh_tf.detection.palm_detector import PalmDetector

    out = {}
    images = [s["image"] for s in samples[:n]]
    for variant in ("full", "lite"):
        det = PalmDetector(variant, num_threads=1)
        det(images[0])
        out[f"detector_{variant}_ms"] = _median_ms(det, images)
    if pose_tflite:
        client = _client()
        model = client.PoseModel(pose_tflite, num_threads=1)
        det = PalmDetector("full", num_threads=1)
        margin = client.model_crop_margin(pose_tflite)
        crop = client.make_crop(images[0], model.input_size, (320.0, 240.0, 200.0))[0]
        model(crop)
        out["pose_tflite_ms"] = _median_ms(lambda _: model(crop), images)
        out["frame_full_detector_2_pose_passes_ms"] = _median_ms(
            lambda im: client.detect_and_predict(model, im, det, margin, refine_passes=1), images)
    return out


def _median_ms(fn, inputs):
    times = []
    for x in inputs:
        t0 = time.perf_counter()
        fn(x)
        times.append(1000.0 * (time.perf_counter() - t0))
    return statistics.median(times)


def _client():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "export" / "litert_infer.py"
    spec = importlib.util.spec_from_file_location("litert_infer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def jitter(detector, pose_fn, sample, frames):
    """Tracking on a static and a slow clip, with and without smoothing (module docstring)."""
    import numpy as np

    from awh_tf.data.procedural.sequences import moving_frames
    from awh_tf.detection.hand_box import keypoint_box
    from awh_tf.detection.one_euro import OneEuroParams
    from awh_tf.detection.tracker import HandTracker, TrackerOptions

    params = OneEuroParams(FLAGS.smooth_min_cutoff, FLAGS.smooth_beta)
    out = {"smoothing": {"min_cutoff": params.min_cutoff, "beta": params.beta, "d_cutoff": params.d_cutoff}}
    for motion in ("static", "slow"):
        video, truth = moving_frames(sample["image"], sample["uv"], frames, motion)
        # Reference: each frame cropped on its true keypoint box (no tracking): the network's own jitter.
        gt_uv = np.array([pose_fn(image, keypoint_box(uv), False)[0] for image, uv in zip(video, truth)])
        out[f"{motion}_gt_box"] = {"jitter_px": _excess_motion(gt_uv, truth),
                                   "epe2d_px": float(np.mean(np.linalg.norm(gt_uv - truth, axis=-1)))}
        for name, smoothing in (("raw", None), ("one_euro", params)):
            tracker = HandTracker(detector, pose_fn, options=TrackerOptions(smoothing=smoothing))
            uv, z, t0 = [], [], time.perf_counter()
            for i, image in enumerate(video):
                hands = tracker(image, i / 30.0)
                uv.append(hands[0].uv if hands else np.full((21, 2), np.nan))
                z.append(hands[0].z_rel if hands else np.full(21, np.nan))
            fps = len(video) / (time.perf_counter() - t0)
            uv, z = np.array(uv), np.array(z)
            out[f"{motion}_{name}"] = {
                "frames_with_hand": int(np.isfinite(uv[:, 0, 0]).sum()), "detections_run": tracker.detections_run,
                "jitter_px": _excess_motion(uv, truth), "jitter_z_rel": float(np.nanmean(np.abs(np.diff(z, axis=0)))),
                "epe2d_px": float(np.nanmean(np.linalg.norm(uv - truth, axis=-1))), "fps": fps}
    return out


def _excess_motion(uv, truth):
    """Mean over frames and keypoints of |Δuv − Δtruth| px (frame-to-frame motion not in the true motion)."""
    import numpy as np

    return float(np.nanmean(np.linalg.norm(np.diff(uv, axis=0) - np.diff(truth, axis=0), axis=-1)))


def main(argv):
    del argv
    import numpy as np

    from awh_tf import run_dir
    from awh_tf.data import STB_TEST_SEQUENCES, STBDataset
    from awh_tf.detection.palm_detector import PalmDetector
    from awh_tf.evaluation import predict_lib

    config, pose_net, _ = run_dir.load_run(FLAGS.workdir)
    ds = STBDataset(config.data.stb_path(), sequences=STB_TEST_SEQUENCES, with_depth=False)
    indices = np.unique(np.round(np.linspace(0, len(ds) - 1, min(FLAGS.max_frames, len(ds)))).astype(int))
    samples = [ds[int(i)] for i in indices]
    pose_fn = predict_lib.pose_function(pose_net, config)
    detector = PalmDetector("full", max_hands=2)
    result = {"workdir": os.path.abspath(FLAGS.workdir), "accuracy": accuracy(detector, pose_fn, samples),
              "latency_1_thread": latency(samples, FLAGS.pose_tflite),
              "jitter": jitter(detector, pose_fn, ds[FLAGS.video_index], FLAGS.video_frames)}
    print(json.dumps(result, indent=1))
    if FLAGS.json:
        with open(FLAGS.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    app.run(main)
