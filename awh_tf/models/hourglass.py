"""One hourglass (Newell et al. 2016) that also exposes its bottleneck features z."""

import keras

from awh_tf.models.residual import residual_stack


@keras.saving.register_keras_serializable(package="awh_tf")
class Hourglass(keras.layers.Layer):
    """Recursive hourglass with skip connections (Newell et al. 2016, Fig. 3; AW Hourglass Fig. 2).

    ``[B, H, W, C_in] -> {"features": [B, H, W, filters], "bottleneck": [B, H/2**depth, W/2**depth, filters],
    "up1_k": [B, H/2**k, W/2**k, filters], "low1_k": [B, H/2**(k+1), W/2**(k+1), filters] for k < depth}``.
    Sub-layers use Newell's names: ``up1`` (skip branch at this scale), ``pool``, ``low1`` (after
    max-pooling), ``low2`` (the inner hourglass, or residuals at the lowest scale), ``low3``, ``up2``
    (nearest up-sampling); ``features = up1 + up2``. ``bottleneck`` is the innermost ``low2`` output: the
    latent features z the AW Hourglass adapts (paper Eq. 5–6). ``up1_k`` and ``low1_k`` are the skip branch
    and the encoder level of the k-th scale from the outside (k = 0: this hourglass's own ``up1``/``low1``),
    for the per-level domain probe and the critic's other attach points (``PoseNetwork.awh_features``).

    Args:
      depth: number of 2× down-samplings (H and W must be divisible by 2**depth).
      filters: channels at every scale.
      num_residual: residual modules per position (Newell: 1).
    """

    def __init__(self, depth, filters, num_residual=1, **kwargs):
        super().__init__(**kwargs)
        self.depth = depth
        self.filters = filters
        self.num_residual = num_residual

    def build(self, input_shape):
        if self.depth < 1:
            raise ValueError(f"Hourglass {self.name}: depth must be >= 1, got {self.depth}")
        cell = 2 ** self.depth
        for side in input_shape[1:3]:
            if side is not None and side % cell:
                raise ValueError(f"Hourglass {self.name}: input side {side} is not divisible by "
                                 f"2**depth = {cell} (input shape {tuple(input_shape)})")
        n = self.num_residual
        self.up1 = residual_stack(self.filters, n, name="up1")
        self.pool = keras.layers.MaxPooling2D(2, name="pool")
        self.low1 = residual_stack(self.filters, n, name="low1")
        if self.depth > 1:
            self.low2 = Hourglass(self.depth - 1, self.filters, n, name="low2")
        else:
            self.low2 = residual_stack(self.filters, n, name="low2")
        self.low3 = residual_stack(self.filters, n, name="low3")
        self.up2 = keras.layers.UpSampling2D(2, interpolation="nearest", name="up2")
        shape = tuple(input_shape)
        self.up1.build(shape)
        low = self.pool.compute_output_shape(shape)
        self.low1.build(low)
        low = low[:-1] + (self.filters,)
        self.low2.build(low)
        self.low3.build(low)

    def call(self, x, training=None):
        up1 = self.up1(x, training=training)
        low1 = self.low1(self.pool(x), training=training)
        levels = {"up1_0": up1, "low1_0": low1}
        if self.depth > 1:
            inner = self.low2(low1, training=training)
            low2, bottleneck = inner["features"], inner["bottleneck"]
            levels.update(_deeper(inner))
        else:
            low2 = bottleneck = self.low2(low1, training=training)
        up2 = self.up2(self.low3(low2, training=training))
        return {"features": up1 + up2, "bottleneck": bottleneck, **levels}

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        def scaled(k):
            cell = 2 ** k
            return (b, None if h is None else h // cell, None if w is None else w // cell, self.filters)

        shapes = {"features": scaled(0), "bottleneck": scaled(self.depth)}
        for k in range(self.depth):
            shapes.update({f"up1_{k}": scaled(k), f"low1_{k}": scaled(k + 1)})
        return shapes

    def get_config(self):
        config = super().get_config()
        config.update(depth=self.depth, filters=self.filters, num_residual=self.num_residual)
        return config


def _deeper(inner):
    """The inner hourglass's ``up1_k``/``low1_k`` renamed one scale deeper (``k + 1``) for the outer one."""
    out = {}
    for key, value in inner.items():
        if key.startswith(("up1_", "low1_")):
            name, k = key.rsplit("_", 1)
            out[f"{name}_{int(k) + 1}"] = value
    return out
