"""The domain-discrepancy numbers of the adaptation suite: chance where the domains are alike, high where
they differ, and blind to a uniform rescaling of the features."""

import numpy as np
import pytest

from awh_tf.evaluation import domain_discrepancy as dd
from awh_tf.config import ModelConfig

MODEL = ModelConfig(input_size=32, channels=8, num_stacks=1, hourglass_depth=1, critic_filters=(8,),
                    critic_units=(8,))


def _features(shift, n=120, seed=0):
    rng = np.random.default_rng(seed)
    shape = (n,) + MODEL.bottleneck_shape
    return rng.normal(size=shape).astype(np.float32), (rng.normal(size=shape) + shift).astype(np.float32)


def test_domain_classifier_is_at_chance_on_one_distribution_and_near_one_on_two():
    rng = np.random.default_rng(0)
    same = rng.normal(size=(400, 10))
    assert abs(dd.domain_classifier_accuracy(same, np.repeat([0, 1], 200)) - 0.5) < 0.1
    apart = same + np.repeat([0.0, 2.0], 200)[:, None]
    assert dd.domain_classifier_accuracy(apart, np.repeat([0, 1], 200)) > 0.95


@pytest.fixture(scope="module")
def fresh_w():
    def w(shift, factor=1.0):
        z_s, z_t = _features(shift)
        return dd.fresh_critic_wasserstein(factor * z_s, factor * z_t, MODEL, steps=60, batch_size=32)
    return w


def test_fresh_critic_sees_a_shift_and_not_a_rescaling(fresh_w):
    alike, apart = fresh_w(0.0), fresh_w(1.0)
    assert apart > 0.5 and abs(alike) < 0.25 * apart, (alike, apart)
    # Shrinking every feature tenfold is not alignment: the same W (the features are RMS-normalised).
    np.testing.assert_allclose(fresh_w(1.0, factor=0.1), apart, rtol=1e-3, atol=1e-4)


def test_pose_domain_accuracy_sees_pose_shift_but_not_scale_or_handedness():
    rng = np.random.default_rng(1)
    template = rng.normal(size=(21, 3)) * 40.0
    template[12] = template[0] + [0.0, 80.0, 0.0]  # root -> middle MCP, the reference bone

    def hands(n):
        return template + rng.normal(size=(n, 21, 3)) * 8.0 + [0.0, 0.0, 500.0]

    xyz, other = hands(600), hands(600)
    # Another person's (larger) hands, some mirrored: the same normalised pose distribution.
    mirrored = other * [1.3, 1.3, 1.3] * np.where(rng.random(600) < 0.5, -1.0, 1.0)[:, None, None] ** [1, 0, 0]
    assert abs(dd.pose_domain_accuracy(xyz, mirrored, num=600) - 0.5) < 0.1
    bent = other.copy()
    bent[:, 13:, 2] += 40.0  # these fingers always closer to the camera
    assert dd.pose_domain_accuracy(xyz, bent, num=600) > 0.9
