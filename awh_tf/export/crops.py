"""The crops an export feeds its artefacts: the representative dataset (int8 calibration) and the parity set.

Real crops come from the run's data through the evaluation pipeline (``pipeline.make_eval_dataset``):
square crops around the labelled hand, resized to S, no augmentation — what a deployed model sees after a
hand detector. The representative set is drawn from the training data, half synthetic (RHD ``training``)
and half real (STB training sequences), because the network sees both domains; the parity set comes from
the real test sequences. Indices are spread evenly over each dataset so every sequence is represented.

Random crops (smooth colour noise, seeded) stand in when no data is at hand (tests, or a run whose data
is gone: ``--parity_source random``). They exercise every op but say nothing about accuracy on hands.

Legend: N crops, S = input size px. Crops are ``[N, S, S, 3]`` float32 RGB in [0, 1].
"""

import dataclasses

import cv2
import numpy as np

from awh_tf.data import RHDDataset, STB_TEST_SEQUENCES, STB_TRAIN_SEQUENCES, STBDataset
from awh_tf.data import bad_samples, pipeline
from awh_tf.export.errors import ExportError

CROP_SOURCES = ("real", "random")


class _Subset:
    """``ds`` restricted to ``indices`` (``len`` and ``[]`` only, as the pipeline needs)."""

    def __init__(self, ds, indices):
        self.ds, self.indices = ds, [int(i) for i in indices]

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        return self.ds[self.indices[i]]


def spread_indices(n, k):
    """``min(k, n)`` indices spread evenly over ``range(n)``, first and last included (sorted, unique)."""
    if n <= 0 or k <= 0:
        return np.zeros((0,), np.int64)
    return np.unique(np.round(np.linspace(0, n - 1, min(k, n))).astype(np.int64))


def random_crops(n, size, seed=0):
    """``[n, size, size, 3]`` float32 smooth colour noise in [0, 1] (bilinear up-sampled from size/8)."""
    rng = np.random.default_rng(seed)
    low = max(size // 8, 2)
    coarse = rng.random((n, low, low, 3)).astype(np.float32)
    crops = [cv2.resize(c, (size, size), interpolation=cv2.INTER_LINEAR) for c in coarse]
    return np.clip(np.stack(crops), 0.0, 1.0).astype(np.float32)


def dataset_crops(ds, pipeline_cfg, k, what):
    """Evaluation-pipeline crops of ``k`` samples spread over ``ds``: ``[k', S, S, 3]``, k' = min(k, len).

    Raises:
      ExportError: the dataset is empty or a sample cannot be read (names ``what`` and the sample).
    """
    if len(ds) == 0:
        raise ExportError(f"{what}: the dataset is empty")
    subset = _Subset(ds, spread_indices(len(ds), k))
    cfg = dataclasses.replace(pipeline_cfg, on_bad_sample="raise")
    log = bad_samples.BadSampleLog()
    try:
        with bad_samples.surface_data_errors(log):  # the loader's one-line DataError, not tf.data's wrapper
            batches = pipeline.make_eval_dataset(subset, cfg, batch_size=16, log=log)
            images = [b["image"] for b in batches.as_numpy_iterator()]
    except Exception as e:  # DataError, or any other failure inside tf.data (cut to one line)
        message = " ".join(str(e).split())
        raise ExportError(f"{what} cannot be read: {message[:300]}") from None
    return np.concatenate(images, axis=0)


def _open(what, opener):
    try:
        return opener()
    except (ValueError, OSError) as e:  # DataError is a ValueError with a one-line message
        raise ExportError(f"{what} cannot be read: {e}") from None


def representative_crops(config, n, source="real", seed=0):
    """The int8 calibration crops: ``n`` from the training data (half synthetic, half real) or random.

    Args:
      config: the run's :class:`~awh_tf.config.Config` (``data`` says where the domains are).
      n: number of crops (> 0).  source: ``real`` or ``random``.  seed: for ``random``.
    Returns:
      ``[n', S, S, 3]`` float32, n' <= n (fewer when the datasets are smaller).
    """
    _check_source(source, n, "calibration")
    size = config.model.input_size
    if source == "random":
        return random_crops(n, size, seed)
    data = config.data
    synthetic = _open("representative dataset (synthetic)",
                      lambda: RHDDataset(data.rhd_path(), split="training", with_depth=False))
    real = _open("representative dataset (real)",
                 lambda: STBDataset(data.stb_path(), sequences=STB_TRAIN_SEQUENCES, with_depth=False))
    half = (n + 1) // 2
    crops = [dataset_crops(synthetic, config.pipeline, half, f"representative dataset {data.rhd_path()}")]
    if n - half:
        crops.append(dataset_crops(real, config.pipeline, n - half,
                                   f"representative dataset {data.stb_path()}"))
    return np.concatenate(crops)


def parity_crops(config, n, source="real", seed=1):
    """The crops every artefact is checked on: ``n`` real-domain test crops (STB test sequences) or random.

    Returns ``[n', S, S, 3]`` float32, n' <= n.
    """
    _check_source(source, n, "parity")
    if source == "random":
        return random_crops(n, config.model.input_size, seed)
    path = config.data.stb_path()
    test = _open("parity dataset (real test)",
                 lambda: STBDataset(path, sequences=STB_TEST_SEQUENCES, with_depth=False))
    return dataset_crops(test, config.pipeline, n, f"parity dataset {path}")


def _check_source(source, n, what):
    if source not in CROP_SOURCES:
        raise ExportError(f"{what} source: expected one of {CROP_SOURCES}, got {source!r}")
    if n < 1:
        raise ExportError(f"{what} samples: expected >= 1, got {n}")
