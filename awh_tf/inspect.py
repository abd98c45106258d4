"""Prints each sub-model's summary, parameter count and forward GFLOPs per image, and checks that the
pose network round-trips through ``.keras`` save/load with identical outputs.

    python -m awh_tf.inspect --flagfile configs/demo.cfg
"""

from absl import app

from awh_tf import flags as awh_flags

awh_flags.define_flags()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from awh_tf.models.inspection import inspect_models

    config = awh_flags.config_from_flags()
    inspect_models(config.model)


if __name__ == "__main__":
    app.run(main)
