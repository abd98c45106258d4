"""The hourglass network's stem: full-resolution crop → features at heatmap resolution."""

import keras

from awh_tf.models.conv_bn_relu import ConvBNReLU
from awh_tf.models.residual import Residual


@keras.saving.register_keras_serializable(package="awh_tf")
class Stem(keras.layers.Layer):
    """``[B, S, S, C_in] -> [B, S/stride, S/stride, channels]`` (Newell et al. 2016, Sec. 3.1).

    For ``stride = 4`` this is Newell's stem: ``conv1`` 7×7/2 (channels/4) → ``res1`` (channels/2) →
    ``pool1`` → ``res2`` (channels/2) → ``res3`` (channels). Other powers of two add or drop
    (residual, max-pool) pairs; ``stride = 1`` uses a stride-1 ``conv1``.

    Args:
      channels: output channels (even, >= 4).
      stride: total down-sampling, a power of two.
    """

    def __init__(self, channels, stride=4, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.stride = stride

    def build(self, input_shape):
        if self.stride < 1 or self.stride & (self.stride - 1):
            raise ValueError(f"Stem {self.name}: stride must be a power of two, got {self.stride}")
        first = min(self.stride, 2)
        blocks = [ConvBNReLU(max(self.channels // 4, 1), 7, strides=first, name="conv1")]
        pools, remaining = 0, self.stride // first
        while remaining > 1:
            pools += 1
            blocks.append(Residual(self.channels // 2, name=f"res{pools}"))
            blocks.append(keras.layers.MaxPooling2D(2, name=f"pool{pools}"))
            remaining //= 2
        blocks.append(Residual(self.channels // 2, name=f"res{pools + 1}"))
        blocks.append(Residual(self.channels, name=f"res{pools + 2}"))
        self.blocks = blocks
        shape = tuple(input_shape)
        for block in blocks:
            block.build(shape)
            shape = block.compute_output_shape(shape)

    def call(self, x, training=None):
        for block in self.blocks:
            x = block(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        side = [None if d is None else d // self.stride for d in input_shape[1:3]]
        return (input_shape[0], *side, self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels, stride=self.stride)
        return config
