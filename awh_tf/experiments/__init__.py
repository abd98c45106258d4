"""The paper's comparisons as data, and the code that runs and tabulates them.

* :mod:`awh_tf.experiments.suites` — :class:`Experiment`, :data:`SUITES` (every row's label, slug, flag
  overrides and paper numbers), :func:`build_config` (base flag file + extras + a row's overrides → the
  frozen ``Config``) and :data:`FLAG_FILES` (the ``configs/procedural_*.cfg`` that are suite rows);
* :mod:`awh_tf.experiments.runner` — :func:`run_suite`: every row × seed, resumable, then the report
  (:func:`archive_runs` / :func:`restore_archived_runs`: finished runs kept in a folder to commit);
* :mod:`awh_tf.experiments.report` — ``results.md`` / ``results.json`` / ``pck.png`` of a suite's folder.

``tools/run_experiments.py`` is the command line over :func:`run_suite`. Importing this package does not
import TensorFlow (only training, evaluating and reading TensorBoard logs do).
"""

from awh_tf.experiments.report import (  # noqa: F401
    DISCREPANCY, METRICS, TRAINING_TAGS, adaptation_table, checkpoint_epe, gap_closed, load_results,
    markdown_table, mean_spread, paired_difference, plot_suite, ranking_table, ranks, summarise,
    training_statistics, write_report)
from awh_tf.experiments.runner import (  # noqa: F401
    archive_runs, evaluate_checkpoints, finished, restore_archived_runs, run_one, run_suite)
from awh_tf.experiments.suites import (  # noqa: F401
    ALL_FIRST_STACK, DEMO_BASE, FLAG_FILES, SUITES, Experiment, build_config, get_row, row_flags)
