"""The STB evaluation protocol (DESIGN.md §4) over a pose network and an evaluation dataset.

3D from the prediction with global scale and root depth known: ``Z_k = z_rel_k·s_gt + Z_root_gt``,
``(X, Y) = Z·crop_K⁻¹ (u, v, 1)`` with the predicted crop-pixel ``(u, v)``; errors root-relative, visible
keypoints only (:func:`awh_tf.metrics.evaluate_3d`). The root-depth-free variant recovers ``Z_root`` from the
predicted 2.5D pose and the GT reference-bone length only (:func:`awh_tf.geometry.solve_root_depth`).
"""

import numpy as np
import tensorflow as tf

from awh_tf import geometry, metrics


def predict_dataset(pose_network, dataset, max_samples=0):
    """Runs the RGB path over ``dataset`` (batches from ``make_eval_dataset``).

    Returns:
      dict of numpy arrays over N samples: ``uv_pred`` [N,21,2], ``z_pred`` [N,21] and the labels ``uv``,
      ``z_rel``, ``xyz`` [N,21,3] mm, ``visible``, ``crop_K`` [N,3,3], ``scale`` [N], ``root_depth`` [N],
      ``index`` [N].
    """

    @tf.function(reduce_retracing=True)
    def forward(images):
        out = pose_network(images, training=False)
        return out["uv"], out["z_rel"]

    keys = ("uv", "z_rel", "xyz", "visible", "crop_K", "scale", "root_depth", "index")
    chunks = {k: [] for k in keys + ("uv_pred", "z_pred")}
    count = 0
    for batch in dataset:
        uv, z = forward(batch["image"])
        chunks["uv_pred"].append(uv.numpy())
        chunks["z_pred"].append(z.numpy())
        for k in keys:
            chunks[k].append(batch[k].numpy())
        count += int(uv.shape[0])
        if max_samples and count >= max_samples:
            break
    out = {k: np.concatenate(v, axis=0) for k, v in chunks.items()}
    if max_samples:
        out = {k: v[:max_samples] for k, v in out.items()}
    return out


def evaluate_predictions(pred, mean_pose=None):
    """Scores predictions from :func:`predict_dataset` with the published protocol.

    Args:
      pred: the dict returned by :func:`predict_dataset`.
      mean_pose: optional ``(uv [21,2], z_rel [21])`` training-set mean 2.5D pose in crop px; its 3D EPE
        under the same protocol is reported as ``mean_pose_epe_mean_mm`` (the "has it learnt" baseline).
    Returns:
      dict: every key of :func:`metrics.evaluate_3d`, ``epe2d_mean_px``, ``epe2d_median_px``,
      ``num_samples``, a ``root_free`` sub-dict (3D with the root depth recovered from one bone), and
      ``mean_pose_epe_mean_mm`` when ``mean_pose`` is given. Arrays are lists (JSON-ready).
    """
    xyz_pred = geometry.xyz_from_25d(pred["uv_pred"], pred["z_pred"], pred["crop_K"], pred["scale"],
                                     pred["root_depth"])
    visible = pred["visible"].astype(bool)
    result = metrics.evaluate_3d(xyz_pred, pred["xyz"], visible)
    result2d = metrics.evaluate_2d(pred["uv_pred"], pred["uv"], visible)
    result.update(epe2d_mean_px=result2d["epe_mean_px"], epe2d_median_px=result2d["epe_median_px"],
                  num_samples=int(len(xyz_pred)))
    result["root_free"] = _root_free(pred, visible)
    if mean_pose is not None:
        n = len(xyz_pred)
        uv_m = np.broadcast_to(mean_pose[0], (n, 21, 2))
        z_m = np.broadcast_to(mean_pose[1], (n, 21))
        xyz_m = geometry.xyz_from_25d(uv_m, z_m, pred["crop_K"], pred["scale"], pred["root_depth"])
        result["mean_pose_epe_mean_mm"] = metrics.evaluate_3d(xyz_m, pred["xyz"], visible)["epe_mean_mm"]
    return _jsonable(result)


def _root_free(pred, visible):
    """3D with ``Z_root = solve_root_depth(...)·s_gt``: the application setting (no known root depth)."""
    root = geometry.solve_root_depth(pred["uv_pred"], pred["z_pred"], pred["crop_K"], on_invalid="nan")
    ok = np.isfinite(root)
    if not ok.any():
        return {"num_solved": 0}
    root_mm = root[ok] * pred["scale"][ok]
    xyz = geometry.xyz_from_25d(pred["uv_pred"][ok], pred["z_pred"][ok], pred["crop_K"][ok],
                                pred["scale"][ok], root_mm)
    # Absolute (not root-relative) error also says how far off the recovered root depth is.
    root_err = np.abs(root_mm - pred["root_depth"][ok])
    res = metrics.evaluate_3d(xyz, pred["xyz"][ok], visible[ok])
    return {"epe_mean_mm": res["epe_mean_mm"], "epe_median_mm": res["epe_median_mm"],
            "auc_20_50": res["auc_20_50"], "auc_0_30": res["auc_0_30"],
            "root_depth_error_mean_mm": float(root_err.mean()),
            "root_depth_error_median_mm": float(np.median(root_err)),
            "num_solved": int(ok.sum()), "num_unsolved": int((~ok).sum())}


def _jsonable(d):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out[k] = _jsonable(v)
        elif isinstance(v, np.ndarray):
            out[k] = [None if not np.isfinite(x) else float(x) for x in v.ravel()]
        elif isinstance(v, (np.floating, np.integer)):
            out[k] = v.item()
        else:
            out[k] = v
    return out


def format_table(result, title="real test split"):
    """The four headline numbers as a small text table (mm, AUC in [0, 1])."""
    rows = [("3D mean EPE (mm)", result["epe_mean_mm"]), ("3D median EPE (mm)", result["epe_median_mm"]),
            ("AUC 20-50 mm", result["auc_20_50"]), ("AUC 0-30 mm", result["auc_0_30"]),
            ("2D mean EPE (px)", result["epe2d_mean_px"])]
    if "mean_pose_epe_mean_mm" in result:
        rows.append(("mean-pose baseline 3D EPE (mm)", result["mean_pose_epe_mean_mm"]))
    rf = result.get("root_free", {})
    if rf.get("num_solved"):
        rows.append(("root-free 3D mean EPE (mm)", rf["epe_mean_mm"]))
    width = max(len(r[0]) for r in rows)
    lines = [f"{title} ({result['num_samples']} samples)", "-" * (width + 12)]
    lines += [f"{name:<{width}}  {value:>9.3f}" for name, value in rows]
    return "\n".join(lines)
