"""The checked-in flag files against the library: ``configs/procedural_*.cfg`` are suite rows
(``awh_tf.experiments.FLAG_FILES``) and the paper-size files take the network from ``configs/paper_size.cfg``,
which is ``ModelConfig.paper_size()``. Editing a suite row without its flag file, or the reverse, fails here."""

import dataclasses
import glob
import os
import re

import pytest

from awh_tf import experiments as ex
from awh_tf.config import ModelConfig
from awh_tf.flags import config_from_args

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# procedural_*.cfg that are no suite row (another real domain): named here so a new file must be placed.
NOT_SUITE_ROWS = {"configs/procedural_freihand_awh.cfg", "configs/procedural_coco_awh.cfg"}
PAPER_SIZE_FILES = ("configs/rhd_stb_awh.cfg", "configs/rhd_stb_noda.cfg", "configs/rhd_stb_noda_fss.cfg",
                    "configs/rhd_stb_wh.cfg", "configs/rhd_freihand_awh.cfg")
# The ModelConfig fields ModelConfig.paper_size() sets (checked against it below).
SIZE_FIELDS = ("input_size", "channels", "num_stacks", "hourglass_depth", "num_residual", "heatmap_stride",
               "critic_filters", "critic_units", "depth_reg_size", "depth_reg_units", "depth_reg_filters")


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch):
    monkeypatch.chdir(REPO)  # flag-file paths, nested ones included, are relative to the repository root


def _parse(path):
    return config_from_args([f"--flagfile={path}"])


def _fields(config):
    return {f"{part}.{k}": v for part in ("data", "pipeline", "model", "train")
            for k, v in dataclasses.asdict(getattr(config, part)).items()}


@pytest.mark.parametrize("path", sorted(ex.FLAG_FILES))
def test_procedural_flag_file_is_its_suite_row_on_the_demo(path):
    suite, slug = ex.FLAG_FILES[path]
    from_file = _parse(path)
    from_suite = ex.build_config(ex.DEMO_BASE, ex.get_row(suite, slug), seed=0, name=from_file.name)
    a, b = _fields(from_file), _fields(from_suite)
    assert {k: (a[k], b[k]) for k in a if a[k] != b[k]} == {}, f"{path} vs {suite}/{slug}"
    assert from_file == from_suite


def test_every_procedural_flag_file_is_a_suite_row_or_named_as_not():
    files = set(glob.glob("configs/procedural_*.cfg"))
    assert files == set(ex.FLAG_FILES) | NOT_SUITE_ROWS
    assert not set(ex.FLAG_FILES) & NOT_SUITE_ROWS
    rows = list(ex.FLAG_FILES.values())
    assert len(set(rows)) == len(rows)  # one file per row


def test_the_check_sees_a_suite_row_edited_without_its_flag_file():
    path = "configs/procedural_wh.cfg"
    row = ex.get_row(*ex.FLAG_FILES[path])
    edited = dataclasses.replace(row, overrides=row.overrides + ("--lambda_wd=0.2",))
    assert ex.build_config(ex.DEMO_BASE, edited, 0, "procedural_wh") != _parse(path)


def test_paper_size_flag_file_is_model_config_paper_size():
    paper = ModelConfig.paper_size()
    assert {f.name for f in dataclasses.fields(ModelConfig)
            if getattr(paper, f.name) != getattr(ModelConfig(), f.name)} <= set(SIZE_FIELDS)
    config, default = _parse("configs/paper_size.cfg"), config_from_args([])
    assert config.model == paper
    # Model size only: the rest is the defaults (the shared flags input_size and depth_reg_size aside).
    pipeline = dataclasses.replace(default.pipeline, input_size=paper.input_size, depth_size=paper.depth_reg_size)
    assert config == dataclasses.replace(default, model=paper, pipeline=pipeline)


@pytest.mark.parametrize("path", PAPER_SIZE_FILES)
def test_paper_size_experiments_include_paper_size_instead_of_copies(path):
    model, paper = _parse(path).model, ModelConfig.paper_size()
    assert {f: getattr(model, f) for f in SIZE_FIELDS} == {f: getattr(paper, f) for f in SIZE_FIELDS}
    text = open(path).read()
    copied = [line for line in text.splitlines() if re.match(r"--(%s)=" % "|".join(SIZE_FIELDS), line)]
    assert copied == [], f"{path} copies size flags of configs/paper_size.cfg"
    included = re.findall(r"^--flagfile=(\S+)$", text, re.M)
    assert "configs/paper_size.cfg" in included or "configs/rhd_stb_awh.cfg" in included, included


def test_importing_the_suites_does_not_import_tensorflow():
    import subprocess
    import sys

    code = "import sys, awh_tf.experiments; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
