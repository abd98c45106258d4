"""Keypoint conventions shared by every module (DESIGN.md §2).

One order everywhere: RHD's per-hand order with index 0 the **palm centre**::

    0 palm
    1-4   thumb   tip, IP, MCP, CMC      (tip -> base)
    5-8   index   tip, DIP, PIP, MCP
    9-12  middle  tip, DIP, PIP, MCP     (12 = middle MCP)
    13-16 ring    tip, DIP, PIP, MCP
    17-20 pinky   tip, DIP, PIP, MCP

Root = palm (0); reference bone = palm -> middle MCP (0, 12), ``C = 1``.

Shapes: coordinates are ``[..., 21, D]`` (D = 2 for uv px, 3 for xyz mm); visibility ``[..., 21]``.
Numpy only: importing this module does not initialise TensorFlow.
"""

import numpy as np

NUM_KEYPOINTS = 21
ROOT = 0
REF_BONE = (0, 12)

_FINGERS = ("thumb", "index", "middle", "ring", "pinky")
_THUMB_JOINTS = ("tip", "ip", "mcp", "cmc")
_FINGER_JOINTS = ("tip", "dip", "pip", "mcp")

KEYPOINT_NAMES = ("palm",) + tuple(
    f"{finger}_{joint}"
    for finger in _FINGERS
    for joint in (_THUMB_JOINTS if finger == "thumb" else _FINGER_JOINTS)
)

# (parent, child) pairs for drawing: palm -> each finger's base, then base -> ... -> tip.
SKELETON_EDGES = tuple(
    edge
    for f in range(5)
    for edge in ((ROOT, 4 * f + 4), (4 * f + 4, 4 * f + 3), (4 * f + 3, 4 * f + 2), (4 * f + 2, 4 * f + 1))
)

# RHD's 42 keypoints: left hand, then right hand, each with a wrist at 0 (DESIGN.md §3).
RHD_LEFT = slice(0, 21)
RHD_RIGHT = slice(21, 42)
RHD_WRIST = 0
MIDDLE_MCP = 12

# STB: 0 palm, pinky 1-4, ring 5-8, middle 9-12, index 13-16, thumb 17-20, each MCP -> tip.
# ours[0] = stb[0], ours[i] = stb[21 - i]; the permutation is its own inverse.
STB_TO_OURS = np.array([0] + [21 - i for i in range(1, 21)], dtype=np.int64)

# FreiHAND (its MANO keypoint order): 0 wrist, then thumb 1-4, index 5-8, middle 9-12, ring 13-16,
# little 17-20, each base -> tip. Reversing each finger gives RHD's per-hand order (wrist at 0):
# rhd[4f + 1 + j] = freihand[4f + 4 - j]; the permutation is its own inverse.
FREIHAND_TO_RHD = np.array([0] + [4 * f + 4 - j for f in range(5) for j in range(4)], dtype=np.int64)


def _check_keypoint_axis(a, axis, name):
    if a.ndim == 0 or a.shape[axis] != NUM_KEYPOINTS:
        raise ValueError(f"{name}: expected {NUM_KEYPOINTS} keypoints on axis {axis}, got shape {a.shape}")


def _keypoint_axis(a):
    """Coordinates ``[..., 21, D]`` (D = 2 or 3) permute axis -2; visibility-like ``[..., 21]`` axis -1."""
    return -1 if a.ndim >= 1 and a.shape[-1] == NUM_KEYPOINTS else -2


def stb_to_ours(a):
    """Reorders STB keypoints ``[..., 21, D]`` (or ``[..., 21]``) into our order."""
    a = np.asarray(a)
    axis = _keypoint_axis(a)
    _check_keypoint_axis(a, axis, "stb_to_ours")
    return np.take(a, STB_TO_OURS, axis=axis)


def ours_to_stb(a):
    """Inverse of :func:`stb_to_ours` (the same permutation)."""
    a = np.asarray(a)
    axis = _keypoint_axis(a)
    _check_keypoint_axis(a, axis, "ours_to_stb")
    return np.take(a, STB_TO_OURS, axis=axis)


def rhd_hand_to_ours(coords, visible=None):
    """Converts one RHD hand (wrist at 0) to our order (palm at 0).

    The palm is the midpoint of the wrist and the middle MCP; it is visible if either is.

    Args:
      coords: ``[..., 21, D]`` one hand's keypoints in RHD's per-hand order (uv px or xyz).
      visible: ``[..., 21]`` bool, or None.
    Returns:
      ``(coords, visible)`` in our order; ``visible`` is None when not given.
    """
    coords = np.array(coords, dtype=np.result_type(np.asarray(coords).dtype, np.float32), copy=True)
    _check_keypoint_axis(coords, -2, "rhd_hand_to_ours: coords")
    coords[..., ROOT, :] = 0.5 * (coords[..., RHD_WRIST, :] + coords[..., MIDDLE_MCP, :])
    if visible is None:
        return coords, None
    visible = np.array(visible, dtype=bool, copy=True)
    _check_keypoint_axis(visible, -1, "rhd_hand_to_ours: visible")
    visible[..., ROOT] = visible[..., RHD_WRIST] | visible[..., MIDDLE_MCP]
    return coords, visible


def freihand_to_ours(coords, visible=None):
    """Converts FreiHAND keypoints (wrist at 0, fingers base -> tip) to our order (palm at 0).

    Each finger is reversed (`FREIHAND_TO_RHD`), then the wrist is replaced by the palm as for RHD
    (:func:`rhd_hand_to_ours`: midpoint of the wrist and the middle MCP, visible if either is).

    Args:
      coords: ``[..., 21, D]`` in FreiHAND's order (uv px or xyz).
      visible: ``[..., 21]`` bool, or None.
    Returns:
      ``(coords, visible)`` in our order; ``visible`` is None when not given.
    """
    coords = np.asarray(coords)
    _check_keypoint_axis(coords, -2, "freihand_to_ours: coords")
    coords = np.take(coords, FREIHAND_TO_RHD, axis=-2)
    if visible is not None:
        visible = np.asarray(visible)
        _check_keypoint_axis(visible, -1, "freihand_to_ours: visible")
        visible = np.take(visible, FREIHAND_TO_RHD, axis=-1)
    return rhd_hand_to_ours(coords, visible)


def ours_to_rhd_hand(coords, wrist):
    """Inverse of :func:`rhd_hand_to_ours` given the wrist: ``[..., 21, D]`` with the wrist at 0."""
    coords = np.array(coords, copy=True)
    _check_keypoint_axis(coords, -2, "ours_to_rhd_hand: coords")
    coords[..., RHD_WRIST, :] = np.asarray(wrist)
    return coords


def mirror_uv(uv, width):
    """Mirrors pixel coordinates ``[..., 2]`` left/right in an image ``width`` px wide: ``u' = W - 1 - u``."""
    uv = np.array(uv, dtype=np.float32, copy=True)
    uv[..., 0] = (width - 1) - uv[..., 0]
    return uv


def mirror_xyz(xyz):
    """Mirrors camera-frame points ``[..., 3]`` left/right: ``X' = -X``."""
    xyz = np.array(xyz, dtype=np.float32, copy=True)
    xyz[..., 0] = -xyz[..., 0]
    return xyz


def mirror_K(K, width):
    """Intrinsics ``[..., 3, 3]`` of the mirrored image: ``c_x' = W - 1 - c_x``.

    With :func:`mirror_xyz` applied to the points, projecting with the mirrored K gives :func:`mirror_uv`
    of the original projection.
    """
    K = np.array(K, dtype=np.float32, copy=True)
    K[..., 0, 2] = (width - 1) - K[..., 0, 2]
    return K
