"""An in-memory cache of each sample's hand region, so later epochs skip PNG decoding and depth registration.

Reading a sample costs ~3.5 ms (RHD, 320×320) to ~14 ms (STB, 640×480 with depth registration) of CPU, while
cropping and augmenting it costs ~0.7 ms (``tools/benchmark_input.py``). On two cores the reads compete with the
training step for the same CPUs. :class:`PrecropCache` wraps a loader: the first read of sample ``i`` keeps a
``[R, R]`` square around the hand (image bilinear, depth and mask nearest) with its uv and intrinsics mapped by
the same affine; later reads return it. The pipeline's own crop (:func:`awh_tf.data.transform.process_sample`)
then works on the small square exactly as on the full image — the square covers the largest augmented crop
(``factor`` × the un-jittered crop side: scale jitter, centre jitter and a 45° rotation need about 1.86).

With ``mirror_right`` (the pipeline's option of the same name) a right hand's square is stored mirrored to a left
one (:func:`awh_tf.data.transform.mirror_sample`, an exact flip), so the pipeline does not flip it again at every
read; the crops are the same either way.

Legend: R = ``size`` px. The cached sample keeps the loader's dict keys; ``image`` ``[R, R, 3]`` uint8,
``depth`` ``[R, R]`` float32 mm (0 = none) or None, ``mask`` ``[R, R]`` bool or None, ``uv`` ``[21, 2]`` px
in the square, ``K`` ``[3, 3]`` = ``A @ K`` (projects the unchanged ``xyz`` into the square).

Memory: about ``R²·8`` bytes a sample (R = 160: ~200 KB; the demo's 5000 samples ~1 GB). The resampling is
two-stage (full image → square → crop), so pixel values differ slightly from a direct crop; labels do not.
``min_crop_size`` of the pipeline then applies in square pixels.
"""

import concurrent.futures
import math
import os
import threading

import numpy as np

from awh_tf.data import crop
from awh_tf.data.transform import mirror_sample


def precrop_sample(sample, size, factor, margin, min_crop_size):
    """The ``size``×``size`` square around the hand of one loader sample (see the module docstring)."""
    visible = np.asarray(sample["visible"], dtype=bool)
    centre, side = crop.crop_box(sample["uv"], visible, margin, min_crop_size)
    A = crop.crop_affine(centre, side * factor, size, 0.0)  # image px -> square px
    depth, mask = sample.get("depth"), sample.get("mask")
    return dict(
        sample,
        image=crop.warp(sample["image"], A, size),
        depth=None if depth is None else crop.warp(depth, A, size, nearest=True),
        mask=None if mask is None else crop.warp(mask.astype(np.uint8), A, size, nearest=True).astype(bool),
        uv=crop.apply_affine(A, sample["uv"]).astype(np.float32),
        K=crop.crop_intrinsics(A, sample["K"]).astype(np.float32),
    )


class PrecropCache:
    """Wraps a loader (``len``, ``ds[i]``, ``annotations()``) with the cache of :func:`precrop_sample`.

    Args:
      ds: an ``RHDDataset`` / ``STBDataset`` (or anything with the same item dict).
      input_size: the network's crop S; the square is ``size = ceil(1.25·factor·S)`` px so the un-jittered
        crop keeps 1.25× the input resolution.
      factor, margin, min_crop_size: the square's side relative to the pipeline's crop box, and that box's
        margin and minimum (image px), as in :class:`awh_tf.config.PipelineConfig`.
      mirror_right: store right hands mirrored (see the module docstring).
    Thread-safe for the parallel ``tf.data`` map (a race computes a sample twice, harmlessly).
    """

    def __init__(self, ds, input_size, factor=2.0, margin=0.2, min_crop_size=32.0, mirror_right=False):
        if factor < 1.0:
            raise ValueError(f"precrop_factor: expected >= 1, got {factor}")
        self.ds, self.factor, self.margin, self.min_crop_size = ds, factor, margin, min_crop_size
        self.mirror_right = mirror_right
        self.size = int(math.ceil(1.25 * factor * input_size))
        self._cache = {}
        self._lock = threading.Lock()

    def __len__(self):
        return len(self.ds)

    def annotations(self, *args, **kwargs):
        return self.ds.annotations(*args, **kwargs)

    def fill(self, workers=None):
        """Computes every sample not cached yet (``workers`` threads, default one per CPU), e.g. to time the
        steady state of a training run, which reads each sample from disk once. Returns ``len(self)``."""
        missing = [i for i in range(len(self)) if i not in self._cache]
        with concurrent.futures.ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
            for _ in pool.map(self.__getitem__, missing):
                pass
        return len(self)

    def __getitem__(self, index):
        hit = self._cache.get(index)
        if hit is None:
            hit = precrop_sample(self.ds[index], self.size, self.factor, self.margin, self.min_crop_size)
            if self.mirror_right and hit["hand"] == "right":
                hit = mirror_sample(hit)
            with self._lock:
                self._cache[index] = hit
        return hit
