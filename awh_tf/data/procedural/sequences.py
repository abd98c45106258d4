"""Short videos from one procedural frame, for tracking and smoothing: known motion, fresh noise per frame.

The generator renders independent frames, not sequences; a test of tracking and temporal smoothing needs
consecutive frames whose true keypoints are known. So frame t is one real-domain frame moved by a known
similarity (``static``: none; ``slow``: a drift of ``drift_px`` px per frame to the right and half of it
down, and ``turn_deg`` degrees per frame about the hand's centre), with new sensor noise (Gaussian, ``noise``
grey levels) each frame — what makes a network's output jitter on a still hand. The true keypoints move
with the same map (``uv[t] = A_t · uv``).

Legend: T frames, H, W the frame's size; uv ``[21, 2]`` image px.
"""

import cv2
import numpy as np

MOTIONS = ("static", "slow")


def moving_frames(image, uv, frames=60, motion="slow", drift_px=1.0, turn_deg=0.2, noise=4.0, seed=0):
    """``(video [T, H, W, 3] uint8 RGB, uv [T, 21, 2] px)`` (module docstring)."""
    if motion not in MOTIONS:
        raise ValueError(f"motion: expected one of {MOTIONS}, got {motion!r}")
    rng = np.random.default_rng(seed)
    uv = np.asarray(uv, np.float64)
    centre = (uv.min(axis=0) + uv.max(axis=0)) / 2.0
    h, w = image.shape[:2]
    video, truth = [], []
    for t in range(frames):
        step = t if motion == "slow" else 0
        A = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), turn_deg * step, 1.0)
        A[:, 2] += (drift_px * step, 0.5 * drift_px * step)
        moved = cv2.warpAffine(image, A, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        noisy = moved.astype(np.float32) + rng.normal(0.0, noise, moved.shape).astype(np.float32)
        video.append(np.clip(np.round(noisy), 0, 255).astype(np.uint8))
        truth.append(uv @ A[:, :2].T + A[:, 2])
    return np.stack(video), np.stack(truth)
