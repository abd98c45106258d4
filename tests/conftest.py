"""Shared pytest setup: quiet TensorFlow logs, a seeded numpy generator per test, the installed palm models."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def installed_detector_dir():
    """The folder of the palm models ``python -m awh_tf.detection.fetch`` installs: the test is skipped where
    they are absent, except in CI (``CI=true``), whose test command installs them first (README)."""
    from awh_tf.detection import fetch

    if not fetch.installed():
        message = f"the palm detector is not installed in {fetch.default_dir()}: run `{fetch.INSTALL_STEP}`"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI's test command installs it before pytest)")
        pytest.skip(message)
    return fetch.default_dir()


@pytest.fixture(scope="session")
def real_test_frames(tmp_path_factory):
    """The samples of the tiny run's real-domain test split (8 procedural 640×480 STB frames, generated once
    into the folder the tiny run of ``tests/evaluation/conftest.py`` uses)."""
    from awh_tf.data import STB_TEST_SEQUENCES, STBDataset
    from awh_tf.data.data_setup import ensure_procedural_data
    from tests.evaluation.conftest import tiny_config

    config = tiny_config(tmp_path_factory.getbasetemp() / "tiny_data")
    ensure_procedural_data(config.data, log=lambda *_: None)
    ds = STBDataset(config.data.stb_path(), sequences=STB_TEST_SEQUENCES, with_depth=False)
    return [ds[i] for i in range(len(ds))]
