"""Pose metrics: EPE, PCK and AUC with pinned definitions (DESIGN.md §4, hand3d ``EvalUtil``).

Legend: N samples, K keypoints (any K; 21 in this project), T thresholds.

Definitions (the numbers papers quote depend on every one of them):

* **Distance** — Euclidean distance per keypoint between prediction and ground truth:
  in mm for 3D, after making **both** poses root-relative (subtract keypoint ``ROOT`` = 0, the palm);
  in px for 2D, without root subtraction. The root's own 3D distance is therefore 0 and it is still
  counted in every average (the published protocol).
* **Per keypoint first** — each statistic is computed per keypoint over the samples where that
  keypoint is visible, then averaged over keypoints with equal weight. So ``epe_median`` is the mean
  over keypoints of the per-keypoint median, not the median of all distances (as ``EvalUtil`` does).
* **Never-visible keypoints** — a keypoint with no visible sample is left out of every average
  (the means are over the keypoints that have data; no NaN enters them); its entry in
  ``per_keypoint_epe_*`` is NaN. If no keypoint is visible at all, a ``ValueError`` is raised.
* **PCK** at threshold ``t`` is the fraction of visible samples with ``d <= t`` (a distance exactly
  on a threshold counts as correct).
* **AUC** is the trapezoid area under the PCK curve divided by the threshold range (so it lies in
  [0, 1]); computed per keypoint, then averaged (equal to the AUC of the mean curve).
* **Grids** — 3D: ``PCK_THRESHOLDS_MM = linspace(0, 50, 20)`` gives ``auc_0_50`` and the returned
  ``pck_curve``; ``auc_20_50`` is the same 20-point curve restricted to thresholds
  ``[AUC_20_50_START:]`` (index 8, 21.05 mm .. 50 mm) and normalised by that sub-range (the number
  most papers quote); ``auc_0_30`` uses ``AUC_30_THRESHOLDS_MM = linspace(0, 30, 31)`` (our reading
  of the paper's "AUC@30mm"). 2D: ``PCK_THRESHOLDS_PX = linspace(0, 30, 20)`` gives ``auc_0_30``.
* **Visibility** — ``visible`` is ``[N, K]`` (anything castable to bool; None = all visible).
  Coordinates of invisible keypoints are never used (they may be NaN), except the root's, which every
  3D distance needs.

* **Procrustes alignment** (``evaluate_3d(..., align="procrustes")``, PA-MPJPE) — each predicted pose
  is first mapped onto its ground truth by the similarity transform (scale, rotation without reflection,
  translation) that minimises the squared error over its visible keypoints (Umeyama 1991,
  :func:`procrustes_align`); the distances are then plain Euclidean distances between the aligned
  prediction and the ground truth, **without** root subtraction (the translation is already fitted, as in
  FreiHAND's evaluation), so the root counts like any keypoint. Every statistic above is then computed
  from these distances unchanged (``epe_mean_mm`` is the PA-MPJPE). FreiHAND's own script fits an
  orthogonal map that may be a reflection (``procrustes_transform(..., allow_reflection=True)``, scored by
  ``awh_tf.evaluation.protocol`` under ``procrustes_freihand``); the two agree unless the best fit is one.
* **F-score** (:func:`fscore`, FreiHAND's ``calculate_fscore``) at threshold ``t`` between two point sets of
  one sample: precision = fraction of predicted points whose nearest ground-truth point is closer than ``t``,
  recall = fraction of ground-truth points whose nearest predicted point is, ``F = 2PR / (P + R)`` (0 when
  both are 0). Nearest neighbours, not correspondences, and strictly ``d < t`` (unlike PCK's ``<=``).

Streaming: ``PoseEvaluator3D`` / ``PoseEvaluator2D`` store the distances of every batch and give the
same numbers as one ``evaluate_3d`` / ``evaluate_2d`` call on the concatenated data.

Numpy only: importing this module does not initialise TensorFlow.
"""

import numpy as np

from awh_tf.keypoints import ROOT

PCK_THRESHOLDS_MM = np.linspace(0.0, 50.0, 20)
AUC_20_50_START = 8  # PCK_THRESHOLDS_MM[8] = 21.05 mm
AUC_30_THRESHOLDS_MM = np.linspace(0.0, 30.0, 31)
PCK_THRESHOLDS_PX = np.linspace(0.0, 30.0, 20)
ALIGNMENTS = (None, "procrustes")  # evaluate_3d's ``align``


def pck_curve(distances, thresholds):
    """Fraction of ``distances`` that are ``<= t`` for each threshold ``t``.

    Args:
      distances: [M] distances of one keypoint (visible samples only), M >= 1.
      thresholds: [T] increasing thresholds, same unit.

    Returns:
      [T] float64 PCK values in [0, 1].
    """
    distances = np.sort(np.asarray(distances, np.float64))
    # side="right" counts the entries equal to t: PCK uses d <= t.
    return np.searchsorted(distances, thresholds, side="right") / distances.size


def auc(curve, thresholds):
    """Trapezoid area under ``curve`` over ``thresholds``, divided by the threshold range.

    Args:
      curve: [..., T] PCK values.
      thresholds: [T] increasing thresholds.

    Returns:
      [...] normalised area (1.0 for a curve that is 1 everywhere).
    """
    thresholds = np.asarray(thresholds, np.float64)
    return np.trapezoid(curve, thresholds, axis=-1) / (thresholds[-1] - thresholds[0])


def keypoint_statistics(distances, visible, thresholds):
    """Per-keypoint statistics over the visible samples of each keypoint.

    Args:
      distances: [N, K] distances (mm or px).
      visible: [N, K] bool.
      thresholds: [T] PCK thresholds, same unit as ``distances``.

    Returns:
      dict with ``count`` [K] int (visible samples per keypoint), ``epe_mean`` [K], ``epe_median`` [K]
      and ``pck_curve`` [K, T]; rows of never-visible keypoints are NaN.
    """
    num_keypoints = distances.shape[1]
    count = visible.sum(axis=0)
    epe_mean = np.full(num_keypoints, np.nan)
    epe_median = np.full(num_keypoints, np.nan)
    curves = np.full((num_keypoints, len(thresholds)), np.nan)
    for k in np.flatnonzero(count):
        d = distances[visible[:, k], k]
        epe_mean[k] = d.mean()
        epe_median[k] = np.median(d)
        curves[k] = pck_curve(d, thresholds)
    return {"count": count, "epe_mean": epe_mean, "epe_median": epe_median, "pck_curve": curves}


def _summarize_3d(distances, visible):
    """3D summary dict (mm) from [N, K] root-relative distances and [N, K] visibility."""
    stats = keypoint_statistics(distances, visible, PCK_THRESHOLDS_MM)
    has_data = stats["count"] > 0
    if not has_data.any():
        raise ValueError("evaluate_3d: no visible keypoint in any sample")
    curves = stats["pck_curve"][has_data]  # [K', 20]
    curves_30 = keypoint_statistics(distances, visible, AUC_30_THRESHOLDS_MM)["pck_curve"][has_data]
    tail = slice(AUC_20_50_START, None)
    return {
        "epe_mean_mm": float(stats["epe_mean"][has_data].mean()),
        "epe_median_mm": float(stats["epe_median"][has_data].mean()),
        "auc_0_50": float(auc(curves, PCK_THRESHOLDS_MM).mean()),
        "auc_20_50": float(auc(curves[:, tail], PCK_THRESHOLDS_MM[tail]).mean()),
        "auc_0_30": float(auc(curves_30, AUC_30_THRESHOLDS_MM).mean()),
        "pck_thresholds_mm": PCK_THRESHOLDS_MM.copy(),
        "pck_curve": curves.mean(axis=0),
        "per_keypoint_epe_mm": stats["epe_mean"],
    }


def _summarize_2d(distances, visible):
    """2D summary dict (px) from [N, K] distances and [N, K] visibility."""
    stats = keypoint_statistics(distances, visible, PCK_THRESHOLDS_PX)
    has_data = stats["count"] > 0
    if not has_data.any():
        raise ValueError("evaluate_2d: no visible keypoint in any sample")
    curves = stats["pck_curve"][has_data]  # [K', 20]
    return {
        "epe_mean_px": float(stats["epe_mean"][has_data].mean()),
        "epe_median_px": float(stats["epe_median"][has_data].mean()),
        "auc_0_30": float(auc(curves, PCK_THRESHOLDS_PX).mean()),
        "pck_thresholds_px": PCK_THRESHOLDS_PX.copy(),
        "pck_curve": curves.mean(axis=0),
        "per_keypoint_epe_px": stats["epe_mean"],
    }


def _check_inputs(pred, gt, visible, dim, caller):
    """Validates and batches inputs: returns pred, gt [N, K, dim] float64 and visible [N, K] bool."""
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"{caller}: pred shape {pred.shape} != gt shape {gt.shape}")
    shape = pred.shape
    if pred.ndim == 2:  # a single pose [K, dim]
        pred, gt = pred[None], gt[None]
        if visible is not None and np.ndim(visible) == 1:
            visible = np.asarray(visible)[None]
    if pred.ndim != 3 or pred.shape[-1] != dim:
        raise ValueError(f"{caller}: pred/gt must be [N, K, {dim}] or [K, {dim}], got {shape}")
    if visible is None:
        visible = np.ones(pred.shape[:2], bool)
    visible = np.asarray(visible).astype(bool)
    if visible.shape != pred.shape[:2]:
        raise ValueError(f"{caller}: visible shape {visible.shape} != {pred.shape[:2]} (pred/gt [N, K])")
    return pred, gt, visible


def _check_finite(distances, visible, caller, first_sample=0):
    """Raises if a visible keypoint has a non-finite distance (NaN/inf in pred or gt)."""
    bad = visible & ~np.isfinite(distances)
    if bad.any():
        n, k = np.argwhere(bad)[0]
        raise ValueError(f"{caller}: non-finite pred/gt at sample {first_sample + n}, keypoint {k}")


def distances_3d(pred_xyz, gt_xyz):
    """Root-relative 3D distances [N, K] (mm) between [N, K, 3] mm poses (root = keypoint ROOT)."""
    pred_rel = pred_xyz - pred_xyz[:, ROOT : ROOT + 1]
    gt_rel = gt_xyz - gt_xyz[:, ROOT : ROOT + 1]
    return np.linalg.norm(pred_rel - gt_rel, axis=-1)


def distances_2d(pred_uv, gt_uv):
    """2D distances [N, K] (px) between [N, K, 2] px keypoints (no root subtraction)."""
    return np.linalg.norm(pred_uv - gt_uv, axis=-1)


def procrustes_transform(pred_xyz, gt_xyz, visible=None, allow_reflection=False):
    """Per-sample similarity transform mapping ``pred`` onto ``gt`` in the least-squares sense.

    Minimises ``Σ_k ‖gt_k − (s R pred_k + t)‖²`` over the visible keypoints with ``s >= 0``, ``R`` a
    rotation (``det R = +1``: a mirror image is not fitted) and ``t`` a translation (Umeyama 1991:
    ``Σ = (1/n) Σ_k (gt_k − μ_gt)(pred_k − μ_pred)ᵀ = U D Vᵀ``, ``S = diag(1, 1, det U det V)``,
    ``R = U S Vᵀ``, ``s = tr(D S) / σ²_pred``, ``t = μ_gt − s R μ_pred``). A sample whose visible
    prediction is one point gets ``s = 0`` (the best fit is the ground truth's centroid); a sample with
    no visible keypoint gets the identity. With ``allow_reflection`` ``S = I``: ``R`` is the best
    orthogonal map, a reflection when that fits better (``det R = −1``) — FreiHAND ``eval.py``'s
    ``align_w_scale`` (scipy's ``orthogonal_procrustes`` on centred, norm-scaled poses) is this fit.

    Args:
      pred_xyz: [N, K, 3] (or [K, 3]) predicted keypoints, mm.
      gt_xyz: same shape, ground truth, mm.
      visible: [N, K] (or [K]) bool, the keypoints the fit uses; None = all. Others may be NaN.
      allow_reflection: fit an orthogonal ``R`` (FreiHAND's convention) instead of a rotation.

    Returns:
      ``(scale [N], rotation [N, 3, 3], translation [N, 3])`` float64 (no N axis for one pose), with
      ``aligned = scale · pred @ rotationᵀ + translation``.

    Raises:
      ValueError: shapes disagree, last dim is not 3, or a visible keypoint is non-finite.
    """
    single = np.ndim(pred_xyz) == 2
    pred, gt, visible = _check_inputs(pred_xyz, gt_xyz, visible, 3, "procrustes_transform")
    _check_finite(np.linalg.norm(pred - gt, axis=-1), visible, "procrustes_transform")
    weight = visible[..., None]  # [N, K, 1]
    count = np.maximum(visible.sum(axis=1), 1).astype(np.float64)  # [N]
    pred = np.where(weight, pred, 0.0)
    gt = np.where(weight, gt, 0.0)
    mean_pred = pred.sum(axis=1) / count[:, None]  # [N, 3]
    mean_gt = gt.sum(axis=1) / count[:, None]
    pred_c = np.where(weight, pred - mean_pred[:, None], 0.0)  # [N, K, 3]
    gt_c = np.where(weight, gt - mean_gt[:, None], 0.0)
    cov = np.einsum("nki,nkj->nij", gt_c, pred_c) / count[:, None, None]  # [N, 3, 3]
    u, d, vt = np.linalg.svd(cov)
    sign = np.sign(np.linalg.det(u) * np.linalg.det(vt))  # ±1: U and V are orthogonal
    s_diag = np.ones((len(cov), 3))
    if not allow_reflection:
        s_diag[:, 2] = sign
    rotation = np.einsum("nij,nj,njk->nik", u, s_diag, vt)
    var_pred = np.sum(pred_c**2, axis=(1, 2)) / count
    trace = np.sum(d * s_diag, axis=1)
    scale = np.divide(trace, var_pred, out=np.zeros_like(trace), where=var_pred > 0)
    translation = mean_gt - scale[:, None] * np.einsum("nij,nj->ni", rotation, mean_pred)
    empty = ~visible.any(axis=1)
    scale[empty], rotation[empty], translation[empty] = 1.0, np.eye(3), 0.0
    if single:
        return scale[0], rotation[0], translation[0]
    return scale, rotation, translation


def procrustes_align(pred_xyz, gt_xyz, visible=None, allow_reflection=False):
    """The prediction mapped onto the ground truth by :func:`procrustes_transform`, per sample.

    Args:
      pred_xyz: [N, K, 3] (or [K, 3]) predicted keypoints, mm.
      gt_xyz: same shape, ground truth, mm.
      visible: [N, K] (or [K]) bool, the keypoints the fit uses; None = all.
      allow_reflection: as in :func:`procrustes_transform`.

    Returns:
      float64, the shape of ``pred_xyz``: ``s R pred_k + t`` for every keypoint (the invisible ones
      are transformed too).
    """
    scale, rotation, translation = procrustes_transform(pred_xyz, gt_xyz, visible, allow_reflection)
    pred = np.asarray(pred_xyz, np.float64)
    rotated = np.einsum("...ij,...kj->...ki", rotation, pred)
    return np.asarray(scale)[..., None, None] * rotated + np.asarray(translation)[..., None, :]


def fscore(pred_points, gt_points, threshold):
    """Per-sample F-score of two point sets at ``threshold`` (module docstring; FreiHAND's ``calculate_fscore``).

    Args:
      pred_points: [N, P, 3] (or [P, 3]) predicted points, mm.
      gt_points: [N, Q, 3] (or [Q, 3]) ground-truth points, mm (Q may differ from P).
      threshold: distance in mm; a point counts when its nearest neighbour is strictly closer.

    Returns:
      [N] float64 F-scores in [0, 1] (a float for one sample).
    """
    pred, gt = np.asarray(pred_points, np.float64), np.asarray(gt_points, np.float64)
    single = pred.ndim == 2
    if single:
        pred, gt = pred[None], gt[None]
    d = np.linalg.norm(pred[:, :, None] - gt[:, None], axis=-1)  # [N, P, Q]
    precision = np.mean(d.min(axis=2) < threshold, axis=1)  # predicted points near some gt point
    recall = np.mean(d.min(axis=1) < threshold, axis=1)  # gt points near some predicted point
    total = precision + recall
    f = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return float(f[0]) if single else f


def evaluate_3d(pred_xyz, gt_xyz, visible=None, align=None):
    """3D pose statistics (module docstring: root-relative, per keypoint, then averaged).

    Args:
      pred_xyz: [N, K, 3] (or one pose [K, 3]) predicted keypoints, mm, camera frame.
      gt_xyz: same shape, ground truth.
      visible: [N, K] (or [K]) bool; None = all visible.
      align: None (the root-relative protocol) or "procrustes": score the prediction after
        :func:`procrustes_align` on the visible keypoints, with distances not root-relative (module
        docstring); then ``epe_mean_mm`` is the PA-MPJPE.

    Returns:
      dict: ``epe_mean_mm``, ``epe_median_mm``, ``auc_0_50``, ``auc_20_50``, ``auc_0_30`` (floats),
      ``pck_thresholds_mm`` [20], ``pck_curve`` [20], ``per_keypoint_epe_mm`` [K] (NaN if never visible).

    Raises:
      ValueError: shapes disagree, last dim is not 3, a visible keypoint is non-finite, nothing is
        visible, or an unknown ``align``.
    """
    if align not in ALIGNMENTS:
        raise ValueError(f"evaluate_3d: align must be one of {ALIGNMENTS}, got {align!r}")
    pred, gt, visible = _check_inputs(pred_xyz, gt_xyz, visible, 3, "evaluate_3d")
    if align is None:
        distances = distances_3d(pred, gt)
    else:
        _check_finite(np.linalg.norm(pred - gt, axis=-1), visible, "evaluate_3d")
        distances = np.linalg.norm(procrustes_align(pred, gt, visible) - gt, axis=-1)
    _check_finite(distances, visible, "evaluate_3d")
    return _summarize_3d(distances, visible)


def evaluate_2d(pred_uv, gt_uv, visible=None):
    """2D keypoint statistics in pixels (module docstring), on ``PCK_THRESHOLDS_PX``.

    Args:
      pred_uv: [N, K, 2] (or [K, 2]) predicted keypoints, px, same image frame as ``gt_uv``.
      gt_uv: same shape, ground truth.
      visible: [N, K] (or [K]) bool; None = all visible.

    Returns:
      dict: ``epe_mean_px``, ``epe_median_px``, ``auc_0_30`` (floats), ``pck_thresholds_px`` [20],
      ``pck_curve`` [20], ``per_keypoint_epe_px`` [K] (NaN if never visible).

    Raises:
      ValueError: as ``evaluate_3d``, with last dim 2.
    """
    pred, gt, visible = _check_inputs(pred_uv, gt_uv, visible, 2, "evaluate_2d")
    distances = distances_2d(pred, gt)
    _check_finite(distances, visible, "evaluate_2d")
    return _summarize_2d(distances, visible)


class _PoseEvaluator:
    """Streaming evaluator: accumulates [N, K] distances and visibility batch by batch."""

    _DIM = None
    _NAME = None

    def __init__(self):
        self.reset()

    def reset(self):
        """Forgets every batch seen so far."""
        self._distances = []
        self._visible = []
        self._num_samples = 0

    def update(self, pred, gt, visible=None):
        """Adds one batch: pred, gt [N, K, D] (or [K, D]); visible [N, K] (or [K]) bool or None."""
        pred, gt, visible = _check_inputs(pred, gt, visible, self._DIM, self._NAME)
        if self._distances and pred.shape[1] != self._distances[0].shape[1]:
            raise ValueError(
                f"{self._NAME}: batch has K={pred.shape[1]}, earlier batches K={self._distances[0].shape[1]}"
            )
        distances = self._distance_fn(pred, gt)
        _check_finite(distances, visible, self._NAME, first_sample=self._num_samples)
        self._distances.append(distances)
        self._visible.append(visible)
        self._num_samples += len(pred)

    def result(self):
        """The statistics dict of ``evaluate_3d`` / ``evaluate_2d`` over every sample fed so far."""
        if not self._distances:
            raise ValueError(f"{self._NAME}: result() called before any update()")
        return self._summarize_fn(np.concatenate(self._distances), np.concatenate(self._visible))


class PoseEvaluator3D(_PoseEvaluator):
    """Streaming ``evaluate_3d``: ``update(pred_xyz, gt_xyz, visible)`` with [N, K, 3] mm poses."""

    _DIM = 3
    _NAME = "PoseEvaluator3D"
    _distance_fn = staticmethod(distances_3d)
    _summarize_fn = staticmethod(_summarize_3d)


class PoseEvaluator2D(_PoseEvaluator):
    """Streaming ``evaluate_2d``: ``update(pred_uv, gt_uv, visible)`` with [N, K, 2] px keypoints."""

    _DIM = 2
    _NAME = "PoseEvaluator2D"
    _distance_fn = staticmethod(distances_2d)
    _summarize_fn = staticmethod(_summarize_2d)
