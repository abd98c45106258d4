"""Reruns the paper's comparisons: Table 2 (domain adaptation baselines), Table 1 (first-stack losses) and more.

Usage (from the repository root)::

    python tools/run_experiments.py --suite table2 [--data procedural] [--steps N] [--seeds 0,1] \
        [--base configs/demo.cfg] [--out_dir runs/experiments] [--only slug,slug] [-- --extra_flag=value …]

The command line over :mod:`awh_tf.experiments`, where the suites are defined (``suites.SUITES``: each
row's label, slug, flag overrides and paper numbers, and what each suite compares) and run
(``runner.run_suite``). Every configuration is the base flag file (``--base``) plus the suite's overrides,
parsed on fresh flag values into a frozen ``Config``; flags after ``--`` are applied to every
configuration before the suite's own (which therefore always win). Each configuration is trained and
evaluated once per seed in ``<out_dir>/<suite>/<slug>/seed<k>/``, with one progress line per run (its time
included) and the run's own output in ``run.log`` there.

Resumable: a run whose ``eval.json`` exists (with the same config) is not rerun, and an interrupted run
resumes from its last checkpoint. At the end ``<out_dir>/<suite>/results.md`` holds the Markdown table
(mean ± sample standard deviation over seeds), the command and the run time, ``results.json`` the same
numbers and ``pck.png`` the combined PCK curves (mean over seeds, shaded min–max).

``--archive_dir docs/adaptation/<suite>``: a suite longer than a session (or a machine) — after every
finished run the report and the finished runs without their checkpoints are copied there, to commit; on a
new machine the same command restores them first, so only the missing rows and seeds train.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from awh_tf.errors import Interrupted  # noqa: E402
from awh_tf.experiments import DEMO_BASE, SUITES, run_suite  # noqa: E402


def main(argv):
    from absl import flags

    FLAGS = flags.FLAGS
    seeds = [int(s) for s in FLAGS.seeds]
    if len(seeds) < 2:
        print("warning: fewer than 2 seeds: the table's spread is undefined", file=sys.stderr)
    try:
        failures = run_suite(FLAGS.suite, FLAGS.base, seeds, FLAGS.out_dir, FLAGS.steps, argv[1:],
                             tuple(FLAGS.only or ()), FLAGS.data,
                             rank_steps=tuple(int(s) for s in FLAGS.rank_at_steps or ()),
                             discrepancy=(FLAGS.discrepancy_samples, FLAGS.discrepancy_critic_steps),
                             command=" ".join(["python", "tools/run_experiments.py"] + sys.argv[1:]),
                             archive_dir=FLAGS.archive_dir)
    except ValueError as e:
        sys.exit(f"error: {e}")
    except Interrupted as e:
        print(e, file=sys.stderr)
        sys.exit(128 + e.signum)
    if failures:
        sys.exit(f"{len(failures)} run(s) failed:\n" + "\n".join(f"  {f}" for f in failures))


def define_flags():
    from absl import flags

    flags.DEFINE_enum("suite", None, sorted(SUITES), "Which comparison to run.", required=True)
    flags.DEFINE_enum("data", "procedural", ["procedural", "real"],
                      "procedural: the base config's generated data; real: RHD/STB roots given as flags.")
    flags.DEFINE_integer("steps", 0, "Total training steps per run (half pre-training); 0 = the base's.")
    flags.DEFINE_list("seeds", ["0", "1"], "Seeds; every configuration runs once per seed.")
    flags.DEFINE_string("base", DEMO_BASE, "Base flag file of every configuration.")
    flags.DEFINE_string("out_dir", "runs/experiments", "Runs go to <out_dir>/<suite>/<slug>/seed<k>/.")
    flags.DEFINE_list("only", None, "Run only these configurations (slugs), e.g. source_only,oracle.")
    flags.DEFINE_integer("discrepancy_samples", 300, "Held-out crops per domain for each run's domain "
                         "discrepancy (discrepancy.json); 0 = not measured.")
    flags.DEFINE_integer("discrepancy_critic_steps", 400, "Training steps of the discrepancy's fresh critic.")
    flags.DEFINE_string("archive_dir", None, "A folder to commit (e.g. docs/adaptation/<suite>): finished runs "
                        "archived there earlier are restored first (not rerun), and after every finished run the "
                        "report and the finished runs (without checkpoints) are copied there.")
    flags.DEFINE_list("rank_at_steps", None, "Also evaluate each run's checkpoint of these steps and report the "
                      "ranking there (is the final ranking stable?); the checkpoints must be kept.")


if __name__ == "__main__":
    from absl import app

    define_flags()
    app.run(main)
