"""Crop sources: index spreading, random crops, argument errors (the test split itself: test_task_gate.py)."""

import numpy as np
import pytest

from awh_tf.export import crops
from awh_tf.export.errors import ExportError
from tests.export.conftest import tiny_config


def test_spread_indices():
    np.testing.assert_array_equal(crops.spread_indices(10, 4), [0, 3, 6, 9])
    np.testing.assert_array_equal(crops.spread_indices(3, 5), [0, 1, 2])
    np.testing.assert_array_equal(crops.spread_indices(7, 1), [0])
    assert crops.spread_indices(0, 3).size == 0


def test_random_crops_are_seeded_smooth_and_in_range():
    a = crops.random_crops(3, 32, seed=5)
    assert a.shape == (3, 32, 32, 3) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, crops.random_crops(3, 32, seed=5))
    assert not np.array_equal(a, crops.random_crops(3, 32, seed=6))
    assert np.abs(np.diff(a, axis=1)).mean() < 0.1  # bilinear up-sampled: neighbours are close


def test_random_sources_need_no_data():
    config = tiny_config(data_dir="/nonexistent")
    assert crops.parity_crops(config, 4).shape == (4, 32, 32, 3)
    assert crops.representative_crops(config, 6, "random").shape == (6, 32, 32, 3)


def test_bad_sources():
    config = tiny_config()
    with pytest.raises(ExportError, match=r"calibration source: expected one of \('real', 'random'\)"):
        crops.representative_crops(config, 4, "disk")
    with pytest.raises(ExportError, match=r"parity samples: expected >= 1, got 0"):
        crops.parity_crops(config, 0)
    with pytest.raises(ExportError, match=r"gate samples: expected >= 0"):
        crops.test_split(config, -1)
    with pytest.raises(ExportError, match=r"calibration samples: expected >= 1, got 0"):
        crops.representative_crops(config, 0, "random")
