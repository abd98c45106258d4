"""Writes a procedural two-domain dataset in the RHD and STB formats, in parallel, with a completion manifest.

``generate(out_dir)`` renders every frame in worker processes (each writes its own PNGs and returns
its labels), then writes the annotation files and, last, ``<out>/procedural_manifest.json`` with the
seed and sizes and ``"complete": true``. A folder whose manifest is missing that flag, or whose seed or
sizes differ from the request, is regenerated from scratch; a complete matching one is left alone, so
the trainer can call `generate` on every start. A folder holding ``RHD_published_v2`` or ``STB`` without
a manifest (e.g. the real datasets) is never overwritten.

Frames are seeded per sample (``frames.sample_rng``) and the noise bank per seed, so the bytes written
do not depend on the number of workers. Workers are spawned (not forked): the caller may have
TensorFlow's threads running; they do not re-import the caller's main module.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import multiprocessing
import os
import shutil
import sys

import cv2
import numpy as np
from tqdm import tqdm

from awh_tf.data.procedural import domains, frames, writers

MANIFEST = "procedural_manifest.json"
GENERATOR_VERSION = 1
# The demo defaults: 5700 frames, about 100 CPU-seconds, so under a minute on 2 idle CPU cores
# (tools/benchmark_generator.py measures it).
DEMO_RHD_TRAIN = 3000
DEMO_RHD_EVAL = 300
DEMO_STB_FRAMES = 200  # per sequence, 12 sequences

_worker = {}  # per-process state: out_dir, seed, noise bank


def manifest_path(out_dir: str) -> str:
    return os.path.join(out_dir, MANIFEST)


def read_json_or_none(path: str):
    """The JSON file's content, or None if there is none (or it is unreadable: a half-written one)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_manifest(out_dir: str):
    """The manifest dict, or None if there is none (or it is unreadable: a half-written one)."""
    return read_json_or_none(manifest_path(out_dir))


def _config(seed, rhd_train, rhd_eval, stb_frames) -> dict:
    for name, value in (("rhd_train", rhd_train), ("rhd_eval", rhd_eval), ("stb_frames", stb_frames)):
        if int(value) < 0:
            raise ValueError(f"{name}: expected a count >= 0, got {value}")
    return {"generator_version": GENERATOR_VERSION, "seed": int(seed), "rhd_train": int(rhd_train),
            "rhd_eval": int(rhd_eval), "stb_frames": int(stb_frames),
            "stb_sequences": list(writers.STB_SEQUENCES)}


def is_complete(out_dir: str, seed=0, rhd_train=DEMO_RHD_TRAIN, rhd_eval=DEMO_RHD_EVAL,
                stb_frames=DEMO_STB_FRAMES) -> bool:
    """True iff ``out_dir`` holds a finished dataset generated with exactly these settings."""
    manifest = read_manifest(out_dir)
    expected = _config(seed, rhd_train, rhd_eval, stb_frames)
    return bool(manifest and manifest.get("complete") and all(manifest.get(k) == v for k, v in expected.items()))


def _write_manifest(out_dir: str, content: dict) -> None:
    tmp = manifest_path(out_dir) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(content, f, indent=2, sort_keys=True)
    os.replace(tmp, manifest_path(out_dir))  # atomic: never a half-written manifest


def _prepare(out_dir: str, config: dict) -> None:
    """Refuses foreign data; otherwise clears our folders and marks the dataset incomplete."""
    ours = [os.path.join(out_dir, writers.RHD_ROOT), os.path.join(out_dir, writers.STB_ROOT)]
    if read_manifest(out_dir) is None and any(os.path.exists(p) for p in ours):
        raise FileExistsError(
            f"{out_dir}: holds {writers.RHD_ROOT}/ or {writers.STB_ROOT}/ without {MANIFEST}; not written by "
            f"the procedural generator, refusing to overwrite it (choose another --out_dir)")
    os.makedirs(out_dir, exist_ok=True)
    _write_manifest(out_dir, dict(config, complete=False))
    for path in ours:
        shutil.rmtree(path, ignore_errors=True)
    writers.make_dirs(out_dir)


def _tasks(config: dict):
    """(domain, part, index) for every frame; STB first, as its frames cost more (better balance)."""
    stb = [(frames.STB_DOMAIN, s, i)
           for s in range(len(writers.STB_SEQUENCES)) for i in range(config["stb_frames"])]
    rhd = [(frames.RHD_DOMAIN, 0, i) for i in range(config["rhd_train"])]
    rhd += [(frames.RHD_DOMAIN, 1, i) for i in range(config["rhd_eval"])]
    return stb + rhd


def _init_worker(out_dir: str, seed: int, tune_process: bool) -> None:
    if tune_process:
        cv2.setNumThreads(1)  # parallelism is across processes
        _keep_freed_memory()
    _worker.update(out_dir=out_dir, seed=seed, bank=domains.NoiseBank(seed))


def _keep_freed_memory() -> None:
    """Keeps glibc from returning large freed blocks to the OS.

    Every full-image temporary would otherwise be a fresh mmap whose pages fault in again: that
    costs as much as the rendering itself. Only done in worker processes; a no-op off glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 32 << 20)  # glibc's maximum
    libc.mallopt(m_trim_threshold, 1 << 30)


def _make(task):
    """Renders and writes one frame; returns (task, its label)."""
    domain, part, index = task
    out_dir, seed, bank = _worker["out_dir"], _worker["seed"], _worker["bank"]
    if domain == frames.RHD_DOMAIN:
        frame = frames.rhd_frame(seed, part, index, bank)
        return task, writers.write_rhd_frame(out_dir, writers.RHD_SPLITS[part], index, frame)
    frame = frames.stb_frame(seed, part, index, bank)
    return task, writers.write_stb_frame(out_dir, writers.STB_SEQUENCES[part], index, frame)


@contextlib.contextmanager
def _main_module_hidden():
    """Starts spawned workers without re-importing the parent's ``__main__``.

    A spawned child imports the parent's main module first (e.g. ``awh_tf.train`` with TensorFlow:
    seconds and hundreds of MB per worker) although the workers need only this module. `spawn` skips
    that when ``__main__`` has neither a module spec nor a file, so both are hidden while the pool
    starts its processes, and restored right after.
    """
    main = sys.modules["__main__"]
    saved = {name: getattr(main, name) for name in ("__spec__", "__file__") if hasattr(main, name)}
    main.__spec__ = None
    if "__file__" in saved:
        del main.__file__
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)


def worker_state() -> dict:
    """The calling worker's ``out_dir``, ``seed`` and noise ``bank`` (for a ``make`` function of `_run`)."""
    return _worker


def _run(tasks, out_dir: str, seed: int, workers: int, progress: bool, make=_make) -> dict:
    """Runs ``make`` (default `_make`; a module-level function, so spawned workers can import it) over
    ``tasks``; returns {task: label}."""
    labels = {}
    bar = tqdm(total=len(tasks), unit="frame", desc="procedural data", disable=not progress)
    if workers <= 1:
        _init_worker(out_dir, seed, tune_process=False)
        results = map(make, tasks)
    else:
        with _main_module_hidden():
            pool = multiprocessing.get_context("spawn").Pool(
                workers, initializer=_init_worker, initargs=(out_dir, seed, True))
        results = pool.imap_unordered(make, tasks, chunksize=8)
    try:
        for task, label in results:
            labels[task] = label
            bar.update(1)
    finally:
        bar.close()
        if workers > 1:
            pool.terminate()
            pool.join()
    return labels


def generate(out_dir, seed=0, rhd_train=DEMO_RHD_TRAIN, rhd_eval=DEMO_RHD_EVAL, stb_frames=DEMO_STB_FRAMES,
             workers=None, progress=True) -> dict:
    """Writes (or finds complete) a procedural RHD + STB dataset under ``out_dir``.

    Args:
      out_dir: folder to hold ``RHD_published_v2/``, ``STB/`` and the manifest.
      seed: the dataset's seed; the same seed gives the same bytes.
      rhd_train, rhd_eval: RHD training / evaluation samples.
      stb_frames: frames per STB sequence (12 sequences, B1Counting ... B6Random).
      workers: processes (default ``os.cpu_count()``; 1 renders in this process).
      progress: show a tqdm bar.
    Returns:
      The manifest dict (``complete`` True).
    Raises:
      FileExistsError: ``out_dir`` holds dataset folders without a manifest (not ours).

    With ``workers > 1`` the workers are spawned processes: a script calling this must do so under
    ``if __name__ == "__main__":``, as for any `multiprocessing` program.
    """
    out_dir = os.fspath(out_dir)
    config = _config(seed, rhd_train, rhd_eval, stb_frames)
    if is_complete(out_dir, seed, rhd_train, rhd_eval, stb_frames):
        return read_manifest(out_dir)
    _prepare(out_dir, config)
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    labels = _run(_tasks(config), out_dir, config["seed"], workers, progress)
    for part, split in enumerate(writers.RHD_SPLITS):
        annotations = {i: a for (d, p, i), a in labels.items() if d == frames.RHD_DOMAIN and p == part}
        writers.write_rhd_annotations(out_dir, split, annotations)
    for part, sequence in enumerate(writers.STB_SEQUENCES):
        xyz = np.stack([labels[(frames.STB_DOMAIN, part, i)] for i in range(config["stb_frames"])]) \
            if config["stb_frames"] else np.zeros((0, 21, 3))
        writers.write_stb_labels(out_dir, sequence, xyz)
    manifest = dict(config, complete=True)
    _write_manifest(out_dir, manifest)
    return manifest
