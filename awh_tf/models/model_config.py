"""Architecture knobs of the pose network, critic, similarity weighting and depth regularizer.

Every field is a flag of the same name (``awh_tf.training.flags``); ``input_size`` is shared with the
input pipeline so the crop and the network can never disagree. Defaults are a small CPU-sized model
(64×64 crops, 32 channels, 16×16 heatmaps, 4×4 bottleneck). :meth:`ModelConfig.paper_size` gives the
paper's size (256×256 input, 2 stacks, 256 channels, 64×64 heatmaps, as in Newell et al. / Iqbal et al.).
"""

import dataclasses
from typing import Tuple

INTERMEDIATE_MODES = ("none", "heatmap", "conv")
CRITIC_NORMS = ("none", "layer")
SIMILARITY_MODES = ("eq5", "centred")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Frozen architecture config; sizes are in pixels (input crop) or channels.

    Attributes:
      input_size: side S of the square RGB crop ``[B, S, S, 3]`` (paper 256).
      channels: feature channels of every hourglass and of the bottleneck ``z`` (paper 256).
      num_stacks: stacked hourglasses (paper 2, Iqbal et al.'s two-stack network).
      hourglass_depth: down-samplings inside each hourglass; bottleneck side = heatmap side / 2**depth
        (paper 4: 64×64 heatmaps, 4×4 bottleneck).
      num_residual: residual modules at each hourglass position and after each hourglass (Newell: 1).
      heatmap_stride: input pixels per heatmap cell (power of two; paper 4: 256 → 64).
      intermediate: what feeds stack i+1 from stack i (paper Table 1, Fig. 3): ``none`` (wo/IL) and
        ``heatmap`` (FSS) both feed the 1×1-remapped heatmap logits + depth maps forward as in
        Newell/Iqbal and build the same graph (whether a loss is attached is the trainer's
        ``intermediate_losses``); ``conv`` (FSSC) inserts ``intermediate_convs`` 3×3 conv layers before the
        first stack's head and feeds their features, not the heatmaps, forward.
      intermediate_convs: number of extra conv layers in ``conv`` mode.
      awh_stack: index of the hourglass whose bottleneck ``z`` is adapted (critic + similarity weighting).
        Default 0, the first hourglass: the paper states that intermediate supervision (which is applied to
        the first stack) "makes the features in the AW Hourglass focus more on the annotated
        information", which describes the first hourglass; it is also the encoder closest to the image,
        where background and texture differ between domains.
      critic_filters: output channels of the critic's 3×3 convs (stride 1, LeakyReLU 0.2).
      critic_units: widths of the critic's hidden dense layers before the scalar score.
      critic_norm: ``none`` or ``layer`` (per-sample layer norm; never batch norm, it couples the samples
        the gradient penalty treats independently).
      depth_reg_size: side D of the depth regularizer's output image (paper-size 64 = heatmap side).
      depth_reg_units: widths of its dense layers on the flattened 2.5D pose.
      depth_reg_filters: channels of its stride-2 transposed convs; D must be divisible by
        2**len(depth_reg_filters) (the dense seed is D / 2**len × D / 2**len × filters[0]).
      depth_reg_activation: activation of the output image; ``linear`` by default (a sigmoid saturates
        under L1 on mostly-background images, see ``DepthRegularizer``).
      similarity_stop_gradient: treat α (Eq. 5) as a constant in the backward pass.
      similarity_clip_negative: clip α at 0 (anti-correlated channels get weight 0 instead of a negative
        one). Not in the paper; default off.
      similarity_mode: ``eq5`` (the paper's Eq. 5: cosine of the batch-mean maps) or ``centred`` (the same
        after removing each map's spatial mean: the correlation of the maps' patterns, not their levels;
        see ``FeatureSimilarityWeighting``).
      similarity_epsilon: added to the squared L2 norm of each channel map before the square root.
    """

    input_size: int = 64
    channels: int = 32
    num_stacks: int = 2
    hourglass_depth: int = 2
    num_residual: int = 1
    heatmap_stride: int = 4
    intermediate: str = "none"
    intermediate_convs: int = 2
    awh_stack: int = 0
    critic_filters: Tuple[int, ...] = (32,)
    critic_units: Tuple[int, ...] = (64,)
    critic_norm: str = "none"
    depth_reg_size: int = 32
    depth_reg_units: Tuple[int, ...] = (128,)
    depth_reg_filters: Tuple[int, ...] = (32, 16, 8)
    depth_reg_activation: str = "linear"
    similarity_stop_gradient: bool = True
    similarity_clip_negative: bool = False
    similarity_epsilon: float = 1e-6
    similarity_mode: str = "eq5"

    def __post_init__(self):
        _check(self.channels >= 4 and self.channels % 2 == 0, "channels", "an even number >= 4",
               self.channels)
        _check(self.num_stacks >= 1, "num_stacks", ">= 1", self.num_stacks)
        _check(self.hourglass_depth >= 1, "hourglass_depth", ">= 1", self.hourglass_depth)
        _check(self.num_residual >= 1, "num_residual", ">= 1", self.num_residual)
        _check(_is_power_of_two(self.heatmap_stride), "heatmap_stride", "a power of two",
               self.heatmap_stride)
        cell = self.heatmap_stride * 2 ** self.hourglass_depth
        _check(self.input_size > 0 and self.input_size % cell == 0, "input_size",
               f"a positive multiple of heatmap_stride * 2**hourglass_depth = {cell}", self.input_size)
        _check(self.intermediate in INTERMEDIATE_MODES, "intermediate", f"one of {INTERMEDIATE_MODES}",
               self.intermediate)
        _check(self.intermediate_convs >= 1, "intermediate_convs", ">= 1", self.intermediate_convs)
        _check(0 <= self.awh_stack < self.num_stacks, "awh_stack", f"in [0, num_stacks={self.num_stacks})",
               self.awh_stack)
        _check(self.critic_norm in CRITIC_NORMS, "critic_norm", f"one of {CRITIC_NORMS}", self.critic_norm)
        ups = 2 ** len(self.depth_reg_filters)
        _check(len(self.depth_reg_filters) >= 1 and self.depth_reg_size % ups == 0, "depth_reg_size",
               f"a multiple of 2**len(depth_reg_filters) = {ups}", self.depth_reg_size)
        _check(self.similarity_mode in SIMILARITY_MODES, "similarity_mode", f"one of {SIMILARITY_MODES}",
               self.similarity_mode)
        _check(self.similarity_epsilon > 0, "similarity_epsilon", "> 0", self.similarity_epsilon)

    @classmethod
    def paper_size(cls, **overrides):
        """The paper's network: 256×256 input, 2 stacks of depth 4, 256 channels, 64×64 heatmaps."""
        values = dict(input_size=256, channels=256, num_stacks=2, hourglass_depth=4, num_residual=1,
                      heatmap_stride=4, critic_filters=(256,), critic_units=(256,), depth_reg_size=64,
                      depth_reg_units=(256,), depth_reg_filters=(128, 64, 32, 16))
        values.update(overrides)
        return cls(**values)

    @property
    def heatmap_size(self):
        """Side h of the heatmaps and depth maps (= input_size / heatmap_stride)."""
        return self.input_size // self.heatmap_stride

    @property
    def bottleneck_size(self):
        """Side hb of the bottleneck features z (= heatmap_size / 2**hourglass_depth)."""
        return self.heatmap_size // 2 ** self.hourglass_depth

    @property
    def bottleneck_shape(self):
        """Per-sample shape ``(hb, hb, channels)`` of z, the critic's input."""
        return (self.bottleneck_size, self.bottleneck_size, self.channels)


def _is_power_of_two(n):
    return isinstance(n, int) and n >= 1 and n & (n - 1) == 0


def _check(ok, field, expected, got):
    if not ok:
        raise ValueError(f"ModelConfig.{field}: expected {expected}, got {got!r}")
