"""Evaluate on a tiny trained run: the numbers match a by-hand computation from the raw network outputs."""

import json
import os
import shutil

import numpy as np
import pytest

from awh_tf import metrics
from awh_tf.data import pipeline
from awh_tf.evaluation import evaluate_lib, evaluate_predictions, predict_dataset
from awh_tf.run_dir import load_run
from awh_tf.keypoints import KEYPOINT_NAMES


def _by_hand_xyz(uv, z_rel, crop_K, scale, root_depth):
    """DESIGN.md §4 written out: Z = z·s + Z_root; (X, Y) = Z · K⁻¹(u, v, 1) at unit depth."""
    xyz = np.zeros(uv.shape[:2] + (3,))
    for n in range(len(uv)):
        K_inv = np.linalg.inv(crop_K[n].astype(np.float64))
        for k in range(uv.shape[1]):
            ray = K_inv @ np.array([uv[n, k, 0], uv[n, k, 1], 1.0])
            Z = z_rel[n, k] * scale[n] + root_depth[n]
            xyz[n, k] = [Z * ray[0] / ray[2], Z * ray[1] / ray[2], Z]
    return xyz


@pytest.fixture(scope="module")
def evaluated(tiny_run):
    lines = []
    result = evaluate_lib.evaluate_run(tiny_run.workdir, log=lines.append)
    return result, "\n".join(lines)


def test_evaluate_run_reproduces_metrics_from_raw_outputs(tiny_run, evaluated):
    result, _ = evaluated
    config, pose_net, _ = load_run(tiny_run.workdir)
    test_set, _ = evaluate_lib.open_split(config.data, "test")
    batch = evaluate_lib.load_samples(test_set, range(len(test_set)), config.pipeline)
    out = pose_net(batch["image"], training=False)
    uv, z = np.asarray(out["uv"], np.float64), np.asarray(out["z_rel"], np.float64)
    xyz = _by_hand_xyz(uv, z, batch["crop_K"], batch["scale"], batch["root_depth"])
    want = metrics.evaluate_3d(xyz, batch["xyz"])  # STB: every labelled keypoint, as hand3d
    in_image = metrics.evaluate_3d(xyz, batch["xyz"], batch["visible"])
    assert result["num_samples"] == len(test_set) == 8
    assert result["num_scored_keypoints"] == 8 * 21
    assert result["in_image"]["num_scored_keypoints"] == batch["visible"].sum()
    for key in ("epe_mean_mm", "epe_median_mm", "auc_0_50", "auc_20_50", "auc_0_30"):
        np.testing.assert_allclose(result[key], want[key], rtol=1e-3, atol=1e-3, err_msg=key)
        np.testing.assert_allclose(result["in_image"][key], in_image[key], rtol=1e-3, atol=1e-3, err_msg=key)
    np.testing.assert_allclose(result["pck_curve"], want["pck_curve"], atol=1e-3)
    np.testing.assert_allclose(result["pck_thresholds_mm"], np.linspace(0, 50, 20))
    np.testing.assert_allclose(np.array(result["per_keypoint_epe_mm"], float), want["per_keypoint_epe_mm"],
                               rtol=1e-3, atol=1e-3)
    want2d = metrics.evaluate_2d(uv, batch["uv"])
    np.testing.assert_allclose(result["epe2d_mean_px"], want2d["epe_mean_px"], rtol=1e-3, atol=1e-4)
    assert list(result["per_keypoint"]) == list(KEYPOINT_NAMES)


def test_evaluate_run_writes_json_plots_and_both_blocks(tiny_run, evaluated):
    result, printed = evaluated
    with open(os.path.join(tiny_run.workdir, "eval.json")) as f:
        assert json.load(f) == json.loads(json.dumps(result))
    assert set(metrics.evaluate_3d(np.ones((1, 21, 3)), np.ones((1, 21, 3)))) <= set(result)
    assert {"epe2d_mean_px", "num_samples", "root_free", "split", "checkpoint"} <= set(result)
    for name in ("pck.png", "per_keypoint.png"):
        assert os.path.getsize(os.path.join(tiny_run.workdir, name)) > 1000
    assert "3D mean EPE (mm)" in printed and "without the root depth" in printed
    assert "middle_mcp" in printed  # the per-keypoint table
    assert result["root_free"]["num_solved"] + result["root_free"].get("num_unsolved", 0) == 8


def test_other_split_has_its_own_files(tiny_run, evaluated):
    result = evaluate_lib.evaluate_run(tiny_run.workdir, split="synthetic_test", log=lambda _: None)
    assert result["num_samples"] == 8 and result["split"] == "synthetic_test"
    assert os.path.exists(os.path.join(tiny_run.workdir, "eval_synthetic_test.json"))
    assert os.path.exists(os.path.join(tiny_run.workdir, "pck_synthetic_test.png"))
    with open(os.path.join(tiny_run.workdir, "eval.json")) as f:
        assert json.load(f)["split"] == "test"  # the headline file is untouched
    with pytest.raises(ValueError, match="--split"):
        evaluate_lib.open_split(tiny_run.config.data, "valid")


def _gt_predictions(tiny_run):
    config, pose_net, _ = load_run(tiny_run.workdir)
    test_set, _ = evaluate_lib.open_split(config.data, "test")
    pred = predict_dataset(pose_net, pipeline.make_eval_dataset(test_set, config.pipeline, 4))
    return dict(pred, uv_pred=pred["uv"].copy(), z_pred=pred["z_rel"].copy())


def test_root_free_equals_known_root_when_the_pose_is_exact(tiny_run):
    pred = _gt_predictions(tiny_run)
    exact = evaluate_predictions(pred)
    assert exact["epe_mean_mm"] < 1e-2
    rf = exact["root_free"]
    assert rf["num_solved"] == len(pred["uv"]) and rf["root_depth_error_mean_mm"] < 1e-2
    np.testing.assert_allclose(rf["epe_mean_mm"], exact["epe_mean_mm"], atol=1e-2)
    # Wrong everywhere but on the reference bone: the solved root is still exact, so both variants agree
    # on a clearly non-zero error.
    rng = np.random.default_rng(0)
    others = [k for k in range(21) if k not in (0, 12)]
    pred["uv_pred"][:, others] += rng.normal(0, 1.5, (len(pred["uv"]), 19, 2))
    pred["z_pred"][:, others] += rng.normal(0, 0.2, (len(pred["uv"]), 19))
    noisy = evaluate_predictions(pred)
    assert noisy["epe_mean_mm"] > 2.0
    assert noisy["root_free"]["root_depth_error_mean_mm"] < 1e-2
    np.testing.assert_allclose(noisy["root_free"]["epe_mean_mm"], noisy["epe_mean_mm"], rtol=1e-4)


def test_compare_runs_plots_every_run_with_its_label(tiny_run, evaluated, tmp_path):
    other = tmp_path / "other_run"
    other.mkdir()
    result = dict(evaluated[0], name="other", pck_curve=[0.5 * p for p in evaluated[0]["pck_curve"]])
    (other / "eval.json").write_text(json.dumps(result))
    twin = tmp_path / "twin"
    shutil.copytree(other, twin)
    lines = []
    results = evaluate_lib.compare_runs([tiny_run.workdir, str(other), str(twin)], str(tmp_path / "cmp.png"),
                                        log=lines.append)
    assert [r["name"] for r in results] == ["tiny", "other", "other"]
    assert os.path.getsize(tmp_path / "cmp.png") > 1000
    assert any(line.startswith("tiny ") for line in lines)
    assert any(f"other ({other})" in line for line in lines)  # same names: told apart by folder


def test_chosen_checkpoint_has_its_own_files(tiny_run, evaluated):
    ckpt = os.path.join(tiny_run.workdir, "checkpoints", "ckpt-3")
    result = evaluate_lib.evaluate_run(tiny_run.workdir, checkpoint=ckpt, log=lambda _: None)
    with open(os.path.join(tiny_run.workdir, "eval_ckpt-3.json")) as f:
        assert json.load(f)["checkpoint"] == result["checkpoint"]
    assert os.path.exists(os.path.join(tiny_run.workdir, "pck_ckpt-3.png"))
    with open(os.path.join(tiny_run.workdir, "eval.json")) as f:
        assert json.load(f) == json.loads(json.dumps(evaluated[0]))  # the headline file is untouched
