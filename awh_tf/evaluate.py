"""Evaluates a trained run with the published STB protocol (DESIGN.md §4) and plots its PCK curve.

    python -m awh_tf.evaluate --workdir runs/demo [--data_dir data/procedural] [--split test]
    python -m awh_tf.evaluate --workdir runs/demo --compare runs/wo_awh runs/w_wh

Loads ``<workdir>/config.json`` and the latest checkpoint (or ``--checkpoint``), prints the protocol's
table (the reference code's figures by default — STB on every labelled keypoint, as hand3d; PA-MPJPE both
rotation-only and as FreiHAND's ``align_w_scale`` with its F-scores; the in-image-only STB figures named as
such: docs/protocol.md), the root-depth-free block and the per-keypoint errors, and writes ``eval.json``,
``pck.png`` and ``per_keypoint.png`` into the run folder (``awh_tf/evaluation/evaluate_lib.py``). The data flags
(``--data_dir``, ``--rhd_root``, ``--stb_root``, ``--max_eval_samples``, …) override the run's config;
no other training flag may be given. ``--compare DIR2 DIR3 …`` also plots every run's PCK curve in one
figure, ``<workdir>/pck_compare.png`` (runs without a saved evaluation are evaluated first).
"""

import dataclasses
import sys

from absl import app, flags

from awh_tf import flags as awh_flags

awh_flags.define_flags()  # --workdir and the data flags, shared with training
if "split" not in flags.FLAGS:
    flags.DEFINE_enum("split", "test", ["test", "real_train", "synthetic_test"],
                      "Which split to evaluate: the real test split (the paper's), the real training split "
                      "or the synthetic held-out split.")
    flags.DEFINE_string("compare", None, "Other run folders whose PCK curves are plotted with this one's "
                        "(space- or comma-separated: --compare runs/b runs/c).")
    flags.DEFINE_string("checkpoint", None, "A checkpoint prefix to evaluate instead of the latest.")
    flags.DEFINE_integer("eval_batch_size", 32, "Evaluation batch size.")
FLAGS = flags.FLAGS


def _data_overrides():
    """The DataConfig flags given on the command line; UsageError for any other training flag."""
    from awh_tf.config import DataConfig

    data_fields = {f.name for f in dataclasses.fields(DataConfig)}
    overrides = {}
    for name in awh_flags.flag_table():
        if not FLAGS[name].present:
            continue
        if name not in data_fields:
            raise app.UsageError(f"--{name}: evaluation reads the run's config.json; only data flags "
                                 f"({', '.join(sorted(data_fields))}) can be overridden")
        overrides[name] = FLAGS[name].value
    return overrides


def main(argv):
    compare = [d for d in (FLAGS.compare or "").split(",") if d] + list(argv[1:])
    if len(argv) > 1 and not FLAGS.compare:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.workdir:
        raise app.UsageError("--workdir is required")
    overrides = _data_overrides()
    from awh_tf.data.errors import DataError
    from awh_tf.evaluation import evaluate_lib
    from awh_tf.errors import TrainingError

    try:
        evaluate_lib.evaluate_run(FLAGS.workdir, FLAGS.split, overrides, FLAGS.checkpoint,
                                  FLAGS.eval_batch_size)
        if compare:
            out = f"{FLAGS.workdir}/pck_compare.png"
            evaluate_lib.compare_runs([FLAGS.workdir] + compare, out, FLAGS.split, overrides)
    except (DataError, TrainingError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    app.run(main)
