"""Faults: a non-finite loss, an incompatible workdir, missing data, and kill -9 then resume."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from awh_tf import errors, run_dir
from awh_tf.data.errors import DataError
from awh_tf.training import train_lib
from awh_tf.training.streams import InputStreams
from tests.evaluation.conftest import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.getbasetemp() / "tiny_data"


def _quiet(*_):
    pass


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, data_dir, monkeypatch):
    config = tiny_config(data_dir, pretrain_steps=6, train_steps=0, checkpoint_every=2, da="none")
    original = InputStreams.next

    def poisoned(self, step):
        batch = original(self, step)
        if step >= 4:  # the 5th step sees NaN pixels
            batch["image"] = batch["image"] * float("nan")
        return batch

    monkeypatch.setattr(InputStreams, "next", poisoned)
    workdir = str(tmp_path / "run")
    with pytest.raises(errors.TrainingError) as info:
        train_lib.train(config, workdir, log=_quiet, progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("step 5: ") and "nan" in message and "ckpt-4" in message
    ckpts = tf.train.get_checkpoint_state(os.path.join(workdir, "checkpoints"))
    assert ckpts.model_checkpoint_path.endswith("ckpt-4")
    # The kept checkpoint is finite.
    net, _ = run_dir.restore_pose_network(config, workdir)
    assert all(np.all(np.isfinite(v.numpy())) for v in net.weights)


def test_incompatible_workdir_is_refused(tmp_path, data_dir):
    workdir = tmp_path / "run"
    workdir.mkdir()
    config = tiny_config(data_dir)
    config.save(str(workdir / "config.json"))
    other = dataclasses.replace(config, train=dataclasses.replace(config.train, lambda_wd=3.0))
    with pytest.raises(errors.TrainingError, match=r"holds a run with another config \(train.lambda_wd"):
        run_dir.check_workdir(other, str(workdir))
    run_dir.check_workdir(config, str(workdir))  # the same config is fine (resume)


def test_missing_data_folder_is_one_line_error(tmp_path, data_dir):
    config = tiny_config(data_dir)
    config = dataclasses.replace(config, data=dataclasses.replace(
        config.data, rhd_root=str(tmp_path / "nowhere" / "RHD_published_v2"), stb_root=str(tmp_path / "nope")))
    with pytest.raises(DataError) as info:
        train_lib.train(config, str(tmp_path / "run"), log=_quiet, progress=False)
    assert "nowhere" in str(info.value)


def _train_cmd(workdir, data_dir, steps):
    return [sys.executable, "-m", "awh_tf.train", "--name=kill", f"--workdir={workdir}",
            f"--data_dir={data_dir}", "--gen_rhd_train=16", "--gen_rhd_eval=8", "--gen_stb_frames=4",
            "--input_size=32", "--depth_reg_size=8", "--min_crop_size=16", "--channels=8", "--num_stacks=1",
            "--hourglass_depth=1", "--depth_reg_units=16", "--depth_reg_filters=8", "--critic_filters=8",
            "--critic_units=8", "--batch_size=4", "--n_critic=1", "--warmup_steps=1", "--pretrain_steps=3",
            f"--train_steps={steps - 3}", "--checkpoint_every=1", "--log_every=1", "--max_eval_samples=4",
            "--num_parallel_calls=1", "--deterministic=true"]


def _final_weights(workdir):
    reader = tf.train.load_checkpoint(os.path.join(workdir, "checkpoints"))
    names = sorted(n for n in reader.get_variable_to_shape_map()
                   if n.startswith(("pose_network/", "critic/", "depth_regularizer/")))
    assert any("moving_mean" in n for n in names) and any(n.startswith("critic/") for n in names)
    return {n: reader.get_tensor(n) for n in names}


@pytest.mark.slow
def test_kill_minus_nine_then_resume_matches_uninterrupted_run(tmp_path, data_dir):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    steps = 8
    straight = str(tmp_path / "straight")
    subprocess.run(_train_cmd(straight, data_dir, steps), env=env, cwd=ROOT, check=True, capture_output=True,
                   timeout=900)

    killed = str(tmp_path / "killed")
    proc = subprocess.Popen(_train_cmd(killed, data_dir, steps), env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt_dir = os.path.join(killed, "checkpoints")
    deadline = time.time() + 600
    # Kill once the run is past pre-training (both optimizers have state) and before it ends.
    while time.time() < deadline:
        state = tf.train.get_checkpoint_state(ckpt_dir) if os.path.isdir(ckpt_dir) else None
        if state and int(state.model_checkpoint_path.rsplit("-", 1)[1]) >= 5:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    state = tf.train.get_checkpoint_state(ckpt_dir)
    killed_at = int(state.model_checkpoint_path.rsplit("-", 1)[1])
    assert 5 <= killed_at < steps, "the run finished before it could be killed"
    reader = tf.train.load_checkpoint(state.model_checkpoint_path)  # the last checkpoint is readable
    assert reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == killed_at

    out = subprocess.run(_train_cmd(killed, data_dir, steps), env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True, timeout=900)
    assert "resumed from" in out.stdout and f"at step {killed_at}" in out.stdout

    a, b = _final_weights(straight), _final_weights(killed)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-5, err_msg=name)
    ra = tf.train.load_checkpoint(os.path.join(straight, "checkpoints"))
    rb = tf.train.load_checkpoint(os.path.join(killed, "checkpoints"))
    opt_names = [n for n in ra.get_variable_to_shape_map() if n.startswith(("pose_optimizer/", "critic_optimizer/"))]
    assert any("critic_optimizer/_iterations" in n for n in opt_names)
    for name in opt_names:  # iteration counts and both moments of both optimizers
        np.testing.assert_allclose(ra.get_tensor(name), rb.get_tensor(name), rtol=1e-4, atol=1e-5, err_msg=name)
    assert json.load(open(os.path.join(killed, "eval.json")))["num_samples"] == 4
