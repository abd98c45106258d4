"""Kinematic hand: anatomy, random proportions, articulation within joint limits, forward kinematics.

Local hand frame (mm) of a **left** hand, right-handed: origin at the wrist, +x towards the little
finger (ulnar), +y along the fingers (wrist -> middle MCP), +z out of the palm (palmar). A right hand is
the mirror image (x -> -x; done by the scene, not here).

Joints come out as ``[21, 3]`` mm in RHD's per-hand order: 0 wrist; thumb tip, IP, MCP, CMC (1-4);
index, middle, ring, pinky tip, DIP, PIP, MCP (5-8, 9-12, 13-16, 17-20). Our palm keypoint (index 0 of
our order, DESIGN.md §2) is, by construction, exactly the midpoint of the wrist and the middle MCP: the
palm is rigid here, and the RHD loader builds the palm the same way, so both domains agree.

Proportions (adult, before the random scale; from anthropometric tables, rounded):
* wrist -> middle MCP 80 mm, so the reference bone palm -> middle MCP is 40 mm; with the random scale
  U(0.85, 1.15) and ±4 % palm jitter it spans about 33-48 mm.
* phalanges proximal/middle/distal (to the fingertip surface): index 39/23/20, middle 44/27/21,
  ring 41/26/21, pinky 32/19/19 mm; thumb metacarpal/proximal/distal 42/31/27 mm; each bone jittered
  ±4 % (σ) and each finger ±3 % (σ) on top of the scale.
Joint limits (degrees; flexion towards the palm positive): MCP -25..90, PIP 0..110, DIP -5..80,
abduction -20..20 (pinky -15..30); thumb CMC flexion -15..50 and opposition -10..50, MCP -10..60,
IP -20..80. DIP follows PIP (DIP ≈ 2/3 PIP, the tendon coupling) with noise.
"""

from __future__ import annotations

import dataclasses

import numpy as np

NUM_FINGERS = 5  # thumb, index, middle, ring, pinky (RHD order)

# Finger bases in the local frame (mm): thumb CMC, then the index..pinky MCP joints. The middle MCP
# lies on +y by definition of the frame; the others sit on a slightly palmar-curved knuckle arch.
_BASES = np.array([
    [-20.0, 16.0, 10.0],   # thumb CMC: radial, near the wrist, palmar
    [-21.0, 77.0, 2.0],    # index MCP
    [0.0, 80.0, 0.0],      # middle MCP
    [19.0, 75.0, 2.0],     # ring MCP
    [36.0, 67.0, 6.0],     # pinky MCP
])
_LENGTHS = np.array([      # per finger, proximal -> distal bone (mm)
    [42.0, 31.0, 27.0],
    [39.0, 23.0, 20.0],
    [44.0, 27.0, 21.0],
    [41.0, 26.0, 21.0],
    [32.0, 19.0, 19.0],
])
_RADII = np.array([        # per finger, proximal -> distal segment radius (mm)
    [12.0, 10.0, 9.0],
    [9.0, 8.2, 7.4],
    [9.3, 8.5, 7.6],
    [8.8, 8.0, 7.3],
    [7.8, 7.1, 6.6],
])
_SPLAY_DEG = np.array([0.0, -8.0, 0.0, 8.0, 16.0])  # rest direction of each finger, +y towards +x
_THUMB_REST = np.array([-0.68, 0.68, 0.25])          # rest direction of the thumb metacarpal
_THUMB_CURL = np.array([1.0, -0.1, 0.9])             # where the flexing thumb goes (across the palm)
_THUMB_OPPOSE = np.array([0.0, -0.3, 1.0])            # where opposition swings the thumb (palmar)
_PALM_SEMI_AXES = np.array([36.0, 44.0, 13.0])        # palm ellipsoid (x, y, z), centred at y = 40
_WRIST_RADIUS = 20.0

FLEXION_LIMITS = np.array([  # [5, 3, 2] degrees, per finger joint proximal -> distal (thumb: CMC, MCP, IP)
    [[-15.0, 50.0], [-10.0, 60.0], [-20.0, 80.0]],
    [[-25.0, 90.0], [0.0, 110.0], [-5.0, 80.0]],
    [[-25.0, 90.0], [0.0, 110.0], [-5.0, 80.0]],
    [[-25.0, 90.0], [0.0, 110.0], [-5.0, 80.0]],
    [[-25.0, 90.0], [0.0, 110.0], [-5.0, 80.0]],
])
ABDUCTION_LIMITS = np.array([[-10.0, 50.0], [-20.0, 20.0], [-20.0, 20.0], [-20.0, 20.0], [-15.0, 30.0]])


@dataclasses.dataclass(frozen=True)
class HandShape:
    """Per-hand proportions (mm, local frame).

    Attributes:
      bases: ``[5, 3]`` thumb CMC and index..pinky MCP positions.
      lengths: ``[5, 3]`` bone lengths per finger, proximal -> distal.
      radii: ``[5, 3]`` segment radii per finger, proximal -> distal.
      palm_semi_axes: ``[3]`` semi-axes of the palm ellipsoid.
      wrist_radius: radius of the wrist sphere.
    """

    bases: np.ndarray
    lengths: np.ndarray
    radii: np.ndarray
    palm_semi_axes: np.ndarray
    wrist_radius: float


@dataclasses.dataclass(frozen=True)
class Articulation:
    """Joint angles in degrees.

    Attributes:
      flexion: ``[5, 3]`` per finger joint proximal -> distal (thumb: CMC, MCP, IP); towards the palm > 0.
      abduction: ``[5]`` sideways angle of each finger's base joint (towards the little finger > 0);
        for the thumb, the CMC opposition (towards the palm > 0).
    """

    flexion: np.ndarray
    abduction: np.ndarray


def sample_shape(rng: np.random.Generator, scale_range=(0.85, 1.15)) -> HandShape:
    """Draws a hand's proportions: a global scale, palm and finger jitter (module docstring)."""
    scale = rng.uniform(*scale_range)
    palm = 1.0 + np.clip(rng.normal(0.0, 0.04, size=3), -0.1, 0.1)  # width, length, thickness
    bases = _BASES * scale * palm
    finger = 1.0 + np.clip(rng.normal(0.0, 0.03, size=(NUM_FINGERS, 1)), -0.08, 0.08)
    bone = 1.0 + np.clip(rng.normal(0.0, 0.04, size=(NUM_FINGERS, 3)), -0.1, 0.1)
    thickness = scale * (1.0 + np.clip(rng.normal(0.0, 0.06), -0.15, 0.15))
    return HandShape(
        bases=bases,
        lengths=_LENGTHS * scale * finger * bone,
        radii=_RADII * thickness,
        palm_semi_axes=_PALM_SEMI_AXES * scale * palm * np.array([1.0, 1.0, thickness / scale]),
        wrist_radius=_WRIST_RADIUS * thickness,
    )


def _sample_curl(rng: np.random.Generator) -> np.ndarray:
    """Per-finger curl in [0, 1]: a mixture of free poses, counting gestures and open hands."""
    mode = rng.choice(3, p=[0.5, 0.3, 0.2])
    if mode == 0:  # free: fingers correlated around a common curl
        curl = rng.uniform() + rng.normal(0.0, 0.3, size=NUM_FINGERS)
    elif mode == 1:  # counting: each finger extended or folded
        curl = np.where(rng.uniform(size=NUM_FINGERS) < 0.5, 0.05, 0.95) + rng.normal(0, 0.06, NUM_FINGERS)
    else:  # open, relaxed
        curl = rng.uniform(0.0, 0.3, size=NUM_FINGERS)
    return np.clip(curl, 0.0, 1.0)


def sample_articulation(rng: np.random.Generator) -> Articulation:
    """Draws joint angles within the anatomical limits (module docstring)."""
    curl = _sample_curl(rng)
    noise = rng.normal(0.0, 8.0, size=(NUM_FINGERS, 3))
    flexion = np.empty((NUM_FINGERS, 3))
    flexion[1:, 0] = curl[1:] * 85.0 + noise[1:, 0]
    flexion[1:, 1] = curl[1:] * 100.0 + noise[1:, 1]
    flexion[1:, 2] = 0.67 * flexion[1:, 1] + 0.75 * noise[1:, 2]
    flexion[0] = curl[0] * np.array([35.0, 50.0, 60.0]) + noise[0]
    abduction = rng.normal(0.0, 8.0, size=NUM_FINGERS) * (1.0 - 0.7 * curl)
    abduction[0] = 5.0 + 30.0 * curl[0] + rng.normal(0.0, 8.0)
    return Articulation(
        flexion=np.clip(flexion, FLEXION_LIMITS[..., 0], FLEXION_LIMITS[..., 1]),
        abduction=np.clip(abduction, ABDUCTION_LIMITS[:, 0], ABDUCTION_LIMITS[:, 1]),
    )


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _orthogonal(v: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Unit part of ``v`` ``[..., 3]`` orthogonal to the unit ``forward`` ``[..., 3]``."""
    return _unit(v - forward * np.sum(v * forward, axis=-1, keepdims=True))


def _rest_frames():
    """``[5, 3]`` each: rest direction, curl direction (flexion turns forward towards it) and the
    direction the base joint's sideways angle turns forward towards (thumb: towards the palm)."""
    splay = np.deg2rad(_SPLAY_DEG)
    forward = np.stack([np.sin(splay), np.cos(splay), np.zeros(NUM_FINGERS)], axis=-1)
    curl = np.tile([0.0, 0.0, 1.0], (NUM_FINGERS, 1))
    forward[0] = _unit(_THUMB_REST)
    curl[0] = _orthogonal(_THUMB_CURL, forward[0])
    side = np.cross(forward, curl)  # towards the little finger
    side[0] = _orthogonal(_THUMB_OPPOSE, forward[0])
    return forward, curl, side


_FORWARD, _CURL, _SIDE = _rest_frames()


def _turn(forward: np.ndarray, towards: np.ndarray, degrees: np.ndarray):
    """Rotates orthonormal pairs (forward, towards) ``[5, 3]`` by ``degrees`` ``[5]`` in their planes."""
    a = np.deg2rad(degrees)[:, None]
    c, s = np.cos(a), np.sin(a)
    return c * forward + s * towards, c * towards - s * forward


def finger_chains(shape: HandShape, pose: Articulation) -> np.ndarray:
    """Positions ``[5, 4, 3]`` mm (local frame): each finger's base, two middle joints and tip."""
    forward, _ = _turn(_FORWARD, _SIDE, pose.abduction)
    curl = _orthogonal(_CURL, forward)  # a no-op except for the thumb's opposition
    points = [shape.bases]
    for joint in range(3):
        forward, curl = _turn(forward, curl, pose.flexion[:, joint])
        points.append(points[-1] + shape.lengths[:, joint, None] * forward)
    return np.stack(points, axis=1)


def forward_kinematics(shape: HandShape, pose: Articulation) -> np.ndarray:
    """Joint positions ``[21, 3]`` mm in the local frame, RHD per-hand order (wrist at 0)."""
    joints = np.zeros((21, 3))
    joints[1:] = finger_chains(shape, pose)[:, ::-1].reshape(20, 3)  # RHD: tip -> base per finger
    return joints


def joint_radii(shape: HandShape) -> np.ndarray:
    """``[5, 4]`` mm: sphere radii at each finger's base, two middle joints and tip (base -> tip).

    Each sphere is as wide as the bone before it (the base one slightly wider, a knuckle), so the
    spheres close the bones' open cylinder ends.
    """
    r = shape.radii
    return np.stack([1.05 * r[:, 0], r[:, 0], r[:, 1], r[:, 2]], axis=-1)


def keypoint_radii(shape: HandShape) -> np.ndarray:
    """Radius ``[21]`` mm of the body around each keypoint, RHD per-hand order (for visibility)."""
    return np.concatenate([[shape.wrist_radius], joint_radii(shape)[:, ::-1].reshape(20)])
