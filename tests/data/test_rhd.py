"""RHD loader tests on a hand-written fixture folder (tests/data/fixtures.py), values checked by hand."""

import os
import pickle

import numpy as np
import pytest

from awh_tf.data import DataError, RHDDataset
from awh_tf.data.safe_pickle import load_numpy_pickle
from tests.data import fixtures

S = fixtures.RHD_SIZE
N_FRAMES = 3
# Depth PNG bytes (R, G, B) at chosen (v, u) and the mm they encode: (R*256 + G) / 65535 * 5000.
DEPTH_PIXELS = {
    (10, 20): ((0x12, 0x34, 0x77), 0x1234 / 65535 * 5.0 * 1000),
    (300, 5): ((0xFF, 0xFF, 0x00), 5000.0),
    (0, 0): ((0x00, 0x01, 0xC8), 1 / 65535 * 5.0 * 1000),
}
# Mask regions (rows, cols, label); frame 0: 150 right-hand px vs 100 left, frame 1: the reverse,
# frame 2: 100 vs 100 (a tie goes to the right hand). Label 1 (person) must count for neither.
LEFT_100 = [(slice(100, 105), slice(100, 110), 2), (slice(105, 110), slice(100, 110), 17)]
RIGHT_150 = [(slice(200, 205), slice(200, 215), 18), (slice(205, 210), slice(200, 215), 33)]
LEFT_150 = [(slice(100, 110), slice(100, 115), 9)]
RIGHT_100 = [(slice(200, 210), slice(200, 210), 25)]
MASK_REGIONS = [LEFT_100 + RIGHT_150, LEFT_150 + RIGHT_100, LEFT_100 + RIGHT_100]


def _labels(s):
    """Sample s: distinct xyz (42,3) m, uv (42,2) px, vis (42,), K (3,3)."""
    k = np.arange(42.0)
    xyz = np.stack([0.001 * k + 0.1 * s, -0.002 * k, 0.4 + 0.003 * k], axis=1)
    uv = np.stack([5 + 7 * k + s, 300 - 6 * k], axis=1)
    vis = np.ones(42)
    if s == 0:  # left fully visible, right mostly hidden: the keypoint rule would pick left
        vis[21:] = 0
        vis[[22, 23, 24, 25, 33]] = 1  # right thumb and middle MCP; wrist 21 hidden
    K = np.array([[300.0 + s, 0, 160], [0, 301.0 + s, 161], [0, 0, 1]])
    return xyz, uv, vis, K


def _frame(s):
    v, u = np.mgrid[:S, :S]
    color = np.stack([u % 256, v % 256, np.full_like(u, 128)], -1).astype(np.uint8)
    color[5, 6] = (200, 10, 50)
    depth = np.zeros((S, S, 3), np.uint8)
    if s == 0:
        for (row, col), (rgb, _) in DEPTH_PIXELS.items():
            depth[row, col] = rgb
    mask = np.zeros((S, S), np.uint8)
    mask[:50, :50] = 1
    for rows, cols, label in MASK_REGIONS[s]:
        mask[rows, cols] = label
    return {"color": color, "depth": depth, "mask": mask}


def _annotations(n=N_FRAMES):
    return {s: fixtures.rhd_entry(*_labels(s % N_FRAMES)) for s in range(n)}


@pytest.fixture
def rhd_root(tmp_path):
    frames = [_frame(s) for s in range(N_FRAMES)]
    return fixtures.write_rhd_split(tmp_path / "RHD_published_v2", "training", frames, _annotations())


def _one_line_error(excinfo, *parts):
    message = str(excinfo.value)
    assert "\n" not in message
    for part in parts:
        assert str(part) in message, (part, message)


def test_depth_is_decoded_to_mm_at_chosen_pixels(rhd_root):
    depth = RHDDataset(rhd_root)[0]["depth"]
    assert depth.dtype == np.float32 and depth.shape == (S, S)
    for (row, col), (_, mm) in DEPTH_PIXELS.items():
        assert depth[row, col] == np.float32(mm)
    assert np.count_nonzero(depth) == len(DEPTH_PIXELS)


def test_image_is_rgb(rhd_root):
    image = RHDDataset(rhd_root)[0]["image"]
    assert image.dtype == np.uint8 and image.shape == (S, S, 3)
    np.testing.assert_array_equal(image[5, 6], [200, 10, 50])
    np.testing.assert_array_equal(image[7, 300], [300 % 256, 7, 128])


def test_more_right_pixels_selects_the_right_hand_in_our_order(rhd_root):
    sample = RHDDataset(rhd_root)[0]
    xyz_m, uv, vis, K = _labels(0)
    assert sample["hand"] == "right"
    expected_xyz = xyz_m[21:42] * 1000.0
    expected_xyz[0] = (xyz_m[21] + xyz_m[33]) / 2 * 1000.0  # palm = midpoint(wrist, middle MCP)
    np.testing.assert_allclose(sample["xyz"], expected_xyz, rtol=1e-6)
    expected_uv = uv[21:42].copy()
    expected_uv[0] = (uv[21] + uv[33]) / 2
    np.testing.assert_allclose(sample["uv"], expected_uv, rtol=1e-6)
    expected_vis = np.zeros(21, bool)
    expected_vis[[0, 1, 2, 3, 4, 12]] = True  # palm visible because the middle MCP is
    np.testing.assert_array_equal(sample["visible"], expected_vis)
    np.testing.assert_array_equal(sample["K"], K.astype(np.float32))
    assert sample["mask"].dtype == bool and np.count_nonzero(sample["mask"]) == 150
    assert sample["mask"][200:210, 200:215].all()
    assert sample["uv"].dtype == sample["xyz"].dtype == np.float32


def test_more_left_pixels_selects_left_and_a_tie_selects_right(rhd_root):
    ds = RHDDataset(rhd_root)
    left = ds[1]
    xyz_m, _, _, K = _labels(1)
    assert left["hand"] == "left"
    np.testing.assert_allclose(left["xyz"][1:], xyz_m[1:21] * 1000.0, rtol=1e-6)
    np.testing.assert_allclose(left["xyz"][0], (xyz_m[0] + xyz_m[12]) / 2 * 1000.0, rtol=1e-6)
    np.testing.assert_array_equal(left["K"], K.astype(np.float32))
    assert np.count_nonzero(left["mask"]) == 150 and left["mask"][100:110, 100:115].all()
    assert ds[2]["hand"] == "right"


def test_sample_metadata(rhd_root):
    ds = RHDDataset(rhd_root)
    assert len(ds) == N_FRAMES
    sample = ds[-1]
    assert (sample["index"], sample["domain"], sample["name"]) == (2, 0, "training/00002")
    with pytest.raises(IndexError):
        ds[N_FRAMES]


def test_forced_hand_ignores_the_mask(rhd_root):
    sample = RHDDataset(rhd_root, hand="left")[0]
    assert sample["hand"] == "left"
    assert np.count_nonzero(sample["mask"]) == 100
    np.testing.assert_allclose(sample["xyz"][5], _labels(0)[0][5] * 1000.0, rtol=1e-6)


def test_annotations_match_samples_under_the_mask_rule(rhd_root):
    ds = RHDDataset(rhd_root)
    ann = ds.annotations()
    assert ann["uv"].shape == (N_FRAMES, 21, 2) and ann["K"].shape == (N_FRAMES, 3, 3)
    np.testing.assert_array_equal(ann["hand"], ["right", "left", "right"])
    for i in range(N_FRAMES):
        sample = ds[i]
        for key in ("uv", "xyz", "visible", "K"):
            np.testing.assert_array_equal(ann[key][i], sample[key])


def test_annotations_keypoint_rule_counts_visible_keypoints(rhd_root):
    ann = RHDDataset(rhd_root).annotations(hand_rule="keypoints")
    # Frame 0: 21 visible left keypoints vs 5 right; frames 1 and 2 tie (all visible) -> the mask.
    np.testing.assert_array_equal(ann["hand"], ["left", "left", "right"])


def test_without_depth(rhd_root):
    assert RHDDataset(rhd_root, with_depth=False)[0]["depth"] is None


# --- bad input: one-line DataError naming the file and the sample index ---------------------------


def test_missing_root_shows_the_layout(tmp_path):
    with pytest.raises(DataError) as excinfo:
        RHDDataset(tmp_path / "nowhere")
    _one_line_error(excinfo, tmp_path / "nowhere", "color,depth,mask", "anno_<split>.pickle")


def test_missing_split_folder_shows_the_layout(rhd_root):
    with pytest.raises(DataError) as excinfo:
        RHDDataset(rhd_root, split="evaluation")
    _one_line_error(excinfo, rhd_root / "evaluation", "color,depth,mask")


def test_missing_png_before_construction(rhd_root):
    os.remove(rhd_root / "training" / "mask" / "00001.png")
    with pytest.raises(DataError) as excinfo:
        RHDDataset(rhd_root)
    _one_line_error(excinfo, rhd_root / "training" / "mask", "00001.png", "sample 1",
                    "annotation count 3 != image count 2")


def test_missing_png_at_read_time(rhd_root):
    ds = RHDDataset(rhd_root)
    path = rhd_root / "training" / "depth" / "00002.png"
    os.remove(path)
    with pytest.raises(DataError) as excinfo:
        ds[2]
    _one_line_error(excinfo, path, "sample 2", "not found")


@pytest.mark.parametrize("cut", [12, 500])  # only the IEND chunk, or into the image data
def test_truncated_png(rhd_root, cut):
    path = rhd_root / "training" / "color" / "00001.png"
    path.write_bytes(path.read_bytes()[:-cut])
    with pytest.raises(DataError) as excinfo:
        RHDDataset(rhd_root)[1]
    _one_line_error(excinfo, path, "sample 1", "truncated")


def test_depth_of_the_wrong_size(rhd_root):
    path = rhd_root / "training" / "depth" / "00001.png"
    fixtures.write_rgb_png(path, np.zeros((160, 160, 3), np.uint8))
    with pytest.raises(DataError) as excinfo:
        RHDDataset(rhd_root)[1]
    _one_line_error(excinfo, path, "sample 1", "160x160", "320x320")


def test_pickle_with_a_foreign_global_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "executed"
    payload = pickle.dumps({0: fixtures.ForeignGlobal(marker)}, protocol=2)
    # The payload is live: a plain unpickler runs it.
    pickle.loads(payload)
    assert marker.is_dir()
    marker.rmdir()
    root = fixtures.write_rhd_split(tmp_path / "RHD_published_v2", "training", [_frame(0)],
                                    pickle_bytes=payload)
    with pytest.raises(DataError) as excinfo:
        RHDDataset(root)
    _one_line_error(excinfo, "anno_training.pickle", "posix.mkdir" if os.name == "posix" else "mkdir")
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 5])
def test_restricted_unpickler_reads_numpy_pickles(tmp_path, protocol):
    data = {7: {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "s": np.float64(2.5), "l": [1, "x"]}}
    path = tmp_path / "a.pickle"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    loaded = load_numpy_pickle(path)
    np.testing.assert_array_equal(loaded[7]["a"], data[7]["a"])
    assert loaded[7]["a"].dtype == np.float32 and loaded[7]["s"] == 2.5 and loaded[7]["l"] == [1, "x"]


def test_restricted_unpickler_admits_the_numpy_1_module_name(tmp_path):
    # Files written under numpy 1.x (the published RHD pickle) name numpy.core, not numpy._core.
    payload = pickle.dumps(np.arange(3.0), protocol=2)
    path = tmp_path / "old.pickle"
    path.write_bytes(payload.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    np.testing.assert_array_equal(load_numpy_pickle(path), [0.0, 1.0, 2.0])


def test_annotation_count_differs_from_image_count(tmp_path):
    frames = [_frame(s) for s in range(2)]
    root = fixtures.write_rhd_split(tmp_path / "RHD_published_v2", "training", frames, _annotations(3))
    with pytest.raises(DataError) as excinfo:
        RHDDataset(root)
    _one_line_error(excinfo, "annotation count 3 != image count 2", "00002.png", "sample 2")


def test_nan_in_annotations(tmp_path):
    annotations = _annotations()
    annotations[1]["xyz"][5, 2] = np.nan
    root = fixtures.write_rhd_split(tmp_path / "RHD_published_v2", "training",
                                    [_frame(s) for s in range(N_FRAMES)], annotations)
    with pytest.raises(DataError) as excinfo:
        RHDDataset(root)
    _one_line_error(excinfo, "anno_training.pickle", "sample 1", "'xyz'", "NaN")


def test_annotation_of_the_wrong_shape(tmp_path):
    annotations = _annotations()
    annotations[2]["uv_vis"] = annotations[2]["uv_vis"][:21]
    root = fixtures.write_rhd_split(tmp_path / "RHD_published_v2", "training",
                                    [_frame(s) for s in range(N_FRAMES)], annotations)
    with pytest.raises(DataError) as excinfo:
        RHDDataset(root)
    _one_line_error(excinfo, "anno_training.pickle", "sample 2", "(21, 3)", "(42, 3)")
