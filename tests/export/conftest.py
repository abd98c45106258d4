"""Tiny runs for the export tests: an untrained 32-px network saved as a training run would save it.

``make_workdir`` writes ``config.json`` and one ``checkpoints/`` entry (no training: export only needs
weights). ``fp32_export`` exports it once per session to the SavedModel and ``pose_fp32.tflite`` with
random crops (its data folder does not exist: the gate's parity fallback) — the fast suite's export and the
client's model.
"""

import os

import keras
import pytest
import tensorflow as tf

from awh_tf.config import PipelineConfig
from awh_tf.models import ModelConfig, build_pose_network
from awh_tf.config import Config, DataConfig

TINY_MODEL = ModelConfig(input_size=32, channels=8, num_stacks=1, hourglass_depth=1)


def tiny_config(data_dir="data/none", model=TINY_MODEL, **data_fields):
    data = DataConfig(data_dir=str(data_dir), generate_if_missing=False, **data_fields)
    pipeline = PipelineConfig(input_size=model.input_size, depth_size=model.depth_reg_size,
                              min_crop_size=16.0)
    return Config(name="tiny_export", data=data, pipeline=pipeline, model=model)


def make_workdir(path, config=None, seed=0, checkpoint=True):
    """A run folder holding ``config.json`` and (if ``checkpoint``) the network's weights; returns it."""
    config = config or tiny_config()
    os.makedirs(path, exist_ok=True)
    config.save(os.path.join(path, "config.json"))
    if checkpoint:
        keras.utils.set_random_seed(seed)
        network = build_pose_network(config.model)
        from awh_tf.run_dir import pose_network_checkpoint

        tf.train.CheckpointManager(pose_network_checkpoint(network), os.path.join(path, "checkpoints"), 1).save()
    return str(path)


@pytest.fixture(scope="session")
def fp32_export(tmp_path_factory):
    """``(workdir, out_dir, metadata)`` of a SavedModel + fp32 export of a run whose data is gone (``data/none``):
    the gate falls back to parity on 8 random crops."""
    from awh_tf.export import export_lib

    base = tmp_path_factory.mktemp("fp32_export")
    workdir = make_workdir(base / "run")
    out_dir = str(base / "out")
    options = export_lib.ExportOptions(formats=("fp32",), gate_samples=8)
    meta = export_lib.export_run(workdir, out_dir, options, log=lambda *_: None)
    return workdir, out_dir, meta
