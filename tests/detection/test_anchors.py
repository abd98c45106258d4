"""The palm model's SSD anchors against values worked out by hand for its configuration."""

import numpy as np
import pytest

from awh_tf.detection.anchors import AnchorOptions, ssd_anchors


def test_palm_anchor_count_and_layout_by_hand():
    a = ssd_anchors()
    # stride 8: 24x24 cells x 2 anchors; strides 16,16,16 merged: 12x12 cells x (3 layers x 2) anchors.
    assert a.shape == (24 * 24 * 2 + 12 * 12 * 6, 4) == (2016, 4)
    np.testing.assert_allclose(a[:, 2:], 1.0)  # fixed anchor size
    np.testing.assert_allclose(a[0], [0.5 / 24, 0.5 / 24, 1, 1])
    np.testing.assert_allclose(a[1], a[0])  # the interpolated-scale anchor of the same cell
    np.testing.assert_allclose(a[2, :2], [1.5 / 24, 0.5 / 24])  # next column: x varies fastest
    np.testing.assert_allclose(a[48, :2], [0.5 / 24, 1.5 / 24])  # next row after 24 cells x 2
    np.testing.assert_allclose(a[1151, :2], [23.5 / 24, 23.5 / 24])
    np.testing.assert_allclose(a[1152:1158, :2], [[0.5 / 12, 0.5 / 12]] * 6)
    np.testing.assert_allclose(a[1158, :2], [1.5 / 12, 0.5 / 12])
    np.testing.assert_allclose(a[-1, :2], [11.5 / 12, 11.5 / 12])


@pytest.mark.parametrize("strides,interpolated,expected", [
    ((8,), False, 24 * 24),
    ((8, 16), True, 24 * 24 * 2 + 12 * 12 * 2),
    ((16, 8, 8), True, 12 * 12 * 2 + 24 * 24 * 4),  # only consecutive equal strides merge
])
def test_anchor_counts_follow_the_merging_rule(strides, interpolated, expected):
    assert len(ssd_anchors(AnchorOptions(strides=strides, interpolated_scale=interpolated))) == expected


def test_a_stride_that_does_not_divide_the_input_rounds_the_grid_up():
    a = ssd_anchors(AnchorOptions(input_size=100, strides=(32,), interpolated_scale=False))
    assert len(a) == 16  # ceil(100 / 32) = 4 cells a side
    np.testing.assert_allclose(sorted(set(a[:, 0])), [0.125, 0.375, 0.625, 0.875])
