"""STB loader tests on a hand-written fixture folder (tests/data/fixtures.py), values checked by hand.

The colour-frame labels are built with scipy's rotation (not the loader's cv2.Rodrigues) from the
published extrinsics: X_depth = R X_colour + t.
"""

import os

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from awh_tf.data import STB_TEST_SEQUENCES, STB_TRAIN_SEQUENCES, DataError, STBDataset
from awh_tf.data.image_io import DepthRegistration, decode_stb_depth
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
