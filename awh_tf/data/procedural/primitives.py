"""Quadric primitives (ellipsoids, spheres, finite cylinders) and the hand built from them.

A primitive is the set ``(p - c)ᵀ M (p - c) <= 1`` (mm, any frame), cut to ``|u·(p - c)| <= L/2`` along
its axis ``u`` for a cylinder (``L = inf`` for an ellipsoid). Cylinders have open ends: every bone is a
cylinder between two joint spheres, so the joints close them (a capsule chain). Such sets stay exact
under any linear map, so moving a hand into a camera (rotation, mirror, translation) is exact.

Labels follow RHD's part mask (DESIGN.md §3): 0 background, 1 person (forearm, body), a hand's parts
``base + 3·finger + segment`` (finger 0 thumb .. 4 pinky; segment 0 distal, 1 middle, 2 proximal) and
``base + 15`` the palm, with ``base`` 2 for the left hand and 18 for the right.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from awh_tf.data.procedural import hand_model

PERSON_LABEL = 1
LEFT_BASE, RIGHT_BASE = 2, 18
PALM_PART = 15


@dataclasses.dataclass(frozen=True)
class Primitives:
    """P quadric primitives (struct of arrays).

    Attributes:
      centre: ``[P, 3]`` mm.   quadric: ``[P, 3, 3]`` the matrix M (1/mm²).
      axis: ``[P, 3]`` unit axis of a cylinder (zeros for an ellipsoid).   half_length: ``[P]`` mm (inf).
      radius: ``[P]`` mm, a cylinder's radius (0 for an ellipsoid).
      label: ``[P]`` part label (module docstring).   albedo: ``[P, 3]`` linear RGB in [0, 1].
    """

    centre: np.ndarray
    quadric: np.ndarray
    axis: np.ndarray
    half_length: np.ndarray
    radius: np.ndarray
    label: np.ndarray
    albedo: np.ndarray

    def __len__(self):
        return self.centre.shape[0]

    def transformed(self, rotation: np.ndarray, translation: np.ndarray) -> "Primitives":
        """Applies ``p' = rotation @ p + translation``; ``rotation`` may be any orthogonal matrix."""
        r = np.asarray(rotation, dtype=np.float64)
        return dataclasses.replace(
            self,
            centre=self.centre @ r.T + translation,
            quadric=np.einsum("ij,pjk,lk->pil", r, self.quadric, r),
            axis=self.axis @ r.T,
        )

    def half_extents(self) -> np.ndarray:
        """``[P, 3]`` mm: half-sizes of each primitive's axis-aligned bounding box around its centre."""
        ext = np.empty_like(self.centre)
        cyl = np.isfinite(self.half_length)
        ell = ~cyl
        # An ellipsoid's box is sqrt(diag(M⁻¹)); a cylinder's is its axis' extent plus its rim's.
        ext[ell] = np.sqrt(np.diagonal(np.linalg.inv(self.quadric[ell]), axis1=1, axis2=2))
        u = self.axis[cyl]
        ext[cyl] = (self.half_length[cyl, None] * np.abs(u)
                    + self.radius[cyl, None] * np.sqrt(np.maximum(1.0 - u * u, 0.0)))
        return ext


def concatenate(parts) -> Primitives:
    """Joins several Primitives into one."""
    return Primitives(*(np.concatenate([getattr(p, f.name) for p in parts])
                        for f in dataclasses.fields(Primitives)))


def ellipsoids(centres, semi_axes, labels, albedo=(1.0, 1.0, 1.0)) -> Primitives:
    """Axis-aligned ellipsoids: ``centres`` ``[E, 3]``, ``semi_axes`` ``[E, 3]`` mm, ``labels`` ``[E]``,
    ``albedo`` ``[3]`` or ``[E, 3]``."""
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 3)
    n = len(centres)
    quadric = np.zeros((n, 3, 3))
    quadric[:, [0, 1, 2], [0, 1, 2]] = 1.0 / np.asarray(semi_axes, dtype=np.float64).reshape(-1, 3) ** 2
    return Primitives(centres, quadric, np.zeros((n, 3)), np.full(n, np.inf), np.zeros(n),
                      np.asarray(labels, dtype=np.int32).reshape(n), _albedo(albedo, n))


def ellipsoid(centre, semi_axes, label: int, albedo=(1.0, 1.0, 1.0)) -> Primitives:
    """One axis-aligned ellipsoid (e.g. a torso)."""
    return ellipsoids(centre, semi_axes, [label], albedo)


def spheres(centres, radii, labels, albedo=(1.0, 1.0, 1.0)) -> Primitives:
    """Spheres: ``centres`` ``[S, 3]``, ``radii`` ``[S]`` mm, ``labels`` ``[S]``."""
    return ellipsoids(centres, np.repeat(np.reshape(radii, (-1, 1)), 3, axis=1), labels, albedo)


def cylinders(starts, ends, radii, labels, albedo=(1.0, 1.0, 1.0)) -> Primitives:
    """Open cylinders from ``starts`` to ``ends`` ``[C, 3]`` mm with ``radii`` ``[C]``, ``labels`` ``[C]``,
    ``albedo`` ``[3]`` or ``[C, 3]``. Every cylinder must have a positive length."""
    starts, ends = np.reshape(starts, (-1, 3)), np.reshape(ends, (-1, 3))
    n = len(starts)
    radii = np.asarray(radii, dtype=np.float64).reshape(n)
    length = np.linalg.norm(ends - starts, axis=-1)
    axis = (ends - starts) / length[:, None]
    quadric = (np.eye(3) - axis[:, :, None] * axis[:, None, :]) / (radii ** 2)[:, None, None]
    return Primitives(0.5 * (starts + ends), quadric, axis, 0.5 * length, radii,
                      np.asarray(labels, dtype=np.int32).reshape(n), _albedo(albedo, n))


def _albedo(albedo, n):
    albedo = np.asarray(albedo, dtype=np.float64)
    return np.tile(albedo, (n, 1)) if albedo.ndim == 1 else albedo.reshape(n, 3)


@dataclasses.dataclass(frozen=True)
class Forearm:
    """A forearm (label 1, person) leaving the wrist; ``direction`` ``[3]`` unit, local frame."""

    radius: float
    length: float
    direction: np.ndarray
    albedo: np.ndarray


def hand_primitives(shape: hand_model.HandShape, joints: np.ndarray, label_base: int, skin,
                    forearm: Forearm) -> Primitives:
    """The hand's body in its local frame: palm ellipsoid, metacarpals, phalanges, joint spheres, forearm.

    Args:
      shape: proportions of the hand.
      joints: ``[21, 3]`` mm, local frame, RHD per-hand order (``hand_model.forward_kinematics``).
      label_base: 2 (left hand) or 18 (right hand).
      skin: ``[3]`` albedo of the hand.
      forearm: the arm behind the wrist.
    """
    palm, wrist = label_base + PALM_PART, joints[0]
    chains = joints[1:].reshape(hand_model.NUM_FINGERS, 4, 3)[:, ::-1]  # [5, 4, 3] base -> tip
    radii = shape.radii  # [5, 3] proximal -> distal
    # The tip keypoint is the fingertip surface: the last sphere's centre stops one radius short.
    tip_dir = chains[:, 3] - chains[:, 2]
    centres = chains.copy()
    centres[:, 3] -= radii[:, 2, None] * tip_dir / np.linalg.norm(tip_dir, axis=-1, keepdims=True)
    finger = 3 * np.arange(hand_model.NUM_FINGERS)[:, None]
    mcps = chains[1:, 0]
    arm_start = wrist + 0.35 * forearm.radius * forearm.direction  # tucked inside the wrist sphere
    arm_end = arm_start + forearm.length * forearm.direction
    # One builder call per kind: spheres/ellipsoids, then cylinders (numpy's per-call cost dominates).
    blobs = ellipsoids(
        np.concatenate([[wrist, wrist + np.array([0.0, 0.5 * shape.bases[2, 1], 0.0]), arm_end],
                        centres.reshape(-1, 3)]),
        np.concatenate([[np.full(3, shape.wrist_radius), shape.palm_semi_axes, np.full(3, forearm.radius)],
                        np.repeat(hand_model.joint_radii(shape).reshape(-1, 1), 3, axis=1)]),
        # Sphere k of a finger closes bone k-1's end; the base sphere belongs to the proximal bone.
        np.concatenate([[palm, palm, PERSON_LABEL], (label_base + finger + np.array([2, 2, 1, 0])).reshape(-1)]),
        np.concatenate([[skin, skin, forearm.albedo], np.tile(skin, (20, 1))]))
    bones = cylinders(
        np.concatenate([wrist + mcps * np.array([0.45, 0.1, 0.0]),  # metacarpals from a narrow base
                        centres[:, :3].reshape(-1, 3), [arm_start]]),
        np.concatenate([mcps, centres[:, 1:].reshape(-1, 3), [arm_end]]),
        np.concatenate([1.05 * radii[1:, 0], radii.reshape(-1), [forearm.radius]]),
        # Bones proximal -> distal carry labels segment 2 -> 0 (RHD: 0 is the distal part).
        np.concatenate([[palm] * 4, (label_base + finger + np.array([2, 1, 0])).reshape(-1), [PERSON_LABEL]]),
        np.concatenate([np.tile(skin, (19, 1)), [forearm.albedo]]))
    return concatenate([blobs, bones])
