"""Subprocess body of test_multi_worker.py: a few joint steps of the method (critic, gradient penalty and
similarity weighting included) under ``MultiWorkerMirroredStrategy`` with two worker processes on 127.0.0.1,
or the same steps in one process under ``MirroredStrategy`` on two logical CPUs (the reference: the same
global batch, the same per-replica split, so the same per-replica batch statistics).

    python tests/training/multi_worker_check.py reference OUT.npz
    python tests/training/multi_worker_check.py worker INDEX PORT0 PORT1 OUT.npz

Writes every pose-network, depth-regularizer and critic variable and the steps' losses to ``OUT.npz``.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
MODE = sys.argv[1]
if MODE == "worker":
    index, ports = int(sys.argv[2]), sys.argv[3:5]
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                                          "task": {"type": "worker", "index": index}})

import tensorflow as tf  # noqa: E402

if MODE == "reference":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import numpy as np  # noqa: E402

from awh_tf.config import PipelineConfig  # noqa: E402
from awh_tf.config import ModelConfig  # noqa: E402
from awh_tf.training import train_lib  # noqa: E402
from awh_tf.config import Config, TrainConfig  # noqa: E402
from tests.training.step_check_common import comparable_trainer  # noqa: E402

STEPS = 3
GLOBAL_BATCH = 8  # 4 synthetic + 4 real; 2 + 2 per replica


def tiny_config():
    model = ModelConfig(input_size=32, channels=8, num_stacks=1, hourglass_depth=1, depth_reg_size=8,
                        depth_reg_filters=(8,), depth_reg_units=(16,), critic_filters=(8,), critic_units=(8,))
    return Config(model=model, pipeline=PipelineConfig(input_size=32, depth_size=8),
                  train=TrainConfig(da="awh", batch_size=GLOBAL_BATCH, pretrain_steps=0, train_steps=STEPS,
                                    n_critic=2, warmup_steps=0, learning_rate=1e-2, strategy="multi_worker"))


def global_batches(cfg):
    rng = np.random.default_rng(0)
    half, s, d = GLOBAL_BATCH // 2, cfg.model.input_size, cfg.model.depth_reg_size

    def elem():
        return {"image": rng.uniform(size=(half, s, s, 3)).astype("float32"),
                "uv": rng.uniform(0, s, size=(half, 21, 2)).astype("float32"),
                "z_rel": rng.normal(size=(half, 21)).astype("float32"),
                "visible": rng.uniform(size=(half, 21)) > 0.2,
                "depth_target": rng.uniform(size=(half, d, d)).astype("float32"),
                "has_2d": np.ones(half, bool), "has_depth": np.ones(half, bool), "has_3d": np.zeros(half, bool)}

    return [{"source": elem(), "target": elem()} for _ in range(STEPS)]


def per_replica(strategy, batch):
    """Replica r gets rows [r·h, (r+1)·h) of each domain's half of the global batch."""
    n = strategy.num_replicas_in_sync

    def slice_for(ctx):
        r = ctx.replica_id_in_sync_group
        return tf.nest.map_structure(lambda a: tf.constant(np.array_split(a, n)[r]), batch)

    return strategy.experimental_distribute_values_from_function(slice_for)


def main():
    out = sys.argv[-1]
    if MODE == "reference":
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
    cfg = tiny_config()
    trainer = comparable_trainer(cfg, strategy)
    _, joint = train_lib.make_step_functions(trainer, strategy)
    losses = []
    for batch in global_batches(cfg):
        logs = joint(per_replica(strategy, batch))
        losses.append([float(logs["loss"]), float(logs["wasserstein"])])
    variables = {}
    for model in (trainer.pose_network, trainer.depth_regularizer, trainer.critic):
        variables.update({f"{model.name}/{v.path}": v.numpy() for v in model.variables})
    np.savez(out, losses=np.asarray(losses), **variables)
    print(f"{MODE}: losses {losses}", flush=True)


if __name__ == "__main__":
    main()
