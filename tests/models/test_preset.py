"""The pose network's Keras-native files: ``.keras`` and the KerasHub-style preset folder, their loaders and
their one-line errors."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from awh_tf.errors import ModelFileError
from awh_tf.models import ModelConfig, PoseNetwork, build_pose_network, load_pose_network, preset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ModelConfig(input_size=32, channels=8, num_stacks=2, hourglass_depth=1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """``(network, folder)``: a tiny two-stack network saved as ``pose_network.keras`` and ``keras_preset/``."""
    keras.utils.set_random_seed(0)
    network = build_pose_network(TINY)
    folder = tmp_path_factory.mktemp("preset")
    preset.save_keras(network, str(folder / preset.KERAS_FILE))
    preset.save_preset(network, str(folder / preset.PRESET_DIR))
    return network, folder


def _assert_same_outputs(a, b):
    images = np.random.default_rng(1).random((2, 32, 32, 3), dtype=np.float32)
    out_a, out_b = a(images, training=False), b(images, training=False)
    assert sorted(out_a) == sorted(out_b)
    for name in out_a:
        np.testing.assert_array_equal(np.asarray(out_a[name]), np.asarray(out_b[name]), err_msg=name)


def test_keras_file_loads_with_keras_and_with_the_package(saved):
    network, folder = saved
    path = str(folder / preset.KERAS_FILE)
    assert sorted(os.listdir(folder)) == [preset.PRESET_DIR, preset.KERAS_FILE]  # no .partial.keras left
    for loaded in (keras.saving.load_model(path), load_pose_network(path), PoseNetwork.from_preset(path)):
        assert isinstance(loaded, PoseNetwork) and loaded.num_stacks == 2
        _assert_same_outputs(network, loaded)


def test_preset_folder_has_the_kerashub_layout(saved):
    network, folder = saved
    preset_dir = folder / preset.PRESET_DIR
    assert sorted(os.listdir(preset_dir)) == ["config.json", "metadata.json", "model.weights.h5"]
    config = json.loads((preset_dir / "config.json").read_text())
    assert config["registered_name"] == "awh_tf>PoseNetwork" and config["class_name"] == "PoseNetwork"
    assert config["config"]["num_stacks"] == 2 and config["config"]["input_size"] == 32
    meta = json.loads((preset_dir / "metadata.json").read_text())
    assert meta["parameter_count"] == network.count_params() and meta["keras_version"] == keras.__version__
    assert {"tensorflow_version", "awh_tf_version", "date_saved"} <= set(meta)
    assert "synchronized=True" in meta["backend"]
    loaded = PoseNetwork.from_preset(str(preset_dir))
    assert loaded.get_config() == network.get_config()
    _assert_same_outputs(network, loaded)


def test_errors_are_one_line(saved, tmp_path):
    _, folder = saved
    with pytest.raises(ModelFileError, match=r"nowhere.keras: no such file or preset folder$"):
        load_pose_network(str(tmp_path / "nowhere.keras"))
    with pytest.raises(ModelFileError, match=r"empty: not a preset folder \(missing config.json, model.weights.h5\)$"):
        os.makedirs(tmp_path / "empty")
        load_pose_network(str(tmp_path / "empty"))
    with pytest.raises(ModelFileError, match=r"must end in .keras"):
        preset.save_keras(None, str(tmp_path / "pose.h5"))


def test_an_unregistered_class_names_the_import(saved, tmp_path):
    """A preset naming a class this awh_tf does not register (a file from another version)."""
    _, folder = saved
    other = tmp_path / "other"
    os.makedirs(other)
    config = json.loads((folder / preset.PRESET_DIR / "config.json").read_text())
    config.update(class_name="PoseNetworkV9", registered_name="awh_tf>PoseNetworkV9")
    (other / "config.json").write_text(json.dumps(config))
    (other / "model.weights.h5").write_bytes((folder / preset.PRESET_DIR / "model.weights.h5").read_bytes())
    with pytest.raises(ModelFileError) as info:
        load_pose_network(str(other))
    message = str(info.value)
    assert "\n" not in message and "'PoseNetworkV9'" in message and "`import awh_tf.models`" in message


@pytest.mark.slow
def test_plain_keras_without_the_import_fails_naming_the_module(saved):
    """What a user sees from ``keras.saving.load_model`` when ``awh_tf.models`` was not imported (Keras's own
    message: it names the class and, in the config it prints, the module to import)."""
    _, folder = saved
    code = (f"import keras\ntry:\n    keras.saving.load_model({str(folder / preset.KERAS_FILE)!r})\n"
            f"except TypeError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "Could not locate class 'PoseNetwork'" in out.stdout and "awh_tf.models.pose_network" in out.stdout
