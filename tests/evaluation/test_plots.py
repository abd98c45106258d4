"""Plots: files written, bad input refused, skeleton overlay drawn where the keypoints are."""

import cv2
import numpy as np
import pytest

from awh_tf.evaluation import plots
from awh_tf.keypoints import NUM_KEYPOINTS


def _png_ok(path):
    image = cv2.imread(str(path))
    return image is not None and image.size > 0 and image.std() > 0


def test_plot_pck_writes_png_with_several_curves(tmp_path):
    t = np.linspace(0, 50, 20)
    curves = [{"label": "a", "thresholds": t, "pck": np.clip(t / 40, 0, 1), "auc": 0.6},
              {"label": "b", "thresholds": t, "pck": np.clip(t / 60, 0, 1),
               "band": (np.clip(t / 70, 0, 1), np.clip(t / 50, 0, 1))}]
    path = plots.plot_pck(curves, str(tmp_path / "sub" / "pck.png"))
    assert _png_ok(path)


def test_plot_pck_refuses_no_curves(tmp_path):
    with pytest.raises(ValueError, match="no curves"):
        plots.plot_pck([], str(tmp_path / "x.png"))


def test_plot_per_keypoint_accepts_never_visible_and_checks_length(tmp_path):
    errors = [float(i) for i in range(NUM_KEYPOINTS)]
    errors[5] = None
    assert _png_ok(plots.plot_per_keypoint(errors, str(tmp_path / "kp.png")))
    with pytest.raises(ValueError, match="expected 21"):
        plots.plot_per_keypoint(errors[:20], str(tmp_path / "bad.png"))


def test_overlay_draws_on_the_keypoints_and_keeps_the_image(rng):
    image = np.zeros((60, 80, 3), np.uint8)
    uv = rng.uniform(10, 50, (NUM_KEYPOINTS, 2))
    out = plots.overlay_skeleton(image, uv, box=(5, 5, 50, 40))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not image.any()  # the input is not modified
    for u, v in np.round(uv).astype(int):
        assert out[v, u].any(), (u, v)  # a joint dot covers its own pixel
    assert out[5, 30].any()  # the box's top edge
    assert not out[58, 78].any()  # far from the box, every keypoint and every edge


def test_write_rgb_round_trip(tmp_path, rng):
    image = rng.integers(0, 255, (7, 9, 3), dtype=np.uint8)
    path = plots.write_rgb(str(tmp_path / "a" / "img.png"), image)
    back = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(back, image)
