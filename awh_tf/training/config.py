"""Typed, frozen run configuration (STYLE.md §3).

A run's config is four frozen dataclasses: :class:`DataConfig` (where the two domains live),
``PipelineConfig`` (crops and augmentation, ``awh_tf.data.pipeline``), ``ModelConfig`` (architecture,
``awh_tf.models.model_config``) and :class:`TrainConfig` (objective, schedule, optimisers, faults). The flag
module (:mod:`awh_tf.training.flags`) builds them from absl flags; library code only ever sees these objects.
The resolved config is written beside the checkpoints as ``config.json`` and read back by evaluation,
prediction and export.
"""

import dataclasses
import json
import os
from typing import Tuple

from awh_tf.data.pipeline import TARGET_LABEL_BUDGETS, PipelineConfig
from awh_tf.models.model_config import ModelConfig

DA_MODES = ("none", "wdgrl", "awh")
REAL_DOMAINS = ("stb", "freihand", "coco")
DEPTHLESS_DOMAINS = ("freihand", "coco")  # real domains without depth images
CRITIC_INPUT_NORMS = ("none", "rms")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")  # Keras dtype policy names
INTERMEDIATE_LOSSES = ("R2D", "R3D", "S2D")


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
    ("train", "strategy"), ("pipeline", "num_parallel_calls"), ("data", "data_dir"),
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
