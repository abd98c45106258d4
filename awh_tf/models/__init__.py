"""Networks of the AW Hourglass: the RGB pose network (stacked hourglasses with latent 2.5D heads), the
feature similarity weighting, the Wasserstein critic and the depth regularizer, plus their config and
factory, and their Keras-native files (``preset``: ``pose_network.keras``, a KerasHub-style preset folder,
``load_pose_network``). One public class per file."""

from awh_tf.models.conv_bn_relu import ConvBNReLU
from awh_tf.models.critic import Critic
from awh_tf.models.depth_regularizer import DepthRegularizer
from awh_tf.models.factory import (build_critic, build_depth_regularizer, build_pose_network,
                                   build_similarity_weighting)
from awh_tf.models.feature_similarity_weighting import FeatureSimilarityWeighting
from awh_tf.models.hourglass import Hourglass
from awh_tf.models.latent_25d_head import Latent25DHead
from awh_tf.config import ModelConfig
from awh_tf.models.pose_network import EXPORT_OUTPUTS, PoseNetwork
from awh_tf.models.preset import from_preset, load_pose_network, save_keras, save_preset
from awh_tf.models.residual import Residual
from awh_tf.models.soft_argmax import soft_argmax_25d, spatial_softmax
from awh_tf.models.stem import Stem

__all__ = ["ConvBNReLU", "Critic", "DepthRegularizer", "EXPORT_OUTPUTS", "FeatureSimilarityWeighting",
           "Hourglass", "Latent25DHead", "ModelConfig", "PoseNetwork", "Residual", "Stem", "build_critic",
           "build_depth_regularizer", "build_pose_network", "build_similarity_weighting", "from_preset",
           "load_pose_network", "save_keras", "save_preset", "soft_argmax_25d", "spatial_softmax"]
