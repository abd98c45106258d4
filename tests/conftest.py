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
