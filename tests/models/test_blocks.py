"""Layer tests of the building blocks: ConvBNReLU, Residual, Stem."""

import numpy as np
import pytest

from awh_tf.models import ConvBNReLU, Residual, Stem
from tests.layer_test_case import run_layer_test


def test_conv_bn_relu_layer_contract(rng):
    x = rng.random((2, 8, 8, 3), dtype=np.float32)
    run_layer_test(ConvBNReLU, dict(filters=4, kernel_size=3, strides=2), x, (2, 4, 4, 4))


@pytest.mark.parametrize("in_channels", [8, 3])
def test_residual_layer_contract(rng, in_channels, tmp_path):
    x = rng.random((2, 4, 4, in_channels), dtype=np.float32)
    layer = run_layer_test(Residual, dict(filters=8), x, (2, 4, 4, 8), run_saving=True, tmp_path=tmp_path)
    # The 1x1 skip conv exists exactly when the channel count changes (Newell's identity shortcut).
    assert (layer.skip is None) == (in_channels == 8)


def test_residual_is_identity_plus_branch(rng):
    """With the branch's last conv zeroed, the module returns its input (identity shortcut)."""
    x = rng.random((2, 4, 4, 8), dtype=np.float32)
    layer = Residual(8)
    layer(x)
    layer.conv3.kernel.assign(np.zeros(layer.conv3.kernel.shape, np.float32))
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)


@pytest.mark.parametrize("stride, side", [(1, 16), (2, 8), (4, 4), (8, 2)])
def test_stem_downsamples_by_stride(rng, stride, side):
    x = rng.random((1, 16, 16, 3), dtype=np.float32)
    assert tuple(Stem(8, stride)(x).shape) == (1, side, side, 8)


def test_stem_layer_contract_and_newell_names(rng):
    x = rng.random((2, 16, 16, 3), dtype=np.float32)
    layer = run_layer_test(Stem, dict(channels=8, stride=4), x, (2, 4, 4, 8))
    assert [b.name for b in layer.blocks] == ["conv1", "res1", "pool1", "res2", "res3"]


def test_stem_rejects_stride_not_power_of_two(rng):
    with pytest.raises(ValueError, match="stride"):
        Stem(8, 3)(rng.random((1, 12, 12, 3), dtype=np.float32))
