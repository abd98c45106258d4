"""TFLite conversion on small hand-built SavedModels: which ops the int8 model keeps in float, op
summaries, and the built-ins-only rule (Flex ops are an error unless allowed)."""

import numpy as np
import pytest
import tensorflow as tf

from awh_tf.export import tflite
from awh_tf.export.errors import ExportError


class _ConvSoftArgmax(tf.Module):
    """image [1, 8, 8, 3] -> conv1 -> relu -> conv2 (2 maps) -> softmax over 64 cells -> expectations:
    the shape of the pose network's tail with a known op list."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.w1 = tf.Variable(rng.normal(size=(3, 3, 3, 4)).astype(np.float32))
        self.w2 = tf.Variable(rng.normal(size=(1, 1, 4, 2)).astype(np.float32))
        self.cells = tf.constant(np.arange(64, dtype=np.float32)[None, :, None])

    @tf.function(input_signature=[tf.TensorSpec((1, 8, 8, 3), tf.float32, name="image")])
    def serve(self, image):
        x = tf.nn.relu(tf.nn.conv2d(image, self.w1, 1, "SAME"))
        flat = tf.reshape(tf.nn.conv2d(x, self.w2, 1, "SAME"), (1, 64, 2))
        e = tf.exp(flat - tf.reduce_max(flat, axis=1, keepdims=True))
        p = e / tf.reduce_sum(e, axis=1, keepdims=True)
        return {"uv": tf.reduce_sum(p * self.cells, axis=1), "z_rel": tf.reduce_sum(p * flat, axis=1)}


class _Atan(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec((1, 4), tf.float32, name="image")])
    def serve(self, image):
        return {"uv": tf.math.atan(image), "z_rel": image}  # Atan: a Flex op, not a TFLite built-in


def _save(module, path):
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return str(path)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    path = _save(_ConvSoftArgmax(), tmp_path_factory.mktemp("small") / "sm")
    return path, tflite.convert(path, "fp32")


def test_head_tensors_stop_at_the_nearest_convolutions(small_model):
    _, model = small_model
    summary = tflite.op_summary(model)
    assert summary["ops"]["CONV_2D"] == 2
    head = tflite.head_tensor_names(model)
    with_convs = tflite.head_tensor_names(model, include_convs=True)
    non_conv_ops = sum(n for op, n in summary["ops"].items() if op != "CONV_2D")
    assert len(head) == non_conv_ops  # every op after conv2 (one output tensor each)
    assert len(with_convs) == non_conv_ops + 1  # conv2 added; conv1 lies before it and is never walked
    assert set(head) < set(with_convs)


def test_op_summary_counts_float_ops(small_model):
    _, model = small_model
    summary = tflite.op_summary(model)
    assert summary["ops"]["EXP"] == 1 and summary["ops"]["DIV"] == 1
    assert summary["float_ops"] == summary["ops"]  # an fp32 model computes everything in float


def _representative(rng):
    calibration = rng.random((16, 1, 8, 8, 3)).astype(np.float32)
    return lambda: ({"image": x} for x in calibration)


def test_int8_keeps_the_soft_argmax_float(small_model, rng):
    path, _ = small_model
    summary = tflite.op_summary(tflite.convert(path, "int8", _representative(rng)))
    assert "CONV_2D" not in summary["float_ops"]  # both convolutions run in int8
    assert summary["float_ops"]["EXP"] == 1 and summary["float_ops"]["DIV"] == 1
    assert summary["ops"]["QUANTIZE"] == 1 and summary["ops"]["DEQUANTIZE"] >= 1  # in and out of int8


@pytest.mark.slow
def test_int8_float_scopes(small_model, rng):
    path, _ = small_model
    representative = _representative(rng)
    everything = tflite.op_summary(tflite.convert(path, "int8", representative, int8_float_scope="none"))
    assert "EXP" not in everything["float_ops"]  # full int8: the softmax too
    head = tflite.op_summary(tflite.convert(path, "int8", representative, int8_float_scope="head"))
    assert head["float_ops"].get("CONV_2D") == 1  # conv2 in float, conv1 int8


def test_flex_ops_are_an_error_unless_allowed(tmp_path):
    path = _save(_Atan(), tmp_path / "atan")
    with pytest.raises(ExportError, match=r"^TFLite fp32 conversion failed: the model needs TensorFlow "
                                          r"\(Flex\) ops \(Atan\); .* unless --allow_flex$"):
        tflite.convert(path, "fp32")
    model = tflite.convert(path, "fp32", allow_flex=True)
    assert tflite.flex_ops(model) == ["FlexAtan"]


def test_bad_arguments(small_model):
    path, model = small_model
    assert tflite.flex_ops(model) == []
    with pytest.raises(ExportError, match=r"unknown TFLite format 'int4'"):
        tflite.convert(path, "int4")
    with pytest.raises(ExportError, match=r"int8: a representative dataset is required"):
        tflite.convert(path, "int8")
    assert tflite.tflite_filename("dynamic_int8") == "pose_dynamic_int8.tflite"
