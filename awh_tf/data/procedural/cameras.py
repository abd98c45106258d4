"""The cameras of the two domains: RHD's per-sample pinhole and STB's SK colour/depth pair.

STB's SK cameras are the published calibration (DESIGN.md §3), shared with the STB loader
(`awh_tf.data.stb`); depth-camera coordinates are ``X_depth = R · X_colour + t`` (mm).
"""

from __future__ import annotations

import numpy as np

from awh_tf.data import stb

RHD_SIZE = 320  # RHD images are 320×320
RHD_FOCAL_RANGE = (250.0, 350.0)  # px; RHD's K varies per sample, principal point at the centre

STB_HEIGHT, STB_WIDTH = stb.IMAGE_HW
SK_COLOR_K = stb.SK_COLOR_K
SK_DEPTH_K = stb.SK_DEPTH_K
SK_R = stb.SK_R
SK_T = stb.SK_T_MM


def sample_rhd_K(rng: np.random.Generator) -> np.ndarray:
    """A per-sample RHD intrinsic matrix ``[3, 3]``: square pixels, focal in RHD_FOCAL_RANGE, centre 160."""
    f = rng.uniform(*RHD_FOCAL_RANGE)
    c = RHD_SIZE / 2.0
    return np.array([[f, 0.0, c], [0.0, f, c], [0.0, 0.0, 1.0]])


def colour_to_depth(xyz: np.ndarray) -> np.ndarray:
    """``[..., 3]`` mm from the SK colour camera frame to the SK depth camera frame."""
    return xyz @ SK_R.T + SK_T


def depth_to_colour(xyz: np.ndarray) -> np.ndarray:
    """``[..., 3]`` mm from the SK depth camera frame to the SK colour camera frame: ``Rᵀ (X - t)``."""
    return (xyz - SK_T) @ SK_R



def scaled_K(K: np.ndarray, factor: float) -> np.ndarray:
    """Intrinsics ``[3, 3]`` of the same camera with its image resized by ``factor``.

    Pixel centres sit at integer coordinates, so pixel u of the original is ``(u + 0.5)·factor - 0.5``.
    """
    K = np.array(K, dtype=np.float64)
    K[:2] *= factor
    K[:2, 2] += 0.5 * factor - 0.5
    return K
