"""The SavedModel of the RGB path: one ``serving_default`` signature ``image -> {uv, z_rel}``.

Legend: S input size px, K = 21 keypoints. The signature (what ``saved_model_cli show --dir DIR
--tag_set serve --signature_def serving_default`` prints):

  inputs:  ``image`` float32 ``[1, S, S, 3]`` RGB in [0, 1], a square hand crop
  outputs: ``uv`` float32 ``[1, K, 2]`` px in the crop frame; ``z_rel`` float32 ``[1, K]`` root-relative
           depth in units of the reference bone (palm → middle MCP)

The batch is fixed at 1 so the TFLite files converted from it have static shapes (what mobile delegates
want). Written with ``keras.Model.export`` (DESIGN.md §6); the model must return a dict so the outputs
have names.
"""

import tensorflow as tf
from tensorflow.python.tools import saved_model_utils

SIGNATURE = "serving_default"
INPUT_NAME = "image"


def write_saved_model(model, path, input_size):
    """Exports a functional Keras model ``image [B, S, S, 3] -> {"uv", "z_rel"}`` to ``path``.

    Args:
      model: e.g. ``PoseNetwork.export_model()`` (inference mode: batch norm uses moving statistics).
      path: the SavedModel folder to create.
      input_size: S px.
    """
    spec = tf.TensorSpec((1, input_size, input_size, 3), tf.float32, name=INPUT_NAME)
    model.export(path, format="tf_saved_model", input_signature=[spec], verbose=False)


def describe_signature(path):
    """The ``serving_default`` signature as ``saved_model_cli show`` reads it (from ``saved_model.pb``).

    Returns:
      ``{"inputs": {name: {"dtype": str, "shape": [int]}}, "outputs": {...}}`` (unknown dims are -1).
    """
    meta_graph = saved_model_utils.get_meta_graph_def(path, "serve")
    signature = meta_graph.signature_def[SIGNATURE]

    def describe(tensors):
        return {name: {"dtype": tf.dtypes.as_dtype(info.dtype).name,
                       "shape": [int(d.size) for d in info.tensor_shape.dim]}
                for name, info in sorted(tensors.items())}

    return {"inputs": describe(signature.inputs), "outputs": describe(signature.outputs)}


def run_saved_model(path, images):
    """Reloads the SavedModel and runs ``serving_default`` on each crop.

    Args:
      path: SavedModel folder.  images: ``[N, S, S, 3]`` float32.
    Returns:
      ``{"uv": [N, K, 2], "z_rel": [N, K]}`` numpy float32.
    """
    serve = tf.saved_model.load(path).signatures[SIGNATURE]
    outs = [serve(**{INPUT_NAME: tf.constant(image[None])}) for image in images]
    return {name: tf.concat([o[name] for o in outs], axis=0).numpy() for name in ("uv", "z_rel")}
