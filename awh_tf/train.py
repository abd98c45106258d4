"""Trains and evaluates one run.

    python -m awh_tf.train --flagfile configs/demo.cfg [--workdir runs/demo] [--any_config_field value]

Every config field is a flag (awh_tf/flags.py). Rerunning the same command resumes the run.
SIGTERM / Ctrl-C save a checkpoint after the step in flight and exit with status 143 / 130.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: no C++ INFO/WARNING lines

from absl import app, logging  # noqa: E402

from awh_tf import flags as awh_flags  # noqa: E402

awh_flags.define_flags()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)  # keep the progress bar readable (no per-save INFO lines)
    from awh_tf import errors
    from awh_tf.data.errors import DataError
    from awh_tf.training import train_lib

    try:
        config = awh_flags.config_from_flags()
        workdir = awh_flags.workdir_from_flags(config)
        train_lib.train_and_evaluate(config, workdir)
    except errors.Interrupted as e:  # SIGTERM / SIGINT: checkpoint saved; the shell's 128 + signal status
        print(e, file=sys.stderr)
        sys.exit(128 + e.signum)
    except (DataError, errors.TrainingError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    app.run(main)
