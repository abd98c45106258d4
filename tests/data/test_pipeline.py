"""Input pipeline: labels stay consistent through mirror/crop/rotation (eagerly and in tf.data), the
depth target, resumable and seeded streams, and bad-sample handling."""

import dataclasses

import cv2
import numpy as np
import pytest
import tensorflow as tf

from awh_tf import geometry
from awh_tf.config import PipelineConfig
from awh_tf.data import bad_samples, pipeline, transform
from awh_tf.data.errors import DataError
from awh_tf.keypoints import mirror_K, mirror_uv, mirror_xyz

BACKGROUND_MM = 3000.0  # far beyond any depth window
OCCLUDER_MM = 100.0  # in front of any depth window


class FakeHands:
    """A loader-shaped in-memory dataset of random 3D hands (deterministic per index).

    Colour: dark random texture with a white 5x5 marker on the palm (keypoint 0). Depth: a disk per
    keypoint at that keypoint's Z (nearer disks drawn last), background ``BACKGROUND_MM``; with
    ``with_mask`` the disks are the mask, without it (STB-like) an occluder disk at ``OCCLUDER_MM``
    covers part of the hand.
    """

    def __init__(self, n, domain=0, size=(120, 160), right=(), bad=(), with_mask=True, seed=0):
        self.n, self.domain, self.size = n, domain, size
        self.right, self.bad, self.with_mask, self.seed = set(right), set(bad), with_mask, seed

    def __len__(self):
        return self.n

    def _labels(self, i):
        rng = np.random.default_rng([self.seed, i])
        h, w = self.size
        f = rng.uniform(180.0, 220.0)
        K = np.array([[f, 0.0, w / 2 + rng.uniform(-5, 5)], [0.0, f * 1.02, h / 2], [0.0, 0.0, 1.0]])
        root = np.array([rng.uniform(-40, 40), rng.uniform(-30, 30), rng.uniform(450, 550)])
        xyz = root + rng.normal(0.0, 35.0, (21, 3)) * [1.0, 1.0, 0.5]
        xyz[0] = root
        visible = rng.uniform(size=21) > 0.2
        return xyz.astype(np.float32), K.astype(np.float32), visible

    def __getitem__(self, i):
        if i in self.bad:
            raise DataError.at(f"fake/{i:05d}.png", "truncated PNG (no IEND chunk at the end)", i)
        xyz, K, visible = self._labels(i)
        uv = geometry.project(xyz, K)
        h, w = self.size
        rng = np.random.default_rng([self.seed, i, 1])
        image = rng.integers(0, 150, (h, w, 3), dtype=np.uint8)
        u0, v0 = np.round(uv[0]).astype(int)
        image[v0 - 2:v0 + 3, u0 - 2:u0 + 3] = 255
        depth = np.full((h, w), BACKGROUND_MM, np.float32)
        mask = np.zeros((h, w), np.uint8)
        for k in np.argsort(-xyz[:, 2]):
            centre = tuple(int(c) for c in np.round(uv[k]))
            cv2.circle(depth, centre, 5, float(xyz[k, 2]), -1)
            cv2.circle(mask, centre, 5, 1, -1)
        if not self.with_mask:
            cv2.circle(depth, tuple(int(c) for c in np.round(uv[5])), 3, OCCLUDER_MM, -1)
        return {"image": image, "depth": depth, "mask": mask.astype(bool) if self.with_mask else None,
                "uv": uv, "xyz": xyz, "visible": visible, "K": K,
                "hand": "right" if i in self.right else "left", "index": i, "domain": self.domain,
                "name": f"fake/{i:05d}"}

    def annotations(self):
        labels = [self._labels(i) for i in range(self.n)]
        xyz = np.stack([x for x, _, _ in labels])
        K = np.stack([k for _, k, _ in labels])
        return {"uv": geometry.project(xyz, K), "xyz": xyz, "visible": np.stack([v for _, _, v in labels]),
                "K": K, "hand": np.array(["right" if i in self.right else "left" for i in range(self.n)])}


SMALL = PipelineConfig(input_size=32, depth_size=8, num_parallel_calls=2, prefetch=1)
# Strong geometric jitter, no colour change: the palm marker stays the crop's brightest spot.
ROTATING = dataclasses.replace(SMALL, input_size=64, rotation_deg=180.0, brightness=0.0, contrast=0.0,
                               saturation=0.0, channel_gain=0.0, blur_prob=0.0, noise_prob=0.0)


@pytest.fixture
def log():
    return bad_samples.BadSampleLog()


def _z_rel_by_hand(xyz):
    scale = np.linalg.norm(xyz[..., 0, :] - xyz[..., 12, :], axis=-1)
    return (xyz[..., 2] - xyz[..., :1, 2]) / scale[..., None]


def _assert_consistent(el, marker=True):
    """uv = projection of xyz through crop_K; z_rel by Eq. 7; the palm marker sits at uv[0]."""
    np.testing.assert_allclose(geometry.project(el["xyz"], el["crop_K"]), el["uv"], atol=2e-3)
    np.testing.assert_allclose(el["z_rel"], _z_rel_by_hand(el["xyz"].astype(np.float64)), atol=1e-5)
    if marker:
        for image, uv in zip(np.reshape(el["image"], (-1,) + el["image"].shape[-3:]),
                             np.reshape(el["uv"], (-1, 21, 2))):
            grey = image.min(axis=-1)
            marker = np.argwhere(grey >= grey.max() - 0.02)[:, ::-1]  # (u, v) of the white plateau
            assert grey.max() > 0.8 and np.all(np.abs(marker.mean(axis=0) - uv[0]) <= 1.0)


@pytest.mark.parametrize("hand", ["left", "right"])
def test_process_sample_eager_keeps_labels_consistent(hand):
    ds = FakeHands(4, right=[1, 3])
    for i in ([0, 2] if hand == "left" else [1, 3]):
        el = transform.process_sample(ds[i], ROTATING, np.random.default_rng(i))
        _assert_consistent(el)
        assert el["image"].shape == (64, 64, 3) and el["image"].dtype == np.float32
        assert el["depth_target"].shape == (8, 8)


def test_tf_data_keeps_labels_consistent():
    ds = FakeHands(5, right=[2, 4])
    batch = next(iter(pipeline.make_source_dataset(ds, ROTATING, 4, seed=3)))
    el = {k: v.numpy() for k, v in batch.items()}
    _assert_consistent(el)
    assert el["image"].shape == (4, 64, 64, 3) and el["has_3d"].all() and (el["domain"] == 0).all()


def test_batches_are_the_seeded_per_sample_processing():
    # The map processes a chunk of samples per call; each element must still be exactly process_sample of
    # that sample with its own generator (seed, stream, epoch, index), in the epoch's permuted order.
    source, target = FakeHands(5, right=[3]), FakeHands(3, domain=1, seed=1, with_mask=False)
    batches = _take(pipeline.make_train_dataset(source, target, SMALL, 4, seed=7), 3)
    for stream, key, ds in ((pipeline.SOURCE_STREAM, "source", source), (pipeline.TARGET_STREAM, "target", target)):
        n = len(ds)
        order = np.concatenate([pipeline.epoch_order(n, 7, stream, e) for e in range(3)])
        got = np.concatenate([b[key]["index"] for b in batches])
        np.testing.assert_array_equal(got, order[:6])
        for position, index in enumerate(got):
            epoch = position // n
            # The real domain carries the default budget's labels (2D + depth, no 3D); the synthetic one all.
            labels = transform.ALL_LABELS if key == "source" else transform.budget_labels("2d_depth")
            expect = transform.process_sample(ds[index], SMALL, np.random.default_rng([7, stream, epoch, index]),
                                             labels=labels)
            b, row = batches[position // 2][key], position % 2
            for field in transform.FIELDS:
                np.testing.assert_array_equal(b[field][row], expect[field], err_msg=f"{key} {position} {field}")


def test_skip_mode_keeps_training_batches_full(log):
    ds = FakeHands(5, bad=[2])
    cfg = dataclasses.replace(SMALL, on_bad_sample="skip")
    batches = _take(pipeline.make_source_dataset(ds, cfg, 3, seed=0, log=log), 4)
    indices = np.concatenate([b["index"] for b in batches])
    assert all(len(b["index"]) == 3 for b in batches) and 2 not in indices
    assert sorted(indices[:4]) == [0, 1, 3, 4]  # the first epoch without the bad sample


def test_labels_the_codec_refuses_are_a_data_error_naming_the_sample(log):
    class ZeroBone(FakeHands):
        def __getitem__(self, i):
            sample = super().__getitem__(i)
            if i == 1:
                sample["xyz"] = sample["xyz"].copy()
                sample["xyz"][12] = sample["xyz"][0]
            return sample

    dataset = pipeline.make_eval_dataset(ZeroBone(3), SMALL, 3, log=log)
    with pytest.raises(DataError, match=r"fake/00001: sample 1: .*zero-length reference bone"):
        with bad_samples.surface_data_errors(log):
            _take(dataset, 1)


def test_mirrored_sample_is_the_flip_the_formula_says():
    ds = FakeHands(1, right=[0])
    sample = ds[0]
    mirrored = transform.process_sample(sample, SMALL)
    plain = transform.process_sample(sample, dataclasses.replace(SMALL, mirror_right=False))
    S = SMALL.input_size
    # The crop box is symmetric, so mirroring the image flips the crop: u' = S - 1 - u, X' = -X.
    np.testing.assert_allclose(mirrored["uv"], np.stack([S - 1 - plain["uv"][:, 0], plain["uv"][:, 1]], 1),
                               atol=1e-3)
    np.testing.assert_allclose(mirrored["xyz"], plain["xyz"] * [-1, 1, 1])
    np.testing.assert_allclose(mirrored["z_rel"], plain["z_rel"], atol=1e-6)
    # Equal up to OpenCV's 1/32 px coordinate quantisation times the texture's gradient.
    np.testing.assert_allclose(mirrored["image"], plain["image"][:, ::-1], atol=0.03)
    # Same as handing the pipeline a left hand mirrored by DESIGN.md §2's formulas.
    w = sample["image"].shape[1]
    left = dict(sample, hand="left", image=sample["image"][:, ::-1], depth=sample["depth"][:, ::-1],
                mask=sample["mask"][:, ::-1], uv=mirror_uv(sample["uv"], w), xyz=mirror_xyz(sample["xyz"]),
                K=mirror_K(sample["K"], w))
    by_formula = transform.process_sample(left, SMALL)
    for key in transform.FIELDS:
        np.testing.assert_allclose(mirrored[key], by_formula[key], atol=1e-5, err_msg=key)


@pytest.mark.parametrize("with_mask", [True, False])
def test_depth_target_in_unit_range_and_zero_off_the_hand(with_mask):
    ds = FakeHands(3, domain=0 if with_mask else 1, with_mask=with_mask)
    cfg = dataclasses.replace(SMALL, depth_size=32)
    for i in range(3):
        sample, el = ds[i], transform.process_sample(ds[i], cfg)
        # Without augmentation A = crop_K K^-1; the target is the depth cropped with it (S = D here).
        A = el["crop_K"].astype(np.float64) @ np.linalg.inv(sample["K"])
        raw = cv2.warpAffine(sample["depth"], A[:2], (32, 32), flags=cv2.INTER_NEAREST)
        target = el["depth_target"]
        assert target.min() >= 0.0 and target.max() <= 1.0 and (target > 0).sum() > 20
        assert np.all(target[(raw == BACKGROUND_MM) | (raw == OCCLUDER_MM) | (raw == 0)] == 0.0)
        # Eq. 9 on the hand: target = (d_max - d) / d_range, clipped to [0, 1], with d_max and d_range the
        # hand's own depth statistics (98th percentile and 98th - 2nd range of its measured depth).
        inside = (target > 0) & (target < 1)
        slope, intercept = np.polyfit(raw[inside].astype(np.float64), target[inside], 1)
        np.testing.assert_allclose(target[inside], slope * raw[inside] + intercept, atol=1e-4)
        d_range, d_max = -1.0 / slope, -intercept / slope
        hand = raw[target > 0]  # the hand's pixels nearer than d_max (those beyond it clip to 0)
        assert OCCLUDER_MM < hand.min() <= d_max - d_range + 1e-3 and hand.max() <= d_max + 1e-3 < BACKGROUND_MM
        assert 10.0 - 1e-3 <= d_range <= 2 * SMALL.hand_depth_band_mm  # the floor; the band around the hand


def test_sample_without_depth_gets_an_all_zero_target():
    sample = dict(FakeHands(1, right=[0])[0], depth=None)
    el = transform.process_sample(sample, SMALL)
    assert el["depth_target"].shape == (8, 8) and not el["depth_target"].any()


def _take(dataset, n):
    return [tf.nest.map_structure(lambda t: t.numpy(), b) for b in dataset.take(n)]


def _assert_same(a, b):
    tf.nest.map_structure(np.testing.assert_array_equal, a, b)


def test_start_step_resumes_the_same_stream():
    source, target = FakeHands(5), FakeHands(3, domain=1, seed=1, with_mask=False)
    full = _take(pipeline.make_train_dataset(source, target, SMALL, 4, seed=7), 6)
    resumed = _take(pipeline.make_train_dataset(source, target, SMALL, 4, seed=7, start_step=4), 2)
    _assert_same(full[4:], resumed)
    # Both streams cycle independently: every real sample appears once per 3 samples, shuffled.
    target_idx = np.concatenate([b["target"]["index"] for b in full])
    assert sorted(target_idx[:3]) == [0, 1, 2] and sorted(target_idx[3:6]) == [0, 1, 2]
    assert not full[0]["target"]["has_3d"].any() and (full[0]["target"]["domain"] == 1).all()


def test_same_seed_same_batches_other_seed_differs():
    ds = FakeHands(6, right=[1])
    a = _take(pipeline.make_source_dataset(ds, SMALL, 3, seed=11), 3)
    b = _take(pipeline.make_source_dataset(ds, SMALL, 3, seed=11), 3)
    c = _take(pipeline.make_source_dataset(ds, SMALL, 3, seed=12), 3)
    _assert_same(a, b)
    assert not all(np.array_equal(x["image"], y["image"]) for x, y in zip(a, c))


def test_eval_dataset_is_every_sample_in_order_unaugmented():
    ds = FakeHands(5)
    batches = _take(pipeline.make_eval_dataset(ds, SMALL, 2), 10)
    assert [len(b["index"]) for b in batches] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate([b["index"] for b in batches]), np.arange(5))
    np.testing.assert_allclose(batches[0]["image"][1], transform.process_sample(ds[1], SMALL)["image"])


def test_skip_mode_drops_bad_sample_and_counts_it(log):
    ds = FakeHands(5, bad=[2])
    cfg = dataclasses.replace(SMALL, on_bad_sample="skip")
    batches = _take(pipeline.make_eval_dataset(ds, cfg, 2, log=log), 10)
    np.testing.assert_array_equal(np.concatenate([b["index"] for b in batches]), [0, 1, 3, 4])
    assert log.count == 1
    report = log.report()
    assert "skipped 1" in report and "#2" in report and "fake/00002.png: sample 2: truncated PNG" in report


def test_raise_mode_surfaces_the_one_line_message(log):
    ds = FakeHands(4, bad=[1])
    dataset = pipeline.make_eval_dataset(ds, SMALL, 1, log=log)
    with pytest.raises(DataError) as info:
        with bad_samples.surface_data_errors(log):
            _take(dataset, 4)
    assert str(info.value) == "fake/00001.png: sample 1: truncated PNG (no IEND chunk at the end)"
    assert info.value.index == 1


def test_raise_mode_without_a_log_still_surfaces_the_one_line_message():
    # No module-level log: a dataset built without one, iterated under surface_data_errors() without one,
    # still ends in the loader's one line (rebuilt from tf.data's wrapped message), not an OpError.
    dataset = pipeline.make_eval_dataset(FakeHands(4, bad=[2]), SMALL, 1)
    with pytest.raises(DataError) as info:
        with bad_samples.surface_data_errors():
            _take(dataset, 4)
    assert str(info.value) == "fake/00002.png: sample 2: truncated PNG (no IEND chunk at the end)"


def test_two_datasets_keep_their_own_bad_sample_logs():
    cfg = dataclasses.replace(SMALL, on_bad_sample="skip")
    first, second = bad_samples.BadSampleLog(), bad_samples.BadSampleLog()
    _take(pipeline.make_eval_dataset(FakeHands(4, bad=[1]), cfg, 1, log=first), 3)
    _take(pipeline.make_eval_dataset(FakeHands(4, bad=[0, 3]), cfg, 1, log=second), 2)
    assert sorted(first.skipped) == [("eval", 1)] and sorted(second.skipped) == [("eval", 0), ("eval", 3)]


def test_skip_mode_refuses_an_all_bad_dataset(log):
    cfg = dataclasses.replace(SMALL, on_bad_sample="skip")
    dataset = pipeline.make_source_dataset(FakeHands(2, bad=[0, 1]), cfg, 1, seed=0, log=log)
    with pytest.raises(tf.errors.OpError, match="all 2 samples are bad"):
        _take(dataset, 1)


def test_config_and_arguments_are_checked():
    with pytest.raises(ValueError, match="on_bad_sample"):
        PipelineConfig(on_bad_sample="ignore")
    with pytest.raises(ValueError, match="batch_size"):
        pipeline.make_train_dataset(FakeHands(2), FakeHands(2), SMALL, 3)


def _write_rhd(root, hands):
    """A 2-sample RHD training split written from the format description (DESIGN.md §3).

    Sample i's dominant (larger-mask) hand is ``hands[i]``; its keypoints are FakeHands' with the wrist
    and the middle MCP at one depth, so the palm's uv (the midpoint) is the projection of its xyz.
    """
    import pickle

    split = root / "RHD_published_v2" / "training"
    for sub in ("color", "depth", "mask"):
        (split / sub).mkdir(parents=True)
    fake, anno = FakeHands(len(hands), size=(320, 320)), {}
    for i, side in enumerate(hands):
        s = fake[i]
        xyz = s["xyz"].astype(np.float64)
        xyz[12, 2] = xyz[0, 2]
        wrist = 2 * xyz[0] - xyz[12]  # our palm = midpoint(wrist, middle MCP)
        hand = np.concatenate([wrist[None], xyz[1:]])
        other = hand + [60.0, 0.0, 0.0]
        xyz42 = np.concatenate([hand, other] if side == "left" else [other, hand])
        uv42 = geometry.project(xyz42.reshape(2, 21, 3), s["K"]).reshape(42, 2)
        anno[i] = {"xyz": (xyz42 / 1000.0).astype(np.float32), "K": s["K"],
                   "uv_vis": np.concatenate([uv42, np.ones((42, 1), np.float32)], 1)}
        labels = np.where(s["mask"], 5 if side == "left" else 20, 0).astype(np.uint8)
        labels[:4, :4] = 20 if side == "left" else 5  # a few pixels of the other hand
        code = np.round(np.where(s["depth"] > 0, s["depth"], 0) / 5000.0 * 65535).astype(np.uint16)
        bgr = np.stack([np.zeros_like(code), code & 255, code >> 8], -1).astype(np.uint8)  # R = high byte
        cv2.imwrite(str(split / "color" / f"{i:05d}.png"), s["image"][..., ::-1])
        cv2.imwrite(str(split / "depth" / f"{i:05d}.png"), bgr)
        cv2.imwrite(str(split / "mask" / f"{i:05d}.png"), labels)
    with open(split / "anno_training.pickle", "wb") as f:
        pickle.dump(anno, f)
    return root / "RHD_published_v2"


def _write_stb(root, n=2, seq="B2Counting"):
    """An n-frame STB sequence: labels in the depth camera frame, STB order; a depth plate behind the hand."""
    import scipy.io

    from awh_tf.data import sk_cameras
    from awh_tf.keypoints import ours_to_stb

    (root / "images" / seq).mkdir(parents=True)
    (root / "labels").mkdir(parents=True)
    rng = np.random.default_rng(5)
    xyz = rng.normal(0.0, 30.0, (n, 21, 3)) * [1.0, 1.0, 0.5] + [0.0, 0.0, 450.0]
    para = sk_cameras.color_to_depth_frame(ours_to_stb(xyz))  # [n, 21, 3] mm, depth frame
    scipy.io.savemat(root / "labels" / f"{seq}_SK.mat", {"handPara": np.transpose(para, (2, 1, 0))})
    for i in range(n):
        image = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        depth = np.zeros((480, 640), np.uint16)
        depth[180:300, 250:400] = 455  # R + 256 G in RGB order -> B = 0, G = high, R = low in BGR
        bgr = np.stack([np.zeros_like(depth), depth >> 8, depth & 255], -1).astype(np.uint8)
        cv2.imwrite(str(root / "images" / seq / f"SK_color_{i}.png"), image)
        cv2.imwrite(str(root / "images" / seq / f"SK_depth_{i}.png"), bgr)
    return root


def test_through_the_real_loaders(tmp_path):
    from awh_tf.data import RHDDataset, STBDataset

    source = RHDDataset(_write_rhd(tmp_path, ["left", "right"]), "training")
    target = STBDataset(_write_stb(tmp_path / "STB"), ["B2Counting"])
    assert [source[i]["hand"] for i in range(2)] == ["left", "right"]
    batches = _take(pipeline.make_train_dataset(source, target, ROTATING, 4, seed=1), 2)
    for b in batches:
        _assert_consistent(b["source"])  # the fake texture keeps the palm marker
        # The real domain's default budget (2D + depth) carries no 3D: nothing to project.
        assert not b["target"]["has_3d"].any() and not b["target"]["xyz"].any() and b["target"]["has_2d"].all()
        for part in b.values():
            assert part["depth_target"].min() >= 0 and part["depth_target"].max() <= 1
            # A depth label exactly where the hand's depth was measured (the fake RHD's 5-px keypoint disks
            # can vanish in an 8-px target: no hand depth is then found, and the frame gets no depth loss).
            np.testing.assert_array_equal(part["depth_target"].any(axis=(1, 2)), part["has_depth"])
        assert b["target"]["has_depth"].any()
    ev = _take(pipeline.make_eval_dataset(source, SMALL, 2), 1)[0]
    # The right hand (sample 1) came out mirrored: X' = -X of the loader's label.
    np.testing.assert_allclose(ev["xyz"][1], source[1]["xyz"] * [-1, 1, 1], atol=1e-4)
