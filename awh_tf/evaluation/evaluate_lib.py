"""Evaluation of a finished (or interrupted) run: the library behind ``python -m awh_tf.evaluate``.

:func:`evaluate_run` loads a run's ``config.json`` and latest checkpoint, predicts a split with
:func:`awh_tf.evaluation.predict_dataset`, scores it with the published protocol
(:func:`awh_tf.evaluation.evaluate_predictions`, DESIGN.md §4) and writes into the run folder:

* ``eval.json`` — every key of ``metrics.evaluate_3d`` (mm), ``epe2d_*`` (px), ``num_samples``,
  ``num_scored_keypoints`` / ``scored_keypoints`` (which keypoints count: every labelled one on STB), the
  Procrustes-aligned blocks ``procrustes`` (rotation only) and ``procrustes_freihand`` (FreiHAND's
  ``align_w_scale``, F-scores), the root-depth-free block ``root_free``, ``mean_pose_epe_mean_mm`` and, on
  STB, ``in_image`` (the figures on in-image keypoints only, as tables before issue 27 quoted them), plus
  ``name``, ``split``, ``checkpoint`` and ``per_keypoint`` (name → mean 3D EPE mm); docs/protocol.md;
* ``pck.png`` — the 3D PCK curve on 0–50 mm; ``per_keypoint.png`` — the per-keypoint 3D EPE.

A real domain without 3D labels (``real_domain=coco``) is scored in 2D
(:func:`awh_tf.evaluation.protocol.evaluate_predictions_2d`: crop px and image px, PCK at px and hand-box
thresholds); its ``pck.png`` and ``per_keypoint.png`` are the 2D ones (image px).

For a split other than ``test`` the files are ``eval_<split>.json``, ``pck_<split>.png`` and
``per_keypoint_<split>.png``, and an evaluation of a chosen ``--checkpoint`` adds ``_<checkpoint name>``
(``eval_ckpt-1000.json``), so the run's headline ``eval.json`` is never overwritten by another split or an
older checkpoint.
"""

import os
import sys

import numpy as np

from awh_tf import run_dir
from awh_tf.data import bad_samples, data_setup, pipeline, transform
from awh_tf.data.rhd import RHDDataset
from awh_tf.evaluation import plots
from awh_tf.evaluation.protocol import evaluate_predictions, format_table, predict_dataset
from awh_tf.keypoints import KEYPOINT_NAMES

# split name -> what it is (the real test split is the one the paper reports); the real splits' text
# depends on the run's real domain (data_setup.TEST_SPLIT_NAMES / TRAIN_SPLIT_NAMES).
SPLITS = {"test": "real test split",
          "real_train": "real training split",
          "synthetic_test": "synthetic held-out split (RHD evaluation)"}


def split_name(data_cfg, split):
    """What ``split`` is for this data config, e.g. "real test split (FreiHAND evaluation)"."""
    if split == "test" and data_cfg.real_domain == "coco":
        test_json = data_cfg.coco_paths()[2]
        return (f"real test split ({os.path.basename(test_json)})" if test_json else
                f"real test split (held-out {data_cfg.coco_test_fraction:.0%} of the COCO-style JSON's images)")
    names = {"test": data_setup.TEST_SPLIT_NAMES, "real_train": data_setup.TRAIN_SPLIT_NAMES}
    return names[split][data_cfg.real_domain] if split in names else SPLITS[split]


def output_names(split, checkpoint=None):
    """``(json, pck png, per-keypoint png)`` file names of a split's evaluation (of a chosen checkpoint)."""
    suffix = ("" if split == "test" else f"_{split}") + (f"_{os.path.basename(checkpoint)}" if checkpoint else "")
    return f"eval{suffix}.json", f"pck{suffix}.png", f"per_keypoint{suffix}.png"


def open_split(data_cfg, split):
    """The loaders of ``split`` (a key of :data:`SPLITS`) and of the synthetic training set (mean pose).

    Depth images are not read: evaluation needs none, and STB's registration costs ~30 ms a frame. The real
    splits are those of ``data_cfg.real_domain`` (``awh_tf.data.data_setup``). Procedural data missing
    from ``data_cfg.data_dir`` is generated first, with the run's generator settings (so the same data).
    """
    if split not in SPLITS:
        raise ValueError(f"--split: expected one of {sorted(SPLITS)}, got {split!r}")
    data_setup.ensure_procedural_data(data_cfg)
    synthetic = RHDDataset(data_cfg.rhd_path(), split="training", with_depth=False)
    if split == "synthetic_test":
        return RHDDataset(data_cfg.rhd_path(), split="evaluation", with_depth=False), synthetic
    return data_setup.open_real(data_cfg, "test" if split == "test" else "train", with_depth=False), synthetic


def score(config, pose_network, dataset, synthetic, batch_size=32):
    """Predicts ``dataset`` (evaluation crops) and scores it: the STB protocol with its Procrustes and
    root-free variants when it has 3D labels, 2D metrics (crop and image px) when it has none. The mean-pose
    baselines come from ``synthetic``.

    Returns:
      :func:`awh_tf.evaluation.protocol.evaluate_predictions`'s dict.
    Raises:
      DataError: a sample cannot be read (one line naming file and index).
    """
    from awh_tf.evaluation.protocol import image_labels

    log = bad_samples.BadSampleLog()
    with bad_samples.surface_data_errors(log):
        ds = pipeline.make_eval_dataset(dataset, config.pipeline, batch_size, log=log)
        pred = predict_dataset(pose_network, ds, max_samples=config.data.max_eval_samples)
        mean_pose = mean_training_pose(config, synthetic, log=log)
    labels = None
    if "has_3d" in pred and not np.asarray(pred["has_3d"]).any() and "image_wh" in dataset.annotations():
        labels = image_labels(dataset, config.pipeline.mirror_right)
    return evaluate_predictions(pred, mean_pose=mean_pose, image_labels=labels,
                                in_image_visibility=getattr(dataset, "in_image_visibility", False))


def mean_training_pose(config, synthetic, max_samples=1000, log=None):
    """The synthetic training set's mean 2.5D pose in crop px (``uv`` [21, 2]) and bone units (``z_rel``
    [21]), over its first ``max_samples`` evaluation crops: the mean-pose baseline of the protocol.
    ``log``: the :class:`~awh_tf.data.bad_samples.BadSampleLog` of the caller's ``surface_data_errors``."""
    ds = pipeline.make_eval_dataset(synthetic, config.pipeline, 64, log=log)
    uv, z, n = 0.0, 0.0, 0
    for batch in ds:
        uv += batch["uv"].numpy().sum(0)
        z += batch["z_rel"].numpy().sum(0)
        n += int(batch["uv"].shape[0])
        if n >= max_samples:
            break
    return uv / n, z / n


def load_samples(dataset, indices, pipeline_cfg):
    """Pipeline elements (evaluation crops, no augmentation) of chosen samples, stacked.

    Returns:
      dict of numpy arrays keyed by ``awh_tf.data.transform.FIELDS`` with a leading axis ``len(indices)``
      (``image`` [N, S, S, 3] in [0, 1], ``uv`` [N, 21, 2] crop px, ``xyz`` [N, 21, 3] mm …), plus ``name``
      (the loader's sample names).
    """
    elements, names = [], []
    for i in indices:
        sample = dataset[int(i)]
        elements.append(transform.process_sample(sample, pipeline_cfg))
        names.append(sample.get("name", str(i)))
    out = {k: np.stack([e[k] for e in elements]) for k in transform.FIELDS}
    out["name"] = names
    return out


def run_network(pose_network, images, keys, batch_size=32):
    """The pose network's outputs ``keys`` on ``images`` [N, S, S, 3], in batches, as numpy arrays."""
    chunks = {k: [] for k in keys}
    for start in range(0, len(images), batch_size):
        out = pose_network(images[start:start + batch_size], training=False)
        for k in keys:
            if k not in out:
                raise ValueError(f"the pose network has no output {k!r} (it has {sorted(out)})")
            chunks[k].append(np.asarray(out[k]))
    return {k: np.concatenate(v) for k, v in chunks.items()}


def evaluate_run(workdir, split="test", data_overrides=None, checkpoint=None, batch_size=32, log=print):
    """Evaluates the run in ``workdir`` on ``split``: :func:`evaluate_network` on its restored network.

    Args:
      workdir: the run folder.  split: a key of :data:`SPLITS`.
      data_overrides: dict of ``DataConfig`` fields to change (where the data lives, ``max_eval_samples``).
      checkpoint: a checkpoint prefix; default the latest.  batch_size: evaluation batch size.
      log: receives the printed report.
    Returns:
      the result dict (as written to the JSON file).
    Raises:
      TrainingError: not a run folder, or no checkpoint (``run_dir.load_run``).  DataError: a bad sample.
    """
    config, pose_net, path = run_dir.load_run(workdir, checkpoint, data_overrides)
    return evaluate_network(config, workdir, pose_net, path, split=split, batch_size=batch_size, log=log,
                            chosen_checkpoint=checkpoint is not None)


def evaluate_network(config, workdir, pose_network, checkpoint, split="test", batch_size=32, log=print,
                     chosen_checkpoint=False):
    """Evaluates ``pose_network`` (the run's, restored from ``checkpoint``) on ``split`` and writes the files of
    the module docstring into ``workdir``: the one evaluation path of the project (training ends with it).

    Args:
      config: the run's config.  workdir: the run folder.  pose_network: its float32 pose network.
      checkpoint: the checkpoint the network holds (recorded in the JSON).
      split: a key of :data:`SPLITS`.  batch_size: evaluation batch size.  log: receives the report.
      chosen_checkpoint: the checkpoint was chosen by the user, not the latest: its name goes into the file
        names, so the run's headline ``eval.json`` is not overwritten.
    Returns:
      the result dict (as written to the JSON file).
    Raises:
      DataError: a sample of the split cannot be read (one line naming file and index).
    """
    dataset, synthetic = open_split(config.data, split)
    result = score(config, pose_network, dataset, synthetic, batch_size)
    what = split_name(config.data, split)
    result.update(name=config.name, split=split, checkpoint=checkpoint, real_domain=config.data.real_domain)
    json_name, pck_name, kp_name = output_names(split, checkpoint if chosen_checkpoint else None)
    if result.get("has_3d", True):
        result["per_keypoint"] = dict(zip(KEYPOINT_NAMES, result["per_keypoint_epe_mm"]))
        run_dir.write_json(os.path.join(workdir, json_name), result)
        plots.plot_pck([pck_curve_of(result, config.name)], os.path.join(workdir, pck_name), title=f"3D PCK, {what}")
        plots.plot_per_keypoint(result["per_keypoint_epe_mm"], os.path.join(workdir, kp_name),
                                title=f"{config.name}: 3D EPE per keypoint ({split})")
    else:
        per_kp = result.get("image", {}).get("per_keypoint_epe_px") or result["per_keypoint_epe2d_px"]
        result["per_keypoint"] = dict(zip(KEYPOINT_NAMES, per_kp))
        run_dir.write_json(os.path.join(workdir, json_name), result)
        curve = {"label": config.name, "thresholds": result["pck2d_thresholds_px"], "pck": result["pck2d_curve"],
                 "auc": result["auc2d_0_30_px"]}
        plots.plot_pck([curve], os.path.join(workdir, pck_name), title=f"2D PCK (crop px), {what}",
                       xlabel="error threshold (crop px)")
        unit = "image px" if "image" in result else "crop px"
        plots.plot_per_keypoint(per_kp, os.path.join(workdir, kp_name), ylabel=f"mean EPE ({unit})",
                                title=f"{config.name}: 2D EPE per keypoint ({split})")
    log(format_report(result, title=f"{config.name}: {what}"))
    return result


def pck_curve_of(result, label):
    """The :func:`plots.plot_pck` curve of an evaluation result (AUC 0–50 mm in the legend)."""
    return {"label": label, "thresholds": result["pck_thresholds_mm"], "pck": result["pck_curve"],
            "auc": result["auc_0_50"]}


def format_report(result, title="real test split"):
    """The protocol's table, the root-depth-free block and the per-keypoint errors, as text."""
    if not result.get("has_3d", True):
        blocks = [format_table(result, title=title)]
        image = "image" in result
        per_kp = result["image"]["per_keypoint_epe_px"] if image else result.get("per_keypoint_epe2d_px")
        heading = f"2D mean EPE per keypoint ({'image' if image else 'crop'} px)"
    else:
        blocks = [format_table(result, title=title), format_root_free(result.get("root_free", {}))]
        per_kp, heading = result.get("per_keypoint_epe_mm"), "3D mean EPE per keypoint (mm)"
    if per_kp:
        rows = [f"  {name:<11} {'n/a' if e is None else f'{e:7.2f}'}"
                for name, e in zip(KEYPOINT_NAMES, per_kp)]
        half = (len(rows) + 1) // 2
        lines = [f"{a:<26}{b}" for a, b in zip(rows[:half], rows[half:] + [""])]
        blocks.append(heading + "\n" + "\n".join(lines))
    return "\n\n".join(blocks)


def format_root_free(root_free):
    """The root-depth-free variant (root depth solved from one bone, GT bone length only) as text."""
    title = "without the root depth (solved from the palm-middle MCP bone; GT bone length only)"
    if not root_free.get("num_solved"):
        return f"{title}\n  no sample had a real root-depth solution"
    rows = [("3D mean EPE (mm)", root_free["epe_mean_mm"]),
            ("3D median EPE (mm)", root_free["epe_median_mm"]),
            ("AUC 20-50 mm", root_free["auc_20_50"]), ("AUC 0-30 mm", root_free["auc_0_30"]),
            ("root depth error mean (mm)", root_free["root_depth_error_mean_mm"]),
            ("root depth error median (mm)", root_free["root_depth_error_median_mm"])]
    width = max(len(r[0]) for r in rows)
    lines = [title, "-" * (width + 12)] + [f"{name:<{width}}  {value:>9.3f}" for name, value in rows]
    lines.append(f"{'samples solved / unsolved':<{width}}  {root_free['num_solved']:>5d} / "
                 f"{root_free.get('num_unsolved', 0)}")
    return "\n".join(lines)


def load_or_evaluate(workdir, split="test", data_overrides=None, log=print):
    """A run's saved evaluation of ``split``, evaluating it first when the JSON file is missing."""
    path = os.path.join(workdir, output_names(split)[0])
    if os.path.exists(path):
        return run_dir.read_json(path)
    return evaluate_run(workdir, split=split, data_overrides=data_overrides, log=log)


def compare_runs(workdirs, out_path, split="test", data_overrides=None, log=print):
    """Plots the 3D PCK curves of several runs in one figure with a legend (``--compare``).

    Runs without a saved evaluation of ``split`` are evaluated first. A label is the run's ``name``,
    or its folder when two runs share a name.

    Returns:
      the list of results, in ``workdirs`` order.
    """
    results = [load_or_evaluate(w, split, data_overrides, log) for w in workdirs]
    flat = [w for w, r in zip(workdirs, results) if not r.get("has_3d", True)]
    if flat:
        raise ValueError(f"--compare plots 3D PCK curves; {', '.join(flat)} has 2D labels only (see its eval json)")
    names = [r.get("name") or os.path.basename(os.path.normpath(w)) for r, w in zip(results, workdirs)]
    labels = [n if names.count(n) == 1 else f"{n} ({w})" for n, w in zip(names, workdirs)]
    plots.plot_pck([pck_curve_of(r, lab) for r, lab in zip(results, labels)], out_path,
                   title=f"3D PCK, {SPLITS[split]}")
    width = max(len(lab) for lab in labels)
    log(f"{'run':<{width}}  EPE mean (mm)  AUC 0-50  AUC 20-50  AUC 0-30")
    for lab, r in zip(labels, results):
        log(f"{lab:<{width}}  {r['epe_mean_mm']:>13.2f}  {r['auc_0_50']:>8.3f}  {r['auc_20_50']:>9.3f}  "
            f"{r['auc_0_30']:>8.3f}")
    log(f"wrote {out_path}")
    return results


def run_tool(argv, call):
    """Shared body of the figure tools' ``main``: no positional arguments, ``--data_dir`` as a data override,
    and errors a user can cause (DataError, TrainingError, bad values) as one line and exit status 1.

    Args:
      argv: absl's argv.  call: ``call(FLAGS, data_overrides)`` running the tool.
    """
    from absl import app, flags

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    FLAGS = flags.FLAGS
    overrides = {"data_dir": FLAGS.data_dir} if FLAGS.data_dir else {}
    try:
        call(FLAGS, overrides)
    except (ValueError, RuntimeError) as e:  # DataError, TrainingError: one line
        sys.exit(f"error: {e}")
