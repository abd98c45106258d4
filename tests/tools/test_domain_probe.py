"""The per-level domain probe: the tool on the tiny run, its numbers on features with known answers."""

import json

import cv2
import numpy as np

from awh_tf.config import ModelConfig, TrainConfig
from awh_tf.evaluation import domain_probe
from tools import domain_probe as probe_tool


def test_probe_finds_the_domain_where_it_is_and_only_there(rng):
    """Level ``shifted``: the target's channels are brighter (GAP and flat see it, the critic's W is large);
    level ``same``: both domains from one distribution (chance accuracy, W near 0)."""
    n, shape = 120, (4, 4, 6)
    same_s, same_t = rng.normal(size=(n,) + shape), rng.normal(size=(n,) + shape)
    shifted_s, shifted_t = rng.normal(size=(n,) + shape), rng.normal(size=(n,) + shape) + 1.0
    cfg = ModelConfig(critic_filters=(8,), critic_units=(8,))
    rows = domain_probe.probe_levels({"same": same_s.astype(np.float32), "shifted": shifted_s.astype(np.float32)},
                                     {"same": same_t.astype(np.float32), "shifted": shifted_t.astype(np.float32)},
                                     cfg, critic_steps=150, seed=0)
    by = {r["level"]: r for r in rows}
    assert [r["level"] for r in rows] == ["same", "shifted"] and by["same"]["shape"] == [4, 4, 6]
    assert by["shifted"]["gap_accuracy"] > 0.95 and by["shifted"]["flat_accuracy"] > 0.9
    assert by["same"]["gap_accuracy"] < 0.7 and by["same"]["flat_accuracy"] < 0.7
    assert by["shifted"]["fresh_critic_w"] > 5 * max(by["same"]["fresh_critic_w"], 0.02)


def test_critic_levels_follow_the_attach_point():
    class Cfg:
        def __init__(self, **kw):
            self.model = ModelConfig(**{k: v for k, v in kw.items() if k != "da"})
            self.train = TrainConfig(da=kw.get("da", "awh"))

    assert domain_probe.critic_levels(Cfg()) == ["stack0_bottleneck"]
    assert domain_probe.critic_levels(Cfg(da="none")) == []
    assert domain_probe.critic_levels(Cfg(awh_features="multilevel", awh_stack=1)) == [
        "stack1_bottleneck", "stack1_up1_0", "stack1_up1_1"]
    assert domain_probe.critic_levels(Cfg(awh_features="output", awh_stack=-1)) == ["stack0_output", "stack1_output"]
    assert domain_probe.head_input_level(ModelConfig(num_stacks=2)) == "stack1_head_input"


def test_probe_tool_on_a_run_writes_every_level(tiny_run, tmp_path):
    lines = []
    probe_tool.domain_probe([tiny_run.workdir], str(tmp_path), labels=["tiny"], num=10, critic_steps=5,
                            log=lines.append)
    assert any("stack0_bottleneck" in line and "GAP" in line for line in lines)
    runs = json.loads((tmp_path / "probe.json").read_text())
    levels = [row["level"] for row in runs[0]["levels"]]
    m = tiny_run.config.model
    expected = 1 + (m.num_stacks - 1) + m.num_stacks * (2 * m.hourglass_depth + 4)
    assert len(levels) == expected and levels[0] == "stem" and "stack0_bottleneck" in levels
    assert runs[0]["critic_levels"] == domain_probe.critic_levels(tiny_run.config)
    assert all(0.0 <= row["gap_accuracy"] <= 1.0 for row in runs[0]["levels"])
    assert "| stem |" in (tmp_path / "probe.md").read_text()
    image = cv2.imread(str(tmp_path / "probe.png"))
    assert image is not None and image.std() > 0
