"""Where the critic attaches (``--awh_features``, ``--awh_stack``) and when its gradient starts
(``--critic_warmup_steps``, ``--lambda_wd_rampup_steps``).

The gradient test runs the adversarial term alone (W of the critic on what ``critic_inputs`` makes of the
network's ``features``) back to the pose network's variables and checks which sub-layers it reaches: a
critic wired to the wrong tensor, or to the wrong stack, reaches other layers than the ones listed.
"""

import numpy as np
import pytest
import tensorflow as tf

from awh_tf import keypoints
from awh_tf import config as config_lib
from awh_tf.config import Config, ModelConfig, PipelineConfig, TrainConfig
from awh_tf.losses import wasserstein_estimate
from awh_tf.training import train_lib
from awh_tf.training.trainer import lambda_wd_at

HALF = 2


def _config(awh_features, awh_stack):
    model = ModelConfig(input_size=32, channels=8, num_stacks=2, hourglass_depth=2, depth_reg_size=8,
                        depth_reg_filters=(8,), depth_reg_units=(16,), critic_filters=(8,), critic_units=(8,),
                        awh_features=awh_features, awh_stack=awh_stack)
    return Config(model=model, pipeline=PipelineConfig(input_size=32, depth_size=8),
                  train=TrainConfig(da="awh", batch_size=2 * HALF, pretrain_steps=0, train_steps=1))


def _reached(cfg):
    """The pose network's sub-layer paths (``hourglass0/up1`` …) whose variables W's gradient reaches."""
    trainer = train_lib.build_trainer(cfg)
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(size=(2 * HALF, 32, 32, 3)), tf.float32)
    variables = trainer.pose_network.trainable_variables
    with tf.GradientTape() as tape:
        out = trainer.pose_network(images, training=True)
        x_s, x_t, _, _ = trainer.critic_inputs(out["features"], HALF)
        w = wasserstein_estimate(trainer.critic(x_s), trainer.critic(x_t))
    grads = tape.gradient(w, variables)
    reached = set()
    for v, g in zip(variables, grads):
        if g is not None and float(tf.reduce_max(tf.abs(g))) > 0.0:
            parts = v.path.split("/")[1:]  # drop the network's own name
            reached.add("/".join(parts[:2]) if parts[0].startswith("hourglass") else parts[0])
    return reached


STEM = {"stem"}
ENCODER0 = {"hourglass0/low1", "hourglass0/low2"}  # low2 holds the inner hourglass (its up1, low1, low2 …)


@pytest.mark.parametrize("awh_features, awh_stack, reaches, avoids", [
    # the paper: the bottleneck is below every skip branch and decoder of stack 0 and before all of stack 1
    ("bottleneck", 0, STEM | ENCODER0, {"hourglass0/up1", "hourglass0/low3", "res0", "head0", "hourglass1"}),
    # the hourglass output: also the outer skip branch and the decoder, still nothing after it
    ("output", 0, STEM | ENCODER0 | {"hourglass0/up1", "hourglass0/low3"}, {"res0", "lin0", "head0", "hourglass1"}),
    # bottleneck + skip branches: the outer skip branch, but not the decoder that adds them up
    ("multilevel", 0, STEM | ENCODER0 | {"hourglass0/up1"}, {"hourglass0/low3", "res0", "head0", "hourglass1"}),
    # output space: through the head into the whole first stack; the second stack stays out of it
    ("heatmaps", 0, STEM | ENCODER0 | {"hourglass0/up1", "hourglass0/low3", "res0", "lin0", "head0"},
     {"hourglass1", "head1", "merge_features0"}),
    # the second stack's bottleneck: through the merge into stack 0 as well, not stack 1's skips or head
    ("bottleneck", 1, STEM | {"hourglass1/low1", "merge_features0", "merge_preds0", "head0", "hourglass0/up1"},
     {"hourglass1/up1", "hourglass1/low3", "head1"}),
    # every stack: both bottlenecks
    ("bottleneck", -1, STEM | ENCODER0 | {"hourglass1/low1", "merge_features0"}, {"hourglass1/up1", "head1"}),
])
def test_the_critics_gradient_reaches_the_chosen_level_and_not_the_others(awh_features, awh_stack, reaches,
                                                                          avoids):
    reached = _reached(_config(awh_features, awh_stack))
    assert reaches <= reached, sorted(reaches - reached)
    assert not avoids & reached, sorted(avoids & reached)


@pytest.mark.parametrize("awh_features, awh_stack, shape", [
    ("bottleneck", 0, (2, 2, 8)), ("output", 1, (8, 8, 8)), ("multilevel", 0, (2, 2, 24)),
    ("heatmaps", 0, (8, 8, 21)), ("output", -1, (8, 8, 16)), ("multilevel", -1, (2, 2, 48)),
])
def test_features_have_the_shape_the_critic_is_built_for(awh_features, awh_stack, shape):
    cfg = _config(awh_features, awh_stack)
    assert cfg.model.critic_input_shape == shape
    trainer = train_lib.build_trainer(cfg)
    out = trainer.pose_network(np.zeros((1, 32, 32, 3), np.float32), training=False)
    assert tuple(out["features"].shape[1:]) == shape
    # the critic and α were built for that shape: they take the network's features as they are
    x_s, _, alpha, _ = trainer.critic_inputs(tf.concat([out["features"]] * 2, 0), 1)
    assert tuple(alpha.shape) == (shape[-1],) and tuple(trainer.critic(x_s).shape) == (1, 1)


def test_multilevel_is_the_bottleneck_and_each_pooled_skip_branch():
    cfg = _config("multilevel", 0)
    net = train_lib.build_trainer(cfg).pose_network
    images = np.random.default_rng(1).uniform(size=(2, 32, 32, 3)).astype(np.float32)
    out = net(images, training=False, return_levels=True)
    levels = out["levels"]
    pooled_up1_0 = np.asarray(levels["stack0_up1_0"]).reshape(2, 2, 4, 2, 4, 8).mean(axis=(2, 4))
    pooled_up1_1 = np.asarray(levels["stack0_up1_1"]).reshape(2, 2, 2, 2, 2, 8).mean(axis=(2, 4))
    expected = np.concatenate([levels["stack0_bottleneck"], pooled_up1_0, pooled_up1_1], axis=-1)
    np.testing.assert_allclose(out["features"], expected, atol=1e-5)


def test_config_keeps_the_keypoint_count_of_keypoints():
    assert config_lib._NUM_KEYPOINTS == keypoints.NUM_KEYPOINTS


def test_awh_features_is_checked():
    with pytest.raises(ValueError, match="awh_features"):
        ModelConfig(awh_features="skips")
    with pytest.raises(ValueError, match="awh_stack"):
        ModelConfig(num_stacks=2, awh_stack=-2)


def test_lambda_wd_warm_up_then_dann_ramp():
    cfg = TrainConfig(lambda_wd=0.5, critic_warmup_steps=10, lambda_wd_rampup_steps=100)

    def at(step):
        return float(lambda_wd_at(cfg, step))

    assert at(0) == at(9) == 0.0                      # critic-only warm-up
    assert at(10) == pytest.approx(0.0, abs=1e-7)      # the ramp starts at 0
    p = 0.25                                           # 25 steps into the ramp: DANN's 2/(1+e^-10p) - 1
    expected = 0.5 * (2 / (1 + np.exp(-10 * p)) - 1) / (2 / (1 + np.exp(-10.0)) - 1)
    assert at(35) == pytest.approx(expected, rel=1e-5)
    assert at(110) == pytest.approx(0.5, rel=1e-6) and at(5000) == pytest.approx(0.5, rel=1e-6)
    assert float(lambda_wd_at(TrainConfig(lambda_wd=0.5), 0)) == 0.5  # defaults: the paper, λ_wd at once


def test_warm_up_keeps_the_critic_from_the_pose_update_but_trains_the_critic():
    """In the warm-up the pose update is the supervised one alone (logged λ_wd 0); the critic still moves."""
    from tests.training.test_adversarial_step import fixed_batch, tiny_config, weights

    cfg = tiny_config(critic_warmup_steps=5)
    trainer = train_lib.build_trainer(cfg)
    critic_before = weights(trainer.critic.trainable_variables)
    logs = trainer.train_step(fixed_batch(cfg))
    assert float(logs["lambda_wd"]) == 0.0
    assert any(np.any(a != b) for a, b in zip(critic_before, weights(trainer.critic.trainable_variables)))
    logs = train_lib.build_trainer(tiny_config()).train_step(fixed_batch(cfg))
    assert float(logs["lambda_wd"]) == pytest.approx(TrainConfig().lambda_wd)
