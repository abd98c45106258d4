"""Latent 2.5D decoding (Iqbal et al. 2018): spatial softmax, soft-argmax uv, expected depth.

Legend: B batch, h × w heatmap cells, K keypoints, s the heatmap stride in input pixels.
Pixel convention (DESIGN.md §2): pixel centres at integer coordinates, so heatmap cell j covers input
pixels [j·s, (j+1)·s) and stands for u = j·s + (s−1)/2.
Only reshape, max, subtract, exp, sum, divide and multiply are used, so the decoder converts to TFLite
built-in ops; the softmax is max-subtracted so large logits cannot overflow.
"""

import keras
from keras import ops


def spatial_softmax(logits):
    """Softmax over the h·w positions of each keypoint's map.

    Args:
      logits: ``[B, h, w, K]`` (static h, w, K).
    Returns:
      ``[B, h, w, K]`` float32, non-negative, summing to 1 over (h, w) for every (b, k).
    """
    _, h, w, k = logits.shape
    flat = ops.reshape(ops.cast(logits, "float32"), (-1, h * w, k))  # [B, h*w, K]
    flat = flat - ops.max(flat, axis=1, keepdims=True)
    e = ops.exp(flat)
    return ops.reshape(e / ops.sum(e, axis=1, keepdims=True), (-1, h, w, k))


def cell_centres(n, stride):
    """Input-pixel coordinate of the centre of each of ``n`` cells of side ``stride``: ``[n]`` float32."""
    return ops.arange(n, dtype="float32") * float(stride) + (stride - 1) / 2.0


def soft_argmax_25d(logits, depth_maps, stride):
    """Decodes latent 2.5D heatmaps into keypoints.

    Args:
      logits: ``[B, h, w, K]`` heatmap logits.
      depth_maps: ``[B, h, w, K]`` per-cell root-relative depth, in units of the reference bone.
      stride: input pixels per heatmap cell.
    Returns:
      dict with ``uv`` ``[B, K, 2]`` (expected position, input-crop px), ``z_rel`` ``[B, K]``
      (``Σ heatmap · depth_map``, bone units) and ``heatmaps`` ``[B, h, w, K]`` (the softmax).
    """
    heatmaps = spatial_softmax(logits)
    _, h, w, _ = heatmaps.shape
    p_u = ops.sum(heatmaps, axis=1)  # [B, w, K]: marginal over rows
    p_v = ops.sum(heatmaps, axis=2)  # [B, h, K]: marginal over columns
    u = ops.sum(p_u * cell_centres(w, stride)[None, :, None], axis=1)  # [B, K]
    v = ops.sum(p_v * cell_centres(h, stride)[None, :, None], axis=1)  # [B, K]
    z_rel = ops.sum(heatmaps * ops.cast(depth_maps, "float32"), axis=(1, 2))  # [B, K]
    return {"uv": ops.stack([u, v], axis=-1), "z_rel": z_rel, "heatmaps": heatmaps}
