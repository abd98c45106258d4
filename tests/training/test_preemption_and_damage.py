"""Faults of long runs: SIGTERM / SIGINT, damaged checkpoints, a second process on a workdir, a failed
checkpoint write, a bad sample met while evaluating (docs/faults.md)."""

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from awh_tf import errors, run_dir
from awh_tf.data.errors import DataError
from awh_tf.training import faults, train_lib
from awh_tf.training.streams import InputStreams
from tests.evaluation.conftest import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.getbasetemp() / "tiny_data"


class Log(list):
    def __call__(self, line):
        self.append(str(line))


def _config(data_dir, **overrides):
    train = dict(pretrain_steps=6, train_steps=0, checkpoint_every=2, keep_checkpoints=5, da="none")
    train.update(overrides)
    return tiny_config(data_dir, **train)


def _weights(path):
    reader = tf.train.load_checkpoint(path)
    names = sorted(n for n in reader.get_variable_to_shape_map() if n.startswith("pose_network/"))
    return {n: reader.get_tensor(n) for n in names}


def _assert_same(a, b):
    assert a.keys() == b.keys() and a
    for name in a:
        # atol 1e-4: a tenth of one Adam step (lr 1e-3), so a lost or repeated step fails; below it, parameters
        # whose gradient is numerical noise (head biases at ~1e-5) differ with thread scheduling under load.
        np.testing.assert_allclose(a[name], b[name], rtol=1e-3, atol=1e-4, err_msg=name)


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, data_dir):
    """The uninterrupted 6-step run every fault below is compared with: ``(workdir, {step: weights})``."""
    workdir = str(tmp_path_factory.mktemp("straight") / "run")
    train_lib.train(_config(data_dir), workdir, log=Log(), progress=False)
    ckpt_dir = os.path.join(workdir, "checkpoints")
    return workdir, {s: _weights(os.path.join(ckpt_dir, f"ckpt-{s}")) for s in (2, 4, 6)}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_a_checkpoint_after_the_step_in_flight_and_resume_matches(
        tmp_path, data_dir, straight_run, monkeypatch, signum):
    config = _config(data_dir)
    original = InputStreams.next

    def signalled(self, step):
        if step == 2:  # arrives while the 3rd batch is being read: the 3rd step still completes
            os.kill(os.getpid(), signum)
        return original(self, step)

    monkeypatch.setattr(InputStreams, "next", signalled)
    workdir = str(tmp_path / "run")
    before = signal.getsignal(signum)
    with pytest.raises(errors.Interrupted) as info:
        train_lib.train(config, workdir, log=Log(), progress=False)
    assert signal.getsignal(signum) is before  # the run's handlers are gone once it stops
    message = str(info.value)
    assert info.value.signum == signum and "\n" not in message
    assert message == (f"interrupted at step 3; checkpoint saved: {os.path.join(workdir, 'checkpoints', 'ckpt-3')}; "
                       f"rerun the same command to resume")
    monkeypatch.setattr(InputStreams, "next", original)
    log = Log()
    train_lib.train(config, workdir, log=log, progress=False)
    assert any("at step 3" in line for line in log)
    _assert_same(_weights(os.path.join(workdir, "checkpoints", "ckpt-6")), straight_run[1][6])


def _damage(prefix, how):
    data = prefix + ".data-00000-of-00001"
    if how == "truncated data":
        with open(data, "r+b") as f:
            f.truncate(os.path.getsize(data) // 2)
    elif how == "missing data":
        os.remove(data)
    elif how == "unreadable index":
        with open(prefix + ".index", "wb") as f:
            f.write(b"not a checkpoint index")


def _copy_run(src, dst):
    import shutil

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("tb", ".lock"))
    return str(dst)


@pytest.mark.parametrize("how", ["truncated data", "missing data", "unreadable index"])
def test_damaged_latest_checkpoint_resumes_from_the_newest_that_restores(tmp_path, data_dir, straight_run, how):
    workdir = _copy_run(straight_run[0], tmp_path / "run")
    ckpt_dir = os.path.join(workdir, "checkpoints")
    _damage(os.path.join(ckpt_dir, "ckpt-6"), how)
    log = Log()
    train_lib.train(_config(data_dir), workdir, log=log, progress=False)
    said = "\n".join(log)
    assert f"{os.path.join(ckpt_dir, 'ckpt-6')}: cannot be restored (" in said
    assert f"resumed from {os.path.join(ckpt_dir, 'ckpt-4')} at step 4" in said
    assert os.listdir(os.path.join(ckpt_dir, "damaged"))  # moved aside, not deleted
    # Steps 5-6 re-run from ckpt-4 give what the undamaged checkpoint held.
    _assert_same(_weights(os.path.join(ckpt_dir, "ckpt-6")), straight_run[1][6])
    assert tf.train.latest_checkpoint(ckpt_dir).endswith("ckpt-6")


def test_unreadable_checkpoint_index_is_rebuilt_from_the_files(tmp_path, data_dir, straight_run):
    workdir = _copy_run(straight_run[0], tmp_path / "run")
    ckpt_dir = os.path.join(workdir, "checkpoints")
    with open(os.path.join(ckpt_dir, "checkpoint"), "wb") as f:
        f.write(b"\x00\xffgarbage {{{")
    log = Log()
    trainer = train_lib.train(_config(data_dir), workdir, log=log, progress=False)
    assert any(line.startswith(os.path.join(ckpt_dir, "checkpoint") + ": ") and
               line.endswith("rebuilt it from the 3 checkpoints present") for line in log)
    assert any(f"resumed from {os.path.join(ckpt_dir, 'ckpt-6')} at step 6" in line for line in log)
    assert trainer is not None


@pytest.mark.parametrize("damage", ["cut short", "missing"])
def test_incomplete_or_missing_index_with_a_relative_workdir_resumes_at_the_newest(
        tmp_path, data_dir, straight_run, monkeypatch, damage):
    """``get_checkpoint_state`` returns None for these (no exception): the run must not restart at step 0
    over the old checkpoints, also when --workdir is relative (the default runs/<name>)."""
    _copy_run(straight_run[0], tmp_path / "runs" / "x")
    monkeypatch.chdir(tmp_path)
    index = os.path.join("runs", "x", "checkpoints", "checkpoint")
    if damage == "missing":
        os.remove(index)
    else:
        with open(index, "w") as f:
            f.write('model_checkpoint_path: "ckpt-6"\nall_model_check')
    log = Log()
    train_lib.train(_config(data_dir), os.path.join("runs", "x"), log=log, progress=False)
    said = "\n".join(log)
    assert "rebuilt it from the 3 checkpoints present" in said and "at step 6" in said, said
    state = tf.train.get_checkpoint_state(os.path.join("runs", "x", "checkpoints"))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ["ckpt-2", "ckpt-4", "ckpt-6"]


def test_after_a_fallback_the_older_checkpoints_stay_tracked(tmp_path, data_dir, straight_run):
    """The rebuilt index keeps ckpt-2 and ckpt-4 in the manager's rotation (a second damage of ckpt-6 could
    still fall back to them)."""
    workdir = _copy_run(straight_run[0], tmp_path / "run")
    ckpt_dir = os.path.join(workdir, "checkpoints")
    _damage(os.path.join(ckpt_dir, "ckpt-6"), "truncated data")
    train_lib.train(_config(data_dir), workdir, log=Log(), progress=False)
    state = tf.train.get_checkpoint_state(ckpt_dir)
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ["ckpt-2", "ckpt-4", "ckpt-6"]
    _damage(os.path.join(ckpt_dir, "ckpt-6"), "missing data")
    log = Log()
    train_lib.train(_config(data_dir), workdir, log=log, progress=False)
    assert any(f"resumed from {os.path.join(ckpt_dir, 'ckpt-4')} at step 4" in line for line in log)


def test_a_second_signal_stops_at_once():
    with faults.Interrupts() as interrupts:
        os.kill(os.getpid(), signal.SIGINT)
        assert interrupts.signum == signal.SIGINT  # recorded; the run would stop after its step
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # the user insists: Python's own Ctrl-C
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_lock_that_cannot_be_written_is_one_line_and_released(tmp_path, monkeypatch):
    import errno

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(faults.os, "fsync", full)
    with pytest.raises(errors.TrainingError, match=r"cannot write the workdir lock \(No space left on device"):
        with faults.WorkdirLock(str(tmp_path)):
            pass
    monkeypatch.undo()
    with faults.WorkdirLock(str(tmp_path), log=Log()):  # not left held
        pass


def test_a_save_that_fails_after_indexing_keeps_the_new_checkpoint(tmp_path, data_dir, monkeypatch):
    original = tf.train.CheckpointManager.save

    def vanished_mount(self, checkpoint_number=None, **kwargs):
        path = original(self, checkpoint_number=checkpoint_number, **kwargs)
        if checkpoint_number == 4:  # written and indexed, then removing older checkpoints fails
            raise tf.errors.UnavailableError(None, None, "ckpt-1.index: Transport endpoint is not connected")
        return path

    monkeypatch.setattr(tf.train.CheckpointManager, "save", vanished_mount)
    workdir = str(tmp_path / "run")
    with pytest.raises(errors.TrainingError) as info:
        train_lib.train(_config(data_dir), workdir, log=Log(), progress=False)
    ckpt_dir = os.path.join(workdir, "checkpoints")
    assert str(info.value).startswith(f"step 4: wrote {os.path.join(ckpt_dir, 'ckpt-4')}, then could not remove")
    assert tf.train.latest_checkpoint(ckpt_dir).endswith("ckpt-4")
    run_dir.restore_pose_network(_config(data_dir), workdir)


def test_no_checkpoint_restores_is_one_line_and_leaves_them_untouched(tmp_path, data_dir, straight_run):
    workdir = _copy_run(straight_run[0], tmp_path / "run")
    ckpt_dir = os.path.join(workdir, "checkpoints")
    for step in (2, 4, 6):
        _damage(os.path.join(ckpt_dir, f"ckpt-{step}"), "truncated data")
    before = {f: open(os.path.join(ckpt_dir, f), "rb").read() for f in os.listdir(ckpt_dir)}
    with pytest.raises(errors.TrainingError) as info:
        train_lib.train(_config(data_dir), workdir, log=Log(), progress=False)
    message = str(info.value)
    assert "\n" not in message and "none of the 3 checkpoints restores" in message and "ckpt-6" in message
    after = {f: open(os.path.join(ckpt_dir, f), "rb").read() for f in os.listdir(ckpt_dir)}
    assert after == before  # nothing moved, nothing new written over them


_HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from awh_tf.training.faults import WorkdirLock
    with WorkdirLock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(600)
""")


def _lock_holder(workdir):
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, workdir], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"))
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_process_on_a_workdir_is_refused_and_a_stale_lock_taken_over(tmp_path, data_dir):
    workdir = str(tmp_path / "run")
    holder = _lock_holder(workdir)
    try:
        with pytest.raises(errors.TrainingError) as info:
            train_lib.train(_config(data_dir, pretrain_steps=2), workdir, log=Log(), progress=False)
        message = str(info.value)
        assert "\n" not in message and f"is in use by process {holder.pid} on " in message
        assert not os.path.exists(os.path.join(workdir, "checkpoints"))  # refused before writing anything
    finally:
        holder.kill()  # SIGKILL: no clean-up, the lock file keeps its pid
        holder.wait()
    log = Log()
    train_lib.train(_config(data_dir, pretrain_steps=2), workdir, log=log, progress=False)
    assert any(f"took over a stale lock of process {holder.pid}" in line for line in log)
    with faults.WorkdirLock(workdir, log=log):  # released at the end of the run: no stale-lock line now
        pass
    assert sum("stale lock" in line for line in log) == 1


def test_failed_checkpoint_write_is_one_line_and_keeps_the_previous(tmp_path, data_dir, monkeypatch):
    original = tf.train.CheckpointManager.save

    def disk_full(self, checkpoint_number=None, **kwargs):
        if checkpoint_number == 4:
            # What TensorFlow raises when the file system returns ENOSPC, after a partial file.
            open(os.path.join(self.directory, "ckpt-4.data-00000-of-00001"), "wb").close()
            raise tf.errors.ResourceExhaustedError(None, None, "ckpt-4_temp/part-00000: No space left on device")
        return original(self, checkpoint_number=checkpoint_number, **kwargs)

    monkeypatch.setattr(tf.train.CheckpointManager, "save", disk_full)
    workdir = str(tmp_path / "run")
    with pytest.raises(errors.TrainingError) as info:
        train_lib.train(_config(data_dir), workdir, log=Log(), progress=False)
    ckpt_dir = os.path.join(workdir, "checkpoints")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"step 4: could not write the checkpoint in {ckpt_dir} (")
    assert "No space left on device" in message and message.endswith(os.path.join(ckpt_dir, "ckpt-2"))
    assert tf.train.latest_checkpoint(ckpt_dir).endswith("ckpt-2")
    assert not os.path.exists(os.path.join(ckpt_dir, "ckpt-4.data-00000-of-00001"))  # the partial file
    run_dir.restore_pose_network(_config(data_dir), workdir)  # the previous one restores


def _corrupt_first_test_image(data_dir, tmp_path):
    """A copy of the tiny data whose first STB test image is cut short; returns (data dir, image path)."""
    import shutil

    from awh_tf.data import STB_TEST_SEQUENCES, STBDataset

    config = tiny_config(data_dir)
    from awh_tf.data import data_setup

    data_setup.ensure_procedural_data(config.data, log=Log())
    copy = tmp_path / "data"
    shutil.copytree(data_dir, copy)
    ds = STBDataset(os.path.join(copy, "STB"), sequences=STB_TEST_SEQUENCES, with_depth=False)
    seq, frame = ds[0]["name"].split("/")
    path = os.path.join(copy, "STB", "images", seq, f"SK_color_{frame}.png")
    with open(path, "r+b") as f:
        f.truncate(100)
    return copy, path


def test_bad_sample_in_the_final_evaluation_is_one_line(tmp_path, data_dir, straight_run):
    copy, path = _corrupt_first_test_image(data_dir, tmp_path)
    config = _config(copy)
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, data_dir=str(copy)))
    workdir = _copy_run(straight_run[0], tmp_path / "run")
    with pytest.raises(DataError) as info:
        train_lib.evaluate(config, workdir, log=Log())
    message = str(info.value)
    assert "\n" not in message and path in message and "Traceback" not in message


def test_bad_sample_in_the_evaluate_tool_is_one_line(tmp_path, data_dir, straight_run):
    copy, path = _corrupt_first_test_image(data_dir, tmp_path)
    workdir = _copy_run(straight_run[0], tmp_path / "run")
    out = subprocess.run([sys.executable, "-m", "awh_tf.evaluate", f"--workdir={workdir}", f"--data_dir={copy}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"))
    assert out.returncode == 1
    lines = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and path in lines[0] and "Traceback" not in out.stderr


def _cli(workdir, data_dir, steps, checkpoint_every=1):
    return [sys.executable, "-m", "awh_tf.train", "--name=faults", f"--workdir={workdir}",
            f"--data_dir={data_dir}", "--gen_rhd_train=16", "--gen_rhd_eval=8", "--gen_stb_frames=4",
            "--input_size=32", "--depth_reg_size=8", "--min_crop_size=16", "--channels=8", "--num_stacks=2",
            "--hourglass_depth=1", "--depth_reg_units=16", "--depth_reg_filters=8", "--critic_filters=8",
            "--critic_units=8", "--batch_size=4", "--n_critic=1", "--warmup_steps=1", f"--pretrain_steps={steps}",
            "--train_steps=0", "--da=none", f"--checkpoint_every={checkpoint_every}", "--log_every=1",
            "--max_eval_samples=4", "--num_parallel_calls=1"]


ENV = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")


@pytest.mark.slow
def test_sigterm_to_the_cli_saves_prints_one_line_and_exits_143(tmp_path, data_dir, straight_run):
    import time

    workdir = str(tmp_path / "run")
    proc = subprocess.Popen(_cli(workdir, data_dir, 400), cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    ckpt_dir = os.path.join(workdir, "checkpoints")
    deadline = time.time() + 600
    while time.time() < deadline and not tf.train.latest_checkpoint(ckpt_dir):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    last = err.strip().splitlines()[-1]
    saved = tf.train.latest_checkpoint(ckpt_dir)
    step = int(saved.rsplit("-", 1)[1])
    assert last == f"interrupted at step {step}; checkpoint saved: {saved}; rerun the same command to resume"
    assert 1 <= step < 400


_ENOSPC = textwrap.dedent("""
    set -e
    mount -t tmpfs -o size={size} tmpfs "$1/checkpoints"
    set +e
    "$2" -m awh_tf.train "${{@:3}}" > "$1/out.txt" 2> "$1/err.txt"
    echo $? > "$1/rc.txt"
    "$2" -c "import sys, tensorflow as tf; p = tf.train.latest_checkpoint(sys.argv[1]); \\
    r = tf.train.load_checkpoint(p); print(p, int(r.get_tensor('step/.ATTRIBUTES/VARIABLE_VALUE')))" \\
        "$1/checkpoints" > "$1/latest.txt" 2> "$1/latest_err.txt"
""")


@pytest.mark.slow
def test_full_disk_during_a_checkpoint_is_one_line_and_the_previous_stays_valid(tmp_path, data_dir,
                                                                                straight_run):
    """A real ENOSPC: ``checkpoints/`` is a tmpfs (in a user and mount namespace) with room for one
    checkpoint and a half, so the second save runs out of space."""
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {tmp_path}"],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no unprivileged tmpfs mounts here (unshare -rm: {probe.stderr.decode().strip()[:200]})")
    one = sum(os.path.getsize(os.path.join(straight_run[0], "checkpoints", f))
              for f in os.listdir(os.path.join(straight_run[0], "checkpoints")) if f.startswith("ckpt-2."))
    workdir = tmp_path / "run"
    (workdir / "checkpoints").mkdir(parents=True)
    script = _ENOSPC.format(size=int(1.5 * one) + 8192)
    cmd = ["unshare", "-rm", "bash", "-c", script, "enospc", str(workdir), sys.executable]
    cmd += _cli(str(workdir), data_dir, 6, checkpoint_every=2)[3:]
    subprocess.run(cmd, cwd=ROOT, env=ENV, timeout=900, check=True)
    err = (workdir / "err.txt").read_text()
    assert (workdir / "rc.txt").read_text().strip() == "1", err[-3000:]
    last = err.strip().splitlines()[-1]
    ckpt_dir = str(workdir / "checkpoints")
    assert last.startswith(f"error: step 4: could not write the checkpoint in {ckpt_dir} (")
    assert last.endswith(f"the previous checkpoint stays valid: {os.path.join(ckpt_dir, 'ckpt-2')}")
    assert (workdir / "latest.txt").read_text().split() == [os.path.join(ckpt_dir, "ckpt-2"), "2"]
