"""Subprocess body of test_distribute.py: one MirroredStrategy step on two logical CPU devices must give
the same weights as one single-device step on the same global batch.

Run as ``python tests/training/mirrored_step_check.py DA``; prints the largest weight difference and exits
non-zero when it exceeds the tolerance. (Logical devices must be configured before TensorFlow starts, so
this cannot run inside the pytest process.)
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import numpy as np  # noqa: E402

from awh_tf.config import PipelineConfig  # noqa: E402
from awh_tf.config import ModelConfig  # noqa: E402
from awh_tf.training import train_lib  # noqa: E402
from awh_tf.config import Config, TrainConfig  # noqa: E402
from tests.training.step_check_common import comparable_trainer  # noqa: E402


def tiny_config(da):
    model = ModelConfig(input_size=32, channels=8, num_stacks=1, hourglass_depth=1, depth_reg_size=8,
                        depth_reg_filters=(8,), depth_reg_units=(16,), critic_filters=(8,), critic_units=(8,))
    return Config(model=model, pipeline=PipelineConfig(input_size=32, depth_size=8),
                  train=TrainConfig(da=da, batch_size=8, pretrain_steps=0, train_steps=1, n_critic=1,
                                    warmup_steps=0, learning_rate=1e-2))


def fixed_batch(cfg):
    rng = np.random.default_rng(0)
    half, s, d = cfg.train.batch_size // 2, cfg.model.input_size, cfg.model.depth_reg_size

    def elem():
        return {"image": rng.uniform(size=(half, s, s, 3)).astype("float32"),
                "uv": rng.uniform(0, s, size=(half, 21, 2)).astype("float32"),
                "z_rel": rng.normal(size=(half, 21)).astype("float32"),
                # All visible: a masked mean per replica then equals the global one (see the test).
                "visible": np.ones((half, 21), bool),
                "depth_target": rng.uniform(size=(half, d, d)).astype("float32"),
                "has_2d": np.ones(half, bool), "has_depth": np.ones(half, bool), "has_3d": np.zeros(half, bool)}

    return {"source": elem(), "target": elem()}


def one_step(cfg, strategy, batch):
    trainer = comparable_trainer(cfg, strategy)
    _, joint = train_lib.make_step_functions(trainer, strategy)
    ds = tf.data.Dataset.from_tensors(batch)
    if strategy.num_replicas_in_sync > 1:
        ds = strategy.experimental_distribute_dataset(ds)
    logs = joint(next(iter(ds)))
    weights = [v.numpy() for v in trainer.pose_variables]
    return weights, {k: float(np.mean(v)) for k, v in logs.items()}


def main(da):
    cfg = tiny_config(da)
    batch = fixed_batch(cfg)
    single, logs1 = one_step(cfg, tf.distribute.get_strategy(), batch)
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert mirrored.num_replicas_in_sync == 2
    multi, logs2 = one_step(cfg, mirrored, batch)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(single, multi))
    moved = max(float(np.max(np.abs(a))) for a in single)
    print(f"max weight difference {diff:.3g}; loss single {logs1['loss']:.6f} mirrored {logs2['loss']:.6f}")
    sys.exit(0 if diff < 1e-6 and moved > 0 else 1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "none")
