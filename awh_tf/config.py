"""Typed, frozen run configuration (STYLE.md §3): every config dataclass of the project, without TensorFlow.

A run's config is four frozen dataclasses: :class:`DataConfig` (where the two domains live),
:class:`PipelineConfig` (crops and augmentation, used by ``awh_tf.data.pipeline``), :class:`ModelConfig`
(architecture, used by ``awh_tf.models``) and :class:`TrainConfig` (objective, schedule, optimisers, faults),
gathered in :class:`Config`. The flag module (:mod:`awh_tf.flags`) builds them from absl flags; library code
only ever sees these objects. The resolved config is written beside the checkpoints as ``config.json``
(``awh_tf.run_dir``) and read back by evaluation, prediction and export.

This module imports only the standard library, so flag parsing (``--helpfull``) answers without loading
TensorFlow.
"""

import dataclasses
import json
import os
from typing import Tuple

DA_MODES = ("none", "wdgrl", "awh")
REAL_DOMAINS = ("stb", "freihand", "coco")
DEPTHLESS_DOMAINS = ("freihand", "coco")  # real domains without depth images
CRITIC_INPUT_NORMS = ("none", "rms")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")  # Keras dtype policy names
INTERMEDIATE_LOSSES = ("R2D", "R3D", "S2D")
TARGET_LABEL_BUDGETS = ("none", "2d", "2d_depth", "3d")
INTERMEDIATE_MODES = ("none", "heatmap", "conv")
AWH_FEATURES = ("bottleneck", "output", "multilevel", "heatmaps")
CRITIC_NORMS = ("none", "layer")
SIMILARITY_MODES = ("eq5", "centred")


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """How samples become training/evaluation crops. Defaults are the demo configuration's.

    Attributes:
      input_size: S, side of the square image crop fed to the network, px.
      depth_size: D, side of the depth regularizer's target image, px.
      crop_margin: padding on each side of the visible keypoints' extent, as a fraction of it
        (side = extent · (1 + 2·margin)).
      min_crop_size: smallest crop side in image px.
      center_jitter: train-time shift of the crop centre, up to this fraction of the side per axis.
      scale_jitter: train-time crop side factor drawn from U[1 - s, 1 + s].
      rotation_deg: train-time in-plane rotation drawn from U[-r, r] degrees.
      brightness, contrast, saturation, channel_gain: colour jitter factors drawn from U[1 - x, 1 + x].
      blur_prob, blur_sigma_max: probability and largest sigma (px) of a Gaussian blur.
      noise_prob, noise_std_max: probability and largest std of Gaussian pixel noise ([0, 1] units).
      augment: apply the train-time augmentation in the training streams (never in evaluation).
      mirror_right: mirror right hands to left ones (DESIGN.md §2).
      hand_region_dilation: without a hand mask (STB), the depth target's hand region is the visible 2D
        keypoints' convex hull dilated by this fraction of their larger 2D extent (about a finger's radius).
      hand_depth_band_mm: the depth target's hand pixels lie within this many mm of the measured depth at
        the keypoints (a human hand spans < 200 mm in depth; background and occluders beyond are dropped).
      on_bad_sample: ``"raise"`` stops at a sample that cannot be read (the loader's one-line DataError);
        ``"skip"`` drops it and records it (:func:`skipped_report`).
      num_parallel_calls: parallel map calls, each processing one batch-sized chunk of samples;
        ``-1`` = ``tf.data.AUTOTUNE``.
      deterministic: keep the map's output order fixed (exact reruns) at some cost in throughput.
      cache_precrops: keep each training sample's hand region in memory after its first read
        (``awh_tf.data.precrop_cache``): later epochs skip PNG decoding and depth registration.
      precrop_factor: side of that cached square relative to the un-jittered crop (covers the jitter).
      precrop_store_dir: with ``cache_precrops``, keep those squares on disk in this folder instead of in
        memory (``awh_tf.data.precrop_store``: the same arrays, built once per dataset and crop settings, up
        front, and reused by every later run; memory flat in dataset size); empty = in memory.
      prefetch: batches to prefetch; ``-1`` = ``tf.data.AUTOTUNE``.
      seed: default seed of the order and augmentation (a function's ``seed`` argument overrides it).
    """

    input_size: int = 64
    depth_size: int = 32
    crop_margin: float = 0.2
    min_crop_size: float = 32.0
    center_jitter: float = 0.1
    scale_jitter: float = 0.15
    rotation_deg: float = 45.0
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    channel_gain: float = 0.1
    blur_prob: float = 0.2
    blur_sigma_max: float = 1.5
    noise_prob: float = 0.2
    noise_std_max: float = 0.03
    augment: bool = True
    mirror_right: bool = True
    hand_region_dilation: float = 0.1
    hand_depth_band_mm: float = 120.0
    on_bad_sample: str = "raise"
    num_parallel_calls: int = -1
    deterministic: bool = True
    prefetch: int = -1
    seed: int = 0
    cache_precrops: bool = False
    precrop_factor: float = 2.0
    precrop_store_dir: str = ""

    def __post_init__(self):
        if self.input_size < 8 or self.depth_size < 2:
            raise ValueError(f"PipelineConfig: input_size={self.input_size} must be >= 8 and "
                             f"depth_size={self.depth_size} >= 2")
        if self.on_bad_sample not in ("raise", "skip"):
            raise ValueError(f"PipelineConfig: on_bad_sample must be 'raise' or 'skip', "
                             f"got {self.on_bad_sample!r}")
        if self.crop_margin < 0 or self.min_crop_size <= 0 or not 0 <= self.scale_jitter < 1:
            raise ValueError("PipelineConfig: need crop_margin >= 0, min_crop_size > 0, "
                             "0 <= scale_jitter < 1")
        if self.hand_region_dilation < 0 or self.hand_depth_band_mm <= 0:
            raise ValueError("PipelineConfig: need hand_region_dilation >= 0 and hand_depth_band_mm > 0")
        if self.num_parallel_calls == 0 or self.num_parallel_calls < -1:
            raise ValueError(f"PipelineConfig: num_parallel_calls must be >= 1 or -1, "
                             f"got {self.num_parallel_calls}")


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
        where background and texture differ between domains. ``-1`` adapts every stack (their features
        concatenated along channels; one critic).
      awh_features: where the critic attaches in each adapted stack (``PoseNetwork``): ``bottleneck`` (the
        innermost z, the paper as written; default), ``output`` (the hourglass's output, after the skip
        branches), ``multilevel`` (z and every skip branch, average-pooled to the bottleneck's side and
        concatenated: one critic, α per channel of every level) or ``heatmaps`` (the stack's predicted
        latent 2D heatmaps: output-space alignment). The gradient penalty, α and ``critic_input_norm``
        apply to whatever is attached.
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
    awh_features: str = "bottleneck"
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
        _check(-1 <= self.awh_stack < self.num_stacks, "awh_stack",
               f"-1 (every stack) or in [0, num_stacks={self.num_stacks})", self.awh_stack)
        _check(self.awh_features in AWH_FEATURES, "awh_features", f"one of {AWH_FEATURES}", self.awh_features)
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
        """Per-sample shape ``(hb, hb, channels)`` of z, the critic's input at the default attach point."""
        return (self.bottleneck_size, self.bottleneck_size, self.channels)

    @property
    def critic_input_shape(self):
        """Per-sample shape of what the critic sees (``awh_features`` of the ``awh_stack`` stack(s))."""
        adapted = self.num_stacks if self.awh_stack == -1 else 1
        return features_shape(self.awh_features, adapted, self.heatmap_size, self.hourglass_depth,
                              self.channels, _NUM_KEYPOINTS)


# awh_tf.keypoints.NUM_KEYPOINTS (this module imports nothing of awh_tf; a test checks the two agree).
_NUM_KEYPOINTS = 21


def features_shape(awh_features, num_adapted, heatmap_side, hourglass_depth, channels, num_keypoints):
    """Per-sample shape ``(side, side, channels)`` of ``PoseNetwork``'s ``features`` (its class docstring)
    when ``num_adapted`` stacks are adapted at ``awh_features``: what the critic is built for."""
    bottleneck_side = heatmap_side // 2 ** hourglass_depth
    side, depth = {"bottleneck": (bottleneck_side, channels), "output": (heatmap_side, channels),
                   "multilevel": (bottleneck_side, channels * (hourglass_depth + 1)),
                   "heatmaps": (heatmap_side, num_keypoints)}[awh_features]
    return (side, side, depth * num_adapted)


def _is_power_of_two(n):
    return isinstance(n, int) and n >= 1 and n & (n - 1) == 0


def _check(ok, field, expected, got):
    if not ok:
        raise ValueError(f"ModelConfig.{field}: expected {expected}, got {got!r}")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the synthetic (RHD-format) and the real domain are read from.

    Attributes:
      data_dir: folder of the procedural benchmark (holds ``RHD_published_v2/``, ``STB/`` and, when a run
        needs them, ``FreiHAND_pub_v2/`` and ``COCO_hands/``); generated there on first use when
        ``generate_if_missing`` and the run's dataset roots are empty.
      real_domain: the real (target) domain: ``stb`` (2D keypoints + depth images; test B1), ``freihand``
        (2D keypoints only — FreiHAND has no depth images; test: its ``evaluation`` split, 3D scored with
        the STB protocol and Procrustes-aligned) or ``coco`` (your own 2D-labelled images in COCO-style
        keypoint JSON, ``awh_tf/data/coco.py``; 2D metrics only). Without depth images the real domain's
        label budget is ``2d`` (or ``none``); ``coco`` has no 3D, so no ``3d`` oracle either.
      rhd_root: a real ``RHD_published_v2`` folder; overrides ``data_dir`` for the synthetic domain.
      stb_root: a real STB folder (``images/``, ``labels/``); overrides ``data_dir`` for ``stb``.
      freihand_root: a FreiHAND folder (``training_K.json``, ``training_xyz.json``, ``training/rgb/``) for
        ``freihand``; ``freihand_eval_root``: the one holding ``evaluation_*`` (default: ``freihand_root``).
      coco_json, coco_images: the training annotation file and the folder its ``file_name`` s are relative
        to, for ``coco``. ``coco_test_json``: a second file (same image folder) to evaluate on; without it
        ``coco_test_fraction`` of the images of ``coco_json`` (chosen by ``gen_seed``) are held out.
      coco_default_hand: the side of annotations without ``hand`` (``left`` or ``right``).
      generate_if_missing: generate the procedural data in ``data_dir`` when it is absent.
      gen_seed, gen_rhd_train, gen_rhd_eval, gen_stb_frames: the generator's seed and sizes (STB frames are
        per sequence, 12 sequences). gen_freihand_train, gen_freihand_eval: the procedural FreiHAND layout's
        sizes (also the source of the procedural COCO layout).
      max_eval_samples: evaluate on at most this many real test samples (0 = all).
    """

    data_dir: str = "data/procedural"
    real_domain: str = "stb"
    rhd_root: str = ""
    stb_root: str = ""
    freihand_root: str = ""
    freihand_eval_root: str = ""
    coco_json: str = ""
    coco_images: str = ""
    coco_test_json: str = ""
    coco_test_fraction: float = 0.1
    coco_default_hand: str = "left"
    generate_if_missing: bool = True
    gen_seed: int = 0
    gen_rhd_train: int = 3000
    gen_rhd_eval: int = 300
    gen_stb_frames: int = 200
    gen_freihand_train: int = 2000
    gen_freihand_eval: int = 400
    max_eval_samples: int = 0

    def __post_init__(self):
        if self.real_domain not in REAL_DOMAINS:
            raise ValueError(f"real_domain: expected one of {REAL_DOMAINS}, got {self.real_domain!r}")
        if self.coco_default_hand not in ("left", "right"):
            raise ValueError(f"coco_default_hand: expected left or right, got {self.coco_default_hand!r}")
        if not 0.0 < self.coco_test_fraction < 1.0:
            raise ValueError(f"coco_test_fraction: expected a value in (0, 1), got {self.coco_test_fraction}")
        if self.real_domain == "coco" and bool(self.coco_json) != bool(self.coco_images):
            raise ValueError("real_domain=coco: give both --coco_json and --coco_images (or neither, for the "
                             "procedural example in data_dir)")

    def rhd_path(self):
        return self.rhd_root or os.path.join(self.data_dir, "RHD_published_v2")

    def stb_path(self):
        return self.stb_root or os.path.join(self.data_dir, "STB")

    def freihand_path(self):
        return self.freihand_root or os.path.join(self.data_dir, "FreiHAND_pub_v2")

    def freihand_eval_path(self):
        return self.freihand_eval_root or self.freihand_path()

    def coco_paths(self):
        """``(train json, image folder, test json or "" for the held-out part)`` of ``real_domain=coco``."""
        if self.coco_json:
            return self.coco_json, self.coco_images, self.coco_test_json
        base = os.path.join(self.data_dir, "COCO_hands")
        return (os.path.join(base, "train.json"), os.path.join(base, "images"),
                self.coco_test_json or os.path.join(base, "test.json"))

    def real_roots_given(self):
        """True when the run's real domain is read from user-given paths (nothing procedural for it)."""
        return bool({"stb": self.stb_root, "freihand": self.freihand_root, "coco": self.coco_json}[self.real_domain])


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Objective (Eq. 11), schedule, optimisers and fault handling.

    Attributes:
      da: ``none`` (no critic), ``wdgrl`` (critic on unweighted features, α ≡ 1, Shen et al.) or ``awh``
        (critic on similarity-weighted features, the method).
      source_only: train on the synthetic domain alone (no real images at all): the "source only" reference.
      target_labels: the real domain's label budget: ``none`` (unsupervised adaptation: real images feed only
        the critic, and batch norm), ``2d`` (2D keypoints), ``2d_depth`` (2D keypoints and the depth image:
        the paper's weak labels) or ``3d`` (also the 3D labels: the "oracle" reference). Outside ``3d`` the
        real domain's 3D labels are never read in training.
      target_label_fraction: the budget's labels are used on this fraction of the real training frames
        (chosen by ``seed``); the others still feed the critic.
      critic_input_norm: ``rms`` divides the bottleneck features by their root mean square over the whole
        batch (both domains, gradient flowing) before weighting, so the encoder cannot lower the critic's
        W by shrinking its features; ``none`` feeds them as they are.
      batch_size: global batch; joint steps take half from each domain.
      pretrain_steps: steps on the synthetic domain alone, no critic (phase 1).
      train_steps: joint steps after pre-training (phase 2); the run has pretrain_steps + train_steps steps.
      n_critic: critic updates per pose update.
      lambda_wd, lambda_gp, lambda_res, lambda_reg, lambda_z: the loss weights of Eq. 4, 8 and 11.
      critic_warmup_steps: joint steps at the start of phase 2 in which only the critic trains against the
        pose network's features (λ_wd = 0 in the pose update): the pose network first sees the gradient of
        a critic that already tells the domains apart. 0 = none (the paper).
      lambda_wd_rampup_steps: after the warm-up, λ_wd rises from 0 to its value over this many joint steps
        along DANN's ramp ``2 / (1 + exp(−10 p)) − 1`` (Ganin et al. 2016; ``trainer.lambda_wd_at``). 0 = λ_wd
        at once (the paper).
      intermediate_losses: which losses supervise the first stack (subset of R2D, R3D, S2D; empty = wo/IL).
      optimizer: ``adam`` or ``adamw``; learning_rate / critic_learning_rate peak rates; warmup_steps and a
        cosine decay over the whole run to ``final_lr_fraction`` of the peak; weight_decay for AdamW.
      checkpoint_every, log_every, eval_every: in steps (eval_every 0 = only at the end).
      keep_checkpoints: how many checkpoints to keep.
      strategy: ``default``, ``mirrored`` or ``multi_worker`` (tf.distribute).
      precision: Keras's dtype policy of the three players: ``float32``, ``mixed_bfloat16`` (bfloat16 compute,
        float32 variables; no loss scaling needed: bfloat16 has float32's exponent range) or
        ``mixed_float16`` (float16 compute with dynamic loss scaling for both optimisers). Variables and
        checkpoints are float32 in every mode, so a run resumes, evaluates and exports (always float32)
        whatever its precision.
      seed: seeds weights, data order, augmentation and the critic's interpolation weights.
      deterministic_ops: make every TensorFlow op deterministic (``tf.config.experimental.
        enable_op_determinism``) on top of the seeds and the ordered input streams (which ``deterministic``
        already keeps), so two runs of one config and seed write bit-identical checkpoints and ``eval.json``
        on one machine, resumes included (``awh_tf.training.determinism``). Off by default (it costs step
        time; docs/training.md "Configs and flags"); the experiment suites turn it on.
    """

    da: str = "awh"
    source_only: bool = False
    target_labels: str = "2d_depth"
    target_label_fraction: float = 1.0
    critic_input_norm: str = "rms"
    batch_size: int = 32
    pretrain_steps: int = 1000
    train_steps: int = 1000
    n_critic: int = 2
    lambda_wd: float = 0.05
    lambda_gp: float = 10.0
    lambda_res: float = 1.0
    lambda_reg: float = 1.0
    lambda_z: float = 1.0
    critic_warmup_steps: int = 0
    lambda_wd_rampup_steps: int = 0
    intermediate_losses: Tuple[str, ...] = ()
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    critic_learning_rate: float = 1e-4
    warmup_steps: int = 100
    final_lr_fraction: float = 0.05
    weight_decay: float = 1e-4
    checkpoint_every: int = 200
    log_every: int = 50
    eval_every: int = 0
    keep_checkpoints: int = 3
    strategy: str = "default"
    precision: str = "float32"
    seed: int = 0
    deterministic_ops: bool = False

    def __post_init__(self):
        if self.da not in DA_MODES:
            raise ValueError(f"da: expected one of {DA_MODES}, got {self.da!r}")
        if self.target_labels not in TARGET_LABEL_BUDGETS:
            raise ValueError(f"target_labels: expected one of {TARGET_LABEL_BUDGETS}, got {self.target_labels!r}")
        if not 0.0 <= self.target_label_fraction <= 1.0:
            raise ValueError(f"target_label_fraction: expected a value in [0, 1], got {self.target_label_fraction}")
        if self.critic_input_norm not in CRITIC_INPUT_NORMS:
            raise ValueError(f"critic_input_norm: expected one of {CRITIC_INPUT_NORMS}, got "
                             f"{self.critic_input_norm!r}")
        if self.critic_warmup_steps < 0 or self.lambda_wd_rampup_steps < 0:
            raise ValueError(f"critic_warmup_steps / lambda_wd_rampup_steps: expected >= 0, got "
                             f"{self.critic_warmup_steps} / {self.lambda_wd_rampup_steps}")
        if self.n_critic < 1:
            raise ValueError(f"n_critic: expected >= 1 critic update per pose update, got {self.n_critic}")
        bad = set(self.intermediate_losses) - set(INTERMEDIATE_LOSSES)
        if bad:
            raise ValueError(f"intermediate_losses: unknown {sorted(bad)}; expected a subset of "
                             f"{INTERMEDIATE_LOSSES}")
        if self.batch_size < 2 or self.batch_size % 2:
            raise ValueError(f"batch_size: must be even and >= 2 (half synthetic, half real), got "
                             f"{self.batch_size}")
        if self.optimizer not in ("adam", "adamw"):
            raise ValueError(f"optimizer: expected adam or adamw, got {self.optimizer!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision: expected one of {PRECISIONS}, got {self.precision!r}")
        if self.strategy not in ("default", "mirrored", "multi_worker"):
            raise ValueError(f"strategy: expected default, mirrored or multi_worker, got {self.strategy!r}")

    @property
    def total_steps(self):
        return self.pretrain_steps + self.train_steps

    @property
    def uses_critic(self):
        return self.da != "none" and not self.source_only


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything a run needs; ``name`` labels it in tables and plots."""

    name: str = "run"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    pipeline: PipelineConfig = dataclasses.field(default_factory=PipelineConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def __post_init__(self):
        # The crop and the network, and the depth target and the regularizer, must agree (one flag each).
        if self.pipeline.input_size != self.model.input_size:
            raise ValueError(f"input_size: pipeline {self.pipeline.input_size} != model {self.model.input_size}")
        if self.pipeline.depth_size != self.model.depth_reg_size:
            raise ValueError(f"depth_reg_size: pipeline depth_size {self.pipeline.depth_size} != model "
                             f"depth_reg_size {self.model.depth_reg_size}")
        if self.train.deterministic_ops and not self.pipeline.deterministic:
            raise ValueError("deterministic_ops: needs --deterministic (the input streams' fixed order); "
                             "got --nodeterministic")

    def check_real_domain_labels(self):
        """Refuses a label budget the real domain cannot give (called where a training run is configured:
        ``flags.config_from_flags``; evaluating a run on another domain is fine).

        Raises:
          ValueError: ``2d_depth`` for a domain without depth images (it would train exactly as ``2d``:
            say ``2d``), or ``3d`` for ``coco`` (no 3D labels).
        """
        domain, budget = self.data.real_domain, self.train.target_labels
        if self.train.source_only:
            return
        if domain in DEPTHLESS_DOMAINS and budget == "2d_depth":
            raise ValueError(f"--real_domain={domain} has no depth images, so --target_labels=2d_depth would train "
                             f"exactly as 2d (no depth regularizer target for the real domain); set "
                             f"--target_labels=2d")
        if domain == "coco" and budget == "3d":
            raise ValueError("--real_domain=coco has no 3D labels: --target_labels=3d (the oracle) is impossible; "
                             "use 2d or none")

    def with_data(self, **overrides):
        """This config with fields of its :class:`DataConfig` replaced (e.g. ``data_dir``, ``stb_root``)."""
        return dataclasses.replace(self, data=dataclasses.replace(self.data, **overrides)) if overrides else self

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d):
        """Inverse of :meth:`to_dict`; unknown keys are an error (a config from another version)."""
        sections = {"data": DataConfig, "pipeline": PipelineConfig, "model": ModelConfig,
                    "train": TrainConfig}
        kwargs = {}
        for key, value in _migrate(d).items():
            if key in sections:
                kwargs[key] = _dataclass_from_dict(sections[key], value, key)
            elif key == "name":
                kwargs[key] = value
            else:
                raise ValueError(f"config: unknown section {key!r}")
        return cls(**kwargs)

    @classmethod
    def load(cls, path):
        with open(path) as f:
            return cls.from_dict(json.load(f))

    def save(self, path):
        """Writes ``config.json`` atomically (temp file + rename)."""
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            f.write(self.to_json())
        os.replace(tmp, path)


def _migrate(d):
    """A ``config.json`` of an earlier version in today's fields, so its run can still be evaluated and
    exported: a config without ``data.real_domain`` (before FreiHAND and COCO) is an STB run, the field's
    default; ``train.mixed_precision`` (a bool) became ``train.precision`` (``mixed_float16`` / ``float32``);
    ``train.oracle`` became ``train.target_labels`` (``3d`` / ``2d_depth``); the pipeline's
    ``real_has_3d`` went with it, and ``depth_window`` / ``hull_dilation`` (the depth target's window around
    the 3D root, replaced by the hand's own depth statistics) shape only training targets."""
    d = {k: dict(v) if isinstance(v, dict) else v for k, v in d.items()}
    train, pipe = d.get("train", {}), d.get("pipeline", {})
    if "oracle" in train:
        train.setdefault("target_labels", "3d" if train.pop("oracle") else "2d_depth")
    if "mixed_precision" in train:
        train.setdefault("precision", "mixed_float16" if train.pop("mixed_precision") else "float32")
    for old in ("real_has_3d", "depth_window", "hull_dilation"):
        pipe.pop(old, None)
    return d


def _dataclass_from_dict(cls, d, section):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(d) - set(fields)
    if unknown:
        raise ValueError(f"config.{section}: unknown field(s) {sorted(unknown)}")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    return cls(**kwargs)


# Fields that may differ between a run and its resumption (they do not change what is learnt so far).
RESUMABLE_FIELDS = {
    ("train", "train_steps"), ("train", "eval_every"), ("train", "log_every"),
    ("train", "checkpoint_every"), ("train", "keep_checkpoints"), ("data", "max_eval_samples"),
    ("train", "strategy"), ("pipeline", "num_parallel_calls"), ("pipeline", "precrop_store_dir"), ("data", "data_dir"),
    ("data", "rhd_root"), ("data", "stb_root"), ("data", "freihand_root"), ("data", "freihand_eval_root"),
    ("data", "coco_json"), ("data", "coco_images"), ("data", "coco_test_json"),
}


def incompatible_fields(old, new):
    """Names ``section.field`` whose values differ between two configs in a way resuming cannot honour."""
    a, b = old.to_dict(), new.to_dict()
    diffs = []
    for section, values in b.items():
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if (section, key) in RESUMABLE_FIELDS:
                continue
            if a.get(section, {}).get(key) != value:
                diffs.append(f"{section}.{key}: {a.get(section, {}).get(key)!r} -> {value!r}")
    return diffs
