"""The hourglass: Newell's sub-layer names, the bottleneck it exposes, the layer contract."""

import numpy as np
import pytest

from awh_tf.models import Hourglass
from tests.layer_test_case import run_layer_test


def test_layer_contract_and_shapes(rng):
    # The .keras round trip of nested hourglasses is covered by the pose network's (test_inspection.py).
    x = rng.random((2, 8, 8, 6), dtype=np.float32)
    run_layer_test(Hourglass, dict(depth=2, filters=4, num_residual=1), x,
                   {"features": (2, 8, 8, 4), "bottleneck": (2, 2, 2, 4), "up1_0": (2, 8, 8, 4),
                    "low1_0": (2, 4, 4, 4), "up1_1": (2, 4, 4, 4), "low1_1": (2, 2, 2, 4)})


def test_levels_are_the_skip_branches_and_encoder_levels_of_each_scale(rng):
    """up1_k / low1_k of the outer hourglass are its own (k = 0) and its inner hourglass's (k = 1)."""
    hourglass = Hourglass(depth=2, filters=4)
    x = rng.random((2, 8, 8, 4), dtype=np.float32)
    out = hourglass(x, training=False)
    inner = hourglass.low2
    low1_0 = hourglass.low1(hourglass.pool(x), training=False)
    np.testing.assert_allclose(out["up1_0"], hourglass.up1(x, training=False), atol=1e-6)
    np.testing.assert_allclose(out["low1_0"], low1_0, atol=1e-6)
    np.testing.assert_allclose(out["up1_1"], inner.up1(low1_0, training=False), atol=1e-6)
    np.testing.assert_allclose(out["low1_1"], inner.low1(inner.pool(low1_0), training=False), atol=1e-6)


def test_sub_layers_are_named_after_newell(rng):
    hourglass = Hourglass(depth=2, filters=4, num_residual=2)
    hourglass(rng.random((1, 8, 8, 4), dtype=np.float32))
    for name in ("up1", "pool", "low1", "low2", "low3", "up2"):
        assert getattr(hourglass, name).name == name
    assert isinstance(hourglass.low2, Hourglass) and hourglass.low2.depth == 1
    assert not isinstance(hourglass.low2.low2, Hourglass)  # residuals at the lowest scale
    assert len(hourglass.up1.layers) == 2


def test_bottleneck_is_the_innermost_low2(rng):
    """z = low2 of the innermost hourglass, recomputed by hand along pool -> low1 -> pool -> low1 -> low2."""
    hourglass = Hourglass(depth=2, filters=4)
    x = rng.random((1, 8, 8, 4), dtype=np.float32)
    z = np.asarray(hourglass(x, training=False)["bottleneck"])
    inner = hourglass.low2
    expected = inner.low2(inner.low1(inner.pool(hourglass.low1(hourglass.pool(x)))), training=False)
    np.testing.assert_allclose(z, np.asarray(expected), rtol=1e-6)


def test_rejects_sides_not_divisible_by_two_to_the_depth(rng):
    with pytest.raises(ValueError, match="not divisible by 2\\*\\*depth = 8"):
        Hourglass(depth=3, filters=4)(rng.random((1, 12, 12, 4), dtype=np.float32))
