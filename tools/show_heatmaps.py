"""Paper Fig. 4: input crops and the first stack's latent heatmaps, one column per run.

Usage (from the repository root)::

    python tools/show_heatmaps.py --workdirs runs/wo_fss,runs/w_fssc,runs/w_fss \
        [--split test] [--indices 0,40,80] [--out heatmaps.png] [--per_keypoint]

Rows are samples of ``--split`` (``test`` = real test split, ``synthetic_test`` = RHD held-out), cropped as
in evaluation. Column 0 is the input crop; then, per run, the first stack's latent 2D heatmaps
(``stack0_heatmaps`` ``[h, w, 21]``, spatial softmax; a one-stack network shows its only stack) summarised
in one image: each keypoint's map divided by its own maximum, then the maximum over keypoints — so a
diffuse latent map (wo/FSS in the paper: "rich information of the image") and a peaked one (w/FSS) are on
the same [0, 1] scale. ``--per_keypoint`` also writes, per run, the 21 maps of the first sample
(``<out>_keypoints_<i>.png``).
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from awh_tf.keypoints import KEYPOINT_NAMES  # noqa: E402


def first_stack_heatmaps(pose_net, images):
    """``(heatmaps [N, h, w, 21], label)``: stack 0's latent heatmaps, or the only stack's."""
    from awh_tf.evaluation import evaluate_lib

    key = "stack0_heatmaps" if pose_net.num_stacks > 1 else "heatmaps"
    maps = evaluate_lib.run_network(pose_net, images, [key])[key]
    return maps, ("first stack" if key == "stack0_heatmaps" else "only stack")


def summarise(heatmaps):
    """``[N, h, w, K]`` → ``[N, h, w]``: max over keypoints of each map divided by its own maximum."""
    peak = heatmaps.max(axis=(1, 2), keepdims=True)
    return (heatmaps / np.maximum(peak, 1e-12)).max(axis=-1)


def _show(ax, image, title=None, **kwargs):
    ax.imshow(image, **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def plot_summary(images, names, columns, path):
    """Rows = samples; column 0 the input, then one column per ``(title, heatmaps [N, h, w, K])``."""
    from awh_tf.evaluation.plots import pyplot

    plt = pyplot()
    n, cols = len(images), 1 + len(columns)
    fig, axes = plt.subplots(n, cols, figsize=(2.1 * cols, 2.2 * n), squeeze=False)
    for r in range(n):
        _show(axes[r][0], images[r], f"input {names[r]}" if r == 0 else names[r])
        for c, (title, maps) in enumerate(columns, start=1):
            _show(axes[r][c], summarise(maps[r:r + 1])[0], title if r == 0 else None, cmap="inferno",
                  vmin=0.0, vmax=1.0)
    _save(fig, path)
    return path


def plot_keypoint_grid(image, maps, title, path):
    """The input and the 21 heatmaps ``[h, w, 21]`` of one sample, each on its own colour scale."""
    from awh_tf.evaluation.plots import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(4, 6, figsize=(10.5, 7.4))
    axes = axes.ravel()
    _show(axes[0], image, "input")
    for k, name in enumerate(KEYPOINT_NAMES):
        _show(axes[k + 1], maps[..., k], name, cmap="inferno")
    for ax in axes[len(KEYPOINT_NAMES) + 1:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    _save(fig, path)
    return path


def _save(fig, path):
    from awh_tf.evaluation.plots import pyplot

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    pyplot().close(fig)


def show_heatmaps(workdirs, out, split="test", indices=(0, 1, 2), per_keypoint=False, data_overrides=None,
                  log=print):
    """Writes the figure (and the per-keypoint grids); returns the list of PNG paths written."""
    from awh_tf.evaluation import evaluate_lib
    from awh_tf.run_dir import load_run

    columns, written, first = [], [], None
    for i, workdir in enumerate(workdirs):
        config, pose_net, _ = load_run(workdir, data_overrides=data_overrides)
        dataset, _ = evaluate_lib.open_split(config.data, split)
        bad = [j for j in indices if not 0 <= j < len(dataset)]
        if bad:
            raise ValueError(f"--indices: {bad} out of range for the {len(dataset)} samples of {split}")
        batch = evaluate_lib.load_samples(dataset, indices, config.pipeline)
        if first is None:  # inputs shown from the first run's crops
            first = batch
        maps, which = first_stack_heatmaps(pose_net, batch["image"])
        columns.append((f"{config.name} ({which})", maps))
        if per_keypoint:
            stem = os.path.splitext(out)[0]
            written.append(plot_keypoint_grid(batch["image"][0], maps[0], f"{config.name}, {which}: "
                                              f"{batch['name'][0]}", f"{stem}_keypoints_{i}.png"))
    written.insert(0, plot_summary(first["image"], first["name"], columns, out))
    for path in written:
        log(f"wrote {path}")
    return written


def main(argv):
    from awh_tf.evaluation import evaluate_lib

    evaluate_lib.run_tool(argv, lambda F, overrides: show_heatmaps(
        F.workdirs, F.out, F.split, [int(i) for i in F.indices], F.per_keypoint, overrides))


def define_flags():
    from absl import flags

    flags.DEFINE_list("workdirs", None, "Run folders, comma-separated (one column each).", required=True)
    flags.DEFINE_enum("split", "test", ["test", "real_train", "synthetic_test"], "Which split's samples.")
    flags.DEFINE_list("indices", ["0", "1", "2"], "Sample indices (rows).")
    flags.DEFINE_string("out", "heatmaps.png", "Output PNG.")
    flags.DEFINE_bool("per_keypoint", False, "Also write each run's 21 maps of the first sample.")
    flags.DEFINE_string("data_dir", None, "Override the runs' data folder.")


if __name__ == "__main__":
    from absl import app

    define_flags()
    app.run(main)
