"""Square hand crops as one affine map, and the crop's intrinsics and depth target (numpy + OpenCV).

Every geometric operation of the input pipeline — crop, resize, in-plane rotation, translation — is one
3×3 affine ``A`` from image px to crop px. It is applied to the image (``cv2.warpAffine``), to the 2D
keypoints (:func:`apply_affine`) and to the camera (``crop_K = A @ K``), so projecting the camera-frame
3D labels with ``crop_K`` gives the crop uv exactly, rotation included (``crop_K`` is then a general
invertible 3×3, which ``awh_tf.geometry`` accepts).

Pixel convention (DESIGN.md §2): pixel centres at integer coordinates, so an image W px wide spans
``[-0.5, W - 0.5]``; OpenCV's ``warpAffine`` samples with the same convention.

Legend: K = 21 keypoints; S crop size px; D depth-target size px; uv ``[K, 2]`` px; xyz ``[K, 3]`` mm,
camera frame; depth ``[H, W]`` mm registered to the colour image (0 = no measurement).
"""

from __future__ import annotations

import cv2
import numpy as np


def crop_box(uv, visible, margin, min_size):
    """The square around a hand's 2D keypoints.

    Args:
      uv: ``[K, 2]`` px, image frame.
      visible: ``[K]`` bool; only visible keypoints shape the box (all of them if none is visible).
      margin: padding on each side as a fraction of the keypoints' larger extent
        (side = extent · (1 + 2·margin)).
      min_size: the smallest side in px (a hand seen end-on has a tiny 2D extent).
    Returns:
      ``(centre [2] px, side px)``: the centre of the keypoints' bounding box and the square's side.
    """
    uv = np.asarray(uv, dtype=np.float64)
    visible = np.asarray(visible, dtype=bool)
    pts = uv[visible] if visible.any() else uv
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    side = max(float(np.max(hi - lo)) * (1.0 + 2.0 * margin), float(min_size))
    return (lo + hi) / 2.0, side


def crop_affine(centre, side, out_size, angle_deg=0.0):
    """The affine map from image px to crop px of a square crop.

    The square of side ``side`` px centred on ``centre`` (rotated by ``angle_deg`` about its centre) fills
    the ``out_size``² crop: ``p' = (S / side) · R · (p - centre) + (S - 1) / 2``. With v pointing down, a
    positive angle turns the hand counter-clockwise as displayed.

    Args:
      centre: ``[2]`` px, image frame.  side: px.  out_size: S px.  angle_deg: rotation in degrees.
    Returns:
      A ``[3, 3]`` float64 with last row ``(0, 0, 1)``.
    """
    s = out_size / float(side)
    t = np.deg2rad(angle_deg)
    c, n = np.cos(t), np.sin(t)
    rot = np.array([[c, n], [-n, c]])  # CCW on screen because v points down
    A = np.eye(3)
    A[:2, :2] = s * rot
    A[:2, 2] = (out_size - 1) / 2.0 - s * rot @ np.asarray(centre, dtype=np.float64)
    return A


def resize_affine(from_size, to_size):
    """The affine map from a ``from_size``² image to its ``to_size``² resize (pixel centres at integers)."""
    s = to_size / float(from_size)
    return np.array([[s, 0.0, 0.5 * s - 0.5], [0.0, s, 0.5 * s - 0.5], [0.0, 0.0, 1.0]])


def apply_affine(A, uv):
    """Maps points ``[..., 2]`` px through the affine ``A`` ``[3, 3]``; returns float32 ``[..., 2]`` px."""
    uv = np.asarray(uv, dtype=np.float64)
    return (uv @ A[:2, :2].T + A[:2, 2]).astype(np.float32)


def crop_intrinsics(A, K):
    """``crop_K = A @ K`` ``[3, 3]`` float32: projecting camera-frame xyz with it gives crop px."""
    return (np.asarray(A, dtype=np.float64) @ np.asarray(K, dtype=np.float64)).astype(np.float32)


def warp(image, A, out_size, nearest=False):
    """Crops ``image`` ``[H, W, ...]`` with ``A`` to ``[out_size, out_size, ...]``; outside the image is 0.

    Bilinear by default; ``nearest=True`` for depth and masks, so no value mixes across the hand border.
    """
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.warpAffine(image, A[:2].astype(np.float64), (out_size, out_size), flags=flags,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def hull_mask(uv, size, radius):
    """Rasterises the convex hull of keypoints ``uv`` ``[K, 2]`` (px of a ``size``² image), dilated by
    ``radius`` px (keypoints are joint centres; the hand's surface extends about a finger radius beyond).

    Returns ``[size, size]`` bool.
    """
    shift = 4  # sub-pixel vertices for OpenCV's fixed-point drawing
    pts = np.round(np.asarray(uv, dtype=np.float64) * (1 << shift)).astype(np.int32)
    hull = cv2.convexHull(pts.reshape(-1, 1, 2))
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, hull, 1, lineType=cv2.LINE_8, shift=shift)
    thickness = int(round(2 * radius)) + 1
    cv2.polylines(mask, [hull], True, 1, thickness=thickness, lineType=cv2.LINE_8, shift=shift)
    return mask.astype(bool)


def hand_region(uv, visible, size, dilation):
    """The hand region of a depth target without a mask: the convex hull of the visible 2D keypoints,
    dilated by ``dilation`` times their larger 2D extent (keypoints are joint centres; the hand's surface
    extends about a finger's radius beyond them, ~0.1 of the hand's extent). 2D only: no 3D label enters.

    Args:
      uv: ``[K, 2]`` px in the ``size``² target image.  visible: ``[K]`` bool (all if none is visible).
      size: D px.  dilation: fraction of the keypoints' larger extent.
    Returns:
      ``[size, size]`` bool.
    """
    uv = np.asarray(uv, dtype=np.float64)
    visible = np.asarray(visible, dtype=bool)
    pts = uv[visible] if visible.any() else uv
    extent = float(np.max(pts.max(axis=0) - pts.min(axis=0)))
    return hull_mask(pts, size, dilation * extent)


def keypoint_depths(depth, uv):
    """The median valid (> 0) depth in each keypoint's 3×3 px neighbourhood (pixels outside the image are
    not valid); NaN where a neighbourhood has none. Vectorised: one sort of ``[N, 9]`` values, not N medians.

    Args:
      depth: ``[H, W]`` (0 = no measurement).  uv: ``[N, 2]`` px (rounded to the nearest pixel).
    Returns:
      ``[N]`` floats, ``depth``'s dtype where it is a float one (the median of an even count is the mean of the middle two, as
      ``np.median``).
    """
    h, w = depth.shape
    px = np.round(np.asarray(uv, dtype=np.float64)).astype(np.int64).reshape(-1, 2)
    du, dv = np.meshgrid([-1, 0, 1], [-1, 0, 1])
    u, v = px[:, :1] + du.ravel(), px[:, 1:] + dv.ravel()  # [N, 9]
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    values = depth[np.clip(v, 0, h - 1), np.clip(u, 0, w - 1)]
    valid = inside & (values > 0)
    count = valid.sum(axis=1)
    ordered = np.sort(np.where(valid, values, np.inf), axis=1)  # valid values first, ascending
    rows = np.arange(len(px))
    low = ordered[rows, np.maximum(count - 1, 0) // 2]
    high = ordered[rows, np.minimum(count // 2, 8)]
    median = (low + high) / 2  # odd count: low == high
    return np.where(count > 0, median, np.nan)


def hand_depth_statistics(depth, hand, uv, visible, band_mm, min_range_mm=10.0):
    """``(d_max, d_range)`` mm of the hand in a measured depth image: paper Eq. 9's "max depth value and
    depth range of hand", from the depth image and the 2D keypoints only.

    The hand region (a mask or :func:`hand_region`) also holds background seen between the fingers and
    occluders, so the statistics are robust ones: the hand's depth level is the median of the measured
    depth at the visible keypoints (each the median valid depth of its 3×3 px neighbourhood; the
    keypoints lie on the hand, so the median ignores the few that land on a gap or an occluder), the hand's pixels are
    those of the region within ``band_mm`` of that level (a human hand spans < 200 mm in depth), and
    ``d_max`` / ``d_min`` are their 98th / 2nd percentiles (a few noisy pixels cannot stretch the range).

    Args:
      depth: ``[D, D]`` mm (0 = no measurement).  hand: ``[D, D]`` bool hand region.
      uv: ``[K, 2]`` px in the D² image.  visible: ``[K]`` bool.
      band_mm: half-width of the band around the keypoints' depth level.
      min_range_mm: smallest ``d_range`` (a hand seen flat-on has a tiny one).
    Returns:
      ``(d_max, d_range, pixels)``: mm, mm and the ``[D, D]`` bool hand pixels; ``(0, 0, all False)`` when
      no visible keypoint or no hand pixel has a measurement.
    """
    size = depth.shape[0]
    uv = np.asarray(uv, dtype=np.float64)
    visible = np.asarray(visible, dtype=bool)
    levels = keypoint_depths(depth, uv[visible])
    levels = levels[~np.isnan(levels)]
    none = (0.0, 0.0, np.zeros((size, size), bool))
    if not levels.size:
        return none
    level = float(np.median(levels))
    pixels = hand & (depth > 0) & (np.abs(depth - level) <= band_mm)
    if not pixels.any():
        return none
    d_min, d_max = np.percentile(depth[pixels], [2.0, 98.0])
    return float(d_max), float(max(d_max - d_min, min_range_mm)), pixels


def normalise_depth(depth, pixels, d_max, d_range):
    """The normalised depth image of the depth regularizer (paper Eq. 9), ``D_n = (d_max - d) / d_range``,
    on the hand's ``pixels``, clipped to ``[0, 1]``; 0 elsewhere (background, no measurement).

    Args:
      depth: ``[D, D]`` mm.  pixels: ``[D, D]`` bool.  d_max, d_range: mm (:func:`hand_depth_statistics`).
    Returns:
      ``[D, D]`` float32 in ``[0, 1]``.
    """
    if d_range <= 0:
        return np.zeros(depth.shape, np.float32)
    out = np.where(pixels, (d_max - depth.astype(np.float32)) / np.float32(d_range), 0.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def depth_target(depth, mask, A, uv, visible, size, dilation, band_mm):
    """The hand's depth cropped with ``A`` (nearest, so no value mixes across the hand border), normalised
    by Eq. 9 with the hand's own depth statistics.

    Weak labels only (DESIGN.md §1): the image's depth, the 2D keypoints with visibility and, where the
    dataset has one, the hand mask (RHD) — no 3D label, so the real domain's target cannot leak its 3D
    pose. Without a mask (STB) the hand region is :func:`hand_region`.

    Args:
      depth: ``[H, W]`` mm, registered to the image.  mask: ``[H, W]`` bool or None.
      A: ``[3, 3]`` image px → target px (a crop's affine followed by ``resize_affine(S, size)``).
      uv: ``[K, 2]`` px, image frame.  visible: ``[K]`` bool.  size: D px.
      dilation: see :func:`hand_region`.  band_mm: see :func:`hand_depth_statistics`.
    Returns:
      ``(target [size, size] float32 in [0, 1], found)``: ``found`` False when no hand depth was measured
      (no valid depth at any visible keypoint, or none in the band): the target is then all 0 and must not
      supervise.
    """
    crop = warp(depth.astype(np.float32), A, size, nearest=True)
    uv_d = apply_affine(A, uv)
    if mask is not None:
        hand = warp(mask.astype(np.uint8), A, size, nearest=True).astype(bool)
    else:
        hand = hand_region(uv_d, visible, size, dilation)
    d_max, d_range, pixels = hand_depth_statistics(crop, hand, uv_d, visible, band_mm)
    return normalise_depth(crop, pixels, d_max, d_range), d_range > 0
