"""Newell et al.'s bottleneck residual module (pre-activation)."""

import keras



@keras.saving.register_keras_serializable(package="awh_tf")
class Residual(keras.layers.Layer):
    """``[B, H, W, C_in] -> [B, H, W, filters]``: BN-ReLU-conv1×1(filters/2) → BN-ReLU-conv3×3(filters/2)
    → BN-ReLU-conv1×1(filters), plus the input (through a 1×1 ``skip`` conv when ``C_in != filters``).
    Newell et al. 2016, "Stacked Hourglass Networks for Human Pose Estimation", Fig. 4 (left).

    Args:
      filters: output channels (even).
    """

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters

    def build(self, input_shape):
        half = max(self.filters // 2, 1)
        self.bn1 = keras.layers.BatchNormalization(synchronized=True, name="bn1")
        self.conv1 = keras.layers.Conv2D(half, 1, name="conv1")
        self.bn2 = keras.layers.BatchNormalization(synchronized=True, name="bn2")
        self.conv2 = keras.layers.Conv2D(half, 3, padding="same", name="conv2")
        self.bn3 = keras.layers.BatchNormalization(synchronized=True, name="bn3")
        self.conv3 = keras.layers.Conv2D(self.filters, 1, name="conv3")
        self.skip = None
        if input_shape[-1] != self.filters:
            self.skip = keras.layers.Conv2D(self.filters, 1, name="skip")
            self.skip.build(input_shape)
        inner = tuple(input_shape[:-1]) + (half,)
        self.bn1.build(input_shape)
        self.conv1.build(input_shape)
        for layer in (self.bn2, self.conv2, self.bn3, self.conv3):
            layer.build(inner)

    def call(self, x, training=None):
        y = self.conv1(keras.ops.relu(self.bn1(x, training=training)))
        y = self.conv2(keras.ops.relu(self.bn2(y, training=training)))
        y = self.conv3(keras.ops.relu(self.bn3(y, training=training)))
        return y + (x if self.skip is None else self.skip(x))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters)
        return config


def residual_stack(filters, num_blocks, name):
    """``num_blocks`` :class:`Residual` modules in sequence, as one named sub-layer."""
    return keras.Sequential([Residual(filters, name=f"res{i + 1}") for i in range(num_blocks)], name=name)
