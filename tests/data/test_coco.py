"""COCO-style hand keypoint loader tests on tiny files written here in the documented format, by hand.

The fixtures are written with json and cv2 from the format description (``awh_tf/data/coco.py``'s
docstring), never with the project's converter, and every expected value is worked out in the test.
"""

import json

import cv2
import numpy as np
import pytest

from awh_tf.config import PipelineConfig
from awh_tf.data import DataError, pipeline, transform
from awh_tf.data.coco import CocoHandDataset, coco_to_ours, held_out_images, nominal_K

W, H = 40, 30


def _keypoints(shift=0.0):
    """COCO order: keypoint j at (j + shift, 2j + 1), all labelled (v = 2) except j = 20 occluded (v = 1)."""
    values = []
    for j in range(21):
        values += [float(j) + shift, 2.0 * j + 1.0, 1 if j == 20 else 2]
    return values


def _write_image(path, colour, size=(H, W)):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full(size + (3,), colour[::-1], np.uint8))  # RGB -> BGR


def write_coco(tmp_path, annotations=None, images=None, name="hands.json"):
    """Three images (two JPEG, one PNG), four hands (image 2 has two); returns (json path, image folder)."""
    folder = tmp_path / "imgs"
    for i, (file_name, colour) in enumerate((("a/0.jpg", (200, 30, 40)), ("a/1.jpg", (20, 220, 40)),
                                             ("b/2.png", (10, 20, 230)))):
        _write_image(folder / file_name, colour)
    if images is None:
        images = [{"id": 10 + i, "file_name": f, "width": W, "height": H}
                  for i, f in enumerate(("a/0.jpg", "a/1.jpg", "b/2.png"))]
    if annotations is None:
        annotations = [
            {"id": 1, "image_id": 10, "bbox": [0, 1, 20, 41], "keypoints": _keypoints(), "hand": "left"},
            {"id": 2, "image_id": 11, "keypoints": _keypoints(1.0), "hand": "right"},
            {"id": 3, "image_id": 12, "bbox": [3, 4, 5, 6], "keypoints": _keypoints(2.0)},
            {"id": 4, "image_id": 12, "bbox": [3, 4, 5, 6], "keypoints": _keypoints(3.0), "category_id": 1,
             "num_keypoints": 21, "iscrowd": 0},
        ]
    path = tmp_path / name
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": []}))
    return path, folder


def test_order_map_palm_and_visibility_by_hand(tmp_path):
    path, folder = write_coco(tmp_path)
    ds = CocoHandDataset(path, folder)
    assert len(ds) == 4 and ds.num_skipped == 0
    s = ds[0]
    # Ours: 0 palm = midpoint of COCO 0 (wrist) and 9 (middle MCP): x (0 + 9) / 2, y (1 + 19) / 2.
    np.testing.assert_allclose(s["uv"][0], [4.5, 10.0])
    # Ours 1..4 = thumb tip..CMC = COCO 4, 3, 2, 1; ours 12 = middle MCP = COCO 9; ours 17 = little tip = COCO 20.
    for ours, coco in ((1, 4), (4, 1), (5, 8), (8, 5), (12, 9), (9, 12), (17, 20), (20, 17)):
        np.testing.assert_allclose(s["uv"][ours], [coco, 2 * coco + 1])
    assert s["visible"].all()  # v = 1 (occluded, labelled) counts as a label
    assert s["xyz"] is None and s["depth"] is None and s["mask"] is None
    assert s["hand"] == "left" and ds[1]["hand"] == "right" and ds[2]["hand"] == "left"  # default_hand
    assert s["image"].shape == (H, W, 3) and abs(int(s["image"][5, 5, 0]) - 200) < 8  # RGB order
    assert abs(int(ds[2]["image"][5, 5, 2]) - 230) <= 1  # the PNG
    np.testing.assert_allclose(s["K"], [[W, 0, (W - 1) / 2], [0, W, (H - 1) / 2], [0, 0, 1]])
    assert s["name"] == "a/0.jpg#1" and ds[3]["name"] == "b/2.png#4" and s["domain"] == 1


def test_palm_needs_both_wrist_and_middle_mcp():
    xy = np.arange(42, dtype=float).reshape(21, 2)
    labelled = np.ones(21, bool)
    labelled[9] = False  # middle MCP unlabelled
    uv, visible = coco_to_ours(xy, labelled)
    assert not visible[0] and not visible[12] and visible[1:12].all()
    np.testing.assert_array_equal(uv[0], xy[0])  # finite, on the wrist, unused
    labelled[:] = True
    labelled[0] = False  # wrist unlabelled
    uv, visible = coco_to_ours(xy, labelled)
    assert not visible[0] and visible[12]
    np.testing.assert_array_equal(uv[0], xy[9])


def test_annotations_bbox_fallback_and_default_hand(tmp_path):
    path, folder = write_coco(tmp_path)
    ann = CocoHandDataset(path, folder, default_hand="right").annotations()
    assert list(ann["hand"]) == ["left", "right", "right", "right"]
    np.testing.assert_allclose(ann["box"][0], [0, 1, 20, 41])
    # No bbox: the labelled keypoints' box, x 1..21, y 1..41.
    np.testing.assert_allclose(ann["box"][1], [1, 1, 20, 40])
    np.testing.assert_array_equal(ann["image_wh"], [[W, H]] * 4)
    assert "xyz" not in ann and ann["K"].shape == (4, 3, 3)


def test_annotations_with_few_labelled_keypoints_are_skipped(tmp_path):
    few = _keypoints()
    for j in range(3, 21):
        few[3 * j:3 * j + 3] = [0, 0, 0]
    anns = [{"id": 1, "image_id": 10, "keypoints": few}, {"id": 2, "image_id": 11, "keypoints": _keypoints()}]
    path, folder = write_coco(tmp_path, annotations=anns)
    ds = CocoHandDataset(path, folder)
    assert len(ds) == 1 and ds.num_skipped == 1 and list(ds.annotation_index) == [1]
    assert len(CocoHandDataset(path, folder, min_keypoints=3)) == 2


def test_held_out_split_keeps_images_whole_and_is_seeded(tmp_path):
    ids = np.repeat(np.arange(20), 2)
    test = held_out_images(ids, 0.25, seed=0)
    assert len(test) == 5 and test == held_out_images(ids, 0.25, seed=0) and test != held_out_images(ids, 0.25, 1)
    assert len(held_out_images([1, 2], 0.01, 0)) == 1 and len(held_out_images([1, 2], 0.99, 0)) == 1
    path, folder = write_coco(tmp_path)
    train = CocoHandDataset(path, folder, split="train", test_fraction=0.4, split_seed=3)
    held = CocoHandDataset(path, folder, split="test", test_fraction=0.4, split_seed=3)
    assert sorted(list(train.annotation_index) + list(held.annotation_index)) == [0, 1, 2, 3]
    image_of = {0: 10, 1: 11, 2: 12, 3: 12}
    assert not {image_of[i] for i in train.annotation_index} & {image_of[i] for i in held.annotation_index}
    with pytest.raises(ValueError, match="give a test JSON"):
        held_out_images([5], 0.5, 0)


def _error(tmp_path, **kwargs):
    path, folder = write_coco(tmp_path, **kwargs)
    with pytest.raises(DataError) as info:
        ds = CocoHandDataset(path, folder)
        ds[len(ds) - 1]
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("bad, expected", [
    ({"keypoints": [1.0] * 60}, "sample 0: 'keypoints' must be 63 finite numbers (21 x, y, v), got 60"),
    ({"keypoints": _keypoints()[:-1] + [3]}, "sample 0: visibility flags must be 0, 1 or 2"),
    ({"keypoints": _keypoints()[:-1] + [float("nan")]}, "sample 0: 'keypoints' must be 63 finite numbers"),
    ({"image_id": 99}, "sample 0: image_id 99 is not in 'images'"),
    ({"bbox": [1, 2, 0, 4]}, "sample 0: 'bbox' must be [x, y, w, h] with w, h > 0"),
    ({"hand": "both"}, "sample 0: 'hand' must be 'left' or 'right', got 'both'"),
])
def test_bad_annotation_is_one_line_naming_file_and_index(tmp_path, bad, expected):
    ann = dict({"id": 1, "image_id": 10, "keypoints": _keypoints()}, **bad)
    message = _error(tmp_path, annotations=[ann])
    assert message.startswith(str(tmp_path / "hands.json")) and expected in message


def test_bad_images_are_one_line_errors(tmp_path):
    ann = [{"id": 1, "image_id": 10, "keypoints": _keypoints()}]
    assert "images[0] has no width" in _error(tmp_path, annotations=ann,
                                              images=[{"id": 10, "file_name": "a/0.jpg", "height": H}])
    assert "is not a .jpg, .jpeg or .png file" in _error(
        tmp_path, annotations=ann, images=[{"id": 10, "file_name": "a/0.gif", "width": W, "height": H}])
    message = _error(tmp_path, annotations=ann, images=[{"id": 10, "file_name": "a/9.jpg", "width": W, "height": H}])
    assert message == f"{tmp_path / 'imgs' / 'a' / '9.jpg'}: sample 0: image not found (file_name of an 'images' entry)"
    message = _error(tmp_path, annotations=ann, images=[{"id": 10, "file_name": "a/0.jpg", "width": 41, "height": H}])
    assert message.endswith(f"0.jpg: sample 0: image (its 'images' entry's width/height) is {W}x{H} (WxH), "
                            f"expected 41x{H}")
    (tmp_path / "broken.json").write_text("{\"images\": [")
    with pytest.raises(DataError, match="broken.json: cannot read JSON"):
        CocoHandDataset(tmp_path / "broken.json", tmp_path / "imgs")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(DataError, match="expected a JSON object"):
        CocoHandDataset(tmp_path / "list.json", tmp_path / "imgs")
    with pytest.raises(DataError, match="COCO image folder not found"):
        CocoHandDataset(tmp_path / "list.json", tmp_path / "nowhere")


def test_pipeline_gives_no_3d_and_mirrors_right_hands(tmp_path):
    path, folder = write_coco(tmp_path)
    ds = CocoHandDataset(path, folder)
    cfg = PipelineConfig(input_size=16, depth_size=4, min_crop_size=8.0)
    for labels in (transform.ALL_LABELS, transform.budget_labels("3d"), transform.budget_labels("2d")):
        out = transform.process_sample(ds[1], cfg, labels=labels)  # a right hand: mirrored
        assert not out["has_3d"] and not out["xyz"].any() and not out["scale"] and not out["has_depth"]
    # The crop's uv are the mirrored image's keypoints mapped by the crop: mapping back recovers them.
    right = ds[1]
    mirrored_u = (W - 1) - right["uv"][:, 0]
    A = out["crop_K"] @ np.linalg.inv(np.array([[W, 0, (W - 1) - (W - 1) / 2], [0, W, (H - 1) / 2], [0, 0, 1]]))
    back = (out["uv"] - A[:2, 2]) @ np.linalg.inv(A[:2, :2]).T
    np.testing.assert_allclose(back[:, 0], mirrored_u, atol=1e-3)
    np.testing.assert_allclose(back[:, 1], right["uv"][:, 1], atol=1e-3)


def test_training_batches_carry_2d_labels_only(tmp_path):
    path, folder = write_coco(tmp_path)
    ds = CocoHandDataset(path, folder)
    from tests.data.test_pipeline import FakeHands

    cfg = PipelineConfig(input_size=16, depth_size=4, min_crop_size=8.0, num_parallel_calls=1, prefetch=1)
    for budget in ("2d", "3d"):  # "3d" is refused by the config for coco; the pipeline has no 3D to give anyway
        batch = next(pipeline.make_train_dataset(FakeHands(4), ds, cfg, 4, seed=0, target_budget=budget)
                     .as_numpy_iterator())["target"]
        assert batch["has_2d"].all() and not batch["has_3d"].any() and not batch["has_depth"].any()
        assert not batch["xyz"].any() and not batch["z_rel"].any() and not batch["root_depth"].any()


def test_nominal_K_centres_the_image():
    K = nominal_K(640, 480)
    assert K[0, 0] == K[1, 1] == 640 and K[0, 2] == 319.5 and K[1, 2] == 239.5
