"""The procedural FreiHAND and COCO real domains train (the method: critic, similarity weighting, both phases)
and evaluate end to end at tiny sizes. Slow: data generation, tracing the adversarial step, a few dozen steps."""

import dataclasses
import json
import math
import os

import pytest

from awh_tf.evaluation import evaluate_lib
from awh_tf.training import train_lib
from tests.evaluation.conftest import tiny_config

pytestmark = pytest.mark.slow


def _config(data_dir, domain):
    config = tiny_config(data_dir, da="awh", target_labels="2d", pretrain_steps=12, train_steps=12,
                         checkpoint_every=12)
    data = dataclasses.replace(config.data, real_domain=domain, gen_freihand_train=16, gen_freihand_eval=6)
    config = dataclasses.replace(config, name=f"tiny_{domain}", data=data)
    config.check_real_domain_labels()
    return config


def test_freihand_trains_and_evaluates_with_the_stb_protocol_and_pa_mpjpe(tmp_path):
    config = _config(tmp_path / "data", "freihand")
    lines = []
    result = train_lib.train_and_evaluate(config, str(tmp_path / "run"), log=lines.append, progress=False)
    assert result["num_samples"] == 6 and result["has_3d"] is True
    for value in (result["epe_mean_mm"], result["procrustes"]["epe_mean_mm"], result["mean_pose_epe_mean_mm"],
                  result["epe2d_mean_px"]):
        assert math.isfinite(value) and value > 0
    assert result["procrustes"]["epe_mean_mm"] < result["epe_mean_mm"]
    assert os.path.exists(tmp_path / "run" / "checkpoints" / "ckpt-24.index")
    again = evaluate_lib.evaluate_run(str(tmp_path / "run"), log=lines.append)  # python -m awh_tf.evaluate
    assert again["epe_mean_mm"] == pytest.approx(result["epe_mean_mm"], rel=1e-5)
    assert again["real_domain"] == "freihand" and "PA-MPJPE" in "\n".join(lines)


def test_coco_trains_and_evaluates_in_2d(tmp_path):
    config = _config(tmp_path / "data", "coco")
    workdir = str(tmp_path / "run")
    lines = []
    final = train_lib.train_and_evaluate(config, workdir, log=lines.append, progress=False)
    assert final["has_3d"] is False and "epe_mean_mm" not in final
    result = evaluate_lib.evaluate_run(workdir, log=lines.append)  # python -m awh_tf.evaluate
    assert result["image"]["epe_mean_px"] == pytest.approx(final["image"]["epe_mean_px"], rel=1e-5)
    assert result["has_3d"] is False and result["num_samples"] == 6 and "epe_mean_mm" not in result
    image = result["image"]
    assert math.isfinite(result["epe2d_mean_px"]) and 0 < image["epe_mean_px"]
    assert 0 <= image["pck_box_0.1"] <= image["pck_box_0.2"] <= 1 and 0 <= image["pck_5px"] <= image["pck_20px"] <= 1
    with open(os.path.join(workdir, "eval.json")) as f:
        assert json.load(f)["image"]["epe_mean_px"] == image["epe_mean_px"]
    assert os.path.exists(os.path.join(workdir, "pck.png")) and "2D labels only" in "\n".join(lines)
