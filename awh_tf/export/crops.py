"""The crops an export feeds its artefacts: the representative dataset (int8 calibration) and the gate's set.

Real crops come from the run's data through the evaluation pipeline (``pipeline.make_eval_dataset``):
square crops around the labelled hand, resized to S, no augmentation — what a deployed model sees after a
hand detector. The representative set is drawn from the training data, half synthetic (RHD ``training``)
and half real (STB training sequences), because the network sees both domains; the gate's set is the run's
real test split (``data_setup.open_real(..., "test")``: STB B1 for the procedural benchmark), with its
labels, so every artefact is scored by the evaluation protocol (``awh_tf.export.task_gate``). Indices are
spread evenly over each dataset so every sequence is represented.

Random crops (smooth colour noise, seeded) stand in when no data is at hand (tests, or a run whose data
is gone: ``--gate_source random``). They exercise every op but say nothing about accuracy on hands.

Legend: N crops, S = input size px, K = 21 keypoints. Crops are ``[N, S, S, 3]`` float32 RGB in [0, 1].
"""

import dataclasses

import cv2
import numpy as np

from awh_tf.data import RHDDataset, STB_TRAIN_SEQUENCES, STBDataset
from awh_tf.data import bad_samples, data_setup, pipeline
from awh_tf.export.errors import ExportError

CROP_SOURCES = ("real", "random")
# What the gate keeps of a test element: the crop and the labels the protocol scores it with (DESIGN.md §4).
LABEL_FIELDS = ("image", "uv", "z_rel", "xyz", "visible", "crop_K", "scale", "root_depth", "has_3d", "index")


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


def dataset_elements(ds, pipeline_cfg, k, what, fields=("image",)):
    """Evaluation-pipeline elements of ``k`` samples spread over ``ds`` (all of them for ``k = 0``):
    ``{field: [k', ...]}``, k' = min(k, len), fields of ``awh_tf.data.transform.FIELDS``.

    Raises:
      ExportError: the dataset is empty or a sample cannot be read (names ``what`` and the sample).
    """
    if len(ds) == 0:
        raise ExportError(f"{what}: the dataset is empty")
    subset = _Subset(ds, spread_indices(len(ds), k or len(ds)))
    cfg = dataclasses.replace(pipeline_cfg, on_bad_sample="raise")
    log = bad_samples.BadSampleLog()
    chunks = {f: [] for f in fields}
    try:
        with bad_samples.surface_data_errors(log):  # the loader's one-line DataError, not tf.data's wrapper
            for batch in pipeline.make_eval_dataset(subset, cfg, batch_size=16, log=log).as_numpy_iterator():
                for f in fields:
                    chunks[f].append(batch[f])
    except Exception as e:  # DataError, or any other failure inside tf.data (cut to one line)
        message = " ".join(str(e).split())
        raise ExportError(f"{what} cannot be read: {message[:300]}") from None
    return {f: np.concatenate(v, axis=0) for f, v in chunks.items()}


def dataset_crops(ds, pipeline_cfg, k, what):
    """:func:`dataset_elements`' crops alone: ``[k', S, S, 3]``."""
    return dataset_elements(ds, pipeline_cfg, k, what)["image"]


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


def open_test_split(config):
    """The run's real test split (a loader, depth not read); DataError (one line) when it is not there."""
    return data_setup.open_real(config.data, "test", with_depth=False)


def test_split(config, n=0, dataset=None):
    """The gate's set: ``n`` crops of the real test split (0 = all of it) with their labels.

    Args:
      config: the run's Config.  n: how many (spread over the split), 0 for all.
      dataset: the opened split (default: :func:`open_test_split`).
    Returns:
      ``{field: [n', ...]}`` for :data:`LABEL_FIELDS`: ``image`` [n', S, S, 3], ``uv`` [n', K, 2] crop px,
      ``xyz`` [n', K, 3] mm (camera frame), ``visible`` [n', K], ``crop_K`` [n', 3, 3], ``scale`` and
      ``root_depth`` [n'] mm …
    Raises:
      ExportError: the split cannot be opened or a sample cannot be read.
    """
    if n < 0:
        raise ExportError(f"gate samples: expected >= 0 (0 = the whole test split), got {n}")
    if dataset is None:
        dataset = _open("real test split", lambda: open_test_split(config))
    return dataset_elements(dataset, config.pipeline, n, "real test split", LABEL_FIELDS)


def parity_crops(config, n, seed=1):
    """The fallback gate's crops when there is no test data: ``n`` random crops ``[n, S, S, 3]``."""
    _check_source("random", n, "parity")
    return random_crops(n, config.model.input_size, seed)


def _check_source(source, n, what):
    if source not in CROP_SOURCES:
        raise ExportError(f"{what} source: expected one of {CROP_SOURCES}, got {source!r}")
    if n < 1:
        raise ExportError(f"{what} samples: expected >= 1, got {n}")
