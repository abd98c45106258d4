"""Depth regularizer (Cai et al. 2018): 2.5D pose → normalised depth image of the hand."""

import keras
from keras import ops

from awh_tf.keypoints import NUM_KEYPOINTS


@keras.saving.register_keras_serializable(package="awh_tf")
class DepthRegularizer(keras.Model):
    """Decoder from a 2.5D pose to the hand's normalised depth image (Cai et al. 2018, "Weakly-supervised
    3D Hand Pose Estimation from Monocular RGB Images"; AW Hourglass Eq. 9–10).

    Inputs: ``{"uv_norm": [B, K, 2], "z_rel": [B, K]}`` or the two tensors ``(uv_norm, z_rel)``;
    ``uv_norm`` = crop px / S ∈ [0, 1] (the ground-truth 2D in training), ``z_rel`` in reference-bone units.
    Output: ``[B, D, D]`` normalised depth ``(d_max − d) / d_range`` on the hand, 0 on the background
    (Eq. 9), in the crop frame resized to D×D.
    Layers: ``fc{i}`` dense on the flattened ``[B, 3K]`` pose, ``seed`` dense reshaped to
    ``[B, D/2**n, D/2**n, filters[0]]``, ``deconv{i}`` 4×4 stride-2 transposed convs (n of them), all with
    LeakyReLU(0.2), then ``depth``, a 3×3 conv to one channel with ``output_activation``.
    The output is linear by default: with a sigmoid, the L1 loss on mostly-background images drives the
    logits to −∞ and the hand pixels' gradient vanishes (a tiny fixed batch then collapses to an
    all-background image; measured). ReLU hidden units fit the same batch about 3× worse than leaky ones.

    Args:
      output_size: D (divisible by 2**len(filters)).
      units: hidden dense widths.
      filters: channels of the transposed convs.
      num_keypoints: K.
      output_activation: activation of the image (Keras name; default linear, see above).
    """

    def __init__(self, output_size=32, units=(128,), filters=(32, 16, 8), num_keypoints=NUM_KEYPOINTS,
                 output_activation="linear", **kwargs):
        super().__init__(**kwargs)
        self.output_size = output_size
        self.units = tuple(units)
        self.filters = tuple(filters)
        self.num_keypoints = num_keypoints
        self.output_activation = output_activation

    def build(self, inputs_shape, z_rel_shape=None):
        if not self.filters or self.output_size % 2 ** len(self.filters):
            raise ValueError(f"DepthRegularizer {self.name}: output_size {self.output_size} must be "
                             f"divisible by 2**len(filters) = {2 ** len(self.filters)}")
        self.seed_size = self.output_size // 2 ** len(self.filters)
        self.fcs = [keras.layers.Dense(u, activation="leaky_relu", name=f"fc{i + 1}")
                    for i, u in enumerate(self.units)]
        self.seed = keras.layers.Dense(self.seed_size ** 2 * self.filters[0], activation="leaky_relu",
                                       name="seed")
        self.deconvs = [keras.layers.Conv2DTranspose(f, 4, strides=2, padding="same", activation="leaky_relu",
                                                     name=f"deconv{i + 1}")
                        for i, f in enumerate(self.filters)]
        self.depth = keras.layers.Conv2D(1, 3, padding="same", activation=self.output_activation,
                                         name="depth")
        shape = (None, 3 * self.num_keypoints)
        for layer in self.fcs + [self.seed]:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        shape = (None, self.seed_size, self.seed_size, self.filters[0])
        for layer in self.deconvs + [self.depth]:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, inputs, z_rel=None):
        if isinstance(inputs, dict):
            uv_norm, z_rel = inputs["uv_norm"], inputs["z_rel"]
        else:
            uv_norm = inputs
        pose = ops.concatenate([uv_norm, ops.expand_dims(z_rel, -1)], axis=-1)  # [B, K, 3]
        x = ops.reshape(pose, (-1, 3 * self.num_keypoints))  # [B, 3K]
        for fc in self.fcs:
            x = fc(x)
        x = ops.reshape(self.seed(x), (-1, self.seed_size, self.seed_size, self.filters[0]))
        for deconv in self.deconvs:
            x = deconv(x)
        return ops.squeeze(self.depth(x), axis=-1)  # [B, D, D]

    def compute_output_shape(self, inputs_shape, z_rel_shape=None):
        batch = (inputs_shape["uv_norm"] if isinstance(inputs_shape, dict) else inputs_shape)[0]
        return (batch, self.output_size, self.output_size)

    def get_config(self):
        config = super().get_config()
        config.update(output_size=self.output_size, units=list(self.units), filters=list(self.filters),
                      num_keypoints=self.num_keypoints, output_activation=self.output_activation)
        return config
