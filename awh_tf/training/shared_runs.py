"""Running many configurations of one benchmark in one process, without repeating what they share.

An experiment suite (``tools/run_experiments.py``) trains rows that differ only in what happens after
pre-training — the critic, the α mode, λ_wd, the real domain's label budget — from the same seed. Phase 1
(pre-training on the synthetic domain, no critic, no real image) does not read any of those settings, so
it is the same for all of them, bit for bit. :class:`SharedRunner` therefore

* pre-trains once per distinct *pre-training key* (the config with those settings set to their defaults),
  in ``<shared_dir>/<key>/``, stopping at ``pretrain_steps`` with a checkpoint (the schedule, and so the
  learning rate, is the full run's: every row has the same ``total_steps``);
* starts each row from a copy of that checkpoint, which :func:`train_lib.train` resumes exactly as it
  resumes a run that was killed at the end of phase 1 (the kill -9 test shows that resuming gives the
  uninterrupted run's numbers), so a row's result is the one it would have had alone;
* keeps one warm :class:`PrecropCache` (or :class:`PrecropStore`, ``--precrop_store_dir``) per domain for all
  runs on the same data and crop settings;
* after training, measures the domain discrepancy on held-out features
  (:mod:`awh_tf.evaluation.domain_discrepancy`, ``discrepancy.json``) before the evaluation writes
  ``eval.json`` (so a run with an ``eval.json`` has both).

The pre-training checkpoint is built with a critic (``da=awh``) so it restores into rows with and without
one (a row without a critic ignores the critic's values).
"""

import dataclasses
import hashlib
import json
import os
import shutil

from awh_tf import run_dir
from awh_tf.data import data_setup
from awh_tf.data.precrop_store import wrap_precrops
from awh_tf.files import locked
from awh_tf.training import train_lib

# (section, field) that pre-training never reads: rows differing only in these share phase 1.
PRETRAIN_FREE = (
    {("train", f) for f in ("da", "source_only", "target_labels", "target_label_fraction", "critic_input_norm",
                            "lambda_wd", "lambda_gp", "n_critic", "critic_learning_rate", "train_steps",
                            "checkpoint_every", "log_every", "eval_every", "keep_checkpoints")}
    | {("model", f) for f in ("similarity_mode", "similarity_stop_gradient", "similarity_clip_negative",
                              "similarity_epsilon")}
    | {("data", "max_eval_samples")})


def pretrain_config(config):
    """The config of ``config``'s shared pre-training: the :data:`PRETRAIN_FREE` fields at their defaults,
    except ``da=awh`` (the checkpoint holds a critic) and the row's ``total_steps`` (same schedule)."""
    defaults = {"train": type(config.train)(), "model": type(config.model)(), "data": type(config.data)()}
    sections = {"train": {}, "model": {}, "data": {}}
    for section, field in PRETRAIN_FREE:
        sections[section][field] = getattr(defaults[section], field)
    sections["train"].update(da="awh", source_only=False, train_steps=config.train.train_steps)
    return dataclasses.replace(
        config, name="pretrain",
        train=dataclasses.replace(config.train, **sections["train"]),
        model=dataclasses.replace(config.model, **sections["model"]),
        data=dataclasses.replace(config.data, **sections["data"]))


def pretrain_key(config):
    """A short hash naming the shared pre-training of ``config``."""
    text = json.dumps(pretrain_config(config).to_dict(), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def checkpoint_files(ckpt_dir, step):
    """The files of checkpoint ``ckpt-<step>`` in ``ckpt_dir`` (empty when it is not complete there)."""
    if not os.path.isdir(ckpt_dir):
        return []
    files = [os.path.join(ckpt_dir, f) for f in sorted(os.listdir(ckpt_dir)) if f.startswith(f"ckpt-{step}.")]
    return files if any(f.endswith(".index") for f in files) else []


def warm_start(workdir, pretrain_dir, step):
    """Copies ``pretrain_dir``'s checkpoint of ``step`` into ``workdir``'s empty checkpoint folder, so the run
    resumes from it. Returns False (and copies nothing) when ``workdir`` already has a checkpoint."""
    ckpt_dir = os.path.join(workdir, "checkpoints")
    if os.path.exists(os.path.join(ckpt_dir, "checkpoint")):
        return False
    files = checkpoint_files(os.path.join(pretrain_dir, "checkpoints"), step)
    if not files:
        raise FileNotFoundError(f"{pretrain_dir}: no checkpoint of step {step}")
    os.makedirs(ckpt_dir, exist_ok=True)
    for f in files:
        shutil.copy2(f, ckpt_dir)
    index = os.path.join(ckpt_dir, "checkpoint")
    with open(index + ".tmp", "w") as f:  # the index last: a half-copied checkpoint is never named
        f.write(f'model_checkpoint_path: "ckpt-{step}"\nall_model_checkpoint_paths: "ckpt-{step}"\n')
    os.replace(index + ".tmp", index)
    return True


class SharedRunner:
    """``runner(config, workdir, log=, progress=)`` trains and evaluates one row (the module docstring);
    returns the ``eval.json`` dict.

    Args:
      shared_dir: where the shared pre-training runs live.
      discrepancy_num: held-out samples per domain for ``discrepancy.json`` (0 = not measured).
      discrepancy_critic_steps: the fresh critic's training steps.
    """

    def __init__(self, shared_dir, discrepancy_num=300, discrepancy_critic_steps=400):
        self.shared_dir = shared_dir
        self.discrepancy_num = discrepancy_num
        self.discrepancy_critic_steps = discrepancy_critic_steps
        self._domains = {}

    def domains(self, config):
        """``(synthetic, real_train)`` wrapped in precrop caches shared by every run on the same data and crops."""
        p = config.pipeline
        key = (json.dumps(dataclasses.asdict(config.data), sort_keys=True), p.input_size, p.precrop_factor,
               p.crop_margin, p.min_crop_size, p.mirror_right, p.cache_precrops, p.precrop_store_dir)
        if key not in self._domains:
            data_setup.ensure_procedural_data(config.data)
            synthetic, real_train, _ = data_setup.open_domains(config.data)
            if p.cache_precrops:
                synthetic, real_train = wrap_precrops(synthetic, p), wrap_precrops(real_train, p)
            self._domains[key] = (synthetic, real_train)
        return self._domains[key]

    def pretrain(self, config, log=print):
        """Runs (or finds) the shared pre-training of ``config``; returns its folder (None: nothing to share)."""
        steps = config.train.pretrain_steps
        if steps == 0:
            return None
        folder = os.path.join(self.shared_dir, pretrain_key(config))
        with locked(folder + ".lock"):  # two suite processes wanting the same pre-training: one trains it
            if not checkpoint_files(os.path.join(folder, "checkpoints"), steps):
                log(f"shared pre-training ({steps} steps) in {folder}")
                train_lib.train(pretrain_config(config), folder, log=log, progress=False,
                                domains=self.domains(config), until_step=steps)
        return folder

    def __call__(self, config, workdir, log=print, progress=False):
        folder = self.pretrain(config, log=log)
        if folder is not None and warm_start(workdir, folder, config.train.pretrain_steps):
            log(f"starting from the shared pre-training {folder} (step {config.train.pretrain_steps})")
        trainer = train_lib.train(config, workdir, log=log, progress=progress, domains=self.domains(config))
        network = trainer.pose_network
        if config.train.precision != "float32":  # measured and evaluated as exported: the float32 network
            network, _ = run_dir.restore_pose_network(config, workdir)
        if self.discrepancy_num:
            from awh_tf.evaluation import domain_discrepancy

            disc = domain_discrepancy.measure(network, config, self.discrepancy_num,
                                              self.discrepancy_critic_steps, seed=config.train.seed)
            run_dir.write_json(os.path.join(workdir, "discrepancy.json"), disc)
        return train_lib.evaluate(config, workdir, pose_network=network, log=log)


