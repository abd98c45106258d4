"""Procedural real-domain test frames for the palm model: the tiny run's data (generated once per session)."""

import pytest

from tests.evaluation.conftest import tiny_config


@pytest.fixture(scope="session")
def real_test_frames(tmp_path_factory):
    """The samples of the tiny data's real-domain test split (8 procedural 640×480 STB frames)."""
    from awh_tf.data import STB_TEST_SEQUENCES, STBDataset
    from awh_tf.data.data_setup import ensure_procedural_data

    config = tiny_config(tmp_path_factory.getbasetemp() / "tiny_data")  # the folder the tiny run uses
    ensure_procedural_data(config.data, log=lambda *_: None)
    ds = STBDataset(config.data.stb_path(), sequences=STB_TEST_SEQUENCES, with_depth=False)
    return [ds[i] for i in range(len(ds))]
