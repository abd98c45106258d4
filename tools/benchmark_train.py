"""Training-step performance: images/s, GFLOPs, GFLOP/s against this machine's matmul rate, RSS, input cost.

Usage (from the repository root; 10 minutes on this 2-core machine while busy, the demo data generation
included; most of the rest is tracing the two step graphs)::

    python tools/benchmark_train.py [--configs demo,paper] [--precisions float32,mixed_bfloat16] [--steps 20] \\
        [--paper_steps 5] [--compare_deterministic_ops] \\
        [--batch_size_paper 8] [--data_dir data/procedural]

``demo`` is ``configs/demo.cfg`` (its procedural data in ``--data_dir``, generated there first if absent,
about a minute), fed by the real input pipeline; ``paper`` is the model and objective of
``configs/rhd_stb_awh.cfg`` (256×256 input, 2 stacks, 256 channels, da=awh, n_critic=2) at batch
``--batch_size_paper``, fed by random tensors of the pipeline's shapes (no dataset needed). What is timed
is the joint step of phase 2 (``n_critic`` critic updates, then one pose update: the costliest step),
after one untimed tracing call and ``--warmup`` untimed steps; each step waits for its logs as the
training loop does. The printed lines:

* ``matmul``: GFLOP/s of one N×N @ N×N ``tf.matmul`` (2N³ FLOPs / median of repeats) in fp32 and in each
  low precision a timed configuration computes in (``--precisions``: bf16 for ``mixed_bfloat16``, fp16 for
  ``mixed_float16``), measured at the start and at the end of the run; the better of the two is the
  machine's rate for that dtype (the conservative one for the ratios below). Each configuration's ratio
  is to the rate of its own compute dtype: a bf16 step against the bf16 matmul.
* per configuration, ``forward``: GFLOPs of one pose-network inference per image (TF profiler, batch 1,
  ``awh_tf.models.flops``); ``training``: GFLOPs per image of the whole joint step, counted by the same
  profiler on the traced step graph (pose network forward and backward, depth regularizer, similarity
  weighting, the critic updates with the gradient penalty's double backward, optimizer updates) divided by
  the global batch. Ops without registered FLOP statistics (ReLU, exp, selects) count 0, so it is a
  slight undercount; it comes out close to the usual 3× forward.
* ``compute``: median step time on a batch already in memory, the images/s it gives, and training
  GFLOPs/image × images/s = the achieved GFLOP/s and its ratio to the matmul rate (issue 5's target for
  the paper size: ≥ 0.50). ``cpu`` is process CPU seconds per image over the timed steps.
* ``pipeline`` (demo only): mean step time when each batch comes from the real input pipeline
  (``InputStreams``, a fresh iterator, ``--warmup`` steps dropped) over the mean step time on one
  cached batch (target ≤ 1.15×). Means, not medians: a pipeline that stalls every few steps must count.
  Its ``cpu`` (step and pipeline threads together) minus the compute line's is the pipeline's CPU cost
  per image; CPU per image is less affected than the times by other processes loading the machine, and
  ``cores / cpu per image`` estimates what the two together can reach on idle cores. With
  ``--cache_precrops`` (the demo) this is the steady state — both domains' precrop caches filled first,
  untimed, as after a run's first epoch — and an indented line adds the cold figure (a fresh stream,
  every sample read from disk). With a precrop store (``--store_dir``, or the demo's ``--precrop_store_dir``)
  a further indented line gives the store's one-off build time (0 when it was complete already) and the first
  epoch read from the built store (a fresh stream, :mod:`awh_tf.data.precrop_store`) over the cached step
  (target ≤ 1.30×), all in the same run as the cached baseline.
* ``--compare_deterministic_ops`` times every configuration a second time with op determinism on
  (``TrainConfig.deterministic_ops``), labelled ``… deterministic_ops``, in the same run: its compute line
  over the plain one is the flag's cost (the suites run with it).
* ``peak RSS``: ``ru_maxrss`` of this process right after that configuration's timed steps (the demo runs
  first, so its figure is the demo's: model, optimizers, step graph, input pipeline and datasets).

The machine is shared by whatever else runs: read the numbers of a busy machine as lower bounds.
"""

import dataclasses
import os
import resource
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from absl import app, flags  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.profiler import model_analyzer, option_builder  # noqa: E402

from awh_tf.data import bad_samples, data_setup  # noqa: E402
from awh_tf.keypoints import NUM_KEYPOINTS  # noqa: E402
from awh_tf.models.flops import count_flops  # noqa: E402
from awh_tf.data.precrop_store import PrecropStore  # noqa: E402
from awh_tf.training import train_lib  # noqa: E402
from awh_tf.training.streams import InputStreams  # noqa: E402
from awh_tf.flags import config_from_args, define_flags  # noqa: E402

PIPELINE, RANDOM = "pipeline", "random"
PIPELINE_TARGET = 1.15
STORE_TARGET = 1.30  # the first epoch read from the precrop store, over the cached step
MATMUL_TARGET = 0.50


# -- measurements --------------------------------------------------------------------------------------

# The matmul dtype that is each precision's compute ceiling (mixed policies compute in the low precision).
CEILING_DTYPE = {"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}
BF16_MATMUL_TARGET = 0.55  # the paper-size step in bfloat16, as a fraction of the bf16 matmul rate


def matmul_gflops(n=2048, repeats=10, warmup=2, dtype="float32"):
    """GFLOP/s of ``tf.matmul`` of two N×N ``dtype`` matrices on this process's CPU threads: 2N³ / median s."""
    a = tf.cast(tf.random.stateless_uniform((n, n), seed=(0, 0)), dtype)
    b = tf.cast(tf.random.stateless_uniform((n, n), seed=(0, 1)), dtype)
    times = []
    for i in range(warmup + repeats):
        t0 = time.perf_counter()
        float(tf.cast(tf.matmul(a, b)[0, 0], tf.float32))  # reading one value waits for the product
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return 2.0 * n ** 3 / statistics.median(times) / 1e9


def graph_flops(graph):
    """Total float ops the TF profiler registers for ``graph`` (a traced step: forward, gradients and
    optimizer updates alike; ops inside nested function calls are not visited)."""
    options = option_builder.ProfileOptionBuilder(
        option_builder.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    return int(model_analyzer.profile(graph, options=options).total_float_ops)


def forward_gflops_per_image(pose_network, input_size):
    """GFLOPs of one inference of ``pose_network`` on a ``[1, S, S, 3]`` image."""
    spec = tf.TensorSpec((1, input_size, input_size, 3), tf.float32)
    return count_flops(lambda x: pose_network(x, training=False), [spec]) / 1e9


def peak_rss_mb():
    """This process's peak resident set size so far, MB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def random_batch(config, batch_size, seed=0):
    """A joint-step batch of random tensors with the input pipeline's shapes and ranges.

    Returns ``{"source": elem, "target": elem}``, each elem with B/2 = ``batch_size // 2`` samples:
    ``image`` float32 [B/2, S, S, 3] in [0, 1], ``uv`` float32 [B/2, 21, 2] crop px in [0, S),
    ``z_rel`` float32 [B/2, 21] (bone units, N(0, 1)), ``visible`` bool [B/2, 21] all True and
    ``depth_target`` float32 [B/2, D, D] in [0, 1], and the per-sample label flags ``has_2d`` /
    ``has_depth`` (all True) and ``has_3d`` (True on the synthetic half only); S = ``config.model.input_size``,
    D = ``config.model.depth_reg_size``.
    """
    if batch_size < 2 or batch_size % 2:
        raise ValueError(f"batch_size: must be even and >= 2 (half synthetic, half real), got {batch_size}")
    half, s, d = batch_size // 2, config.model.input_size, config.model.depth_reg_size

    def elem(stream):
        seeds = [(seed, 10 * stream + i) for i in range(4)]
        return {"image": tf.random.stateless_uniform((half, s, s, 3), seeds[0]),
                "uv": tf.random.stateless_uniform((half, NUM_KEYPOINTS, 2), seeds[1], 0.0, float(s)),
                "z_rel": tf.random.stateless_normal((half, NUM_KEYPOINTS), seeds[2]),
                "visible": tf.ones((half, NUM_KEYPOINTS), tf.bool),
                "depth_target": tf.random.stateless_uniform((half, d, d), seeds[3]),
                # The paper's label budget on the real half (2D + depth), as the pipeline flags it.
                "has_2d": tf.ones((half,), tf.bool), "has_depth": tf.ones((half,), tf.bool),
                "has_3d": tf.fill((half,), stream == 0)}

    return {"source": elem(0), "target": elem(1)}


def time_steps(step_fn, next_batch, steps, warmup=0):
    """Runs ``step_fn(next_batch(i))`` for ``warmup + steps`` steps, each waiting for its logs.

    Returns dict: ``times`` [steps] wall seconds per timed step (fetching the batch included) and
    ``cpu_s``, the process CPU seconds over the timed steps.
    """
    for i in range(warmup):
        _wait(step_fn(next_batch(i)))
    times, cpu0 = [], time.process_time()
    for i in range(warmup, warmup + steps):
        t0 = time.perf_counter()
        _wait(step_fn(next_batch(i)))
        times.append(time.perf_counter() - t0)
    return {"times": times, "cpu_s": time.process_time() - cpu0}


def _wait(logs):
    return {k: v.numpy() for k, v in logs.items()}


# -- one configuration ---------------------------------------------------------------------------------

def benchmark_config(config, source, steps, warmup=2, log=print, store_dir=None):
    """Times the joint training step of ``config`` and counts its FLOPs.

    Args:
      config: a :class:`~awh_tf.config.Config`; its ``train.batch_size`` is the timed batch.
      source: ``"pipeline"`` (the real input pipeline on ``config.data``, plus the same step on one
        cached batch of it) or ``"random"`` (:func:`random_batch`, no data read).
      steps, warmup: timed and untimed steps after the tracing call (per feed).
      store_dir: the precrop store's folder (default ``config.pipeline.precrop_store_dir``; empty: not timed).
    Returns:
      dict with ``batch_size``, ``trace_s``, ``forward_gflops_per_image``, ``train_gflops_per_image``,
      ``step_s`` (median, in-memory batch), ``images_per_s``, ``train_gflops_per_s``,
      ``cpu_s_per_image``, ``peak_rss_mb``; with ``"pipeline"`` also ``cached_step_mean_s``,
      ``pipeline_step_mean_s``, ``pipeline_images_per_s``, ``pipeline_ratio`` (mean over mean) and
      ``pipeline_cpu_s_per_image`` (the step's and the input pipeline's threads together).
    """
    if source not in (PIPELINE, RANDOM):
        raise ValueError(f"source: expected {PIPELINE!r} or {RANDOM!r}, got {source!r}")
    strategy = train_lib.get_strategy("default")
    batch_size = config.train.batch_size
    step0 = config.train.pretrain_steps  # the first joint step
    if store_dir is None:
        store_dir = config.pipeline.precrop_store_dir
    # Cold, warm and cached timings use the in-memory cache; the store is timed separately (its own feed).
    config = dataclasses.replace(config, pipeline=dataclasses.replace(config.pipeline, precrop_store_dir=""))
    if source == PIPELINE:
        data_setup.ensure_procedural_data(config.data, log=log)
        synthetic, real_train, _ = data_setup.open_domains(config.data)
        bad_log = bad_samples.BadSampleLog()
        with bad_samples.surface_data_errors(bad_log):
            batch = InputStreams(config, synthetic, real_train, bad_log, strategy).next(step0)
        # The first stream (and its prefetching threads) is dropped here, so none runs beside the cached steps.
    else:
        batch = random_batch(config, batch_size, seed=config.train.seed)
    with strategy.scope():
        trainer = train_lib.build_trainer(config)
    _, joint_fn = train_lib.make_step_functions(trainer, strategy)
    log(f"{config.name}: tracing the joint step (batch {batch_size}) ...")
    t0 = time.perf_counter()
    _wait(joint_fn(batch))
    result = {"batch_size": batch_size, "trace_s": time.perf_counter() - t0}
    result["train_gflops_per_image"] = (
        graph_flops(joint_fn.get_concrete_function(batch).graph) / batch_size / 1e9)
    result["forward_gflops_per_image"] = forward_gflops_per_image(trainer.pose_network,
                                                                  config.model.input_size)
    cached = time_steps(joint_fn, lambda i: batch, steps, warmup)
    step_s = statistics.median(cached["times"])
    result.update(step_s=step_s, images_per_s=batch_size / step_s,
                  train_gflops_per_s=result["train_gflops_per_image"] * batch_size / step_s,
                  cpu_s_per_image=cached["cpu_s"] / (steps * batch_size))
    if source == PIPELINE:
        result.update(_pipeline_timing(config, synthetic, real_train, joint_fn, cached, step0 + 1, steps,
                                       warmup, strategy, store_dir, log))
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def _pipeline_timing(config, synthetic, real_train, joint_fn, cached, start, steps, warmup, strategy,
                     store_dir="", log=print):
    """The same step fed by a fresh real input stream from joint step ``start`` on; compared by means.

    With ``cache_precrops`` the stream is timed twice: first cold (every sample read from disk, as in a
    run's first epoch over each domain), then — after filling both domains' precrop caches, untimed — warm
    (every later epoch: the steady state of a run). The warm figures are the ``pipeline_*`` keys; the cold
    ones are ``cold_*``. Without the cache there is only the one (disk) timing. With ``store_dir`` (and the
    cache), between the two: the stores are built (or found) untimed by the step, ``store_build_s`` for
    ``store_built`` samples, then a fresh stream reads them: ``store_*`` keys.
    """
    bad_log = bad_samples.BadSampleLog()
    streams = InputStreams(config, synthetic, real_train, bad_log, strategy)
    cached_mean = statistics.fmean(cached["times"])

    def timed(stream):
        with bad_samples.surface_data_errors(bad_log):
            real = time_steps(joint_fn, lambda i: stream.next(start + i), steps, warmup)
        # Drop the stream's iterator: its prefetching map would go on reading beside the next timing.
        stream._pre = stream._joint = None
        mean = statistics.fmean(real["times"])
        return {"step_mean_s": mean, "images_per_s": config.train.batch_size / mean, "ratio": mean / cached_mean,
                "cpu_s_per_image": real["cpu_s"] / (steps * config.train.batch_size)}

    result = {"cached_step_mean_s": cached_mean}
    timing = timed(streams)
    if config.pipeline.cache_precrops:
        result.update({f"cold_{k}": v for k, v in timing.items()})
        if store_dir:
            p = config.pipeline
            t0 = time.perf_counter()
            with bad_samples.surface_data_errors(bad_log):
                stores = [PrecropStore(ds, store_dir, p.input_size, p.precrop_factor, p.crop_margin, p.min_crop_size,
                                       p.mirror_right, log=log) for ds in (synthetic, real_train)]
            result.update(store_build_s=time.perf_counter() - t0, store_built=sum(s.built_now for s in stores),
                          store_samples=sum(map(len, stores)), store_dir=store_dir)
            stored = dataclasses.replace(config, pipeline=dataclasses.replace(p, precrop_store_dir=store_dir))
            result.update({f"store_{k}": v for k, v in
                           timed(InputStreams(stored, *stores, bad_log, strategy)).items()})
        t0 = time.perf_counter()
        with bad_samples.surface_data_errors(bad_log):
            count = streams.synthetic.fill() + streams.real_train.fill()
        result.update(cache_fill_s=time.perf_counter() - t0, cache_samples=count)
        timing = timed(InputStreams(config, streams.synthetic, streams.real_train, bad_log, strategy))
    result.update({f"pipeline_{k}": v for k, v in timing.items()})
    return result


# -- the whole run -------------------------------------------------------------------------------------

def run_benchmark(cases, warmup=2, matmul_n=2048, log=print, store_dir=None):
    """Measures the matmul rates, then each case, then the matmul rates again.

    Args:
      cases: list of ``(name, config, source, steps)``; ``source`` as in :func:`benchmark_config`.
    Returns:
      dict: ``matmul_n``; ``ceilings`` = {dtype: {"start", "end", "gflops_per_s" (the better of the two)}}
      for float32 and every dtype a case computes in (:data:`CEILING_DTYPE` of its ``--precision``);
      ``matmul_gflops_per_s`` / ``matmul_start`` / ``matmul_end``: the float32 ones; and ``results`` =
      {name: :func:`benchmark_config` dict plus ``precision``, ``ceiling_dtype`` and ``matmul_ratio`` =
      achieved training GFLOP/s / the matmul rate of its own compute dtype}.
    """
    dtypes = ["float32"] + sorted({CEILING_DTYPE[c.train.precision] for _, c, _, _ in cases} - {"float32"})
    start = {d: matmul_gflops(matmul_n, dtype=d) for d in dtypes}
    results = {name: benchmark_config(config, source, steps, warmup, log, store_dir)
               for name, config, source, steps in cases}
    end = {d: matmul_gflops(matmul_n, dtype=d) for d in dtypes}
    ceilings = {d: {"start": start[d], "end": end[d], "gflops_per_s": max(start[d], end[d])} for d in dtypes}
    for (_, config, _, _), r in zip(cases, results.values()):
        r["precision"], r["ceiling_dtype"] = config.train.precision, CEILING_DTYPE[config.train.precision]
        r["matmul_ratio"] = r["train_gflops_per_s"] / ceilings[r["ceiling_dtype"]]["gflops_per_s"]
    f32 = ceilings["float32"]
    return {"matmul_n": matmul_n, "matmul_start": f32["start"], "matmul_end": f32["end"],
            "matmul_gflops_per_s": f32["gflops_per_s"], "ceilings": ceilings, "results": results}


def format_report(report, configs):
    """The printed lines of a :func:`run_benchmark` report; ``configs`` = {name: Config}."""
    n = report["matmul_n"]
    ceilings = report.get("ceilings") or {"float32": {"gflops_per_s": report["matmul_gflops_per_s"],
                                                      "start": report["matmul_start"], "end": report["matmul_end"]}}
    short = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
    lines = [f"matmul {n}x{n} {short[d]}: {c['gflops_per_s']:.1f} GFLOP/s (start {c['start']:.1f}, end "
             f"{c['end']:.1f})" + (f"; {os.cpu_count()} CPU cores, TF {tf.__version__}" if d == "float32" else
                                   f" = {c['gflops_per_s'] / ceilings['float32']['gflops_per_s']:.2f}x fp32")
             for d, c in ceilings.items()]
    for name, r in report["results"].items():
        m, t = configs[name].model, configs[name].train
        lines.append(f"{name}: batch {r['batch_size']}, S={m.input_size}, {m.num_stacks} stacks x "
                     f"{m.channels} ch, da={t.da}, n_critic={t.n_critic}, {t.precision}; traced in "
                     f"{r['trace_s']:.0f} s")
        lines.append(f"  forward {r['forward_gflops_per_image']:.3f} GFLOPs/image; training "
                     f"{r['train_gflops_per_image']:.3f} GFLOPs/image (profiled step graph, "
                     f"{r['train_gflops_per_image'] / r['forward_gflops_per_image']:.2f}x forward)")
        target = BF16_MATMUL_TARGET if r.get("ceiling_dtype") == "bfloat16" else MATMUL_TARGET
        met = "met" if r["matmul_ratio"] >= target else "not met"
        ceiling = short[r.get("ceiling_dtype", "float32")]
        lines.append(f"  compute: {r['step_s']:.3f} s/step median = {r['images_per_s']:.1f} images/s = "
                     f"{r['train_gflops_per_s']:.1f} GFLOP/s = {r['matmul_ratio']:.2f} of {ceiling} matmul "
                     f"(paper-size target >= {target:.2f}: {met}); cpu {r['cpu_s_per_image'] * 1e3:.1f} ms/image")
        if "pipeline_ratio" in r:
            met = "met" if r["pipeline_ratio"] <= PIPELINE_TARGET else "not met"
            lines.append(f"  pipeline: {r['pipeline_step_mean_s']:.3f} s/step mean with the real input "
                         f"pipeline ({r['pipeline_images_per_s']:.1f} images/s) vs {r['cached_step_mean_s']:.3f} "
                         f"cached: {r['pipeline_ratio']:.2f}x (target <= {PIPELINE_TARGET:.2f}: {met}); cpu "
                         f"{r['pipeline_cpu_s_per_image'] * 1e3:.1f} ms/image")
            if "cold_ratio" in r:
                lines.append(f"    (warm precrop caches, filled untimed in {r['cache_fill_s']:.0f} s for "
                             f"{r['cache_samples']} samples; cold, every sample read from disk as in a run's "
                             f"first epoch: {r['cold_step_mean_s']:.3f} s/step = {r['cold_ratio']:.2f}x)")
            if "store_ratio" in r:
                built = (f"built in {r['store_build_s']:.0f} s for {r['store_built']} samples = "
                         f"{1e3 * r['store_build_s'] / r['store_built']:.1f} s per 1000" if r["store_built"] else
                         f"found complete ({r['store_build_s']:.1f} s to open)")
                met = "met" if r["store_ratio"] <= STORE_TARGET else "not met"
                lines.append(f"    (precrop store {r['store_dir']}: {built}; first epoch read from it: "
                             f"{r['store_step_mean_s']:.3f} s/step = {r['store_ratio']:.2f}x the cached step "
                             f"(target <= {STORE_TARGET:.2f}: {met}); cpu {r['store_cpu_s_per_image'] * 1e3:.1f} "
                             f"ms/image)")
        lines.append(f"  peak RSS after {name}: {r['peak_rss_mb']:.0f} MB")
    return lines


# -- CLI -----------------------------------------------------------------------------------------------

FLAGS = flags.FLAGS
DEMO_FLAGFILE, PAPER_FLAGFILE = "configs/demo.cfg", "configs/rhd_stb_awh.cfg"


def define_cli_flags():
    """The tool's flags plus the config flags (to parse the flag files; of those it reads only --data_dir).
    Defined when run as a script only, so importing the module defines nothing."""
    flags.DEFINE_list("configs", ["demo", "paper"], "Configurations to time, in this order: demo, paper.")
    flags.DEFINE_integer("steps", 20, "Timed steps of the demo (per feed: cached and real pipeline).")
    flags.DEFINE_integer("paper_steps", 5, "Timed steps of the paper size (each takes seconds here).")
    flags.DEFINE_integer("warmup", 2, "Untimed steps after the tracing call (per feed).")
    flags.DEFINE_integer("batch_size_paper", 8, "Global batch of the paper size (half synthetic, half real).")
    flags.DEFINE_integer("matmul_size", 2048, "N of the N x N fp32 matmul that measures the machine.")
    flags.DEFINE_string("demo_flagfile", DEMO_FLAGFILE, "Flag file of the demo configuration.")
    flags.DEFINE_string("paper_flagfile", PAPER_FLAGFILE, "Flag file of the paper-size model.")
    flags.DEFINE_string("store_dir", None, "Folder of the precrop store timed with the demo (default: the demo "
                        "config's --precrop_store_dir; empty: not timed). A new folder times its build.")
    flags.DEFINE_bool("compare_deterministic_ops", False, "Time every configuration a second time with "
                      "--deterministic_ops (the flag's cost, in the same run).")
    flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16"], "--precision of each timed configuration "
                      "(every configuration runs once per precision; the demo's real-pipeline timing only in the "
                      "first, the others on its cached batch's shapes).")
    define_flags()


def config_from_flagfile(path, *overrides):
    """A Config from a flag file plus ``--name=value`` overrides, parsed on fresh flag values at their
    defaults (:func:`awh_tf.flags.config_from_args`; this tool's own flags play no part)."""
    if not os.path.isfile(path):
        raise SystemExit(f"{path}: no such flag file (run from the repository root)")
    return config_from_args([f"--flagfile={path}", *overrides])


def demo_config(data_dir, precision="float32", flagfile=DEMO_FLAGFILE):
    """The ``demo`` case: the demo flag file on the procedural data in ``data_dir``."""
    return config_from_flagfile(flagfile, f"--data_dir={data_dir}", f"--precision={precision}")


def paper_config(batch_size=8, precision="float32", flagfile=PAPER_FLAGFILE):
    """The ``paper`` case: the paper-size model and objective of ``flagfile`` at global batch ``batch_size``."""
    return config_from_flagfile(flagfile, "--name=paper", f"--batch_size={batch_size}", f"--precision={precision}")


def main(argv):
    del argv
    tf.get_logger().setLevel("ERROR")  # the profiler's deprecation notices
    known = {"demo", "paper"}
    unknown = set(FLAGS.configs) - known
    if unknown:
        raise SystemExit(f"--configs: unknown {sorted(unknown)}; expected some of {sorted(known)}")
    bad = set(FLAGS.precisions) - set(CEILING_DTYPE)
    if bad:
        raise SystemExit(f"--precisions: unknown {sorted(bad)}; expected some of {sorted(CEILING_DTYPE)}")
    determinism = [False, True] if FLAGS.compare_deterministic_ops else [False]
    configs, cases = {}, []
    for name in FLAGS.configs:
        for i, precision in enumerate(FLAGS.precisions):
            for deterministic in determinism:
                label = name if len(FLAGS.precisions) == 1 else f"{name} {precision}"
                if deterministic:
                    label += " deterministic_ops"
                first = i == 0 and deterministic == determinism[0]
                if name == "demo":
                    config = demo_config(FLAGS.data_dir, precision, FLAGS.demo_flagfile)
                    source, steps = PIPELINE if first else RANDOM, FLAGS.steps
                else:
                    config = paper_config(FLAGS.batch_size_paper, precision, FLAGS.paper_flagfile)
                    source, steps = RANDOM, FLAGS.paper_steps
                configs[label] = dataclasses.replace(
                    config, train=dataclasses.replace(config.train, deterministic_ops=deterministic))
                cases.append((label, configs[label], source, steps))
    report = run_benchmark(cases, warmup=FLAGS.warmup, matmul_n=FLAGS.matmul_size,
                           log=lambda msg: print(msg, flush=True), store_dir=FLAGS.store_dir)
    print("\n".join(format_report(report, configs)))


if __name__ == "__main__":
    define_cli_flags()
    app.run(main)
