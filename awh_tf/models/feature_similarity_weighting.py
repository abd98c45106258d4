"""Feature similarity weighting α of the AW Hourglass (paper Eq. 5)."""

import keras
from keras import ops

SIMILARITY_MODES = ("awh", "centred", "ones")


@keras.saving.register_keras_serializable(package="awh_tf")
class FeatureSimilarityWeighting(keras.layers.Layer):
    """Per-channel similarity of source and target features (AW Hourglass, Eq. 5).

    ``(z_s [B_s, H, W, C], z_t [B_t, H, W, C]) -> α [C]``. With ``m_s``, ``m_t`` the batch-mean feature maps
    of each domain, each channel's H×W map L2-normalised (``m / sqrt(Σ_hw m² + epsilon)``),
    ``α_i = Σ_hw m̂_s^i · m̂_t^i`` ∈ [−1, 1]: 1 for channels that look alike in both domains (hand
    structure), 0 for orthogonal ones (background, texture). The critic then sees ``α ⊙ z`` (Eq. 6).
    No trainable weights.

    Mode ``centred`` (not in the paper): each batch-mean map's spatial mean is removed before the
    normalisation, so ``α_i`` is the correlation of the two domains' spatial *patterns* of channel i, clipped
    at 0. Why: the uncentred cosine of two maps that are mostly a positive level (post-ReLU features, 4×4
    bottleneck) is ≈ 1 for every channel whatever the pattern — measured, Eq. 5 gives α ∈ [0.75, 1],
    median ≈ 0.97, so AWH behaves as WDGRL. A hand channel has the same centred blob in both domains'
    batch means (the crops are centred on the hand); a background/texture channel has no common pattern
    and gets ≈ 0.

    Args:
      stop_gradient: treat α as a constant in the backward pass (default), so the encoder cannot lower
        the adversarial loss by making channels dissimilar.
      mode: ``awh`` (Eq. 5), ``centred`` (see above) or ``ones`` (α ≡ 1: plain WDGRL, Shen et al. 2018).
      epsilon: added to each channel's squared norm before the square root (an all-zero channel gets α 0).
      clip_negative: clip α at 0 (not in the paper).
    """

    def __init__(self, stop_gradient=True, mode="awh", epsilon=1e-6, clip_negative=False, **kwargs):
        super().__init__(**kwargs)
        if mode not in SIMILARITY_MODES:
            raise ValueError(f"FeatureSimilarityWeighting: mode must be one of {SIMILARITY_MODES}, "
                             f"got {mode!r}")
        self.stop_gradient = stop_gradient
        self.mode = mode
        self.epsilon = epsilon
        self.clip_negative = clip_negative

    def call(self, z_s, z_t):
        if self.mode == "ones":
            return ops.ones((z_s.shape[-1],), dtype="float32")
        m_s = self._normalized_mean(z_s)  # [H, W, C]
        m_t = self._normalized_mean(z_t)
        alpha = ops.sum(m_s * m_t, axis=(0, 1))  # [C]
        if self.clip_negative or self.mode == "centred":
            alpha = ops.maximum(alpha, 0.0)
        if self.stop_gradient:
            alpha = ops.stop_gradient(alpha)
        return alpha

    def _normalized_mean(self, z):
        mean = ops.mean(ops.cast(z, "float32"), axis=0)  # [H, W, C]
        if self.mode == "centred":
            mean = mean - ops.mean(mean, axis=(0, 1), keepdims=True)
        norm = ops.sqrt(ops.sum(ops.square(mean), axis=(0, 1), keepdims=True) + self.epsilon)
        return mean / norm

    def compute_output_shape(self, z_s_shape, z_t_shape):
        return (z_s_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(stop_gradient=self.stop_gradient, mode=self.mode, epsilon=self.epsilon,
                      clip_negative=self.clip_negative)
        return config
