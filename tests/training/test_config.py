"""Flags → frozen config, config.json round trip and the resume-compatibility check."""

import dataclasses

import pytest
from absl import flags

from awh_tf.training import config as cfg_lib
from awh_tf.training import flags as awh_flags




def _parse(args):
    fv = flags.FlagValues()
    for name, (kind, targets, default) in awh_flags.flag_table().items():
        define = {"bool": flags.DEFINE_bool, "int": flags.DEFINE_integer, "float": flags.DEFINE_float,
                  "str": flags.DEFINE_string}.get(kind)
        if define:
            define(name, default, "", flag_values=fv)
        else:
            flags.DEFINE_list(name, [str(v) for v in default], "", flag_values=fv)
    flags.DEFINE_string("name", "run", "", flag_values=fv)
    fv(["prog"] + args)
    return awh_flags.config_from_flags(fv)


def test_shared_field_sets_both_sections():
    config = _parse(["--input_size=128", "--seed=7", "--da=wdgrl", "--intermediate_losses=R2D,S2D"])
    assert config.model.input_size == 128 and config.pipeline.input_size == 128
    assert config.train.seed == 7
    assert config.train.da == "wdgrl"
    assert config.train.intermediate_losses == ("R2D", "S2D")


def test_invalid_value_is_a_one_line_error():
    with pytest.raises(ValueError, match="da: expected one of"):
        _parse(["--da=dann"])
    with pytest.raises(ValueError, match="intermediate_losses: unknown"):
        _parse(["--intermediate_losses=R4D"])


def test_unknown_flag_is_refused():
    with pytest.raises(flags.UnrecognizedFlagError):
        _parse(["--lambda_wdd=1"])


def test_config_json_round_trip(tmp_path):
    config = _parse(["--channels=48", "--intermediate_losses=R3D"])
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
        _parse([flag])
