"""Throughput of the procedural generator: finished frames per second, PNG encoding and writing included.

    python tools/benchmark_generator.py [--rhd 1200] [--stb_frames 50] [--workers 2] [--demo=true]

Generates into a temporary folder (deleted afterwards), timing each run end to end — worker start-up,
rendering, encoding, writing, annotation files and manifest — in wall-clock time and in CPU time of
this process and its workers (the CPU figure says what the machine can do when nothing else runs on
it; the wall-clock figure is what a user waits on a shared machine):
  1. RHD only (``--rhd`` training samples): synthetic frames/s;
  2. STB only (``--stb_frames`` per sequence × 12): real-looking frames/s;
  3. with ``--demo``, the demo defaults of ``python -m awh_tf.data.procedural`` (both domains): the
     overall frames/s and how long a new user waits.
The target is ≥ 100 frames/s overall on 2 CPU cores (issue 3).
"""

import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as python tools/<name>.py

from absl import app, flags  # noqa: E402

from awh_tf.data.procedural import generation  # noqa: E402

flags.DEFINE_integer("rhd", 1200, "RHD samples for the synthetic-only run.")
flags.DEFINE_integer("stb_frames", 50, "Frames per STB sequence (×12) for the real-looking-only run.")
flags.DEFINE_integer("workers", os.cpu_count() or 1, "Worker processes.")
flags.DEFINE_bool("demo", True, "Also time the demo defaults (both domains).")
flags.DEFINE_string("tmp_dir", None, "Parent folder for the temporary output (default: the system's).")
FLAGS = flags.FLAGS


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _time_run(name, rhd_train, rhd_eval, stb_frames):
    """Generates into a fresh temporary folder; prints and returns (frames, wall s, CPU s)."""
    out_dir = tempfile.mkdtemp(prefix="awh_bench_", dir=FLAGS.tmp_dir)
    try:
        cpu, start = _cpu_seconds(), time.perf_counter()
        generation.generate(out_dir, seed=0, rhd_train=rhd_train, rhd_eval=rhd_eval, stb_frames=stb_frames,
                            workers=FLAGS.workers, progress=False)
        seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    frames = rhd_train + rhd_eval + 12 * stb_frames
    cores = min(FLAGS.workers, os.cpu_count() or 1)
    print(f"{name:<30} {frames:>6} frames  wall {seconds:6.1f} s = {frames / seconds:6.1f} frames/s   "
          f"CPU {1000 * cpu / frames:5.1f} ms/frame = {cores * frames / cpu:6.1f} frames/s on {cores} cores",
          flush=True)
    return frames, seconds, cpu


def main(argv):
    del argv
    load = os.getloadavg()[0]
    print(f"procedural generator, {FLAGS.workers} worker(s), {os.cpu_count()} CPU(s), load average {load:.1f}")
    _time_run("synthetic (RHD 320x320)", FLAGS.rhd, 0, 0)
    _time_run("real-looking (STB 640x480)", 0, 0, FLAGS.stb_frames)
    if FLAGS.demo:
        frames, seconds, _ = _time_run("demo defaults (both domains)", generation.DEMO_RHD_TRAIN,
                                       generation.DEMO_RHD_EVAL, generation.DEMO_STB_FRAMES)
        verdict = "meets" if frames / seconds >= 100 else "misses"
        print(f"overall {frames / seconds:.1f} frames/s wall clock: {verdict} the 100 frames/s target "
              f"(load average now {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    app.run(main)
