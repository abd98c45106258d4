"""The STB evaluation protocol (DESIGN.md §4) over a pose network and an evaluation dataset, and the 2D
metrics of a real domain without 3D labels.

3D from the prediction with global scale and root depth known: ``Z_k = z_rel_k·s_gt + Z_root_gt``,
``(X, Y) = Z·crop_K⁻¹ (u, v, 1)`` with the predicted crop-pixel ``(u, v)``; errors root-relative
(:func:`awh_tf.metrics.evaluate_3d`). The root-depth-free variant recovers ``Z_root`` from the predicted
2.5D pose and the GT reference-bone length only (:func:`awh_tf.geometry.solve_root_depth`).

Which keypoints are scored (``scored_keypoints``; docs/protocol.md): those the reference code scores.
For STB (``in_image_visibility``: the loader's ``visible`` only says "projects inside the image") that is
every labelled keypoint, in or out of the image, as hand3d's ``eval_full.py`` scores it (``"labelled"``); the
in-image-only figures every table before issue 27 quoted stay under ``in_image``. Elsewhere it is the loader's
``visible`` (``"visible"``: all 21 for FreiHAND, as its ``eval.py``; RHD's own visibility flag, as hand3d).
The 3D, 2D, Procrustes, root-free and mean-pose figures all use that one mask.

Two Procrustes-aligned scores of the same 3D prediction (PA-MPJPE), never to be mistaken for each other:

* ``procrustes`` — ours: scale + **rotation** + translation (no mirror image), fitted on the scored
  keypoints (:func:`awh_tf.metrics.procrustes_transform`), 20 thresholds 0–50 mm as the root-relative keys.
* ``procrustes_freihand`` — FreiHAND ``eval.py``'s: ``align_w_scale`` (scale + rotation **or reflection** +
  translation) fitted on all 21 keypoints, every keypoint scored, its ``EvalUtil.get_measures(0, 0.05, 100)``
  grid (100 thresholds 0–50 mm) for ``auc_0_50``, the count of fits that are reflections, and its F-scores at
  5 and 15 mm (:func:`awh_tf.metrics.fscore`, ``d < t``) — on the 21 aligned keypoints, since we predict no
  mesh (FreiHAND's published F-scores are on the 778 MANO vertices).

Without 3D labels (``has_3d`` false for every sample: COCO-style hands) the result is 2D only
(:func:`evaluate_predictions_2d`): EPE and PCK in crop px (comparable across domains at one input size)
and, given the images' labels, in **image px** — mean / median EPE, PCK at 5, 10 and 20 px, AUC over
0-30 px (20 thresholds, as ``metrics.PCK_THRESHOLDS_PX``; mmpose's hand AUC uses the same range) and PCK at
0.1 and 0.2 of the hand box's larger side (``pck_box_0.1`` / ``pck_box_0.2``; OneHand10K's PCK@0.2). As every
statistic here, each is computed per keypoint over its labelled samples, then averaged over keypoints (so
the numbers can differ slightly from a pooled PCK). The palm counts when it is labelled (COCO: when both
the wrist and the middle MCP are).
"""

import numpy as np
import tensorflow as tf

from awh_tf import geometry, metrics

IMAGE_PCK_PX = (5.0, 10.0, 20.0)
BOX_PCK = (0.1, 0.2)
SCALAR_3D = ("epe_mean_mm", "epe_median_mm", "auc_0_50", "auc_20_50", "auc_0_30")
FREIHAND_PCK_THRESHOLDS_MM = np.linspace(0.0, 50.0, 100)  # eval.py: get_measures(0.0, 0.05, 100) in metres
FREIHAND_FSCORE_MM = (5.0, 15.0)  # eval.py: f_threshs = [0.005, 0.015] m
ALIGNMENT_TEXT = {
    "procrustes": "scale + rotation (det +1) + translation, fitted on the scored keypoints (ours)",
    "procrustes_freihand": "FreiHAND eval.py align_w_scale: scale + rotation or reflection + translation, "
                           "fitted on all 21 keypoints; F-scores on the 21 keypoints, not the mesh",
}


def predict_dataset(pose_network, dataset, max_samples=0):
    """Runs the RGB path over ``dataset`` (batches from ``make_eval_dataset``).

    Returns:
      dict of numpy arrays over N samples: ``uv_pred`` [N,21,2], ``z_pred`` [N,21] and the labels ``uv``,
      ``z_rel``, ``xyz`` [N,21,3] mm, ``visible``, ``crop_K`` [N,3,3], ``scale`` [N], ``root_depth`` [N],
      ``index`` [N], ``has_3d`` [N].
    """

    @tf.function(reduce_retracing=True)
    def forward(images):
        out = pose_network(images, training=False)
        return out["uv"], out["z_rel"]

    keys = ("uv", "z_rel", "xyz", "visible", "crop_K", "scale", "root_depth", "index", "has_3d")
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


def evaluate_predictions(pred, mean_pose=None, image_labels=None, in_image_visibility=False):
    """Scores predictions from :func:`predict_dataset` with the published protocol (2D only without 3D labels).

    Args:
      pred: the dict returned by :func:`predict_dataset`.
      mean_pose: optional ``(uv [21,2], z_rel [21])`` training-set mean 2.5D pose in crop px; its 3D EPE
        under the same protocol is reported as ``mean_pose_epe_mean_mm`` and its 2D EPE as
        ``mean_pose_epe2d_mean_px`` (the "has it learnt" baselines).
      image_labels: optional, for a dataset without 3D: :func:`image_labels` of it (image-px metrics).
      in_image_visibility: ``pred["visible"]`` only says "inside the image" and every keypoint is labelled
        (STB): score all 21 keypoints and add the in-image-only figures under ``in_image`` (module docstring).
    Returns:
      dict. With 3D labels: every key of :func:`metrics.evaluate_3d`, ``epe2d_mean_px``, ``epe2d_median_px``,
      ``num_samples``, ``num_scored_keypoints``, ``scored_keypoints`` ("labelled" or "visible"), ``has_3d``
      True, the ``procrustes`` and ``procrustes_freihand`` sub-dicts (module docstring), a ``root_free``
      sub-dict (3D with the root depth recovered from one bone), the baselines and, with
      ``in_image_visibility``, ``in_image`` (the scalar keys, 2D EPE and ``procrustes`` on in-image keypoints).
      Without 3D labels: :func:`evaluate_predictions_2d`. Arrays are lists (JSON-ready).
    Raises:
      ValueError: some samples have 3D labels and others not (one dataset has them or not).
    """
    has_3d = np.ones(len(pred["uv"]), bool) if "has_3d" not in pred else np.asarray(pred["has_3d"], bool)
    if not has_3d.any():
        return evaluate_predictions_2d(pred, mean_pose, image_labels)
    if not has_3d.all():
        raise ValueError(f"evaluate_predictions: {int((~has_3d).sum())} of {len(has_3d)} samples have no 3D "
                         f"labels; a test split has 3D for all samples or for none")
    xyz_pred = geometry.xyz_from_25d(pred["uv_pred"], pred["z_pred"], pred["crop_K"], pred["scale"],
                                     pred["root_depth"])
    visible = pred["visible"].astype(bool)
    scored = np.ones_like(visible) if in_image_visibility else visible
    result = _scores(pred, xyz_pred, scored)
    result.update(num_samples=int(len(xyz_pred)), has_3d=True,
                  scored_keypoints="labelled" if in_image_visibility else "visible",
                  procrustes_freihand=freihand_aligned(xyz_pred, pred["xyz"]),
                  root_free=_root_free(pred, scored))
    if in_image_visibility:
        in_image = _scores(pred, xyz_pred, visible)
        result["in_image"] = {k: in_image[k] for k in SCALAR_3D + ("epe2d_mean_px", "epe2d_median_px",
                                                                    "num_scored_keypoints", "procrustes")}
    if mean_pose is not None:
        n = len(xyz_pred)
        uv_m = np.broadcast_to(mean_pose[0], (n, 21, 2))
        z_m = np.broadcast_to(mean_pose[1], (n, 21))
        xyz_m = geometry.xyz_from_25d(uv_m, z_m, pred["crop_K"], pred["scale"], pred["root_depth"])
        result["mean_pose_epe_mean_mm"] = metrics.evaluate_3d(xyz_m, pred["xyz"], scored)["epe_mean_mm"]
        result["mean_pose_epe2d_mean_px"] = metrics.evaluate_2d(uv_m, pred["uv"], scored)["epe_mean_px"]
    return _jsonable(result)


def _scores(pred, xyz_pred, mask):
    """The 3D keys, the 2D EPE and the rotation-only ``procrustes`` block over the keypoints in ``mask``."""
    result = metrics.evaluate_3d(xyz_pred, pred["xyz"], mask)
    result2d = metrics.evaluate_2d(pred["uv_pred"], pred["uv"], mask)
    aligned = metrics.evaluate_3d(xyz_pred, pred["xyz"], mask, align="procrustes")
    result.update(epe2d_mean_px=result2d["epe_mean_px"], epe2d_median_px=result2d["epe_median_px"],
                  num_scored_keypoints=int(mask.sum()),
                  procrustes=dict({k: aligned[k] for k in SCALAR_3D}, alignment=ALIGNMENT_TEXT["procrustes"]))
    return result


def freihand_aligned(xyz_pred, xyz_gt):
    """FreiHAND ``eval.py``'s aligned keypoint scores (module docstring) of [N, 21, 3] mm poses.

    Returns:
      dict: ``epe_mean_mm`` (its PA-MPJPE), ``epe_median_mm``, ``auc_0_50`` (100 thresholds), ``fscore_5mm``,
      ``fscore_15mm`` (means over samples), ``num_reflections`` (fits with ``det R = −1``), ``alignment``.
    """
    aligned = metrics.procrustes_align(xyz_pred, xyz_gt, allow_reflection=True)
    rotation = metrics.procrustes_transform(xyz_pred, xyz_gt, allow_reflection=True)[1]
    distances = np.linalg.norm(aligned - xyz_gt, axis=-1)
    stats = metrics.keypoint_statistics(distances, np.ones(distances.shape, bool), FREIHAND_PCK_THRESHOLDS_MM)
    out = {"epe_mean_mm": float(stats["epe_mean"].mean()), "epe_median_mm": float(stats["epe_median"].mean()),
           "auc_0_50": float(metrics.auc(stats["pck_curve"], FREIHAND_PCK_THRESHOLDS_MM).mean())}
    out.update({f"fscore_{t:g}mm": float(metrics.fscore(aligned, xyz_gt, t).mean()) for t in FREIHAND_FSCORE_MM})
    out.update(num_reflections=int((np.linalg.det(rotation) < 0).sum()),
               alignment=ALIGNMENT_TEXT["procrustes_freihand"])
    return out


def evaluate_predictions_2d(pred, mean_pose=None, image_labels=None):
    """2D scores of predictions without 3D labels (module docstring).

    Args:
      pred: :func:`predict_dataset`'s dict.  mean_pose: as in :func:`evaluate_predictions` (its uv only).
      image_labels: :func:`image_labels` of the dataset, or None (crop px only).
    Returns:
      dict: ``has_3d`` False, ``num_samples``, ``epe2d_mean_px``, ``epe2d_median_px``, ``auc2d_0_30_px``,
      ``pck2d_thresholds_px`` [20], ``pck2d_curve`` [20], ``per_keypoint_epe2d_px`` [21] (crop px),
      ``mean_pose_epe2d_mean_px`` with ``mean_pose``, and with ``image_labels`` an ``image`` sub-dict:
      ``epe_mean_px``, ``epe_median_px``, ``auc_0_30_px``, ``pck_5px``, ``pck_10px``, ``pck_20px``,
      ``pck_box_0.1``, ``pck_box_0.2``, ``per_keypoint_epe_px`` [21] (image px).
    """
    visible = pred["visible"].astype(bool)
    crop = metrics.evaluate_2d(pred["uv_pred"], pred["uv"], visible)
    result = {"has_3d": False, "num_samples": int(len(visible)), "epe2d_mean_px": crop["epe_mean_px"],
              "epe2d_median_px": crop["epe_median_px"], "auc2d_0_30_px": crop["auc_0_30"],
              "pck2d_thresholds_px": crop["pck_thresholds_px"], "pck2d_curve": crop["pck_curve"],
              "per_keypoint_epe2d_px": crop["per_keypoint_epe_px"]}
    if mean_pose is not None:
        uv_m = np.broadcast_to(mean_pose[0], visible.shape + (2,))
        result["mean_pose_epe2d_mean_px"] = metrics.evaluate_2d(uv_m, pred["uv"], visible)["epe_mean_px"]
    if image_labels is not None:
        result["image"] = _image_2d(pred, image_labels, visible)
    return _jsonable(result)


def image_labels(dataset, mirror_right=True):
    """What :func:`evaluate_predictions_2d` needs to map crops back to a dataset's images: its
    ``annotations()`` ``K``, ``image_wh`` and ``box`` (x, y, w, h px), and ``mirrored`` (the pipeline flips
    right hands when ``mirror_right``), all indexed by the sample index."""
    ann = dataset.annotations()
    return {"K": ann["K"], "image_wh": ann["image_wh"], "box": ann["box"],
            "mirrored": (ann["hand"] == "right") & bool(mirror_right)}


def crop_to_image(uv_crop, crop_K, K, width, mirrored):
    """Crop px ``[N, 21, 2]`` -> image px: the inverse of the crop's affine ``A = crop_K · K_seen⁻¹`` (``K_seen``
    the intrinsics of the image the crop was cut from: mirrored for a flipped right hand), then ``u = W-1-u``
    for a mirrored sample. ``crop_K``, ``K`` [N, 3, 3]; ``width``, ``mirrored`` [N]."""
    K_seen = np.array(K, np.float64)
    width, mirrored = np.asarray(width, np.float64), np.asarray(mirrored, bool)
    K_seen[:, 0, 2] = np.where(mirrored, width - 1 - K_seen[:, 0, 2], K_seen[:, 0, 2])  # keypoints.mirror_K
    to_image = np.linalg.inv(np.asarray(crop_K, np.float64) @ np.linalg.inv(K_seen))  # [N, 3, 3]
    uv = np.einsum("nij,nkj->nki", to_image[:, :2, :2], np.asarray(uv_crop, np.float64)) + to_image[:, None, :2, 2]
    uv[..., 0] = np.where(mirrored[:, None], width[:, None] - 1 - uv[..., 0], uv[..., 0])
    return uv


def _image_2d(pred, labels, visible):
    index = np.asarray(pred["index"], np.int64)
    K, wh = labels["K"][index], labels["image_wh"][index]
    mirrored, box = labels["mirrored"][index], labels["box"][index]
    uv_pred = crop_to_image(pred["uv_pred"], pred["crop_K"], K, wh[:, 0], mirrored)
    uv_gt = crop_to_image(pred["uv"], pred["crop_K"], K, wh[:, 0], mirrored)
    res = metrics.evaluate_2d(uv_pred, uv_gt, visible)
    distances = np.linalg.norm(uv_pred - uv_gt, axis=-1)
    out = {"epe_mean_px": res["epe_mean_px"], "epe_median_px": res["epe_median_px"],
           "auc_0_30_px": res["auc_0_30"], "per_keypoint_epe_px": res["per_keypoint_epe_px"]}
    pck = _mean_pck(distances, visible, IMAGE_PCK_PX)
    out.update({f"pck_{t:g}px": p for t, p in zip(IMAGE_PCK_PX, pck)})
    box_size = np.maximum(box[:, 2], box[:, 3]).astype(np.float64)
    pck = _mean_pck(distances / box_size[:, None], visible, BOX_PCK)
    out.update({f"pck_box_{t:g}": p for t, p in zip(BOX_PCK, pck)})
    return out


def _mean_pck(distances, visible, thresholds):
    """PCK at each threshold per keypoint over its labelled samples, averaged over keypoints with data."""
    curves = metrics.keypoint_statistics(distances, visible, np.asarray(thresholds, np.float64))["pck_curve"]
    return [float(v) for v in np.nanmean(curves, axis=0)]


def headline_scalars(result):
    """The scalars worth a TensorBoard curve of an evaluation result (3D or 2D-only), ``{name: float}``."""
    if result.get("has_3d", True):
        keys = {"epe_mean_mm": result["epe_mean_mm"], "epe_median_mm": result["epe_median_mm"],
                "auc_20_50": result["auc_20_50"], "auc_0_30": result["auc_0_30"],
                "epe2d_mean_px": result["epe2d_mean_px"]}
        if "procrustes" in result:
            keys["pa_epe_mean_mm"] = result["procrustes"]["epe_mean_mm"]
        freihand = result.get("procrustes_freihand", {})
        keys.update({f"freihand_pa_{k}": freihand[k] for k in ("epe_mean_mm", "fscore_5mm", "fscore_15mm")
                     if k in freihand})
        return keys
    keys = {"epe2d_mean_px": result["epe2d_mean_px"], "auc2d_0_30_px": result["auc2d_0_30_px"]}
    image = result.get("image", {})
    keys.update({f"image_{k}": v for k, v in image.items() if not isinstance(v, list)})
    return keys


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
    """The headline numbers as a small text table (mm, px, AUC and PCK in [0, 1])."""
    if not result.get("has_3d", True):
        return _format_rows(result, title, _rows_2d(result))
    rows = [("3D mean EPE (mm)", result["epe_mean_mm"]), ("3D median EPE (mm)", result["epe_median_mm"]),
            ("AUC 20-50 mm", result["auc_20_50"]), ("AUC 0-30 mm", result["auc_0_30"]),
            ("2D mean EPE (px)", result["epe2d_mean_px"])]
    if "procrustes" in result:
        rows.append(("PA-MPJPE, rotation only (mm)", result["procrustes"]["epe_mean_mm"]))
    freihand = result.get("procrustes_freihand")
    if freihand:
        rows += [("PA-MPJPE, FreiHAND align_w_scale (mm)", freihand["epe_mean_mm"]),
                 ("F@5 mm, FreiHAND-aligned keypoints", freihand["fscore_5mm"]),
                 ("F@15 mm, FreiHAND-aligned keypoints", freihand["fscore_15mm"])]
    in_image = result.get("in_image")
    if in_image:
        rows += [("3D mean EPE, in-image keypoints (mm)", in_image["epe_mean_mm"]),
                 ("AUC 20-50 mm, in-image keypoints", in_image["auc_20_50"])]
    if "mean_pose_epe_mean_mm" in result:
        rows.append(("mean-pose baseline 3D EPE (mm)", result["mean_pose_epe_mean_mm"]))
    rf = result.get("root_free", {})
    if rf.get("num_solved"):
        rows.append(("root-free 3D mean EPE (mm)", rf["epe_mean_mm"]))
    return _format_rows(result, title, rows)


def _rows_2d(result):
    rows = [("2D mean EPE (crop px)", result["epe2d_mean_px"]), ("2D median EPE (crop px)", result["epe2d_median_px"]),
            ("2D AUC 0-30 crop px", result["auc2d_0_30_px"])]
    if "mean_pose_epe2d_mean_px" in result:
        rows.append(("mean-pose baseline 2D EPE (crop px)", result["mean_pose_epe2d_mean_px"]))
    image = result.get("image")
    if image:
        rows += [("2D mean EPE (image px)", image["epe_mean_px"]), ("2D median EPE (image px)", image["epe_median_px"]),
                 ("PCK@10 px (image)", image["pck_10px"]), ("PCK@0.2 hand box", image["pck_box_0.2"]),
                 ("2D AUC 0-30 image px", image["auc_0_30_px"])]
    return rows


def _format_rows(result, title, rows):
    width = max(len(r[0]) for r in rows)
    kind = "" if result.get("has_3d", True) else ", 2D labels only"
    if "num_scored_keypoints" in result:
        kind += f", {result['num_scored_keypoints']} {result['scored_keypoints']} keypoints scored"
    lines = [f"{title} ({result['num_samples']} samples{kind})", "-" * (width + 12)]
    lines += [f"{name:<{width}}  {value:>9.3f}" for name, value in rows]
    return "\n".join(lines)
