"""The two entry points as a user runs them (subprocesses: slow, a TensorFlow import each)."""

import json
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def _run(*args):
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=ENV, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_evaluate_cli_writes_files_and_compares(tiny_run, tmp_path):
    workdir = str(tmp_path / "run")  # a copy: the shared run's eval.json stays as the other tests left it
    shutil.copytree(tiny_run.workdir, workdir)
    other = tmp_path / "other"
    other.mkdir()
    proc = _run("awh_tf.evaluate", "--workdir", workdir, "--compare", str(other))
    assert proc.returncode == 1 and "other/config.json: not found" in proc.stderr  # no eval.json, no run
    proc = _run("awh_tf.evaluate", "--workdir", workdir, "--max_eval_samples", "4")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "(4 samples, 84 labelled keypoints scored)" in proc.stdout and "without the root depth" in proc.stdout
    with open(os.path.join(workdir, "eval.json")) as f:
        assert json.load(f)["num_samples"] == 4
    shutil.copy(os.path.join(workdir, "eval.json"), other / "eval.json")
    proc = _run("awh_tf.evaluate", "--workdir", workdir, "--compare", str(other), str(other))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert os.path.getsize(os.path.join(workdir, "pck_compare.png")) > 1000
    proc = _run("awh_tf.evaluate", "--workdir", workdir, "--channels", "16")
    assert proc.returncode == 1 and "only data flags" in proc.stderr


@pytest.mark.slow
def test_predict_cli_processes_good_files_and_reports_bad_ones(tiny_run, tiny_test_image, tmp_path):
    path = tiny_test_image[0]
    bad = tmp_path / "bad.png"
    bad.write_text("text")
    out = tmp_path / "pred"
    proc = _run("awh_tf.predict", "--workdir", tiny_run.workdir, str(bad), path, "--bbox", "200,100,200,200",
                "--out", str(out), "--intrinsics", "607.9,607.9,314.8,236.4", "--bone_length_mm", "30")
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {bad}: not a readable image"]
    record = json.loads((out / "SK_color_0.json").read_text())
    assert len(record["keypoints"]) == 21 and (out / "SK_color_0_overlay.png").stat().st_size > 0
    proc = _run("awh_tf.predict", "--workdir", tiny_run.workdir, path, "--intrinsics", "1,1,1,1")
    assert proc.returncode != 0 and "--bone_length_mm" in proc.stderr


@pytest.mark.slow
def test_predict_cli_without_a_box_names_the_install_step_then_runs_a_video(tiny_run, tiny_test_image, tmp_path,
                                                                             installed_detector_dir):
    path = tiny_test_image[0]
    env = dict(ENV, AWH_DETECTOR_DIR=str(tmp_path / "nothing"))
    proc = subprocess.run([sys.executable, "-m", "awh_tf.predict", "--workdir", tiny_run.workdir, path], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=600)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert proc.returncode == 1 and len(errors) == 1 and "python -m awh_tf.detection.fetch" in errors[0]
    frames = tmp_path / "frames"
    frames.mkdir()
    shutil.copy(path, frames / "000.png")
    shutil.copy(path, frames / "001.png")
    out = tmp_path / "pred"
    proc = _run("awh_tf.predict", "--workdir", tiny_run.workdir, str(frames), "--out", str(out), "--fps", "10",
                "--noprogress")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"{frames}: 2 frames" in proc.stdout  # frames without a hand still get their (empty) JSON
    assert json.loads((out / "frames" / "frame_000001.json").read_text())["time_s"] == pytest.approx(0.1)
    assert (out / "frames_overlay.mp4").stat().st_size > 0
