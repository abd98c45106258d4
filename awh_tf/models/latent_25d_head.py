"""The latent 2.5D regression head of one stack (Iqbal et al. 2018)."""

import keras

from awh_tf.keypoints import NUM_KEYPOINTS
from awh_tf.models.soft_argmax import soft_argmax_25d


@keras.saving.register_keras_serializable(package="awh_tf")
class Latent25DHead(keras.layers.Layer):
    """Features → per-keypoint latent heatmap and depth map → 2.5D pose (Iqbal et al. 2018, "Hand Pose
    Estimation via Latent 2.5D Heatmap Regression"; AW Hourglass "Regression Network").

    ``[B, h, w, C] ->`` dict:
      ``uv`` ``[B, K, 2]`` input-crop px (soft-argmax; cell j ↦ j·stride + (stride−1)/2),
      ``z_rel`` ``[B, K]`` root-relative depth in reference-bone units (expected depth under the heatmap),
      ``heatmaps`` ``[B, h, w, K]`` spatial softmax, ``heatmap_logits`` ``[B, h, w, K]``,
      ``depth_maps`` ``[B, h, w, K]``.
    No target heatmaps are drawn: the losses act on ``uv`` and ``z_rel`` only.

    Args:
      num_keypoints: K.
      stride: input pixels per heatmap cell.
    """

    def __init__(self, num_keypoints=NUM_KEYPOINTS, stride=4, **kwargs):
        super().__init__(**kwargs)
        self.num_keypoints = num_keypoints
        self.stride = stride

    def build(self, input_shape):
        self.heatmap_conv = keras.layers.Conv2D(self.num_keypoints, 1, name="heatmaps")
        self.depth_conv = keras.layers.Conv2D(self.num_keypoints, 1, name="depth_maps")
        self.heatmap_conv.build(input_shape)
        self.depth_conv.build(input_shape)

    def call(self, features):
        logits = self.heatmap_conv(features)
        depth_maps = self.depth_conv(features)
        decoded = soft_argmax_25d(logits, depth_maps, self.stride)
        return dict(decoded, heatmap_logits=logits, depth_maps=depth_maps)

    def compute_output_shape(self, input_shape):
        b, k = input_shape[0], self.num_keypoints
        maps = tuple(input_shape[:3]) + (k,)
        return {"uv": (b, k, 2), "z_rel": (b, k), "heatmaps": maps, "heatmap_logits": maps,
                "depth_maps": maps}

    def get_config(self):
        config = super().get_config()
        config.update(num_keypoints=self.num_keypoints, stride=self.stride)
        return config
