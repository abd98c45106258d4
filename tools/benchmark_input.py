"""Throughput of the training input pipeline on procedural data: images/s and CPU use.

Usage (from the repository root)::

    python tools/benchmark_input.py [--data_dir data/procedural] [--batch_size 32] [--input_size 64] [--steps 40]

``--data_dir`` is a folder holding ``RHD_published_v2/`` (synthetic, training split) and ``STB/`` (real,
the training sequences present), by default the training's procedural data. Without them (or with an
unfinished generation there) the demo-size set is first generated with ``awh_tf.data.procedural.generate``
(about a minute). The tool then times ``make_train_dataset`` (half synthetic, half
real, with augmentation) for ``--steps`` batches after ``--warmup`` batches and prints

* images/s: crops delivered per second, both domains together;
* CPU use: process CPU time / wall time, in cores (this machine has 2), so a figure near 2 means the
  pipeline alone saturates the machine and a training step running beside it would be starved;
* CPU cost per image (process CPU time / images), which other processes on the machine do not inflate,
  and the images/s it implies on idle cores;
* per-sample cost on one thread of each stage (loader read, crop/augment/targets) to show where time goes.

The issue's target (≥ 3× the images/s one training step of the demo configuration consumes) is checked
against the training step's figure once the network exists.

Memory (``--rss_mode``, one mode per process since the peak is a high-water mark): streams ``--rss_epochs``
epochs of the synthetic domain (the larger one; the real one cycles alongside) through ``make_train_dataset``
with the precrop squares ``cache`` (in memory, filled while streaming, as a ``--cache_precrops`` run's first
epoch), ``store`` (``--store_dir``: built first if missing, the build timed) or ``none`` (the loaders), and
prints the process's resident memory before streaming, its peak (``ru_maxrss``) and at the end::

    python tools/benchmark_input.py --rss_mode store --store_dir /tmp/store_bench --data_dir DIR --stage_samples 0
"""

import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from absl import app, flags  # noqa: E402
import numpy as np  # noqa: E402

from awh_tf.config import PipelineConfig  # noqa: E402
from awh_tf.data import pipeline, transform  # noqa: E402
from awh_tf.data.precrop_cache import PrecropCache  # noqa: E402
from awh_tf.data.precrop_store import PrecropStore  # noqa: E402
from awh_tf.data.rhd import RHDDataset  # noqa: E402
from awh_tf.data.stb import STB_TRAIN_SEQUENCES, STBDataset  # noqa: E402

flags.DEFINE_string("data_dir", "data/procedural",
                    "Folder with RHD_published_v2/ and STB/ (generated if absent).")
flags.DEFINE_integer("batch_size", 32, "Training batch size (half synthetic, half real).")
flags.DEFINE_integer("steps", 40, "Timed batches.")
flags.DEFINE_integer("warmup", 5, "Untimed batches first (thread pools, autotuning, file cache).")
flags.DEFINE_integer("input_size", 64, "Crop size S px (64: configs/demo.cfg).")
flags.DEFINE_integer("depth_size", PipelineConfig.depth_size, "Depth target size D px.")
flags.DEFINE_integer("num_parallel_calls", -1, "Parallel map calls (-1 = AUTOTUNE).")
flags.DEFINE_boolean("deterministic", True, "Fixed output order (see PipelineConfig.deterministic).")
flags.DEFINE_integer("stage_samples", 20, "Samples per domain for the single-thread stage timing (0 = skip).")
flags.DEFINE_boolean("cache_precrops", True,
                     "Also time later epochs with a warm precrop cache (as configs/demo.cfg trains).")
flags.DEFINE_enum("rss_mode", "", ["", "none", "cache", "store"],
                  "Measure resident memory while streaming with this source of the precrop squares instead of "
                  "timing (see the module docstring).")
flags.DEFINE_float("rss_epochs", 1.0, "Epochs of the synthetic domain streamed by --rss_mode.")
flags.DEFINE_string("store_dir", "/tmp/store_bench", "Folder of the precrop stores for --rss_mode=store.")
FLAGS = flags.FLAGS


def rss_mb():
    """(current, peak) resident set size of this process, MB."""
    with open("/proc/self/statm") as f:
        current = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    return current, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure_rss(source, target, cfg):
    """Streams ``--rss_epochs`` epochs with ``--rss_mode``'s squares; prints resident memory (module docstring)."""
    mode = FLAGS.rss_mode
    if mode == "cache":
        source, target = (PrecropCache(ds, cfg.input_size, cfg.precrop_factor, cfg.crop_margin, cfg.min_crop_size,
                                       cfg.mirror_right) for ds in (source, target))
    elif mode == "store":
        t0 = time.perf_counter()
        source, target = (PrecropStore(ds, FLAGS.store_dir, cfg.input_size, cfg.precrop_factor, cfg.crop_margin,
                                       cfg.min_crop_size, cfg.mirror_right) for ds in (source, target))
        built, wall = source.built_now + target.built_now, time.perf_counter() - t0
        per_1000 = f" = {1e3 * wall / built:.1f} s per 1000 samples" if built else ""
        print(f"precrop store: {built} of {len(source) + len(target)} samples built in {wall:.1f} s{per_1000} "
              f"({source.folder.parent}); RSS now {rss_mm_str()}")
    half = FLAGS.batch_size // 2
    steps = int(np.ceil(FLAGS.rss_epochs * len(source) / half))
    before = rss_mb()
    print(f"rss_mode={mode}: streaming {steps} batches of {FLAGS.batch_size} ({FLAGS.rss_epochs:g} epochs of "
          f"{len(source)} synthetic, {steps * half / len(target):.2f} of {len(target)} real samples); RSS before "
          f"{before[0]:.0f} MB (peak so far {before[1]:.0f} MB)", flush=True)
    it = iter(pipeline.make_train_dataset(source, target, cfg, FLAGS.batch_size, seed=0))
    t0 = time.perf_counter()
    for _ in range(steps):
        next(it)
    wall = time.perf_counter() - t0
    after = rss_mb()
    print(f"rss_mode={mode}: {steps * FLAGS.batch_size / wall:.0f} images/s over {wall:.0f} s; peak RSS "
          f"{after[1]:.0f} MB, at the end {after[0]:.0f} MB; growth while streaming {after[1] - before[0]:.0f} MB "
          f"({len(source) + len(target)} samples)")


def rss_mm_str():
    current, peak = rss_mb()
    return f"{current:.0f} MB (peak {peak:.0f} MB)"


def ensure_data(data_dir: Path) -> None:
    """Generates the demo-size procedural dataset into ``data_dir`` unless a dataset is already there.

    A folder with ``RHD_published_v2/`` and ``STB/`` is used as it is when it has no generator manifest
    (real data) or a complete one (any size); otherwise the generator writes (or finishes) the demo set.
    """
    from awh_tf.data.procedural import generate, read_manifest

    manifest = read_manifest(str(data_dir))
    present = (data_dir / "RHD_published_v2").is_dir() and (data_dir / "STB").is_dir()
    if present and (manifest is None or manifest.get("complete")):
        return
    print(f"generating procedural data into {data_dir} ...", flush=True)
    generate(str(data_dir))


def load_datasets(data_dir: Path):
    """The synthetic training split and the real training sequences present under ``data_dir``."""
    source = RHDDataset(data_dir / "RHD_published_v2", "training")
    present = [s for s in STB_TRAIN_SEQUENCES if (data_dir / "STB" / "labels" / f"{s}_SK.mat").is_file()]
    if not present:
        raise SystemExit(f"{data_dir / 'STB' / 'labels'}: none of {STB_TRAIN_SEQUENCES} found")
    # As training reads it: depth registered around the hand only (awh_tf/data/data_setup.py).
    return source, STBDataset(data_dir / "STB", present, depth_region="hand")


def time_stages(ds, cfg, n):
    """Mean single-thread seconds per sample of ``ds[i]`` and of ``process_sample`` (with augmentation)."""
    rng = np.random.default_rng(0)
    idx = rng.choice(len(ds), size=min(n, len(ds)), replace=False)
    t0 = time.perf_counter()
    samples = [ds[int(i)] for i in idx]
    t1 = time.perf_counter()
    for s in samples:
        transform.process_sample(s, cfg, rng)
    t2 = time.perf_counter()
    return (t1 - t0) / len(idx), (t2 - t1) / len(idx)


def time_pipeline(dataset, batch_size, steps, warmup):
    """Iterates ``dataset``; returns images/s and CPU cores used over the timed ``steps`` batches."""
    it = iter(dataset)
    for _ in range(warmup):
        next(it)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        next(it)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"images_per_s": steps * batch_size / wall, "batches_per_s": steps / wall,
            "cpu_cores": cpu / wall, "wall_s": wall, "cpu_ms_per_image": 1e3 * cpu / (steps * batch_size)}


def main(argv):
    del argv
    data_dir = Path(FLAGS.data_dir)
    ensure_data(data_dir)
    source, target = load_datasets(data_dir)
    cfg = PipelineConfig(input_size=FLAGS.input_size, depth_size=FLAGS.depth_size,
                                  num_parallel_calls=FLAGS.num_parallel_calls,
                                  deterministic=FLAGS.deterministic)
    print(f"data: {len(source)} synthetic, {len(target)} real samples; batch {FLAGS.batch_size}, "
          f"S={cfg.input_size}, D={cfg.depth_size}, {os.cpu_count()} CPU cores")
    if FLAGS.rss_mode:
        measure_rss(source, target, cfg)
        return
    if FLAGS.stage_samples > 0:
        for name, ds in (("synthetic (RHD format)", source), ("real (STB format)", target)):
            read, process = time_stages(ds, cfg, FLAGS.stage_samples)
            print(f"  one thread, {name}: read {1e3 * read:.1f} ms/sample, "
                  f"crop+augment+targets {1e3 * process:.1f} ms/sample")
    dataset = pipeline.make_train_dataset(source, target, cfg, FLAGS.batch_size, seed=0)
    r = time_pipeline(dataset, FLAGS.batch_size, FLAGS.steps, FLAGS.warmup)
    report(r, "train pipeline")
    if FLAGS.cache_precrops:
        # Later epochs with --cache_precrops (as the demo trains): warm the caches with one pass over both
        # domains, then time the same stream.
        source, target = (PrecropCache(ds, cfg.input_size, cfg.precrop_factor, cfg.crop_margin,
                                       cfg.min_crop_size, cfg.mirror_right) for ds in (source, target))
        for ds in (source, target):
            ds.fill()
        dataset = pipeline.make_train_dataset(source, target, cfg, FLAGS.batch_size, seed=0)
        report(time_pipeline(dataset, FLAGS.batch_size, FLAGS.steps, FLAGS.warmup),
               "train pipeline, warm precrop cache")


def report(r, label):
    print(f"{label}: {r['images_per_s']:.1f} images/s ({r['batches_per_s']:.2f} batches/s of "
          f"{FLAGS.batch_size}) over {r['wall_s']:.1f} s; CPU use {r['cpu_cores']:.2f} of "
          f"{os.cpu_count()} cores")
    # CPU time per image does not depend on other processes competing for the cores, so it bounds what
    # an otherwise idle machine would deliver.
    print(f"  CPU cost {r['cpu_ms_per_image']:.1f} ms/image: at most "
          f"{1e3 * (os.cpu_count() or 1) / r['cpu_ms_per_image']:.0f} images/s on {os.cpu_count()} idle cores")


if __name__ == "__main__":
    app.run(main)
