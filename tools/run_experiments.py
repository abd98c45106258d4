"""Reruns the paper's comparisons: Table 2 (domain adaptation baselines) or Table 1 (first-stack losses).

Usage (from the repository root)::

    python tools/run_experiments.py --suite table2 [--data procedural] [--steps N] [--seeds 0,1] \
        [--base configs/demo.cfg] [--out_dir runs/experiments] [--only slug,slug] [-- --extra_flag=value …]

Every configuration is the base flag file (``--base``) plus the suite's overrides (:data:`SUITES`), parsed
by the training flags module into a frozen ``Config``; flags after ``--`` are applied to every
configuration before the suite's own (which therefore always win). Each configuration is trained and
evaluated (``train_lib.train_and_evaluate``) once per seed in ``<out_dir>/<suite>/<slug>/seed<k>/``, with
one progress line per run (its time included) and the run's own output in ``run.log`` there.

Resumable: a run whose ``eval.json`` exists (with the same config) is not rerun, and an interrupted run
resumes from its last checkpoint. At the end ``<out_dir>/<suite>/results.md`` holds the Markdown table
(mean ± sample standard deviation over seeds), the command and the run time, ``results.json`` the same
numbers and ``pck.png`` the combined PCK curves (mean over seeds, shaded min–max).

Suites (our reading of the paper, p. 6, where its text is silent):

* ``table2`` — ``wo/AWH+w/FSS``: Iqbal et al.'s two-stack network with the depth regularizer, the first
  stack supervised as Iqbal et al. supervise every stack, i.e. with all the losses the final stack gets:
  synthetic 2D + 3D and real 2D (R2D+R3D+S2D; the paper's Table 1 row of that name is the same network);
  ``wo/AWH+wo/FSS``: the same without first-stack supervision; ``w/WH+wo/FSS``: plus a WDGRL critic
  (α ≡ 1, Shen et al.); ``w/AWH+wo/FSS``: the method. Two references the paper lacks: ``source only``
  (synthetic data alone) and ``oracle`` (the real domain's 3D labels used in training), which define the
  **domain gap closed** = (EPE_source_only − EPE_method) / (EPE_source_only − EPE_oracle).
* ``table1`` — no critic (Iqbal et al. + depth regularizer), the first stack supervised with each of the 7
  combinations of R2D (synthetic 2D), R3D (synthetic depth), S2D (real 2D), and ``wo/IL`` (none).
* ``fig5a`` — wo/FSS, w/FSS and w/FSSC (extra conv layers before the first stack's heatmaps, paper Fig. 3),
  each first-stack-supervised variant with R2D+R3D+S2D; the runs behind the paper's Fig. 4 and 5a.
"""

import copy
import dataclasses
import functools
import json
import os
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from awh_tf.errors import Interrupted  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One configuration of a suite: its table label, folder name, flag overrides and paper numbers.

    ``role`` is ``source_only`` / ``oracle`` for the domain-gap references, else None; ``paper`` is the
    paper's (3D mean EPE mm, AUC@30mm) on real STB, or None; ``partner`` is the slug of the same
    configuration without the critic, for the paired difference (None: no such row).
    """

    label: str
    slug: str
    overrides: tuple
    paper: tuple = None
    role: str = None
    partner: str = None


def _flags(da="none", losses=(), intermediate=None, source_only=False, labels="2d_depth", alpha="eq5",
           lambda_wd=None):
    intermediate = intermediate or ("heatmap" if losses else "none")
    out = (f"--da={da}", f"--intermediate={intermediate}", f"--intermediate_losses={','.join(losses)}",
           f"--{'' if source_only else 'no'}source_only", f"--target_labels={labels}",
           f"--similarity_mode={alpha}")
    return out + ((f"--lambda_wd={lambda_wd}",) if lambda_wd is not None else ())


ALL_FIRST_STACK = ("R2D", "R3D", "S2D")
_TABLE1_ROWS = ((("R2D",), (15.7, 0.512)), (("R3D",), (16.6, 0.477)), (("S2D",), (14.1, 0.553)),
                (("R2D", "S2D"), (17.1, 0.482)), (("R2D", "R3D"), (15.9, 0.499)),
                (("S2D", "R3D"), (16.2, 0.486)), (("R2D", "S2D", "R3D"), (15.9, 0.504)))

_ADAPTATION = (
    Experiment("source only", "source_only", _flags("none", source_only=True), role="source_only"),
    Experiment("oracle: 2D+depth+3D", "oracle", _flags("none", labels="3d"), role="oracle"),
    Experiment("oracle + AWH (Fig. 5c)", "oracle_awh", _flags("awh", labels="3d"), partner="oracle"),
    Experiment("2D+depth (wo/AWH)", "wo_awh", _flags("none"), (13.1, 0.576)),
    Experiment("2D+depth + WH (α ≡ 1)", "w_wh", _flags("wdgrl"), (13.1, 0.578), partner="wo_awh"),
    Experiment("2D+depth + AWH, Eq. 5 α", "w_awh", _flags("awh"), (12.8, 0.589), partner="wo_awh"),
    Experiment("2D+depth + AWH, centred α", "w_awh_centred", _flags("awh", alpha="centred"),
               partner="wo_awh"),
    Experiment("2D only", "l2d", _flags("none", labels="2d")),
    Experiment("2D only + AWH", "l2d_awh", _flags("awh", labels="2d"), partner="l2d"),
    Experiment("no labels", "unlabelled", _flags("none", labels="none")),
    Experiment("no labels + AWH", "unlabelled_awh", _flags("awh", labels="none"), partner="unlabelled"),
)
# λ_wd of the critic rows above is the base's (0.05); these sweep it where the critic has the most to do.
_LAMBDA_SWEEP = tuple(
    Experiment(f"{label} + AWH, λ_wd {lam}", f"{slug}_awh_lwd{lam}", _flags("awh", labels=labels, lambda_wd=lam),
               partner=slug)
    for slug, label, labels in (("unlabelled", "no labels", "none"), ("wo_awh", "2D+depth", "2d_depth"))
    for lam in (0.01, 0.2, 1.0))

SUITES = {
    "table2": (
        Experiment("wo/AWH+w/FSS", "wo_awh_w_fss", _flags("none", ALL_FIRST_STACK)),
        Experiment("wo/AWH+wo/FSS", "wo_awh_wo_fss", _flags("none"), (13.1, 0.576)),
        Experiment("w/WH+wo/FSS", "w_wh_wo_fss", _flags("wdgrl"), (13.1, 0.578), partner="wo_awh_wo_fss"),
        Experiment("w/AWH+wo/FSS", "w_awh_wo_fss", _flags("awh"), (12.8, 0.589), partner="wo_awh_wo_fss"),
        Experiment("source only", "source_only", _flags("none", source_only=True), role="source_only"),
        Experiment("oracle", "oracle", _flags("none", labels="3d"), role="oracle"),
    ),
    "adaptation": _ADAPTATION + _LAMBDA_SWEEP,
    "table1": tuple(Experiment("+".join(losses), "_".join(losses).lower(), _flags("none", losses), paper)
                    for losses, paper in _TABLE1_ROWS)
    + (Experiment("wo/IL", "wo_il", _flags("none"), (13.1, 0.576)),),
    "fig5a": (
        Experiment("wo/FSS", "wo_fss", _flags("none")),
        Experiment("w/FSS", "w_fss", _flags("none", ALL_FIRST_STACK)),
        Experiment("w/FSSC", "w_fssc", _flags("none", ALL_FIRST_STACK, intermediate="conv")),
    ),
}


def config_flag_values():
    """A fresh ``FlagValues`` holding copies of every training flag (``--workdir``, ``--name``, config)."""
    from absl import flags

    from awh_tf import flags as awh_flags

    awh_flags.define_flags()
    fv = flags.FlagValues()
    for name in ["workdir", "name"] + list(awh_flags.flag_table()):
        fv[name] = copy.deepcopy(flags.FLAGS[name])
    return fv


def build_config(base, experiment, seed, name, extra=(), steps=0):
    """The frozen ``Config`` of one run: ``--flagfile=base``, then ``extra``, then the suite's overrides.

    ``steps`` > 0 replaces the schedule: ``steps // 2`` pre-training + the rest joint steps, warm-up at most
    a tenth of the run.
    """
    from awh_tf import flags as awh_flags

    if not os.path.exists(base):
        raise ValueError(f"--base: {base} not found (paths are relative to the working directory)")
    fv = config_flag_values()
    fv(["run_experiments", f"--flagfile={base}", *extra, *experiment.overrides, f"--seed={seed}",
        f"--name={name}"])
    config = awh_flags.config_from_flags(fv)
    if steps:
        train = dataclasses.replace(config.train, pretrain_steps=steps // 2, train_steps=steps - steps // 2,
                                    warmup_steps=min(config.train.warmup_steps, steps // 10))
        config = dataclasses.replace(config, train=train)
    if config.train.intermediate_losses and config.model.num_stacks < 2:
        raise ValueError(f"{experiment.label}: first-stack supervision needs --num_stacks >= 2, the base "
                         f"config has {config.model.num_stacks}")
    return config


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


def run_suite(suite, base, seeds, out_dir, steps=0, extra=(), only=(), data="procedural", train_fn=None,
              command=None, log=print, rank_steps=(), evaluate_fn=None, discrepancy=(300, 400)):
    """Runs (or resumes) every configuration × seed, then writes the report; returns the failures.

    ``train_fn(config, workdir, log=, progress=)`` defaults to ``train_lib.train_and_evaluate`` and must
    write ``<workdir>/eval.json``; ``command`` is recorded in the report (default: this process's argv).
    ``rank_steps``: also evaluate every finished run's checkpoint of these steps (``eval_ckpt-<step>.json``,
    with ``evaluate_fn(workdir, checkpoint)``, default ``evaluate_lib.evaluate_run``) and report the rows'
    ranking there beside the final one. ``discrepancy``: held-out samples per domain and fresh-critic steps
    of each run's ``discrepancy.json`` (default train_fn only; 0 samples = not measured).
    """
    if suite not in SUITES:
        raise ValueError(f"--suite: expected one of {sorted(SUITES)}, got {suite!r}")
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
    command = command or " ".join(["python", "tools/run_experiments.py"] + sys.argv[1:])
    # The report covers the suite's folder: the configurations run now and any finished earlier.
    shown = [e for e in SUITES[suite] if e in experiments or load_results(suite_dir, e, seeds)]
    for step in rank_steps:
        failures += evaluate_checkpoints(suite_dir, shown, seeds, step, evaluate_fn, log)
    report = write_report(suite_dir, suite, shown, seeds, command, elapsed, rank_steps)
    log(f"wrote {report} ({elapsed:.0f} s this invocation)")
    return failures


def _check_data(config, data):
    if data == "real" and not (config.data.rhd_root and config.data.stb_root):
        raise ValueError("--data real: give --rhd_root and --stb_root (after --) or in the base flag file")


def _release_memory():
    import keras

    keras.backend.clear_session()


# -- report -----------------------------------------------------------------------------------------

METRICS = (("epe_mean_mm", "3D EPE mean (mm)", 2), ("auc_0_30", "AUC 0-30 mm", 3),
           ("auc_20_50", "AUC 20-50 mm", 3), ("epe2d_mean_px", "2D EPE (px)", 2),
           ("root_free_epe_mean_mm", "3D EPE, root depth solved (mm)", 2))


def load_results(suite_dir, experiment, seeds):
    """``{seed: eval.json dict}`` of the finished runs of one configuration, with ``seconds``, the
    ``discrepancy.json`` numbers and the α / feature statistics logged in training, where known."""
    out = {}
    for seed in seeds:
        workdir = os.path.join(suite_dir, experiment.slug, f"seed{seed}")
        path = os.path.join(workdir, "eval.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            result = json.load(f)
        result["root_free_epe_mean_mm"] = result.get("root_free", {}).get("epe_mean_mm")
        timing = os.path.join(workdir, "suite_run.json")
        if os.path.exists(timing):
            with open(timing) as f:
                result["seconds"] = json.load(f)["seconds"]
        disc = os.path.join(workdir, "discrepancy.json")
        if os.path.exists(disc):
            with open(disc) as f:
                result.update(json.load(f))
        result.update(training_statistics(os.path.join(workdir, "tb")))
        out[seed] = result
    return out


TRAINING_TAGS = ("alpha_min", "alpha_median", "alpha_max", "alpha_mean", "wasserstein", "feature_rms_s",
                 "feature_rms_t")


def training_statistics(tb_dir, tags=TRAINING_TAGS):
    """``{tag: mean over the logged intervals of the joint phase}`` of ``train/<tag>`` scalars in a run's
    TensorBoard folder (α's statistics, the training W, the feature RMS); tags never logged are left out."""
    if not os.path.isdir(tb_dir):
        return {}
    import tensorflow as tf

    values = {}
    for name in sorted(os.listdir(tb_dir)):
        if not name.startswith("events."):
            continue
        for event in tf.compat.v1.train.summary_iterator(os.path.join(tb_dir, name)):
            for v in event.summary.value:
                tag = v.tag.split("/", 1)[-1]
                if v.tag.startswith("train/") and tag in tags:
                    values.setdefault(tag, []).append(float(tf.make_ndarray(v.tensor)))
    return {f"train_{tag}": float(np.mean(v)) for tag, v in values.items()}


def paired_difference(results, partner_results):
    """EPE(row) − EPE(partner) over the seeds both have: ``(mean, half-width of the 95 % t interval, n)``;
    the half-width is None for fewer than 2 seeds, everything None for none."""
    from scipy import stats

    seeds = sorted(set(results) & set(partner_results))
    d = np.array([results[s]["epe_mean_mm"] - partner_results[s]["epe_mean_mm"] for s in seeds], np.float64)
    if d.size == 0:
        return None, None, 0
    if d.size < 2:
        return float(d.mean()), None, 1
    half = float(stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size))
    return float(d.mean()), half, int(d.size)


def mean_spread(values):
    """``(mean, sample std)`` of the non-None values; std None for fewer than 2, both None for none."""
    v = np.array([x for x in values if x is not None], np.float64)
    if v.size == 0:
        return None, None
    return float(v.mean()), (float(v.std(ddof=1)) if v.size > 1 else None)


def gap_closed(results, by_role, seed):
    """(EPE_source_only − EPE_method) / (EPE_source_only − EPE_oracle) for one seed, or None."""
    src, orc = by_role.get("source_only", {}).get(seed), by_role.get("oracle", {}).get(seed)
    if src is None or orc is None or seed not in results:
        return None
    denom = src["epe_mean_mm"] - orc["epe_mean_mm"]
    if denom <= 0:  # the oracle is no better than source only: the gap is not defined
        return None
    return (src["epe_mean_mm"] - results[seed]["epe_mean_mm"]) / denom


def summarise(suite_dir, experiments, seeds):
    """Per configuration: seeds done, mean/std of :data:`METRICS`, the domain gap closed, PCK curves."""
    all_results = {e.slug: load_results(suite_dir, e, seeds) for e in experiments}
    by_role = {e.role: all_results[e.slug] for e in experiments if e.role}
    rows = []
    for e in experiments:
        results = all_results[e.slug]
        row = {"label": e.label, "slug": e.slug, "seeds": sorted(results), "paper": e.paper,
               "seconds": sum(r.get("seconds", 0.0) for r in results.values())}
        for key, _, _ in METRICS:
            row[key] = mean_spread([r.get(key) for r in results.values()])
        if "source_only" in by_role and "oracle" in by_role:
            row["gap_closed"] = mean_spread([gap_closed(results, by_role, s) for s in seeds])
        if e.partner and e.partner in all_results:
            row["paired"] = paired_difference(results, all_results[e.partner])
            row["partner"] = e.partner
        for key in DISCREPANCY + tuple(f"train_{t}" for t in TRAINING_TAGS):
            row[key] = mean_spread([r.get(key) for r in results.values()])
        row["pck"] = [r["pck_curve"] for r in results.values()]
        row["thresholds"] = next((r["pck_thresholds_mm"] for r in results.values()), None)
        row["auc_0_50"] = mean_spread([r["auc_0_50"] for r in results.values()])[0]
        rows.append(row)
    return rows


DISCREPANCY = ("domain_accuracy", "fresh_critic_w")


def _cell(ms, digits):
    mean, std = ms
    if mean is None:
        return "—"
    return f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


def markdown_table(rows):
    """The results table (mean ± sample std over seeds) in Markdown."""
    has_gap = any("gap_closed" in r for r in rows)
    head = ["configuration", "seeds"] + [name for _, name, _ in METRICS]
    head += (["domain gap closed"] if has_gap else []) + ["paper (real STB): EPE mm / AUC@30"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["label"], str(len(r["seeds"]))] + [_cell(r[k], d) for k, _, d in METRICS]
        if has_gap:
            cells.append(_cell(r.get("gap_closed", (None, None)), 2))
        cells.append("—" if r["paper"] is None else f"{r['paper'][0]} / {r['paper'][1]}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _paired_cell(paired):
    mean, half, n = paired
    if mean is None:
        return "—"
    return f"{mean:+.2f}" + ("" if half is None else f" [{mean - half:+.2f}, {mean + half:+.2f}]") + f" (n={n})"


def adaptation_table(rows):
    """What the critic does, per configuration: the paired EPE difference to the same seeds without the
    critic (95 % t interval), the held-out domain discrepancy and the training-time α / W / feature RMS."""
    head = ["configuration", "ΔEPE vs same seeds without critic, mm [95 % CI]", "domain classifier acc.",
            "fresh critic W", "α min / median / max (training)", "training W", "feature RMS s / t"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        paired = _paired_cell(r["paired"]) + f" vs {r['partner']}" if r.get("paired") else "—"
        alpha = " / ".join(_cell(r[f"train_alpha_{k}"], 2) for k in ("min", "median", "max"))
        rms = " / ".join(_cell(r[f"train_feature_rms_{k}"], 2) for k in ("s", "t"))
        lines.append("| " + " | ".join([r["label"], paired, _cell(r["domain_accuracy"], 3),
                                        _cell(r["fresh_critic_w"], 3),
                                        alpha if r["train_alpha_min"][0] is not None else "—",
                                        _cell(r["train_wasserstein"], 3),
                                        rms if r["train_feature_rms_s"][0] is not None else "—"]) + " |")
    return "\n".join(lines)


def plot_suite(rows, path, title):
    """Combined PCK curves: per configuration the mean over seeds, shaded min-max."""
    from awh_tf.evaluation.plots import plot_pck

    curves = []
    for r in rows:
        if not r["pck"]:
            continue
        pck = np.array(r["pck"], np.float64)
        curves.append({"label": f"{r['label']} ({len(r['seeds'])} seeds)", "thresholds": r["thresholds"],
                       "pck": pck.mean(0), "auc": r["auc_0_50"], "band": (pck.min(0), pck.max(0))})
    return plot_pck(curves, path, title=title) if curves else None


def _machine():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"{os.cpu_count()} CPU cores, " + (f"{len(gpus)} GPU(s)" if gpus else "no GPU")


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


def checkpoint_epe(workdir, step):
    """The 3D mean EPE of ``workdir``'s evaluation of checkpoint ``step`` (``eval_ckpt-<step>.json``), or None."""
    path = os.path.join(workdir, f"eval_ckpt-{step}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)["epe_mean_mm"]


def ranks(values):
    """1-based ranks of ``values`` (1 = smallest; ties share the lower rank), None kept as None."""
    present = sorted(v for v in values if v is not None)
    return [None if v is None else present.index(v) + 1 for v in values]


def ranking_table(suite_dir, rows, seeds, steps):
    """Markdown: each row's mean EPE and rank after each of ``steps`` and at the end of training, and the
    Spearman correlation of each ranking with the final one."""
    from scipy import stats

    columns = {}
    for step in steps:
        columns[f"step {step}"] = [mean_spread([checkpoint_epe(os.path.join(suite_dir, r["slug"], f"seed{s}"), step)
                                                for s in seeds]) for r in rows]
    columns["end of training"] = [r["epe_mean_mm"] for r in rows]
    head = ["configuration"] + [f"3D EPE {name} (rank)" for name in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ranked = {name: ranks([ms[0] for ms in col]) for name, col in columns.items()}
    for i, r in enumerate(rows):
        cells = [f"{_cell(col[i], 2)} ({ranked[name][i] or '—'})" for name, col in columns.items()]
        lines.append("| " + " | ".join([r["label"]] + cells) + " |")
    final = ranked["end of training"]
    for step in steps:
        pairs = [(a, b) for a, b in zip(ranked[f"step {step}"], final) if a is not None and b is not None]
        if len(pairs) > 2:
            rho = stats.spearmanr(*zip(*pairs)).statistic
            lines.append(f"\nSpearman rank correlation, step {step} vs end of training: {rho:.2f} "
                         f"({len(pairs)} configurations).")
    return "\n".join(lines)


def write_report(suite_dir, suite, experiments, seeds, command, elapsed, rank_steps=()):
    """Writes ``results.md``, ``results.json`` and ``pck.png`` in ``suite_dir``; returns the .md path."""
    os.makedirs(suite_dir, exist_ok=True)
    rows = summarise(suite_dir, experiments, seeds)
    plot = plot_suite(rows, os.path.join(suite_dir, "pck.png"), f"3D PCK on the real test split: {suite}")
    compute = sum(r["seconds"] for r in rows)
    lines = [f"# {suite}: {time.strftime('%Y-%m-%d %H:%M')}", "",
             f"Command: `{command}`", "",
             f"Machine: {_machine()}. This invocation: {elapsed:.0f} s; training + evaluation time of all "
             f"finished runs (summed, including earlier invocations): {compute:.0f} s.", "",
             markdown_table(rows), "",
             adaptation_table(rows), "",
             "Mean ± sample standard deviation over seeds (same seeds for every configuration). 3D numbers "
             "follow DESIGN.md §4 on the real test split (GT scale and root depth); the root-depth-solved "
             "column recovers the root from the palm-middle MCP bone instead. "
             "Domain gap closed = (EPE_source_only − EPE_method) / (EPE_source_only − EPE_oracle), per "
             "seed, then averaged. The paper's numbers are on real STB with the 256-px network and are not "
             "comparable in absolute value to a procedural-data run.", "",
             "Second table: ΔEPE = EPE(row) − EPE(the same configuration without the critic), per seed, then the "
             "mean and its 95 % t interval over seeds (negative = the critic helps). Domain classifier acc. "
             "and fresh critic W are measured after training on held-out features (synthetic held-out vs "
             "real test crops; awh_tf/evaluation/domain_discrepancy.py): 0.5 and 0 mean indistinguishable. "
             "The training-time columns are means over the joint phase's logging intervals.", ""]
    if rank_steps:
        lines += ["Ranking of the configurations earlier in training (the same runs' checkpoints, evaluated "
                  "on the real test split) and at the end; mean ± sd over seeds.", "",
                  ranking_table(suite_dir, rows, seeds, rank_steps), ""]
    if plot:
        lines += ["![PCK](pck.png)", ""]
    path = os.path.join(suite_dir, "results.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    serialisable = [{k: v for k, v in r.items() if k not in ("pck",)} for r in rows]
    with open(os.path.join(suite_dir, "results.json"), "w") as f:
        json.dump({"suite": suite, "seeds": list(seeds), "command": command, "rows": serialisable}, f,
                  indent=2)
    return path


def main(argv):
    from absl import flags

    FLAGS = flags.FLAGS
    seeds = [int(s) for s in FLAGS.seeds]
    if len(seeds) < 2:
        print("warning: fewer than 2 seeds: the table's spread is undefined", file=sys.stderr)
    try:
        failures = run_suite(FLAGS.suite, FLAGS.base, seeds, FLAGS.out_dir, FLAGS.steps, argv[1:],
                             tuple(FLAGS.only or ()), FLAGS.data,
                             rank_steps=tuple(int(s) for s in FLAGS.rank_at_steps or ()),
                             discrepancy=(FLAGS.discrepancy_samples, FLAGS.discrepancy_critic_steps))
    except ValueError as e:
        sys.exit(f"error: {e}")
    except Interrupted as e:
        print(e, file=sys.stderr)
        sys.exit(128 + e.signum)
    if failures:
        sys.exit(f"{len(failures)} run(s) failed:\n" + "\n".join(f"  {f}" for f in failures))


def define_flags():
    from absl import flags

    flags.DEFINE_enum("suite", None, sorted(SUITES), "Which comparison to run.", required=True)
    flags.DEFINE_enum("data", "procedural", ["procedural", "real"],
                      "procedural: the base config's generated data; real: RHD/STB roots given as flags.")
    flags.DEFINE_integer("steps", 0, "Total training steps per run (half pre-training); 0 = the base's.")
    flags.DEFINE_list("seeds", ["0", "1"], "Seeds; every configuration runs once per seed.")
    flags.DEFINE_string("base", "configs/demo.cfg", "Base flag file of every configuration.")
    flags.DEFINE_string("out_dir", "runs/experiments", "Runs go to <out_dir>/<suite>/<slug>/seed<k>/.")
    flags.DEFINE_list("only", None, "Run only these configurations (slugs), e.g. source_only,oracle.")
    flags.DEFINE_integer("discrepancy_samples", 300, "Held-out crops per domain for each run's domain "
                         "discrepancy (discrepancy.json); 0 = not measured.")
    flags.DEFINE_integer("discrepancy_critic_steps", 400, "Training steps of the discrepancy's fresh critic.")
    flags.DEFINE_list("rank_at_steps", None, "Also evaluate each run's checkpoint of these steps and report the "
                      "ranking there (is the final ranking stable?); the checkpoints must be kept.")


if __name__ == "__main__":
    from absl import app

    define_flags()
    app.run(main)
