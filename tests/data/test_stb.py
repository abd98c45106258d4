"""STB loader tests on a hand-written fixture folder (tests/data/fixtures.py), values checked by hand.

The colour-frame labels are built with scipy's rotation (not the loader's cv2.Rodrigues) from the
published extrinsics: X_depth = R X_colour + t.
"""

import os

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from awh_tf.data import STB_TEST_SEQUENCES, STB_TRAIN_SEQUENCES, DataError, STBDataset
from awh_tf.data.depth_registration import DepthRegistration
from awh_tf.data.image_io import decode_stb_depth
from awh_tf.data.stb import hand_box
from tests.data import fixtures

H, W = fixtures.STB_HW
FX, FY, U0, V0 = 607.92271, 607.88192, 314.78337, 236.42484  # colour camera
DFX, DFY, DU0, DV0 = 475.62768, 474.77709, 336.41179, 238.77962  # depth camera
R = Rotation.from_rotvec([0.00531, -0.01196, 0.00301]).as_matrix()
T = np.array([-24.0381, -0.4563, -1.2326])
SEQ = "B1Counting"
DEPTH_PIXEL = (200, 300)  # (v, u) in the depth image of frame 0, the only valid depth pixel
DEPTH_MM = 800  # encoded as R = 32, G = 3


def _colour_frame_labels(f):
    """Frame f: [21, 3] mm in the colour frame, STB order, every point distinct.

    stb[0] (palm) sits on the optical axis at 500 mm and stb[20] (thumb tip) at (100, 50, 500) mm, so
    their pixels are (u0, v0) and (u0 + 0.2 fx, v0 + 0.1 fy); stb[1] (pinky MCP) projects outside
    the image.
    """
    k = np.arange(21.0)
    xyz = np.stack([-60 + 4 * k + 10 * f, -30 + 2 * k, 520 + 3 * k], axis=1)
    xyz[0] = (0, 0, 500)
    xyz[20] = (100, 50, 500)
    xyz[1] = (400, 0, 500)  # u = u0 + 0.8 fx > 640
    return xyz


def _hand_para(n):
    xyz_colour = np.stack([_colour_frame_labels(f) for f in range(n)])  # [N, 21, 3]
    xyz_depth = xyz_colour @ R.T + T  # X_d = R X_c + t
    return np.transpose(xyz_depth, (2, 1, 0))  # (3, 21, N)


def _depth_frame(f):
    depth = np.zeros((H, W))
    if f == 0:
        depth[DEPTH_PIXEL] = DEPTH_MM
    return fixtures.stb_depth_bytes(depth)


def _colour_frame(f):
    color = np.zeros((H, W, 3), np.uint8)
    color[3, 4] = (250, 20, 5)
    color[:, :, 2] = f
    return color


def _write(root, seq=SEQ, n_labels=2, n_images=2, hand_para=None, mat_vars=None):
    hand_para = _hand_para(n_labels) if hand_para is None else hand_para
    return fixtures.write_stb_sequence(root, seq, hand_para, [_colour_frame(f) for f in range(n_images)],
                                       [_depth_frame(f) for f in range(n_images)], mat_vars)


@pytest.fixture
def stb_root(tmp_path):
    return _write(tmp_path / "STB")


def _one_line_error(excinfo, *parts):
    message = str(excinfo.value)
    assert "\n" not in message
    for part in parts:
        assert str(part) in message, (part, message)


def test_split_constants():
    assert STB_TEST_SEQUENCES == ("B1Counting", "B1Random")
    assert len(STB_TRAIN_SEQUENCES) == 10 and len(set(STB_TRAIN_SEQUENCES)) == 10
    assert {s[:2] for s in STB_TRAIN_SEQUENCES} == {"B2", "B3", "B4", "B5", "B6"}
    assert {s[2:] for s in STB_TRAIN_SEQUENCES} == {"Counting", "Random"}


def test_labels_move_to_the_colour_frame_and_project_with_the_colour_K(stb_root):
    ds = STBDataset(stb_root, sequences=[SEQ])
    sample = ds[0]
    # Our palm = stb[0] on the optical axis; our thumb tip (1) = stb[20].
    np.testing.assert_allclose(sample["xyz"][0], [0, 0, 500], atol=1e-3)
    np.testing.assert_allclose(sample["uv"][0], [U0, V0], atol=1e-3)
    np.testing.assert_allclose(sample["xyz"][1], [100, 50, 500], atol=1e-3)
    np.testing.assert_allclose(sample["uv"][1], [U0 + 0.2 * FX, V0 + 0.1 * FY], atol=1e-3)
    np.testing.assert_array_equal(sample["K"], np.float32([[FX, 0, U0], [0, FY, V0], [0, 0, 1]]))
    assert sample["uv"].dtype == sample["xyz"].dtype == np.float32


def test_keypoint_order(stb_root):
    ds = STBDataset(stb_root, sequences=[SEQ])
    stb = _colour_frame_labels(1)
    sample = ds[1]
    np.testing.assert_allclose(sample["xyz"][12], stb[9], atol=1e-3)  # middle MCP
    np.testing.assert_allclose(sample["xyz"][4], stb[17], atol=1e-3)  # thumb base
    np.testing.assert_allclose(sample["xyz"][20], stb[1], atol=1e-3)  # pinky MCP
    np.testing.assert_allclose(sample["xyz"][1:], stb[20:0:-1], atol=1e-3)


def test_visible_means_inside_the_image(stb_root):
    sample = STBDataset(stb_root, sequences=[SEQ])[0]
    expected = np.ones(21, bool)
    expected[20] = False  # stb[1], u = u0 + 0.8 fx
    np.testing.assert_array_equal(sample["visible"], expected)


def test_sample_fields(stb_root):
    ds = STBDataset(stb_root, sequences=[SEQ])
    assert len(ds) == 2
    sample = ds[1]
    assert sample["image"].dtype == np.uint8 and sample["image"].shape == (H, W, 3)
    np.testing.assert_array_equal(sample["image"][3, 4], [250, 20, 1])  # RGB, B = frame index
    assert sample["mask"] is None and sample["hand"] == "left"
    assert (sample["index"], sample["domain"], sample["name"]) == (1, 1, "B1Counting/1")
    assert sample["depth"].dtype == np.float32 and sample["depth"].shape == (H, W)


def test_depth_png_decodes_r_plus_256_g():
    bgr = np.zeros((1, 2, 3), np.uint8)
    bgr[0, 0] = (99, 3, 32)  # B, G, R: 32 + 256 * 3
    bgr[0, 1] = (0, 0, 255)
    np.testing.assert_array_equal(decode_stb_depth(bgr), [[800.0, 255.0]])


def test_registered_depth_of_one_pixel_lands_where_the_hand_computation_says(stb_root):
    v, u = DEPTH_PIXEL
    x_d = DEPTH_MM * np.array([(u - DU0) / DFX, (v - DV0) / DFY, 1.0])
    x_c = R.T @ (x_d - T)
    u_c, v_c = FX * x_c[0] / x_c[2] + U0, FY * x_c[1] / x_c[2] + V0
    depth = STBDataset(stb_root, sequences=[SEQ])[0]["depth"]
    rows, cols = np.nonzero(depth)
    # The depth pixel's square covers 1-2 colour pixels a side (f_colour / f_depth ~ 1.28).
    assert 1 <= len(rows) <= 4
    assert depth[int(round(v_c)), int(round(u_c))] > 0
    assert np.all(np.abs(cols - u_c) < 1.2) and np.all(np.abs(rows - v_c) < 1.2)
    np.testing.assert_allclose(depth[rows, cols], x_c[2], atol=1e-3)
    assert abs(x_c[2] - DEPTH_MM) > 0.5  # the transform changed the depth: Z_c is what is stored
    # Without the footprint: exactly the colour pixel nearest the projected centre.
    raw = np.zeros((H, W))
    raw[v, u] = DEPTH_MM
    K_depth = np.array([[DFX, 0, DU0], [0, DFY, DV0], [0, 0, 1]])
    K_color = np.array([[FX, 0, U0], [0, FY, V0], [0, 0, 1]])
    nearest = DepthRegistration(K_depth, K_color, R, T, (H, W), (H, W), footprint=False)(raw)
    expected = np.zeros((H, W), np.float32)
    expected[int(round(v_c)), int(round(u_c))] = x_c[2]
    np.testing.assert_allclose(nearest, expected, atol=1e-3)


def test_registration_keeps_the_nearest_depth():
    # Colour camera at a third of the depth camera's focal length: depth pixels u = 2, 3, 4 (v = 3)
    # all land on colour pixel (1, 1).
    K_depth = np.diag([300.0, 300.0, 1.0])
    K_color = np.diag([100.0, 100.0, 1.0])
    depth = np.zeros((6, 6))
    depth[3, 2], depth[3, 3], depth[3, 4] = 500.0, 700.0, 600.0  # the nearest is not written last
    for footprint in (True, False):
        reg = DepthRegistration(K_depth, K_color, np.eye(3), np.zeros(3), (6, 6), (3, 3), footprint)
        expected = np.zeros((3, 3), np.float32)
        expected[1, 1] = 500.0
        np.testing.assert_array_equal(reg(depth), expected)


def test_registration_footprint_leaves_no_gaps():
    # Colour camera at twice the depth camera's focal length: each depth pixel covers 2x2 colour px.
    K_depth = np.array([[100.0, 0, 1.5], [0, 100.0, 1.5], [0, 0, 1]])
    K_color = np.array([[200.0, 0, 3.5], [0, 200.0, 3.5], [0, 0, 1]])
    depth = np.full((4, 4), 900.0)
    depth[0, 0] = 0.0
    reg = DepthRegistration(K_depth, K_color, np.eye(3), np.zeros(3), (4, 4), (8, 8))
    expected = np.full((8, 8), 900.0, np.float32)
    expected[:2, :2] = 0.0  # the empty depth pixel's square stays empty
    np.testing.assert_array_equal(reg(depth), expected)
    nearest = DepthRegistration(K_depth, K_color, np.eye(3), np.zeros(3), (4, 4), (8, 8), False)
    assert np.count_nonzero(nearest(depth)) == 15


def test_sequences_concatenate_in_order(tmp_path):
    root = _write(tmp_path / "STB", seq="B1Counting", n_labels=2, n_images=2)
    _write(root, seq="B1Random", n_labels=3, n_images=3)
    ds = STBDataset(root, sequences=STB_TEST_SEQUENCES)
    assert len(ds) == 5 and ds[3]["name"] == "B1Random/1"
    ann = ds.annotations()
    assert ann["xyz"].shape == (5, 21, 3) and ann["K"].shape == (5, 3, 3)
    np.testing.assert_array_equal(ann["hand"], ["left"] * 5)
    np.testing.assert_array_equal(ann["uv"][3], ds[3]["uv"])
    np.testing.assert_array_equal(ann["visible"][4], ds[4]["visible"])


def test_without_depth(stb_root):
    assert STBDataset(stb_root, sequences=[SEQ], with_depth=False)[0]["depth"] is None


# --- depth_region="hand": the whole-frame registration inside the hand box, 0 outside ---------------


def _cluttered_depth(rng):
    """[H, W] mm: random depths 100-3000 mm (many near ones, so parallax exceeds any margin), holes."""
    depth = np.round(rng.uniform(100, 3000, (H, W)))
    depth[rng.random((H, W)) < 0.1] = 0
    return depth


def _stb_cameras():
    K_depth = np.array([[DFX, 0, DU0], [0, DFY, DV0], [0, 0, 1]])
    K_color = np.array([[FX, 0, U0], [0, FY, V0], [0, 0, 1]])
    return K_depth, K_color, R, T, (H, W), (H, W)


@pytest.mark.parametrize("footprint", [True, False])
def test_registration_in_a_box_equals_the_full_registration_there(rng, footprint):
    depth = _cluttered_depth(rng)
    reg = DepthRegistration(*_stb_cameras(), footprint=footprint)
    full = reg(depth)
    # Boxes inside, across the border and off the image; near_mm from "nothing is near" (2 mm: the
    # searched region is then most of the image) to "the nearest pixel" (None).
    cases = [((200, 150, 330, 260), 400.0), ((0, 0, 90, 70), 1000.0), ((580, 400, 700, 520), None),
             ((300, 200, 301, 201), 150.0), ((250, 100, 420, 300), 2.0), ((-50, -50, -10, -10), 500.0)]
    for (u0, v0, u1, v1), near_mm in cases:
        out = reg(depth, (u0, v0, u1, v1), near_mm)
        inside = np.zeros((H, W), bool)
        inside[max(v0, 0):max(v1, 0), max(u0, 0):max(u1, 0)] = True
        np.testing.assert_array_equal(out[inside], full[inside], err_msg=f"box {(u0, v0, u1, v1)}")
        assert not out[~inside].any()


def test_registration_box_when_the_searched_region_cannot_be_bounded(rng):
    # t_z = 50 mm: the colour camera sits 50 mm in front of the depth camera, so points with Z_d < 50
    # are behind it, and for near_mm = 10 the epipolar segments pass through the camera plane: the
    # whole depth image is searched. near_mm = 100 bounds it again.
    K = np.array([[100.0, 0, 15.5], [0, 100.0, 11.5], [0, 0, 1]])
    reg = DepthRegistration(K, K, np.eye(3), np.array([30.0, 0, 50.0]), (24, 32), (24, 32))
    assert reg._depth_region((10, 8, 14, 12), 10.0) == (0, 0, 32, 24)
    assert reg._depth_region((10, 8, 14, 12), 100.0) != (0, 0, 32, 24)
    depth = np.round(rng.uniform(20, 500, (24, 32)))
    full = reg(depth)
    for near_mm in (10.0, 100.0, None):
        out = reg(depth, (10, 8, 14, 12), near_mm)
        np.testing.assert_array_equal(out[8:12, 10:14], full[8:12, 10:14])
        out[8:12, 10:14] = 0
        assert not out.any()


def test_registration_box_needs_the_near_pixels_from_outside_it():
    # One pixel at 150 mm far left of the box lands in it by parallax (t_x = -24 mm: +97 px at 150 mm).
    reg = DepthRegistration(*_stb_cameras())
    depth = np.full((H, W), 2000.0)
    depth[240, 200] = 150.0
    full = reg(depth)
    v, u = np.argwhere(full == full.min())[0]
    assert u - 200 > 80  # moved out of the depth-image neighbourhood of the box
    box = (u - 2, v - 2, u + 3, v + 3)
    np.testing.assert_array_equal(reg(depth, box, 1000.0)[v - 2:v + 3, u - 2:u + 3],
                                  full[v - 2:v + 3, u - 2:u + 3])


def test_hand_box_by_hand():
    uv = np.array([[100.0, 200.0], [160.0, 230.0], [5000.0, 5000.0]])
    in_front = np.array([True, True, False])  # the third is behind the camera: ignored
    # Extent 60 px: grow by 0.5 * 60 + 20 = 50 px; pixels floor(100 - 50) .. ceil(160 + 50).
    assert hand_box(uv, in_front, 0.5, 20.0, (480, 640)) == (50, 150, 211, 281)
    assert hand_box(uv, in_front, 0.0, 0.0, (480, 640)) == (100, 200, 161, 231)
    assert hand_box(uv, in_front, 2.0, 20.0, (240, 320)) == (0, 60, 301, 240)  # clipped
    assert hand_box(uv, np.zeros(3, bool)) == (0, 0, 0, 0)


def _compact_hand_para():
    """handPara (3, 21, 1) of keypoints within 40 mm of (20, 10, 500) mm in the colour frame."""
    k = np.arange(21.0)
    xyz_colour = np.stack([20 + 40 * np.cos(k), 10 + 40 * np.sin(k), 500 + 2 * k], axis=1)
    return np.transpose((xyz_colour @ R.T + T)[None], (2, 1, 0))


def test_hand_depth_region_equals_full_inside_the_box_and_is_zero_outside(tmp_path, rng):
    root = fixtures.write_stb_sequence(tmp_path / "STB", SEQ, _compact_hand_para(), [_colour_frame(0)],
                                       [fixtures.stb_depth_bytes(_cluttered_depth(rng))])
    full = STBDataset(root, sequences=[SEQ])
    hand = STBDataset(root, sequences=[SEQ], depth_region="hand")
    u0, v0, u1, v1 = hand.depth_box(0)
    assert full.depth_box(0) == (0, 0, W, H)
    # Keypoints span ~100 px around (u0 + 0.04 fx, v0 + 0.02 fy): the box is well inside the image.
    assert 0 < u0 < u1 < W and 0 < v0 < v1 < H and (u1 - u0) * (v1 - v0) < 0.4 * H * W
    expected = np.zeros((H, W), np.float32)
    expected[v0:v1, u0:u1] = full[0]["depth"][v0:v1, u0:u1]
    assert np.count_nonzero(expected) > 0.5 * (u1 - u0) * (v1 - v0)
    np.testing.assert_array_equal(hand[0]["depth"], expected)
    assert hand[0]["depth"].dtype == np.float32
    wider = STBDataset(root, sequences=[SEQ], depth_region="hand", hand_margin=1.0).depth_box(0)
    assert wider[0] < u0 and wider[2] > u1


@pytest.mark.parametrize("kwargs, name", [({"depth_region": "roi"}, "depth_region"),
                                          ({"hand_margin": -0.1}, "hand_margin")])
def test_bad_depth_region_arguments(stb_root, kwargs, name):
    with pytest.raises(ValueError, match=name):
        STBDataset(stb_root, sequences=[SEQ], **kwargs)


# --- bad input: one-line DataError naming the file and the sample index ---------------------------


def test_missing_root_shows_the_layout(tmp_path):
    with pytest.raises(DataError) as excinfo:
        STBDataset(tmp_path / "nowhere", sequences=[SEQ])
    _one_line_error(excinfo, tmp_path / "nowhere", "images/<seq>/SK_color_<i>.png", "_SK.mat")


def test_missing_sequence_folder_shows_the_layout(stb_root):
    with pytest.raises(DataError) as excinfo:
        STBDataset(stb_root, sequences=STB_TEST_SEQUENCES)
    _one_line_error(excinfo, stb_root / "images" / "B1Random", "SK_depth_<i>.png")


def test_mat_without_hand_para(tmp_path):
    root = _write(tmp_path / "STB", mat_vars={"other": np.zeros((3, 21, 2))})
    with pytest.raises(DataError) as excinfo:
        STBDataset(root, sequences=[SEQ])
    _one_line_error(excinfo, "B1Counting_SK.mat", "handPara")


@pytest.mark.parametrize("shape", [(3, 20, 2), (21, 3, 2), (3, 21)])
def test_mat_with_hand_para_of_the_wrong_shape(tmp_path, shape):
    root = _write(tmp_path / "STB", hand_para=np.zeros(shape))
    with pytest.raises(DataError) as excinfo:
        STBDataset(root, sequences=[SEQ])
    _one_line_error(excinfo, "B1Counting_SK.mat", "expected (3, 21, N)")


def test_annotation_count_differs_from_image_count(tmp_path):
    root = _write(tmp_path / "STB", n_labels=3, n_images=2)
    with pytest.raises(DataError) as excinfo:
        STBDataset(root, sequences=[SEQ])
    _one_line_error(excinfo, "annotation count 3", "image count 2", "SK_color_2.png", "sample 2")


def test_nan_in_annotations(tmp_path):
    hand_para = _hand_para(2)
    hand_para[1, 7, 1] = np.nan
    root = _write(tmp_path / "STB", hand_para=hand_para)
    with pytest.raises(DataError) as excinfo:
        STBDataset(root, sequences=[SEQ])
    _one_line_error(excinfo, "B1Counting_SK.mat", "sample 1", "NaN")


def test_missing_png_at_read_time(stb_root):
    ds = STBDataset(stb_root, sequences=[SEQ])
    path = stb_root / "images" / SEQ / "SK_depth_1.png"
    os.remove(path)
    with pytest.raises(DataError) as excinfo:
        ds[1]
    _one_line_error(excinfo, path, "sample 1", "not found")


def test_truncated_png(stb_root):
    path = stb_root / "images" / SEQ / "SK_color_1.png"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError) as excinfo:
        STBDataset(stb_root, sequences=[SEQ])[1]
    _one_line_error(excinfo, path, "sample 1", "truncated")


def test_depth_of_the_wrong_size(stb_root):
    path = stb_root / "images" / SEQ / "SK_depth_0.png"
    fixtures.write_rgb_png(path, np.zeros((240, 320, 3), np.uint8))
    with pytest.raises(DataError) as excinfo:
        STBDataset(stb_root, sequences=[SEQ])[0]
    _one_line_error(excinfo, path, "sample 0", "320x240", "640x480")
