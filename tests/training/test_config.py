"""Flags → frozen config, config.json round trip and the resume-compatibility check."""

import dataclasses

import pytest
from absl import flags

from awh_tf import config as cfg_lib
from awh_tf import flags as awh_flags




def test_shared_field_sets_both_sections():
    config = awh_flags.config_from_args(["--input_size=128", "--seed=7", "--da=wdgrl", "--intermediate_losses=R2D,S2D"])
    assert config.model.input_size == 128 and config.pipeline.input_size == 128
    assert config.train.seed == 7
    assert config.train.da == "wdgrl"
    assert config.train.intermediate_losses == ("R2D", "S2D")


def test_invalid_value_is_a_one_line_error():
    with pytest.raises(ValueError, match="da: expected one of"):
        awh_flags.config_from_args(["--da=dann"])
    with pytest.raises(ValueError, match="intermediate_losses: unknown"):
        awh_flags.config_from_args(["--intermediate_losses=R4D"])


def test_unknown_flag_is_refused():
    with pytest.raises(flags.UnrecognizedFlagError):
        awh_flags.config_from_args(["--lambda_wdd=1"])


def test_config_json_round_trip(tmp_path):
    config = awh_flags.config_from_args(["--channels=48", "--intermediate_losses=R3D"])
    path = tmp_path / "config.json"
    config.save(str(path))
    assert cfg_lib.Config.load(str(path)) == config


def test_incompatible_fields():
    a = cfg_lib.Config()
    b = dataclasses.replace(a, train=dataclasses.replace(a.train, lambda_wd=1.0, train_steps=5))
    diffs = cfg_lib.incompatible_fields(a, b)
    assert len(diffs) == 1 and diffs[0].startswith("train.lambda_wd")


def test_config_of_an_earlier_version_still_loads():
    d = cfg_lib.Config().to_dict()
    d["train"].pop("target_labels")
    d["train"]["oracle"] = True
    d["pipeline"].update(real_has_3d=True, depth_window=3.0, hull_dilation=0.3)
    assert cfg_lib.Config.from_dict(d).train.target_labels == "3d"
    d["train"]["oracle"] = False
    assert cfg_lib.Config.from_dict(d).train.target_labels == "2d_depth"
    d["train"]["bogus"] = 1
    with pytest.raises(ValueError, match="bogus"):
        cfg_lib.Config.from_dict(d)


@pytest.mark.parametrize("flag, match", [("--target_labels=depth", "target_labels"),
                                         ("--target_label_fraction=1.5", "target_label_fraction"),
                                         ("--critic_input_norm=batch", "critic_input_norm"),
                                         ("--n_critic=0", "n_critic"),
                                         ("--similarity_mode=cosine", "similarity_mode")])
def test_label_budget_and_critic_flags_are_checked(flag, match):
    with pytest.raises(ValueError, match=match):
        awh_flags.config_from_args([flag])
