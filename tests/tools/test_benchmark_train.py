"""The training benchmark: FLOP counting, step timing, random batches and a 2-step smoke run on tiny data."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from awh_tf.data import data_setup
from tests.evaluation.conftest import tiny_config
from tools import benchmark_train as bt


def _tiny(tmp_path_factory, **train_overrides):
    """The tools' tiny run config with one stack and no critic: its step traces in seconds, not a minute."""
    config = tiny_config(tmp_path_factory.getbasetemp() / "tiny_data", **train_overrides)
    return dataclasses.replace(config, model=dataclasses.replace(config.model, num_stacks=1))


def test_graph_flops_counts_a_matmul_by_hand():
    fn = tf.function(lambda a, b: tf.matmul(a, b))
    graph = fn.get_concrete_function(tf.TensorSpec((2, 3)), tf.TensorSpec((3, 4))).graph
    assert bt.graph_flops(graph) == 2 * 2 * 3 * 4  # one multiply and one add per (i, j, k)


def test_time_steps_drops_warmup_and_feeds_every_index(monkeypatch):
    """On a fake clock the step with index i takes i + 1 s of wall time and 0.5 s of CPU, so the timed steps
    (indices 2, 3, 4 after two warm-up steps) must read exactly 3, 4, 5 s and 1.5 CPU-s in all."""

    class Clock:
        wall = cpu = 0.0

    monkeypatch.setattr(bt.time, "perf_counter", lambda: Clock.wall)
    monkeypatch.setattr(bt.time, "process_time", lambda: Clock.cpu)
    seen = []

    def step(batch):
        seen.append(int(batch))
        Clock.wall += batch // 10 + 1
        Clock.cpu += 0.5
        return {"loss": tf.constant(1.0)}

    out = bt.time_steps(step, lambda i: i * 10, steps=3, warmup=2)
    assert seen == [0, 10, 20, 30, 40]
    assert out["times"] == [3.0, 4.0, 5.0] and out["cpu_s"] == 1.5


def test_random_batch_has_the_pipeline_shapes_and_ranges(tmp_path_factory):
    config = _tiny(tmp_path_factory)
    batch = bt.random_batch(config, 6, seed=3)
    s, d = config.model.input_size, config.model.depth_reg_size
    for name in ("source", "target"):
        e = batch[name]
        assert e["image"].shape == (3, s, s, 3) and e["image"].dtype == tf.float32
        assert e["uv"].shape == (3, 21, 2) and e["z_rel"].shape == (3, 21)
        assert e["visible"].dtype == tf.bool and bool(tf.reduce_all(e["visible"]))
        assert e["depth_target"].shape == (3, d, d)
        for key, hi in (("image", 1.0), ("uv", float(s)), ("depth_target", 1.0)):
            v = e[key].numpy()
            assert v.min() >= 0.0 and v.max() < hi
    # Seeded and the two domains differ.
    again = bt.random_batch(config, 6, seed=3)
    np.testing.assert_array_equal(batch["source"]["image"].numpy(), again["source"]["image"].numpy())
    assert not np.array_equal(batch["source"]["image"].numpy(), batch["target"]["image"].numpy())
    with pytest.raises(ValueError, match="batch_size"):
        bt.random_batch(config, 5)


def test_two_step_run_on_tiny_data_reports_every_figure(tmp_path_factory):
    config = _tiny(tmp_path_factory, da="none")
    store = str(tmp_path_factory.mktemp("precrop_store"))
    config = dataclasses.replace(config, pipeline=dataclasses.replace(config.pipeline, cache_precrops=True,
                                                                      precrop_store_dir=store))
    report = bt.run_benchmark([("tiny", config, bt.PIPELINE, 2)], warmup=0, matmul_n=64, log=lambda *_: None)
    assert report["matmul_gflops_per_s"] == max(report["matmul_start"], report["matmul_end"]) > 0
    r = report["results"]["tiny"]
    for key in ("trace_s", "forward_gflops_per_image", "train_gflops_per_image", "step_s", "images_per_s",
                "train_gflops_per_s", "cpu_s_per_image", "peak_rss_mb", "matmul_ratio", "cached_step_mean_s",
                "pipeline_step_mean_s", "pipeline_images_per_s", "pipeline_ratio",
                "pipeline_cpu_s_per_image", "cold_step_mean_s", "cold_ratio", "cache_fill_s",
                "store_build_s", "store_step_mean_s", "store_ratio"):
        assert r[key] > 0, key
    # The warm timing ran on caches holding every sample of both domains.
    synthetic, real_train, _ = data_setup.open_domains(config.data)
    assert r["cache_samples"] == len(synthetic) + len(real_train)
    assert r["store_built"] == r["store_samples"] == r["cache_samples"]  # the store was built in this run
    assert r["batch_size"] == config.train.batch_size
    # Backward costs about twice the forward: a per-step (not per-image) count would be 4x larger.
    assert 2.0 < r["train_gflops_per_image"] / r["forward_gflops_per_image"] < 6.0
    np.testing.assert_allclose(r["images_per_s"], r["batch_size"] / r["step_s"])
    np.testing.assert_allclose(r["train_gflops_per_s"], r["train_gflops_per_image"] * r["images_per_s"])
    lines = bt.format_report(report, {"tiny": config})
    assert lines[0].startswith("matmul 64x64 fp32") and any("pipeline:" in line for line in lines)
    assert any("precrop store" in line and "the cached step" in line for line in lines)


@pytest.mark.slow
def test_two_step_run_on_random_tensors_with_the_critic(tmp_path_factory):
    config = _tiny(tmp_path_factory, da="awh")
    r = bt.benchmark_config(config, bt.RANDOM, steps=2, warmup=0, log=lambda *_: None)
    assert r["images_per_s"] > 0 and "pipeline_ratio" not in r
    # The critic's updates (with the gradient penalty's double backward) add to the pose network's cost.
    assert r["train_gflops_per_image"] > 2.0 * r["forward_gflops_per_image"]


def test_each_precision_is_measured_against_its_own_matmul_ceiling(tmp_path_factory):
    config = _tiny(tmp_path_factory, da="none")
    bf16 = dataclasses.replace(config, train=dataclasses.replace(config.train, precision="mixed_bfloat16"))
    report = bt.run_benchmark([("f32", config, bt.RANDOM, 1), ("bf16", bf16, bt.RANDOM, 1)], warmup=0,
                              matmul_n=64, log=lambda *_: None)
    keras.mixed_precision.set_global_policy("float32")
    ceilings = report["ceilings"]
    assert sorted(ceilings) == ["bfloat16", "float32"]
    assert report["matmul_gflops_per_s"] == ceilings["float32"]["gflops_per_s"]
    for name, dtype in (("f32", "float32"), ("bf16", "bfloat16")):
        r = report["results"][name]
        assert r["ceiling_dtype"] == dtype
        np.testing.assert_allclose(r["matmul_ratio"], r["train_gflops_per_s"] / ceilings[dtype]["gflops_per_s"])
    lines = bt.format_report(report, {"f32": config, "bf16": bf16})
    assert lines[1].startswith("matmul 64x64 bf16") and "mixed_bfloat16" in "\n".join(lines)
    assert any("of bf16 matmul (paper-size target >= 0.55" in line for line in lines)


def test_the_paper_case_is_the_paper_size_network_on_fresh_flags():
    """``paper``: configs/rhd_stb_awh.cfg's network (= ModelConfig.paper_size() on the fields it sets) and
    objective, parsed on fresh flag values (not a copy of absl's global ones)."""
    from awh_tf.config import ModelConfig

    config = bt.paper_config(batch_size=8, precision="mixed_bfloat16")
    paper = ModelConfig.paper_size()
    fields = ("input_size", "channels", "num_stacks", "hourglass_depth", "num_residual", "heatmap_stride",
              "critic_filters", "critic_units", "depth_reg_size", "depth_reg_units", "depth_reg_filters")
    assert {f: getattr(config.model, f) for f in fields} == {f: getattr(paper, f) for f in fields}
    assert config.pipeline.input_size == 256 and config.pipeline.depth_size == 64
    assert (config.name, config.train.batch_size, config.train.precision) == ("paper", 8, "mixed_bfloat16")
    assert config.train.da == "awh"
    demo = bt.demo_config("/tmp/d")
    assert demo.data.data_dir == "/tmp/d" and demo.model.input_size == 64 and demo.name == "demo"
