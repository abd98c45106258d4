"""Supervised losses of the pose network (AW Hourglass Eq. 8 and 10) as pure functions.

Legend: B batch, K keypoints, D depth-image side. ``uv`` in input-crop px, ``z`` root-relative depth in
reference-bone units (Eq. 7), ``visible`` ``[B, K]`` (bool or 0/1; None = all visible).

Normalisation: Eq. 8 sums over the K keypoints; here the sum over (sample, visible keypoint) is divided
by the number of visible keypoints in the batch (at least 1). So a loss is the mean per-keypoint L1
error (px for uv, summed over u and v), independent of K, visibility and batch size, and an all-hidden
batch gives 0. Paper's Eq. 8 for one fully visible sample = K × our value.
"""

from keras import ops

INTERMEDIATE_TERMS = ("R2D", "R3D", "S2D")


def _mask(visible, like):
    """``[B, K]`` float32 mask from ``visible`` (None → ones shaped like ``like`` ``[B, K, ...]``)."""
    if visible is None:
        return ops.ones(ops.shape(like)[:2], dtype="float32")
    return ops.cast(visible, "float32")


def _masked_mean(per_keypoint, mask):
    """``Σ mask · per_keypoint / max(Σ mask, 1)`` over ``[B, K]``."""
    return ops.sum(mask * per_keypoint) / ops.maximum(ops.sum(mask), 1.0)


def _uv_l1(uv_pred, uv_gt):
    """``[B, K]`` L1 norm of the 2D error, px."""
    return ops.sum(ops.abs(ops.cast(uv_pred, "float32") - ops.cast(uv_gt, "float32")), axis=-1)


def _z_l1(z_pred, z_gt):
    return ops.abs(ops.cast(z_pred, "float32") - ops.cast(z_gt, "float32"))


def loss_2d(uv_pred, uv_gt, visible=None):
    """L_2D: mean over visible keypoints of ``|Δu| + |Δv|`` (px).

    Args:
      uv_pred, uv_gt: ``[B, K, 2]`` crop px.
      visible: ``[B, K]`` or None.
    Returns: scalar float32.
    """
    return _masked_mean(_uv_l1(uv_pred, uv_gt), _mask(visible, uv_gt))


def loss_25d(uv_pred, uv_gt, z_pred, z_gt, visible=None, lambda_z=1.0):
    """L_2.5D (Eq. 8): mean over visible keypoints of ``|Δu| + |Δv| + λ_z |Δz|``.

    Args:
      uv_pred, uv_gt: ``[B, K, 2]`` crop px.
      z_pred, z_gt: ``[B, K]`` reference-bone units.
      visible: ``[B, K]`` or None (masks both terms).
      lambda_z: weight of the depth term (λ_alpha in the paper).
    Returns: scalar float32.
    """
    per_keypoint = _uv_l1(uv_pred, uv_gt) + lambda_z * _z_l1(z_pred, z_gt)
    return _masked_mean(per_keypoint, _mask(visible, uv_gt))


def loss_depth_reg(pred, target, weights=None):
    """L_reg (Eq. 10): mean absolute difference over the ``[B, D, D]`` normalised depth images.

    ``weights`` ``[B]`` (bool or 0/1; None = all): only those samples count, the mean is over their pixels
    (0 when there is none) — the samples whose depth image may supervise them.
    """
    per_sample = ops.mean(ops.abs(ops.cast(pred, "float32") - ops.cast(target, "float32")), axis=(1, 2))
    if weights is None:
        return ops.mean(per_sample)
    weights = ops.cast(weights, "float32")
    return ops.sum(weights * per_sample) / ops.maximum(ops.sum(weights), 1.0)


def loss_first_stack(terms, uv_pred, uv_gt, z_pred, z_gt, visible, is_source, lambda_z=1.0):
    """Intermediate supervision of the first stack (paper Table 1) on a mixed source/target batch.

    ``R2D`` = 2D loss on source samples, ``R3D`` = ``λ_z`` × depth loss on source samples,
    ``S2D`` = 2D loss on target samples; each is a mean over its own visible keypoints and the selected
    terms are summed (0 for an empty selection: wo/IL).

    Args:
      terms: iterable of names from ``INTERMEDIATE_TERMS``.
      uv_pred, uv_gt: ``[B, K, 2]`` px; z_pred, z_gt: ``[B, K]`` (target z_gt is ignored).
      visible: ``[B, K]`` or None; is_source: ``[B]`` bool (True = synthetic sample).
    Returns: scalar float32.
    """
    terms = tuple(terms)
    unknown = sorted(set(terms) - set(INTERMEDIATE_TERMS))
    if unknown:
        raise ValueError(f"loss_first_stack: terms {unknown} not in {INTERMEDIATE_TERMS}")
    mask = _mask(visible, uv_gt)
    source = ops.cast(is_source, "float32")[:, None]  # [B, 1]
    total = ops.zeros((), dtype="float32")
    if "R2D" in terms:
        total = total + _masked_mean(_uv_l1(uv_pred, uv_gt), mask * source)
    if "R3D" in terms:
        total = total + lambda_z * _masked_mean(_z_l1(z_pred, z_gt), mask * source)
    if "S2D" in terms:
        total = total + _masked_mean(_uv_l1(uv_pred, uv_gt), mask * (1.0 - source))
    return total
