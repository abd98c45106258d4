"""Per-level domain probe: at which levels of the network can the two domains be told apart?

Usage (from the repository root)::

    python tools/domain_probe.py --workdirs runs/a,runs/b [--labels "no critic,AWH"] \
        [--num 300] [--critic_steps 400] [--out_dir docs/adaptation/probe]

For each trained run (any run folder: ``config.json`` and ``checkpoints/``), ``--num`` synthetic held-out and
``--num`` real test crops go through the pose network, and every level of every stack gets the held-out
linear domain classifier's accuracy (global-average-pooled and flattened) and an RMS-normalised fresh
critic's W (``awh_tf.evaluation.domain_probe``). Writes ``probe.json`` (every number), ``probe.md`` (the
tables) and ``probe.png`` (accuracy per level, one line per run; the level each run's critic trains on is
circled) into ``--out_dir``, and prints each level as it is measured.
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_MEASURES = (("gap_accuracy", "GAP accuracy"), ("flat_accuracy", "flat accuracy"), ("fresh_critic_w", "fresh critic W"))


def markdown(runs):
    """One table per measure: a row per level, a column per run (the critic's levels in bold)."""
    levels = [row["level"] for row in runs[0]["levels"]]
    shapes = {row["level"]: "×".join(map(str, row["shape"])) for row in runs[0]["levels"]}
    lines = [f"{runs[0]['num_per_domain']} held-out crops per domain; 0.5 accuracy / 0 W = the domains look "
             f"alike. **Bold**: the level the run's critic trains on.", ""]
    for key, title in _MEASURES:
        if key not in runs[0]["levels"][0]:
            continue
        lines += [f"### {title}", "", "| level | shape | " + " | ".join(r["label"] for r in runs) + " |",
                  "|---|---|" + "---:|" * len(runs)]
        for i, level in enumerate(levels):
            cells = []
            for r in runs:
                value = f"{r['levels'][i][key]:.3f}"
                cells.append(f"**{value}**" if level in r["critic_levels"] else value)
            lines.append(f"| {level} | {shapes[level]} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def figure(runs, path):
    from awh_tf.evaluation.plots import pyplot

    plt = pyplot()
    levels = [row["level"] for row in runs[0]["levels"]]
    keys = [(k, t) for k, t in _MEASURES if k in runs[0]["levels"][0]]
    fig, axes = plt.subplots(len(keys), 1, figsize=(max(8, 0.55 * len(levels)), 2.6 * len(keys)), sharex=True)
    for ax, (key, title) in zip(axes, keys):
        for r in runs:
            values = [row[key] for row in r["levels"]]
            line, = ax.plot(range(len(levels)), values, marker=".", label=r["label"])
            marked = [i for i, level in enumerate(levels) if level in r["critic_levels"]]
            ax.plot(marked, [values[i] for i in marked], "o", ms=10, mfc="none", color=line.get_color())
        if "accuracy" in key:
            ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[-1].set_xticks(range(len(levels)))
    axes[-1].set_xticklabels(levels, rotation=60, ha="right", fontsize=8)
    fig.suptitle("Domain probe per level (circled: where the run's critic attaches)")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def domain_probe(workdirs, out_dir, labels=None, num=300, critic_steps=400, seed=0, data_overrides=None,
                 log=print):
    """Probes every run of ``workdirs``; writes probe.json/.md/.png into ``out_dir``; returns the runs' dicts."""
    from awh_tf.evaluation import domain_probe as probe_lib
    from awh_tf.run_dir import load_run

    labels = labels or [None] * len(workdirs)
    if len(labels) != len(workdirs):
        raise ValueError(f"--labels: {len(labels)} labels for {len(workdirs)} runs")
    runs = []
    for workdir, label in zip(workdirs, labels):
        config, network, checkpoint = load_run(workdir, data_overrides=data_overrides)
        log(f"{workdir} ({checkpoint}):")
        result = probe_lib.probe(network, config, num, critic_steps, seed, log=log)
        runs.append(dict(result, label=label or config.name, workdir=workdir, checkpoint=checkpoint))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "probe.json"), "w") as f:
        json.dump(runs, f, indent=1)
    with open(os.path.join(out_dir, "probe.md"), "w") as f:
        f.write(markdown(runs) + "\n")
    figure(runs, os.path.join(out_dir, "probe.png"))
    log(f"wrote {out_dir}/probe.json, probe.md, probe.png")
    return runs


def main(argv):
    from awh_tf.evaluation import evaluate_lib

    evaluate_lib.run_tool(argv, lambda F, overrides: domain_probe(
        F.workdirs, F.out_dir, F.labels, F.num, F.critic_steps, F.seed, overrides,
        log=lambda line: print(line, flush=True)))


def define_flags():
    from absl import flags

    flags.DEFINE_list("workdirs", None, "Run folders to probe.", required=True)
    flags.DEFINE_list("labels", None, "A label per run (default: each run's name).")
    flags.DEFINE_integer("num", 300, "Held-out crops per domain.")
    flags.DEFINE_integer("critic_steps", 400, "Training steps of each level's fresh critic (0 = accuracies only).")
    flags.DEFINE_integer("seed", 0, "The crops' draw, the classifier's split and the fresh critic.")
    flags.DEFINE_string("data_dir", None, "Replace every run's data_dir (when the data moved).")
    flags.DEFINE_string("out_dir", "runs/probe", "Where probe.json, probe.md and probe.png go.")


if __name__ == "__main__":
    from absl import app

    define_flags()
    app.run(main)
