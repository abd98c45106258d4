"""Bit-identical runs: what ``--deterministic_ops`` (``TrainConfig.deterministic_ops``) switches on.

A seeded run is already reproducible in what it reads: the input streams are a pure function of
``(seed, step)`` (``awh_tf.data.pipeline``; their parallel map keeps its order with
``PipelineConfig.deterministic``), and ``train_lib.build_trainer`` seeds Python's, NumPy's and TensorFlow's
generators and the critic's interpolation weights. What varies from run to run are TensorFlow's own kernels:
multi-threaded reductions and gradient accumulations whose order depends on scheduling, so two runs drift
apart after a few hundred steps under load (docs/performance.md "The demo"). ``tf.config.experimental.
enable_op_determinism`` makes every op deterministic (or refuses an op that has no deterministic kernel, in
one error), and with it two runs of one config and seed write bit-identical checkpoints and ``eval.json``.

Op determinism is a process-wide switch. :func:`configure` sets it for a run and clears it again for a later
run in the same process that did not ask for it (a suite, a test session), unless it was on before this
module first touched it (``TF_DETERMINISTIC_OPS=1`` in the environment).
"""

import tensorflow as tf
from tensorflow.python.framework import config as tf_config

_state = {"ours": False}


def configure(train_config):
    """Turns op determinism on for a run with ``deterministic_ops``, and off again after such a run for one
    without it. Returns whether it is on."""
    want = bool(train_config.deterministic_ops)
    on = tf_config.is_op_determinism_enabled()
    if want and not on:
        tf.config.experimental.enable_op_determinism()
        _state["ours"] = True
    elif not want and on and _state["ours"]:
        tf_config.disable_op_determinism()
        _state["ours"] = False
    return tf_config.is_op_determinism_enabled()
