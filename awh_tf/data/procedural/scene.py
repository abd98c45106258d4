"""A hand instance in a camera: shape, articulation, global orientation, placement and its primitives.

Both domains draw hands from this one module, so they share the hand-structure distribution (shape,
articulation, orientation) and differ only in camera, distance and appearance (``domains.py``).

Orientation: the canonical pose shows a left hand's palm to the camera with the fingers up
(local +x -> camera +X, +y -> -Y, +z -> -Z). On top of it: a turn about the camera's vertical axis
(the finger axis in the canonical pose) of U(-110°, 110°) — palm facing the camera to side views — or,
with probability 0.15, U(110°, 250°) (back of the hand); a tilt towards/away from the camera of
U(-40°, 40°); an in-plane roll of U(-70°, 70°). A right hand is the mirror image (local x -> -x).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from awh_tf.data.procedural import hand_model, primitives

_CANONICAL = np.diag([1.0, -1.0, -1.0])
_MIRROR_X = np.diag([-1.0, 1.0, 1.0])
BACK_VIEW_PROBABILITY = 0.15


def _rot(axis: int, degrees: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    i, j = [k for k in range(3) if k != axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def sample_orientation(rng: np.random.Generator) -> np.ndarray:
    """Rotation ``[3, 3]`` from a left hand's local frame to the camera frame (module docstring)."""
    if rng.uniform() < BACK_VIEW_PROBABILITY:
        yaw = rng.uniform(110.0, 250.0)
    else:
        yaw = rng.uniform(-110.0, 110.0)
    tilt = rng.uniform(-40.0, 40.0)
    roll = rng.uniform(-70.0, 70.0)
    return _rot(2, roll) @ _rot(0, tilt) @ _rot(1, yaw) @ _CANONICAL


@dataclasses.dataclass(frozen=True)
class Hand:
    """A posed hand before placement (local frame, mm) and its orientation in the camera.

    Attributes:
      side: "left" or "right".
      shape: proportions.   joints: ``[21, 3]`` local frame, RHD per-hand order (wrist at 0).
      rotation: ``[3, 3]`` local -> camera, including the mirror of a right hand.
      body: hand and forearm primitives in the local frame (the forearm leaves the wrist away from the
        fingers, bent by up to ~15°).
    """

    side: str
    shape: hand_model.HandShape
    joints: np.ndarray
    rotation: np.ndarray
    body: primitives.Primitives

    @property
    def label_range(self):
        """Inclusive range of this hand's part labels in the mask."""
        base = primitives.LEFT_BASE if self.side == "left" else primitives.RIGHT_BASE
        return base, base + primitives.PALM_PART

    @property
    def palm(self) -> np.ndarray:
        """``[3]`` local: the palm keypoint, midpoint of wrist and middle MCP (hand_model docstring)."""
        return 0.5 * (self.joints[0] + self.joints[12])

    def extent_mm(self) -> float:
        """Larger side (mm) of the image-plane box around the oriented keypoints plus the finger width."""
        xy = (self.joints @ self.rotation.T)[:, :2]
        return float(np.max(xy.max(axis=0) - xy.min(axis=0)) + 2.0 * self.shape.radii[2, 0])

    def translation(self, K: np.ndarray, root_px, root_depth: float) -> np.ndarray:
        """``[3]`` mm that puts the palm keypoint at pixel ``root_px`` and depth ``root_depth`` mm."""
        ray = np.linalg.solve(K, np.array([root_px[0], root_px[1], 1.0]))
        return root_depth * ray / ray[2] - self.rotation @ self.palm


def sample_hand(rng: np.random.Generator, side: str, shape: hand_model.HandShape | None = None,
                skin=(1.0, 1.0, 1.0), sleeve=None) -> Hand:
    """Draws a hand: shape (unless given: a person's two hands share it), articulation, orientation.

    Args:
      rng: the sample's generator.   side: "left" or "right".
      skin: ``[3]`` albedo of the hand (linear RGB in [0, 1]).
      sleeve: ``[3]`` albedo of the forearm, or None for bare skin.
    """
    if side not in ("left", "right"):
        raise ValueError(f"side: expected 'left' or 'right', got {side!r}")
    shape = shape if shape is not None else hand_model.sample_shape(rng)
    joints = hand_model.forward_kinematics(shape, hand_model.sample_articulation(rng))
    rotation = sample_orientation(rng)
    if side == "right":
        rotation = rotation @ _MIRROR_X
    base = primitives.LEFT_BASE if side == "left" else primitives.RIGHT_BASE
    length = rng.uniform(200.0, 300.0)
    direction = np.array([0.0, -1.0, 0.0]) + rng.normal(0.0, 0.25, size=3) * np.array([1.0, 0.0, 1.0])
    arm = primitives.Forearm(radius=0.9 * shape.wrist_radius, length=length,
                             direction=direction / np.linalg.norm(direction),
                             albedo=np.asarray(skin if sleeve is None else sleeve, dtype=np.float64))
    body = primitives.hand_primitives(shape, joints, base, np.asarray(skin, dtype=np.float64), arm)
    return Hand(side, shape, joints, rotation, body)


def posed(hand: Hand, translation: np.ndarray):
    """The hand in the camera: ``(joints [21, 3] mm camera frame, radii [21] mm, primitives)``."""
    joints = hand.joints @ hand.rotation.T + translation
    return joints, hand_model.keypoint_radii(hand.shape), hand.body.transformed(hand.rotation, translation)
