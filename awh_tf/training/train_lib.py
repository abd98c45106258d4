"""``train_and_evaluate(config, workdir)``: the whole run, callable from the CLI and from tests.

The run folder (``awh_tf.run_dir``): ``config.json`` (the resolved config, written before training starts),
``checkpoints/`` (tf.train.CheckpointManager: step, both networks, critic, both optimizers, RNG state),
``tb/`` (TensorBoard scalars — every loss, W estimate, GP, α mean, learning rates, eval metrics — and an α
histogram) and the final evaluation on the real test split (``eval.json`` and its figures, written by
``awh_tf.evaluation.evaluate_lib``, DESIGN.md §4).

Faults (``awh_tf/training/faults.py``; docs/faults.md): checkpoints are written by ``CheckpointManager``
(data files first, then the ``checkpoint`` index via an atomic rename), so a kill at any moment leaves the
previous checkpoint valid; rerunning the same command restores the step, the weights, both optimizers'
moments and iteration counts and the data position (the input streams are a pure function of (seed, step)).
SIGTERM / SIGINT save a checkpoint after the step in flight and stop with :class:`Interrupted` (under
``multi_worker``, TensorFlow's ``PreemptionCheckpointHandler`` coordinates the save across workers); a
damaged latest checkpoint is moved aside and the newest one that restores is used; a second process on the
same workdir is refused (``.lock``); a failed checkpoint write and a non-finite loss stop the run with a
one-line :class:`TrainingError`, the last good checkpoint kept.

Under ``multi_worker`` every worker writes its own checkpoints (the chief in ``checkpoints/``, worker i in
``worker-i/checkpoints/``; synchronous training makes them equal) and only the chief writes TensorBoard
summaries and evaluates, so the workdir may be shared or per machine.
"""

import json
import os
import time

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from awh_tf import run_dir
from awh_tf.data import bad_samples, data_setup
from awh_tf.errors import Interrupted, TrainingError
from awh_tf.evaluation import evaluate_lib
from awh_tf.evaluation.protocol import headline_scalars
from awh_tf.models import factory, preset
from awh_tf.training import determinism, faults
from awh_tf.training.streams import InputStreams
from awh_tf.training.trainer import AWHTrainer


def make_optimizers(train_cfg):
    """Pose optimizer: Adam/AdamW with linear warm-up then cosine decay over the whole run; critic: Adam
    with the WGAN-GP betas (0.5, 0.9) at a constant rate."""
    peak = train_cfg.learning_rate
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak * 0.01, decay_steps=max(1, train_cfg.total_steps - train_cfg.warmup_steps),
        alpha=train_cfg.final_lr_fraction, warmup_target=peak, warmup_steps=train_cfg.warmup_steps)
    if train_cfg.optimizer == "adamw":
        pose_opt = keras.optimizers.AdamW(schedule, weight_decay=train_cfg.weight_decay, name="pose_opt")
    else:
        pose_opt = keras.optimizers.Adam(schedule, name="pose_opt")
    critic_opt = keras.optimizers.Adam(train_cfg.critic_learning_rate, beta_1=0.5, beta_2=0.9,
                                       name="critic_opt")
    if train_cfg.precision == "mixed_float16":  # bfloat16 has float32's range: no loss scaling
        pose_opt = keras.optimizers.LossScaleOptimizer(pose_opt)
        critic_opt = keras.optimizers.LossScaleOptimizer(critic_opt)
    return pose_opt, critic_opt


def get_strategy(name):
    """``default`` (one device), ``mirrored`` (all local GPUs, or CPUs) or ``multi_worker`` (TF_CONFIG)."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def make_step_functions(trainer, strategy):
    """``tf.function``s running the pre-training and joint steps on every replica, with each log value
    averaged over replicas (both players' updates happen inside ``strategy.run``)."""

    def distributed(step):
        @tf.function(reduce_retracing=True)
        def run(batch):
            logs = strategy.run(step, args=(batch,))
            return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in logs.items()}

        return run

    return distributed(trainer.pretrain_step), distributed(trainer.train_step)


def build_trainer(config):
    """Builds the three players, the similarity weighting and the compiled trainer (seeded). Call it inside
    ``strategy.scope()`` to place the variables for a distributed run."""
    keras.mixed_precision.set_global_policy(config.train.precision)  # also resets a previous run's policy
    determinism.configure(config.train)  # --deterministic_ops: bit-identical kernels (or off again)
    keras.utils.set_random_seed(config.train.seed)
    pose_net = factory.build_pose_network(config.model)
    depth_reg = factory.build_depth_regularizer(config.model)
    critic = similarity = None
    if config.train.uses_critic:
        critic = factory.build_critic(config.model)
        mode = "ones" if config.train.da == "wdgrl" else "awh"
        similarity = factory.build_similarity_weighting(config.model, mode=mode)
    trainer = AWHTrainer(pose_net, depth_reg, critic, similarity, config.train, config.model.input_size)
    pose_opt, critic_opt = make_optimizers(config.train)
    trainer.compile(pose_optimizer=pose_opt, critic_optimizer=critic_opt if critic is not None else None)
    trainer.build_optimizers()
    return trainer


def make_checkpoint(trainer):
    objects = dict(step=tf.Variable(0, dtype=tf.int64, name="step"),
                   pose_network=run_dir.model_variables(trainer.pose_network),
                   depth_regularizer=run_dir.model_variables(trainer.depth_regularizer),
                   pose_optimizer=trainer.pose_optimizer, seed_state=trainer.seed_generator.state)
    if trainer.critic is not None:
        objects.update(critic=run_dir.model_variables(trainer.critic), critic_optimizer=trainer.critic_optimizer)
    return tf.train.Checkpoint(**objects)


def _write_summaries(writer, step, logs, trainer):
    with writer.as_default(step=step):
        for name, value in logs.items():
            if name == "alpha":
                tf.summary.histogram("alpha", value)
            else:
                tf.summary.scalar(f"train/{name}", value)
        lr = trainer.pose_optimizer.learning_rate
        tf.summary.scalar("train/learning_rate", lr() if callable(lr) else lr)
        if trainer.critic_optimizer is not None:
            tf.summary.scalar("train/critic_learning_rate", trainer.critic_optimizer.learning_rate)


def _check_finite(step, logs, manager, precision="float32"):
    for name, value in logs.items():
        if precision == "mixed_float16" and name.endswith("grad_norm"):
            continue  # an overflowed float16 step: skipped by the loss scaler, not a diverged run
        v = np.asarray(value)
        if not np.all(np.isfinite(v)):
            kept = manager.latest_checkpoint or "none yet"
            raise TrainingError(f"step {step}: {name} is {v.ravel()[0]}; stopped, last good checkpoint "
                                f"kept: {kept}")


def worker_role(strategy_name):
    """``(name, is_chief)`` of this process in a ``multi_worker`` cluster (``TF_CONFIG``): the chief (or worker
    0 when the cluster has no chief) is ``("chief", True)``, any other ``("worker-i", False)``; a single-process
    run is ``("chief", True)``."""
    if strategy_name != "multi_worker":
        return "chief", True
    try:
        tf_config = json.loads(os.environ.get("TF_CONFIG", "{}"))
        task, cluster = tf_config.get("task", {}), tf_config.get("cluster", {})
        kind, index = task.get("type", "worker"), int(task.get("index", 0))
    except (ValueError, TypeError, AttributeError) as e:
        raise TrainingError(f"TF_CONFIG: unreadable ({e}); see docs/training.md 'Several machines'") from None
    if kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster):
        return "chief", True
    return f"{kind}-{index}", False


def checkpoint_dir(config, workdir):
    """Where this process writes its checkpoints: ``<workdir>/checkpoints`` (``<workdir>/worker-i/checkpoints``
    for a non-chief worker of a ``multi_worker`` run)."""
    name, is_chief = worker_role(config.train.strategy)
    return os.path.join(workdir, "checkpoints") if is_chief else os.path.join(workdir, name, "checkpoints")


def train(config, workdir, log=print, progress=True, domains=None, until_step=None):
    """Trains (or resumes) the run in ``workdir``; returns the trainer. Evaluation is separate.

    Args:
      config: the frozen :class:`Config`.  workdir: the run folder.  log: one-line messages.
      progress: show a progress bar.
      domains: ``(synthetic_train, real_train)`` loaders already opened for this config's data (e.g. wrapped in
        warm :class:`PrecropCache` s shared by several runs of a suite); default: opened here.
      until_step: stop (with a checkpoint) at this step instead of at the end of the schedule; the schedule
        itself (learning-rate decay) is still that of ``config``.
    Raises:
      Interrupted: SIGTERM / SIGINT arrived; a checkpoint of the step reached was saved.
      TrainingError: the workdir is in use or holds another run, no checkpoint restores, a checkpoint
        write failed, or a loss went non-finite (one line each).
    """
    name, is_chief = worker_role(config.train.strategy)
    with faults.WorkdirLock(workdir, ".lock" if is_chief else f".lock.{name}", log=log):
        if is_chief:
            run_dir.check_workdir(config, workdir)
        data_setup.ensure_procedural_data(config.data, log=log)
        synthetic, real_train = domains or data_setup.open_domains(config.data)[:2]
        strategy = get_strategy(config.train.strategy)
        with strategy.scope():
            trainer = build_trainer(config)
            ckpt = make_checkpoint(trainer)
        ckpt_dir = checkpoint_dir(config, workdir)
        # expect_partial: a run without a critic may start from a checkpoint with one (shared_runs.py).
        restored = faults.restore_newest(
            lambda path: ckpt.restore(path).assert_existing_objects_matched().expect_partial(), ckpt_dir, log)
        if restored:
            log(f"resumed from {restored} at step {int(ckpt.step.numpy())}")
        if config.train.strategy == "multi_worker":
            _check_workers_agree(strategy, int(ckpt.step.numpy()))
        manager = tf.train.CheckpointManager(ckpt, ckpt_dir, max_to_keep=config.train.keep_checkpoints)
        step, total = int(ckpt.step.numpy()), config.train.total_steps
        bad_log = bad_samples.BadSampleLog()
        streams = InputStreams(config, synthetic, real_train, bad_log, strategy)
        pre_fn, joint_fn = make_step_functions(trainer, strategy)
        tb_dir = os.path.join(workdir, "tb") if is_chief else os.path.join(workdir, name, "tb")
        writer = tf.summary.create_file_writer(tb_dir)
        bar = tqdm(total=total, initial=step, disable=not progress, desc=config.name, unit="step")
        t0 = time.time()
        try:
            with bad_samples.surface_data_errors(bad_log), _preemption(config, strategy, manager) as stop:
                step = _loop(config, trainer, streams, pre_fn, joint_fn, ckpt, manager, writer, bar, step,
                             until_step, stop)
        finally:
            bar.close()
            writer.flush()
    if bad_log.count:
        log(bad_log.report())
    log(f"trained to step {step} in {time.time() - t0:.0f} s this session")
    return trainer


def _check_workers_agree(strategy, step):
    """Every worker of a ``multi_worker`` run resumed at the same step (each restores its own checkpoints;
    a restore is not synchronised across workers), else one line and no training."""
    per_replica = strategy.run(lambda: tf.constant([step], tf.int64))
    steps = [int(s) for s in strategy.gather(per_replica, axis=0).numpy()]
    if len(set(steps)) > 1:
        raise TrainingError(f"the workers resumed at different steps {steps} (in task order): their checkpoints "
                            f"disagree; give every worker the chief's checkpoints (copy checkpoints/ into each "
                            f"worker-i/checkpoints/) and rerun")


class _preemption:
    """The loop's ``stop(step)`` check, called after every step (a context manager).

    SIGTERM / SIGINT are recorded (:class:`faults.Interrupts`). One process: ``stop`` then saves a checkpoint
    at the step reached and raises :class:`Interrupted`. ``multi_worker``: the record is the termination
    watcher of TensorFlow's ``PreemptionCheckpointHandler``, which makes every worker save at the same step;
    its exit function raises :class:`Interrupted` on each. (On a GCE CPU VM TensorFlow's handler only
    follows GCE maintenance events; signals are not seen there.)
    """

    def __init__(self, config, strategy, manager):
        self.config, self.strategy, self.manager = config, strategy, manager
        self._interrupts = self._handler = None

    def __enter__(self):
        self._interrupts = faults.Interrupts().__enter__()
        if self.config.train.strategy == "multi_worker":
            interrupts = self._interrupts

            def exit_fn():  # a worker that got no signal itself stops as if it had got SIGTERM
                raise Interrupted(_interrupted_message(int(self.manager.checkpoint.step.numpy()),
                                                       self.manager.latest_checkpoint), interrupts.signum or 15)

            self._handler = tf.distribute.experimental.PreemptionCheckpointHandler(
                self.strategy.cluster_resolver, self.manager,
                termination_config=tf.distribute.experimental.TerminationConfig(
                    termination_watcher_fn=lambda: interrupts.signum is not None, exit_fn=exit_fn,
                    grace_period=0))
        return self.stop

    def __exit__(self, *exc):
        if self._handler is not None:  # its watcher threads (private API, present in TF 2.12-2.21)
            for stop in ("_stop_poll_termination_signal_thread", "_stop_cluster_wise_termination_watcher_thread"):
                getattr(self._handler, stop, lambda: None)()
        self._interrupts.__exit__(*exc)
        return False

    def stop(self, step):
        if self._handler is not None:
            self._handler.save_checkpoint_if_preempted(checkpoint_number=step)
            return
        signum = self._interrupts.signum
        if signum is None:
            return
        path = self.manager.latest_checkpoint
        if path is None or not path.endswith(f"ckpt-{step}"):
            path = faults.save_checkpoint(self.manager, step)
        raise Interrupted(_interrupted_message(step, path), signum)


def _interrupted_message(step, path):
    return f"interrupted at step {step}; checkpoint saved: {path}; rerun the same command to resume"


def _loop(config, trainer, streams, pre_fn, joint_fn, ckpt, manager, writer, bar, step, until_step=None,
          stop=None):
    """The step loop: one step, NaN guard, tracker means to TensorBoard, periodic checkpoints, and the
    preemption check ``stop(step)`` after each step."""
    total = config.train.total_steps
    until = total if until_step is None else min(until_step, total)
    while step < until:
        batch = streams.next(step)
        logs = pre_fn(batch) if step < config.train.pretrain_steps else joint_fn(batch)
        step += 1
        ckpt.step.assign(step)
        logs = {k: v.numpy() for k, v in logs.items()}
        _check_finite(step, logs, manager, config.train.precision)
        means = trainer.update_trackers(logs)
        if step % config.train.log_every == 0 or step == total:
            means = {k: v.numpy() for k, v in means.items()}
            if "alpha" in logs:
                means["alpha"] = logs["alpha"]
            _write_summaries(writer, step, means, trainer)
            bar.set_postfix({k: f"{float(v):.3g}" for k, v in means.items() if k in ("loss", "wasserstein")})
            for m in trainer.metrics:
                m.reset_state()
        if step % config.train.checkpoint_every == 0 or step == until:
            faults.save_checkpoint(manager, step)
        bar.update(1)
        if stop is not None:
            stop(step)
    return step


def evaluate(config, workdir, pose_network=None, log=print):
    """Evaluates on the real test split with the evaluation library (``evaluate_lib.evaluate_network``: the
    published protocol, 2D metrics when the real domain has no 3D labels, one-line data errors), which writes
    ``eval.json`` and its figures; adds the headline numbers to TensorBoard. Returns the result dict."""
    if pose_network is None:
        pose_network, checkpoint = run_dir.restore_pose_network(config, workdir)
    else:
        checkpoint = tf.train.latest_checkpoint(os.path.join(workdir, run_dir.CHECKPOINT_DIR))
    result = evaluate_lib.evaluate_network(config, workdir, pose_network, checkpoint, log=log)
    writer = tf.summary.create_file_writer(os.path.join(workdir, "tb"))
    with writer.as_default(step=config.train.total_steps):
        for key, value in headline_scalars(result).items():
            tf.summary.scalar(f"eval/{key}", value)
    writer.flush()
    return result


def train_and_evaluate(config, workdir, log=print, progress=True, domains=None):
    """Trains (resuming if possible) and evaluates; returns the evaluation dict (None on a non-chief worker of
    a ``multi_worker`` run, which the chief evaluates). ``domains``: see :func:`train`."""
    name, is_chief = worker_role(config.train.strategy)
    with faults.WorkdirLock(workdir, ".lock" if is_chief else f".lock.{name}", log=log):  # through evaluation
        trainer = train(config, workdir, log=log, progress=progress, domains=domains)
        if not is_chief:
            return None  # a multi_worker run is evaluated once, by its chief
        # A mixed-precision run is saved and evaluated as it is exported: the float32 network from the final
        # checkpoint.
        network = trainer.pose_network
        if config.train.precision != "float32":
            network, _ = run_dir.restore_pose_network(config, workdir)
        preset.save_keras(network, os.path.join(workdir, preset.KERAS_FILE))
        return evaluate(config, workdir, pose_network=network, log=log)
