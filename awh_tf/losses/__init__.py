"""Losses as pure functions: L_2.5D / L_2D (Eq. 8), L_reg (Eq. 10), the Wasserstein estimate (Eq. 3/6)
and the gradient penalty (Eq. 4)."""

from awh_tf.losses.pose_losses import (INTERMEDIATE_TERMS, loss_25d, loss_2d, loss_depth_reg,
                                       loss_first_stack)
from awh_tf.losses.wasserstein import gradient_penalty, wasserstein_estimate

__all__ = ["INTERMEDIATE_TERMS", "gradient_penalty", "loss_25d", "loss_2d", "loss_depth_reg",
           "loss_first_stack", "wasserstein_estimate"]
