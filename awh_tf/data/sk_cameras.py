"""STB's SK camera pair (the published calibration, DESIGN.md §3): the colour camera whose frame the labels
and the network use, and the depth camera whose maps are registered into it.

One module for the STB loader (``awh_tf.data.stb``) and the procedural generator's STB layout
(``awh_tf.data.procedural``), so the data we write and the data we read use the same cameras. Units: mm and
px; depth-camera coordinates are ``X_depth = SK_R · X_colour + SK_T_MM``.
"""

from __future__ import annotations

import cv2
import numpy as np

IMAGE_HW = (480, 640)  # colour and depth images, (H, W) px
SK_COLOR_K = np.array([[607.92271, 0.0, 314.78337],
                       [0.0, 607.88192, 236.42484],
                       [0.0, 0.0, 1.0]])
SK_DEPTH_K = np.array([[475.62768, 0.0, 336.41179],
                       [0.0, 474.77709, 238.77962],
                       [0.0, 0.0, 1.0]])
# Extrinsics with X_depth = SK_R @ X_colour + SK_T_MM (mm).
SK_ROTVEC = np.array([0.00531, -0.01196, 0.00301])
SK_R = cv2.Rodrigues(SK_ROTVEC)[0]
SK_T_MM = np.array([-24.0381, -0.4563, -1.2326])


def depth_to_color_frame(xyz_depth: np.ndarray) -> np.ndarray:
    """Points [..., 3] mm in the SK depth camera frame -> colour camera frame: X_c = R^T (X_d - t)."""
    return (np.asarray(xyz_depth, np.float64) - SK_T_MM) @ SK_R  # row-vector form of R^T (X - t)


def color_to_depth_frame(xyz_color: np.ndarray) -> np.ndarray:
    """Points [..., 3] mm in the SK colour camera frame -> depth camera frame: X_d = R X_c + t."""
    return np.asarray(xyz_color, np.float64) @ SK_R.T + SK_T_MM
