"""``--deterministic_ops``: two runs of one config and seed write bit-identical checkpoints, resumes included.

The runs are adversarial (critic, gradient penalty, α) on the tiny data, so every kernel the suites use is
in them; the comparison is exact (``assert_array_equal``), not a tolerance.
"""

import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import config as tf_config

from awh_tf.training import determinism, train_lib
from awh_tf.config import TrainConfig
from tests.evaluation.conftest import tiny_config


def _config(data_dir, **overrides):
    train = dict(da="awh", pretrain_steps=2, train_steps=3, checkpoint_every=1, keep_checkpoints=10,
                 deterministic_ops=True)
    train.update(overrides)
    return tiny_config(data_dir, **train)


def _variables(path):
    reader = tf.train.load_checkpoint(path)
    names = sorted(n for n in reader.get_variable_to_shape_map() if not n.startswith("_CHECKPOINTABLE"))
    return {n: reader.get_tensor(n) for n in names}


def _assert_identical(a, b):
    assert a.keys() == b.keys() and any(n.startswith("critic/") for n in a)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.getbasetemp() / "tiny_data"


def test_two_runs_and_a_resumed_one_write_bit_identical_checkpoints(tmp_path, data_dir):
    config = _config(data_dir)
    first, second, resumed = (str(tmp_path / name) for name in ("first", "second", "resumed"))
    train_lib.train(config, first, log=lambda *_: None, progress=False)
    train_lib.train(config, second, log=lambda *_: None, progress=False)
    train_lib.train(config, resumed, log=lambda *_: None, progress=False, until_step=3)
    train_lib.train(config, resumed, log=lambda *_: None, progress=False)
    last = os.path.join("checkpoints", "ckpt-5")
    reference = _variables(os.path.join(first, last))
    _assert_identical(reference, _variables(os.path.join(second, last)))
    _assert_identical(reference, _variables(os.path.join(resumed, last)))
    # the runs did train: the joint steps moved the critic away from its pre-training (initial) weights
    start = _variables(os.path.join(first, "checkpoints", "ckpt-2"))
    assert any(np.any(start[n] != reference[n]) for n in reference if n.startswith("critic/"))


def test_configure_turns_determinism_off_again_for_a_run_without_it():
    was_on = tf_config.is_op_determinism_enabled()
    try:
        assert determinism.configure(TrainConfig(deterministic_ops=True))
        assert not determinism.configure(TrainConfig(deterministic_ops=False))
    finally:
        if was_on:
            tf.config.experimental.enable_op_determinism()
