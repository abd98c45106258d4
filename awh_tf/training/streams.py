"""The input streams of a training run (``train_lib.train`` and ``tools/benchmark_train.py`` read batches
through them): which dataset feeds which phase, at which position, under which label budget."""

from awh_tf.data import pipeline
from awh_tf.data.precrop_store import wrap_precrops


class InputStreams:
    """The training run's input streams, opened lazily per phase at the resumed position: ``next(step)`` is
    the batch of global step ``step`` (pre-training: synthetic only; joint: ``{"source", "target"}``, or the
    synthetic domain alone for ``source_only``), a pure function of ``(config, step)``.

    Args:
      config: the run's Config.  synthetic, real_train: the two training loaders (wrapped here in the precrop
        cache or store when ``config.pipeline.cache_precrops``, unless they already are).
      log: the run's :class:`~awh_tf.data.bad_samples.BadSampleLog`.  strategy: the ``tf.distribute``
        strategy; a distributed run's global batches are split over its replicas.
    """

    def __init__(self, config, synthetic, real_train, log, strategy):
        p = config.pipeline
        if p.cache_precrops:  # one cache (or on-disk store) per domain, shared by both phases' streams
            synthetic, real_train = wrap_precrops(synthetic, p), wrap_precrops(real_train, p)
        self.config, self.synthetic, self.real_train, self.log = config, synthetic, real_train, log
        self.strategy = strategy
        self._pre = self._joint = None

    def _iter(self, ds):
        # The datasets yield global batches; a distributed run splits each over the replicas.
        if self.strategy.num_replicas_in_sync > 1:
            return iter(self.strategy.experimental_distribute_dataset(ds))
        return iter(ds)

    def next(self, step):
        cfg, t = self.config, self.config.train
        if step < t.pretrain_steps:
            if self._pre is None:
                self._pre = self._iter(pipeline.make_source_dataset(
                    self.synthetic, cfg.pipeline, t.batch_size // 2, seed=t.seed, start_step=step,
                    log=self.log))
            return next(self._pre)
        if self._joint is None:
            self._pre = None
            start = step - t.pretrain_steps
            if t.source_only:
                ds = pipeline.make_source_dataset(self.synthetic, cfg.pipeline, t.batch_size, seed=t.seed + 1,
                                                  start_step=start, log=self.log)
                ds = ds.map(lambda e: {"source": e})
            else:
                ds = pipeline.make_train_dataset(self.synthetic, self.real_train, cfg.pipeline, t.batch_size,
                                                 seed=t.seed + 1, start_step=start, log=self.log,
                                                 target_budget=t.target_labels,
                                                 target_fraction=t.target_label_fraction, label_seed=t.seed)
            self._joint = self._iter(ds)
        return next(self._joint)
