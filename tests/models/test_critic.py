"""The critic: layer contract, no batch coupling (the gradient penalty needs per-sample scores)."""

import keras
import numpy as np
import pytest

from awh_tf.models import Critic
from tests.layer_test_case import run_layer_test


@pytest.mark.parametrize("norm", ["none", "layer"])
def test_layer_contract(rng, norm):
    x = rng.random((3, 2, 2, 4), dtype=np.float32)
    run_layer_test(Critic, dict(filters=(4,), units=(8,), norm=norm), x, (3, 1))


@pytest.mark.parametrize("norm", ["none", "layer"])
def test_scores_do_not_depend_on_other_samples(rng, norm):
    critic = Critic(filters=(4,), units=(8,), norm=norm)
    x = rng.normal(size=(3, 2, 2, 4)).astype(np.float32)
    first = np.asarray(critic(x, training=True))[0]
    x[1:] = rng.normal(size=(2, 2, 2, 4)) * 10
    np.testing.assert_allclose(np.asarray(critic(x, training=True))[0], first, rtol=1e-6)
    assert not any(isinstance(l, keras.layers.BatchNormalization) for l in critic._flatten_layers())


def test_sub_layer_names():
    critic = Critic(filters=(4, 4), units=(8,))
    critic(np.zeros((1, 2, 2, 3), np.float32))
    names = [l.name for l in critic.hidden] + [critic.score.name]
    assert names == ["conv1", "conv1_act", "conv2", "conv2_act", "flatten", "dense1", "dense1_act", "score"]


def test_rejects_batch_norm():
    with pytest.raises(ValueError, match="norm"):
        Critic(norm="batch")
