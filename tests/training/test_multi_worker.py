"""Multi-worker training over loopback: two worker processes with ``TF_CONFIG`` on 127.0.0.1 ports.

* the method's joint step (critic, gradient penalty, similarity weighting) on two workers equals the same
  steps in one process on two replicas (``multi_worker_check.py``);
* ``python -m awh_tf.train --strategy=multi_worker`` runs end to end on two workers sharing a workdir: the
  chief writes ``checkpoints/`` and ``eval.json``, worker 1 its own ``worker-1/checkpoints/`` with the same
  weights;
* SIGTERM to one worker makes both save a checkpoint at the same step (TensorFlow's
  ``PreemptionCheckpointHandler``) and stop; rerunning both resumes.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _communicate(procs, timeout):
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=timeout))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
    return outs


@pytest.mark.slow
def test_two_workers_over_loopback_equal_one_process_on_two_replicas(tmp_path):
    script = os.path.join(ROOT, "tests", "training", "multi_worker_check.py")
    ref = subprocess.run([sys.executable, script, "reference", str(tmp_path / "ref.npz")], env=ENV,
                         capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr[-3000:]
    ports = [str(p) for p in free_ports(2)]
    procs = [subprocess.Popen([sys.executable, script, "worker", str(i), *ports, str(tmp_path / f"w{i}.npz")],
                              env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = _communicate(procs, 600)
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    reference = np.load(tmp_path / "ref.npz")
    workers = [np.load(tmp_path / f"w{i}.npz") for i in range(2)]
    assert set(reference.files) == set(workers[0].files) == set(workers[1].files)
    assert any(k.startswith("critic/") for k in reference.files)
    for name in reference.files:
        np.testing.assert_array_equal(workers[0][name], workers[1][name], err_msg=name)  # one model
        np.testing.assert_allclose(workers[0][name], reference[name], rtol=1e-4, atol=1e-5, err_msg=name)
    assert np.all(np.isfinite(reference["losses"]))


def _train_cmd(workdir, data_dir, steps):
    return [sys.executable, "-m", "awh_tf.train", "--name=mw", f"--workdir={workdir}", "--strategy=multi_worker",
            f"--data_dir={data_dir}", "--gen_rhd_train=16", "--gen_rhd_eval=8", "--gen_stb_frames=4",
            "--input_size=32", "--depth_reg_size=8", "--min_crop_size=16", "--channels=8", "--num_stacks=1",
            "--hourglass_depth=1", "--depth_reg_units=16", "--depth_reg_filters=8", "--critic_filters=8",
            "--critic_units=8", "--batch_size=4", "--n_critic=1", "--warmup_steps=1", "--pretrain_steps=2",
            f"--train_steps={steps - 2}", "--checkpoint_every=2", "--log_every=1", "--max_eval_samples=4",
            "--num_parallel_calls=1", "--deterministic=true"]


def _launch(workdir, data_dir, steps, ports):
    procs = []
    for i in range(2):
        tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": i}}
        procs.append(subprocess.Popen(_train_cmd(workdir, data_dir, steps), cwd=ROOT, text=True,
                                      env=dict(ENV, TF_CONFIG=json.dumps(tf_config)),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    return procs


def _weights(ckpt_dir):
    reader = tf.train.load_checkpoint(ckpt_dir)
    names = sorted(n for n in reader.get_variable_to_shape_map() if n.startswith(("pose_network/", "critic/")))
    return {n: reader.get_tensor(n) for n in names}


@pytest.mark.slow
def test_multi_worker_training_end_to_end_and_preemption(tmp_path):
    data_dir = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "awh_tf.data.procedural", f"--out_dir={data_dir}", "--rhd_train=16",
                    "--rhd_eval=8", "--stb_frames=4", "--seed=0"], cwd=ROOT, env=ENV, check=True,
                   capture_output=True, timeout=600)
    workdir = str(tmp_path / "run")
    outs = _communicate(_launch(workdir, data_dir, 6, free_ports(2)), 900)
    assert "3D mean EPE" in outs[0][0], outs[0][1][-3000:]  # the chief evaluates
    assert "3D mean EPE" not in outs[1][0], outs[1][1][-3000:]
    assert json.load(open(os.path.join(workdir, "eval.json")))["num_samples"] == 4
    chief, other = os.path.join(workdir, "checkpoints"), os.path.join(workdir, "worker-1", "checkpoints")
    assert tf.train.latest_checkpoint(chief).endswith("ckpt-6")
    assert tf.train.latest_checkpoint(other).endswith("ckpt-6")
    a, b = _weights(chief), _weights(other)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)

    # Preemption: SIGTERM to worker 1 mid-run; both save at one step and stop; a rerun resumes there.
    workdir = str(tmp_path / "preempted")
    procs = _launch(workdir, data_dir, 400, free_ports(2))
    deadline = time.time() + 600
    while time.time() < deadline and not tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")):
        time.sleep(0.2)
    procs[1].send_signal(signal.SIGTERM)
    outs = _communicate(procs, 600)
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 128 + signal.SIGTERM, err[-3000:]
        # Our line; TensorFlow's coordination service may log a gRPC error after it while the peers shut down.
        assert any(line.startswith("interrupted at step ") for line in err.splitlines()), err[-3000:]
    dirs = (os.path.join(workdir, "checkpoints"), os.path.join(workdir, "worker-1", "checkpoints"))
    steps = [int(tf.train.latest_checkpoint(d).rsplit("-", 1)[1]) for d in dirs]
    assert steps[0] == steps[1] and steps[0] < 400

    # Rerunning both resumes at that step (a shorter schedule here: --train_steps may change on resume).
    outs = _communicate(_launch(workdir, data_dir, steps[0] + 2, free_ports(2)), 900)
    for i, (out, err) in enumerate(outs):
        assert f"at step {steps[0]}" in out, err[-3000:]
    assert [int(tf.train.latest_checkpoint(d).rsplit("-", 1)[1]) for d in dirs] == [steps[0] + 2] * 2

    # Workers whose checkpoints disagree refuse to train together, in one line each.
    import shutil

    shutil.rmtree(dirs[1])
    procs = _launch(workdir, data_dir, steps[0] + 4, free_ports(2))
    outs = _communicate(procs, 900)
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 1, err[-3000:]
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, err[-3000:]
        assert errors[0].startswith(f"error: the workers resumed at different steps [{steps[0] + 2}, 0]"), errors
