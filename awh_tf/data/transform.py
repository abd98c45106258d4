"""The per-sample transform: one loader sample → one training/evaluation element (numpy, no TensorFlow).

:func:`process_sample` mirrors a right hand to a left one (DESIGN.md §2, :func:`mirror_sample`), crops a
square around the hand's visible 2D keypoints, resizes it to S (one affine ``A``, ``awh_tf.data.crop``),
augments when given a generator (``awh_tf.data.augment``), encodes the 2.5D targets with
``awh_tf.geometry`` and crops the hand's depth into the depth regularizer's target. The tf.data streams
(``awh_tf.data.pipeline``) run it in a parallel map; evaluation helpers, the export's gate crops and the
precrop cache (which stores :func:`mirror_sample` d squares) call it directly.

Legend: K = 21 keypoints, S = ``cfg.input_size``, D = ``cfg.depth_size``. An element is a dict of

=================  ===================  ==========================================================
``image``          float32 [S, S, 3]    RGB in [0, 1]
``uv``             float32 [K, 2]       px, crop frame
``z_rel``          float32 [K]          ``(Z - Z_root) / scale`` (Eq. 7); 0 unless ``has_3d``
``visible``        bool [K]             the loader's visibility (not changed by the crop)
``depth_target``   float32 [D, D]       Eq. 9 hand depth in [0, 1], 0 off the hand (crop.py); 0 unless
                                        ``has_depth``
``domain``         int32 []             0 synthetic (RHD), 1 real (STB)
``has_2d``         bool []              the 2D keypoints may supervise this sample
``has_depth``      bool []              its depth image may supervise it (depth regularizer; False also
                                        when no hand depth was measured: crop.depth_target)
``has_3d``         bool []              its 3D labels may supervise it (False also when the loader has
                                        none: ``xyz`` None, a 2D-only dataset such as COCO-style hands)
``xyz``            float32 [K, 3]       mm, camera frame, after mirroring; 0 unless ``has_3d``
``crop_K``         float32 [3, 3]       ``A @ K``: projects ``xyz`` to ``uv``
``scale``          float32 []           mm, reference bone length (0, 12); 0 unless ``has_3d``
``root_depth``     float32 []           mm, Z of the palm; 0 unless ``has_3d``
``index``          int32 []             the loader's sample index
=================  ===================  ==========================================================

Label budgets (:class:`Labels`): a sample is processed with the labels its stream may use. The synthetic
stream and evaluation use all of them; the real training stream uses the run's budget
(``TrainConfig.target_labels``, :func:`target_labels`): without 3D in the budget, the sample's ``xyz`` is never
read, so the real domain's training batches do not depend on its 3D labels at all (weak labels are weak:
the 2D keypoints with visibility and the depth image). The crop box comes from the 2D keypoints in every
budget, as it does in evaluation (it stands in for a hand detector); a budget without 2D only does not
*supervise* with them.
"""

import dataclasses

import numpy as np

from awh_tf import geometry
from awh_tf.config import TARGET_LABEL_BUDGETS
from awh_tf.data import augment, crop
from awh_tf.keypoints import NUM_KEYPOINTS, mirror_K, mirror_uv, mirror_xyz

FIELDS = ("image", "uv", "z_rel", "visible", "depth_target", "domain", "has_2d", "has_depth", "has_3d", "xyz",
          "crop_K", "scale", "root_depth", "index")


@dataclasses.dataclass(frozen=True)
class Labels:
    """Which labels of a sample may be used: 2D keypoints, the depth image, the 3D keypoints."""

    has_2d: bool = True
    has_depth: bool = True
    has_3d: bool = True


ALL_LABELS = Labels()
NO_LABELS = Labels(False, False, False)


def budget_labels(budget):
    """The :class:`Labels` of a label budget (``none``, ``2d``, ``2d_depth`` = the paper, ``3d`` = oracle)."""
    if budget not in TARGET_LABEL_BUDGETS:
        raise ValueError(f"target_labels: expected one of {TARGET_LABEL_BUDGETS}, got {budget!r}")
    return Labels(has_2d=budget != "none", has_depth=budget in ("2d_depth", "3d"), has_3d=budget == "3d")


def labelled_frames(n, fraction, seed):
    """``[n]`` bool: the frames whose labels are used, ``round(fraction·n)`` of them chosen by ``seed``."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"target_label_fraction: expected a value in [0, 1], got {fraction}")
    chosen = np.zeros(n, bool)
    chosen[np.random.default_rng([seed, 0x1abe1]).permutation(n)[:int(round(fraction * n))]] = True
    return chosen


def target_labels(n, budget, fraction=1.0, seed=0):
    """``labels_of(index) -> Labels`` of a real training set of ``n`` frames under a budget and a fraction
    (the unlabelled frames still feed the critic)."""
    labels, chosen = budget_labels(budget), labelled_frames(n, fraction, seed)
    return lambda index: labels if chosen[index] else NO_LABELS


def mirror_sample(sample):
    """A right hand as a left one (DESIGN.md §2): images flipped, ``u' = W - 1 - u``, ``X' = -X``,
    ``c_x' = W - 1 - c_x``; ``hand`` becomes "left". Other keys are kept."""
    width = sample["image"].shape[1]
    flip = lambda a: None if a is None else np.ascontiguousarray(a[:, ::-1])  # noqa: E731
    xyz = sample.get("xyz")
    return dict(sample, image=flip(sample["image"]), depth=flip(sample["depth"]),
                mask=flip(sample.get("mask")), uv=mirror_uv(sample["uv"], width),
                xyz=None if xyz is None else mirror_xyz(xyz), K=mirror_K(sample["K"], width), hand="left")


def process_sample(sample, cfg, rng=None, labels=ALL_LABELS):
    """Turns one loader sample into one pipeline element (numpy; see the module docstring's table).

    Args:
      sample: a loader's ``ds[i]`` dict: ``image`` uint8 [H, W, 3] RGB, ``depth`` float32 [H, W] mm
        registered to the image (or None: the depth target is then all 0), ``mask`` bool [H, W] or None,
        ``uv`` [K, 2] px, ``xyz`` [K, 3] mm camera frame (or None: the dataset has no 3D labels),
        ``visible`` [K], ``K`` [3, 3], ``hand`` "left"/"right", ``index``, ``domain``.
      cfg: a :class:`awh_tf.config.PipelineConfig`.
      rng: ``np.random.Generator`` for the train-time augmentation, or None for none.
      labels: the :class:`Labels` this sample may use; without ``has_3d`` its ``xyz`` is not read.
    Returns:
      dict of numpy arrays keyed by :data:`FIELDS`.
    Raises:
      ValueError: labels the codec cannot encode (non-finite, zero-length reference bone, Z <= 0).
    """
    if cfg.mirror_right and sample["hand"] == "right":
        sample = mirror_sample(sample)
    image, depth, mask = sample["image"], sample["depth"], sample.get("mask")
    uv, K = sample["uv"], sample["K"]
    visible = np.asarray(sample["visible"], dtype=bool)
    has_3d = labels.has_3d and sample.get("xyz") is not None  # None: a 2D-only dataset, as depth=None below
    if has_3d:
        xyz = np.asarray(sample["xyz"], dtype=np.float32)
        code = geometry.relative_depth(xyz)  # the crop's uv come from its affine, not from projecting xyz
    else:
        xyz = np.zeros((NUM_KEYPOINTS, 3), np.float32)
        code = {"z_rel": np.zeros(NUM_KEYPOINTS, np.float32), "scale": 0.0, "root_depth": 0.0}
    geometry.check_intrinsics(K)
    centre, side = crop.crop_box(uv, visible, cfg.crop_margin, cfg.min_crop_size)
    angle = 0.0
    if rng is not None:
        centre, side, angle = augment.jitter_box(centre, side, rng, cfg)
    S, D = cfg.input_size, cfg.depth_size
    A = crop.crop_affine(centre, side, S, angle)
    image = crop.warp(image, A, S).astype(np.float32) * np.float32(1.0 / 255.0)
    if rng is not None:
        image = augment.photometric(image, rng, cfg)
    depth_target, has_depth = np.zeros((D, D), np.float32), False
    if depth is not None and labels.has_depth:  # None: e.g. a loader built with with_depth=False (evaluation)
        depth_target, has_depth = crop.depth_target(depth, mask, crop.resize_affine(S, D) @ A, uv, visible, D,
                                                    cfg.hand_region_dilation, cfg.hand_depth_band_mm)
    domain = int(sample["domain"])
    return {
        "image": image,
        "uv": crop.apply_affine(A, uv),
        "z_rel": code["z_rel"],
        "visible": visible,
        "depth_target": depth_target,
        "domain": np.int32(domain),
        "has_2d": np.bool_(labels.has_2d),
        "has_depth": np.bool_(has_depth),
        "has_3d": np.bool_(has_3d),
        "xyz": xyz,
        "crop_K": crop.crop_intrinsics(A, K),
        "scale": np.float32(code["scale"]),
        "root_depth": np.float32(code["root_depth"]),
        "index": np.int32(sample["index"]),
    }
