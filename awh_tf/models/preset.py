"""The pose network as Keras-native files: ``pose_network.keras`` and a preset folder in the KerasHub layout.

A preset folder (what KerasHub's ``save_to_preset`` writes for a backbone)::

    config.json        keras.saving.serialize_keras_object(network): module, class, registered name
                       ("awh_tf>PoseNetwork") and every constructor argument
    model.weights.h5   network.save_weights(...)
    metadata.json      keras / tensorflow / awh_tf versions, parameter_count, date_saved, backend note

Both load with :func:`load_pose_network` (a ``.keras`` file or a preset folder) or
``PoseNetwork.from_preset(path)``; the ``.keras`` file also with plain ``keras.saving.load_model`` once
``awh_tf.models`` is imported (importing it registers the classes under package ``awh_tf``). Without that
import Keras cannot find the classes; :func:`load_pose_network` turns that into one line naming the import.

**TensorFlow only**: every batch norm of the network is ``BatchNormalization(synchronized=True)``
(``ConvBNReLU``, ``Residual``), which Keras 3 refuses to construct on another backend ("only supported with
the TensorFlow backend"). A multi-backend step would save with ``synchronized=False`` (the moving statistics
and the inference outputs are the same; only multi-device training differs) or make it a constructor flag.
"""

import datetime
import json
import os

import keras
import numpy as np

from awh_tf.errors import ModelFileError

KERAS_FILE = "pose_network.keras"
PRESET_DIR = "keras_preset"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
BACKEND_NOTE = ("TensorFlow backend only: BatchNormalization(synchronized=True) in ConvBNReLU and Residual "
                "(Keras 3 implements synchronised batch norm for TensorFlow only)")


def save_keras(network, path):
    """Writes ``network`` (a built :class:`~awh_tf.models.PoseNetwork`) as one ``.keras`` file, whole or not
    at all (written beside it, then renamed: a killed process leaves no truncated file under ``path``)."""
    if not str(path).endswith(".keras"):
        raise ModelFileError(f"{path}: a Keras model file must end in .keras")
    partial = str(path)[: -len(".keras")] + ".partial.keras"
    network.save(partial)
    os.replace(partial, path)


def preset_metadata(network):
    """``metadata.json`` of a preset: versions, parameter count, date (KerasHub's keys plus ours)."""
    import tensorflow as tf

    import awh_tf

    return {"keras_version": keras.__version__, "tensorflow_version": tf.__version__,
            "awh_tf_version": awh_tf.__version__, "parameter_count": int(network.count_params()),
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"), "backend": BACKEND_NOTE}


def save_preset(network, preset_dir):
    """Writes ``network`` as a preset folder (module docstring) at ``preset_dir`` (created)."""
    os.makedirs(preset_dir, exist_ok=True)
    _write_json(os.path.join(preset_dir, CONFIG_FILE), keras.saving.serialize_keras_object(network))
    network.save_weights(os.path.join(preset_dir, WEIGHTS_FILE))
    _write_json(os.path.join(preset_dir, METADATA_FILE), preset_metadata(network))


def _write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=4)
        f.write("\n")


def load_pose_network(path):
    """The pose network in ``path``: a ``.keras`` file or a preset folder (module docstring).

    Returns:
      a built :class:`~awh_tf.models.PoseNetwork` (weights restored, inference outputs as when saved).
    Raises:
      ModelFileError: no such file or folder, a folder without the preset's files, or classes that are not
        registered (one line naming the import).
    """
    import awh_tf.models  # noqa: F401 (registers the classes the files name)

    if os.path.isdir(path):
        return _load_preset(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such file or preset folder")
    return _deserialise(path, lambda: keras.saving.load_model(path, compile=False))


def _load_preset(preset_dir):
    files = [os.path.join(preset_dir, name) for name in (CONFIG_FILE, WEIGHTS_FILE)]
    missing = [os.path.basename(f) for f in files if not os.path.isfile(f)]
    if missing:
        raise ModelFileError(f"{preset_dir}: not a preset folder (missing {', '.join(missing)})")
    with open(files[0]) as f:
        config = json.load(f)
    network = _deserialise(preset_dir, lambda: keras.saving.deserialize_keras_object(config))
    size = network.input_size
    network(np.zeros((1, size, size, 3), np.float32), training=False)  # builds the weights to load into
    network.load_weights(files[1])
    return network


def _deserialise(path, load):
    try:
        return load()
    except TypeError as e:
        if "Could not locate class" not in str(e):
            raise
        name = str(e).split("'")[1] if "'" in str(e) else "?"
        raise ModelFileError(f"{path}: Keras cannot find class {name!r}: `import awh_tf.models` before "
                          f"keras.saving.load_model (it registers the classes), or use "
                          f"awh_tf.models.load_pose_network; a file from another awh_tf version needs that "
                          f"version") from None


def from_preset(path):
    """KerasHub's spelling of :func:`load_pose_network` (also ``PoseNetwork.from_preset``)."""
    return load_pose_network(path)
