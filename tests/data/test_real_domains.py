"""``--real_domain``: the config fields and their checks, old configs, and the splits ``data_setup`` opens."""

import dataclasses
import json

import pytest

from awh_tf.data import DataError, FreiHANDDataset, STBDataset
from awh_tf.data.coco import CocoHandDataset
from awh_tf.data import data_setup
from awh_tf import flags as awh_flags
from awh_tf.config import Config, DataConfig

TINY = dict(gen_seed=0, gen_rhd_train=2, gen_rhd_eval=1, gen_stb_frames=1, gen_freihand_train=4,
            gen_freihand_eval=2)


def test_flags_set_the_real_domain_and_its_paths():
    config = awh_flags.config_from_args(["--real_domain=coco", "--coco_json=a.json", "--coco_images=imgs", "--target_labels=2d"])
    assert config.data.real_domain == "coco" and config.data.coco_paths() == ("a.json", "imgs", "")
    config = awh_flags.config_from_args(["--real_domain=freihand", "--freihand_root=/f", "--target_labels=2d"])
    assert config.data.freihand_path() == "/f" == config.data.freihand_eval_path()
    assert awh_flags.config_from_args([]).data.real_domain == "stb"


def test_a_budget_the_domain_cannot_give_is_refused_in_one_line():
    with pytest.raises(ValueError) as info:
        awh_flags.config_from_args(["--real_domain=freihand"])  # the default budget is 2d_depth
    assert str(info.value) == ("--real_domain=freihand has no depth images, so --target_labels=2d_depth would "
                               "train exactly as 2d (no depth regularizer target for the real domain); set "
                               "--target_labels=2d")
    with pytest.raises(ValueError, match="--real_domain=coco has no 3D labels"):
        awh_flags.config_from_args(["--real_domain=coco", "--target_labels=3d"])
    assert awh_flags.config_from_args(["--real_domain=freihand", "--target_labels=3d"]).train.target_labels == "3d"  # the oracle
    assert awh_flags.config_from_args(["--real_domain=coco", "--target_labels=none"]).train.target_labels == "none"
    assert awh_flags.config_from_args(["--real_domain=coco", "--source_only"]).train.source_only
    with pytest.raises(ValueError, match="real_domain: expected one of"):
        awh_flags.config_from_args(["--real_domain=mpii", "--target_labels=2d"])
    with pytest.raises(ValueError, match="give both --coco_json and --coco_images"):
        awh_flags.config_from_args(["--real_domain=coco", "--target_labels=2d", "--coco_json=a.json"])


def test_an_old_config_without_real_domain_loads_as_stb(tmp_path):
    d = Config().to_dict()
    for key in ("real_domain", "freihand_root", "freihand_eval_root", "coco_json", "coco_images", "coco_test_json",
                "coco_test_fraction", "coco_default_hand", "gen_freihand_train", "gen_freihand_eval"):
        del d["data"][key]
    (tmp_path / "config.json").write_text(json.dumps(d))
    config = Config.load(tmp_path / "config.json")
    assert config.data.real_domain == "stb" and config == Config()


def _tiny(data_dir, **kwargs):
    return DataConfig(data_dir=str(data_dir), **TINY, **kwargs)


def test_procedural_freihand_and_coco_are_generated_and_opened(tmp_path):
    logs = []
    for domain in ("freihand", "coco"):
        data = _tiny(tmp_path, real_domain=domain)
        data_setup.ensure_procedural_data(data, log=logs.append)
        synthetic, train, test = data_setup.open_domains(data)
        assert len(synthetic) == 2
        kind = FreiHANDDataset if domain == "freihand" else CocoHandDataset
        assert isinstance(train, kind) and isinstance(test, kind) and (len(train), len(test)) == (4, 2)
    assert sum("generating" in line for line in logs) == 3  # RHD+STB, FreiHAND layout, COCO conversion
    assert isinstance(data_setup.open_real(_tiny(tmp_path), "test"), STBDataset)  # the default is unchanged


def test_user_paths_are_never_generated_and_coco_holds_out_images(tmp_path):
    base = tmp_path / "proc"
    data_setup.ensure_procedural_data(_tiny(base, real_domain="coco"), log=lambda _: None)
    coco_dir = base / "COCO_hands"
    data = _tiny(tmp_path / "empty", real_domain="coco", rhd_root=str(base / "RHD_published_v2"),
                 coco_json=str(coco_dir / "train.json"), coco_images=str(coco_dir / "images"), coco_test_fraction=0.5)
    data_setup.ensure_procedural_data(data, log=lambda line: pytest.fail(line))
    assert not (tmp_path / "empty").exists()
    train, test = data_setup.open_real(data, "train"), data_setup.open_real(data, "test")
    assert len(train) == len(test) == 2
    assert not set(train.annotation_index) & set(test.annotation_index)
    data = dataclasses.replace(data, coco_test_json=str(coco_dir / "test.json"))
    assert len(data_setup.open_real(data, "train")) == 4 and len(data_setup.open_real(data, "test")) == 2


def test_missing_procedural_layout_without_generation_is_one_line(tmp_path):
    data = _tiny(tmp_path, real_domain="freihand", generate_if_missing=False,
                 rhd_root=str(tmp_path / "RHD_published_v2"))
    with pytest.raises(DataError) as info:
        data_setup.ensure_procedural_data(data)
    assert "\n" not in str(info.value) and "no complete procedural FreiHAND layout" in str(info.value)

