"""SavedModel → ONNX (``pose.onnx``) with tf2onnx; onnxruntime runs it for the export gate.

The file has the SavedModel's interface (legend: S input size px, K = 21 keypoints): input ``image``
float32 ``[1, S, S, 3]`` RGB in [0, 1] (NHWC, as for every other artefact), outputs ``uv`` float32
``[1, K, 2]`` and ``z_rel`` float32 ``[1, K]``, addressed by name. Opset :data:`OPSET`, ONNX-standard ops
only (no TensorFlow or custom domain).

Why tf2onnx called directly rather than ``keras.Model.export(format="onnx")``: under the TensorFlow
backend Keras's exporter *is* tf2onnx (``tf2onnx.convert.from_function`` on the model's call) plus a
numpy-2 workaround that sets ``np.object`` globally and replaces two of tf2onnx's functions —
obsolete for tf2onnx 1.17, which supports numpy 2. Calling tf2onnx ourselves converts the SavedModel's
``serving_default`` — the graph every ``.tflite`` file is converted from, so all artefacts have one
source — without patching numpy, at a pinned opset, and lets us check what tf2onnx does not: with
``from_function`` it keeps going past a TensorFlow op it cannot convert and leaves the op in the graph
under its TensorFlow name, a file onnxruntime refuses to load. :func:`convert` turns that into an
:class:`ExportError` naming the ops (the counterpart of the TFLite built-ins-only rule).

tf2onnx, onnx and onnxruntime are optional (``requirements-onnx.txt``): without them the ``onnx`` format
is refused with one line naming the install command (:func:`require`); nothing else needs them.
Importing this module starts no TensorFlow (``awh_tf.export.benchmark`` uses :func:`session`).
"""

import collections
import contextlib
import importlib.metadata
import importlib.util
import logging

from awh_tf.errors import first_line
from awh_tf.export.errors import ExportError

FORMAT = "onnx"
FILENAME = "pose.onnx"
# tf2onnx 1.17's default; onnxruntime has loaded opset 15 since 1.10 (2021) and the pose network needs
# nothing newer (Conv, MaxPool, Add/Mul, Relu, Reshape, Transpose, Exp, ReduceMax/ReduceSum, Div).
OPSET = 15
PACKAGES = ("tf2onnx", "onnx", "onnxruntime")
INSTALL = "pip install -r requirements-onnx.txt"
INPUT_NAME = "image"  # = awh_tf.export.saved_model.INPUT_NAME
OUTPUT_NAMES = ("uv", "z_rel")


def missing_packages():
    """The packages of :data:`PACKAGES` that are not installed (importable), in that order."""
    return [name for name in PACKAGES if importlib.util.find_spec(name) is None]


def require():
    """Raises ExportError (one line, with the install command) unless tf2onnx, onnx and onnxruntime are
    installed."""
    missing = missing_packages()
    if missing:
        raise ExportError(f"--formats {FORMAT}: needs {', '.join(PACKAGES)}; not installed: "
                          f"{', '.join(missing)} ({INSTALL})")


@contextlib.contextmanager
def _quiet_tf2onnx():
    """tf2onnx logs every rewrite at INFO and unsupported ops at ERROR; :func:`convert` reports the
    latter itself, as one line."""
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def convert(saved_model_dir, opset=OPSET):
    """Converts the SavedModel's ``serving_default`` to ONNX.

    Args:
      saved_model_dir: folder written by :func:`awh_tf.export.saved_model.write_saved_model`.
      opset: the ONNX opset (default :data:`OPSET`).
    Returns:
      the serialised ``ModelProto``, bytes.
    Raises:
      ExportError: packages missing, the conversion failed, the graph keeps ops that are not ONNX ops
        of ``opset``, the model fails ``onnx.checker``, or its inputs/outputs are not the SavedModel's.
    """
    require()
    import onnx
    import tensorflow as tf
    import tf2onnx

    from awh_tf.export.saved_model import SIGNATURE

    loaded = tf.saved_model.load(saved_model_dir)  # kept referenced: the signature uses its variables
    serve = loaded.signatures[SIGNATURE]
    image = serve.structured_input_signature[1][INPUT_NAME]
    spec = tf.TensorSpec(image.shape, image.dtype, name=INPUT_NAME)

    @tf.function(input_signature=[spec])
    def pose(image):
        return serve(**{INPUT_NAME: image})  # {"uv", "z_rel"}: tf2onnx names the outputs by these keys

    try:
        with _quiet_tf2onnx():
            proto, _ = tf2onnx.convert.from_function(pose, input_signature=[spec], opset=opset)
    except Exception as e:  # tf2onnx raises whatever its handlers raise
        raise ExportError(f"ONNX conversion failed: {first_line(e)}") from None
    unknown = non_onnx_ops(proto)
    if unknown:
        raise ExportError(f"ONNX: the model needs ops that ONNX opset {opset} does not have "
                          f"({', '.join(unknown)}); tf2onnx has no conversion for them")
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as e:
        raise ExportError(f"ONNX: the converted model fails onnx.checker: {first_line(e)}") from None
    _check_interface(proto, [int(d) for d in spec.shape])
    return proto.SerializeToString()


def non_onnx_ops(proto):
    """Sorted ``domain:op`` (``op`` for the default domain) of the nodes whose op is not defined at the
    model's opset of that domain — in a tf2onnx output, the TensorFlow ops it could not convert."""
    import onnx

    versions = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    unknown = set()
    for node in proto.graph.node:
        domain = node.domain or "ai.onnx"
        try:
            onnx.defs.get_schema(node.op_type, versions.get(domain, 0), "" if domain == "ai.onnx" else domain)
        except onnx.defs.SchemaError:
            unknown.add(node.op_type if domain == "ai.onnx" else f"{domain}:{node.op_type}")
    return sorted(unknown)


def _check_interface(proto, input_shape):
    """The graph's input and outputs are the SavedModel's: ``image`` ``input_shape``, ``uv``, ``z_rel``."""
    def described(values):
        return [(v.name, [d.dim_value for d in v.type.tensor_type.shape.dim]) for v in values]

    inputs, outputs = described(proto.graph.input), described(proto.graph.output)
    if inputs != [(INPUT_NAME, input_shape)] or sorted(name for name, _ in outputs) != list(OUTPUT_NAMES):
        raise ExportError(f"ONNX: inputs {inputs} / outputs {outputs} differ from the SavedModel's "
                          f"{INPUT_NAME} {input_shape} -> {', '.join(OUTPUT_NAMES)}")


def summary(model_bytes):
    """What a ``pose.onnx`` is and contains: ``{"opset", "ops": {op: count}, "converter", "onnx",
    "checked_with"}`` (the last three: the library versions that wrote and ran it)."""
    import onnx

    proto = onnx.load_model_from_string(model_bytes)
    ops = collections.Counter(node.op_type for node in proto.graph.node)
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    return {"opset": int(opset), "ops": dict(sorted(ops.items())),
            "converter": f"tf2onnx {importlib.metadata.version('tf2onnx')}",
            "onnx": importlib.metadata.version("onnx"),
            "checked_with": f"onnxruntime {importlib.metadata.version('onnxruntime')}"}


def session(model_path, num_threads=2):
    """An onnxruntime CPU session on ``model_path`` with ``num_threads`` intra-op threads (ops run one
    at a time: the graph is a chain)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
