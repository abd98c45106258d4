"""The standalone client: its copies agree with the library, its geometry round-trips, and it runs
in a process where TensorFlow cannot be imported."""

import importlib.util
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from awh_tf import geometry, keypoints
from awh_tf.data import crop

CLIENT = os.path.join(os.path.dirname(__file__), "..", "..", "export", "litert_infer.py")


def _load_client():
    spec = importlib.util.spec_from_file_location("litert_infer", CLIENT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


client = _load_client()

STB_K = np.array([[607.92271, 0.0, 314.78337], [0.0, 607.88192, 236.42484], [0.0, 0.0, 1.0]])


def _hands(rng, n):
    """``[n, 21, 3]`` mm camera-frame hands ~0.5 m away whose reference bone is tilted < 45° from the
    image plane (the regime in which the quadratic's + root is the true one)."""
    out = []
    while len(out) < n:
        xyz = rng.normal(0.0, 40.0, (21, 3)) + np.array([rng.uniform(-80, 80), rng.uniform(-60, 60), 500.0])
        bone = xyz[12] - xyz[0]
        if abs(bone[2]) < 0.7 * np.linalg.norm(bone):
            out.append(xyz)
    return np.stack(out)


def test_copied_constants_match_the_library():
    assert client.KEYPOINT_NAMES == keypoints.KEYPOINT_NAMES
    assert client.SKELETON_EDGES == tuple(keypoints.SKELETON_EDGES)
    assert (client.ROOT, client.REF_BONE) == (keypoints.ROOT, keypoints.REF_BONE)


def test_root_depth_copy_agrees_with_geometry(rng):
    for xyz in _hands(rng, 20):
        code = geometry.xyz_to_25d(xyz, STB_K)
        ours, exact = client.solve_root_depth(code["uv"], code["z_rel"], STB_K)
        assert exact
        assert ours == pytest.approx(float(geometry.solve_root_depth(code["uv"], code["z_rel"], STB_K)),
                                     rel=1e-6)
        assert ours * code["scale"] == pytest.approx(xyz[0, 2], rel=1e-4)  # the true palm depth, mm


def test_recover_xyz_round_trip(rng):
    for xyz in _hands(rng, 5):
        code = geometry.xyz_to_25d(xyz, STB_K)
        recovered, _ = client.recover_xyz(code["uv"].astype(np.float64), code["z_rel"], STB_K, code["scale"])
        np.testing.assert_allclose(recovered, xyz, atol=0.05)  # mm; float32 uv/z_rel round-off


def test_root_depth_without_real_solution():
    uv = np.zeros((21, 2))
    uv[12] = [0.1, 0.0]  # x_n - x_m = -0.1 with K = I
    z = np.zeros(21)
    z[12] = 2.0  # the bone's depth change alone exceeds its length: no real root
    with pytest.raises(client.ClientError, match="no real solution"):
        client.solve_root_depth(uv, z, np.eye(3))
    # a = 0.01, b = 2(-0.1)(-0.1 * 2) = 0.04: the closest depth is -b / 2a = -2 (hand-computed)
    assert client.solve_root_depth(uv, z, np.eye(3), closest_if_no_root=True) == (pytest.approx(-2.0), False)
    with pytest.raises(client.ClientError, match="project to one point"):
        client.solve_root_depth(np.zeros((21, 2)), z, np.eye(3))


def test_crop_affine_matches_the_pipeline():
    np.testing.assert_allclose(client.crop_affine((200.5, 130.0), 90.0, 64),
                               crop.crop_affine(np.array([200.5, 130.0]), 90.0, 64, 0.0))


class _Echo:
    """A stand-in model that 'predicts' fixed image points, as a perfect model would in crop px."""

    input_size = 32

    def __init__(self, uv_image):
        self.uv_image = uv_image
        self.last_crop = None

    def bind(self, A):
        self.A = A

    def __call__(self, crop_):
        self.last_crop = crop_
        return crop.apply_affine(self.A, self.uv_image).astype(np.float64), np.arange(21.0)


@pytest.mark.parametrize("right_hand", [False, True])
def test_predict_maps_crop_px_back_to_image_px(rng, right_hand):
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    uv_image = rng.uniform(40, 100, (21, 2))
    model = _Echo(uv_image)
    box = (70.0, 60.0, 50.0)
    _, A = client.make_crop(image, 32, box, right_hand)
    model.bind(A)
    uv, z = client.predict(model, image, box, right_hand)
    np.testing.assert_allclose(uv, uv_image, atol=1e-3)
    np.testing.assert_array_equal(z, np.arange(21.0))
    expected = crop.warp(image, crop.crop_affine(np.array(box[:2]), box[2], 32), 32)
    if right_hand:
        expected = expected[:, ::-1]  # u' = S - 1 - u
    np.testing.assert_allclose(model.last_crop[0], expected / 255.0, atol=1e-6)


def test_image_of_the_wrong_size_without_box(rng):
    with pytest.raises(client.ClientError, match=r"crop.png: image is 40x30 px but the model takes 32x32"):
        client.make_crop(np.zeros((30, 40, 3), np.uint8), 32, path="crop.png")


def _tf_free_env(tmp_path):
    """An environment in which ``import tensorflow`` raises ImportError and the repo is not on the path."""
    blocker = tmp_path / "blocker" / "tensorflow"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('tensorflow is blocked in this test')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(tmp_path / "blocker")
    return env


def _run_client(args, env, cwd):
    return subprocess.run([sys.executable, os.path.abspath(CLIENT)] + args, env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_client_runs_without_tensorflow(fp32_export, tmp_path, rng):
    _, out_dir, _ = fp32_export
    model = os.path.join(out_dir, "pose_fp32.tflite")
    env = _tf_free_env(tmp_path)
    probe = subprocess.run([sys.executable, "-c", "import tensorflow"], env=env, cwd=tmp_path,
                           capture_output=True, text=True)
    assert probe.returncode != 0 and "blocked" in probe.stderr  # the blocker works

    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "crop.png"), image[..., ::-1])  # BGR on disk
    result = _run_client(["--model", model, "--image", "crop.png", "--json", "out.json", "--draw", "d.png"],
                         env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 21 and "palm" in result.stdout
    with open(tmp_path / "out.json") as f:
        out = json.load(f)
    assert out["keypoints"] == list(keypoints.KEYPOINT_NAMES)
    assert os.path.isfile(tmp_path / "d.png")

    from ai_edge_litert.interpreter import Interpreter  # the same file run in this process

    runner = Interpreter(model_path=model).get_signature_runner()
    expected = runner(image=(image.astype(np.float32) / 255.0)[None])
    np.testing.assert_allclose(out["uv_px"], expected["uv"][0], atol=1e-4)
    np.testing.assert_allclose(out["z_rel"], expected["z_rel"][0], atol=1e-5)


def test_client_errors_are_one_line(fp32_export, tmp_path):
    _, out_dir, _ = fp32_export
    model = os.path.join(out_dir, "pose_fp32.tflite")
    env = _tf_free_env(tmp_path)
    cv2.imwrite(str(tmp_path / "big.png"), np.zeros((48, 64, 3), np.uint8))
    (tmp_path / "junk.png").write_bytes(b"not a png")
    m = ["--model", model]
    env["AWH_DETECTOR_DIR"] = str(tmp_path / "no_detector")
    cases = [(m + ["--image", "big.png"], "big.png: a full image needs the palm detector or --box U,V,SIDE"),
             (m + ["--image", "junk.png"], "junk.png: cannot read an image"),
             (m + ["--image", "big.png", "--box", "1,2"], "--box: expected 3 comma-separated numbers"),
             (m + ["--image", "big.png", "--box", "30,20,40", "--bone_mm", "40"],
              "--intrinsics and --bone_mm"),
             (["--model", "junk.png", "--image", "big.png"], "junk.png: not a loadable .tflite")]
    for args, message in cases:
        result = _run_client(args, env, tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (args, lines)


def test_client_full_image_path_finds_the_hand_without_tensorflow(fp32_export, tmp_path, real_test_frames,
                                                                 installed_detector_dir):
    from awh_tf.detection.palm_detector import PalmDetector

    detector = PalmDetector("full", installed_detector_dir, num_threads=1)
    frame = next((s for s in real_test_frames if detector(s["image"])), None)
    assert frame is not None, "the palm detector found no hand in the 8 procedural test frames"
    cv2.imwrite(str(tmp_path / "frame.png"), cv2.cvtColor(frame["image"], cv2.COLOR_RGB2BGR))
    _, out_dir, _ = fp32_export
    env = dict(_tf_free_env(tmp_path), AWH_DETECTOR_DIR=installed_detector_dir)
    result = _run_client(["--model", os.path.join(out_dir, "pose_fp32.tflite"), "--image", "frame.png",
                          "--threads", "1", "--json", "out.json", "--draw", "d.png"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("hand 0: box x,y,w,h ")
    with open(tmp_path / "out.json") as f:
        hands = json.load(f)["hands"]
    assert 1 <= len(hands) <= 2 and len(hands[0]["uv_px"]) == 21 and hands[0]["detector_score"] >= 0.5
    x, y, w, h = hands[0]["box_xywh"]
    assert 0 <= x and 0 <= y and x + w <= 640 and y + h <= 480
    cv2.imwrite(str(tmp_path / "black.png"), np.zeros((480, 640, 3), np.uint8))
    result = _run_client(["--model", os.path.join(out_dir, "pose_fp32.tflite"), "--image", "black.png"], env,
                         tmp_path)
    errors = [line for line in result.stderr.splitlines() if not line.startswith("INFO: ")]  # LiteRT's own
    assert result.returncode == 2 and errors == ["error: black.png: no hand found (give --box U,V,SIDE, or lower "
                                                 "--min_detection_score)"]


def test_box_square_is_the_training_crop_of_a_keypoint_box():
    assert client.box_square((10.0, 20.0, 41.0, 21.0), 0.2) == (30.0, 30.0, pytest.approx(41 * 1.4))
