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


def normalise_depth(depth, hand, root_depth, scale, window):
    """The normalised depth image of DESIGN.md §1's depth regularizer, ``D_n = (d_max - d) / d_range``.

    The window is centred on the root: ``d_max = Z_root + window·scale``, ``d_range = 2·window·scale``, so
    ``D_n`` is 0.5 at the root's depth and depends only on the scale-free pose (the quantity the regularizer
    predicts from ``z_rel``). Pixels off the hand, without a measurement, or outside the window (occluders in
    front, background behind) are 0; the rest is clipped to ``[0, 1]``.

    Args:
      depth: ``[D, D]`` mm (0 = none).  hand: ``[D, D]`` bool hand region.
      root_depth: Z_root mm.  scale: reference bone length mm.  window: half-width in bone lengths.
    Returns:
      ``[D, D]`` float32 in ``[0, 1]``.
    """
    d_max = root_depth + window * scale
    d_range = 2.0 * window * scale
    depth = depth.astype(np.float32)
    valid = hand & (depth > 0) & (depth <= d_max) & (depth >= d_max - d_range)
    out = np.where(valid, (d_max - depth) / d_range, 0.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def depth_target(depth, mask, A, K, xyz, size, root_depth, scale, window, hull_dilation):
    """The hand's depth cropped with ``A`` (nearest, so no value mixes across the hand border), normalised.

    The hand region is the loader's mask when there is one (RHD); without one (STB) it is the convex hull
    of the 21 keypoints dilated by ``hull_dilation`` reference-bone lengths (converted to px at the root's
    depth), which together with the depth window excludes the background and the arm beyond the wrist.

    Args:
      depth: ``[H, W]`` mm, registered to the image.  mask: ``[H, W]`` bool or None.
      A: ``[3, 3]`` image px → target px (a crop's affine followed by ``resize_affine(S, size)``).
      K: ``[3, 3]`` the image's intrinsics.  xyz: ``[K, 3]`` mm, camera frame.  size: D px.
      root_depth, scale: mm (from ``geometry.xyz_to_25d``).  window: see :func:`normalise_depth`.
      hull_dilation: bone lengths.
    Returns:
      ``[size, size]`` float32 in ``[0, 1]``.
    """
    crop = warp(depth.astype(np.float32), A, size, nearest=True)
    if mask is not None:
        hand = warp(mask.astype(np.uint8), A, size, nearest=True).astype(bool)
    else:
        K_d = np.asarray(A, dtype=np.float64) @ np.asarray(K, dtype=np.float64)
        root = np.asarray(xyz[0], dtype=np.float64)
        step = _project(K_d, np.stack([root, root + [hull_dilation * scale, 0.0, 0.0]]))
        hand = hull_mask(_project(K_d, xyz), size, float(np.linalg.norm(step[1] - step[0])))
    return normalise_depth(crop, hand, root_depth, scale, window)


def _project(K, xyz):
    p = np.asarray(xyz, dtype=np.float64) @ np.asarray(K, dtype=np.float64).T  # [K, 3] homogeneous px
    return p[:, :2] / p[:, 2:3]
