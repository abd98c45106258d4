"""LiteRT latency (median, p90 over >= 50 invokes after warm-up, at 1 and 2 threads) and size of exported
``.tflite`` files — and the onnxruntime latency of an exported ``pose.onnx`` beside them — optionally
beside an anchor model timed in the same run.

Usage (from the repository root)::

    python tools/benchmark_tflite.py --export_dir export/out/demo \\
        [--anchor /tmp/mp/mediapipe/modules/hand_landmark/hand_landmark_full.tflite ...] \\
        [--models extra.tflite ...] [--runs 100] [--threads 1,2] [--json bench.json]

Every ``*.tflite`` and ``*.onnx`` in ``--export_dir`` and every ``--models`` file is timed (``.onnx`` with
onnxruntime, which ``requirements-onnx.txt`` installs); ``--anchor`` files are timed the same way and
labelled as anchors. Timed invokes are interleaved across models (awh_tf/export/benchmark.py) so the
comparison is fair on a loaded machine. Prints a Markdown table.

The anchor for mobile hand models is MediaPipe's hand landmark network (224×224 input): its files ship in
the ``mediapipe`` wheel, which is not installable beside TF 2.21, so fetch the wheel without dependencies
and unzip the two files::

    pip download mediapipe==0.10.21 --no-deps -d /tmp/mp
    cd /tmp/mp && unzip -o mediapipe-0.10.21-*.whl 'mediapipe/modules/hand_landmark/*.tflite'
"""

import glob
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from absl import app, flags  # noqa: E402

from awh_tf.export import benchmark  # noqa: E402

flags.DEFINE_string("export_dir", None, "An export folder: every *.tflite and *.onnx in it is timed.")
flags.DEFINE_list("models", [], "More .tflite (or .onnx) files to time.")
flags.DEFINE_list("anchor", [], "Anchor .tflite files (e.g. hand_landmark_full.tflite), timed alike.")
flags.DEFINE_list("threads", ["1", "2"], "Thread counts.")
flags.DEFINE_integer("runs", 100, "Timed invokes per model and thread count (>= 50).")
flags.DEFINE_integer("warmup", 20, "Untimed invokes first.")
flags.DEFINE_integer("rounds", 5, "Interleaved blocks the timed invokes are split into.")
flags.DEFINE_string("json", None, "Also write the rows to this JSON file.")
FLAGS = flags.FLAGS


def collect_models(export_dir, models, anchors):
    """``{label: path}``: the export's files and extra models by file name, anchors as ``anchor: name``.
    Files sharing a name (``demo/pose_int8.tflite`` and ``mobile/pose_int8.tflite``) are labelled with
    their folder too, so no row replaces another."""
    paths = []
    if export_dir:
        paths = sorted(p for ext in ("tflite", "onnx") for p in glob.glob(os.path.join(export_dir, f"*.{ext}")))
        if not paths:
            raise ValueError(f"--export_dir {export_dir}: no .tflite or .onnx files there")
    paths += list(models)
    names = [os.path.basename(p) for p in paths]
    found = {}
    for name, path in zip(names, paths):
        if names.count(name) > 1:
            name = os.path.join(os.path.basename(os.path.dirname(os.path.abspath(path))), name)
        found[name] = path
    found.update({f"anchor: {os.path.basename(p)}": p for p in anchors})
    if not found:
        raise ValueError("nothing to time: pass --export_dir, --models or --anchor")
    return found


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        if FLAGS.runs < 50:
            raise ValueError(f"--runs: at least 50, got {FLAGS.runs}")
        models = collect_models(FLAGS.export_dir, FLAGS.models, FLAGS.anchor)
        threads = [int(t) for t in FLAGS.threads]
        rows = benchmark.benchmark(models, threads, FLAGS.runs, FLAGS.warmup, FLAGS.rounds)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(benchmark.format_table(rows))
    if FLAGS.json:
        with open(FLAGS.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    app.run(main)
