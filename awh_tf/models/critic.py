"""The Wasserstein critic f_d on (similarity-weighted) bottleneck features."""

import keras

from awh_tf.config import CRITIC_NORMS


@keras.saving.register_keras_serializable(package="awh_tf")
class Critic(keras.Model):
    """Critic ("discriminator") f_d of the AW Hourglass (paper Eq. 3, 4, 6; WGAN-GP, Gulrajani et al. 2017).

    ``[B, hb, wb, C]`` features (already multiplied by α) ``-> [B, 1]`` unbounded scores: ``conv{i}``
    3×3 same-padded convs, flattened, ``dense{i}`` hidden layers, then ``score``; LeakyReLU(0.2)
    between layers. No batch norm: the gradient penalty treats each sample independently, batch norm
    would couple them; ``norm="layer"`` adds per-sample layer norm after each hidden layer instead.

    Args:
      filters: output channels of the convs (may be empty).
      units: widths of the hidden dense layers (may be empty).
      norm: ``none`` or ``layer``.
    """

    def __init__(self, filters=(32,), units=(64,), norm="none", **kwargs):
        super().__init__(**kwargs)
        if norm not in CRITIC_NORMS:
            raise ValueError(f"Critic: norm must be one of {CRITIC_NORMS}, got {norm!r}")
        self.filters = tuple(filters)
        self.units = tuple(units)
        self.norm = norm

    def build(self, input_shape):
        self.hidden = []
        for i, f in enumerate(self.filters):
            # No conv bias: grappler fuses Conv2D+BiasAdd+LeakyRelu and then fails on the gradient
            # penalty's second-order graph ("remapper failed"); the dense layers keep their biases.
            self.hidden.append(keras.layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"conv{i + 1}"))
            self._add_norm_and_activation(f"conv{i + 1}", axis=[-3, -2, -1])
        self.hidden.append(keras.layers.Flatten(name="flatten"))
        for i, u in enumerate(self.units):
            self.hidden.append(keras.layers.Dense(u, name=f"dense{i + 1}"))
            self._add_norm_and_activation(f"dense{i + 1}", axis=[-1])
        self.score = keras.layers.Dense(1, name="score")
        shape = tuple(input_shape)
        for layer in self.hidden + [self.score]:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def _add_norm_and_activation(self, prefix, axis):
        if self.norm == "layer":
            self.hidden.append(keras.layers.LayerNormalization(axis=axis, name=f"{prefix}_norm"))
        self.hidden.append(keras.layers.LeakyReLU(0.2, name=f"{prefix}_act"))

    def call(self, features):
        x = features
        for layer in self.hidden:
            x = layer(x)
        return self.score(x)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        config = super().get_config()
        config.update(filters=list(self.filters), units=list(self.units), norm=self.norm)
        return config
