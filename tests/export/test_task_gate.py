"""The export's task gate: the protocol's mean EPE with bootstrap weights (hand-computed), the paired interval,
the decision, and a real pair of files on procedural test crops — a scrambled model refused, a faithful one
accepted."""

import os

import keras
import numpy as np
import pytest

from awh_tf import metrics
from awh_tf.export import crops, parity, saved_model, task_gate, tflite
from awh_tf.export.errors import ExportError
from tests.export.conftest import make_workdir, tiny_config

# Two crops, three keypoints; the second crop's third keypoint is not visible (its distance is never read).
DIST = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, np.nan]])
VISIBLE = np.array([[True, True, True], [True, True, False]])


def test_protocol_mean_is_the_metrics_definition_and_weights_count_crops():
    # Per keypoint over its visible crops: (1+3)/2, (2+4)/2, 3/1; then over keypoints: 8/3.
    assert task_gate.protocol_mean(DIST, VISIBLE) == pytest.approx(8.0 / 3.0)
    gt = np.zeros((2, 3, 2))
    pred = np.stack([np.nan_to_num(DIST), np.zeros_like(DIST)], axis=-1)  # u offset = the distance
    assert metrics.evaluate_2d(pred, gt, VISIBLE)["epe_mean_px"] == pytest.approx(8.0 / 3.0)
    # Crop 0 twice: its own mean (2); crop 1 alone: keypoint 2 has no data and is left out ((3+4)/2).
    means = task_gate.protocol_mean(DIST, VISIBLE, weights=np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    np.testing.assert_allclose(means, [2.0, 3.5, 8.0 / 3.0])


def test_bootstrap_weights_resample_every_crop_count():
    weights = task_gate.bootstrap_weights(5, resamples=7, seed=0)
    assert weights.shape == (7, 5) and (weights.sum(axis=1) == 5).all()
    np.testing.assert_array_equal(weights, task_gate.bootstrap_weights(5, resamples=7, seed=0))  # seeded


def test_paired_delta_of_a_constant_shift_has_a_zero_width_interval():
    """Every visible distance +0.5: Δ is 0.5 in every resample, whatever crops it draws (paired)."""
    weights = task_gate.bootstrap_weights(2, resamples=50)
    t = task_gate.paired_delta("epe2d_px", DIST, DIST + 0.5, VISIBLE, weights, tol=0.2)
    assert t.reference == pytest.approx(8.0 / 3.0) and t.delta == pytest.approx(0.5)
    assert t.ci95 == pytest.approx((0.5, 0.5))
    assert t.relative == pytest.approx(0.1875) and t.passed  # 18.75 % <= 20 %
    assert not task_gate.paired_delta("epe2d_px", DIST, DIST + 0.5, VISIBLE, weights, tol=0.18).passed
    better = task_gate.paired_delta("epe2d_px", DIST, DIST - 0.5, VISIBLE, weights, tol=0.0)
    assert better.passed and better.ci95_relative[1] < 0  # an improvement never fails the gate


def test_tolerances_by_kind():
    assert task_gate.tolerance("int8") == task_gate.tolerance("dynamic_int8") == task_gate.QUANTISED_TOLERANCE
    for kind in ("fp32", "fp16", "onnx", "saved_model", "keras", "preset"):
        assert task_gate.tolerance(kind) == task_gate.FLOAT_TOLERANCE


@pytest.fixture(scope="module")
def test_run(tmp_path_factory):
    """``(config, network, labels)``: an untrained tiny network and 12 crops of a procedural real test split."""
    from awh_tf import run_dir
    from awh_tf.data.procedural import generate

    base = tmp_path_factory.mktemp("gate")
    generate(str(base / "data"), seed=0, rhd_train=2, rhd_eval=1, stb_frames=6, workers=1, progress=False)
    config = tiny_config(data_dir=base / "data")
    workdir = make_workdir(base / "run", config)
    network, _ = run_dir.restore_pose_network(config, workdir)
    return config, network, crops.test_split(config)


def _fp32_file(network, folder):
    """``network``'s RGB path as a ``.tflite`` through the export's own SavedModel and converter."""
    sm_dir = os.path.join(folder, "saved_model")
    saved_model.write_saved_model(network.export_model(), sm_dir, network.input_size)
    path = os.path.join(folder, "pose_fp32.tflite")
    with open(path, "wb") as f:
        f.write(tflite.convert(sm_dir, "fp32"))
    return path


def _scrambled(network, layer="hourglass0", seed=0):
    """A copy of ``network`` with the values of the first kernel under ``layer`` permuted."""
    clone = keras.models.clone_model(network)
    clone(np.zeros((1, network.input_size, network.input_size, 3), np.float32), training=False)
    clone.set_weights(network.get_weights())
    kernel = next(w for w in clone.weights if layer in w.path and w.path.endswith("kernel"))
    values = kernel.numpy()
    kernel.assign(np.random.default_rng(seed).permutation(values.ravel()).reshape(values.shape))
    return clone


def test_gate_refuses_a_scrambled_model_and_accepts_a_faithful_file(test_run, tmp_path):
    config, network, labels = test_run
    assert len(labels["image"]) == 12 and labels["has_3d"].all()
    reference = parity.keras_reference(network.export_model(), labels["image"])
    (tmp_path / "good").mkdir()
    (tmp_path / "bad").mkdir()
    good = _fp32_file(network, str(tmp_path / "good"))
    bad = _fp32_file(_scrambled(network), str(tmp_path / "bad"))
    rows = [("faithful.tflite", "fp32", parity.run_tflite(good, labels["image"])),
            ("scrambled.tflite", "fp32", parity.run_tflite(bad, labels["image"]))]
    faithful, scrambled = task_gate.gate(rows, reference, labels)

    assert faithful.passed and [t.metric for t in faithful.task] == ["epe2d_px", "epe3d_mm"]
    for t in faithful.task:  # the same float graph: the change is round-off
        assert abs(t.relative) < 1e-4 and t.ci95_relative[1] < 1e-4
    assert not scrambled.passed
    assert any(not t.passed for t in scrambled.task), scrambled  # refused by the task figures themselves
    with pytest.raises(ExportError, match=r"^export gate failed: .*scrambled.tflite: epe2d_px [+-]\d") as info:
        task_gate.check([faithful, scrambled])
    assert "faithful" not in str(info.value) and "\n" not in str(info.value)
    task_gate.check([faithful])

    table = task_gate.format_table([faithful, scrambled]).splitlines()
    assert table[0].startswith("float Keras model: epe2d_px ") and len(table) == 4
    assert table[2].startswith("faithful.tflite") and table[2].endswith("yes") and table[3].endswith("NO")
    record = faithful.to_dict()
    assert record["passed"] and set(record["task"]) == {"epe2d_px", "epe3d_mm"}
    assert len(record["task"]["epe3d_mm"]["ci95"]) == 2 and record["task"]["epe3d_mm"]["tolerance"] == 0.002
