"""Wasserstein estimate and gradient penalty of the critic (AW Hourglass Eq. 3, 4, 6; WGAN-GP).

Sign convention (DESIGN.md §1): ``L_wd = mean f(x_s) − mean f(x_t)``. The critic maximises
``L_wd − λ_gp · GP`` (minimises ``−L_wd + λ_gp · GP``); the pose network minimises ``+λ_wd · L_wd``,
which pulls the two domains' (weighted) features together.
"""

import tensorflow as tf
from keras import ops


def wasserstein_estimate(scores_s, scores_t):
    """``mean(scores_s) − mean(scores_t)``: scalar; ``scores_*`` ``[B_*, 1]`` or ``[B_*]`` critic outputs."""
    return ops.mean(ops.cast(scores_s, "float32")) - ops.mean(ops.cast(scores_t, "float32"))


def gradient_penalty(critic, x_s, x_t, t, epsilon=1e-12):
    """WGAN-GP penalty (Eq. 4, without λ_gp): ``mean_b (sqrt(‖∇_x f(x_m)‖² + ε) − 1)²``.

    ``x_m = t · x_s + (1 − t) · x_t`` per sample. ε inside the square root keeps the penalty and its
    gradient finite when the critic's gradient is zero. Differentiable with respect to the critic's
    weights (call it inside the critic's tape).

    Args:
      critic: callable ``[B, ...] -> [B, 1]`` (or ``[B]``) whose output for a sample depends on that sample
        only (no batch norm).
      x_s, x_t: ``[B, ...]`` source and target critic inputs (same shape).
      t: ``[B]`` interpolation weights, drawn U[0, 1] by the caller.
      epsilon: added under the square root.
    Returns: scalar float32.
    """
    x_s = tf.convert_to_tensor(x_s, dtype=tf.float32)
    x_t = tf.convert_to_tensor(x_t, dtype=tf.float32)
    t = tf.convert_to_tensor(t, dtype=tf.float32)
    if t.shape.rank != 1:
        raise ValueError(f"gradient_penalty: t must be [B], got shape {t.shape}")
    t = tf.reshape(t, [-1] + [1] * (x_s.shape.rank - 1))  # [B, 1, ..., 1]
    x_m = t * x_s + (1.0 - t) * x_t
    with tf.GradientTape() as tape:
        tape.watch(x_m)
        # The sum's gradient is every sample's own gradient: a score depends on its own input only.
        total = tf.reduce_sum(critic(x_m))
    grads = tape.gradient(total, x_m, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    sq_norm = tf.reduce_sum(tf.reshape(tf.square(grads), [tf.shape(grads)[0], -1]), axis=1)  # [B]
    return tf.reduce_mean(tf.square(tf.sqrt(sq_norm + epsilon) - 1.0))
