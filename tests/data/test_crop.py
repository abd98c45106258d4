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
    # Eq. 9 with d_max = 600, d_range = 200: 500 -> 0.5, 560 -> 0.2, 400 -> 1.0; 300 clips to 1, 700 to 0.
    depth = np.array([[500.0, 560.0, 400.0, 300.0, 0.0, 700.0]], dtype=np.float32)
    pixels = np.array([[True, True, True, True, False, True]])
    out = crop.normalise_depth(depth, pixels, 600.0, 200.0)
    np.testing.assert_allclose(out, [[0.5, 0.2, 1.0, 1.0, 0.0, 0.0]], atol=1e-6)
    assert np.all(crop.normalise_depth(depth, pixels, 600.0, 0.0) == 0.0)  # no hand found


def _two_level_hand():
    """20x20 mm image: background 900, a hand square rows/cols 5..14 at 500 (cols 5-9) and 560 (10-14), an
    occluder pixel at 100; 11 keypoints on the 500 half, 10 on the 560 half."""
    depth = np.full((20, 20), 900.0, np.float32)
    depth[5:15, 5:10], depth[5:15, 10:15] = 500.0, 560.0
    depth[7, 7] = 100.0
    uv = np.array([[6.0, 10.0]] * 11 + [[12.0, 10.0]] * 10)
    return depth, uv


def test_hand_depth_statistics_hand_computed():
    depth, uv = _two_level_hand()
    hand = np.ones((20, 20), bool)
    d_max, d_range, pixels = crop.hand_depth_statistics(depth, hand, uv, np.ones(21, bool), band_mm=120.0)
    # Level = median of the keypoints' depths (11 x 500, 10 x 560) = 500; the band keeps 500 and 560 but
    # not the background (900) or the occluder (100): 49 + 50 pixels, 2nd / 98th percentiles 500 / 560.
    assert pixels.sum() == 99 and not pixels[7, 7] and not pixels[0, 0]
    assert (d_max, d_range) == (560.0, 60.0)
    # A flat hand gets the minimum range; no visible keypoint or no measurement gives no hand.
    flat = np.where(depth == 560.0, 500.0, depth)
    assert crop.hand_depth_statistics(flat, hand, uv, np.ones(21, bool), 120.0)[:2] == (500.0, 10.0)
    assert crop.hand_depth_statistics(depth, hand, uv, np.zeros(21, bool), 120.0)[1] == 0.0
    assert crop.hand_depth_statistics(np.zeros_like(depth), hand, uv, np.ones(21, bool), 120.0)[1] == 0.0


def test_depth_target_with_mask_is_zero_off_the_hand():
    depth, uv = _two_level_hand()
    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:12] = True
    out, found = crop.depth_target(depth, mask, np.eye(3), uv, np.ones(21, bool), 20, 0.1, 120.0)
    assert found
    assert not crop.depth_target(np.zeros_like(depth), mask, np.eye(3), uv, np.ones(21, bool), 20, 0.1,
                                 120.0)[1]
    assert np.all(out[~mask] == 0.0) and out[7, 7] == 0.0
    # Hand pixels inside the mask: 49 at 500, 20 at 560 -> d_max 560 (98th pct), d_min 500, range 60.
    assert out[10, 6] == 1.0 and out[10, 11] == 0.0


def test_depth_target_without_mask_uses_dilated_keypoint_hull():
    corners = np.array([[5.0, 5.0], [5.0, 14.0], [14.0, 5.0], [14.0, 14.0]])
    uv = np.concatenate([corners, np.full((17, 2), 9.5)])
    depth = (500.0 + 2.0 * np.arange(20.0))[None, :].repeat(20, 0).astype(np.float32)  # 2 mm per column
    depth[10, 10] = 100.0  # an occluder
    # Extent 9 px, dilation 0.2 -> 1.8 px beyond the hull: column 16 is in, column 18 is out.
    out, _ = crop.depth_target(depth, None, np.eye(3), uv, np.ones(21, bool), 20, 0.2, 120.0)
    region = crop.hand_region(uv, np.ones(21, bool), 20, 0.2)
    assert region[10, 16] and not region[10, 18] and not region[0, 0]
    d_max, d_range, _ = crop.hand_depth_statistics(depth, region, uv, np.ones(21, bool), 120.0)
    np.testing.assert_allclose(out[9, 9], (d_max - depth[9, 9]) / d_range, atol=1e-6)
    assert out[10, 10] == 0.0 and out[10, 18] == 0.0 and out[0, 0] == 0.0 and out[10, 16] >= 0.0
    assert out[10, 4] > out[10, 14]  # nearer (smaller depth) is larger, Eq. 9
    # Keypoints are 2D only: hidden ones do not shape the region.
    visible = np.ones(21, bool)
    visible[3] = False  # corner (14, 14)
    assert not crop.hand_region(uv, visible, 20, 0.2)[15, 15]

def _keypoint_depths_loop(depth, uv):
    """The per-keypoint definition: median of the valid pixels of the 3×3 patch, clipped at the border."""
    out = []
    for u, v in np.round(uv).astype(int):
        patch = depth[max(v - 1, 0):max(v + 2, 0), max(u - 1, 0):max(u + 2, 0)]
        patch = patch[patch > 0]
        out.append(np.median(patch) if patch.size else np.nan)
    return np.asarray(out, dtype=depth.dtype)


def test_keypoint_depths_hand_computed():
    depth = np.zeros((5, 5), np.float32)
    depth[0:3, 0:3] = [[1, 2, 3], [4, 0, 6], [7, 8, 9]]  # 8 valid values around (1, 1): median (4 + 6) / 2
    depth[4, 4] = 10.0
    uv = np.array([[1, 1], [4.4, 4.4], [5, 5], [-1, 2], [3, -2], [9, 9]], np.float64)
    got = crop.keypoint_depths(depth, uv)
    # (4, 4): one valid pixel; (5, 5): its 3×3 reaches (4, 4) only; (-1, 2): column 0 rows 1-3 → 4, 7, 0;
    # (3, -2) and (9, 9): nothing inside.
    np.testing.assert_array_equal(got, np.array([5.0, 10.0, 10.0, 5.5, np.nan, np.nan], np.float32))


def test_keypoint_depths_equals_the_per_keypoint_medians(rng):
    for _ in range(300):
        size = int(rng.integers(3, 40))
        depth = rng.uniform(300, 900, (size, size)) * (rng.random((size, size)) < rng.uniform(0, 1))
        depth = depth.astype(np.float32)
        uv = rng.uniform(-3, size + 3, (21, 2))
        got = crop.keypoint_depths(depth, uv)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, _keypoint_depths_loop(depth, uv))
