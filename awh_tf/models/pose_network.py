"""The RGB → 2.5D pose network: stem, stacked hourglasses, one latent 2.5D head per stack.

Legend: B batch, S input side (px), h = S / heatmap_stride heatmap side, hb = h / 2**hourglass_depth
bottleneck side, C channels, K = 21 keypoints.
"""

import keras
from keras import ops

from awh_tf.keypoints import NUM_KEYPOINTS
from awh_tf.models.conv_bn_relu import ConvBNReLU
from awh_tf.models.hourglass import Hourglass
from awh_tf.models.latent_25d_head import Latent25DHead
from awh_tf.config import AWH_FEATURES, INTERMEDIATE_MODES, features_shape
from awh_tf.models.residual import residual_stack
from awh_tf.models.stem import Stem

EXPORT_OUTPUTS = ("uv", "z_rel")
_STACK_OUTPUTS = ("uv", "z_rel", "heatmaps", "depth_maps")


@keras.saving.register_keras_serializable(package="awh_tf")
class PoseNetwork(keras.Model):
    """Stacked-hourglass latent 2.5D pose network (Newell et al. 2016; Iqbal et al. 2018; AW Hourglass
    Fig. 2 and Fig. 3).

    Input: ``[B, S, S, 3]`` float32 RGB in [0, 1] (mapped to [−1, 1] inside, by ``normalize``).
    Output dict:
      ``uv`` ``[B, K, 2]`` input-crop px, ``z_rel`` ``[B, K]`` reference-bone units (last stack);
      ``heatmaps`` ``[B, h, w, K]`` softmax, ``depth_maps`` ``[B, h, w, K]`` (last stack);
      ``features``: what the critic sees (``awh_features`` of stack ``awh_stack``; below);
      for every earlier stack i: ``stack{i}_uv``, ``stack{i}_z_rel``, ``stack{i}_heatmaps``,
      ``stack{i}_depth_maps`` (for intermediate supervision).

    Per stack i: ``hourglass{i}`` → ``res{i}`` → ``lin{i}`` (1×1 conv-BN-ReLU) → ``head{i}``. Stack i+1
    gets ``x + merge_features{i}(lin) + merge_preds{i}(fed)`` (Newell's 1×1 re-mapping), where ``fed`` is
    the head's heatmap logits and depth maps in ``heatmap``/``none`` mode, and in ``conv`` mode (FSSC) the
    output of the extra convs ``intermediate{i}`` that sit between ``lin{i}`` and ``head{i}``.
    The network knows nothing of the critic or the depth regularizer: the RGB path is self-contained.

    ``features`` (the critic's attach point; shape: ``awh_tf.config.features_shape``), per adapted stack:
      ``bottleneck`` ``[B, hb, hb, C]``: the innermost z (the paper's Eq. 5–6);
      ``output`` ``[B, h, h, C]``: the hourglass's output, after its skip branches;
      ``multilevel`` ``[B, hb, hb, C·(d+1)]``: z and every skip branch ``up1_k``, each average-pooled to hb
      and concatenated along channels (one critic; α of Eq. 5 is per channel, so each level's channels
      keep their own weights);
      ``heatmaps`` ``[B, h, h, K]``: the stack's predicted latent 2D heatmaps (softmax; output-space
      alignment, after AdaptSegNet).
    ``awh_stack = -1`` adapts every stack: their tensors are concatenated along channels.
    With ``return_levels=True`` the output also holds ``levels``: every probe level by name (``stem``,
    ``stack{i}_input`` for i > 0, ``stack{i}_low1_k``, ``stack{i}_bottleneck``, ``stack{i}_up1_k``,
    ``stack{i}_output``, ``stack{i}_head_input``, ``stack{i}_heatmaps``): per stack down the encoder
    (``low1_k``, k = 0 the finest), the bottleneck, up the skip branches (``up1_k``, coarsest first), the
    output, the head's input, the head's heatmaps.

    Args:
      input_size: S.
      channels: C.
      num_stacks: number of hourglasses.
      hourglass_depth: down-samplings per hourglass.
      num_residual: residual modules per hourglass position and after each hourglass.
      heatmap_stride: S / h (power of two).
      intermediate: ``none`` | ``heatmap`` | ``conv`` (see above; ``none`` builds the ``heatmap`` graph).
      intermediate_convs: extra 3×3 conv-BN-ReLU layers per earlier stack in ``conv`` mode.
      awh_stack: index of the hourglass whose ``awh_features`` are returned as ``features``; -1 = all.
      num_keypoints: K.
      awh_features: the critic's attach point (above).
    """

    def __init__(self, input_size=64, channels=32, num_stacks=2, hourglass_depth=2, num_residual=1,
                 heatmap_stride=4, intermediate="none", intermediate_convs=2, awh_stack=0,
                 num_keypoints=NUM_KEYPOINTS, awh_features="bottleneck", **kwargs):
        super().__init__(**kwargs)
        self.input_size = input_size
        self.channels = channels
        self.num_stacks = num_stacks
        self.hourglass_depth = hourglass_depth
        self.num_residual = num_residual
        self.heatmap_stride = heatmap_stride
        self.intermediate = intermediate
        self.intermediate_convs = intermediate_convs
        self.awh_stack = awh_stack
        self.num_keypoints = num_keypoints
        self.awh_features = awh_features

    def build(self, input_shape):
        self._check_arguments(input_shape)
        c, n = self.channels, self.num_residual
        self.normalize = keras.layers.Rescaling(2.0, offset=-1.0, name="normalize")
        self.stem = Stem(c, self.heatmap_stride, name="stem")
        self.hourglasses, self.residuals, self.lins, self.heads = [], [], [], []
        for i in range(self.num_stacks):
            self.hourglasses.append(Hourglass(self.hourglass_depth, c, n, name=f"hourglass{i}"))
            self.residuals.append(residual_stack(c, n, name=f"res{i}"))
            self.lins.append(ConvBNReLU(c, 1, name=f"lin{i}"))
            self.heads.append(Latent25DHead(self.num_keypoints, self.heatmap_stride, name=f"head{i}"))
        self.merge_features, self.merge_preds, self.intermediates = [], [], []
        for i in range(self.num_stacks - 1):
            self.merge_features.append(keras.layers.Conv2D(c, 1, name=f"merge_features{i}"))
            self.merge_preds.append(keras.layers.Conv2D(c, 1, name=f"merge_preds{i}"))
            if self.intermediate == "conv":
                self.intermediates.append(keras.Sequential(
                    [ConvBNReLU(c, 3, name=f"conv{j + 1}") for j in range(self.intermediate_convs)],
                    name=f"intermediate{i}"))
        self._build_sub_layers(tuple(input_shape))

    def _build_sub_layers(self, image_shape):
        """Builds every sub-layer from shapes (no trace), in the order ``call`` uses them."""
        self.normalize.build(image_shape)
        self.stem.build(image_shape)
        maps = self.stem.compute_output_shape(image_shape)  # [B, h, h, C]
        for i in range(self.num_stacks):
            for layer in (self.hourglasses[i], self.residuals[i], self.lins[i]):
                layer.build(maps)
            if i < self.num_stacks - 1:
                self.merge_features[i].build(maps)
                if self.intermediate == "conv":
                    self.intermediates[i].build(maps)
                    self.merge_preds[i].build(maps)
                else:
                    self.merge_preds[i].build(maps[:-1] + (2 * self.num_keypoints,))
            self.heads[i].build(maps)

    def _check_arguments(self, input_shape):
        expected = (self.input_size, self.input_size, 3)
        if tuple(input_shape[1:]) != expected:
            raise ValueError(f"PoseNetwork {self.name}: expected images [B, {self.input_size}, "
                             f"{self.input_size}, 3], got shape {tuple(input_shape)}")
        if self.intermediate not in INTERMEDIATE_MODES:
            raise ValueError(f"PoseNetwork {self.name}: intermediate must be one of {INTERMEDIATE_MODES}, "
                             f"got {self.intermediate!r}")
        if not -1 <= self.awh_stack < self.num_stacks:
            raise ValueError(f"PoseNetwork {self.name}: awh_stack must be -1 (all) or in [0, "
                             f"{self.num_stacks}), got {self.awh_stack}")
        if self.awh_features not in AWH_FEATURES:
            raise ValueError(f"PoseNetwork {self.name}: awh_features must be one of {AWH_FEATURES}, "
                             f"got {self.awh_features!r}")

    @property
    def adapted_stacks(self):
        """The stacks whose ``awh_features`` make up ``features``."""
        return tuple(range(self.num_stacks)) if self.awh_stack == -1 else (self.awh_stack,)

    def call(self, images, training=None, return_levels=False):
        x = self.stem(self.normalize(images), training=training)
        outputs, levels, adapted = {}, {"stem": x}, []
        for i in range(self.num_stacks):
            if i:
                levels[f"stack{i}_input"] = x
            hourglass = self.hourglasses[i](x, training=training)
            for k in range(self.hourglass_depth):
                levels[f"stack{i}_low1_{k}"] = hourglass[f"low1_{k}"]
            levels[f"stack{i}_bottleneck"] = hourglass["bottleneck"]
            for k in range(self.hourglass_depth - 1, -1, -1):
                levels[f"stack{i}_up1_{k}"] = hourglass[f"up1_{k}"]
            levels[f"stack{i}_output"] = hourglass["features"]
            lin = self.lins[i](self.residuals[i](hourglass["features"], training=training),
                               training=training)
            last = i == self.num_stacks - 1
            fed = self.intermediates[i](lin, training=training) if not last and self.intermediate == "conv" else lin
            levels[f"stack{i}_head_input"] = fed
            head = self.heads[i](fed)
            levels[f"stack{i}_heatmaps"] = head["heatmaps"]
            if i in self.adapted_stacks:
                adapted.append(self._attached(hourglass, head))
            prefix = "" if last else f"stack{i}_"
            outputs.update({prefix + name: head[name] for name in _STACK_OUTPUTS})
            if not last:
                if self.intermediate != "conv":
                    fed = ops.concatenate([head["heatmap_logits"], head["depth_maps"]], axis=-1)
                x = x + self.merge_features[i](lin) + self.merge_preds[i](fed)
        outputs["features"] = adapted[0] if len(adapted) == 1 else ops.concatenate(adapted, axis=-1)
        if return_levels:
            outputs["levels"] = levels
        return outputs

    def _attached(self, hourglass, head):
        """One adapted stack's part of ``features`` (class docstring)."""
        if self.awh_features == "bottleneck":
            return hourglass["bottleneck"]
        if self.awh_features == "output":
            return hourglass["features"]
        if self.awh_features == "heatmaps":
            return head["heatmaps"]
        parts = [hourglass["bottleneck"]]
        for k in range(self.hourglass_depth):
            cell = 2 ** (self.hourglass_depth - k)
            parts.append(ops.average_pool(hourglass[f"up1_{k}"], cell, strides=cell, padding="valid"))
        return ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape):
        maps = self.stem.compute_output_shape(tuple(input_shape))
        shapes = {"features": (maps[0],) + features_shape(
            self.awh_features, len(self.adapted_stacks), maps[1], self.hourglass_depth, self.channels,
            self.num_keypoints)}
        for i, head in enumerate(self.heads):
            prefix = "" if i == self.num_stacks - 1 else f"stack{i}_"
            head_shapes = head.compute_output_shape(maps)
            shapes.update({prefix + name: head_shapes[name] for name in _STACK_OUTPUTS})
        return shapes

    def export_model(self):
        """A functional ``keras.Model`` ``image [B, S, S, 3] -> {"uv": [B, K, 2], "z_rel": [B, K]}`` sharing
        this network's weights, in inference mode (batch norm uses its moving statistics)."""
        image = keras.Input((self.input_size, self.input_size, 3), name="image")
        outputs = self(image, training=False)
        return keras.Model(image, {name: outputs[name] for name in EXPORT_OUTPUTS}, name="pose_rgb")

    @classmethod
    def from_preset(cls, path):
        """The network saved in ``path`` — a preset folder or a ``.keras`` file
        (:func:`awh_tf.models.preset.load_pose_network`)."""
        from awh_tf.models.preset import load_pose_network

        return load_pose_network(path)

    def get_config(self):
        config = super().get_config()
        config.update(input_size=self.input_size, channels=self.channels, num_stacks=self.num_stacks,
                      hourglass_depth=self.hourglass_depth, num_residual=self.num_residual,
                      heatmap_stride=self.heatmap_stride, intermediate=self.intermediate,
                      intermediate_convs=self.intermediate_convs, awh_stack=self.awh_stack,
                      num_keypoints=self.num_keypoints, awh_features=self.awh_features)
        return config

