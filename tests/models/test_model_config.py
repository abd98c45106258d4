"""ModelConfig: flag-compatible field types, derived sizes, the paper size, one-line validation errors."""

import dataclasses
import typing

import pytest

from awh_tf.models import ModelConfig


def test_every_field_is_a_flag_type():
    hints = typing.get_type_hints(ModelConfig)
    for field in dataclasses.fields(ModelConfig):
        hint = hints[field.name]
        ok = hint in (bool, int, float, str) or (
            typing.get_origin(hint) is tuple and typing.get_args(hint)[0] in (int, float, str))
        assert ok, f"{field.name}: {hint}"


def test_derived_sizes():
    cfg = ModelConfig(input_size=128, heatmap_stride=2, hourglass_depth=3, channels=16)
    assert (cfg.heatmap_size, cfg.bottleneck_size, cfg.bottleneck_shape) == (64, 8, (8, 8, 16))


def test_paper_size():
    cfg = ModelConfig.paper_size()
    assert (cfg.input_size, cfg.num_stacks, cfg.channels, cfg.heatmap_size) == (256, 2, 256, 64)
    assert cfg.bottleneck_shape == (4, 4, 256)
    assert ModelConfig.paper_size(awh_stack=1).awh_stack == 1


@pytest.mark.parametrize("field, value, message", [
    ("input_size", 60, "ModelConfig.input_size: expected a positive multiple of"),
    ("heatmap_stride", 3, "ModelConfig.heatmap_stride: expected a power of two, got 3"),
    ("intermediate", "fss", "ModelConfig.intermediate"),
    ("awh_stack", 2, r"ModelConfig.awh_stack: expected -1 \(every stack\) or in \[0, num_stacks=2\), got 2"),
    ("awh_features", "skips", r"ModelConfig.awh_features: expected one of .*bottleneck.*, got .skips."),
    ("critic_norm", "batch", "ModelConfig.critic_norm"),
    ("depth_reg_size", 20, "ModelConfig.depth_reg_size"),
    ("channels", 7, "ModelConfig.channels"),
])
def test_invalid_values_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**{field: value})
