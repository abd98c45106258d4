"""Predicts the hand pose in user images with a trained run (the RGB-only path).

    python -m awh_tf.predict --workdir runs/demo hand1.png hand2.jpg [--out predictions]
    python -m awh_tf.predict --workdir runs/demo photo.jpg --bbox 210,140,120,130 \
        --intrinsics 607.9,607.9,314.8,236.4 --bone_length_mm 30 [--hand right]

Each image is a hand crop used whole, or — with ``--bbox x,y,w,h`` (px) — a full image with the hand's
box. Writes ``<out>/<name>.json`` (the 21 named keypoints: ``uv`` in image px, ``z_rel``, and ``xyz_mm``
in the camera frame when ``--intrinsics`` and the palm → middle-MCP ``--bone_length_mm`` are given) and
``<out>/<name>_overlay.png``. An unreadable image or a box outside the image prints one error line and
the other images are still processed; the exit status is 1 if any failed. See
``awh_tf/evaluation/predict_lib.py`` for the crop and the 3D recovery.
"""

import sys

from absl import app, flags

from awh_tf import flags as awh_flags

awh_flags.define_flags()  # --workdir, shared with training
if "bbox" not in flags.FLAGS:
    flags.DEFINE_string("bbox", None, "Hand box x,y,w,h in image px (top-left pixel, size) for full "
                        "images; without it each image is a hand crop used whole.")
    flags.DEFINE_string("out", "predictions", "Output folder for the JSON files and overlays.")
    flags.DEFINE_string("intrinsics", None, "Camera intrinsics fx,fy,cx,cy in px (for 3D output).")
    flags.DEFINE_float("bone_length_mm", None, "Length of the palm -> middle MCP bone in mm (for 3D).")
    flags.DEFINE_enum("hand", "left", ["left", "right"], "Which hand the images show.")
if "checkpoint" not in flags.FLAGS:
    flags.DEFINE_string("checkpoint", None, "A checkpoint prefix to use instead of the latest.")
FLAGS = flags.FLAGS


def main(argv):
    paths = argv[1:]
    if not paths:
        raise app.UsageError("give one or more image files")
    if not FLAGS.workdir:
        raise app.UsageError("--workdir is required")
    if (FLAGS.intrinsics is None) != (FLAGS.bone_length_mm is None):
        raise app.UsageError("3D output needs both --intrinsics and --bone_length_mm")
    from awh_tf import run_dir
    from awh_tf.errors import TrainingError
    from awh_tf.evaluation import predict_lib

    try:
        bbox = None if FLAGS.bbox is None else predict_lib.parse_bbox(FLAGS.bbox)
        K = None if FLAGS.intrinsics is None else predict_lib.parse_intrinsics(FLAGS.intrinsics)
        if FLAGS.bone_length_mm is not None and FLAGS.bone_length_mm <= 0:
            raise ValueError(f"--bone_length_mm: must be > 0, got {FLAGS.bone_length_mm}")
        config, pose_net, _ = run_dir.load_run(FLAGS.workdir, FLAGS.checkpoint)
    except (TrainingError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    _, failed = predict_lib.predict_files(pose_net, config, paths, FLAGS.out, bbox, K, FLAGS.bone_length_mm,
                                          FLAGS.hand, warn=lambda line: print(line, file=sys.stderr))
    if failed:
        print(f"{len(failed)} of {len(paths)} image(s) failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    app.run(main)
