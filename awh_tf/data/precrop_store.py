"""A persistent on-disk store of the precrop squares of :mod:`awh_tf.data.precrop_cache`, read with bounded memory.

:class:`PrecropCache` keeps each sample's hand square in RAM after its first read, so a run's first epoch over
each domain still decodes every PNG (and registers every STB depth map) beside the training step, and the cache
grows with the dataset (~200 KB a sample at R = 160). :class:`PrecropStore` computes the same squares
(:func:`precrop_sample`, right hands mirrored with ``mirror_right``: the arrays are identical, so the batches are
bit for bit the same) once, up front, writes them to disk, and reads one sample at a time with ``os.preadv`` into
a fresh buffer: the process holds no more than the samples in flight, whatever the dataset size (the kernel's page
cache keeps recently read records, but that memory is the kernel's, reclaimable and not the process's RSS; pages
of an ``np.memmap`` count in RSS as file-backed pages once touched: reading all 3000 records of the demo's RHD
store, 589 MB, left RSS at 26 MB with ``preadv`` and at 629 MB, RssFile 616 MB, through memmaps). Same interface as
a loader (``len``, ``ds[i]``, ``annotations()``), so the pipeline needs no change.

Layout: ``<store_dir>/<Loader>-<N>-<key>/`` holding ``chunk-00000.bin`` ... (``CHUNK_SAMPLES`` fixed-size records
each, the last one shorter) and ``manifest.json`` (written last). A record = a 16-byte header (magic, sample
index, CRC-32 of the payload) + every key of the sample dict at a fixed offset (arrays raw; strings UTF-8 in
``STR_BYTES``; ints, floats, bools as 8 bytes; keys that are None in sample 0 are None in every sample).

Key (``key`` = SHA-1 of all of it, see :func:`store_key`): the loader's class and public settings (root folders
as real paths, split / sequences, hand, with_depth, depth_region, ...), its sample count, the size and mtime of
its label files (RHD ``anno_*.pickle``, STB ``labels/<seq>_SK.mat``) and of its image folders, the crop settings
(square size, factor, margin, min_crop_size, mirror_right), ``FORMAT_VERSION`` and a hash of the code that makes
the squares (loader module, ``crop``, ``image_io``, ``depth_registration``, ``sk_cameras``, ``precrop_sample``,
``mirror_sample``). Any change gives a different folder: never stale data. Old folders are not deleted (remove them by hand to reclaim disk).

Kills: each chunk is written to ``chunk-*.bin.tmp-<pid>``, fsynced and renamed; the manifest is written after
every chunk exists. A killed build leaves complete chunks (kept) and temporaries (deleted); the next open builds
only the missing chunks. Builds hold an ``flock`` on ``<folder>.lock``, so two processes never build the same
store at once (the second waits and reuses it). Reads check the record's size, header and CRC: a truncated or
corrupt record raises a one-line :class:`DataError` naming the file and sample, never returns wrong data;
opening a store whose chunk file has the wrong size rebuilds that chunk (one log line).

Where it lives: ``PipelineConfig.precrop_store_dir`` (``--precrop_store_dir``), empty = no store. A flag rather than
a folder inside the dataset because datasets are often on read-only or shared mounts, and the store depends on
the crop settings of a run, not only on the data; ``configs/demo.cfg`` uses ``data/precrop_store``, beside the
procedural data. A complete store is read from a read-only location; building in an unwritable one stops with
a one-line :class:`DataError` naming the folder.

Size on disk: about ``R²·8`` bytes a sample (R = 160: 205 KB; the demo's 5000 samples 1.0 GB).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import inspect
import json
import math
import os
import sys
import zlib
from pathlib import Path

import numpy as np

from awh_tf.data import crop, depth_registration, image_io, sk_cameras
from awh_tf.data.errors import DataError, sample_index
from awh_tf.data.precrop_cache import PrecropCache, precrop_sample
from awh_tf.data.transform import mirror_sample
from awh_tf.files import locked

FORMAT_VERSION = 1
CHUNK_SAMPLES = 256
STR_BYTES = 256  # a string key's slot: 2-byte length + UTF-8
HEADER_BYTES = 16
MAGIC = 0x31534350  # b"PCS1"
MANIFEST = "manifest.json"
_ALIGN = 16


# -- identity --------------------------------------------------------------------------------------------

def _plain(value):
    """A JSON-able form of a simple loader attribute, or None to leave it out of the key."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, os.PathLike):
        return os.path.realpath(value)
    if isinstance(value, (tuple, list)) and all(isinstance(v, (bool, int, float, str)) for v in value):
        return list(value)
    return None


def _stat(path):
    try:
        st = os.stat(path)
    except OSError:
        return [os.path.realpath(path), None, None]
    return [os.path.realpath(path), st.st_size, st.st_mtime_ns]


def _label_files(ds):
    """Files and folders whose size/mtime fingerprint the loader's data (labels, image folders)."""
    from awh_tf.data.rhd import RHDDataset
    from awh_tf.data.stb import STBDataset

    if isinstance(ds, RHDDataset):
        d = Path(ds.split_dir)
        return [d / f"anno_{ds.split}.pickle"] + [d / sub for sub in ("color", "depth", "mask")]
    if isinstance(ds, STBDataset):
        root = Path(ds.root)
        return ([root / "labels" / f"{s}_SK.mat" for s in ds.sequences]
                + [root / "images" / s for s in ds.sequences])
    # Another loader: every attribute that names an existing file or folder.
    found = []
    for key, value in sorted(vars(ds).items()):
        if not key.startswith("_") and isinstance(value, (str, os.PathLike)) and os.path.exists(value):
            found.append(Path(value))
    return found


def dataset_identity(ds) -> dict:
    """What identifies ``ds`` on disk: loader class, public settings, sample count, label files' size+mtime."""
    cls = type(ds)
    settings = {}
    for key, value in sorted(vars(ds).items()):
        plain = _plain(value)
        if not key.startswith("_") and plain is not None:
            settings[key] = plain
    return {"loader": f"{cls.__module__}.{cls.__qualname__}", "num_samples": len(ds), "settings": settings,
            "files": [_stat(p) for p in _label_files(ds)]}


def _code_hash(ds) -> str:
    """Hash of the code that makes the squares: a change of it must not reuse squares made by the old one."""
    h = hashlib.sha1()
    for module in (crop, image_io, depth_registration, sk_cameras, sys.modules.get(type(ds).__module__)):
        path = getattr(module, "__file__", None)
        if path and os.path.isfile(path):
            with open(path, "rb") as f:
                h.update(f.read())
    for fn in (precrop_sample, mirror_sample):
        h.update(inspect.getsource(fn).encode())
    return h.hexdigest()


def store_key(ds, size, factor, margin, min_crop_size, mirror_right) -> dict:
    """The full key of a store (see the module docstring); its SHA-1 names the folder."""
    return {"format_version": FORMAT_VERSION, "dataset": dataset_identity(ds), "code": _code_hash(ds),
            "crop": {"size": int(size), "factor": float(factor), "margin": float(margin),
                     "min_crop_size": float(min_crop_size), "mirror_right": bool(mirror_right)}}


# -- records ---------------------------------------------------------------------------------------------

def _schema(sample) -> list:
    """``[[key, kind, dtype, shape, offset, nbytes], ...]`` of a record from sample 0; record size last."""
    fields, offset = [], HEADER_BYTES
    for key in sorted(sample):
        value = sample[key]
        if value is None:
            kind, dtype, shape, nbytes = "none", "", [], 0
        elif isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                raise ValueError(f"precrop store: key {key!r} has dtype object")
            kind, dtype, shape, nbytes = "array", value.dtype.str, list(value.shape), value.nbytes
        elif isinstance(value, str):
            kind, dtype, shape, nbytes = "str", "", [], STR_BYTES
        elif isinstance(value, (bool, np.bool_)):
            kind, dtype, shape, nbytes = "bool", "", [], 8
        elif isinstance(value, (int, np.integer)):
            kind, dtype, shape, nbytes = "int", "", [], 8
        elif isinstance(value, (float, np.floating)):
            kind, dtype, shape, nbytes = "float", "", [], 8
        else:
            raise ValueError(f"precrop store: key {key!r} has an unsupported type {type(value).__name__}")
        fields.append([key, kind, dtype, shape, offset, nbytes])
        offset += -(-nbytes // _ALIGN) * _ALIGN
    return fields, offset


def _encode(sample, index, fields, record_size, where) -> bytearray:
    buf = bytearray(record_size)
    if set(sample) != {f[0] for f in fields}:
        raise DataError.at(where, f"keys {sorted(sample)} differ from sample 0's", index)
    for key, kind, dtype, shape, offset, nbytes in fields:
        value = sample[key]
        if kind == "none":
            if value is not None:
                raise DataError.at(where, f"{key!r} is set but was None in sample 0 (precrop store)", index)
            continue
        if value is None:
            raise DataError.at(where, f"{key!r} is None but was set in sample 0 (precrop store)", index)
        if kind == "array":
            a = np.ascontiguousarray(value)
            if a.dtype.str != dtype or list(a.shape) != shape:
                raise DataError.at(where, f"{key!r} is {a.dtype.str}{list(a.shape)}, sample 0's {dtype}{shape} "
                                          "(precrop store)", index)
            buf[offset:offset + nbytes] = a.tobytes()
        elif kind == "str":
            raw = str(value).encode()
            if len(raw) > STR_BYTES - 2:
                raise DataError.at(where, f"{key!r} longer than {STR_BYTES - 2} bytes (precrop store)", index)
            buf[offset:offset + 2 + len(raw)] = len(raw).to_bytes(2, "little") + raw
        elif kind == "bool":
            buf[offset] = int(bool(value))
        elif kind == "int":
            buf[offset:offset + 8] = np.int64(value).tobytes()
        else:
            buf[offset:offset + 8] = np.float64(value).tobytes()
    buf[:HEADER_BYTES] = np.array([MAGIC, index, zlib.crc32(memoryview(buf)[HEADER_BYTES:]), 0],
                                  "<u4").tobytes()
    return buf


def _decode(buf, fields) -> dict:
    out = {}
    for key, kind, dtype, shape, offset, nbytes in fields:
        if kind == "none":
            out[key] = None
        elif kind == "array":
            out[key] = np.frombuffer(buf, np.dtype(dtype), int(np.prod(shape, dtype=np.int64)), offset).reshape(shape)
        elif kind == "str":
            n = int.from_bytes(buf[offset:offset + 2], "little")
            out[key] = bytes(buf[offset + 2:offset + 2 + n]).decode()
        elif kind == "bool":
            out[key] = bool(buf[offset])
        elif kind == "int":
            out[key] = int(np.frombuffer(buf, np.int64, 1, offset)[0])
        else:
            out[key] = float(np.frombuffer(buf, np.float64, 1, offset)[0])
    return out


# -- the store -------------------------------------------------------------------------------------------

class PrecropStore:
    """A loader (``len``, ``ds[i]``, ``annotations()``) reading the precrop squares of ``ds`` from disk.

    Args:
      ds: the loader (an ``RHDDataset`` / ``STBDataset`` or anything with the same item dict).
      store_dir: the folder holding stores (one subfolder per dataset and crop settings).
      input_size, factor, margin, min_crop_size, mirror_right: as :class:`PrecropCache` (same squares).
      workers: threads of the build (default one per CPU).  progress: tqdm bar while building.
      log: one-line messages (building, rebuilding a chunk); None = silent.
      chunk_samples: records per chunk file (tests use small ones).
    The constructor builds whatever is missing (see the module docstring), so reads never call ``ds[i]``.
    Raises:
      DataError: an unwritable ``store_dir`` (one line naming it) or a sample the loader cannot read.
    """

    def __init__(self, ds, store_dir, input_size, factor=2.0, margin=0.2, min_crop_size=32.0,
                 mirror_right=False, workers=None, progress=True, log=print, chunk_samples=CHUNK_SAMPLES):
        if factor < 1.0:
            raise ValueError(f"precrop_factor: expected >= 1, got {factor}")
        self.ds, self.factor, self.margin, self.min_crop_size = ds, factor, margin, min_crop_size
        self.mirror_right = mirror_right
        self.size = int(math.ceil(1.25 * factor * input_size))
        self.n = len(ds)
        self.key = store_key(ds, self.size, factor, margin, min_crop_size, mirror_right)
        digest = hashlib.sha1(json.dumps(self.key, sort_keys=True).encode()).hexdigest()[:16]
        self.folder = Path(store_dir) / f"{type(ds).__name__}-{self.n}-{digest}"
        self.chunk = int(chunk_samples)
        self._log = log or (lambda msg: None)
        self.built_now = 0  # samples computed by this open (0: everything was on disk)
        manifest = self._read_manifest()
        if manifest is None or self._bad_chunks(manifest):
            self._build(workers, progress)
            manifest = self._read_manifest()
        self.fields, self.record_size = manifest["fields"], manifest["record_size"]
        self.prefetch()

    def prefetch(self):
        """Asks the kernel to read the chunk files into its page cache in the background (``POSIX_FADV_WILLNEED``;
        a hint: no memory of this process, nothing waits), so the shuffled reads of an epoch rarely wait for the
        disk — the page cache of a VM may have been reclaimed since the store was written."""
        for c in range(self._num_chunks()):
            try:
                fd = os.open(self._chunk_path(c), os.O_RDONLY)
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
                finally:
                    os.close(fd)
            except (OSError, AttributeError):
                return

    # -- paths and checks

    def __len__(self):
        return self.n

    def annotations(self, *args, **kwargs):
        return self.ds.annotations(*args, **kwargs)

    def fill(self, workers=None):
        """Everything is on disk after the constructor; returns ``len(self)`` (as :meth:`PrecropCache.fill`)."""
        return self.n

    def _chunk_path(self, c):
        return self.folder / f"chunk-{c:05d}.bin"

    def _num_chunks(self):
        return -(-self.n // self.chunk)

    def _chunk_len(self, c):
        return min(self.chunk, self.n - c * self.chunk)

    def _read_manifest(self):
        path = self.folder / MANIFEST
        try:
            with open(path) as f:
                manifest = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            self._log(f"{path}: unreadable manifest; building the store again")
            return None
        if manifest.get("key") != self.key or manifest.get("chunk_samples") != self.chunk:
            return None
        return manifest

    def _bad_chunks(self, manifest, quiet=False):
        """Chunks whose file is missing or has the wrong size (logged; rebuilt by :meth:`_build`)."""
        bad = []
        for c in range(self._num_chunks()):
            path, want = self._chunk_path(c), self._chunk_len(c) * manifest["record_size"]
            size = os.stat(path).st_size if path.exists() else None
            if size != want and not quiet:
                self._log(f"{path}: {'missing' if size is None else f'{size} bytes, expected {want}'}; "
                          "rebuilding this chunk")
            if size != want:
                bad.append(c)
        return bad

    # -- building

    def _square(self, i):
        hit = precrop_sample(self.ds[i], self.size, self.factor, self.margin, self.min_crop_size)
        if self.mirror_right and hit["hand"] == "right":
            hit = mirror_sample(hit)
        return hit

    def _build(self, workers, progress):
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            lock = self.folder.parent / (self.folder.name + ".lock")
            open(lock, "a").close()
        except OSError as e:
            raise DataError.at(self.folder, f"cannot create the precrop store ({e.strerror or e}); set "
                                            "--precrop_store_dir to a writable folder") from None
        with locked(lock):
            manifest = self._read_manifest()  # another process may have finished it while we waited
            if manifest is not None and not self._bad_chunks(manifest, quiet=True):
                return
            for leftover in self.folder.glob("*.tmp-*"):  # a killed build's half-written files
                leftover.unlink(missing_ok=True)
            first = self._square(0)
            fields, record_size = _schema(first)
            todo = []
            for c in range(self._num_chunks()):
                path = self._chunk_path(c)
                if path.exists() and os.stat(path).st_size == self._chunk_len(c) * record_size:
                    continue  # complete (renamed only once written); its records are checked at read time
                todo.append(c)
            if todo:
                self._log(f"precrop store: writing {sum(map(self._chunk_len, todo))} of {self.n} samples of "
                          f"{type(self.ds).__name__} to {self.folder} (once for this data and crop settings)")
                self._write_chunks(todo, fields, record_size, first, workers, progress)
            manifest = {"format_version": FORMAT_VERSION, "key": self.key, "num_samples": self.n,
                        "chunk_samples": self.chunk, "record_size": record_size, "fields": fields}
            tmp = self.folder / f"{MANIFEST}.tmp-{os.getpid()}"
            with open(tmp, "w") as f:
                json.dump(manifest, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.folder / MANIFEST)

    def _write_chunks(self, todo, fields, record_size, first, workers, progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(map(self._chunk_len, todo)), unit="sample", desc="precrop store",
                   disable=not progress, mininterval=1.0)

        def write(c):
            path = self._chunk_path(c)
            tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{c}")
            try:
                with open(tmp, "wb") as f:
                    for i in range(c * self.chunk, c * self.chunk + self._chunk_len(c)):
                        sample = first if i == 0 else self._square(i)
                        f.write(_encode(sample, i, fields, record_size, sample.get("name", type(self.ds).__name__)))
                        bar.update(1)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise

        workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
        try:
            with concurrent.futures.ThreadPoolExecutor(workers) as pool:
                for future in concurrent.futures.as_completed([pool.submit(write, c) for c in todo]):
                    future.result()
        finally:
            bar.close()
        self.built_now = sum(map(self._chunk_len, todo))

    # -- reading

    def __getitem__(self, index):
        i = sample_index(index, self.n)
        c, j = divmod(i, self.chunk)
        path = self._chunk_path(c)
        buf = bytearray(self.record_size)
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                got = os.preadv(fd, [buf], j * self.record_size)
            finally:
                os.close(fd)
        except OSError as e:
            raise DataError.at(path, f"cannot read the precrop store ({e.strerror or e})", i) from None
        if got != self.record_size:
            raise DataError.at(path, f"precrop store record truncated ({got} of {self.record_size} bytes); delete "
                                     f"{self.folder} to rebuild it", i)
        magic, stored_index, crc, _ = np.frombuffer(buf, "<u4", 4)
        if (magic != MAGIC or stored_index != i
                or crc != zlib.crc32(memoryview(buf)[HEADER_BYTES:])):
            raise DataError.at(path, f"precrop store record corrupt (bad header or checksum); delete {self.folder} "
                                     "to rebuild it", i)
        return _decode(buf, self.fields)


def wrap_precrops(ds, p, log=print):
    """``ds`` with its precrop squares as :class:`~awh_tf.config.PipelineConfig` ``p`` asks (``cache_precrops``
    true): a :class:`PrecropStore` in ``p.precrop_store_dir``, else an in-memory :class:`PrecropCache`;
    ``ds`` itself when it is one of them already (passed in warm, e.g. by a suite)."""
    if isinstance(ds, (PrecropCache, PrecropStore)):
        return ds
    if p.precrop_store_dir:
        return PrecropStore(ds, p.precrop_store_dir, p.input_size, p.precrop_factor, p.crop_margin, p.min_crop_size,
                            p.mirror_right, log=log)
    return PrecropCache(ds, p.input_size, p.precrop_factor, p.crop_margin, p.min_crop_size, p.mirror_right)
