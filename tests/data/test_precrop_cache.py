"""The precrop cache keeps labels exact: a sample cropped from the cached square equals one cropped from the
full image (labels to float precision, pixels up to resampling), and each sample is read once."""

import numpy as np
import pytest

from awh_tf import geometry
from awh_tf.config import PipelineConfig
from awh_tf.data import transform
from awh_tf.data.precrop_cache import PrecropCache, precrop_sample


class _FakeLoader:
    """Two 320×240 samples with a smooth image, a depth plane behind the hand and consistent labels."""

    def __init__(self):
        self.reads = 0
        rng = np.random.default_rng(0)
        self.K = np.array([[300.0, 0, 160], [0, 300, 120], [0, 0, 1]], np.float32)
        root = np.array([10.0, -5.0, 400.0])
        self.xyz = (root + rng.uniform(-60, 60, (21, 3))).astype(np.float32)
        self.xyz[12] = root + [0, -40, 5]
        self.xyz[0] = root
        yy, xx = np.mgrid[0:240, 0:320]
        self.image = np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1).astype(np.uint8)

    def __len__(self):
        return 2

    def __getitem__(self, i):
        self.reads += 1
        depth = np.full((240, 320), 420.0, np.float32)
        return {"image": self.image, "depth": depth, "mask": depth > 0, "uv": geometry.project(self.xyz, self.K),
                "xyz": self.xyz, "visible": np.ones(21, bool), "K": self.K, "hand": ("left", "right")[i],
                "index": i, "domain": 0, "name": f"fake/{i}"}


def test_precrop_keeps_projection_exact():
    ds = _FakeLoader()
    cached = precrop_sample(ds[0], 160, 2.0, 0.2, 32.0)
    assert cached["image"].shape == (160, 160, 3) and cached["depth"].shape == (160, 160)
    np.testing.assert_allclose(geometry.project(cached["xyz"], cached["K"]), cached["uv"], atol=1e-3)


@pytest.mark.parametrize("index", [0, 1])  # 1 is a right hand: mirrored inside process_sample
def test_crop_from_cache_equals_crop_from_full_image(index):
    ds = _FakeLoader()
    cfg = PipelineConfig(input_size=32, depth_size=8)
    cache = PrecropCache(ds, cfg.input_size, 2.0, cfg.crop_margin, cfg.min_crop_size)
    direct = transform.process_sample(ds[index], cfg)
    via_cache = transform.process_sample(cache[index], cfg)
    np.testing.assert_allclose(via_cache["uv"], direct["uv"], atol=1e-3)
    np.testing.assert_allclose(via_cache["z_rel"], direct["z_rel"], atol=1e-6)
    np.testing.assert_allclose(geometry.project(via_cache["xyz"], via_cache["crop_K"]), via_cache["uv"], atol=1e-3)
    assert np.abs(via_cache["image"] - direct["image"]).mean() < 0.05  # two-stage resampling only


def test_mirrored_cache_gives_the_same_crops():
    # A right hand stored mirrored is not flipped again by the pipeline: same bytes as flipping at each read.
    ds = _FakeLoader()
    cfg = PipelineConfig(input_size=32, depth_size=8)
    plain = PrecropCache(ds, cfg.input_size, 2.0, cfg.crop_margin, cfg.min_crop_size)
    mirrored = PrecropCache(ds, cfg.input_size, 2.0, cfg.crop_margin, cfg.min_crop_size, mirror_right=True)
    assert mirrored[1]["hand"] == "left" and plain[1]["hand"] == "right" and mirrored[0]["hand"] == "left"
    for index in (0, 1):
        a = transform.process_sample(plain[index], cfg, np.random.default_rng(index))
        b = transform.process_sample(mirrored[index], cfg, np.random.default_rng(index))
        for key in transform.FIELDS:
            np.testing.assert_array_equal(b[key], a[key], err_msg=key)


def test_each_sample_is_read_once():
    ds = _FakeLoader()
    cache = PrecropCache(ds, 32)
    first = cache[0]
    assert cache[0] is first and ds.reads == 1
    cache[1]
    assert ds.reads == 2 and len(cache) == 2
    with pytest.raises(ValueError, match="precrop_factor"):
        PrecropCache(ds, 32, factor=0.5)


def test_fill_reads_only_what_is_missing():
    ds = _FakeLoader()
    cache = PrecropCache(ds, 32)
    first = cache[0]
    assert cache.fill(workers=2) == 2 and ds.reads == 2  # sample 1 read, sample 0 not again
    assert cache[0] is first and cache.fill() == 2 and ds.reads == 2
