"""Round trips of the 2.5D codec and the root-depth quadratic (DESIGN.md §4)."""

import numpy as np
import pytest

from awh_tf import geometry
from awh_tf.keypoints import REF_BONE


def _hand_like(rng, n):
    """Random hand-sized poses: root 300-900 mm away, keypoints within ±120 mm of it, and a 30-50 mm
    reference bone tilted at most 45° out of the image plane (a real palm is; steeper bones make the
    quadratic's other root the right one, which no method can tell from 2.5D alone)."""
    root = np.stack([rng.uniform(-150, 150, n), rng.uniform(-150, 150, n), rng.uniform(300, 900, n)], -1)
    xyz = root[:, None, :] + rng.uniform(-120, 120, (n, 21, 3))
    xyz[:, 0] = root
    phi, tilt = rng.uniform(0, 2 * np.pi, n), rng.uniform(-np.pi / 4, np.pi / 4, n)
    bone = rng.uniform(30, 50, n)[:, None] * np.stack(
        [np.cos(tilt) * np.cos(phi), np.cos(tilt) * np.sin(phi), np.sin(tilt)], -1)
    xyz[:, 12] = root + bone
    return xyz


def _intrinsics(rng, n):
    K = np.zeros((n, 3, 3))
    K[:, 0, 0] = rng.uniform(250, 900, n)
    K[:, 1, 1] = K[:, 0, 0] * rng.uniform(0.95, 1.05, n)
    K[:, 0, 2] = rng.uniform(100, 330, n)
    K[:, 1, 2] = rng.uniform(100, 250, n)
    K[:, 2, 2] = 1
    return K


def test_project_by_hand():
    K = np.array([[100.0, 0, 50], [0, 200.0, 20], [0, 0, 1]])
    xyz = np.zeros((21, 3))
    xyz[:, 2] = 500
    xyz[3] = [10, -5, 250]
    uv = geometry.project(xyz, K)
    assert uv.shape == (21, 2)
    np.testing.assert_allclose(uv[0], [50, 20])
    np.testing.assert_allclose(uv[3], [50 + 100 * 10 / 250, 20 - 200 * 5 / 250])


def test_25d_round_trip(rng):
    xyz, K = _hand_like(rng, 64), _intrinsics(rng, 64)
    enc = geometry.xyz_to_25d(xyz, K)
    assert enc["uv"].shape == (64, 21, 2) and enc["z_rel"].shape == (64, 21)
    np.testing.assert_allclose(enc["scale"], np.linalg.norm(xyz[:, 0] - xyz[:, 12], axis=-1), rtol=1e-6)
    np.testing.assert_allclose(enc["root_depth"], xyz[:, 0, 2], rtol=1e-6)
    np.testing.assert_allclose(enc["z_rel"][:, 0], 0, atol=1e-7)
    back = geometry.xyz_from_25d(**enc, K=K)
    np.testing.assert_allclose(back, xyz, atol=1e-3)  # float32 outputs, mm


def test_25d_round_trip_single_pose_and_shared_K(rng):
    xyz, K = _hand_like(rng, 1)[0], _intrinsics(rng, 1)[0]
    enc = geometry.xyz_to_25d(xyz, K)
    assert enc["uv"].shape == (21, 2) and np.ndim(enc["scale"]) == 0
    np.testing.assert_allclose(geometry.xyz_from_25d(**enc, K=K), xyz, atol=1e-3)


def test_round_trip_with_rotated_crop_matrix(rng):
    """A crop's A @ K with an in-plane rotation is a general 3×3; decoding must still invert it."""
    xyz, K = _hand_like(rng, 8), _intrinsics(rng, 8)
    c, s = np.cos(0.4), np.sin(0.4)
    A = np.array([[0.5 * c, -0.5 * s, 12.0], [0.5 * s, 0.5 * c, -30.0], [0, 0, 1]])
    crop_K = A @ K
    enc = geometry.xyz_to_25d(xyz, crop_K)
    uv_img = geometry.project(xyz, K)
    expected = np.einsum("ij,nkj->nki", A[:2, :2], uv_img) + A[:2, 2]
    np.testing.assert_allclose(enc["uv"], expected, atol=1e-3)
    np.testing.assert_allclose(geometry.xyz_from_25d(**enc, K=crop_K), xyz, atol=1e-3)


def test_solve_root_depth_recovers_truth(rng):
    xyz, K = _hand_like(rng, 200), _intrinsics(rng, 200)
    enc = geometry.xyz_to_25d(xyz, K)
    root = geometry.solve_root_depth(enc["uv"], enc["z_rel"], K)
    np.testing.assert_allclose(root * enc["scale"], xyz[:, 0, 2], rtol=1e-4)


def _published_quadratic(uv, z, K):
    """Iqbal et al.'s published form, without the factor 2 in b (for contrast only)."""
    x = (uv[..., 0] - K[:, None, 0, 2]) / K[:, None, 0, 0]
    y = (uv[..., 1] - K[:, None, 1, 2]) / K[:, None, 1, 1]
    n, m = REF_BONE
    a = (x[:, n] - x[:, m]) ** 2 + (y[:, n] - y[:, m]) ** 2
    b = (x[:, n] - x[:, m]) * (x[:, n] * z[:, n] - x[:, m] * z[:, m]) + \
        (y[:, n] - y[:, m]) * (y[:, n] * z[:, n] - y[:, m] * z[:, m])
    c = (x[:, n] * z[:, n] - x[:, m] * z[:, m]) ** 2 + (y[:, n] * z[:, n] - y[:, m] * z[:, m]) ** 2 + \
        (z[:, n] - z[:, m]) ** 2 - 1
    return (-b + np.sqrt(b ** 2 - 4 * a * c)) / (2 * a)


def test_published_quadratic_would_fail(rng):
    xyz, K = _hand_like(rng, 200), _intrinsics(rng, 200)
    enc = geometry.xyz_to_25d(xyz, K)
    truth = xyz[:, 0, 2] / enc["scale"]
    ours = geometry.solve_root_depth(enc["uv"], enc["z_rel"], K)
    with np.errstate(invalid="ignore"):
        published = _published_quadratic(enc["uv"].astype(np.float64), enc["z_rel"].astype(np.float64), K)
    assert np.max(np.abs(ours - truth) / truth) < 1e-3
    ok = np.isfinite(published)
    # The dropped factor 2 either has no real root or is off by several percent on hand-like poses.
    wrong = ~ok
    wrong[ok] = np.abs(published[ok] - truth[ok]) / truth[ok] > 0.01
    assert wrong.mean() > 0.5




@pytest.mark.parametrize("bad, match", [
    (np.ones((4, 20, 3)), r"xyz: expected shape \[N, 21, 3\]"),
    (np.ones((4, 21, 2)), r"xyz: expected shape"),
])
def test_bad_shapes(bad, match):
    with pytest.raises(ValueError, match=match):
        geometry.xyz_to_25d(bad, np.eye(3))


def test_bad_K_and_depths(rng):
    xyz = _hand_like(rng, 2)
    with pytest.raises(ValueError, match=r"K: expected shape"):
        geometry.xyz_to_25d(xyz, np.eye(4))
    with pytest.raises(ValueError, match=r"K: not finite or not invertible"):
        geometry.xyz_to_25d(xyz, np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"K: not finite or not invertible"):
        geometry.check_intrinsics(np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"K: expected shape"):
        geometry.check_intrinsics(np.eye(3)[None].repeat(2, 0))
    neg = xyz.copy()
    neg[1, 5, 2] = -10
    with pytest.raises(ValueError, match=r"non-positive depth Z in sample\(s\) \[1\]"):
        geometry.xyz_to_25d(neg, np.eye(3))
    nan = xyz.copy()
    nan[0, 3, 0] = np.nan
    with pytest.raises(ValueError, match=r"xyz: non-finite values in sample\(s\) \[0\]"):
        geometry.xyz_to_25d(nan, np.eye(3))


def test_negative_discriminant_raises_or_masks():
    K = np.array([[500.0, 0, 100], [0, 500, 100], [0, 0, 1]])
    uv = np.full((2, 21, 2), 100.0)
    uv[:, 12] = [400, 100]           # the bone spans 300 px ...
    z = np.zeros((2, 21))
    z[0, 12] = 5.0                   # ... but sample 0's relative depth alone exceeds the bone length
    with pytest.raises(ValueError, match=r"sample\(s\) \[0\]"):
        geometry.solve_root_depth(uv, z, K)
    out = geometry.solve_root_depth(uv, z, K, on_invalid="nan")
    assert np.isnan(out[0]) and np.isfinite(out[1])
    # Sample 1: bone along x only, x_n - x_m = -0.6, z = 0 → Z = 1 / 0.6.
    np.testing.assert_allclose(out[1], 1 / 0.6)
