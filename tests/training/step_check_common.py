"""Shared by the subprocess step checks (mirrored_step_check.py, multi_worker_check.py): a trainer whose
updates can be compared across device layouts. Imports no TensorFlow device set-up of its own."""

import keras

from awh_tf.training import train_lib


def comparable_trainer(cfg, strategy):
    """``train_lib.build_trainer(cfg)`` under ``strategy`` with Adam at a large epsilon.

    Adam with a large epsilon steps in proportion to the gradient. With the default one, the first step is
    ±lr wherever a gradient is mathematically zero but numerically noise (conv biases right before batch
    norm), and summation order alone — which the device layout changes — would flip those signs.
    """
    with strategy.scope():
        trainer = train_lib.build_trainer(cfg)
        trainer.compile(pose_optimizer=keras.optimizers.Adam(1e-2, epsilon=1.0),
                        critic_optimizer=keras.optimizers.Adam(1e-3, epsilon=1.0))
        trainer.build_optimizers()
    return trainer
