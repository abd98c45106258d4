"""Paper Fig. 6: t-SNE of the adapted hourglass's bottleneck features, source vs target, per run.

Usage (from the repository root)::

    python tools/feature_tsne.py --workdirs runs/w_awh,runs/wo_awh [--num 500] [--out tsne.png]

For each run, ``--num`` samples of the synthetic held-out split (RHD ``evaluation``, the source domain) and
``--num`` of the real test split (STB, the target domain) are cropped as in evaluation, passed through the
pose network, and the features ``z`` of the adapted hourglass's bottleneck (``outputs["features"]``,
``[N, hb, wb, C]``, flattened: what the critic sees) are embedded in 2D with t-SNE (scikit-learn),
red = source, blue = target as in the paper; one panel per run, side by side.

The figure's claim ("the adapted features close the domain gap") is made measurable by a number printed
and shown per run: the held-out accuracy of a logistic-regression domain classifier on the same
features (standardised; a stratified half of the 2·num samples trains it, the other half scores it).
0.5 means the domains are linearly indistinguishable, 1.0 perfectly separable. Seeded (``--seed``).
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def domain_features(workdir, num, seed=0, data_overrides=None):
    """Flattened bottleneck features of ``num`` source and ``num`` target samples of one run.

    Returns:
      ``(features [2·n, hb·wb·C] float32, domain [2·n] int (0 source, 1 target), run name)``; n is
      ``num`` or the smaller split's size.
    """
    from awh_tf.evaluation.domain_discrepancy import domain_features as network_features
    from awh_tf.run_dir import load_run

    config, pose_net, _ = load_run(workdir, data_overrides=data_overrides)
    z_s, z_t = network_features(pose_net, config, num, seed)
    n = len(z_s)
    return np.concatenate([z_s.reshape(n, -1), z_t.reshape(n, -1)]), np.repeat([0, 1], n), config.name


def domain_classifier_accuracy(features, domain, seed=0):
    """Held-out accuracy of a logistic-regression domain classifier (module docstring); in [0, 1]."""
    from awh_tf.evaluation.domain_discrepancy import domain_classifier_accuracy as accuracy

    return accuracy(features, domain, seed)


def tsne_embedding(features, seed=0):
    """2D t-SNE of ``features`` [N, D] (PCA initialisation; perplexity 30, or less for small N)."""
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, max(2.0, (len(features) - 1) / 3.0)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)


def plot_panels(panels, path):
    """One scatter panel per run: ``panels`` = list of (title, embedding [N, 2], domain [N])."""
    from awh_tf.evaluation.plots import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.4), squeeze=False)
    for ax, (title, emb, domain) in zip(axes[0], panels):
        for d, colour, label in ((0, "red", "source (synthetic)"), (1, "blue", "target (real)")):
            ax.scatter(emb[domain == d, 0], emb[domain == d, 1], s=6, c=colour, alpha=0.6, label=label)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].legend(loc="best", fontsize="small", markerscale=2)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def feature_tsne(workdirs, out, num=500, seed=0, data_overrides=None, log=print):
    """Writes the figure for ``workdirs``; returns ``{workdir: domain-classifier accuracy}``."""
    panels, accuracies = [], {}
    for workdir in workdirs:
        feats, domain, name = domain_features(workdir, num, seed, data_overrides)
        acc = domain_classifier_accuracy(feats, domain, seed)
        accuracies[workdir] = acc
        n = len(feats) // 2
        log(f"{name} ({workdir}): domain-classifier held-out accuracy {acc:.3f} on {n} source + {n} target "
            f"samples (0.5 = indistinguishable)")
        panels.append((f"{name}\ndomain classifier acc. {acc:.3f}", tsne_embedding(feats, seed), domain))
    plot_panels(panels, out)
    log(f"wrote {out}")
    return accuracies


def main(argv):
    from awh_tf.evaluation import evaluate_lib

    evaluate_lib.run_tool(argv, lambda F, overrides: feature_tsne(
        F.workdirs, F.out, F.num, F.seed, overrides))


def define_flags():
    from absl import flags

    flags.DEFINE_list("workdirs", None, "One or two (or more) run folders, comma-separated.", required=True)
    flags.DEFINE_integer("num", 500, "Samples per domain.")
    flags.DEFINE_string("out", "tsne.png", "Output PNG.")
    flags.DEFINE_integer("seed", 0, "Seed of the sample choice, the classifier split and t-SNE.")
    flags.DEFINE_string("data_dir", None, "Override the runs' data folder.")


if __name__ == "__main__":
    from absl import app

    define_flags()
    app.run(main)
