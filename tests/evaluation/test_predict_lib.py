"""Predict on user images: JSON with 21 named keypoints, consistent 3D, mirroring, per-file errors."""

import json
import os

import cv2
import numpy as np
import pytest

from awh_tf import geometry, run_dir
from awh_tf.data import crop
from awh_tf.evaluation import predict_lib
from awh_tf.keypoints import KEYPOINT_NAMES


@pytest.fixture(scope="module")
def run(tiny_run):
    config, pose_net, _ = run_dir.load_run(tiny_run.workdir)
    return config, pose_net


def _box_around(uv, pad=10):
    lo, hi = uv.min(0) - pad, uv.max(0) + pad
    return (float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))


def test_full_image_with_box_writes_named_keypoints_and_consistent_3d(run, tiny_test_image, tmp_path):
    config, pose_net = run
    path, uv_gt, K = tiny_test_image
    written, failed = predict_lib.predict_files(pose_net, config, [path], str(tmp_path),
                                                bbox=_box_around(uv_gt), K=K, bone_length_mm=30.0,
                                                log=lambda _: None)
    assert failed == [] and len(written) == 1
    with open(written[0]) as f:
        record = json.load(f)
    assert [kp["name"] for kp in record["keypoints"]] == list(KEYPOINT_NAMES)
    uv = np.array([kp["uv"] for kp in record["keypoints"]])
    z_rel = np.array([kp["z_rel"] for kp in record["keypoints"]])
    assert np.isfinite(uv).all() and np.isfinite(z_rel).all()
    if "xyz_mm" in record["keypoints"][0]:  # a real root exists for almost every pose; then it must fit
        xyz = np.array([kp["xyz_mm"] for kp in record["keypoints"]])
        np.testing.assert_allclose(geometry.project(xyz, K), uv, atol=1e-2)
        np.testing.assert_allclose(np.linalg.norm(xyz[0] - xyz[12]), 30.0, rtol=1e-4)
        # Z_k = root_depth + z_rel_k · bone (Eq. 7 inverted; the network's palm z_rel need not be 0).
        np.testing.assert_allclose((xyz[:, 2] - record["root_depth_mm"]) / 30.0, z_rel, atol=1e-4)
    else:
        assert record["note"].startswith("no real root depth")
    overlay = cv2.imread(os.path.join(tmp_path, os.path.basename(path)[:-4] + "_overlay.png"))
    assert overlay.shape == (480, 640, 3)


def test_uv_maps_back_through_the_crop(run, tiny_test_image):
    """The image uv is the network's crop uv through the inverse crop affine."""
    config, pose_net = run
    path, uv_gt, _ = tiny_test_image
    box = _box_around(uv_gt)
    pred = predict_lib.predict_image(pose_net, config, path, bbox=box)
    image = predict_lib.read_image(path)
    A = predict_lib.input_affine(image.shape, 32, box, config.pipeline.crop_margin)
    uv_in, z = predict_lib.run_network(pose_net, crop.warp(image, A, 32).astype(np.float32) / 255.0)
    uv = np.array([kp["uv"] for kp in pred.record["keypoints"]])
    np.testing.assert_allclose(crop.apply_affine(A, uv), uv_in, atol=1e-3)
    assert "xyz_mm" not in pred.record["keypoints"][0]  # no intrinsics given: no 3D


def test_right_hand_is_the_mirror_of_the_left(run, tiny_test_image, tmp_path):
    config, pose_net = run
    path, uv_gt, _ = tiny_test_image
    image = predict_lib.read_image(path)
    flipped = str(tmp_path / "flipped.png")
    cv2.imwrite(flipped, cv2.cvtColor(np.ascontiguousarray(image[:, ::-1]), cv2.COLOR_RGB2BGR))
    x, y, w, h = box = _box_around(uv_gt)
    left = predict_lib.predict_image(pose_net, config, path, bbox=box).record
    right = predict_lib.predict_image(pose_net, config, flipped, bbox=(640 - x - w, y, w, h),
                                      hand="right").record
    uv_l = np.array([kp["uv"] for kp in left["keypoints"]])
    uv_r = np.array([kp["uv"] for kp in right["keypoints"]])
    np.testing.assert_allclose(uv_r[:, 0], 639 - uv_l[:, 0], atol=1e-3)
    np.testing.assert_allclose(uv_r[:, 1], uv_l[:, 1], atol=1e-3)
    np.testing.assert_allclose([kp["z_rel"] for kp in right["keypoints"]],
                               [kp["z_rel"] for kp in left["keypoints"]], atol=1e-5)


def test_bad_files_get_one_line_each_and_the_rest_run(run, tiny_test_image, tmp_path):
    config, pose_net = run
    path = tiny_test_image[0]
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not an image at all")
    small = tmp_path / "crop.png"
    cv2.imwrite(str(small), np.full((50, 40, 3), 128, np.uint8))
    missing = str(tmp_path / "missing.png")
    warnings = []
    written, failed = predict_lib.predict_files(pose_net, config, [missing, str(garbage), str(small), path],
                                                str(tmp_path / "out"), log=lambda _: None,
                                                warn=warnings.append)
    assert [os.path.basename(p) for p in written] == ["crop.json", os.path.basename(path)[:-4] + ".json"]
    assert len(failed) == 2 and failed[0].startswith(missing) and failed[1].startswith(str(garbage))
    assert all("\n" not in w and w.startswith("error: ") for w in warnings)
    # A box outside the image: an error for that file only.
    written, failed = predict_lib.predict_files(pose_net, config, [path], str(tmp_path / "out2"),
                                                bbox=(600, 10, 100, 50), log=lambda _: None,
                                                warn=warnings.append)
    assert written == [] and "outside the 640x480 image" in failed[0] and failed[0].startswith(path)
    _, failed = predict_lib.predict_files(pose_net, config, [path], str(tmp_path / "out3"), hand="right",
                                          bbox=(600, 10, 100, 50), log=lambda _: None, warn=warnings.append)
    assert "box 600,10,100,50 lies outside" in failed[0]  # the user's box, not its mirror


def test_input_affine_whole_crop_is_a_resize_and_box_is_centred():
    np.testing.assert_allclose(predict_lib.input_affine((100, 100, 3), 32), crop.resize_affine(100, 32),
                               atol=1e-12)
    A = predict_lib.input_affine((480, 640, 3), 32, bbox=(100, 50, 41, 21), crop_margin=0.25)
    np.testing.assert_allclose(crop.apply_affine(A, [[120.0, 60.0]]), [[15.5, 15.5]], atol=1e-5)
    assert A[0, 0] == pytest.approx(32 / (41 * 1.5))
    with pytest.raises(predict_lib.PredictError, match="outside"):
        predict_lib.input_affine((480, 640, 3), 32, bbox=(-1, 0, 10, 10))


def test_argument_parsers_name_the_flag():
    assert predict_lib.parse_bbox("1,2,3.5,4") == (1.0, 2.0, 3.5, 4.0)
    for bad in ("1,2,3", "a,b,c,d", "0,0,0,5"):
        with pytest.raises(ValueError, match="--bbox"):
            predict_lib.parse_bbox(bad)
    np.testing.assert_allclose(predict_lib.parse_intrinsics("500,510,320,240"),
                               [[500, 0, 320], [0, 510, 240], [0, 0, 1]])
    with pytest.raises(ValueError, match="--intrinsics"):
        predict_lib.parse_intrinsics("500,0,320,240")
    assert predict_lib.output_stems(["a/x.png", "b/x.jpg", "y.png"]) == ["x", "x_2", "y"]
