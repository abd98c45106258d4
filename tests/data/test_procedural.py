"""Procedural generator: kinematics, renderer, and the files it writes read back independently.

The written files are decoded here with cv2 / pickle / scipy directly from the format description
(DESIGN.md §3), not through the project's loaders; a last group of tests then round-trips them through
`RHDDataset` / `STBDataset`. One tiny dataset (8 RHD + 24 STB frames) is generated per module.
"""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

from awh_tf.data.procedural import domains, frames, generation, hand_model, primitives, renderer, scene

SEED = 3
SIZES = dict(rhd_train=6, rhd_eval=2, stb_frames=2)
SEQUENCES = [f"B{i}{k}" for i in range(1, 7) for k in ("Counting", "Random")]
# DESIGN.md §3, typed in again so that the tests do not lean on the code under test.
SK_COLOR_K = np.array([[607.92271, 0, 314.78337], [0, 607.88192, 236.42484], [0, 0, 1]])
SK_DEPTH_K = np.array([[475.62768, 0, 336.41179], [0, 474.77709, 238.77962], [0, 0, 1]])
SK_R = cv2.Rodrigues(np.array([0.00531, -0.01196, 0.00301]))[0]
SK_T = np.array([-24.0381, -0.4563, -1.2326])
STB_TO_OURS = [0] + [21 - i for i in range(1, 21)]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("procedural")
    generation.generate(out, seed=SEED, workers=1, progress=False, **SIZES)
    return out


def _project(xyz, K):
    p = xyz @ np.asarray(K).T
    return p[..., :2] / p[..., 2:3]


def _rhd_annotations(root, split="training"):
    with open(root / "RHD_published_v2" / split / f"anno_{split}.pickle", "rb") as f:
        return pickle.load(f)


def _rhd_depth_mm(path):
    bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # BGR: R is channel 2
    return (bgr[..., 2].astype(np.float64) * 256 + bgr[..., 1]) / 65535.0 * 5000.0


def _stb_hand_para(root, seq):
    hand_para = scipy.io.loadmat(str(root / "STB" / "labels" / f"{seq}_SK.mat"))["handPara"]
    return np.transpose(hand_para, (2, 1, 0))  # [N, 21, 3] mm, depth frame, STB order


def _all_files(root):
    return sorted(p for p in Path(root).rglob("*") if p.is_file())


# --- kinematics and rendering -------------------------------------------------------------------


def test_kinematics_keeps_bone_lengths_joint_limits_and_palm_midpoint():
    rng = np.random.default_rng(0)
    for _ in range(20):
        shape, pose = hand_model.sample_shape(rng), hand_model.sample_articulation(rng)
        assert np.all(pose.flexion >= hand_model.FLEXION_LIMITS[..., 0])
        assert np.all(pose.flexion <= hand_model.FLEXION_LIMITS[..., 1])
        chains = hand_model.finger_chains(shape, pose)  # [5, 4, 3] base -> tip
        np.testing.assert_allclose(np.linalg.norm(np.diff(chains, axis=1), axis=-1), shape.lengths, rtol=1e-9)
        joints = hand_model.forward_kinematics(shape, pose)
        hand = scene.Hand("left", shape, joints, np.eye(3), None)
        np.testing.assert_allclose(hand.palm, 0.5 * (joints[0] + joints[12]))
        assert 30.0 < np.linalg.norm(hand.palm - joints[12]) < 50.0  # the reference bone, mm


def test_straight_hand_points_its_fingers_along_y():
    shape = hand_model.sample_shape(np.random.default_rng(1))
    pose = hand_model.Articulation(np.zeros((5, 3)), np.zeros(5))
    joints = hand_model.forward_kinematics(shape, pose)
    middle = joints[9:13][::-1]  # MCP -> tip
    np.testing.assert_allclose(middle[:, 0], 0.0, atol=1e-9)
    np.testing.assert_allclose(middle[-1, 1] - middle[0, 1], shape.lengths[2].sum())


def test_sphere_renders_with_exact_perspective_depth():
    K = np.array([[500.0, 0, 100], [0, 500.0, 80], [0, 0, 1]])
    centre, radius = np.array([30.0, -20.0, 400.0]), 25.0
    depth, index = renderer.render(primitives.spheres(centre, [radius], [5]), K, 160, 200)
    v, u = np.mgrid[0:160, 0:200]
    rays = np.stack([(u - 100) / 500.0, (v - 80) / 500.0, np.ones(u.shape)], axis=-1)
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    b = rays @ centre
    disc = b ** 2 - (centre @ centre - radius ** 2)
    hit = disc > 1e-6
    z = (b - np.sqrt(np.maximum(disc, 0))) * rays[..., 2]
    np.testing.assert_array_equal(index >= 0, hit)
    np.testing.assert_allclose(depth[hit], z[hit], atol=1e-3)
    assert np.all(np.isinf(depth[~hit]))


def test_nearer_primitive_hides_the_farther_one_and_its_keypoint():
    K = np.array([[300.0, 0, 50], [0, 300.0, 50], [0, 0, 1]])
    prims = primitives.concatenate([primitives.spheres([0, 0, 500.0], [20.0], [2]),    # left-hand part
                                    primitives.spheres([0, 0, 300.0], [10.0], [18])])  # right hand, nearer
    depth, index = renderer.render(prims, K, 100, 100)
    assert index[50, 50] == 1 and depth[50, 50] == pytest.approx(290.0, abs=1e-3)
    xyz = np.array([[0, 0, 500.0], [18.0, 0, 500.0]])  # behind the small sphere / beside it
    uv = _project(xyz, K)
    visible = renderer.keypoint_visibility(uv, xyz, np.array([20.0, 20.0]), depth, index, prims, (2, 17))
    np.testing.assert_array_equal(visible, [False, True])


# --- files and formats --------------------------------------------------------------------------


def test_writes_exactly_the_rhd_and_stb_layouts(dataset):
    expected = {generation.MANIFEST}
    for split, n in (("training", 6), ("evaluation", 2)):
        expected.add(f"RHD_published_v2/{split}/anno_{split}.pickle")
        expected |= {f"RHD_published_v2/{split}/{kind}/{i:05d}.png" for kind in ("color", "depth", "mask")
                     for i in range(n)}
    for seq in SEQUENCES:
        expected.add(f"STB/labels/{seq}_SK.mat")
        expected |= {f"STB/images/{seq}/SK_{kind}_{i}.png" for kind in ("color", "depth") for i in range(2)}
    assert {str(p.relative_to(dataset)) for p in _all_files(dataset)} == expected


def test_rhd_images_and_annotations_have_the_published_shapes(dataset):
    anno = _rhd_annotations(dataset)
    assert sorted(anno) == list(range(6))
    for i, entry in anno.items():
        assert set(entry) == {"xyz", "uv_vis", "K"}
        assert entry["xyz"].shape == (42, 3) and entry["uv_vis"].shape == (42, 3) and entry["K"].shape == (3, 3)
        assert np.all((entry["xyz"][:, 2] > 0.15) & (entry["xyz"][:, 2] < 5.0))  # metres
        assert set(np.unique(entry["uv_vis"][:, 2])) <= {0.0, 1.0}
        np.testing.assert_array_equal(entry["K"][2], [0, 0, 1])
        base = dataset / "RHD_published_v2" / "training"
        color = cv2.imread(str(base / "color" / f"{i:05d}.png"), cv2.IMREAD_UNCHANGED)
        depth = cv2.imread(str(base / "depth" / f"{i:05d}.png"), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(base / "mask" / f"{i:05d}.png"), cv2.IMREAD_UNCHANGED)
        assert color.shape == (320, 320, 3) and depth.shape == (320, 320, 3) and mask.shape == (320, 320)
        assert np.all(depth[..., 0] == 0) and mask.max() <= 33
        hand = mask >= 2
        d = _rhd_depth_mm(base / "depth" / f"{i:05d}.png")
        assert np.all(d[hand] < d[~hand].max())  # the hands are in front of the far background


def test_stb_images_and_labels_have_the_published_shapes(dataset):
    for seq in SEQUENCES:
        hand_para = scipy.io.loadmat(str(dataset / "STB" / "labels" / f"{seq}_SK.mat"))["handPara"]
        assert hand_para.shape == (3, 21, 2) and hand_para.dtype == np.float64
        assert np.all((hand_para[2] > 150) & (hand_para[2] < 1000))  # mm, in front of the camera
        for i in range(2):
            color = cv2.imread(str(dataset / "STB" / "images" / seq / f"SK_color_{i}.png"), cv2.IMREAD_UNCHANGED)
            depth = cv2.imread(str(dataset / "STB" / "images" / seq / f"SK_depth_{i}.png"), cv2.IMREAD_UNCHANGED)
            assert color.shape == (480, 640, 3) and depth.shape == (480, 640, 3)
            assert np.all(depth[..., 0] == 0)  # B unused; depth = R + 256 G


def test_manifest_marks_completion_and_a_complete_folder_is_left_alone(dataset):
    manifest = generation.read_manifest(dataset)
    assert manifest["complete"] and manifest["seed"] == SEED and manifest["stb_frames"] == 2
    assert generation.is_complete(dataset, seed=SEED, **SIZES)
    assert not generation.is_complete(dataset, seed=SEED + 1, **SIZES)
    before = {p: p.stat().st_mtime_ns for p in _all_files(dataset)}
    generation.generate(dataset, seed=SEED, workers=1, progress=False, **SIZES)
    assert {p: p.stat().st_mtime_ns for p in _all_files(dataset)} == before


def test_same_seed_same_bytes_with_any_worker_count_and_another_seed_differs(dataset, tmp_path):
    generation.generate(tmp_path / "again", seed=SEED, workers=2, progress=False, **SIZES)
    ours, again = _all_files(dataset), _all_files(tmp_path / "again")
    assert [p.relative_to(dataset) for p in ours] == [p.relative_to(tmp_path / "again") for p in again]
    for a, b in zip(ours, again):
        assert a.read_bytes() == b.read_bytes(), a
    generation.generate(tmp_path / "other", seed=SEED + 1, workers=1, progress=False, **SIZES)
    for name in ("RHD_published_v2/training/color/00000.png", "STB/images/B1Counting/SK_color_0.png"):
        assert (dataset / name).read_bytes() != (tmp_path / "other" / name).read_bytes()


def test_incomplete_folder_is_regenerated_and_foreign_data_refused(tmp_path):
    small = dict(rhd_train=1, rhd_eval=0, stb_frames=0)
    generation.generate(tmp_path / "a", seed=0, workers=1, progress=False, **small)
    manifest = generation.read_manifest(tmp_path / "a")
    generation._write_manifest(str(tmp_path / "a"), dict(manifest, complete=False))  # a killed run
    stale = tmp_path / "a" / "RHD_published_v2" / "training" / "color" / "00007.png"
    stale.write_bytes(b"left over")
    assert not generation.is_complete(tmp_path / "a", seed=0, **small)
    generation.generate(tmp_path / "a", seed=0, workers=1, progress=False, **small)
    assert generation.is_complete(tmp_path / "a", seed=0, **small) and not stale.exists()
    (tmp_path / "real" / "RHD_published_v2").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        generation.generate(tmp_path / "real", seed=0, workers=1, progress=False, **small)


def test_command_line_writes_a_complete_dataset(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    result = subprocess.run(
        [sys.executable, "-m", "awh_tf.data.procedural", "--out_dir", str(tmp_path), "--rhd_train", "1",
         "--rhd_eval", "1", "--stb_frames", "0", "--workers", "1"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert generation.is_complete(tmp_path, seed=0, rhd_train=1, rhd_eval=1, stb_frames=0)


# --- labels agree with the images ----------------------------------------------------------------


def test_rhd_uv_is_the_projection_of_xyz_with_the_sample_K(dataset):
    for entry in _rhd_annotations(dataset).values():
        uv = _project(entry["xyz"].astype(np.float64), entry["K"])
        np.testing.assert_allclose(entry["uv_vis"][:, :2], uv, atol=2e-3)


def test_rhd_visible_keypoints_lie_on_their_hand_in_mask_and_depth(dataset):
    base = dataset / "RHD_published_v2" / "training"
    n_visible = 0
    for i, entry in _rhd_annotations(dataset).items():
        mask = cv2.imread(str(base / "mask" / f"{i:05d}.png"), cv2.IMREAD_UNCHANGED)
        depth = _rhd_depth_mm(base / "depth" / f"{i:05d}.png")
        for hand, (lo, hi) in enumerate(((2, 17), (18, 33))):
            sl = slice(21 * hand, 21 * hand + 21)
            visible = entry["uv_vis"][sl, 2] == 1
            u, v = np.rint(entry["uv_vis"][sl, :2][visible]).astype(int).T
            z = entry["xyz"][sl, 2][visible] * 1000.0
            assert np.all((mask[v, u] >= lo) & (mask[v, u] <= hi))
            # The surface seen there is the joint's own: in front of its centre by at most its radius
            # (up to ~23 mm for a large wrist) plus the 3 mm tolerance; a fingertip keypoint is on the
            # surface, which curves away from it within the pixel's rounding.
            assert np.all((depth[v, u] <= z + 3.0) & (depth[v, u] >= z - 27.0))
            n_visible += visible.sum()
    assert n_visible > 40


def test_rhd_the_labelled_hand_dominates_the_mask(dataset):
    base = dataset / "RHD_published_v2" / "training"
    for i, entry in _rhd_annotations(dataset).items():
        mask = cv2.imread(str(base / "mask" / f"{i:05d}.png"), cv2.IMREAD_UNCHANGED)
        left, right = np.count_nonzero((mask >= 2) & (mask <= 17)), np.count_nonzero(mask >= 18)
        dominant = slice(0, 21) if left > right else slice(21, 42)
        assert max(left, right) > 0 and entry["uv_vis"][dominant, 2].sum() > 0


def test_self_occlusion_happens_often_but_not_always():
    bank = domains.NoiseBank(0)
    inside = hidden = 0
    for i in range(25):
        frame = frames.rhd_frame(0, 0, i, bank)
        dominant = slice(0, 21) if frame.hand == "left" else slice(21, 42)
        uv = frame.uv[dominant]
        in_image = np.all((uv >= 0) & (uv <= 319), axis=1)
        inside += in_image.sum()
        hidden += (in_image & ~frame.visible[dominant]).sum()
    assert 0.05 < hidden / inside < 0.6


def test_hands_are_as_large_as_in_the_real_datasets():
    bank = domains.NoiseBank(0)
    rhd, stb = [], []
    for i in range(12):
        frame = frames.rhd_frame(0, 1, i, bank)
        uv = frame.uv[slice(0, 21) if frame.hand == "left" else slice(21, 42)]
        rhd.append(np.max(uv.max(axis=0) - uv.min(axis=0)))
        uv = frames.stb_frame(0, 5, i, bank).uv
        stb.append(np.max(uv.max(axis=0) - uv.min(axis=0)))
    # Keypoint boxes: the hand's silhouette adds a finger width, so ~40-120 px and ~150-300 px tall.
    assert 30 < min(rhd) and max(rhd) < 140 and 100 < min(stb) and max(stb) < 340


def test_stb_labels_in_the_depth_frame_project_onto_the_colour_keypoints(dataset):
    bank = domains.NoiseBank(SEED)
    for s, seq in enumerate(SEQUENCES[:4]):
        xyz_depth = _stb_hand_para(dataset, seq)[:, STB_TO_OURS]  # ours: palm at 0
        xyz_colour = (xyz_depth - SK_T) @ SK_R  # X_c = Rᵀ (X_d - t)
        for i in range(2):
            frame = frames.stb_frame(SEED, s, i, bank)
            np.testing.assert_allclose(_project(xyz_colour[i], SK_COLOR_K), frame.uv, atol=1e-3)
            assert 30.0 < np.linalg.norm(xyz_colour[i, 0] - xyz_colour[i, 12]) < 50.0  # palm -> middle MCP


def test_stb_depth_image_is_in_the_depth_camera(dataset):
    errors = []
    for seq in SEQUENCES:
        xyz_depth = _stb_hand_para(dataset, seq)
        for i in range(2):
            bgr = cv2.imread(str(dataset / "STB" / "images" / seq / f"SK_depth_{i}.png"), cv2.IMREAD_UNCHANGED)
            depth = bgr[..., 2].astype(np.float64) + 256.0 * bgr[..., 1]  # R + 256 G
            u, v = np.rint(_project(xyz_depth[i], SK_DEPTH_K)).astype(int).T
            ok = (u >= 0) & (u < 640) & (v >= 0) & (v < 480)
            d = depth[v[ok], u[ok]]
            errors += list(np.abs(d - xyz_depth[i, ok, 2])[d > 0])
    # Self-occlusion, holes and silhouette pixels make some keypoints miss; most see their own surface.
    assert np.median(errors) < 15.0 and len(errors) > 200


def test_real_looking_frames_carry_fine_texture_synthetic_ones_do_not(dataset):
    def texture(path):  # median grey-level detail over the image: smooth surfaces give ~0
        grey = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2GRAY).astype(np.float32)
        return np.median(np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 2.0)))

    rhd = [texture(p) for p in sorted((dataset / "RHD_published_v2" / "training" / "color").glob("*.png"))]
    stb = [texture(p) for p in sorted((dataset / "STB" / "images").glob("*/SK_color_*.png"))]
    assert np.median(stb) > 0.5 and np.median(stb) > 3.0 * np.median(rhd)


# --- round trips through the project's loaders ---------------------------------------------------


def test_rhd_loader_reads_what_the_generator_wrote(dataset):
    from awh_tf.data.rhd import RHDDataset

    anno = _rhd_annotations(dataset)
    ds = RHDDataset(dataset / "RHD_published_v2", "training")
    assert len(ds) == 6
    for i in range(len(ds)):
        sample = ds[i]
        hand = slice(0, 21) if sample["hand"] == "left" else slice(21, 42)
        xyz = anno[i]["xyz"][hand] * 1000.0
        np.testing.assert_allclose(sample["xyz"][1:], xyz[1:], atol=1e-3)
        np.testing.assert_allclose(sample["xyz"][0], 0.5 * (xyz[0] + xyz[12]), atol=1e-3)
        # The loader's palm uv is the midpoint of the two uvs (DESIGN.md §2), not a projection.
        np.testing.assert_allclose(sample["uv"][1:], _project(sample["xyz"][1:].astype(np.float64), sample["K"]),
                                   atol=2e-3)
        visible = sample["visible"].copy()
        visible[0] = False
        u, v = np.rint(sample["uv"][visible]).astype(int).T
        assert np.all(sample["mask"][v, u])
        d, z = sample["depth"][v, u], sample["xyz"][visible, 2]
        assert np.all((d <= z + 3.0) & (d >= z - 27.0))


def test_stb_loader_reads_what_the_generator_wrote(dataset):
    from awh_tf.data.stb import STBDataset

    bank = domains.NoiseBank(SEED)
    ds = STBDataset(dataset / "STB", sequences=["B1Counting", "B1Random"])
    assert len(ds) == 4
    close = []
    for i in range(len(ds)):
        sample = ds[i]
        frame = frames.stb_frame(SEED, i // 2, i % 2, bank)
        np.testing.assert_allclose(sample["uv"], frame.uv, atol=1e-3)
        u, v = np.rint(sample["uv"][frame.visible]).astype(int).T
        d, z = sample["depth"][v, u], sample["xyz"][frame.visible, 2]
        close += list((d > 0) & (np.abs(d - z) < 20.0))
    assert np.mean(close) > 0.6  # registered depth agrees at the visible keypoints (holes aside)
