"""The latent 2.5D head: layer contract and the decoded outputs' consistency."""

import numpy as np

from awh_tf.models import Latent25DHead, soft_argmax_25d
from tests.layer_test_case import run_layer_test


def test_layer_contract(rng):
    x = rng.random((2, 4, 4, 6), dtype=np.float32)
    maps = (2, 4, 4, 5)
    run_layer_test(Latent25DHead, dict(num_keypoints=5, stride=4), x,
                   {"uv": (2, 5, 2), "z_rel": (2, 5), "heatmaps": maps, "heatmap_logits": maps,
                    "depth_maps": maps})


def test_outputs_decode_its_own_maps(rng):
    head = Latent25DHead(num_keypoints=3, stride=2)
    out = head(rng.random((1, 4, 6, 5), dtype=np.float32))
    again = soft_argmax_25d(out["heatmap_logits"], out["depth_maps"], 2)
    for name in ("uv", "z_rel", "heatmaps"):
        np.testing.assert_allclose(np.asarray(out[name]), np.asarray(again[name]), rtol=1e-6)
    # uv stays inside the 12x8 input crop.
    uv = np.asarray(out["uv"])
    assert np.all(uv >= 0.5) and np.all(uv[..., 0] <= 10.5) and np.all(uv[..., 1] <= 6.5)
