"""The evaluation of the 2D-only and FreiHAND real domains: 2D metrics in crop and image px (checked by
hand), the crop -> image map, the Procrustes block of a 3D result, and what goes to TensorBoard."""

import numpy as np
import pytest

from awh_tf import metrics
from awh_tf.config import PipelineConfig
from awh_tf.data import transform
from awh_tf.evaluation import protocol


def _pred_2d(uv_img_gt, error_img, K, A, visible):
    """A predict_dataset-like dict of N samples without 3D: crop uv = A (image uv), prediction off by
    ``error_img`` [N, 2] image px (so off by 2 · error in crop px for A's scale 2)."""
    n = len(uv_img_gt)
    to_crop = lambda uv: uv @ A[:2, :2].T + A[:2, 2]  # noqa: E731
    return {"uv": to_crop(uv_img_gt), "uv_pred": to_crop(uv_img_gt + error_img[:, None, :]),
            "z_pred": np.zeros((n, 21)), "z_rel": np.zeros((n, 21)), "xyz": np.zeros((n, 21, 3)),
            "visible": visible, "crop_K": np.broadcast_to(A @ K, (n, 3, 3)), "scale": np.zeros(n),
            "root_depth": np.zeros(n), "index": np.arange(n), "has_3d": np.zeros(n, bool)}


def test_2d_metrics_in_crop_and_image_px_by_hand():
    K = np.array([[100.0, 0.0, 20.0], [0.0, 100.0, 15.0], [0.0, 0.0, 1.0]])
    A = np.array([[2.0, 0.0, -7.0], [0.0, 2.0, 3.0], [0.0, 0.0, 1.0]])  # crop px = 2 · image px + (-7, 3)
    gt = np.random.default_rng(0).uniform(0, 30, (2, 21, 2))
    visible = np.ones((2, 21), bool)
    visible[1, 5] = False
    pred = _pred_2d(gt, np.array([[0.0, 0.0], [4.2, 5.6]]), K, A, visible)  # sample 1 is 7 image px off
    labels = {"K": np.stack([K, K]), "image_wh": np.array([[40, 30], [40, 30]]),
              "box": np.array([[0, 0, 25, 10], [0, 0, 10, 50]], np.float64), "mirrored": np.zeros(2, bool)}
    result = protocol.evaluate_predictions(pred, mean_pose=(np.zeros((21, 2)), np.zeros(21)), image_labels=labels)
    assert result["has_3d"] is False and result["num_samples"] == 2 and "epe_mean_mm" not in result
    # Per keypoint: mean over its labelled samples (0 and 14 crop px; keypoint 5 only sample 0: 0).
    assert result["epe2d_mean_px"] == pytest.approx((20 * 7.0 + 0.0) / 21)
    image = result["image"]
    assert image["epe_mean_px"] == pytest.approx((20 * 3.5 + 0.0) / 21)
    assert image["epe_median_px"] == pytest.approx((20 * 3.5 + 0.0) / 21)  # median of two = their mean
    half = (20 * 0.5 + 1.0) / 21  # keypoint 5 is right in its one labelled sample, the others in one of two
    assert image["pck_5px"] == pytest.approx(half) and image["pck_10px"] == image["pck_20px"] == 1.0
    # Box-normalised: 7 / max(10, 50) = 0.14 -> correct at 0.2, not at 0.1 (sample 0 is exact).
    assert image["pck_box_0.2"] == 1.0 and image["pck_box_0.1"] == pytest.approx(half)
    assert result["mean_pose_epe2d_mean_px"] > 10
    scalars = protocol.headline_scalars(result)
    assert set(scalars) >= {"epe2d_mean_px", "auc2d_0_30_px", "image_epe_mean_px", "image_pck_box_0.2"}
    assert "2D labels only" in protocol.format_table(result) and "PCK@0.2 hand box" in protocol.format_table(result)


def test_crop_to_image_undoes_the_pipeline_crop_of_a_mirrored_right_hand():
    rng = np.random.default_rng(1)
    width, height = 80, 60
    uv = rng.uniform([20, 15], [60, 45], (21, 2)).astype(np.float32)
    K = np.array([[80.0, 0, 39.5], [0, 80.0, 29.5], [0, 0, 1]], np.float32)
    sample = {"image": np.zeros((height, width, 3), np.uint8), "depth": None, "mask": None, "uv": uv, "xyz": None,
              "visible": np.ones(21, bool), "K": K, "hand": "right", "index": 0, "domain": 1}
    cfg = PipelineConfig(input_size=16, depth_size=4, min_crop_size=8.0)
    out = transform.process_sample(sample, cfg, rng=np.random.default_rng(2))  # augmented: rotated, jittered
    back = protocol.crop_to_image(out["uv"][None], out["crop_K"][None], K[None], np.array([width]), np.array([True]))
    np.testing.assert_allclose(back[0], uv, atol=1e-3)
    left = dict(sample, hand="left")
    out = transform.process_sample(left, cfg)
    back = protocol.crop_to_image(out["uv"][None], out["crop_K"][None], K[None], np.array([width]), np.array([False]))
    np.testing.assert_allclose(back[0], uv, atol=1e-3)


def _pred_3d(n=3):
    rng = np.random.default_rng(0)
    K = np.array([[200.0, 0, 31.5], [0, 200.0, 31.5], [0, 0, 1]])
    xyz = np.array([0.0, 0.0, 500.0]) + rng.normal(0, 30, (n, 21, 3))
    p = xyz @ K.T
    uv = p[..., :2] / p[..., 2:]
    scale = np.linalg.norm(xyz[:, 12] - xyz[:, 0], axis=-1)
    z_rel = (xyz[..., 2] - xyz[:, :1, 2]) / scale[:, None]
    return {"uv": uv, "uv_pred": uv + 0.5, "z_rel": z_rel, "z_pred": z_rel * 1.1, "xyz": xyz,
            "visible": np.ones((n, 21), bool), "crop_K": np.broadcast_to(K, (n, 3, 3)), "scale": scale,
            "root_depth": xyz[:, 0, 2], "index": np.arange(n), "has_3d": np.ones(n, bool)}


def test_a_3d_result_carries_the_procrustes_block_and_pa_goes_to_tensorboard():
    pred = _pred_3d()
    result = protocol.evaluate_predictions(pred)
    from awh_tf import geometry

    xyz_pred = geometry.xyz_from_25d(pred["uv_pred"], pred["z_pred"], pred["crop_K"], pred["scale"],
                                     pred["root_depth"])
    expected = metrics.evaluate_3d(xyz_pred, pred["xyz"], pred["visible"], align="procrustes")["epe_mean_mm"]
    assert result["has_3d"] is True and result["procrustes"]["epe_mean_mm"] == pytest.approx(expected)
    assert 0 < result["procrustes"]["epe_mean_mm"] < result["epe_mean_mm"]  # alignment removes part of the error
    assert protocol.headline_scalars(result)["pa_epe_mean_mm"] == result["procrustes"]["epe_mean_mm"]
    assert "PA-MPJPE" in protocol.format_table(result)


def test_a_split_with_3d_for_some_samples_only_is_refused():
    pred = _pred_3d()
    pred["has_3d"] = np.array([True, False, True])
    with pytest.raises(ValueError, match="1 of 3 samples have no 3D labels"):
        protocol.evaluate_predictions(pred)
