"""A suite's report: the finished runs' numbers, tabulated (``results.md``, ``results.json``, ``pck.png``).

Every function reads the run folders ``<suite_dir>/<slug>/seed<k>/`` that :mod:`awh_tf.experiments.runner`
writes (``eval.json``, ``suite_run.json``, ``discrepancy.json``, ``tb/``, ``eval_ckpt-<step>.json``).
TensorFlow (the TensorBoard event reader, the machine line), scipy and matplotlib are imported inside the
functions that need them.
"""

import json
import os
import time

import numpy as np

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
