"""The tf.data input pipeline: loader samples → hand crops with 2.5D targets, in batches.

Each sample goes through the numpy transform of ``awh_tf.data.transform`` (crop, augmentation, targets; its
docstring has the element's fields) inside a parallel ``tf.data`` map; :func:`make_eval_dataset`,
:func:`make_source_dataset` and :func:`make_train_dataset` are the three streams. Samples that cannot be read
are handled by ``awh_tf.data.bad_samples`` (skipped and logged, or one-line errors).

Order and randomness: the training streams visit a fresh permutation of their dataset every epoch,
computed from ``(seed, stream, epoch)``; each sample's augmentation generator is seeded from
``(seed, stream, epoch, index)``. A stream can therefore start at any step without reading what came
before (``start_step``), and with ``cfg.deterministic`` the batches are the same on every run.
"""

import numpy as np
import tensorflow as tf

from awh_tf.data.bad_samples import BadSampleLog
from awh_tf.data.errors import DataError
from awh_tf.data.transform import ALL_LABELS, FIELDS, process_sample, target_labels
from awh_tf.keypoints import NUM_KEYPOINTS

SOURCE_STREAM, TARGET_STREAM = 0, 1


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
    sample's :class:`~awh_tf.data.transform.Labels` (default: all).
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
      ds: a loader (``len``, ``ds[i]`` as in :func:`~awh_tf.data.transform.process_sample`).  cfg: :class:`~awh_tf.config.PipelineConfig`.
      batch_size: B.  log: the :class:`~awh_tf.data.bad_samples.BadSampleLog` the skipped and raised samples
        go to (default: a new one; pass yours to read it and to ``surface_data_errors``).
    Returns:
      ``tf.data.Dataset`` of element dicts with a leading B axis.
    """
    _check_batch(batch_size)
    n = len(ds)
    pairs = tf.data.Dataset.range(n).map(lambda i: (i, tf.constant(0, tf.int64)))
    elements = _map_samples(ds, cfg, pairs, 2, None, log or BadSampleLog(), batch_size)
    return _prefetch(elements.batch(batch_size), cfg)


def make_source_dataset(ds, cfg, batch_size, seed=None, start_step=0, log=None):
    """Synthetic-only training batches for pre-training: infinite, reshuffled every epoch, augmented.

    Args:
      ds: the synthetic loader.  cfg: :class:`~awh_tf.config.PipelineConfig`.  batch_size: B.
      seed: order and augmentation seed (default ``cfg.seed``).
      start_step: the first batch to produce; a resumed run sees what an uninterrupted one would have
        (in skip mode only if no sample before it was skipped, as skipping shifts later batches).
      log: :class:`BadSampleLog` (default: a new one).
    Returns:
      ``tf.data.Dataset`` of element dicts with a leading B axis.
    """
    _check_batch(batch_size)
    seed = cfg.seed if seed is None else seed
    stream = _training_stream(ds, cfg, batch_size, seed, start_step, SOURCE_STREAM, log or BadSampleLog())
    return _prefetch(stream, cfg)


def make_train_dataset(source_ds, target_ds, cfg, batch_size, seed=None, start_step=0, log=None,
                       target_budget="2d_depth", target_fraction=1.0, label_seed=0):
    """Adaptation batches ``{"source": B/2 synthetic elements, "target": B/2 real elements}``, infinite.

    Each stream cycles through its own dataset, reshuffled every epoch independently, so the smaller real
    set is repeated to match the synthetic one (paper, "Training").

    Args:
      source_ds: synthetic loader.  target_ds: real loader.  cfg: :class:`~awh_tf.config.PipelineConfig`.
      batch_size: B, even.  seed, start_step, log: as in :func:`make_source_dataset`.
      target_budget, target_fraction, label_seed: the real domain's labels (:func:`~awh_tf.data.transform.target_labels`): which
        labels, on which fraction of its frames (chosen by ``label_seed``).
    Returns:
      ``tf.data.Dataset`` of ``{"source": dict, "target": dict}``, each with a leading B/2 axis.
    """
    _check_batch(batch_size, even=True)
    seed = cfg.seed if seed is None else seed
    log = log or BadSampleLog()
    half = batch_size // 2
    source = _training_stream(source_ds, cfg, half, seed, start_step, SOURCE_STREAM, log)
    labels_of = target_labels(len(target_ds), target_budget, target_fraction, label_seed)
    target = _training_stream(target_ds, cfg, half, seed, start_step, TARGET_STREAM, log, labels_of)
    zipped = tf.data.Dataset.zip(source, target).map(lambda s, t: {"source": s, "target": t})
    return _prefetch(zipped, cfg)
