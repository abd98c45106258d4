"""Conv → batch norm → ReLU, the plain block of Newell et al.'s stem and "linear" layers."""

import keras


@keras.saving.register_keras_serializable(package="awh_tf")
class ConvBNReLU(keras.layers.Layer):
    """``[B, H, W, C_in] -> [B, H/strides, W/strides, filters]`` by a same-padded convolution without bias,
    batch normalisation and ReLU (Newell et al. 2016, "Stacked Hourglass Networks").

    Args:
      filters: output channels.
      kernel_size: square kernel side.
      strides: convolution stride.
    """

    def __init__(self, filters, kernel_size=1, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides

    def build(self, input_shape):
        self.conv = keras.layers.Conv2D(self.filters, self.kernel_size, strides=self.strides,
                                        padding="same", use_bias=False, name="conv")
        self.bn = keras.layers.BatchNormalization(synchronized=True, name="bn")
        self.conv.build(input_shape)
        self.bn.build(self.conv.compute_output_shape(input_shape))

    def call(self, x, training=None):
        return keras.ops.relu(self.bn(self.conv(x), training=training))

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides)
        return config
