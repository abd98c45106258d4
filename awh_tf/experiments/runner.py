"""Runs a suite (:data:`~awh_tf.experiments.suites.SUITES`): every configuration × seed, resumable.

Each configuration is trained and evaluated once per seed in ``<out_dir>/<suite>/<slug>/seed<k>/`` (default
trainer: ``awh_tf.training.shared_runs.SharedRunner``, which shares a seed's pre-training between rows),
with one progress line per run (its time included) and the run's own output in ``run.log`` there. A run
whose ``eval.json`` exists (with the same config) is not rerun, and an interrupted run resumes from its last
checkpoint. At the end :func:`~awh_tf.experiments.report.write_report` tabulates the suite's folder.
TensorFlow is imported only when a run trains or evaluates.
"""

import functools
import json
import os
import shutil
import sys
import time
import traceback

from awh_tf.errors import Interrupted
from awh_tf.experiments.report import checkpoint_epe, load_results, write_report
from awh_tf.experiments.suites import SUITES, build_config


def finished(config, workdir):
    """True when ``workdir`` holds a finished run (``eval.json``) of ``config``; ValueError when it holds
    a run of another config (the results would be mixed)."""
    from awh_tf.config import Config, incompatible_fields

    eval_path, config_path = os.path.join(workdir, "eval.json"), os.path.join(workdir, "config.json")
    if not os.path.exists(eval_path):
        return False
    old = Config.load(config_path)
    diffs = incompatible_fields(old, config)
    if old.train.total_steps != config.train.total_steps:
        diffs.append(f"total steps {old.train.total_steps} -> {config.train.total_steps}")
    if diffs:
        raise ValueError(f"{workdir} holds a finished run with other settings ({'; '.join(diffs[:3])}); "
                         f"use another --out_dir")
    return True


def run_one(config, workdir, train_fn):
    """Trains and evaluates one run, its output going to ``<workdir>/run.log``; returns (result, seconds)."""
    os.makedirs(workdir, exist_ok=True)
    t0 = time.time()
    with open(os.path.join(workdir, "run.log"), "a") as logf:
        def log(message):
            logf.write(f"{message}\n")
            logf.flush()

        try:
            result = train_fn(config, workdir, log=log, progress=False)
        except Exception:
            logf.write(traceback.format_exc())
            raise
    seconds = time.time() - t0
    with open(os.path.join(workdir, "suite_run.json"), "w") as f:
        json.dump({"seconds": seconds, "finished": time.strftime("%Y-%m-%d %H:%M:%S")}, f)
    return result, seconds


ARCHIVED_REPORT = ("results.md", "results.json", "pck.png")


def archive_runs(suite_dir, archive_dir):
    """Copies every finished run of ``suite_dir`` (``<slug>/seed<k>/`` with an ``eval.json``), without its
    checkpoints, and the suite's report into ``archive_dir`` — a folder to commit (``runs/`` may not survive
    the machine). Returns the number of runs copied."""
    copied = 0
    for slug in sorted(os.listdir(suite_dir)) if os.path.isdir(suite_dir) else ():
        row_dir = os.path.join(suite_dir, slug)
        for seed_dir in sorted(os.listdir(row_dir)) if os.path.isdir(row_dir) and not slug.startswith("_") else ():
            src = os.path.join(suite_dir, slug, seed_dir)
            if not os.path.exists(os.path.join(src, "eval.json")):
                continue
            dst = os.path.join(archive_dir, "runs", slug, seed_dir)
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("checkpoints", ".lock", "*.tmp"))
            copied += 1
    for name in ARCHIVED_REPORT:
        if os.path.exists(os.path.join(suite_dir, name)):
            shutil.copy2(os.path.join(suite_dir, name), archive_dir)
    return copied


def restore_archived_runs(archive_dir, suite_dir):
    """Copies the archived finished runs of ``archive_dir`` (:func:`archive_runs`) into ``suite_dir`` where it
    has no finished run of that row and seed, so a suite on a new machine skips them and reports them.
    Returns the number restored."""
    restored, runs = 0, os.path.join(archive_dir, "runs")
    for slug in sorted(os.listdir(runs)) if os.path.isdir(runs) else ():
        for seed_dir in sorted(os.listdir(os.path.join(runs, slug))):
            dst = os.path.join(suite_dir, slug, seed_dir)
            if os.path.exists(os.path.join(dst, "eval.json")):
                continue
            shutil.rmtree(dst, ignore_errors=True)  # a half-trained run of this row: the archive finished it
            shutil.copytree(os.path.join(runs, slug, seed_dir), dst)
            restored += 1
    return restored


def run_suite(suite, base, seeds, out_dir, steps=0, extra=(), only=(), data="procedural", train_fn=None,
              command=None, log=print, rank_steps=(), evaluate_fn=None, discrepancy=(300, 400),
              archive_dir=None):
    """Runs (or resumes) every configuration × seed, then writes the report; returns the failures.

    ``train_fn(config, workdir, log=, progress=)`` defaults to ``train_lib.train_and_evaluate`` and must
    write ``<workdir>/eval.json``; ``command`` is recorded in the report (default: this process's argv).
    ``rank_steps``: also evaluate every finished run's checkpoint of these steps (``eval_ckpt-<step>.json``,
    with ``evaluate_fn(workdir, checkpoint)``, default ``evaluate_lib.evaluate_run``) and report the rows'
    ranking there beside the final one. ``discrepancy``: held-out samples per domain and fresh-critic steps
    of each run's ``discrepancy.json`` (default train_fn only; 0 samples = not measured). ``archive_dir``:
    first restore the runs archived there (:func:`restore_archived_runs`), then after every finished run
    rewrite the report and archive it with the finished runs (:func:`archive_runs`).
    """
    if suite not in SUITES:
        raise ValueError(f"--suite: expected one of {sorted(SUITES)}, got {suite!r}")
    # Every suite runs with --deterministic_ops: a row and its partner differ by what the row changes, not by
    # TensorFlow's kernel noise (--nodeterministic_ops after `--` turns it off).
    extra = ("--deterministic_ops=true", *extra)
    experiments = [e for e in SUITES[suite] if not only or e.slug in only]
    unknown = sorted(set(only) - {e.slug for e in SUITES[suite]})
    if unknown or not experiments:
        raise ValueError(f"--only: unknown {unknown}; {suite} has {[e.slug for e in SUITES[suite]]}")
    cleanup = lambda: None  # noqa: E731
    suite_dir = os.path.join(out_dir, suite)
    if train_fn is None:
        from awh_tf.training.shared_runs import SharedRunner

        train_fn = SharedRunner(os.path.join(suite_dir, "_pretrain"), *discrepancy)
        cleanup = _release_memory  # the Keras graphs of a finished run are garbage for the next one
    command = command or " ".join(["python", "tools/run_experiments.py"] + sys.argv[1:])
    if archive_dir:
        n = restore_archived_runs(archive_dir, suite_dir)
        if n:
            log(f"restored {n} finished run(s) from {archive_dir}")
    # Seed-major: after each pass every configuration has one more seed, so a suite cut short still pairs.
    runs = [(e, s) for s in seeds for e in experiments]
    failures, t_start = [], time.time()
    for i, (exp, seed) in enumerate(runs, start=1):
        workdir = os.path.join(suite_dir, exp.slug, f"seed{seed}")
        head = f"[{i:>2}/{len(runs)}] {exp.label:<16} seed {seed}"
        try:
            config = build_config(base, exp, seed, f"{exp.slug}_seed{seed}", extra, steps)
            _check_data(config, data)
            if finished(config, workdir):
                log(f"{head}  done earlier ({os.path.join(workdir, 'eval.json')})")
                continue
            result, seconds = run_one(config, workdir, train_fn)
            log(f"{head}  EPE {result['epe_mean_mm']:6.2f} mm  AUC 0-30 {result['auc_0_30']:.3f}  "
                f"{seconds:6.0f} s")
            if archive_dir:
                _report(suite, suite_dir, experiments, seeds, command, time.time() - t_start, ())
                archive_runs(suite_dir, archive_dir)
        except Interrupted:  # SIGTERM / Ctrl-C: the run saved a checkpoint; the suite stops (resumable)
            log(f"{head}  interrupted; rerun the same command to resume the suite")
            raise
        except Exception as e:  # one failed run must not stop a suite of hours; reported at the end
            failures.append(f"{exp.slug} seed {seed}: {e}")
            run_log = os.path.join(workdir, "run.log")
            where = f" (details in {run_log})" if os.path.exists(run_log) else ""
            log(f"{head}  FAILED: {str(e).splitlines()[0] if str(e) else type(e).__name__}{where}")
        finally:
            cleanup()
    elapsed = time.time() - t_start
    shown = _shown(suite, suite_dir, experiments, seeds)
    for step in rank_steps:
        failures += evaluate_checkpoints(suite_dir, shown, seeds, step, evaluate_fn, log)
    report = _report(suite, suite_dir, experiments, seeds, command, elapsed, rank_steps)
    if archive_dir:
        log(f"archived {archive_runs(suite_dir, archive_dir)} finished run(s) and the report in {archive_dir}")
    log(f"wrote {report} ({elapsed:.0f} s this invocation)")
    return failures


def _shown(suite, suite_dir, experiments, seeds):
    """The report covers the suite's folder: the configurations run now and any finished earlier."""
    return [e for e in SUITES[suite] if e in experiments or load_results(suite_dir, e, seeds)]


def _report(suite, suite_dir, experiments, seeds, command, elapsed, rank_steps):
    return write_report(suite_dir, suite, _shown(suite, suite_dir, experiments, seeds), seeds, command, elapsed,
                        rank_steps)


def _check_data(config, data):
    if data == "real" and not (config.data.rhd_root and config.data.stb_root):
        raise ValueError("--data real: give --rhd_root and --stb_root (after --) or in the base flag file")


def _release_memory():
    import keras

    keras.backend.clear_session()


def evaluate_checkpoints(suite_dir, experiments, seeds, step, evaluate_fn=None, log=print):
    """Evaluates checkpoint ``ckpt-<step>`` of every finished run lacking ``eval_ckpt-<step>.json``; returns
    the failures (a run whose checkpoint was not kept is one)."""
    if evaluate_fn is None:
        from awh_tf.evaluation import evaluate_lib

        evaluate_fn = functools.partial(evaluate_lib.evaluate_run, log=lambda _: None)
    failures = []
    for e in experiments:
        for seed in seeds:
            workdir = os.path.join(suite_dir, e.slug, f"seed{seed}")
            if not os.path.exists(os.path.join(workdir, "eval.json")) or checkpoint_epe(workdir, step) is not None:
                continue
            checkpoint = os.path.join(workdir, "checkpoints", f"ckpt-{step}")
            if not os.path.exists(checkpoint + ".index"):
                failures.append(f"{e.slug} seed {seed}: no checkpoint of step {step} kept")
                continue
            evaluate_fn(workdir, checkpoint=checkpoint)
            log(f"{e.slug} seed {seed}: evaluated {checkpoint}")
    return failures
