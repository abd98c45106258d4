"""Exports a trained run's RGB path (image → 2.5D pose) to a SavedModel, TFLite, Keras files and (optionally)
ONNX, and judges each file by the task.

Usage (from the repository root)::

    python tools/export_model.py --workdir runs/demo [--out_dir export/out/demo] \\
        [--formats fp32,fp16,dynamic_int8,int8[,onnx]] [--overwrite] [--allow_flex] \\
        [--gate_source auto|real|random] [--gate_samples 0] [--calibration_samples 200] \\
        [--data_dir DIR | --rhd_root DIR --stb_root DIR]

Writes, in OUT (``--out_dir``; default ``export/out/<the workdir's folder name>``, e.g. ``export/out/demo``),
``OUT/saved_model/``, ``OUT/pose_<format>.tflite``, ``OUT/pose.onnx`` when ``onnx`` is in
``--formats`` (it needs ``pip install -r requirements-onnx.txt``), ``OUT/pose_network.keras``,
``OUT/keras_preset/`` and ``OUT/metadata.json`` (awh_tf/export/export_lib.py). Every artefact is run on the
run's real test split (all of it unless ``--gate_samples``) and judged by the change of its 2D and 3D EPE
against the float Keras model, with a paired 95 % interval (awh_tf/export/task_gate.py), plus a loose
raw-parity sanity bound; the table is printed and an artefact that fails fails the export (nothing is
written then). Without test data the gate falls back to the parity bound on random crops and says so. The
data flags override where the run's config says its data are (e.g. the data moved).
Inspect the signature with ``saved_model_cli show --dir OUT/saved_model --tag_set serve
--signature_def serving_default``; run a ``.tflite`` with ``python export/litert_infer.py`` and ``pose.onnx``
with onnxruntime (export/README.md).
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from absl import app, flags  # noqa: E402

from awh_tf.export.errors import ExportError  # noqa: E402

FORMATS = ("fp32", "fp16", "dynamic_int8", "int8")  # = awh_tf.export.tflite.TFLITE_FORMATS, the default
ALL_FORMATS = FORMATS + ("onnx",)  # = awh_tf.export.export_lib.EXPORT_FORMATS

flags.DEFINE_string("workdir", None, "The training run's folder (config.json, checkpoints/).")
flags.DEFINE_string("out_dir", None, "The export folder to create (default: export/out/<the workdir's name>).")
flags.DEFINE_list("formats", list(FORMATS), f"Formats, some of {ALL_FORMATS} ('' = SavedModel only; onnx "
                  f"needs requirements-onnx.txt).")
flags.DEFINE_boolean("overwrite", False, "Replace an existing --out_dir (after the new export passed).")
flags.DEFINE_boolean("allow_flex", False, "Allow TensorFlow (Flex) ops in the .tflite files.")
flags.DEFINE_enum("gate_source", "auto", ["auto", "real", "random"],
                  "What every file is judged on: auto = the run's real test split if it is there, else raw "
                  "parity on random crops (with a notice); real = the test split or an error; random = parity.")
flags.DEFINE_integer("gate_samples", 0, "Test crops every file is judged on (0 = the whole test split; "
                     "random crops in the parity fallback: 0 = 64).")
flags.DEFINE_enum("calibration_source", "real", ["real", "random"], "int8 representative dataset source.")
flags.DEFINE_integer("calibration_samples", 200, "int8 representative crops (half synthetic, half real).")
flags.DEFINE_enum("int8_float_scope", "ends", ["ends", "soft_argmax", "head", "none"],
                  "What the int8 model keeps in float: ends = the soft-argmax and the first convolution "
                  "(none: everything int8, ~10 px off).")
flags.DEFINE_integer("num_threads", 2, "LiteRT threads for the gate's runs.")
flags.DEFINE_string("data_dir", None, "Override the run's data_dir.")
flags.DEFINE_string("rhd_root", None, "Override the run's rhd_root.")
flags.DEFINE_string("stb_root", None, "Override the run's stb_root.")
flags.mark_flags_as_required(["workdir"])
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from awh_tf.export import export_lib

    overrides = {k: getattr(FLAGS, k) for k in ("data_dir", "rhd_root", "stb_root")
                 if getattr(FLAGS, k) is not None}
    try:
        options = export_lib.ExportOptions(
            formats=tuple(f for f in FLAGS.formats if f), overwrite=FLAGS.overwrite,
            allow_flex=FLAGS.allow_flex, gate_source=FLAGS.gate_source,
            gate_samples=FLAGS.gate_samples, calibration_source=FLAGS.calibration_source,
            calibration_samples=FLAGS.calibration_samples, int8_float_scope=FLAGS.int8_float_scope,
            num_threads=FLAGS.num_threads)
        out_dir = FLAGS.out_dir or os.path.join("export", "out", os.path.basename(os.path.normpath(FLAGS.workdir)))
        export_lib.export_run(FLAGS.workdir, out_dir, options, data_overrides=overrides)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    app.run(main)
