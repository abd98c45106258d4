"""Crop maths: hand-computed boxes and affines, warps that agree with the affine, crop intrinsics,
and the normalised depth target."""

import numpy as np
import pytest

from awh_tf import geometry
from awh_tf.data import crop


def test_crop_box_uses_visible_keypoints_with_margin():
    uv = np.array([[10.0, 20.0], [30.0, 60.0], [100.0, 100.0]])
    centre, side = crop.crop_box(uv, [True, True, False], margin=0.25, min_size=8)
    # Visible extent: u 10..30, v 20..60 -> larger extent 40, side 40 * 1.5.
    np.testing.assert_allclose(centre, [20.0, 40.0])
    assert side == pytest.approx(60.0)


def test_crop_box_falls_back_to_all_keypoints_and_min_size():
    uv = np.array([[10.0, 20.0], [14.0, 22.0]])
    centre, side = crop.crop_box(uv, [False, False], margin=0.0, min_size=32)
    np.testing.assert_allclose(centre, [12.0, 21.0])
    assert side == 32.0


def test_crop_affine_maps_box_edges_to_crop_edges():
    A = crop.crop_affine([20.0, 40.0], 60.0, 30)
    # The square spans u in [-10, 50]; the crop spans [-0.5, 29.5] (pixel centres at integers).
    pts = crop.apply_affine(A, [[20.0, 40.0], [-10.0, 10.0], [50.0, 70.0]])
    np.testing.assert_allclose(pts, [[14.5, 14.5], [-0.5, -0.5], [29.5, 29.5]], atol=1e-5)


def test_crop_affine_rotation_turns_counter_clockwise_on_screen():
    A = crop.crop_affine([20.0, 40.0], 60.0, 30, angle_deg=90.0)
    # A point 10 px right of the centre ends up 10 * 0.5 px above the centre (v points down).
    np.testing.assert_allclose(crop.apply_affine(A, [[30.0, 40.0]]), [[14.5, 9.5]], atol=1e-5)


def test_resize_affine_keeps_pixel_centre_convention():
    T = crop.resize_affine(128, 32)
    np.testing.assert_allclose(crop.apply_affine(T, [[-0.5, 127.5], [1.5, 63.5]]),
                               [[-0.5, 31.5], [0.0, 15.5]], atol=1e-6)


@pytest.mark.parametrize("angle", [0.0, 33.0, -120.0])
def test_warp_samples_where_the_affine_says(angle):
    # Bilinear interpolation reproduces a linear image exactly, so crop[y, x] = I(A^-1 (x, y)) up to
    # OpenCV's 1/32 px coordinate quantisation; a half-pixel convention error would be 2.5 off.
    h, w = 50, 60
    v, u = np.mgrid[0:h, 0:w].astype(np.float32)
    image = 2.0 * u + 3.0 * v + 1.0
    A = crop.crop_affine([30.0, 24.0], 30.0, 20, angle)
    out = crop.warp(image, A, 20)
    y, x = np.mgrid[0:20, 0:20]
    src = crop.apply_affine(np.linalg.inv(A), np.stack([x.ravel(), y.ravel()], 1)).astype(np.float64)
    expected = 2.0 * src[:, 0] + 3.0 * src[:, 1] + 1.0
    np.testing.assert_allclose(out.ravel(), expected, atol=0.2)


def test_warp_nearest_keeps_values_and_fills_outside_with_zero():
    image = np.arange(1, 17, dtype=np.float32).reshape(4, 4)
    A = crop.crop_affine([1.5, 1.5], 8.0, 16)  # 2x upscale of a box twice the image's size
    out = crop.warp(image, A, 16, nearest=True)
    assert set(np.unique(out)) <= set(range(0, 17))
    assert out[0, 0] == 0 and out[-1, -1] == 0  # outside the 4x4 image
    # Crop pixel (x, y) = (8, 8) -> image (8 - 7.5) / 2 + 1.5 = 1.75 -> nearest (2, 2) -> value 11.
    assert out[8, 8] == 11


@pytest.mark.parametrize("angle", [0.0, 70.0])
def test_crop_intrinsics_reproject_to_crop_uv(rng, angle):
    K = np.array([[300.0, 0.0, 150.0], [0.0, 310.0, 120.0], [0.0, 0.0, 1.0]])
    xyz = rng.normal(0.0, 40.0, (21, 3)) + [20.0, -10.0, 500.0]
    A = crop.crop_affine([140.0, 130.0], 90.0, 64, angle)
    uv = geometry.project(xyz, K)
    crop_K = crop.crop_intrinsics(A, K)
    np.testing.assert_allclose(geometry.project(xyz, crop_K), crop.apply_affine(A, uv), atol=1e-3)


def test_hull_mask_covers_hull_and_dilation():
    uv = np.array([[5.0, 5.0], [5.0, 14.0], [14.0, 5.0], [14.0, 14.0]])
    tight = crop.hull_mask(uv, 20, radius=0.0)
    assert tight[10, 10] and tight[5, 5] and not tight[2, 2] and not tight[10, 17]
    wide = crop.hull_mask(uv, 20, radius=2.0)
    assert wide[10, 16] and not wide[10, 18]


def test_normalise_depth_hand_computed():
    # Root at 500 mm, bone 40 mm, window 3 bones: d_max = 620, d_range = 240, d_min = 380.
    depth = np.array([[500.0, 560.0, 400.0, 300.0, 0.0, 700.0]], dtype=np.float32)
    hand = np.ones_like(depth, dtype=bool)
    out = crop.normalise_depth(depth, hand, 500.0, 40.0, 3.0)
    np.testing.assert_allclose(out, [[0.5, 0.25, 220.0 / 240.0, 0.0, 0.0, 0.0]], atol=1e-6)
    hand[0, 0] = False
    assert crop.normalise_depth(depth, hand, 500.0, 40.0, 3.0)[0, 0] == 0.0


def test_depth_target_with_mask_is_zero_off_the_hand():
    depth = np.full((20, 20), 500.0, np.float32)
    depth[12, 12] = 560.0
    mask = np.zeros((20, 20), bool)
    mask[8:14, 8:14] = True
    xyz = np.zeros((21, 3)) + [0.0, 0.0, 500.0]  # only used without a mask
    out = crop.depth_target(depth, mask, np.eye(3), np.eye(3), xyz, 20, 500.0, 40.0, 3.0, 0.3)
    assert out[10, 10] == 0.5 and out[12, 12] == 0.25
    assert np.all(out[~mask] == 0.0)


def test_depth_target_without_mask_uses_dilated_keypoint_hull():
    f, z = 100.0, 1000.0
    K = np.array([[f, 0.0, 9.5], [0.0, f, 9.5], [0.0, 0.0, 1.0]])
    corners = np.array([[5.0, 5.0], [5.0, 14.0], [14.0, 5.0], [14.0, 14.0]])
    xyz = np.zeros((21, 3)) + [0.0, 0.0, z]  # root (0) and most keypoints at the image centre
    xyz[1:5, :2] = (corners - 9.5) * z / f
    depth = np.full((20, 20), z, np.float32)
    depth[10, 10] = 100.0  # an occluder in front of the window
    # Dilation 0.5 bone * 40 mm = 20 mm = 2 px at 1000 mm with f = 100.
    out = crop.depth_target(depth, None, np.eye(3), K, xyz, 20, z, 40.0, 3.0, 0.5)
    assert out[9, 9] == 0.5 and out[10, 16] == 0.5
    assert out[10, 10] == 0.0 and out[10, 18] == 0.0 and out[0, 0] == 0.0
