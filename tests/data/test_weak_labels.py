"""Weak labels are weak: outside the oracle budget, the real domain's training batches do not depend on
its 3D labels.

Two STB folders hold the same colour and depth images; the second's labels are the first's scaled along
their camera rays (``xyz -> k·xyz`` in the colour frame), which keeps every 2D keypoint where it was but
changes every 3D quantity (root depth, bone length, relative depths). Whatever the training stream reads
of a real frame must then come out bit-identical — unless the budget includes 3D.
"""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from awh_tf.config import PipelineConfig
from awh_tf.data import STBDataset, pipeline, transform
from awh_tf.data.precrop_cache import PrecropCache
from awh_tf.data.sk_cameras import SK_DEPTH_K, SK_R, SK_T_MM
from tests.data import fixtures
from tests.data.test_pipeline import FakeHands

H, W = fixtures.STB_HW
SEQUENCES = ("B2Counting", "B2Random")
K_SCALE = 1.5
CFG = PipelineConfig(input_size=32, depth_size=16, num_parallel_calls=2, prefetch=1)


def _colour_frame_labels(f):
    """[21, 3] mm, colour frame, STB order: a hand-sized cloud around (20 + 5 f, 10, 480) mm."""
    rng = np.random.default_rng(f)
    xyz = np.array([20.0 + 5 * f, 10.0, 480.0]) + rng.normal(0.0, 30.0, (21, 3)) * [1.0, 1.0, 0.5]
    return xyz


def _depth_image(xyz_colour):
    """The depth camera's image of the hand: a disk at each keypoint's depth on a far, cluttered wall."""
    rng = np.random.default_rng(0)
    depth = np.round(rng.uniform(1200, 1500, (H, W)))
    xyz_depth = xyz_colour @ SK_R.T + SK_T_MM
    uvw = xyz_depth @ SK_DEPTH_K.T
    for k in np.argsort(-xyz_depth[:, 2]):
        u, v = uvw[k, :2] / uvw[k, 2]
        cv2.circle(depth, (int(round(u)), int(round(v))), 9, float(round(xyz_depth[k, 2])), -1)
    return depth


def _write(root, scale):
    for s, seq in enumerate(SEQUENCES):
        frames = range(3 * s, 3 * s + 3)
        labels = [_colour_frame_labels(f) for f in frames]
        colors = [np.random.default_rng(f).integers(0, 255, (H, W, 3), dtype=np.uint8) for f in frames]
        depths = [fixtures.stb_depth_bytes(_depth_image(x)) for x in labels]
        scaled = np.stack([scale * x @ SK_R.T + SK_T_MM for x in labels])  # colour -> depth frame
        fixtures.write_stb_sequence(root, seq, np.transpose(scaled, (2, 1, 0)), colors, depths)
    return STBDataset(root, sequences=SEQUENCES, depth_region="hand")


@pytest.fixture(scope="module")
def real_pair(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("weak")
    return _write(tmp / "plain", 1.0), _write(tmp / "scaled", K_SCALE)


def _target_batches(real, budget, steps=3, fraction=1.0, cache=False):
    target = PrecropCache(real, CFG.input_size) if cache else real
    ds = pipeline.make_train_dataset(FakeHands(4), target, CFG, 4, seed=3, target_budget=budget,
                                     target_fraction=fraction, label_seed=5)
    return [batch["target"] for batch in ds.take(steps).as_numpy_iterator()]


def test_scaling_keeps_2d_and_changes_3d(real_pair):
    plain, scaled = real_pair
    a, b = plain.annotations(), scaled.annotations()
    np.testing.assert_array_equal(a["uv"], b["uv"])
    np.testing.assert_array_equal(a["visible"], b["visible"])
    assert a["visible"].mean() > 0.9
    np.testing.assert_allclose(b["xyz"], K_SCALE * a["xyz"], rtol=1e-5)
    # The hand-box registration reads the depth image and the 2D keypoints only.
    np.testing.assert_array_equal(plain[1]["depth"], scaled[1]["depth"])
    assert np.count_nonzero(plain[1]["depth"]) > 1000


@pytest.mark.parametrize("budget", ["none", "2d", "2d_depth"])
@pytest.mark.parametrize("cache", [False, True])
def test_real_training_batches_do_not_depend_on_3d_labels(real_pair, budget, cache):
    plain, scaled = real_pair
    a, b = _target_batches(plain, budget, cache=cache), _target_batches(scaled, budget, cache=cache)
    tf.nest.map_structure(np.testing.assert_array_equal, a, b)
    for batch in a:
        assert not batch["has_3d"].any() and not batch["xyz"].any() and not batch["z_rel"].any()
        assert not batch["scale"].any() and not batch["root_depth"].any()
        assert (batch["has_2d"] == (budget != "none")).all()
        # A frame whose hand has no measured depth after augmentation gets no depth label (has_depth false).
        assert batch["has_depth"].mean() >= (0.5 if budget == "2d_depth" else 0.0)
        assert batch["has_depth"].any() == (budget == "2d_depth")
        np.testing.assert_array_equal(batch["depth_target"].any(axis=(1, 2)), batch["has_depth"])


def test_the_oracle_budget_does_see_3d(real_pair):
    # The counter-check: with 3D in the budget the same comparison must differ, or the test above is void.
    plain, scaled = real_pair
    a, b = _target_batches(plain, "3d"), _target_batches(scaled, "3d")
    np.testing.assert_array_equal(a[0]["uv"], b[0]["uv"])
    np.testing.assert_array_equal(a[0]["depth_target"], b[0]["depth_target"])  # Eq. 9 is 2D + depth
    np.testing.assert_allclose(b[0]["root_depth"], K_SCALE * a[0]["root_depth"], rtol=1e-5)
    assert a[0]["has_3d"].all() and np.all(a[0]["scale"] > 0)


def test_label_fraction_picks_frames_by_seed():
    chosen = transform.labelled_frames(10, 0.3, seed=5)
    assert chosen.sum() == 3 and (chosen == transform.labelled_frames(10, 0.3, seed=5)).all()
    assert not (chosen == transform.labelled_frames(10, 0.3, seed=6)).all()
    assert transform.labelled_frames(10, 1.0, 0).all() and not transform.labelled_frames(10, 0.0, 0).any()
    labels_of = transform.target_labels(10, "2d", 0.3, seed=5)
    assert [labels_of(i).has_2d for i in range(10)] == list(chosen)
    with pytest.raises(ValueError, match="target_labels"):
        transform.budget_labels("depth")


def test_unlabelled_frames_still_come_but_carry_no_labels(real_pair):
    plain, _ = real_pair
    batches = _target_batches(plain, "2d_depth", steps=3, fraction=0.5)
    has_2d = np.concatenate([b["has_2d"] for b in batches])
    index = np.concatenate([b["index"] for b in batches])
    chosen = transform.labelled_frames(len(plain), 0.5, seed=5)
    np.testing.assert_array_equal(has_2d, chosen[index])
    assert has_2d.any() and not has_2d.all()
    for b in batches:
        assert not b["depth_target"][~b["has_depth"]].any()


# --- FreiHAND and COCO-style hands: the 2D-only real domains ---------------------------------------------


def _write_freihand(root, scale):
    """A FreiHAND folder (published layout) of 4 frames whose 3D labels are ``scale`` times a base hand
    (along the camera rays: the projections, hence uv, do not change)."""
    import json

    n, size = 4, 64
    xyz_m, Ks = [], []
    for f in range(n):
        rng = np.random.default_rng(f)
        xyz_m.append((np.array([0.0, 0.0, 0.4]) + rng.normal(0.0, 0.03, (21, 3)) * [1.0, 1.0, 0.3]) * scale)
        Ks.append([[150.0 + f, 0.0, 31.5], [0.0, 150.0, 31.5], [0.0, 0.0, 1.0]])
    root.mkdir(parents=True)
    (root / "training_xyz.json").write_text(json.dumps([x.tolist() for x in xyz_m]))
    (root / "training_K.json").write_text(json.dumps(Ks))
    (root / "training" / "rgb").mkdir(parents=True)
    for f in range(n):
        image = np.random.default_rng(10 + f).integers(0, 255, (size, size, 3), dtype=np.uint8)
        assert cv2.imwrite(str(root / "training" / "rgb" / f"{f:08d}.jpg"), image)
    from awh_tf.data import FreiHANDDataset

    return FreiHANDDataset(root, "training")


@pytest.fixture(scope="module")
def freihand_pair(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("weak_freihand")
    return _write_freihand(tmp / "plain", 1.0), _write_freihand(tmp / "scaled", K_SCALE)


@pytest.mark.parametrize("budget", ["none", "2d", "2d_depth"])
def test_freihand_training_batches_do_not_depend_on_3d_labels(freihand_pair, budget):
    plain, scaled = freihand_pair
    np.testing.assert_allclose(scaled.annotations()["xyz"], K_SCALE * plain.annotations()["xyz"], rtol=1e-5)
    np.testing.assert_allclose(scaled.annotations()["uv"], plain.annotations()["uv"], atol=1e-4)
    # FreiHAND's uv are projections of its xyz: equal to float rounding, so compare the batches to that rounding.
    a, b = _target_batches(plain, budget), _target_batches(scaled, budget)
    tf.nest.map_structure(lambda x, y: np.testing.assert_allclose(x, y, atol=2e-4), a, b)
    for batch in a:
        assert not batch["has_3d"].any() and not batch["xyz"].any() and not batch["z_rel"].any()
        # No depth image: "2d_depth" trains exactly as "2d" (the config refuses to call it 2d_depth).
        assert not batch["has_depth"].any() and not batch["depth_target"].any()
        assert (batch["has_2d"] == (budget != "none")).all()


def test_freihand_oracle_budget_does_see_3d(freihand_pair):
    plain, scaled = freihand_pair
    a, b = _target_batches(plain, "3d"), _target_batches(scaled, "3d")
    np.testing.assert_allclose(b[0]["root_depth"], K_SCALE * a[0]["root_depth"], rtol=1e-4)
    assert a[0]["has_3d"].all()


def test_coco_real_domain_has_no_3d_to_leak(tmp_path):
    # The COCO loader has no 3D at all (xyz None); whatever the budget, nothing 3D reaches a batch. Its
    # annotations are the FreiHAND frames above projected to 2D, so the two 2D streams must agree.
    import json

    from awh_tf.data.coco import CocoHandDataset

    freihand = _write_freihand(tmp_path / "fh", 1.0)
    ann = freihand.annotations()
    images, annotations = [], []
    for i in range(len(freihand)):
        (tmp_path / "img").mkdir(exist_ok=True)
        jpeg = (tmp_path / "fh" / "training" / "rgb" / f"{i:08d}.jpg").read_bytes()
        (tmp_path / "img" / f"{i}.jpg").write_bytes(jpeg)
        xyz = np.asarray(json.loads((tmp_path / "fh" / "training_xyz.json").read_text())[i])
        K = np.asarray(json.loads((tmp_path / "fh" / "training_K.json").read_text())[i])
        p = xyz @ K.T
        uv = p[:, :2] / p[:, 2:]  # FreiHAND's order is COCO's hand order
        images.append({"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 64})
        annotations.append({"id": i, "image_id": i, "hand": "right",
                            "keypoints": [float(v) for row in np.c_[uv, np.full(21, 2)] for v in row]})
    (tmp_path / "hands.json").write_text(json.dumps({"images": images, "annotations": annotations}))
    coco = CocoHandDataset(tmp_path / "hands.json", tmp_path / "img")
    np.testing.assert_allclose(coco.annotations()["uv"][:, 1:], ann["uv"][:, 1:], atol=1e-3)
    for budget in ("none", "2d", "3d"):
        for batch in _target_batches(coco, budget):
            assert not batch["has_3d"].any() and not batch["xyz"].any() and not batch["scale"].any()
            assert not batch["has_depth"].any() and (batch["has_2d"] == (budget != "none")).all()
