"""Parity statistics on hand-computed differences and the sanity bounds of each artefact kind."""

import numpy as np
import pytest

from awh_tf.export import parity
from awh_tf.export.errors import ExportError


def _pose(n=2):
    return {"uv": np.zeros((n, 21, 2), np.float32), "z_rel": np.zeros((n, 21), np.float32)}


def test_compare_hand_computed():
    reference, predicted = _pose(), _pose()
    predicted["uv"][0, 3] = [30.0, 40.0]  # one keypoint 50 px off
    predicted["z_rel"][1, 7] = -0.42
    r = parity.compare("pose_fp32.tflite", predicted, reference, kind="fp32")
    assert r.n == 2
    assert r.uv_max_px == pytest.approx(50.0) and r.uv_mean_px == pytest.approx(50.0 / 42)
    assert r.z_max == pytest.approx(0.42) and r.z_mean == pytest.approx(0.42 / 42)
    assert (r.uv_tolerance_px, r.z_tolerance) == parity.FLOAT_BOUNDS == (0.5, 0.1)
    assert r.passed is False  # 1.19 px mean > 0.5 px
    assert parity.compare("x", predicted, reference, kind="int8").passed  # 2 px / 0.4 allow it


@pytest.mark.parametrize("kind, limit_px", [("saved_model", 0.5), ("keras", 0.5), ("preset", 0.5), ("fp32", 0.5),
                                             ("fp16", 0.5), ("onnx", 0.5), ("dynamic_int8", 2.0), ("int8", 2.0)])
def test_each_kind_is_judged_by_its_uv_bound(kind, limit_px):
    """Every keypoint shifted along u: a mean just under the kind's bound passes, just over it fails."""
    reference = _pose()
    for factor, passes in ((0.95, True), (1.05, False)):
        shifted = _pose()
        shifted["uv"][..., 0] += factor * limit_px
        r = parity.compare("x", shifted, reference, kind=kind)
        assert r.uv_mean_px == pytest.approx(factor * limit_px, rel=1e-5)
        assert r.passed is passes, (kind, factor)


def test_z_rel_alone_can_fail():
    shifted = _pose()
    shifted["z_rel"] += 0.11
    assert not parity.compare("x", shifted, _pose(), kind="fp16").passed
    assert parity.compare("x", shifted, _pose(), kind="dynamic_int8").passed


def test_shape_mismatch_is_an_error():
    with pytest.raises(ExportError, match=r"bad: output shapes"):
        parity.compare("bad", _pose(3), _pose(2), kind="fp32")
