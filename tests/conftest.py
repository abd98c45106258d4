"""Shared pytest setup: quiet TensorFlow logs and a seeded numpy generator per test."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(0)
