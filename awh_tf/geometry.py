"""The 2.5D pose codec: projection, the scale-invariant 2.5D encoding (Eq. 7) and its inverses.

This module is the one place where 3D poses become training targets and predictions become 3D again
(STYLE.md §2): the input pipeline encodes with :func:`relative_depth` (the depth part of :func:`xyz_to_25d`;
its crops' uv come from the crop's affine), the evaluation decodes with
:func:`xyz_from_25d` (global scale and root depth known, DESIGN.md §4) or, without a known root depth,
with :func:`solve_root_depth` (Iqbal et al. 2018, with the factor 2 their published ``b`` drops).

Legend: N samples, K = 21 keypoints. ``xyz`` ``[N, K, 3]`` mm in a camera frame (+Z forward);
``uv`` ``[N, K, 2]`` px (u right, v down); ``K`` ``[3, 3]`` or ``[N, 3, 3]``: any invertible 3×3 map
from camera coordinates to homogeneous pixels with last row giving the depth (a pinhole intrinsic
matrix, or a crop's ``A @ K`` which may include an in-plane rotation). A single pose ``[K, ·]`` is
accepted everywhere and the result then has no N axis.

Representation (Eq. 7, C = 1): ``z_rel_k = (Z_k - Z_root) / s`` with ``s = ‖P_0 - P_12‖`` mm, the
reference bone (palm → middle MCP).

Numpy only: importing this module does not initialise TensorFlow.
"""

import numpy as np

from awh_tf.keypoints import NUM_KEYPOINTS, REF_BONE, ROOT


def _as_batch(a, name, last_dim):
    """Returns ``(a [N, K, last_dim] float64, was_single)``; checks the keypoint count and finiteness."""
    a = np.asarray(a, dtype=np.float64)
    single = a.ndim == 2
    if single:
        a = a[None]
    if a.ndim != 3 or a.shape[1] != NUM_KEYPOINTS or a.shape[2] != last_dim:
        raise ValueError(f"{name}: expected shape [N, {NUM_KEYPOINTS}, {last_dim}] or "
                         f"[{NUM_KEYPOINTS}, {last_dim}], got {np.shape(a[0] if single else a)}")
    if not np.all(np.isfinite(a)):
        bad = np.unique(np.nonzero(~np.isfinite(a))[0])
        raise ValueError(f"{name}: non-finite values in sample(s) {bad[:10].tolist()}")
    return a, single


def _as_vector(a, name, n):
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    if a.shape[0] == 1 and n > 1:
        a = np.repeat(a, n)
    if a.shape[0] != n:
        raise ValueError(f"{name}: expected {n} values (one per sample), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: non-finite values")
    return a


def _as_intrinsics(K, n):
    """Returns K as ``[N, 3, 3]`` float64; raises on a wrong shape or a singular matrix."""
    K = np.asarray(K, dtype=np.float64)
    if K.shape == (3, 3):
        K = np.broadcast_to(K, (n, 3, 3))
    if K.ndim != 3 or K.shape[1:] != (3, 3) or K.shape[0] not in (1, n):
        raise ValueError(f"K: expected shape [3, 3] or [N={n}, 3, 3], got {K.shape}")
    if K.shape[0] == 1 and n > 1:
        K = np.broadcast_to(K, (n, 3, 3))
    if not np.all(np.isfinite(K)) or np.any(np.abs(np.linalg.det(K)) < 1e-12):
        raise ValueError("K: not finite or not invertible")
    return K


def _maybe_single(a, single):
    return a[0] if single else a


def project(xyz, K):
    """Projects camera-frame points to pixels.

    Args:
      xyz: ``[N, K, 3]`` or ``[K, 3]`` mm, camera frame, every Z > 0.
      K: ``[3, 3]`` or ``[N, 3, 3]``.
    Returns:
      uv ``[N, K, 2]`` (or ``[K, 2]``) px, float32.
    """
    xyz, single = _as_batch(xyz, "xyz", 3)
    K = _as_intrinsics(K, xyz.shape[0])
    p = np.einsum("nij,nkj->nki", K, xyz)  # [N, K, 3] homogeneous pixels
    if np.any(p[..., 2] <= 0):
        bad = np.unique(np.nonzero(p[..., 2] <= 0)[0])
        raise ValueError(f"xyz: non-positive depth in sample(s) {bad[:10].tolist()}")
    uv = p[..., :2] / p[..., 2:3]
    return _maybe_single(uv.astype(np.float32), single)


def check_intrinsics(K):
    """Raises ValueError unless ``K`` is one finite, invertible ``[3, 3]`` matrix."""
    _as_intrinsics(K, 1)


def relative_depth(xyz):
    """The depth part of the 2.5D encoding (Eq. 7): what :func:`xyz_to_25d` returns besides ``uv``.

    Args:
      xyz: ``[N, K, 3]`` or ``[K, 3]`` mm, camera frame; every Z > 0, finite.
    Returns:
      dict with ``z_rel`` ``[N, K]`` (``(Z - Z_root) / scale``), ``scale`` ``[N]`` mm (reference bone
      length) and ``root_depth`` ``[N]`` mm (``Z_root``); float32.
    Raises:
      ValueError: wrong shape, NaN, non-positive depth or a zero-length reference bone.
    """
    xyz, single = _as_batch(xyz, "xyz", 3)
    if np.any(xyz[..., 2] <= 0):
        bad = np.unique(np.nonzero(xyz[..., 2] <= 0)[0])
        raise ValueError(f"xyz: non-positive depth Z in sample(s) {bad[:10].tolist()}")
    a, b = REF_BONE
    scale = np.linalg.norm(xyz[:, a] - xyz[:, b], axis=-1)
    if np.any(scale <= 1e-9):
        bad = np.nonzero(scale <= 1e-9)[0]
        raise ValueError(f"xyz: zero-length reference bone {REF_BONE} in sample(s) {bad[:10].tolist()}")
    root_depth = xyz[:, ROOT, 2]
    z_rel = (xyz[..., 2] - root_depth[:, None]) / scale[:, None]
    out = {"z_rel": z_rel.astype(np.float32), "scale": scale.astype(np.float32),
           "root_depth": root_depth.astype(np.float32)}
    return {k: v[0] for k, v in out.items()} if single else out


def xyz_to_25d(xyz, K):
    """Encodes 3D poses as 2.5D (Eq. 7).

    Args:
      xyz: ``[N, K, 3]`` or ``[K, 3]`` mm, camera frame; every Z > 0, finite.
      K: ``[3, 3]`` or ``[N, 3, 3]``.
    Returns:
      dict with ``uv`` ``[N, K, 2]`` px, ``z_rel`` ``[N, K]`` (``(Z - Z_root) / scale``), ``scale`` ``[N]``
      mm (reference bone length), ``root_depth`` ``[N]`` mm (``Z_root``); float32.
    Raises:
      ValueError: wrong shapes, NaN, non-positive depth or a zero-length reference bone.
    """
    depth = relative_depth(xyz)
    return dict(depth, uv=project(xyz, K))


def _normalised_rays(uv, K):
    """``K⁻¹ (u, v, 1)`` scaled to unit depth: ``[N, K, 2]`` (x, y) with ``X = x·Z``, ``Y = y·Z``."""
    uv1 = np.concatenate([uv, np.ones_like(uv[..., :1])], axis=-1)
    d = np.einsum("nij,nkj->nki", np.linalg.inv(K), uv1)
    return d[..., :2] / d[..., 2:3]


def xyz_from_25d(uv, z_rel, K, scale, root_depth):
    """Decodes 2.5D poses to 3D given the global scale and root depth (DESIGN.md §4).

    ``Z_k = z_rel_k · scale + root_depth``; ``(X_k, Y_k) = Z_k · K⁻¹ (u_k, v_k, 1)``.

    Args:
      uv: ``[N, K, 2]`` px.  z_rel: ``[N, K]``.  K: ``[3, 3]`` or ``[N, 3, 3]``.
      scale: ``[N]`` mm.  root_depth: ``[N]`` mm.
    Returns:
      xyz ``[N, K, 3]`` mm (float32), or ``[K, 3]`` for single-pose inputs.
    """
    uv, single = _as_batch(uv, "uv", 2)
    n = uv.shape[0]
    z_rel = np.asarray(z_rel, dtype=np.float64).reshape(n, -1)
    if z_rel.shape[1] != NUM_KEYPOINTS or not np.all(np.isfinite(z_rel)):
        raise ValueError(f"z_rel: expected finite [N={n}, {NUM_KEYPOINTS}], got {np.shape(z_rel)}")
    K = _as_intrinsics(K, n)
    scale = _as_vector(scale, "scale", n)
    root_depth = _as_vector(root_depth, "root_depth", n)
    Z = z_rel * scale[:, None] + root_depth[:, None]
    xy = _normalised_rays(uv, K) * Z[..., None]
    xyz = np.concatenate([xy, Z[..., None]], axis=-1)
    return _maybe_single(xyz.astype(np.float32), single)


def solve_root_depth(uv, z_rel, K, bone_length=1.0, on_invalid="raise"):
    """Recovers the root depth from a 2.5D pose and the reference bone's length (Iqbal et al. 2018).

    With ``x = (u - u0)/fx``, ``y = (v - v0)/fy`` (in general ``K⁻¹ (u, v, 1)`` at unit depth) and the
    normalised relative depths ``z`` of the bone's ends n = 0 (palm), m = 12 (middle MCP), the root depth
    ``Z`` in units of the bone satisfies ``a Z² + b Z + c = 0`` with::

        a = (x_n - x_m)² + (y_n - y_m)²
        b = 2 [(x_n - x_m)(x_n z_n - x_m z_m) + (y_n - y_m)(y_n z_n - y_m z_m)]
        c = (x_n z_n - x_m z_m)² + (y_n z_n - y_m z_m)² + (z_n - z_m)² - C²

    and ``Z = (-b + √(b² - 4ac)) / 2a`` (the published form drops the 2 in ``b``; DESIGN.md §4).
    The ``+`` root is Iqbal et al.'s choice; it is the true one for a reference bone that is not steeply
    tilted towards the camera (the tests bound the tilt at 45°, as a palm is in practice).

    Args:
      uv: ``[N, K, 2]`` px.  z_rel: ``[N, K]`` normalised relative depths.  K: ``[3, 3]`` or ``[N, 3, 3]``.
      bone_length: ``C``, the bone's length in the units of ``z_rel`` (1 for Eq. 7's normalisation).
      on_invalid: what to do for a sample whose quadratic has no real root or ``a = 0`` (both bone ends on
        one ray): ``"raise"`` a ValueError naming the samples, or ``"nan"`` to return NaN for them so a caller
        evaluating many predictions can mask them.
    Returns:
      ``[N]`` root depth in units of the reference bone (multiply by the bone length in mm for mm);
      a scalar for a single pose.
    """
    if on_invalid not in ("raise", "nan"):
        raise ValueError(f"on_invalid: expected 'raise' or 'nan', got {on_invalid!r}")
    uv, single = _as_batch(uv, "uv", 2)
    n = uv.shape[0]
    z = np.asarray(z_rel, dtype=np.float64).reshape(n, -1)
    if z.shape[1] != NUM_KEYPOINTS or not np.all(np.isfinite(z)):
        raise ValueError(f"z_rel: expected finite [N={n}, {NUM_KEYPOINTS}], got {np.shape(z_rel)}")
    xy = _normalised_rays(uv, _as_intrinsics(K, n))
    i, j = REF_BONE
    x_n, y_n, z_n = xy[:, i, 0], xy[:, i, 1], z[:, i]
    x_m, y_m, z_m = xy[:, j, 0], xy[:, j, 1], z[:, j]
    dx, dy = x_n - x_m, y_n - y_m
    px, py = x_n * z_n - x_m * z_m, y_n * z_n - y_m * z_m
    a = dx ** 2 + dy ** 2
    b = 2.0 * (dx * px + dy * py)
    c = px ** 2 + py ** 2 + (z_n - z_m) ** 2 - float(bone_length) ** 2
    disc = b ** 2 - 4.0 * a * c
    invalid = (disc < 0) | (a <= 1e-18)
    if np.any(invalid) and on_invalid == "raise":
        bad = np.nonzero(invalid)[0]
        raise ValueError(f"solve_root_depth: no real root (negative discriminant or degenerate bone) "
                         f"in sample(s) {bad[:10].tolist()}")
    with np.errstate(invalid="ignore", divide="ignore"):
        root = (-b + np.sqrt(np.where(invalid, np.nan, disc))) / (2.0 * a)
    root = np.where(invalid, np.nan, root)
    return root[0] if single else root
