"""Z-buffer ray casting of quadric primitives, surface normals and keypoint visibility.

Legend: H, W image size in px; pixel centres at integer coordinates (u right, v down); P primitives.
Depth is Z in mm in the camera frame (+Z forward), the value a depth camera reports.

Each primitive is intersected exactly with the rays of the pixels inside its projected bounding box
(a few hundred to a few thousand pixels), vectorised with numpy; the nearest hit wins. The ray of pixel
(u, v) is ``d = ((u - cx)/fx, (v - cy)/fy, 1)`` so the ray parameter is the depth Z itself. Writing
``Z = Z_c + τ`` around the primitive's centre depth keeps the quadratic well conditioned in float32:
with ``e = Z_c d - c`` (``e_z = 0``), ``(τ d + e)ᵀ M (τ d + e) = 1`` gives
``A τ² + 2 B τ + C = 0`` with ``A = dᵀMd``, ``B = dᵀMe``, ``C = eᵀMe - 1``; the near root is
``τ = (-B - √(B² - AC)) / A``.
"""

from __future__ import annotations

import numpy as np

from awh_tf.data.procedural.primitives import Primitives

NEAR_MM = 20.0  # nothing is rendered closer to the camera than this


def pixel_boxes(prims: Primitives, K: np.ndarray, height: int, width: int) -> np.ndarray:
    """Conservative pixel boxes ``[P, 4]`` (u0, u1, v0, v1; half-open) of the primitives.

    ``u = fx X / Z + cx`` is monotonic in X and in Z over an axis-aligned box with Z > 0, so its
    extremes over a primitive's bounding box are at the box's corners.
    """
    c, ext = prims.centre, prims.half_extents()
    z_lo = np.maximum(c[:, 2] - ext[:, 2], NEAR_MM)
    z_hi = np.maximum(c[:, 2] + ext[:, 2], NEAR_MM)
    boxes = np.zeros((len(prims), 4), dtype=np.int64)
    for axis, (f, p0, size) in enumerate(((K[0, 0], K[0, 2], width), (K[1, 1], K[1, 2], height))):
        ends = np.stack([(c[:, axis] + s * ext[:, axis]) / z for s in (-1.0, 1.0) for z in (z_lo, z_hi)])
        lo = np.floor(f * ends.min(axis=0) + p0)
        hi = np.ceil(f * ends.max(axis=0) + p0) + 1
        boxes[:, 2 * axis] = np.clip(lo, 0, size)
        boxes[:, 2 * axis + 1] = np.clip(hi, 0, size)
    too_near = c[:, 2] - ext[:, 2] <= NEAR_MM
    boxes[too_near] = 0
    return boxes


# Pixel boxes up to 96 px are padded to one of these sizes so that primitives with similar boxes are
# intersected together in one vectorised pass (numpy's per-call overhead dominates small boxes);
# larger boxes are intersected alone, unpadded.
_BUCKETS = np.array([16, 32, 64, 96])
_INDEX_BITS = 20  # a z-buffer entry packs (depth bits << 20) | primitive index


def _bucket(size: np.ndarray) -> np.ndarray:
    padded = _BUCKETS[np.minimum(np.searchsorted(_BUCKETS, size), len(_BUCKETS) - 1)]
    return np.where(size > _BUCKETS[-1], size, padded)


def render(prims: Primitives, K: np.ndarray, height: int, width: int):
    """Ray-casts the primitives through a pinhole camera.

    Primitives reaching closer than NEAR_MM to the camera are skipped. All hits of all primitives are
    resolved at once: a positive float32's bits order like the float, so ``(z bits << 20) | primitive``
    is a key whose per-pixel minimum is the nearest hit and names its primitive.

    Args:
      prims: primitives in this camera's frame (mm); fewer than 2**20.
      K: ``[3, 3]`` intrinsics (px; no skew).
      height, width: image size (px).
    Returns:
      ``(depth, index)``: float32 ``[H, W]`` Z in mm of the nearest surface (inf where none) and int32
      ``[H, W]`` the primitive hit there (-1 where none).
    """
    K = np.asarray(K, dtype=np.float64)
    depth = np.full((height, width), np.inf, dtype=np.float32)
    index = np.full((height, width), -1, dtype=np.int32)
    boxes = pixel_boxes(prims, K, height, width)
    h, w = boxes[:, 3] - boxes[:, 2], boxes[:, 1] - boxes[:, 0]
    live = np.flatnonzero((h > 0) & (w > 0))
    if live.size == 0:
        return depth, index
    # Resolve in the union of the boxes only: the hands cover a fraction of the image.
    u_lo, u_hi = boxes[live, 0].min(), boxes[live, 1].max()
    v_lo, v_hi = boxes[live, 2].min(), boxes[live, 3].max()
    region_w = u_hi - u_lo
    hb, wb = _bucket(h[live]), _bucket(w[live])
    keys = hb * 65536 + wb
    flats, packed = [], []
    for key in np.unique(keys):
        group = live[keys == key]
        z, hit = _intersect_group(prims, group, boxes[group], K, key // 65536, key % 65536)
        g, i, j = np.nonzero(hit)
        u, v = boxes[group[g], 0] + j, boxes[group[g], 2] + i
        inside = (u < u_hi) & (v < v_hi)  # padding may run past the region
        flats.append(((v - v_lo) * region_w + (u - u_lo))[inside])
        bits = z[g[inside], i[inside], j[inside]].view(np.int32).astype(np.int64)
        packed.append((bits << _INDEX_BITS) | group[g[inside]])
    empty = np.iinfo(np.int64).max
    zbuffer = np.full((v_hi - v_lo) * region_w, empty, dtype=np.int64)
    np.minimum.at(zbuffer, np.concatenate(flats), np.concatenate(packed))
    zbuffer = zbuffer.reshape(v_hi - v_lo, region_w)
    hit = zbuffer != empty
    region = (slice(v_lo, v_hi), slice(u_lo, u_hi))
    np.copyto(depth[region], (zbuffer >> _INDEX_BITS).astype(np.int32).view(np.float32), where=hit)
    np.copyto(index[region], (zbuffer & ((1 << _INDEX_BITS) - 1)).astype(np.int32), where=hit)
    return depth, index


def _intersect_group(prims: Primitives, group: np.ndarray, boxes: np.ndarray, K: np.ndarray,
                     box_h: int, box_w: int):
    """Near hits of G primitives with the rays of their (padded) boxes.

    With ``p = (c_x/c_z, c_y/c_z, 1)`` the ray through the centre and ``d = p + (x', y', 0)``,
    ``e = c_z (x', y', 0)``, so with ``Q = (x', y', 0) M (x', y', 0)ᵀ`` and ``L = (x', y', 0) M p``:
    ``A = Q + 2L + pᵀMp``, ``B = c_z (Q + L)``, ``C = c_z² Q - 1`` — small numbers, no cancellation.

    Returns ``(z, hit)``: float32 ``[G, box_h, box_w]`` depth (mm) and bool hit mask; row/column i of a
    primitive's block is pixel ``(v0 + i)`` / ``(u0 + i)`` of its box.
    """
    f32 = np.float32

    def col(a):
        return np.asarray(a, dtype=f32).reshape(-1, 1, 1)

    c, m, axis = prims.centre[group], prims.quadric[group], prims.axis[group]
    p = c / c[:, 2:3]
    mp = np.einsum("gij,gj->gi", m, p)
    x = ((boxes[:, 0, None] + np.arange(box_w) - K[0, 2]) / K[0, 0] - p[:, 0, None])[:, None, :]  # [G, 1, w]
    y = ((boxes[:, 2, None] + np.arange(box_h) - K[1, 2]) / K[1, 1] - p[:, 1, None])[:, :, None]  # [G, h, 1]
    x, y = x.astype(f32), y.astype(f32)
    cz = col(c[:, 2])
    # Full-size [G, h, w] arrays are updated in place: the arithmetic is cheap, memory traffic is not.
    q = x * y
    q *= col(2.0 * m[:, 0, 1])
    q += col(m[:, 0, 0]) * x * x
    q += col(m[:, 1, 1]) * y * y                       # Q
    a = col(mp[:, 0]) * x + col(mp[:, 1]) * y          # L
    b = q + a
    b *= cz                                            # B = c_z (Q + L)
    a *= 2.0
    a += q
    a += col(np.einsum("gi,gi->g", p, mp))             # A = Q + 2L + pᵀMp
    np.maximum(a, f32(1e-12), out=a)                   # A = 0 only for a ray along a cylinder's axis
    q *= cz * cz
    q -= 1.0                                           # C = c_z² Q - 1
    q *= a
    disc = b * b
    disc -= q                                          # B² - AC
    hit = disc >= 0.0
    np.maximum(disc, 0.0, out=disc)
    np.sqrt(disc, out=disc)
    disc += b
    disc /= a                                          # -τ, the near root
    if np.isfinite(prims.half_length[group]).any():
        # Cylinders keep hits within their length: u·(P - c) = τ u·d + c_z u·(x', y', 0). An
        # ellipsoid has axis 0 and half length inf.
        s = col(axis[:, 0]) * x + col(axis[:, 1]) * y
        along = s + col(np.einsum("gi,gi->g", axis, p))
        along *= disc
        s *= cz
        s -= along
        np.abs(s, out=s)
        hit &= s <= col(prims.half_length[group])
    return cz - disc, hit


def surface_normals(prims: Primitives, K: np.ndarray, depth: np.ndarray, index: np.ndarray):
    """Unit normals at the rendered surface points, facing the camera.

    Args:
      prims, K: as given to `render`.
      depth, index: `render`'s outputs ``[H, W]``.
    Returns:
      ``(flat, pid, normals)``: int ``[F]`` flat indices of the covered pixels, int ``[F]`` the primitive
      seen there and float32 ``[F, 3]`` unit normals (camera frame).
    """
    height, width = index.shape
    flat = np.flatnonzero(index.ravel() >= 0)
    pid = index.ravel()[flat]
    z = depth.ravel()[flat]
    v, u = np.divmod(flat, width)
    f32 = np.float32
    # p - c per component, then n = M (p - c): the gradient of the quadric, outward; a cylinder's M
    # has no axial part. Explicit components in float32 beat a gathered [F, 3, 3] einsum.
    centre = prims.centre.astype(f32)
    d = [(u.astype(f32) - f32(K[0, 2])) * f32(1.0 / K[0, 0]) * z - centre[pid, 0],
         (v.astype(f32) - f32(K[1, 2])) * f32(1.0 / K[1, 1]) * z - centre[pid, 1],
         z - centre[pid, 2]]
    m = prims.quadric.astype(f32).reshape(-1, 9)[pid]  # [F, 9]
    n = np.stack([m[:, 3 * i] * d[0] + m[:, 3 * i + 1] * d[1] + m[:, 3 * i + 2] * d[2] for i in range(3)],
                 axis=-1)
    n /= np.maximum(np.sqrt(np.einsum("fi,fi->f", n, n)), f32(1e-12))[:, None]
    # Grazing rays can land on the far side of a surface: make every normal face the camera.
    facing = n[:, 2] * z + n[:, 0] * (d[0] + centre[pid, 0]) + n[:, 1] * (d[1] + centre[pid, 1])
    n[facing > 0] *= -1.0
    return flat, pid, n


def label_image(prims: Primitives, index: np.ndarray) -> np.ndarray:
    """uint8 ``[H, W]`` part labels of `render`'s ``index`` (0 where nothing was hit)."""
    lut = np.concatenate([[0], prims.label]).astype(np.uint8)
    return lut[index + 1]


def keypoint_visibility(uv, xyz, radii, depth, index, prims, hand_labels, tolerance_mm=3.0):
    """Visibility true to the render.

    A keypoint is visible iff its pixel (uv rounded) is inside the image, the surface there belongs to
    its own hand, and that surface is no nearer than the keypoint's own body surface (its depth minus the
    radius of the joint sphere around it) by more than ``tolerance_mm``.

    Args:
      uv: ``[N, 2]`` px.   xyz: ``[N, 3]`` mm, camera frame.   radii: ``[N]`` mm.
      depth, index: `render`'s outputs ``[H, W]`` for ``prims``.
      hand_labels: ``(lo, hi)`` inclusive part-label range of the keypoints' hand.
    Returns:
      bool ``[N]``.
    """
    height, width = index.shape
    iu = np.rint(uv[:, 0]).astype(np.int64)
    iv = np.rint(uv[:, 1]).astype(np.int64)
    inside = (iu >= 0) & (iu < width) & (iv >= 0) & (iv < height)
    iu, iv = np.clip(iu, 0, width - 1), np.clip(iv, 0, height - 1)
    hit = index[iv, iu]
    label = np.where(hit >= 0, prims.label[np.maximum(hit, 0)], 0)
    own = (label >= hand_labels[0]) & (label <= hand_labels[1])
    unoccluded = xyz[:, 2] - depth[iv, iu] <= radii + tolerance_mm
    return inside & own & unoccluded
