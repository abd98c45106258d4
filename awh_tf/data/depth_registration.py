"""Depth registration: a depth camera's map as the colour camera sees it, z-buffered (STB's SK pair).

Legend: H, W image height and width in px; pixel centres at integer coordinates (u right, v down).
Depth maps are float32 [H, W] in mm, 0 = no measurement.
"""

from __future__ import annotations

import numpy as np


class DepthRegistration:
    """Registers depth maps from a depth camera into a colour camera's image, z-buffered.

    Each valid pixel (u, v) with depth Z > 0 is back-projected with K_depth to X_d (mm, depth camera
    frame), moved to the colour camera frame by X_c = R^T (X_d - t), and projected with K_color. Where
    several land on one colour pixel the nearest (smallest Z_c) wins. The value written is Z_c, the
    depth as the colour camera sees it.

    With ``footprint=True`` each depth pixel fills every colour pixel whose centre lies inside the
    projection of its 1x1 px square, and at least the pixel nearest its projected centre (the idea of
    librealsense's align). A depth camera with a shorter focal length than the colour camera (STB: 475
    vs 608 px) otherwise leaves a one-pixel gap every few rows and columns, about 40 % of the pixels.
    The square's projection is taken to first order — centred on the exact projection, half-size
    0.5 * (f_color / f_depth) * (Z_d / Z_c) px — which ignores the rotation's skew of the square
    (< 0.02 px for STB's 0.8 degree). With ``footprint=False`` only the nearest pixel is written.

    Region of interest: ``reg(depth, box)`` returns exactly ``reg(depth)`` inside a colour-image box
    and 0 outside it, at the cost of the depth pixels that can reach the box only. A depth pixel's
    colour position depends on its depth (parallax along the baseline), so the pixels searched are
    those with Z_d >= ``near_mm`` inside the depth-image region the (footprint-grown) box sees over
    every depth in [near_mm, inf) — each colour pixel's epipolar segment — and every pixel nearer than
    ``near_mm`` wherever it is (an occluder close to the camera can move by any amount). ``near_mm``
    only trades work for generality; the result is exact for every value.

    The per-pixel rays are computed once here, so a call costs a few passes over the valid pixels.

    Args:
      K_depth, K_color: [3, 3] intrinsics of the depth and colour cameras (px).
      R, t: [3, 3] and [3] mm, extrinsics with X_depth = R X_colour + t.
      depth_hw, color_hw: (H, W) of the depth and colour images.
      footprint: see above.
    """

    def __init__(self, K_depth, K_color, R, t, depth_hw, color_hw, footprint=True):
        K_depth, K_color, R, t = (np.asarray(a, np.float64) for a in (K_depth, K_color, R, t))
        self.depth_hw, self.color_hw, self.footprint = tuple(depth_hw), tuple(color_hw), footprint
        # Z_c [u_c, v_c, 1] = Z_d M [u, v, 1] - c with M = K_c R^T K_d^-1, c = K_c R^T t: one ray per
        # pixel and one offset.
        self._M, self._c = K_color @ R.T @ np.linalg.inv(K_depth), K_color @ R.T @ t
        self._offset = self._c.astype(np.float32)
        # Python floats: a numpy float64 scalar would turn the float32 footprint maths into float64.
        self._half_size = (float(0.5 * K_color[0, 0] / K_depth[0, 0]),
                           float(0.5 * K_color[1, 1] / K_depth[1, 1]))
        height, width = self.depth_hw
        u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
        rays = self._M @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)])  # [3, Hd*Wd]
        # Three contiguous float32 [Hd, Wd] arrays: gathering from them is ~4x faster than from one
        # [3, n]; float32 keeps positions to ~1e-4 px and depths to ~1e-4 mm.
        self._rays = tuple(np.ascontiguousarray(row.reshape(height, width), dtype=np.float32)
                           for row in rays)

    def __call__(self, depth: np.ndarray, box=None, near_mm: float | None = None) -> np.ndarray:
        """Registers one depth map.

        Args:
          depth: [Hd, Wd] mm in the depth image (0 = none).
          box: None for the whole colour image, or ``(u0, v0, u1, v1)`` colour px: columns u0..u1-1
            and rows v0..v1-1 (clipped to the image) are registered, the rest of the output is 0.
          near_mm: with a box, depth pixels nearer than this (mm, depth frame) are looked for in the
            whole image (see the class docstring); None = the smallest depth in the image.
        Returns:
          float32 [H, W] mm in the colour image, 0 = no measurement.
        """
        if tuple(depth.shape) != self.depth_hw:
            raise ValueError(f"depth shape {depth.shape} != {self.depth_hw}")
        height, width = self.color_hw
        if box is None:
            valid = depth > 0
            return self._register(depth[valid], [ray[valid] for ray in self._rays],
                                  (0, 0, width, height))
        u0, v0 = max(int(box[0]), 0), max(int(box[1]), 0)
        u1, v1 = min(int(box[2]), width), min(int(box[3]), height)
        out = np.zeros(self.color_hw, np.float32)
        if u0 >= u1 or v0 >= v1:
            return out
        if near_mm is None:
            near_mm = float(np.min(depth, where=depth > 0, initial=np.inf))
        if not near_mm > 0:
            raise ValueError(f"near_mm must be > 0, got {near_mm}")
        a0, b0, a1, b1 = self._depth_region((u0, v0, u1, v1), near_mm)
        window = depth[b0:b1, a0:a1]
        far = window >= near_mm  # the nearer pixels are gathered from the whole image below
        z = [window[far]]
        rays = [[ray[b0:b1, a0:a1][far]] for ray in self._rays]
        near = (depth > 0) & (depth < near_mm)
        if near.any():
            z.append(depth[near])
            for parts, ray in zip(rays, self._rays):
                parts.append(ray[near])
        out[v0:v1, u0:u1] = self._register(np.concatenate(z), [np.concatenate(r) for r in rays],
                                           (u0, v0, u1, v1))
        return out

    def _register(self, z, rays, box):
        """Depths z [M] > 0 mm of depth pixels with rays (3 x [M]) -> float32 [v1-v0, u1-u0] of box."""
        z = z.astype(np.float32)
        x, y, zc = (ray * z - offset for ray, offset in zip(rays, self._offset))
        front = zc > 0  # a point behind the colour camera has no image
        if not front.all():
            x, y, z, zc = x[front], y[front], z[front], zc[front]
        uc, vc = x / zc, y / zc
        if self.footprint:
            scale = z / zc
            u_first, n_u = _centres_inside(uc, self._half_size[0] * scale)
            v_first, n_v = _centres_inside(vc, self._half_size[1] * scale)
        else:
            u_first, v_first = np.rint(uc), np.rint(vc)
            n_u = n_v = np.ones(len(zc), np.int32)
        u0, v0, u1, v1 = box
        return _zbuffer(u_first - u0, n_u, v_first - v0, n_v, zc, (v1 - v0, u1 - u0))

    def _depth_region(self, box, near_mm):
        """Depth-image pixels (a0, b0, a1, b1), half-open, that reach the colour box at Z_d >= near_mm.

        For a fixed Z_d = 1/w, depth pixels map to colour pixels by the homography M - w c e3^T, so a
        colour pixel p is seen from the depth pixels on the segment between (M - w c e3^T)^-1 p at w = 0
        and at w = 1/near_mm (a line through the epipole). The region is the bounding box of those
        segments' ends for the corners of the box grown by the footprint's reach; the whole image when
        the construction does not hold (a point at or behind a camera).
        """
        height, width = self.depth_hw
        whole = (0, 0, width, height)
        # Reach of a footprint: half-size * Z_d / Z_c, with Z_c = Z_d m3 - c3 and m3 = (M [u, v, 1])_3
        # linear in (u, v), so smallest at a corner of the depth image.
        corners = np.array([[0, 0, 1], [width - 1, 0, 1], [0, height - 1, 1],
                            [width - 1, height - 1, 1]], np.float64)
        denom = np.min(corners @ self._M[2]) - max(self._c[2], 0.0) / near_mm
        if denom <= 0:
            return whole
        reach = max(self._half_size) / denom + 1.0  # +1: the nearest-pixel rule (0.5 px) and rounding
        u0, v0, u1, v1 = box
        lo_u, lo_v, hi_u, hi_v = u0 - reach, v0 - reach, u1 - 1 + reach, v1 - 1 + reach
        p = np.array([[lo_u, lo_v, 1], [hi_u, lo_v, 1], [lo_u, hi_v, 1], [hi_u, hi_v, 1]])
        at_near = self._M - np.outer(self._c, [0.0, 0.0, 1.0]) / near_mm
        q = np.concatenate([p @ np.linalg.inv(self._M).T, p @ np.linalg.inv(at_near).T])  # [8, 3]
        # Positive third coordinates at both ends keep every segment finite and in front.
        if not np.all(q[:, 2] > 0):
            return whole
        uv = q[:, :2] / q[:, 2:]
        lo = np.clip(np.floor(uv.min(axis=0)) - 1, 0, [width, height]).astype(int)
        hi = np.clip(np.ceil(uv.max(axis=0)) + 2, 0, [width, height]).astype(int)
        return int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1])


def _zbuffer(u_first, n_u, v_first, n_v, z, hw):
    """Nearest depth per pixel of points that each cover a block of pixels.

    Args:
      u_first, v_first: [M] integer-valued px of each point's first column and row (any range).
      n_u, n_v: [M] int >= 1, the numbers of columns and rows each point covers.
      z: [M] float32 mm.  hw: (H, W) of the output.
    Returns:
      float32 [H, W], the smallest z per pixel, 0 where none.
    """
    height, width = hw
    cu, cv = int(n_u.max(initial=1)), int(n_v.max(initial=1))
    pad = max(cu, cv)
    # A border of `pad` px: clamping a first column/row to [-pad, size] leaves every block of a point
    # off the image in the border and moves no block of a point on it, so no bounds check is needed.
    cols = np.clip(u_first, -pad, width).astype(np.int32) + pad
    rows = np.clip(v_first, -pad, height).astype(np.int32) + pad
    stride = width + 2 * pad
    first = rows * stride + cols
    zbuffer = np.full((height + 2 * pad) * stride, np.inf, dtype=np.float32)
    np.minimum.at(zbuffer, first, z)  # ufunc.at: the nearest wins whatever the order
    for dv in range(cv):
        for du in range(cu):
            if du or dv:
                sel = (n_u > du) & (n_v > dv)
                np.minimum.at(zbuffer, first[sel] + (dv * stride + du), z[sel])
    out = zbuffer.reshape(height + 2 * pad, stride)[pad:pad + height, pad:pad + width]
    return np.where(np.isinf(out), np.float32(0.0), out)


def _centres_inside(centre: np.ndarray, half: np.ndarray):
    """Integer pixel centres c with centre - half <= c < centre + half, at least round(centre).

    Returns (first [M], count [M]) as float32 and int arrays.
    """
    first = np.ceil(centre - half)
    count = (np.ceil(centre + half) - first).astype(np.int32)
    empty = count < 1  # only where half < 0.5
    if empty.any():
        first[empty] = np.rint(centre[empty])
        count[empty] = 1
    return first, count
