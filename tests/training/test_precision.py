"""--precision: training in mixed_bfloat16 / mixed_float16 (critic and gradient penalty included), float32
checkpoints, float32 evaluation and export of a mixed-precision run."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from awh_tf import run_dir
from awh_tf.models import preset
from awh_tf.training import train_lib
from awh_tf.config import Config, TrainConfig
from tests.evaluation.conftest import tiny_config


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.getbasetemp() / "tiny_data"


@pytest.fixture(autouse=True)
def float32_afterwards():
    yield
    keras.mixed_precision.set_global_policy("float32")


def _checkpoint_dtypes(workdir):
    reader = tf.train.load_checkpoint(os.path.join(workdir, "checkpoints"))
    return {n: reader.get_variable_to_dtype_map()[n] for n in reader.get_variable_to_shape_map()
            if n.startswith(("pose_network/", "critic/", "depth_regularizer/"))}


def test_precision_is_checked_and_old_configs_migrate():
    with pytest.raises(ValueError, match="precision: expected one of"):
        TrainConfig(precision="bfloat16")
    old = Config().to_dict()
    old["train"].pop("precision")
    old["train"]["mixed_precision"] = True
    assert Config.from_dict(old).train.precision == "mixed_float16"


@pytest.mark.parametrize("precision", ["mixed_bfloat16", pytest.param("mixed_float16", marks=pytest.mark.slow)])
def test_mixed_precision_run_trains_with_float32_variables(tmp_path, data_dir, precision):
    config = tiny_config(data_dir, da="none", pretrain_steps=3, precision=precision)
    workdir = str(tmp_path / "run")
    trainer = train_lib.train(config, workdir, log=lambda *_: None, progress=False)
    assert trainer.pose_network.dtype_policy.name == precision
    assert trainer.pose_network(np.zeros((1, 32, 32, 3), np.float32))["uv"].dtype == tf.float32
    dtypes = _checkpoint_dtypes(workdir)
    assert dtypes and set(dtypes.values()) == {tf.float32}
    net, _ = run_dir.restore_pose_network(config, workdir)  # evaluation / export read it as float32
    assert net.dtype_policy.name == "float32"
    restored = {v.path: v.numpy() for v in net.weights}
    trained = {v.path: v.numpy() for v in trainer.pose_network.weights}
    for name in restored:
        np.testing.assert_array_equal(restored[name], trained[name], err_msg=name)


@pytest.mark.slow
def test_bf16_adversarial_run_resumes_evaluates_and_exports(tmp_path, data_dir):
    """The whole path in mixed_bfloat16: critic, gradient penalty (double backward), α, depth regularizer;
    resume; float32 evaluation, ``pose_network.keras``; an export whose float artefacts pass the gate on the
    test split."""
    from awh_tf.export import export_lib

    config = tiny_config(data_dir, da="awh", pretrain_steps=2, train_steps=3, checkpoint_every=2,
                         precision="mixed_bfloat16")
    workdir = str(tmp_path / "run")
    train_lib.train(config, workdir, log=lambda *_: None, progress=False, until_step=4)
    log = []
    train_lib.train_and_evaluate(config, workdir, log=log.append, progress=False)
    assert any("at step 4" in str(line) for line in log)
    assert set(_checkpoint_dtypes(workdir).values()) == {tf.float32}
    result = train_lib.evaluate(config, workdir, log=lambda *_: None)
    assert np.isfinite(result["epe_mean_mm"])
    options = export_lib.ExportOptions(formats=("fp32", "fp16"), gate_samples=4)
    meta = export_lib.export_run(workdir, str(tmp_path / "export"), options, log=lambda *_: None)
    assert meta["gate"]["mode"] == "task" and meta["gate"]["crops"] == 4
    assert all(row["passed"] for row in meta["gate"]["artefacts"].values()), meta["gate"]
    keras_file = os.path.join(workdir, "pose_network.keras")  # written by the end of training, in float32
    assert preset.load_pose_network(keras_file).dtype_policy.name == "float32"
