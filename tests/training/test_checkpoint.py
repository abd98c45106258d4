"""A checkpoint holds every variable of the pose network (batch-norm statistics included), and a restored
network computes exactly what the trained one does."""

import numpy as np
import pytest
import tensorflow as tf

from awh_tf import errors, run_dir
from awh_tf.training import train_lib
from tests.evaluation.conftest import tiny_config


def test_restored_network_equals_trained_network(tmp_path_factory, tmp_path):
    config = tiny_config(tmp_path_factory.getbasetemp() / "tiny_data", da="none", pretrain_steps=2,
                         train_steps=0)
    workdir = str(tmp_path / "run")
    trainer = train_lib.train(config, workdir, log=lambda *_: None, progress=False)
    trained = trainer.pose_network
    moving = [v for v in trained.non_trainable_variables if "moving_mean" in v.path]
    assert moving and any(np.any(v.numpy() != 0) for v in moving)  # training updated them

    restored, path = run_dir.restore_pose_network(config, workdir)
    assert path.endswith("ckpt-2")
    for a, b in zip(trained.variables, restored.variables):
        assert a.path == b.path
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    images = tf.random.stateless_uniform((2, 32, 32, 3), seed=(1, 2))
    np.testing.assert_allclose(trained(images, training=False)["uv"], restored(images, training=False)["uv"],
                               atol=1e-5)


def test_restore_refuses_another_architecture(tmp_path_factory, tmp_path):
    import dataclasses

    config = tiny_config(tmp_path_factory.getbasetemp() / "tiny_data", da="none", pretrain_steps=1,
                         train_steps=0)
    workdir = str(tmp_path / "run")
    train_lib.train(config, workdir, log=lambda *_: None, progress=False)
    wider = dataclasses.replace(config, model=dataclasses.replace(config.model, channels=16))
    with pytest.raises(errors.TrainingError, match="does not hold this run's pose network"):
        run_dir.restore_pose_network(wider, workdir)
