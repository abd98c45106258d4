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
    summary = tflite.op_summary(tflite.convert(path, "int8", _representative(rng), int8_float_scope="soft_argmax"))
    assert "CONV_2D" not in summary["float_ops"]  # both convolutions run in int8
    assert summary["float_ops"]["EXP"] == 1 and summary["float_ops"]["DIV"] == 1
    assert summary["ops"]["QUANTIZE"] == 1 and summary["ops"]["DEQUANTIZE"] >= 1  # in and out of int8


def test_int8_default_also_keeps_the_first_convolution_float(small_model, rng):
    path, model = small_model
    summary = tflite.op_summary(tflite.convert(path, "int8", _representative(rng)))
    assert summary["float_ops"]["CONV_2D"] == 1  # conv1 (on the image) float, conv2 int8
    assert summary["float_ops"]["EXP"] == 1
    assert len(tflite.first_conv_outputs(model)) == 1


class _ThreeConvs(tf.Module):
    """image [1, 8, 8, 3] -> conv1 (3x3x3x48) -> conv2 (1x1x48x48) -> conv3 (1x1x48x24) -> soft-argmax:
    every filter has >= 1024 elements, so dynamic-range quantisation makes all three int8."""

    def __init__(self):
        rng = np.random.default_rng(1)
        self.w = [tf.Variable((rng.normal(size=shape) / np.sqrt(np.prod(shape[:3]))).astype(np.float32))
                  for shape in ((3, 3, 3, 48), (1, 1, 48, 48), (1, 1, 48, 24))]
        self.cells = tf.constant(np.arange(64, dtype=np.float32)[None, :, None])

    @tf.function(input_signature=[tf.TensorSpec((1, 8, 8, 3), tf.float32, name="image")])
    def serve(self, image):
        x = tf.nn.relu(tf.nn.conv2d(image, self.w[0], 1, "SAME"))
        x = tf.nn.relu(tf.nn.conv2d(x, self.w[1], 1, "SAME"))
        flat = tf.reshape(tf.nn.conv2d(x, self.w[2], 1, "SAME"), (1, 64, 24))
        p = tf.nn.softmax(flat, axis=1)
        return {"uv": tf.reduce_sum(p * self.cells, axis=1), "z_rel": tf.reduce_sum(p * flat, axis=1)}


def _filter_types(model_bytes):
    """tflite type of every CONV_2D's filter, in execution order."""
    op_names, graph = tflite._graph(model_bytes)
    return [graph.tensors[op.inputs[1]].type for op in graph.operators if op_names[op.opcodeIndex] == "CONV_2D"]


def test_dynamic_int8_keeps_the_ends_float(tmp_path):
    path = _save(_ThreeConvs(), tmp_path / "three")
    float_model = tflite.convert(path, "fp32")
    assert tflite.end_convs(float_model) == [0, 2]
    plain = tf.lite.TFLiteConverter.from_saved_model(path)
    plain.optimizations = [tf.lite.Optimize.DEFAULT]
    assert _filter_types(plain.convert()) == [9, 9, 9]  # the converter alone: all three int8 (INT8 = 9)
    model = tflite.convert(path, "dynamic_int8")
    assert _filter_types(model) == [0, 9, 0]  # FLOAT32 = 0
    # The restored filters hold the float model's exact weights: the outputs match the fp32 file closely,
    # and the int8 middle convolution still makes them differ from it a little.
    image = np.random.default_rng(2).random((1, 8, 8, 3)).astype(np.float32)
    outputs = [_run_bytes(m, image)["z_rel"] for m in (float_model, model)]
    assert 0 < np.abs(outputs[0] - outputs[1]).max() < 0.05 * np.abs(outputs[0]).max()
    with pytest.raises(ExportError, match="convolutions after quantisation"):
        tflite.restore_float_weights(model, tflite.convert(_save(_ConvSoftArgmax(), tmp_path / "two"), "fp32"), [0])


def _run_bytes(model_bytes, image):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=model_bytes).get_signature_runner("serving_default")
    return runner(image=image)


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
