"""A tiny trained run shared by the evaluation and tool tests.

Procedural data of a few dozen frames and a 2-stack, 8-channel network on 32-px crops trained for 3
pre-training steps: enough for weights that are not the initial ones, not to learn. (Adversarial steps
are left out: tracing the critic's double-gradient step alone takes longer than every test here.)
Built once per test session under the session's base temp folder; a second fixture definition (the one
``tests/tools/conftest.py`` imports) finds the finished run there and reuses it.
"""

import dataclasses
import os

import pytest

from awh_tf.config import PipelineConfig
from awh_tf.config import ModelConfig
from awh_tf.config import Config, DataConfig, TrainConfig


@dataclasses.dataclass(frozen=True)
class TinyRun:
    workdir: str
    config: Config


def tiny_config(data_dir, **train_overrides):
    """The tiny run's config (data generated into ``data_dir`` on first use)."""
    data = DataConfig(data_dir=str(data_dir), gen_seed=0, gen_rhd_train=16, gen_rhd_eval=8, gen_stb_frames=4)
    pipeline = PipelineConfig(input_size=32, depth_size=8, min_crop_size=16.0)
    model = ModelConfig(input_size=32, channels=8, num_stacks=2, hourglass_depth=1, depth_reg_size=8,
                        depth_reg_units=(16,), depth_reg_filters=(8,), critic_filters=(8,), critic_units=(8,))
    train = dict(da="none", batch_size=4, pretrain_steps=3, train_steps=0, warmup_steps=1, n_critic=1,
                 checkpoint_every=100, log_every=1, seed=0)
    train.update(train_overrides)
    return Config(name="tiny", data=data, pipeline=pipeline, model=model, train=TrainConfig(**train))


def make_tiny_run(tmp_path_factory):
    """Trains the tiny run once per session (or finds it); returns a :class:`TinyRun`."""
    base = tmp_path_factory.getbasetemp()
    workdir = base / "tiny_run"
    config = tiny_config(base / "tiny_data")
    marker = workdir / "trained"
    if not marker.exists():
        from awh_tf.training import train_lib

        train_lib.train(config, str(workdir), log=lambda *_: None, progress=False)
        marker.write_text("ok")
    return TinyRun(workdir=str(workdir), config=config)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    return make_tiny_run(tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_test_image(tiny_run):
    """``(path, uv [21, 2] px, K [3, 3])`` of the first real test frame (640×480 PNG) and its labels."""
    from awh_tf.data import STB_TEST_SEQUENCES, STBDataset

    ds = STBDataset(tiny_run.config.data.stb_path(), sequences=STB_TEST_SEQUENCES, with_depth=False)
    sample = ds[0]
    seq, frame = sample["name"].split("/")
    path = os.path.join(tiny_run.config.data.stb_path(), "images", seq, f"SK_color_{frame}.png")
    return path, sample["uv"], sample["K"]
