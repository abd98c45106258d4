"""The generator's cameras: RHD's per-sample pinhole; STB's SK colour/depth pair is ``awh_tf.data.sk_cameras``
(the published calibration, DESIGN.md §3), the module the STB loader reads with."""

from __future__ import annotations

import numpy as np

RHD_SIZE = 320  # RHD images are 320×320
RHD_FOCAL_RANGE = (250.0, 350.0)  # px; RHD's K varies per sample, principal point at the centre


def sample_rhd_K(rng: np.random.Generator) -> np.ndarray:
    """A per-sample RHD intrinsic matrix ``[3, 3]``: square pixels, focal in RHD_FOCAL_RANGE, centre 160."""
    f = rng.uniform(*RHD_FOCAL_RANGE)
    c = RHD_SIZE / 2.0
    return np.array([[f, 0.0, c], [0.0, f, c], [0.0, 0.0, 1.0]])


def scaled_K(K: np.ndarray, factor: float) -> np.ndarray:
    """Intrinsics ``[3, 3]`` of the same camera with its image resized by ``factor``.

    Pixel centres sit at integer coordinates, so pixel u of the original is ``(u + 0.5)·factor - 0.5``.
    """
    K = np.array(K, dtype=np.float64)
    K[:2] *= factor
    K[:2, 2] += 0.5 * factor - 0.5
    return K
