"""Inspection: FLOP counting against hand-computed MACs, the report, the .keras round trip."""

import keras
import pytest
import tensorflow as tf

from awh_tf.models import ModelConfig
from awh_tf.models.flops import count_flops
from awh_tf.models.inspection import inspect_models


def test_count_flops_matches_hand_computed_macs():
    conv = keras.layers.Conv2D(5, 3, padding="same", use_bias=False)
    conv.build((1, 8, 8, 4))
    # 8*8 outputs x 3*3*4 inputs x 5 filters MACs, 2 FLOPs each.
    assert count_flops(conv, [tf.TensorSpec((1, 8, 8, 4))]) == 2 * 8 * 8 * 3 * 3 * 4 * 5
    dense = keras.layers.Dense(7, use_bias=False)
    dense.build((1, 10))
    assert count_flops(dense, [tf.TensorSpec((1, 10))]) == 2 * 10 * 7


def test_inspect_models_reports_and_round_trips():
    cfg = ModelConfig(input_size=32, channels=8, hourglass_depth=1, critic_filters=(), critic_units=(),
                      depth_reg_size=8, depth_reg_units=(8,), depth_reg_filters=(4,))
    lines = []
    report = inspect_models(cfg, print_fn=lines.append)
    assert report["roundtrip_max_abs_diff"] == 0.0
    # A critic with no hidden layers is one dense layer on the flattened 4x4x8 features: 128 + 1 weights,
    # 128 MACs + 1 bias add.
    assert report["critic"] == {"params": 129, "trainable_params": 129,
                                "gflops_per_image": pytest.approx(257e-9, rel=1e-9)}
    assert report["feature_similarity_weighting"]["params"] == 0
    pose = report["pose_network"]
    assert pose["trainable_params"] < pose["params"] and pose["gflops_per_image"] > 0
    text = "\n".join(lines)
    assert "hourglass0" in text and "pose_network .keras round trip" in text
