"""The on-disk precrop store gives exactly PrecropCache's squares, is built once and reused without the loader,
is invalidated by a change of the data or crop settings, survives a killed build, and refuses bad files in one
line. One tiny procedural dataset (6 RHD + 20 STB training frames) per module."""

import dataclasses
import os

import numpy as np
import pytest

from awh_tf.config import PipelineConfig
from awh_tf.data import pipeline
from awh_tf.data import STBDataset, RHDDataset, STB_TRAIN_SEQUENCES
from awh_tf.data.errors import DataError
from awh_tf.data.precrop_cache import PrecropCache
from awh_tf.data.precrop_store import PrecropStore, wrap_precrops
from awh_tf.data.procedural import generation

INPUT = 16  # square R = 40 px: fast
CROP = dict(factor=2.0, margin=0.2, min_crop_size=32.0, mirror_right=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("procedural")
    generation.generate(out, seed=3, workers=1, progress=False, rhd_train=6, rhd_eval=1, stb_frames=2)
    return out


def _rhd(data, **kw):
    return RHDDataset(data / "RHD_published_v2", "training", **kw)


def _stb(data):
    return STBDataset(data / "STB", STB_TRAIN_SEQUENCES, depth_region="hand")


def _store(ds, folder, **kw):
    args = dict(CROP, **kw)
    return PrecropStore(ds, folder, INPUT, progress=False, log=None, chunk_samples=4, workers=2, **args)


def _assert_same(a, b):
    assert sorted(a) == sorted(b)
    for key in a:
        if isinstance(a[key], np.ndarray):
            assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        else:
            assert a[key] == b[key], key


@pytest.mark.parametrize("kind", ["rhd", "rhd_right", "stb"])
def test_store_equals_precrop_cache(data, tmp_path, kind):
    ds = {"rhd": lambda: _rhd(data), "rhd_right": lambda: _rhd(data, hand="right"), "stb": lambda: _stb(data)}[kind]()
    store = _store(ds, tmp_path)
    cache = PrecropCache(ds, INPUT, **CROP)
    assert len(store) == len(ds) and store.built_now == len(ds)
    hands = set()
    for i in range(len(ds)):
        _assert_same(store[i], cache[i])
        hands.add(ds[i]["hand"])
        assert store[i]["depth"] is not None
    if kind == "rhd_right":  # mirrored right hands are covered
        assert hands == {"right"} and store[0]["hand"] == "left"
    assert len(os.listdir(store.folder)) == -(-len(ds) // 4) + 1  # chunks + manifest, no temporaries


def test_second_open_does_not_read_the_loader(data, tmp_path, monkeypatch):
    ds = _rhd(data)
    first = _store(ds, tmp_path)

    def refuse(self, i):
        raise AssertionError("the store read the loader")

    monkeypatch.setattr(RHDDataset, "__getitem__", refuse)
    again = _store(_rhd(data), tmp_path)
    assert again.folder == first.folder and again.built_now == 0
    _assert_same(again[5], first[5])


def test_changed_settings_or_labels_give_a_new_store(data, tmp_path):
    ds = _rhd(data)
    base = _store(ds, tmp_path).folder
    assert _store(ds, tmp_path, margin=0.3).folder != base
    assert _store(ds, tmp_path, mirror_right=False).folder != base
    assert PrecropStore(ds, tmp_path, INPUT + 4, progress=False, log=None, chunk_samples=4, **CROP).folder != base
    anno = data / "RHD_published_v2" / "training" / "anno_training.pickle"
    st = os.stat(anno)
    try:
        os.utime(anno, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: maybe other labels
        assert _store(_rhd(data), tmp_path).folder != base
    finally:
        os.utime(anno, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _store(_rhd(data), tmp_path).folder == base


def test_killed_build_resumes_and_is_right(data, tmp_path, monkeypatch):
    ds = _stb(data)  # 20 samples = 5 chunks of 4
    reads, read = [], STBDataset.__getitem__

    def dying(self, i):  # the 10th read is killed: chunks 0 and 1 complete, chunk 2 half written
        reads.append(i)
        if len(reads) > 9:
            raise KeyboardInterrupt("killed")
        return read(self, i)

    with monkeypatch.context() as m:
        m.setattr(STBDataset, "__getitem__", dying)
        with pytest.raises(KeyboardInterrupt):
            PrecropStore(ds, tmp_path, INPUT, progress=False, log=None, chunk_samples=4, workers=1, **CROP)
    folder = next(p for p in tmp_path.iterdir() if p.is_dir())
    names = sorted(os.listdir(folder))
    assert "manifest.json" not in names and 1 <= len(names) < 5 and not any(".tmp" in n for n in names)
    (folder / "chunk-00004.bin.tmp-123-4").write_bytes(b"half a chunk")  # a leftover of a kill -9
    store = _store(ds, tmp_path)
    assert store.folder == folder and 0 < store.built_now < len(ds)  # only the missing chunks
    assert not any(".tmp" in n for n in os.listdir(folder))
    cache = PrecropCache(ds, INPUT, **CROP)
    for i in range(len(ds)):
        _assert_same(store[i], cache[i])


def test_truncated_or_corrupt_chunk(data, tmp_path):
    ds = _rhd(data)
    store = _store(ds, tmp_path)
    chunk = store.folder / "chunk-00001.bin"
    size = os.path.getsize(chunk)
    with open(chunk, "r+b") as f:  # truncated under an open store: one-line error naming the file
        f.truncate(size - 100)
    with pytest.raises(DataError, match="chunk-00001.bin: sample 5: precrop store record truncated") as e:
        store[5]
    assert "\n" not in str(e.value)
    messages = []  # opening it again rebuilds that chunk
    again = PrecropStore(ds, tmp_path, INPUT, progress=False, log=messages.append, chunk_samples=4, **CROP)
    assert any("chunk-00001.bin" in m and "rebuilding" in m for m in messages) and again.built_now == 2
    _assert_same(again[5], PrecropCache(ds, INPUT, **CROP)[5])
    with open(chunk, "r+b") as f:  # a flipped byte: checksum
        f.seek(size - 50)
        byte = f.read(1)
        f.seek(size - 50)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(DataError, match="chunk-00001.bin: sample 5: precrop store record corrupt"):
        again[5]


def test_unwritable_location_is_one_line(data, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(DataError, match="a_file/stores/RHDDataset-6-.*: cannot create the precrop store") as e:
        _store(_rhd(data), blocker / "stores")
    assert "\n" not in str(e.value) and "--precrop_store_dir" in str(e.value)


def test_training_batches_are_bit_identical(data, tmp_path):
    # What a run sees with --precrop_store_dir is what it sees with the in-memory cache, bit for bit.
    cfg = PipelineConfig(input_size=INPUT, depth_size=8, cache_precrops=True)
    stored = dataclasses.replace(cfg, precrop_store_dir=str(tmp_path))
    in_memory = [wrap_precrops(ds, cfg) for ds in (_rhd(data), _stb(data))]
    on_disk = [wrap_precrops(ds, stored, log=None) for ds in (_rhd(data), _stb(data))]
    assert isinstance(in_memory[0], PrecropCache) and isinstance(on_disk[1], PrecropStore)
    assert wrap_precrops(on_disk[0], cfg) is on_disk[0]  # passed in already wrapped (a suite): kept
    a = pipeline.make_train_dataset(*in_memory, cfg, 8, seed=0)
    b = pipeline.make_train_dataset(*on_disk, cfg, 8, seed=0)
    for x, y in zip(a.take(4), b.take(4)):  # 16 samples a domain: both epochs' orders
        for half in ("source", "target"):
            for key in x[half]:
                np.testing.assert_array_equal(x[half][key].numpy(), y[half][key].numpy(), err_msg=key)
