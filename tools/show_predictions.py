"""Paper Fig. 7: ground truth beside prediction — 2D skeletons on the crops and 3D skeletons.

Usage (from the repository root)::

    python tools/show_predictions.py --workdir runs/demo [--worst 6 | --indices 3,17,40] \
        [--split test] [--out predictions.png]

One row per sample of ``--split`` (default the real test split), cropped as in evaluation. Columns: the
crop with the ground-truth 2D skeleton, the crop with the predicted one, the ground-truth 3D skeleton,
the predicted 3D skeleton (root-relative mm, camera frame, drawn as the camera sees it, both 3D panels on
the same scale). The prediction's 3D is recovered with the evaluation protocol (DESIGN.md §4: GT scale
and root depth), and each row's title gives that sample's mean 3D EPE over visible keypoints.
``--worst N`` predicts the whole split (or ``max_eval_samples`` of it) and shows the N samples with the
largest mean EPE; otherwise ``--indices`` chooses them.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def sample_epe(pred_xyz, gt_xyz, visible):
    """Per-sample mean root-relative 3D EPE (mm) over visible keypoints: [N, 21, 3] ×2, [N, 21] → [N]."""
    from awh_tf.metrics import distances_3d

    d = distances_3d(np.asarray(pred_xyz, np.float64), np.asarray(gt_xyz, np.float64))
    vis = np.asarray(visible, bool)
    return np.where(vis, d, 0.0).sum(1) / np.maximum(vis.sum(1), 1)


def worst_indices(pose_net, dataset, config, n):
    """Loader indices of the ``n`` samples with the largest mean 3D EPE under the protocol."""
    from awh_tf import geometry
    from awh_tf.data import bad_samples, pipeline
    from awh_tf.evaluation import predict_dataset

    log = bad_samples.BadSampleLog()
    with bad_samples.surface_data_errors(log):
        ds = pipeline.make_eval_dataset(dataset, config.pipeline, 32, log=log)
        pred = predict_dataset(pose_net, ds, max_samples=config.data.max_eval_samples)
    xyz = geometry.xyz_from_25d(pred["uv_pred"], pred["z_pred"], pred["crop_K"], pred["scale"],
                                pred["root_depth"])
    epe = sample_epe(xyz, pred["xyz"], pred["visible"])
    return [int(i) for i in pred["index"][np.argsort(-epe)[:n]]]


def predict_samples(pose_net, batch):
    """Predicted ``uv`` [N, 21, 2] crop px and ``xyz`` [N, 21, 3] mm (GT scale and root depth)."""
    from awh_tf import geometry
    from awh_tf.evaluation import evaluate_lib

    out = evaluate_lib.run_network(pose_net, batch["image"], ["uv", "z_rel"])
    xyz = geometry.xyz_from_25d(out["uv"], out["z_rel"], batch["crop_K"], batch["scale"], batch["root_depth"])
    return out["uv"], xyz


def plot_rows(batch, uv_pred, xyz_pred, title, path):
    """The figure of the module docstring for the samples of ``batch`` (``load_samples`` output)."""
    from awh_tf.evaluation import plots

    plt = plots.pyplot()
    n = len(batch["image"])
    epe = sample_epe(xyz_pred, batch["xyz"], batch["visible"])
    fig = plt.figure(figsize=(10.0, 2.6 * n))
    for r in range(n):
        vis = batch["visible"][r]
        for c, (uv, what) in enumerate(((batch["uv"][r], "GT"), (uv_pred[r], "prediction"))):
            ax = fig.add_subplot(n, 4, 4 * r + c + 1)
            ax.imshow(batch["image"][r])
            plots.draw_skeleton_2d(ax, uv, vis if what == "GT" else None)
            ax.set_xlim(-0.5, batch["image"].shape[2] - 0.5)
            ax.set_ylim(batch["image"].shape[1] - 0.5, -0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{batch['name'][r]}: 2D {what}" if c == 0 else f"2D {what}", fontsize=8)
        limits = np.concatenate([plots.skeleton_plot_points(batch["xyz"][r]),
                                 plots.skeleton_plot_points(xyz_pred[r])])
        for c, (xyz, what) in enumerate(((batch["xyz"][r], "3D GT"),
                                          (xyz_pred[r], f"3D prediction, EPE {epe[r]:.1f} mm"))):
            ax = fig.add_subplot(n, 4, 4 * r + c + 3, projection="3d")
            plots.draw_skeleton_3d(ax, xyz)
            plots.set_equal_3d(ax, limits)
            ax.view_init(elev=10, azim=-75)  # near the camera's view along +Z (plot y), a little aside
            ax.set_title(what, fontsize=8)
    fig.suptitle(title, fontsize=10)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def show_predictions(workdir, out, split="test", indices=None, worst=0, data_overrides=None, log=print):
    """Writes the figure for the chosen (or ``worst`` N) samples; returns ``(path, indices)``."""
    from awh_tf.evaluation import evaluate_lib
    from awh_tf.run_dir import load_run

    config, pose_net, _ = load_run(workdir, data_overrides=data_overrides)
    dataset, _ = evaluate_lib.open_split(config.data, split)
    if worst:
        indices = worst_indices(pose_net, dataset, config, worst)
    indices = list(indices or [0])
    bad = [i for i in indices if not 0 <= i < len(dataset)]
    if bad:
        raise ValueError(f"--indices: {bad} out of range for the {len(dataset)} samples of {split}")
    batch = evaluate_lib.load_samples(dataset, indices, config.pipeline)
    uv_pred, xyz_pred = predict_samples(pose_net, batch)
    what = f"worst {worst} by 3D EPE" if worst else "chosen samples"
    plot_rows(batch, uv_pred, xyz_pred, f"{config.name}: {split} split, {what}", out)
    log(f"wrote {out} (samples {indices})")
    return out, indices


def main(argv):
    from awh_tf.evaluation import evaluate_lib

    evaluate_lib.run_tool(argv, lambda F, overrides: show_predictions(
        F.workdir, F.out, F.split, [int(i) for i in F.indices], F.worst, overrides))


def define_flags():
    from absl import flags

    flags.DEFINE_string("workdir", None, "Run folder.", required=True)
    flags.DEFINE_enum("split", "test", ["test", "real_train", "synthetic_test"], "Which split's samples.")
    flags.DEFINE_list("indices", ["0", "1", "2"], "Sample indices (ignored with --worst).")
    flags.DEFINE_integer("worst", 0, "Show the N samples with the largest 3D EPE instead of --indices.")
    flags.DEFINE_string("out", "predictions.png", "Output PNG.")
    flags.DEFINE_string("data_dir", None, "Override the run's data folder.")


if __name__ == "__main__":
    from absl import app

    define_flags()
    app.run(main)
