"""The adversarial trainer: one Keras model owning the pose network, depth regularizer and critic.

Per joint step (paper Eq. 3-11, DESIGN.md §1), on a batch half synthetic (s), half real (t):

1. One forward pass of the pose network on both halves gives the adapted hourglass's bottleneck
   features ``z`` and the 2.5D predictions.
2. ``n_critic`` critic updates, each with its own tape over the critic's variables only, maximise
   ``L_wd - λ_gp·GP`` on the (detached) weighted features ``α ⊙ z`` (minimise ``-L_wd + λ_gp·GP``).
3. One pose update (pose network + depth regularizer) minimises
   ``λ_wd·L_wd + λ_res (L_2.5D^s + L_2D^t) + λ_reg (L_reg^s + L_reg^t) + intermediate losses``.
   ``L_wd = mean f(α⊙z_s) - mean f(α⊙z_t)``: lowering it moves the features together. ``z`` is whatever
   the network's ``awh_features`` attach the critic to (the bottleneck by default). The weight λ_wd is
   :func:`lambda_wd_at` the joint step: 0 for ``critic_warmup_steps`` (the critic trains alone), then
   ramped up over ``lambda_wd_rampup_steps`` (both 0 by default: λ_wd from the first joint step).

Both step methods return that step's raw scalars (plus the α vector); they run inside
``strategy.run`` and the caller reduces over replicas and feeds :meth:`update_trackers`.
Pre-training steps (:meth:`pretrain_step`) use the synthetic half only and no critic. ``da='wdgrl'`` uses
α ≡ 1 (Shen et al. 2018), ``da='none'`` skips the critic altogether. Randomness (the interpolation
weights of the gradient penalty) comes from a seeded ``keras.random.SeedGenerator``.

Batches are dicts ``{"source": elem, "target": elem}`` where each elem holds ``image`` [B/2, S, S, 3],
``uv`` [B/2, 21, 2] crop px, ``z_rel`` [B/2, 21], ``visible`` [B/2, 21], ``depth_target`` [B/2, D, D] and
the per-sample label flags ``has_2d``, ``has_depth``, ``has_3d`` [B/2] (see :mod:`awh_tf.data.pipeline`).
The real domain's losses use what its label budget (``target_labels``) gives and nothing else: ``L_2D^t`` on
``has_2d`` samples, ``L_reg^t`` on ``has_depth`` ones, and only in the oracle budget (``3d``) its z_rel.

What the critic sees (``critic_input_norm``): with ``rms`` the bottleneck features are divided by their root
mean square over the whole batch before the α weighting, with the gradient flowing through the division;
a uniform shrinking of the features then leaves the critic's input, and so W, unchanged — the encoder can
lower W only by moving the two domains' features together. The per-domain RMS is logged either way.
"""

import keras
import tensorflow as tf

from awh_tf.losses import (gradient_penalty, loss_2d, loss_25d, loss_depth_reg, loss_first_stack,
                           wasserstein_estimate)

_TRACKED = ("loss", "loss_25d_s", "loss_2d_t", "loss_z_t", "loss_reg_s", "loss_reg_t", "loss_inter",
            "wasserstein", "gradient_penalty", "critic_loss", "grad_norm", "critic_grad_norm",
            "alpha_mean", "alpha_min", "alpha_median", "alpha_max", "feature_rms_s", "feature_rms_t",
            "lambda_wd")


class AWHTrainer(keras.Model):
    """Owns the three players and runs the alternating updates (TensorFlow backend).

    Args:
      pose_network: RGB → dict(uv, z_rel, features, stack0_* …) (``awh_tf.models.PoseNetwork``).
      depth_regularizer: (uv_norm [B,21,2], z_rel [B,21]) → [B, D, D].
      critic: weighted features [B, hb, wb, C] → [B, 1]; None when ``train_config.da == 'none'``.
      similarity: ``FeatureSimilarityWeighting`` (mode 'awh' or 'ones'); None without a critic.
      train_config: :class:`awh_tf.config.TrainConfig`.
      input_size: the crop size S in px (normalises uv for the depth regularizer).
    """

    def __init__(self, pose_network, depth_regularizer, critic, similarity, train_config, input_size,
                 **kwargs):
        super().__init__(**kwargs)
        self.pose_network = pose_network
        self.depth_regularizer = depth_regularizer
        self.critic = critic
        self.similarity = similarity
        self.train_config = train_config
        self.input_size = input_size
        self.seed_generator = keras.random.SeedGenerator(train_config.seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in _TRACKED}

    def compile(self, pose_optimizer, critic_optimizer=None, **kwargs):
        super().compile(**kwargs)
        self.pose_optimizer = pose_optimizer
        self.critic_optimizer = critic_optimizer

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def pose_variables(self):
        return self.pose_network.trainable_variables + self.depth_regularizer.trainable_variables

    def build_optimizers(self):
        """Builds both optimizers with exactly the variable lists the steps update (DESIGN.md §6: a
        checkpoint restores optimizer slots only into optimizers built on the same variables)."""
        self.pose_optimizer.build(self.pose_variables)
        if self.critic is not None and self.critic_optimizer is not None:
            self.critic_optimizer.build(self.critic.trainable_variables)

    # -- losses -------------------------------------------------------------------------------

    def _depth_reg_loss(self, elem, z_rel):
        # Eq. 9-10: the regularizer sees the GT 2D pose and the predicted relative depths.
        uv_norm = tf.cast(elem["uv"], tf.float32) / float(self.input_size)
        pred = self.depth_regularizer({"uv_norm": uv_norm, "z_rel": z_rel}, training=True)
        return loss_depth_reg(pred, elem["depth_target"], elem.get("has_depth"))

    @staticmethod
    def _target_visible(tgt, flag):
        """``[B, K]`` visibility of the real samples whose label ``flag`` (``has_2d`` …) may be used."""
        return tf.logical_and(tf.cast(tgt["visible"], tf.bool), tf.cast(tgt[flag], tf.bool)[:, None])

    def _intermediate_loss(self, out, src, tgt):
        """First-stack supervision (paper Table 1): R2D/R3D on synthetic, S2D on real."""
        terms = self.train_config.intermediate_losses
        if not terms or "stack0_uv" not in out:
            return tf.constant(0.0)
        elems = [src] if tgt is None else [src, dict(tgt, visible=self._target_visible(tgt, "has_2d"))]
        cat = {k: tf.concat([tf.cast(e[k], tf.float32) for e in elems], 0) for k in ("uv", "z_rel", "visible")}
        is_source = tf.concat([tf.ones_like(src["z_rel"][:, 0], tf.bool)] +
                              ([tf.zeros_like(tgt["z_rel"][:, 0], tf.bool)] if tgt is not None else []), 0)
        return loss_first_stack(terms, out["stack0_uv"], cat["uv"], out["stack0_z_rel"], cat["z_rel"],
                                cat["visible"], is_source, lambda_z=self.train_config.lambda_z)

    def _pose_losses(self, out, src, tgt):
        """Supervised part of Eq. 11 (without λ_wd·L_wd); returns (total, dict of parts)."""
        cfg = self.train_config
        n_src = tf.shape(src["image"])[0]
        parts = {"loss_25d_s": loss_25d(out["uv"][:n_src], src["uv"], out["z_rel"][:n_src], src["z_rel"],
                                        src["visible"], lambda_z=cfg.lambda_z),
                 "loss_reg_s": self._depth_reg_loss(src, out["z_rel"][:n_src])}
        budget = cfg.target_labels
        if tgt is not None and budget != "none":
            parts["loss_2d_t"] = loss_2d(out["uv"][n_src:], tgt["uv"], self._target_visible(tgt, "has_2d"))
            if budget in ("2d_depth", "3d"):
                parts["loss_reg_t"] = self._depth_reg_loss(tgt, out["z_rel"][n_src:])
            if budget == "3d":
                parts["loss_z_t"] = loss_25d(tgt["uv"], tgt["uv"], out["z_rel"][n_src:], tgt["z_rel"],
                                             self._target_visible(tgt, "has_3d"), lambda_z=cfg.lambda_z)
        parts["loss_inter"] = self._intermediate_loss(out, src, tgt)
        total = cfg.lambda_res * (parts["loss_25d_s"] + parts.get("loss_2d_t", 0.0) +
                                  parts.get("loss_z_t", 0.0))
        total += cfg.lambda_reg * (parts["loss_reg_s"] + parts.get("loss_reg_t", 0.0))
        total += parts["loss_inter"]
        return total, parts

    # -- critic -------------------------------------------------------------------------------

    def _critic_update(self, x_s, x_t):
        """One critic step: minimise ``-L_wd + λ_gp·GP`` over the critic's variables (Eq. 3-4)."""
        n = tf.minimum(tf.shape(x_s)[0], tf.shape(x_t)[0])
        x_s, x_t = x_s[:n], x_t[:n]
        t = keras.random.uniform((n,), 0.0, 1.0, seed=self.seed_generator)  # U[0,1], Eq. 4
        with tf.GradientTape() as tape:
            w = wasserstein_estimate(self.critic(x_s, training=True), self.critic(x_t, training=True))
            gp = gradient_penalty(self.critic, x_s, x_t, t)
            critic_loss = -w + self.train_config.lambda_gp * gp
            scaled = self._scale(self.critic_optimizer, critic_loss)
        grads = tape.gradient(scaled, self.critic.trainable_variables)
        norm = _unscaled_norm(self.critic_optimizer, grads)
        self.critic_optimizer.apply_gradients(zip(grads, self.critic.trainable_variables))
        return w, gp, critic_loss, norm

    @staticmethod
    def _scale(optimizer, loss):
        """The loss whose gradient is applied.

        Under ``tf.distribute`` each replica sees ``1/R`` of the global batch and the optimizer sums the
        replicas' gradients, so each replica's mean loss is divided by R (the global mean's gradient).
        Mixed precision: a ``LossScaleOptimizer`` scales here and unscales in ``apply_gradients``; a plain
        Keras 3 optimizer's ``scale_loss`` returns the loss unchanged.
        """
        replicas = tf.distribute.get_replica_context().num_replicas_in_sync
        return optimizer.scale_loss(loss / float(replicas))

    def critic_inputs(self, features, n_src):
        """What the critic sees: ``(α⊙z_s, α⊙z_t, α, (rms_s, rms_t))`` from the bottleneck ``features`` of a
        batch whose first ``n_src`` samples are synthetic (``critic_input_norm``: module docstring)."""
        z = tf.cast(features, tf.float32)
        rms = (_rms(z[:n_src]), _rms(z[n_src:]))
        if self.train_config.critic_input_norm == "rms":
            z = z / _rms(z)  # the whole batch's RMS: the domains' relative scale is kept
        z_s, z_t = z[:n_src], z[n_src:]
        alpha = self.similarity(z_s, z_t)  # [C]; stop-gradient inside unless configured
        return alpha * z_s, alpha * z_t, alpha, rms

    # -- steps --------------------------------------------------------------------------------

    def _apply_pose_gradients(self, tape, total):
        variables = self.pose_variables
        grads = tape.gradient(total, variables)
        norm = _unscaled_norm(self.pose_optimizer, grads)
        self.pose_optimizer.apply_gradients(zip(grads, variables))
        return norm

    def pretrain_step(self, batch):
        """Phase 1: synthetic domain only, no critic. ``batch`` is a source elem (or {"source": …})."""
        src = batch["source"] if "source" in batch else batch
        with tf.GradientTape() as tape:
            out = self.pose_network(src["image"], training=True)
            total, parts = self._pose_losses(out, src, None)
            scaled = self._scale(self.pose_optimizer, total)
        grad_norm = self._apply_pose_gradients(tape, scaled)
        return dict(parts, loss=total, grad_norm=grad_norm)

    def train_step(self, batch):
        """Phase 2: ``n_critic`` critic updates, then one pose update (Eq. 11)."""
        cfg = self.train_config
        src = batch["source"]
        tgt = None if cfg.source_only else batch["target"]
        images = src["image"] if tgt is None else tf.concat([src["image"], tgt["image"]], axis=0)
        n_src = tf.shape(src["image"])[0]
        logs = {}
        with tf.GradientTape() as tape:
            out = self.pose_network(images, training=True)
            total, parts = self._pose_losses(out, src, tgt)
            logs.update(parts)
            if cfg.uses_critic:
                x_s, x_t, alpha, (rms_s, rms_t) = self.critic_inputs(out["features"], n_src)
                with tape.stop_recording():
                    xs_d, xt_d = tf.stop_gradient(x_s), tf.stop_gradient(x_t)
                    for _ in range(cfg.n_critic):
                        _, gp, critic_loss, critic_norm = self._critic_update(xs_d, xt_d)
                w = wasserstein_estimate(self.critic(x_s), self.critic(x_t))
                joint_step = tf.cast(self.pose_optimizer.iterations, tf.float32) - float(cfg.pretrain_steps)
                lambda_wd = lambda_wd_at(cfg, joint_step)
                total += lambda_wd * w
                logs.update(alpha=alpha, lambda_wd=lambda_wd, wasserstein=w, gradient_penalty=gp, critic_loss=critic_loss,
                            critic_grad_norm=critic_norm, feature_rms_s=rms_s, feature_rms_t=rms_t,
                            **alpha_statistics(alpha))
            scaled = self._scale(self.pose_optimizer, total)
        logs["grad_norm"] = self._apply_pose_gradients(tape, scaled)
        logs["loss"] = total
        return logs

    def update_trackers(self, logs):
        """Adds one step's (replica-reduced) scalars to the ``keras.metrics.Mean`` trackers; returns the
        running means since the last ``reset_state`` (what TensorBoard shows per logging interval)."""
        for name, value in logs.items():
            if name in self.trackers:
                self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items() if name in logs}

    def call(self, images, training=False):
        return self.pose_network(images, training=training)


def lambda_wd_at(train_cfg, joint_step):
    """λ_wd at ``joint_step`` (0 = the first joint step; a float32 tensor).

    0 during the ``critic_warmup_steps`` critic-only warm-up (the critic trains, the pose network does not
    see its gradient); then DANN's ramp (Ganin et al. 2016) ``λ_wd (2 / (1 + exp(−10 p)) − 1)``, rescaled to
    reach λ_wd exactly at p = 1, with p going from 0 to 1 over ``lambda_wd_rampup_steps``; then λ_wd.
    """
    step = tf.cast(joint_step, tf.float32) - float(train_cfg.critic_warmup_steps)
    weight = tf.constant(train_cfg.lambda_wd, tf.float32)
    if train_cfg.lambda_wd_rampup_steps > 0:
        p = tf.clip_by_value(step / float(train_cfg.lambda_wd_rampup_steps), 0.0, 1.0)
        ramp = 2.0 / (1.0 + tf.exp(-10.0 * p)) - 1.0
        weight = weight * ramp / (2.0 / (1.0 + tf.exp(-10.0)) - 1.0)
    return tf.where(step >= 0.0, weight, 0.0)


def _rms(x, epsilon=1e-12):
    """Root mean square of every element of ``x`` (scalar)."""
    return tf.sqrt(tf.reduce_mean(tf.square(x)) + epsilon)


def alpha_statistics(alpha):
    """``alpha_mean``, ``alpha_min``, ``alpha_median`` (the lower middle value) and ``alpha_max`` of α [C]."""
    ordered = tf.sort(tf.reshape(tf.cast(alpha, tf.float32), [-1]))
    n = tf.shape(ordered)[0]
    return {"alpha_mean": tf.reduce_mean(ordered), "alpha_min": ordered[0],
            "alpha_median": ordered[(n - 1) // 2], "alpha_max": ordered[n - 1]}


def _unscaled_norm(optimizer, grads):
    """The global norm of the gradients of the loss itself: under ``mixed_float16`` the tape's gradients are
    those of the loss times the loss scale. A step whose float16 gradients overflowed has an infinite norm;
    the ``LossScaleOptimizer`` skips it and lowers the scale."""
    norm = tf.linalg.global_norm(grads)
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        norm = norm / tf.cast(optimizer.dynamic_scale, norm.dtype)
    return norm
