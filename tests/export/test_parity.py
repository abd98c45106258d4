"""Parity statistics on hand-computed differences, tolerances and the failure message."""

import numpy as np
import pytest

from awh_tf.export import parity
from awh_tf.export.errors import ExportError


def _pose(n=2):
    return {"uv": np.zeros((n, 21, 2), np.float32), "z_rel": np.zeros((n, 21), np.float32)}


def test_compare_hand_computed():
    reference, predicted = _pose(), _pose()
    predicted["uv"][0, 3] = [3.0, 4.0]  # one keypoint 5 px off
    predicted["z_rel"][1, 7] = -0.42
    r = parity.compare("pose_fp32.tflite", predicted, reference, kind="fp32")
    assert r.n == 2
    assert r.uv_max_px == pytest.approx(5.0) and r.uv_mean_px == pytest.approx(5.0 / 42)
    assert r.z_max == pytest.approx(0.42) and r.z_mean == pytest.approx(0.42 / 42)
    assert (r.uv_tolerance_px, r.z_tolerance) == parity.TOLERANCES["fp32"] == (0.1, 0.02)
    assert r.passed is False  # 0.119 px mean > 0.1 px
    assert parity.compare("x", predicted, reference, kind="int8").passed  # 0.5 px / 0.1 allow it


@pytest.mark.parametrize("kind, limit_px", [("saved_model", 0.1), ("fp32", 0.1), ("fp16", 0.1),
                                             ("dynamic_int8", 0.1), ("onnx", 0.1), ("int8", 0.5)])
def test_each_kind_is_judged_by_its_uv_limit(kind, limit_px):
    """Every keypoint shifted along u: a mean just under the kind's limit passes, just over it fails."""
    reference = _pose()
    for factor, passes in ((0.95, True), (1.05, False)):
        shifted = _pose()
        shifted["uv"][..., 0] += factor * limit_px
        r = parity.compare("x", shifted, reference, kind=kind)
        assert r.uv_mean_px == pytest.approx(factor * limit_px, rel=1e-5)
        assert r.passed is passes, (kind, factor)


def test_check_names_every_failing_artefact():
    reference, off = _pose(), _pose()
    off["uv"] += 1.0  # sqrt(2) px everywhere
    rows = [parity.compare("saved_model", reference, reference),
            parity.compare("pose_fp16.tflite", off, reference, kind="fp16"),
            parity.compare("pose_int8.tflite", off, reference, kind="int8")]
    with pytest.raises(ExportError,
                       match=r"pose_fp16.tflite: uv mean 1.414 px .*pose_int8.tflite: uv mean 1.414"):
        parity.check(rows)
    parity.check(rows[:1])
    table = parity.format_table(rows).splitlines()
    assert len(table) == 4 and table[1].endswith("yes") and table[2].endswith("NO")


def test_shape_mismatch_is_an_error():
    with pytest.raises(ExportError, match=r"bad: output shapes"):
        parity.compare("bad", _pose(3), _pose(2), kind="fp32")
