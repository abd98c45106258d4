"""SavedModel → TFLite (LiteRT) in four precisions, TFLite built-in ops only (DESIGN.md §6).

Formats (every one keeps the SavedModel's ``serving_default`` signature: float32 ``image`` in, float32
``uv`` and ``z_rel`` out, so one client runs them all):

* ``fp32`` — plain conversion.
* ``fp16`` — weights stored as float16 (dequantised at load; half the size, same float arithmetic).
* ``dynamic_int8`` — weights int8, activations float (dynamic-range quantisation; no data needed), except
  the two ends of the network, whose weights stay float32: the first convolution (on the image) and the
  convolutions feeding the soft-argmax head. On the trained demo, int8 weights there alone cost 0.05 px
  (first conv) and 0.02 px (heatmap conv) of the former parity check's 0.1 px budget; restoring them takes 14 KB
  (:func:`restore_float_weights` puts the float model's tensors back into the quantised flatbuffer, so
  those ops run as plain float convolutions).
* ``int8`` — the backbone fully integer (weights and activations int8, calibrated on a representative
  dataset from the training data) with the **soft-argmax kept in float**. An int8 softmax over the h·w
  heatmap cells is too coarse for an expectation over them (DESIGN.md §6: errors of several pixels), so
  the ops between the last convolutions and the outputs — reshape, max, exp, sum, divide, the
  coordinate and depth expectations — are denylisted from quantisation with
  ``tf.lite.experimental.QuantizationDebugger`` (selective quantisation); the converter inserts one
  dequantise at the boundary. The input is float32 [0, 1] and quantised by the model's first op, so its
  interface matches the other formats. ``int8_float_scope`` chooses what stays float: ``ends`` (default:
  the soft-argmax and the first convolution, as for ``dynamic_int8``), ``soft_argmax``, ``head`` (the
  soft-argmax and the head's two 1×1 convolutions) or ``none`` (everything int8, for comparison only: it
  is ~10 px off).

A model needing TensorFlow (Flex) ops fails with :class:`ExportError` unless ``allow_flex``.
"""

import collections
import warnings

import tensorflow as tf
from tensorflow.lite.tools import flatbuffer_utils

from awh_tf.export.errors import ExportError

TFLITE_FORMATS = ("fp32", "fp16", "dynamic_int8", "int8")
INT8_FLOAT_SCOPES = ("ends", "soft_argmax", "head", "none")
_FLOAT32 = 0  # tflite schema TensorType.FLOAT32
_INT8 = 9  # tflite schema TensorType.INT8


def tflite_filename(fmt):
    """The artefact's file name in the export folder, e.g. ``pose_int8.tflite``."""
    return f"pose_{fmt}.tflite"


def convert(saved_model_dir, fmt, representative=None, allow_flex=False, int8_float_scope="ends"):
    """Converts the SavedModel's ``serving_default`` to one TFLite format.

    Args:
      saved_model_dir: folder written by :func:`awh_tf.export.saved_model.write_saved_model`.
      fmt: one of :data:`TFLITE_FORMATS`.
      representative: for ``int8``: a callable returning an iterable of ``{"image": [1, S, S, 3]}``
        float32 dicts (the calibration crops).
      allow_flex: also allow TensorFlow (Flex) ops; otherwise a model needing them is an error.
      int8_float_scope: for ``int8``, one of :data:`INT8_FLOAT_SCOPES` (see the module docstring).
    Returns:
      the ``.tflite`` flatbuffer, bytes.
    Raises:
      ExportError: unknown format, no representative data for int8, or ops outside the allowed sets.
    """
    if fmt not in TFLITE_FORMATS:
        raise ExportError(f"--formats: unknown TFLite format {fmt!r}; expected some of {TFLITE_FORMATS}")
    if fmt == "int8":
        return _convert_int8(saved_model_dir, representative, allow_flex, int8_float_scope)
    converter = _converter(saved_model_dir, allow_flex)
    if fmt in ("fp16", "dynamic_int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if fmt == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    model = _run(converter.convert, fmt, allow_flex)
    if fmt == "dynamic_int8":
        float_model = _run(_converter(saved_model_dir, allow_flex).convert, "dynamic_int8 (float pass)",
                           allow_flex)
        model = restore_float_weights(model, float_model, end_convs(float_model))
    return model


def _converter(saved_model_dir, allow_flex):
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if allow_flex:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
    converter.target_spec.supported_ops = ops
    return converter


def _run(convert_fn, fmt, allow_flex):
    """Runs a conversion; a converter failure becomes a one-line ExportError naming the ops."""
    try:
        model = convert_fn()
    except Exception as e:  # ConverterError, or the debugger's RuntimeError around it
        raise ExportError(f"TFLite {fmt} conversion failed: {_conversion_problem(str(e))}") from None
    flex = flex_ops(model)
    if flex and not allow_flex:
        raise ExportError(f"TFLite {fmt}: the model needs Flex ops {flex}; pass --allow_flex to allow them")
    return model


def _conversion_problem(message):
    """The converter's multi-line MLIR error reduced to what the user can act on (one line)."""
    lines = [" ".join(line.split()) for line in message.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("TF Select ops:"):
            return (f"the model needs TensorFlow (Flex) ops ({line[len('TF Select ops:'):].strip()}); "
                    f"only TFLite built-ins are allowed unless --allow_flex")
        if line.startswith("Custom ops:"):
            return f"ops that neither TFLite nor Flex provides ({line[len('Custom ops:'):].strip()})"
    return (lines[0] if lines else "unknown converter error")[:300]


def _convert_int8(saved_model_dir, representative, allow_flex, scope):
    if representative is None:
        raise ExportError("int8: a representative dataset is required")
    if scope not in INT8_FLOAT_SCOPES:
        raise ExportError(f"--int8_float_scope: expected one of {INT8_FLOAT_SCOPES}, got {scope!r}")
    float_model = _run(_converter(saved_model_dir, allow_flex).convert, "int8 (float pass)", allow_flex)
    nodes = []
    if scope != "none":
        nodes = head_tensor_names(float_model, include_convs=(scope == "head"))
    if scope == "ends":
        nodes += first_conv_outputs(float_model)
    converter = _converter(saved_model_dir, allow_flex)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=nodes or None)

    def quantise():
        with warnings.catch_warnings():  # the debugger builds a tf.lite.Interpreter internally
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=representative, debug_options=options)
        return debugger.get_nondebug_quantized_model()

    return _run(quantise, "int8", allow_flex)


def _graph(model_bytes):
    """``(op name of each operator code, subgraph 0)`` of a flatbuffer (custom ops are ``CUSTOM``)."""
    return _graph_of(flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes)))


def _graph_of(model):
    """:func:`_graph` of an already parsed (mutable) ``ModelT``."""
    names = [flatbuffer_utils.opcode_to_name(model, i) for i in range(len(model.operatorCodes))]
    return names, model.subgraphs[0]


def head_tensor_names(model_bytes, include_convs=False):
    """Names of the tensors the soft-argmax head produces: every op from the graph outputs back to the
    nearest ``CONV_2D`` ops (those convs included when ``include_convs``).

    These are the ``denylisted_nodes`` (an op is named by its output tensor) of the int8 conversion. The
    walk needs no layer names, so it holds for any number of stacks.
    """
    op_names, graph = _graph(model_bytes)
    producer = {t: op for op in graph.operators for t in op.outputs}
    names, seen, stack = [], set(), list(graph.outputs)
    while stack:
        op = producer.get(stack.pop())
        if op is None or id(op) in seen:
            continue
        seen.add(id(op))
        is_conv = op_names[op.opcodeIndex] == "CONV_2D"
        if is_conv and not include_convs:
            continue
        names += [graph.tensors[t].name.decode() for t in op.outputs]
        if not is_conv:
            stack += [t for t in op.inputs if t >= 0]
    return sorted(names)


def _convs(op_names, graph):
    return [op for op in graph.operators if op_names[op.opcodeIndex] == "CONV_2D"]


def first_conv_outputs(model_bytes):
    """Output tensor names of the first ``CONV_2D`` in execution order (the one on the image)."""
    op_names, graph = _graph(model_bytes)
    convs = _convs(op_names, graph)
    return [graph.tensors[t].name.decode() for t in convs[0].outputs] if convs else []


def end_convs(model_bytes):
    """Positions, among the ``CONV_2D`` ops in execution order, of the network's two ends in a float
    flatbuffer: the first convolution and those feeding the soft-argmax head (:func:`head_tensor_names`)."""
    op_names, graph = _graph(model_bytes)
    head = set(head_tensor_names(model_bytes, include_convs=True))
    return [i for i, op in enumerate(_convs(op_names, graph))
            if i == 0 or graph.tensors[op.outputs[0]].name.decode() in head]


def restore_float_weights(quantized_bytes, float_bytes, positions):
    """The dynamic-range model ``quantized_bytes`` with the filters of its ``CONV_2D`` ops at ``positions``
    (execution order) put back to the float32 filters of the same ops in ``float_bytes`` (the same
    SavedModel converted without quantisation: the same ops in the same order; tensor names may differ).
    An op whose filter is float again runs the float kernel. Returns the new flatbuffer; raises
    ExportError if the two models' convolutions do not correspond."""
    quantized = flatbuffer_utils.convert_bytearray_to_object(bytearray(quantized_bytes))
    reference = flatbuffer_utils.convert_bytearray_to_object(bytearray(float_bytes))
    (q_names, q_graph), (f_names, f_graph) = _graph_of(quantized), _graph_of(reference)
    q_convs, f_convs = _convs(q_names, q_graph), _convs(f_names, f_graph)
    if len(q_convs) != len(f_convs):
        raise ExportError(f"dynamic_int8: {len(q_convs)} convolutions after quantisation, {len(f_convs)} before")
    for i in positions:
        target, src = q_graph.tensors[q_convs[i].inputs[1]], f_graph.tensors[f_convs[i].inputs[1]]
        if list(target.shape) != list(src.shape):
            raise ExportError(f"dynamic_int8: convolution {i} has filter shape {list(target.shape)} after "
                              f"quantisation, {list(src.shape)} before")
        if target.type != _INT8:
            continue  # below the quantiser's size threshold: already float
        target.type, target.quantization = src.type, None
        quantized.buffers[target.buffer].data = reference.buffers[src.buffer].data
    return bytes(flatbuffer_utils.convert_object_to_bytearray(quantized))


def op_summary(model_bytes):
    """What a ``.tflite`` contains: ``{"ops": {op: count}, "float_ops": {op: count}}``, where ``float_ops``
    counts the ops with a float32 output (in an int8 model: the part kept in float) — excluding
    ``DEQUANTIZE`` of stored weights (fp16/dynamic models) so the figure means computation."""
    op_names, graph = _graph(model_bytes)
    ops, float_ops = collections.Counter(), collections.Counter()
    for op in graph.operators:
        name = op_names[op.opcodeIndex]
        ops[name] += 1
        if name != "DEQUANTIZE" and any(graph.tensors[t].type == _FLOAT32 for t in op.outputs):
            float_ops[name] += 1
    return {"ops": dict(sorted(ops.items())), "float_ops": dict(sorted(float_ops.items()))}


def flex_ops(model_bytes):
    """Sorted names of the TensorFlow (Flex) custom ops a ``.tflite`` needs (empty for built-ins only)."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    names = {(code.customCode or b"").decode() for code in model.operatorCodes}
    return sorted(n for n in names if n.startswith("Flex"))
