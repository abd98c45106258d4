"""The run folder: what a training run writes and what evaluation, prediction, export and the tools read.

Layout (written by ``awh_tf.training.train_lib``; single-process run)::

    config.json        the resolved ``awh_tf.config.Config`` (written before training starts)
    checkpoints/       tf.train checkpoints: step, every network, both optimizers, RNG state
    tb/                TensorBoard scalars and histograms
    pose_network.keras the final float32 pose network (``awh_tf.models.preset``; written before the evaluation)
    eval.json          the final evaluation on the real test split (``awh_tf.evaluation.evaluate_lib``);
                       eval_<split>[_<checkpoint>].json for other splits or an older checkpoint
    pck.png, per_keypoint.png
    .lock              held while a process trains or evaluates the run (``awh_tf.training.faults``)

This module owns the folder's formats: the config check that keeps a workdir to one run
(:func:`check_workdir`), the checkpoint's naming of the pose network's variables (:func:`model_variables`,
:func:`pose_network_checkpoint`), restoring it (:func:`restore_pose_network`), loading a finished run
(:func:`load_run`) and atomic JSON files (:func:`write_json`, :func:`read_json`). It imports nothing of
``awh_tf.training``, ``awh_tf.evaluation`` or ``awh_tf.export``: all three import it.
"""

import json
import os

from awh_tf.config import Config, incompatible_fields
from awh_tf.errors import TrainingError, first_line
from awh_tf.files import write_json  # noqa: F401 (the run folder's JSON files are written with it)

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"


def load_config(workdir):
    """The run's :class:`Config` from ``<workdir>/config.json``; TrainingError (one line) when there is no
    such folder, no such file or it cannot be read."""
    if not os.path.isdir(workdir):
        raise TrainingError(f"--workdir {workdir}: no such directory")
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.isfile(path):
        raise TrainingError(f"{path}: not found (is {workdir} a training run's workdir?)")
    try:
        return Config.load(path)
    except (ValueError, TypeError) as e:  # json.JSONDecodeError is a ValueError
        raise TrainingError(f"{path}: unreadable run config ({' '.join(str(e).split())})") from None


def check_workdir(config, workdir):
    """Refuses a workdir holding a run with an incompatible config; writes ``config.json`` otherwise."""
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, CONFIG_FILE)
    if os.path.exists(path):
        try:
            old = Config.load(path)
        except (ValueError, TypeError) as e:
            raise TrainingError(f"{path}: unreadable config of an earlier run ({e}); use another --workdir")
        diffs = incompatible_fields(old, config)
        if diffs:
            raise TrainingError(f"{workdir} holds a run with another config ({'; '.join(diffs[:4])}); use "
                                f"another --workdir or the same flags")
    config.save(path)


def model_variables(model):
    """Every variable of a Keras 3 model — trainable and not (batch-norm moving statistics) — keyed by its
    unique path, for ``tf.train.Checkpoint``.

    A ``tf.train.Checkpoint`` given the model object itself does not reach the variables of sub-layers that
    Keras 3 holds in plain Python lists, so checkpoints name every variable explicitly through this dict.
    """
    variables = {v.path: v for v in model.variables}
    if len(variables) != len(model.variables):
        raise ValueError(f"{model.name}: variable paths are not unique")
    return variables


def pose_network_checkpoint(pose_net):
    """A checkpoint object holding only the pose network's variables (what eval, predict and export read);
    the training checkpoint names them the same way, under the same key."""
    import tensorflow as tf

    return tf.train.Checkpoint(pose_network=model_variables(pose_net))


def restore_pose_network(config, workdir, checkpoint=None):
    """The float32 pose network of a finished or interrupted run, from ``checkpoint`` or the latest one.

    Returns:
      ``(pose_network, checkpoint_path)``.
    Raises:
      TrainingError: there is no checkpoint, or it lacks any of the network's variables (a checkpoint of
        another architecture), instead of silently leaving weights at their initial values.
    """
    import keras
    import tensorflow as tf

    from awh_tf.models import factory

    # Evaluation, prediction and export run the float32 network whatever the run's --precision: checkpoints
    # hold float32 variables in every precision.
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(config.train.seed)
    pose_net = factory.build_pose_network(config.model)
    ckpt_dir = os.path.join(workdir, CHECKPOINT_DIR)
    path = checkpoint or tf.train.latest_checkpoint(ckpt_dir)
    if path is None:
        raise TrainingError(f"{ckpt_dir}: no checkpoint found")
    try:
        pose_network_checkpoint(pose_net).restore(path).assert_existing_objects_matched().expect_partial()
    except (AssertionError, tf.errors.NotFoundError, ValueError) as e:
        raise TrainingError(f"{path}: does not hold this run's pose network ({first_line(e)})")
    except Exception as e:  # noqa: BLE001 (a truncated data file: DataLossError, IndexError; an unreadable index)
        raise TrainingError(f"{path}: cannot be restored ({first_line(e)}); pass an older one with "
                            f"--checkpoint, or resume training to skip it") from None
    return pose_net, path


def load_run(workdir, checkpoint=None, data_overrides=None):
    """The config and float32 pose network of a run (what evaluation, prediction, export and the figure
    tools start from).

    Args:
      workdir: the run folder (``config.json``, ``checkpoints/``).
      checkpoint: a checkpoint prefix (e.g. ``runs/x/checkpoints/ckpt-600``); default the latest.
      data_overrides: dict of ``DataConfig`` fields to replace (e.g. ``data_dir`` when the data moved).
    Returns:
      ``(config, pose_network, checkpoint_path)``.
    Raises:
      TrainingError: no such folder, no or an unreadable ``config.json``, no such checkpoint (one line).
    """
    config = load_config(workdir)
    if data_overrides:
        config = config.with_data(**data_overrides)
    if checkpoint is not None and not os.path.exists(checkpoint + ".index"):
        raise TrainingError(f"{checkpoint}: no such checkpoint (expected {checkpoint}.index)")
    pose_net, path = restore_pose_network(config, workdir, checkpoint=checkpoint)
    return config, pose_net, path


def read_json(path):
    """A JSON file of the run folder (``eval.json`` …); TrainingError (one line) when it cannot be read."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise TrainingError(f"{path}: unreadable ({first_line(e)})") from None
