"""The real domain's losses use what its label budget (``--target_labels``) and each sample's flags allow."""

import numpy as np
import pytest
import tensorflow as tf

from awh_tf.training import train_lib

from .test_adversarial_step import HALF, fixed_batch, tiny_config


def pose_loss(budget, batch, **flags):
    """(total, parts) of the supervised loss of ``batch`` under ``budget`` with the real half's flags set."""
    cfg = tiny_config(da="none", target_labels=budget)
    trainer = train_lib.build_trainer(cfg)
    tgt = dict(batch["target"], **{k: np.asarray(v, bool) for k, v in flags.items()})
    images = tf.concat([batch["source"]["image"], tgt["image"]], 0)
    out = trainer.pose_network(images, training=False)
    total, parts = trainer._pose_losses(out, batch["source"], tgt)
    return float(total), {k: float(v) for k, v in parts.items()}


def perturbed(batch, *fields):
    """``batch`` with the real half's ``fields`` replaced by other values."""
    rng = np.random.default_rng(7)
    tgt = dict(batch["target"])
    for f in fields:
        tgt[f] = (tgt[f] + rng.uniform(1.0, 5.0, size=tgt[f].shape)).astype(tgt[f].dtype)
    return dict(batch, target=tgt)


@pytest.fixture(scope="module")
def batch():
    return fixed_batch(tiny_config())


@pytest.mark.parametrize("budget, used, unused", [
    ("none", (), ("uv", "depth_target", "z_rel")),
    ("2d", ("uv",), ("depth_target", "z_rel")),
    ("2d_depth", ("uv", "depth_target"), ("z_rel",)),
    ("3d", ("uv", "depth_target", "z_rel"), ()),
])
def test_budget_reads_only_its_labels(batch, budget, used, unused):
    total, _ = pose_loss(budget, batch, has_3d=np.full(HALF, budget == "3d"))
    if unused:
        assert pose_loss(budget, perturbed(batch, *unused), has_3d=np.full(HALF, budget == "3d"))[0] == total
    for field in used:
        assert pose_loss(budget, perturbed(batch, field), has_3d=np.full(HALF, budget == "3d"))[0] != total, field


def test_unlabelled_frames_of_a_fraction_are_not_supervised(batch):
    # Frames whose flags are off (the rest of --target_label_fraction) contribute no real-domain loss.
    off = dict(has_2d=np.zeros(HALF, bool), has_depth=np.zeros(HALF, bool))
    _, parts = pose_loss("2d_depth", batch, **off)
    assert parts["loss_2d_t"] == 0.0 and parts["loss_reg_t"] == 0.0
    total, _ = pose_loss("2d_depth", batch, **off)
    assert pose_loss("2d_depth", perturbed(batch, "uv", "depth_target"), **off)[0] == total
    # One labelled frame is enough to make them count.
    one = dict(has_2d=np.eye(1, HALF, 0, dtype=bool)[0], has_depth=np.eye(1, HALF, 0, dtype=bool)[0])
    _, parts = pose_loss("2d_depth", batch, **one)
    assert parts["loss_2d_t"] > 0 and parts["loss_reg_t"] > 0
