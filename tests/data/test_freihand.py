"""FreiHAND loader tests on tiny folders written here in the published layout, values checked by hand.

Written from the format description (the loader's module docstring) with json and cv2 only.
"""

import json
import os

import cv2
import numpy as np
import pytest

from awh_tf.data import DataError, FreiHANDDataset

HW = (24, 32)  # (H, W) of the tiny images; the published ones are 224x224
N_LABELS = 2
N_VERSIONS = 4
# Our keypoint k (1..20) is FreiHAND's SOURCE[k - 1]: each finger reversed (base -> tip to tip -> base).
SOURCE = [4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17]
ITEM_KEYS = {"image", "depth", "mask", "uv", "xyz", "visible", "K", "hand", "index", "domain", "name"}


def _xyz_m(s):
    """Label s: distinct FreiHAND-order keypoints [21, 3] in metres, all in front of the camera."""
    k = np.arange(21.0)
    return np.stack([0.01 * k - 0.1 + 0.02 * s, 0.005 * k - 0.05, 0.4 + 0.002 * k + 0.1 * s], axis=1)


def _K(s):
    return np.array([[200.0 + 10 * s, 0.0, 16.0], [0.0, 210.0, 12.0], [0.0, 0.0, 1.0]])


def _colour(i):
    """Image i is one uniform RGB colour (JPEG keeps a flat colour to within a few levels)."""
    return (10 + 30 * i, 200 - 20 * i, 50 + i)


def _mask(s):
    mask = np.zeros(HW, np.uint8)
    mask[4:12, 8 + 10 * s:16 + 10 * s] = 255
    return mask


def _write_jpeg(path, image_rgb_or_grey):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = image_rgb_or_grey
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), image)


def _write_json(path, value):
    path.write_text(json.dumps(value))


def write_freihand(root, split="training", n_labels=N_LABELS, n_images=None, masks=True, scale=True):
    """Writes <root>/<split>_{K,xyz,scale}.json, <split>/rgb/%08d.jpg and training/mask/%08d.jpg."""
    root.mkdir(parents=True, exist_ok=True)
    if n_images is None:
        n_images = n_labels * (N_VERSIONS if split == "training" else 1)
    _write_json(root / f"{split}_K.json", [_K(s).tolist() for s in range(n_labels)])
    _write_json(root / f"{split}_xyz.json", [_xyz_m(s).tolist() for s in range(n_labels)])
    if scale:
        _write_json(root / f"{split}_scale.json", [0.03 + 0.001 * s for s in range(n_labels)])
    for i in range(n_images):
        _write_jpeg(root / split / "rgb" / f"{i:08d}.jpg", np.full(HW + (3,), _colour(i), np.uint8))
    if masks and split == "training":
        for s in range(n_labels):
            _write_jpeg(root / split / "mask" / f"{s:08d}.jpg", _mask(s))
    return root


@pytest.fixture
def fh_root(tmp_path):
    return write_freihand(tmp_path / "FreiHAND_pub_v2")


def _one_line_error(excinfo, *parts):
    message = str(excinfo.value)
    assert "\n" not in message
    for part in parts:
        assert str(part) in message, (part, message)


def _project_by_hand(xyz_mm, K):
    return np.stack([K[0, 0] * xyz_mm[:, 0] / xyz_mm[:, 2] + K[0, 2],
                     K[1, 1] * xyz_mm[:, 1] / xyz_mm[:, 2] + K[1, 2]], axis=1)


def test_item_has_the_loader_format(fh_root):
    item = FreiHANDDataset(fh_root)[3]
    assert set(item) == ITEM_KEYS
    assert item["image"].dtype == np.uint8 and item["image"].shape == HW + (3,)
    assert item["depth"] is None
    assert item["mask"].dtype == bool and item["mask"].shape == HW
    assert item["uv"].dtype == np.float32 and item["uv"].shape == (21, 2)
    assert item["xyz"].dtype == np.float32 and item["xyz"].shape == (21, 3)
    assert item["visible"].dtype == bool and item["visible"].shape == (21,) and item["visible"].all()
    assert item["K"].dtype == np.float32 and item["K"].shape == (3, 3)
    assert item["hand"] == "right" and item["domain"] == 1
    assert item["index"] == 3 and item["name"] == "training/00000003"


def test_keypoints_in_our_order_in_mm(fh_root):
    ds = FreiHANDDataset(fh_root)
    for s in range(N_LABELS):
        xyz, fh_mm = ds[s]["xyz"], 1000.0 * _xyz_m(s)
        np.testing.assert_allclose(xyz[1:], fh_mm[SOURCE], rtol=1e-6)
        np.testing.assert_allclose(xyz[0], 0.5 * (fh_mm[0] + fh_mm[9]), rtol=1e-6)  # palm
        np.testing.assert_allclose(xyz[12], fh_mm[9], rtol=1e-6)  # middle MCP
        np.testing.assert_allclose(xyz[1], fh_mm[4], rtol=1e-6)  # thumb tip
    # Label 0's wrist is (-0.1, -0.05, 0.4) m and its middle MCP (-0.01, -0.005, 0.418) m.
    np.testing.assert_allclose(ds[0]["xyz"][0], [-55.0, -27.5, 409.0], rtol=1e-6)
    np.testing.assert_allclose(ds.scale_mm, [30.0, 31.0], rtol=1e-6)


def test_uv_is_K_times_xyz(fh_root):
    ds = FreiHANDDataset(fh_root)
    for s in range(N_LABELS):
        item = ds[s]
        np.testing.assert_allclose(item["K"], _K(s))
        np.testing.assert_allclose(item["uv"], _project_by_hand(item["xyz"].astype(np.float64), _K(s)),
                                   atol=1e-4)
    # The palm's uv is the projection of the 3D palm: for label 0, 200 * -55/409 + 16 and
    # 210 * -27.5/409 + 12.
    np.testing.assert_allclose(ds[0]["uv"][0], [200 * -55 / 409 + 16, 210 * -27.5 / 409 + 12], atol=1e-4)


def test_image_i_uses_label_i_mod_n(fh_root):
    ds = FreiHANDDataset(fh_root)
    assert len(ds) == N_LABELS * N_VERSIONS == 8
    assert ds.num_labels == N_LABELS and ds.num_versions == N_VERSIONS
    annotations = ds.annotations()
    for i in range(len(ds)):
        item, label = ds[i], i % N_LABELS
        np.testing.assert_allclose(item["image"][HW[0] // 2, HW[1] // 2], _colour(i), atol=3)
        np.testing.assert_array_equal(item["xyz"], ds[label]["xyz"])
        np.testing.assert_array_equal(item["K"], _K(label).astype(np.float32))
        np.testing.assert_array_equal(item["mask"], _mask(label) > 0)
        assert item["index"] == i and item["name"] == f"training/{i:08d}"
        np.testing.assert_array_equal(annotations["xyz"][i], item["xyz"])
        np.testing.assert_array_equal(annotations["uv"][i], item["uv"])
    assert annotations["visible"].shape == (8, 21) and annotations["visible"].all()
    assert list(annotations["hand"]) == ["right"] * 8 and annotations["K"].shape == (8, 3, 3)
    assert ds[-1]["name"] == "training/00000007"
    with pytest.raises(IndexError):
        ds[8]


def test_first_version_only_and_no_masks(tmp_path):
    root = write_freihand(tmp_path / "fh", n_images=N_LABELS, masks=False, scale=False)
    ds = FreiHANDDataset(root)
    assert len(ds) == N_LABELS and ds.num_versions == 1
    assert ds[1]["mask"] is None and ds.scale_mm is None


def test_without_mask(fh_root):
    assert FreiHANDDataset(fh_root, with_mask=False)[0]["mask"] is None


def test_evaluation_split(tmp_path):
    root = write_freihand(tmp_path / "fh", split="evaluation", n_labels=3)
    ds = FreiHANDDataset(root, split="evaluation")
    assert len(ds) == 3 and ds.num_versions == 1
    item = ds[2]
    assert item["mask"] is None and item["name"] == "evaluation/00000002"
    np.testing.assert_allclose(item["xyz"][12], 1000.0 * _xyz_m(2)[9], rtol=1e-6)
    np.testing.assert_allclose(item["image"][0, 0], _colour(2), atol=3)
    with pytest.raises(ValueError, match="split"):
        FreiHANDDataset(root, split="test")


# --- bad input: one-line DataError naming the file and the sample index ---------------------------


def test_missing_root_and_image_folder_show_the_layout(tmp_path, fh_root):
    with pytest.raises(DataError) as excinfo:
        FreiHANDDataset(tmp_path / "nowhere")
    _one_line_error(excinfo, tmp_path / "nowhere", "<split>_K.json", "<split>/rgb/%08d.jpg")
    with pytest.raises(DataError) as excinfo:
        FreiHANDDataset(fh_root, split="evaluation")
    _one_line_error(excinfo, fh_root / "evaluation" / "rgb", "not found", "<split>_xyz.json")


@pytest.mark.parametrize("name", ["training_K.json", "training_xyz.json"])
def test_missing_json(fh_root, name):
    os.remove(fh_root / name)
    with pytest.raises(DataError) as excinfo:
        FreiHANDDataset(fh_root)
    _one_line_error(excinfo, fh_root / name, "not found", "<split>_K.json")


def test_unparsable_json(fh_root):
    (fh_root / "training_xyz.json").write_text('[[[0.1, 0.2, 0.3]')
    with pytest.raises(DataError) as excinfo:
        FreiHANDDataset(fh_root)
    _one_line_error(excinfo, "training_xyz.json", "cannot read JSON")


@pytest.mark.parametrize("name, n, message", [
    ("training_xyz.json", 3, "3 labels, but training_K.json has 2"),
    ("training_scale.json", 1, "1 labels, but training_K.json has 2"),
])
def test_label_lists_of_different_lengths(fh_root, name, n, message):
    values = {"training_xyz.json": [_xyz_m(s % 2).tolist() for s in range(n)],
              "training_scale.json": [0.03] * n}[name]
    _write_json(fh_root / name, values)
    with pytest.raises(DataError) as excinfo:
        FreiHANDDataset(fh_root)
    _one_line_error(excinfo, fh_root / name, message)


def test_bad_label_entries_name_the_sample(fh_root):
    xyz = [_xyz_m(s).tolist() for s in range(N_LABELS)]
    xyz[1] = xyz[1][:20]
    _write_json(fh_root / "training_xyz.json", xyz)
    with pytest.raises(DataError) as excinfo:
        FreiHANDDataset(fh_root)
    _one_line_error(excinfo, "training_xyz.json", "sample 1", "(20, 3)", "(21, 3)")

    xyz = [_xyz_m(s).tolist() for s in range(N_LABELS)]
    xyz[1][5][0] = None  # null: not a number
    _write_json(fh_root / "training_xyz.json", xyz)
    with pytest.raises(DataError) as excinfo:
        FreiHANDDataset(fh_root)
    _one_line_error(excinfo, "training_xyz.json", "sample 1", "NaN")

    xyz = [_xyz_m(s).tolist() for s in range(N_LABELS)]
    xyz[1][7][2] = -0.2
    _write_json(fh_root / "training_xyz.json", xyz)
    with pytest.raises(DataError) as excinfo:
        FreiHANDDataset(fh_root)
    _one_line_error(excinfo, "training_xyz.json", "sample 1", "Z <= 0")


def test_bad_K_names_the_sample(fh_root):
    K = [_K(s).tolist() for s in range(N_LABELS)]
    K[1][2] = [0.0, 1.0, 1.0]
    _write_json(fh_root / "training_K.json", K)
    with pytest.raises(DataError) as excinfo:
        FreiHANDDataset(fh_root)
    _one_line_error(excinfo, "training_K.json", "sample 1", "pinhole")


def test_image_count_not_a_multiple_of_labels(fh_root):
    os.remove(fh_root / "training" / "rgb" / "00000007.jpg")
    with pytest.raises(DataError) as excinfo:
        FreiHANDDataset(fh_root)
    _one_line_error(excinfo, fh_root / "training" / "rgb", "image count 7", "label count 2",
                    "i mod N")


def test_gap_in_image_numbers(fh_root):
    rgb = fh_root / "training" / "rgb"
    os.rename(rgb / "00000003.jpg", rgb / "00000008.jpg")
    with pytest.raises(DataError) as excinfo:
        FreiHANDDataset(fh_root)
    _one_line_error(excinfo, rgb / "00000003.jpg", "sample 3", "not found")


def test_evaluation_image_count_differs(tmp_path):
    root = write_freihand(tmp_path / "fh", split="evaluation", n_labels=3, n_images=2)
    with pytest.raises(DataError) as excinfo:
        FreiHANDDataset(root, split="evaluation")
    _one_line_error(excinfo, "evaluation_xyz.json", "3 != image count 2", "00000002.jpg", "sample 2")


def test_mask_count_differs(fh_root):
    os.remove(fh_root / "training" / "mask" / "00000001.jpg")
    with pytest.raises(DataError) as excinfo:
        FreiHANDDataset(fh_root)
    _one_line_error(excinfo, fh_root / "training" / "mask", "label count 2 != image count 1",
                    "00000001.jpg (sample 1)")


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[:-100], "truncated JPEG"),
    (lambda raw: raw[:3] + b"\x00" * 600 + b"\xff\xd9", "corrupt JPEG"),
    (lambda raw: b"\x89PNG\r\n\x1a\n" + raw[8:], "not a JPEG"),
])
def test_corrupt_jpeg_at_read_time(fh_root, damage, message):
    ds = FreiHANDDataset(fh_root)
    path = fh_root / "training" / "rgb" / "00000005.jpg"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError) as excinfo:
        ds[5]
    _one_line_error(excinfo, path, "sample 5", message)
    assert excinfo.value.index == 5 and excinfo.value.path == str(path)


def test_corrupt_mask_names_the_mask_and_the_sample(fh_root):
    ds = FreiHANDDataset(fh_root)
    path = fh_root / "training" / "mask" / "00000001.jpg"
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(DataError) as excinfo:
        ds[7]  # image 7 uses mask 7 mod 2 = 1
    _one_line_error(excinfo, path, "sample 7", "truncated JPEG")


def test_mask_of_the_wrong_size(fh_root):
    _write_jpeg(fh_root / "training" / "mask" / "00000000.jpg", np.zeros((12, 16), np.uint8))
    with pytest.raises(DataError) as excinfo:
        FreiHANDDataset(fh_root)[2]
    _one_line_error(excinfo, "00000000.jpg", "sample 2", "16x12", "32x24")
