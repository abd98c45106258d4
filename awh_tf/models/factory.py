"""Builds the four trainable pieces from a :class:`ModelConfig`, each called once so it has its weights."""

import numpy as np

from awh_tf.keypoints import NUM_KEYPOINTS
from awh_tf.models.critic import Critic
from awh_tf.models.depth_regularizer import DepthRegularizer
from awh_tf.models.feature_similarity_weighting import FeatureSimilarityWeighting
from awh_tf.models.pose_network import PoseNetwork


def build_pose_network(cfg, name="pose_network"):
    """:class:`PoseNetwork` for ``[B, S, S, 3]`` RGB in [0, 1], built on one zero image."""
    model = PoseNetwork(input_size=cfg.input_size, channels=cfg.channels, num_stacks=cfg.num_stacks,
                        hourglass_depth=cfg.hourglass_depth, num_residual=cfg.num_residual,
                        heatmap_stride=cfg.heatmap_stride, intermediate=cfg.intermediate,
                        intermediate_convs=cfg.intermediate_convs, awh_stack=cfg.awh_stack,
                        num_keypoints=NUM_KEYPOINTS, awh_features=cfg.awh_features, name=name)
    model(np.zeros((1, cfg.input_size, cfg.input_size, 3), np.float32), training=False)
    return model


def build_critic(cfg, name="critic", input_shape=None):
    """:class:`Critic` for features ``[B, *input_shape]`` (default ``cfg.critic_input_shape``, what the
    pose network's ``features`` are)."""
    critic = Critic(filters=cfg.critic_filters, units=cfg.critic_units, norm=cfg.critic_norm, name=name)
    critic(np.zeros((1,) + tuple(input_shape or cfg.critic_input_shape), np.float32))
    return critic


def build_depth_regularizer(cfg, name="depth_regularizer"):
    """:class:`DepthRegularizer` ``{uv_norm [B, 21, 2], z_rel [B, 21]} -> [B, D, D]``."""
    regularizer = DepthRegularizer(output_size=cfg.depth_reg_size, units=cfg.depth_reg_units,
                                   filters=cfg.depth_reg_filters, num_keypoints=NUM_KEYPOINTS,
                                   output_activation=cfg.depth_reg_activation, name=name)
    regularizer({"uv_norm": np.zeros((1, NUM_KEYPOINTS, 2), np.float32),
                 "z_rel": np.zeros((1, NUM_KEYPOINTS), np.float32)})
    return regularizer


def build_similarity_weighting(cfg, mode="awh", name="feature_similarity_weighting"):
    """:class:`FeatureSimilarityWeighting` (``mode`` ``awh`` = Eq. 5, or ``centred`` when
    ``cfg.similarity_mode`` says so; ``ones`` = plain WDGRL)."""
    if mode == "awh" and cfg.similarity_mode == "centred":
        mode = "centred"
    weighting = FeatureSimilarityWeighting(stop_gradient=cfg.similarity_stop_gradient, mode=mode,
                                           epsilon=cfg.similarity_epsilon,
                                           clip_negative=cfg.similarity_clip_negative, name=name)
    z = np.zeros((1,) + cfg.critic_input_shape, np.float32)
    weighting(z, z)
    return weighting
