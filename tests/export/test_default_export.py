"""The README's export command on a short-trained run: every default format passes the task gate on the real
test split, the table is printed, and the gate's figures are in ``metadata.json``. Slow: data generation, a
short training run, four conversions in a subprocess (~2-4 min on 2 cores)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from awh_tf.export import task_gate, tflite
from awh_tf.models import preset
from awh_tf.training import train_lib
from tests.evaluation.conftest import tiny_config

pytestmark = pytest.mark.slow
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_default_export_of_a_short_trained_run_passes_the_task_gate(tmp_path):
    config = tiny_config(tmp_path / "data", pretrain_steps=40)
    workdir = str(tmp_path / "run")
    result = train_lib.train_and_evaluate(config, workdir, log=lambda *_: None, progress=False)
    assert os.path.isfile(os.path.join(workdir, preset.KERAS_FILE))  # the end of training writes it

    out_dir = str(tmp_path / "export")
    export = subprocess.run([sys.executable, "tools/export_model.py", "--workdir", workdir, "--out_dir", out_dir],
                            cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert export.returncode == 0, export.stderr[-3000:]
    lines = export.stdout.splitlines()
    assert any(line.startswith("float Keras model: epe2d_px ") for line in lines), export.stdout
    for name in [tflite.tflite_filename(f) for f in tflite.TFLITE_FORMATS] + [preset.KERAS_FILE]:
        assert any(line.startswith(name + " ") and line.endswith("yes") for line in lines), (name, export.stdout)

    with open(os.path.join(out_dir, "metadata.json")) as f:
        gate = json.load(f)["gate"]
    assert gate["mode"] == "task" and gate["crops"] == gate["samples"] == 8  # all of the test split
    # The gate's reference is the protocol's own number for the same network on the same split.
    assert gate["reference"]["epe3d_mm"] == pytest.approx(result["epe_mean_mm"], rel=1e-4)
    assert gate["reference"]["epe2d_px"] == pytest.approx(result["epe2d_mean_px"], rel=1e-4)
    expected = {"saved_model", preset.KERAS_FILE, preset.PRESET_DIR} | {
        tflite.tflite_filename(f) for f in tflite.TFLITE_FORMATS}
    assert set(gate["artefacts"]) == expected
    for name, row in gate["artefacts"].items():
        assert row["passed"], (name, row)
        for metric in ("epe2d_px", "epe3d_mm"):
            figure = row["task"][metric]
            low, high = figure["ci95"]
            assert low <= figure["delta"] <= high and np.isfinite(figure["value"])
            assert figure["ci95_relative"][1] <= figure["tolerance"]
    assert gate["artefacts"]["pose_int8.tflite"]["task"]["epe3d_mm"]["tolerance"] == task_gate.QUANTISED_TOLERANCE
