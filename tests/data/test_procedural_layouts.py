"""The procedural real-looking domain in FreiHAND's layout and converted to COCO-style JSON.

The written files are read back with json / cv2 directly from the format descriptions first, then
through `FreiHANDDataset` and `CocoHandDataset`; the RHD/STB layout and its manifest are left alone.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from awh_tf.data import FreiHANDDataset
from awh_tf.data.coco import CocoHandDataset
from awh_tf.data.procedural import coco_layout, freihand_layout, generation

SEED = 2
SIZES = dict(train=5, evaluation=3)


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    out = tmp_path_factory.mktemp("layouts")
    coco_layout.generate_coco(out, seed=SEED, workers=1, progress=False, **SIZES)  # the FreiHAND layout first
    return out


def _files(root):
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file())


def test_writes_exactly_the_freihand_and_coco_layouts(out):
    expected = {freihand_layout.FREIHAND_MANIFEST, coco_layout.COCO_MANIFEST}
    for split, n in (("training", 5), ("evaluation", 3)):
        expected |= {f"FreiHAND_pub_v2/{split}_{k}.json" for k in ("K", "xyz", "scale")}
        expected |= {f"FreiHAND_pub_v2/{split}/rgb/{i:08d}.jpg" for i in range(n)}
    for name, n in (("train", 5), ("test", 3)):
        expected |= {f"COCO_hands/{name}.json"} | {f"COCO_hands/images/{name}/{i:08d}.jpg" for i in range(n)}
    assert set(_files(out)) == expected  # no RHD/STB, no procedural_manifest.json


def test_freihand_files_have_the_published_format(out):
    root = out / "FreiHAND_pub_v2"
    xyz = np.asarray(json.loads((root / "training_xyz.json").read_text()))
    K = np.asarray(json.loads((root / "training_K.json").read_text()))
    scale = np.asarray(json.loads((root / "training_scale.json").read_text()))
    assert xyz.shape == (5, 21, 3) and K.shape == (5, 3, 3) and scale.shape == (5,)
    assert np.all((xyz[..., 2] > 0.2) & (xyz[..., 2] < 2.0))  # metres
    np.testing.assert_array_equal(K[:, 2], [[0, 0, 1]] * 5)
    # FreiHAND's scale: the middle finger's MCP (9) -> PIP (10) bone, in metres.
    np.testing.assert_allclose(scale, np.linalg.norm(xyz[:, 9] - xyz[:, 10], axis=-1))
    # FreiHAND's order: each finger MCP -> tip, so its first bone (proximal phalanx) is longer than its last.
    for base in (5, 9, 13, 17):
        first = np.linalg.norm(xyz[:, base + 1] - xyz[:, base], axis=-1)
        last = np.linalg.norm(xyz[:, base + 3] - xyz[:, base + 2], axis=-1)
        assert np.all(first > last)
    image = cv2.imread(str(root / "training" / "rgb" / "00000000.jpg"))
    assert image.shape == (224, 224, 3)
    # The hand is where its labels project: the palm pixels differ from the image's far corners on average.
    uv = (xyz[0] @ K[0].T)[:, :2] / (xyz[0] @ K[0].T)[:, 2:]
    assert np.all((uv > -30) & (uv < 254))


def test_freihand_loader_reads_the_layout_and_the_hand_is_right(out):
    train = FreiHANDDataset(out / "FreiHAND_pub_v2", "training")
    test = FreiHANDDataset(out / "FreiHAND_pub_v2", "evaluation")
    assert len(train) == 5 and len(test) == 3 and train.num_versions == 1
    s = train[0]
    assert s["hand"] == "right" and s["depth"] is None and s["image"].shape == (224, 224, 3)
    # Chirality: the sign of det[index MCP, pinky MCP, thumb CMC] (each minus the palm) is a reflection's
    # invariant: one sign for every left hand of the hand model, the other for the written right hands.
    def side(xyz):
        rel = xyz[..., (8, 20, 4), :] - xyz[..., :1, :]
        return np.sign(np.linalg.det(rel))

    from awh_tf import keypoints
    from awh_tf.data.procedural import scene

    lefts = [keypoints.rhd_hand_to_ours(scene.posed(scene.sample_hand(np.random.default_rng(i), "left"),
                                                    np.zeros(3))[0])[0] for i in range(5)]
    assert np.all(side(np.stack(lefts)) == -1.0)
    assert np.all(side(train.annotations()["xyz"]) == 1.0)


def test_coco_conversion_keeps_images_and_projects_labels(out):
    data = json.loads((out / "COCO_hands" / "train.json").read_text())
    assert [im["file_name"] for im in data["images"]] == [f"train/{i:08d}.jpg" for i in range(5)]
    fh = out / "FreiHAND_pub_v2"
    xyz = np.asarray(json.loads((fh / "training_xyz.json").read_text()))
    K = np.asarray(json.loads((fh / "training_K.json").read_text()))
    for i, ann in enumerate(data["annotations"]):
        assert ann["image_id"] == i and ann["hand"] == "right" and "xyz" not in ann
        kpts = np.asarray(ann["keypoints"]).reshape(21, 3)
        p = xyz[i] @ K[i].T
        uv = p[:, :2] / p[:, 2:]
        inside = (uv >= -0.5).all(axis=1) & (uv < 223.5).all(axis=1)
        np.testing.assert_array_equal(kpts[:, 2], np.where(inside, 2, 0))
        np.testing.assert_allclose(kpts[inside, :2], uv[inside], atol=1e-3)
        assert ann["num_keypoints"] == inside.sum()
        assert (out / "COCO_hands" / "images" / "train" / f"{i:08d}.jpg").read_bytes() == \
            (fh / "training" / "rgb" / f"{i:08d}.jpg").read_bytes()


def test_coco_loader_reads_the_conversion_like_freihand(out):
    coco = CocoHandDataset(out / "COCO_hands" / "test.json", out / "COCO_hands" / "images")
    fh = FreiHANDDataset(out / "FreiHAND_pub_v2", "evaluation")
    assert len(coco) == 3
    for i in range(3):
        a, b = coco[i], fh[i]
        np.testing.assert_array_equal(a["image"], b["image"])
        v = a["visible"]
        v[0] = False  # the palm: 2D midpoint (COCO) vs projected 3D midpoint (FreiHAND), ~1 px apart
        np.testing.assert_allclose(a["uv"][v], b["uv"][v], atol=1e-3)
        assert a["hand"] == "right" and a["xyz"] is None


def test_same_seed_same_bytes_complete_folders_left_alone_and_foreign_data_refused(out, tmp_path):
    freihand_layout.generate_freihand(tmp_path / "again", seed=SEED, workers=2, progress=False, **SIZES)
    root = out / "FreiHAND_pub_v2"
    for name in _files(root):
        assert (root / name).read_bytes() == (tmp_path / "again" / "FreiHAND_pub_v2" / name).read_bytes(), name
    before = {p: os.stat(out / p).st_mtime_ns for p in _files(out)}
    coco_layout.generate_coco(out, seed=SEED, workers=1, progress=False, **SIZES)
    assert {p: os.stat(out / p).st_mtime_ns for p in _files(out)} == before
    assert coco_layout.is_complete(out, seed=SEED, **SIZES) and not coco_layout.is_complete(out, seed=SEED + 1, **SIZES)
    (tmp_path / "real" / "FreiHAND_pub_v2").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        freihand_layout.generate_freihand(tmp_path / "real", seed=0, workers=1, progress=False, **SIZES)


def test_the_rhd_stb_layout_and_its_manifest_are_independent(tmp_path):
    generation.generate(tmp_path, seed=0, rhd_train=1, rhd_eval=0, stb_frames=0, workers=1, progress=False)
    before = {p: (tmp_path / p).read_bytes() for p in _files(tmp_path)}
    freihand_layout.generate_freihand(tmp_path, seed=0, train=1, evaluation=1, workers=1, progress=False)
    assert all((tmp_path / p).read_bytes() == b for p, b in before.items())
    assert generation.is_complete(tmp_path, seed=0, rhd_train=1, rhd_eval=0, stb_frames=0)


def test_command_line_writes_the_coco_layout(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    result = subprocess.run(
        [sys.executable, "-m", "awh_tf.data.procedural", "--out_dir", str(tmp_path), "--layout", "coco",
         "--freihand_train", "2", "--freihand_eval", "1", "--workers", "1"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert coco_layout.is_complete(tmp_path, seed=0, train=2, evaluation=1)
    assert "wrote 3 frames (coco)" in result.stdout


def test_make_coco_example_tool_writes_a_readable_example(tmp_path):
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root))
    result = subprocess.run([sys.executable, str(root / "tools" / "make_coco_example.py"), "--out_dir",
                             str(tmp_path / "ex"), "--num_train", "3", "--num_test", "2"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert len(CocoHandDataset(tmp_path / "ex" / "train.json", tmp_path / "ex" / "images")) == 3
    assert len(CocoHandDataset(tmp_path / "ex" / "test.json", tmp_path / "ex" / "images")) == 2
    result = subprocess.run([sys.executable, str(root / "tools" / "make_coco_example.py"), "--out_dir",
                             str(tmp_path / "x"), "--freihand_root", str(tmp_path / "none")],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 1 and result.stderr.startswith(f"error: {tmp_path / 'none'}: FreiHAND root folder")
