"""The tf.data input pipeline: loader samples → hand crops with 2.5D targets, in batches.

Per sample (numpy, :func:`process_sample`): mirror a right hand to a left one (DESIGN.md §2), crop a
square around the hand's visible 2D keypoints, resize to S (one affine ``A``, ``awh_tf.data.crop``),
augment when training (``awh_tf.data.augment``), encode the 2.5D targets with ``awh_tf.geometry`` and
crop the hand's depth into the depth regularizer's target. :func:`make_eval_dataset`,
:func:`make_source_dataset` and :func:`make_train_dataset` run it in a parallel ``tf.data`` map.

Legend: B batch, K = 21 keypoints, S = ``cfg.input_size``, D = ``cfg.depth_size``. An element (or a
batch, with a leading B) is a dict of

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

Order and randomness: the training streams visit a fresh permutation of their dataset every epoch,
computed from ``(seed, stream, epoch)``; each sample's augmentation generator is seeded from
``(seed, stream, epoch, index)``. A stream can therefore start at any step without reading what came
before (``start_step``), and with ``cfg.deterministic`` the batches are the same on every run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading

import numpy as np
import tensorflow as tf

from awh_tf import geometry
from awh_tf.config import TARGET_LABEL_BUDGETS
from awh_tf.data import augment, crop
from awh_tf.data.errors import DataError
from awh_tf.keypoints import NUM_KEYPOINTS, mirror_K, mirror_uv, mirror_xyz

FIELDS = ("image", "uv", "z_rel", "visible", "depth_target", "domain", "has_2d", "has_depth", "has_3d", "xyz",
          "crop_K", "scale", "root_depth", "index")
SOURCE_STREAM, TARGET_STREAM = 0, 1


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


class BadSampleLog:
    """Thread-safe record of the samples the pipeline could not read.

    ``skipped`` maps ``(stream, index)`` to ``(message, times)``; ``raised`` keeps the errors that stopped
    a ``"raise"`` pipeline so :func:`surface_data_errors` can re-raise them as one-line DataErrors.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.skipped = {}
        self.raised = []

    def record_skip(self, stream, index, error):
        with self._lock:
            _, times = self.skipped.get((stream, index), ("", 0))
            self.skipped[(stream, index)] = (str(error), times + 1)
            return sum(1 for s, _ in self.skipped if s == stream)

    def record_raise(self, error):
        with self._lock:
            self.raised.append(error)

    @property
    def count(self):
        """Samples dropped, counting a sample once per time it was drawn."""
        with self._lock:
            return sum(times for _, times in self.skipped.values())

    def report(self):
        """A human-readable summary: how many were skipped and which, one line per distinct sample."""
        with self._lock:
            items = sorted(self.skipped.items())
        if not items:
            return "skipped 0 bad samples"
        total = sum(times for _, (_, times) in items)
        lines = [f"skipped {total} bad sample reads ({len(items)} distinct samples):"]
        lines += [f"  {stream} #{index} (x{times}): {message}" for (stream, index), (message, times) in items]
        return "\n".join(lines)

    def clear(self):
        with self._lock:
            self.skipped.clear()
            self.raised.clear()


DEFAULT_LOG = BadSampleLog()


def skipped_report(log=None):
    """:meth:`BadSampleLog.report` of ``log`` (default: the module's log that the datasets use by default)."""
    return (log or DEFAULT_LOG).report()


@contextlib.contextmanager
def surface_data_errors(log=None):
    """Turns the TF error a ``"raise"`` pipeline stops with back into the loader's one-line DataError.

    ``tf.numpy_function`` wraps a Python exception in a ``tf.errors.OpError`` whose message carries a
    traceback; wrap the loop that iterates a dataset in ``with surface_data_errors():`` to see just the
    DataError (path, sample index, problem).
    """
    log = log or DEFAULT_LOG
    try:
        yield
    except tf.errors.OpError as e:
        for err in reversed(log.raised):
            if str(err) in str(e):
                clean = DataError(str(err))
                clean.path, clean.index = getattr(err, "path", None), getattr(err, "index", None)
                raise clean from None
        raise


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
      cfg: a :class:`PipelineConfig`.
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


def _specs(cfg):
    """``{field: (dtype, shape)}`` of one element."""
    S, D, K = cfg.input_size, cfg.depth_size, NUM_KEYPOINTS
    return {"image": (tf.float32, (S, S, 3)), "uv": (tf.float32, (K, 2)), "z_rel": (tf.float32, (K,)),
            "visible": (tf.bool, (K,)), "depth_target": (tf.float32, (D, D)), "domain": (tf.int32, ()),
            "has_2d": (tf.bool, ()), "has_depth": (tf.bool, ()), "has_3d": (tf.bool, ()), "xyz": (tf.float32, (K, 3)), "crop_K": (tf.float32, (3, 3)),
            "scale": (tf.float32, ()), "root_depth": (tf.float32, ()), "index": (tf.int32, ())}


def _placeholder(cfg):
    """A zero element with the right dtypes, standing in for a skipped sample until the filter drops it."""
    return [np.zeros(shape, dtype.as_numpy_dtype) for dtype, shape in _specs(cfg).values()]


def epoch_order(n, seed, stream, epoch):
    """The sample order ``[n]`` int64 of one epoch of one stream: a permutation from (seed, stream, epoch)."""
    return np.random.default_rng([seed, stream, epoch]).permutation(n).astype(np.int64)


def _order_dataset(n, seed, stream, start):
    """Infinite ``(index, epoch)`` int64 pairs, per-epoch permutations, from sample position ``start``.

    Only the epoch containing ``start`` is sliced; nothing before it is produced or read.
    """
    start_epoch, offset = divmod(int(start), n)

    def order(epoch):
        idx = epoch_order(n, seed, stream, int(epoch))
        idx = idx[offset:] if epoch == start_epoch else idx
        return np.stack([idx, np.full_like(idx, epoch)], axis=1)

    def one_epoch(epoch):
        pairs = tf.numpy_function(order, [epoch], tf.int64, stateful=False)
        pairs.set_shape((None, 2))
        return tf.data.Dataset.from_tensor_slices((pairs[:, 0], pairs[:, 1]))

    return tf.data.Dataset.range(start_epoch, np.iinfo(np.int64).max).flat_map(one_epoch)


def _map_samples(ds, cfg, pairs, stream, aug_seed, log, chunk, labels_of=None):
    """Maps ``(index, epoch)`` pairs to elements (unbatched), ``chunk`` samples per ``tf.numpy_function``.

    One Python call per chunk rather than per sample: tf.data's per-call cost (the call, ~14 outputs to
    convert) is about as large as the numpy work of one small crop. The chunks run in a parallel map and
    are split back into elements, so the result is the same for any ``chunk``. ``aug_seed`` None disables
    augmentation; otherwise each sample's generator is seeded from ``(aug_seed, stream, epoch, index)``, so
    the result does not depend on thread scheduling or chunking either. ``labels_of(index)`` gives each
    sample's :class:`Labels` (default: all).
    """
    specs = _specs(cfg)
    name = ("source", "target", "eval")[stream]
    n = len(ds)

    def load_one(index, epoch):
        rng = None if aug_seed is None else np.random.default_rng([aug_seed, stream, epoch, index])
        try:
            sample = ds[index]
            try:
                out = process_sample(sample, cfg, rng, ALL_LABELS if labels_of is None else labels_of(index))
            except ValueError as e:  # labels the codec refuses are bad data, not a pipeline bug
                raise DataError.at(sample.get("name", type(ds).__name__), e, index) from e
        except DataError as err:
            if cfg.on_bad_sample == "raise":
                log.record_raise(err)
                raise
            if log.record_skip(name, index, err) >= n:
                raise DataError(f"{name} stream: all {n} samples are bad; last: {err}") from err
            return _placeholder(cfg), False
        return [out[k] for k in FIELDS], True

    def load(indices, epochs):
        rows, ok = zip(*(load_one(int(i), int(e)) for i, e in zip(indices, epochs)))
        return [np.stack(column) for column in zip(*rows)] + [np.asarray(ok, dtype=bool)]

    def tf_load(indices, epochs):
        outs = tf.numpy_function(load, [indices, epochs], [d for d, _ in specs.values()] + [tf.bool])
        for t, (_, shape) in zip(outs, list(specs.values()) + [(None, ())]):
            t.set_shape((None,) + tuple(shape))
        return dict(zip(FIELDS + ("ok",), outs))

    parallel = tf.data.AUTOTUNE if cfg.num_parallel_calls == -1 else cfg.num_parallel_calls
    chunks = pairs.batch(chunk).map(tf_load, num_parallel_calls=parallel, deterministic=cfg.deterministic)
    if cfg.on_bad_sample == "skip":
        return chunks.unbatch().filter(lambda e: e["ok"]).map(lambda e: {k: e[k] for k in FIELDS})
    return chunks.map(lambda e: {k: e[k] for k in FIELDS}).unbatch()


def _prefetch(dataset, cfg):
    return dataset.prefetch(tf.data.AUTOTUNE if cfg.prefetch == -1 else cfg.prefetch)


def _check_batch(batch_size, even=False):
    if batch_size < 1 or (even and batch_size % 2):
        kind = "a positive even" if even else "a positive"
        raise ValueError(f"batch_size: expected {kind} integer, got {batch_size}")


def _training_stream(ds, cfg, batch_size, seed, start_step, stream, log, labels_of=None):
    """One infinite, per-epoch reshuffled, augmented stream of ``batch_size`` batches from ``start_step``."""
    if len(ds) == 0:
        raise ValueError(f"{('source', 'target')[stream]} dataset is empty")
    pairs = _order_dataset(len(ds), seed, stream, start_step * batch_size)
    elements = _map_samples(ds, cfg, pairs, stream, seed if cfg.augment else None, log, batch_size, labels_of)
    return elements.batch(batch_size, drop_remainder=True)


def make_eval_dataset(ds, cfg, batch_size, log=None):
    """Every sample of ``ds`` once, in index order, without augmentation (last batch may be short).

    Args:
      ds: a loader (``len``, ``ds[i]`` as in :func:`process_sample`).  cfg: :class:`PipelineConfig`.
      batch_size: B.  log: :class:`BadSampleLog` for ``on_bad_sample="skip"`` (default: the module's).
    Returns:
      ``tf.data.Dataset`` of element dicts with a leading B axis.
    """
    _check_batch(batch_size)
    n = len(ds)
    pairs = tf.data.Dataset.range(n).map(lambda i: (i, tf.constant(0, tf.int64)))
    elements = _map_samples(ds, cfg, pairs, 2, None, log or DEFAULT_LOG, batch_size)
    return _prefetch(elements.batch(batch_size), cfg)


def make_source_dataset(ds, cfg, batch_size, seed=None, start_step=0, log=None):
    """Synthetic-only training batches for pre-training: infinite, reshuffled every epoch, augmented.

    Args:
      ds: the synthetic loader.  cfg: :class:`PipelineConfig`.  batch_size: B.
      seed: order and augmentation seed (default ``cfg.seed``).
      start_step: the first batch to produce; a resumed run sees what an uninterrupted one would have
        (in skip mode only if no sample before it was skipped, as skipping shifts later batches).
      log: :class:`BadSampleLog` (default: the module's).
    Returns:
      ``tf.data.Dataset`` of element dicts with a leading B axis.
    """
    _check_batch(batch_size)
    seed = cfg.seed if seed is None else seed
    stream = _training_stream(ds, cfg, batch_size, seed, start_step, SOURCE_STREAM, log or DEFAULT_LOG)
    return _prefetch(stream, cfg)


def make_train_dataset(source_ds, target_ds, cfg, batch_size, seed=None, start_step=0, log=None,
                       target_budget="2d_depth", target_fraction=1.0, label_seed=0):
    """Adaptation batches ``{"source": B/2 synthetic elements, "target": B/2 real elements}``, infinite.

    Each stream cycles through its own dataset, reshuffled every epoch independently, so the smaller real
    set is repeated to match the synthetic one (paper, "Training").

    Args:
      source_ds: synthetic loader.  target_ds: real loader.  cfg: :class:`PipelineConfig`.
      batch_size: B, even.  seed, start_step, log: as in :func:`make_source_dataset`.
      target_budget, target_fraction, label_seed: the real domain's labels (:func:`target_labels`): which
        labels, on which fraction of its frames (chosen by ``label_seed``).
    Returns:
      ``tf.data.Dataset`` of ``{"source": dict, "target": dict}``, each with a leading B/2 axis.
    """
    _check_batch(batch_size, even=True)
    seed = cfg.seed if seed is None else seed
    log = log or DEFAULT_LOG
    half = batch_size // 2
    source = _training_stream(source_ds, cfg, half, seed, start_step, SOURCE_STREAM, log)
    labels_of = target_labels(len(target_ds), target_budget, target_fraction, label_seed)
    target = _training_stream(target_ds, cfg, half, seed, start_step, TARGET_STREAM, log, labels_of)
    zipped = tf.data.Dataset.zip(source, target).map(lambda s, t: {"source": s, "target": t})
    return _prefetch(zipped, cfg)
