"""End-to-end export: artefacts, signature, metadata, the gate (its parity fallback here; the task gate in
test_task_gate.py and the slow tests), and every bad-input error."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from awh_tf.export import export_lib, saved_model, tflite
from awh_tf.export.errors import ExportError
from awh_tf.keypoints import KEYPOINT_NAMES, SKELETON_EDGES
from tests.export.conftest import make_workdir, tiny_config

QUIET = dict(log=lambda *_: None)


def test_fp32_export_without_test_data_falls_back_to_parity(fp32_export):
    _, out_dir, meta = fp32_export
    assert sorted(os.listdir(out_dir)) == ["keras_preset", "metadata.json", "pose_fp32.tflite",
                                           "pose_network.keras", "saved_model"]
    assert not os.path.exists(out_dir + ".partial")
    gate = meta["gate"]
    assert gate["mode"] == "parity" and gate["crops"] == 8 and "reference" not in gate
    assert gate["notice"].startswith("no real test split (") and "random crops" in gate["notice"]
    assert set(gate["artefacts"]) == {"saved_model", "pose_network.keras", "keras_preset", "pose_fp32.tflite"}
    assert meta["parity"] == {name: row["parity"] for name, row in gate["artefacts"].items()}
    for row in gate["artefacts"].values():
        assert row["passed"] and row["task"] == {} and row["parity"]["n"] == 8
        # Same float graph: differences are round-off, far below the 0.5 px sanity bound.
        assert row["parity"]["uv_mean_px"] < 1e-3 and row["parity"]["z_mean"] < 1e-4
        assert row["parity"]["uv_tolerance_px"] == 0.5


def test_keras_files_load_and_match_the_saved_model(fp32_export):
    from awh_tf.models import PoseNetwork, load_pose_network

    _, out_dir, meta = fp32_export
    images = np.random.default_rng(3).random((3, 32, 32, 3), dtype=np.float32)
    served = saved_model.run_saved_model(os.path.join(out_dir, "saved_model"), images)
    for model in (load_pose_network(os.path.join(out_dir, "pose_network.keras")),
                  PoseNetwork.from_preset(os.path.join(out_dir, "keras_preset"))):
        out = model(images, training=False)
        for name in ("uv", "z_rel"):
            np.testing.assert_allclose(np.asarray(out[name]), served[name], atol=1e-4, err_msg=name)
    assert meta["files"]["keras"]["path"] == "pose_network.keras" and meta["files"]["preset"]["size_bytes"] > 0


def test_saved_model_signature_names_and_shapes(fp32_export):
    _, out_dir, _ = fp32_export
    signature = saved_model.describe_signature(os.path.join(out_dir, "saved_model"))
    assert signature == {
        "inputs": {"image": {"dtype": "float32", "shape": [1, 32, 32, 3]}},
        "outputs": {"uv": {"dtype": "float32", "shape": [1, 21, 2]},
                    "z_rel": {"dtype": "float32", "shape": [1, 21]}},
    }


@pytest.mark.slow
def test_saved_model_cli_describes_the_signature(fp32_export):
    _, out_dir, _ = fp32_export
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    args = ["show", "--dir", os.path.join(out_dir, "saved_model"), "--tag_set", "serve", "--signature_def",
            "serving_default"]
    result = subprocess.run([cli] + args, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "inputs['image'] tensor_info: dtype: DT_FLOAT shape: (1, 32, 32, 3)" in text
    assert "outputs['uv'] tensor_info: dtype: DT_FLOAT shape: (1, 21, 2)" in text
    assert "outputs['z_rel'] tensor_info: dtype: DT_FLOAT shape: (1, 21)" in text


def test_tflite_signature_names_and_shapes(fp32_export):
    from ai_edge_litert.interpreter import Interpreter

    _, out_dir, _ = fp32_export
    interpreter = Interpreter(model_path=os.path.join(out_dir, "pose_fp32.tflite"))
    assert interpreter.get_signature_list() == {"serving_default": {"inputs": ["image"],
                                                                    "outputs": ["uv", "z_rel"]}}
    runner = interpreter.get_signature_runner("serving_default")
    assert list(runner.get_input_details()["image"]["shape"]) == [1, 32, 32, 3]
    out = runner(image=np.zeros((1, 32, 32, 3), np.float32))
    assert out["uv"].shape == (1, 21, 2) and out["z_rel"].shape == (1, 21)


def test_metadata_contents(fp32_export):
    workdir, out_dir, meta = fp32_export
    with open(os.path.join(out_dir, "metadata.json")) as f:
        on_disk = json.load(f)
    assert on_disk == json.loads(json.dumps(meta))
    assert meta["input"]["shape"] == [1, 32, 32, 3] and meta["input"]["range"] == [0.0, 1.0]
    assert meta["input"]["color"] == "RGB" and meta["signature"] == "serving_default"
    assert meta["keypoints"]["names"] == list(KEYPOINT_NAMES)
    assert meta["keypoints"]["root"] == 0 and meta["keypoints"]["reference_bone"] == [0, 12]
    assert meta["keypoints"]["skeleton_edges"] == [list(e) for e in SKELETON_EDGES]
    assert meta["outputs"]["uv"]["shape"] == [1, 21, 2] and "px" in meta["outputs"]["uv"]["units"]
    assert meta["outputs"]["z_rel"]["shape"] == [1, 21]
    assert meta["source"]["workdir"] == os.path.abspath(workdir)
    assert meta["source"]["checkpoint"].endswith("ckpt-1")
    assert on_disk["source"]["config"] == json.loads(tiny_config().to_json())
    record = meta["files"]["fp32"]
    path = os.path.join(out_dir, record["path"])
    with open(path, "rb") as f:
        data = f.read()
    assert record["size_bytes"] == len(data) and record["sha256"] == hashlib.sha256(data).hexdigest()
    assert meta["files"]["saved_model"]["path"] == "saved_model"
    assert meta["tflite_ops"]["fp32"]["flex_ops"] == []


def test_missing_workdir(tmp_path):
    with pytest.raises(ExportError, match=r"--workdir .*nowhere: no such directory"):
        export_lib.export_run(str(tmp_path / "nowhere"), str(tmp_path / "out"), **QUIET)


def test_workdir_without_config(tmp_path):
    with pytest.raises(ExportError, match=r"config.json: not found"):
        export_lib.export_run(str(tmp_path), str(tmp_path / "out"), **QUIET)


def test_workdir_without_checkpoint(tmp_path):
    workdir = make_workdir(tmp_path / "run", checkpoint=False)
    with pytest.raises(ExportError, match=r"checkpoints: no checkpoint found"):
        export_lib.export_run(workdir, str(tmp_path / "out"), **QUIET)
    assert not os.path.exists(tmp_path / "out")


def test_existing_out_dir_is_refused_and_left_alone(tmp_path):
    workdir = make_workdir(tmp_path / "run")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match=r"--out_dir .*out: already exists; pass --overwrite"):
        export_lib.export_run(workdir, str(out_dir), **QUIET)
    assert os.listdir(out_dir) == ["keep.txt"]


def test_unreadable_representative_dataset(tmp_path):
    workdir = make_workdir(tmp_path / "run", tiny_config(data_dir=tmp_path / "no_data"))
    options = export_lib.ExportOptions(formats=("int8",), gate_source="random")
    with pytest.raises(ExportError, match=r"^representative dataset \(synthetic\) cannot be read: .*no_data"):
        export_lib.export_run(workdir, str(tmp_path / "out"), options, **QUIET)
    assert not os.path.exists(tmp_path / "out") and not os.path.exists(tmp_path / "out.partial")


def test_gate_source_real_requires_the_test_split(tmp_path):
    workdir = make_workdir(tmp_path / "run", tiny_config(data_dir=tmp_path / "no_data"))
    options = export_lib.ExportOptions(formats=("fp32",), gate_source="real")
    with pytest.raises(ExportError, match=r"^real test split cannot be read: .*no_data"):
        export_lib.export_run(workdir, str(tmp_path / "out"), options, **QUIET)
    assert not os.path.exists(tmp_path / "out")


def test_bad_options():
    with pytest.raises(ExportError, match=r"--formats: unknown \['int4'\]"):
        export_lib.ExportOptions(formats=("fp32", "int4"))
    with pytest.raises(ExportError, match=r"--int8_float_scope"):
        export_lib.ExportOptions(int8_float_scope="everything")
    with pytest.raises(ExportError, match=r"--gate_source: expected one of \('auto', 'real', 'random'\)"):
        export_lib.ExportOptions(gate_source="test")
    with pytest.raises(ExportError, match=r"--gate_samples: expected >= 0"):
        export_lib.ExportOptions(gate_samples=-1)


@pytest.mark.slow
def test_every_format_passes_parity_and_overwrite_replaces(tmp_path):
    """All four TFLite formats on random crops (the parity fallback; ~40 s); int8 keeps exactly the first
    convolution and the soft-argmax in float."""
    workdir = make_workdir(tmp_path / "run")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "old.txt").write_text("old")
    options = export_lib.ExportOptions(overwrite=True, gate_source="random", gate_samples=16,
                                       calibration_source="random", calibration_samples=32)
    meta = export_lib.export_run(workdir, str(out_dir), options, **QUIET)
    assert sorted(os.listdir(out_dir)) == sorted(
        ["keras_preset", "metadata.json", "pose_network.keras", "saved_model"]
        + [tflite.tflite_filename(f) for f in tflite.TFLITE_FORMATS])
    assert all(row["passed"] for row in meta["parity"].values()), meta["parity"]
    assert meta["parity"]["pose_int8.tflite"]["uv_tolerance_px"] == 2.0
    int8 = meta["tflite_ops"]["int8"]
    # The backbone is int8 but for its first convolution (on the image); the softmax is float.
    assert int8["float_ops"]["CONV_2D"] == 1 and int8["ops"]["CONV_2D"] > 10
    assert "ADD" not in int8["float_ops"]
    assert int8["float_ops"]["EXP"] == 1 and int8["float_ops"]["DIV"] == 1
    # Into int8 twice: the image (the input normalisation is int8, dequantised for the float convolution)
    # and the first convolution's output.
    assert int8["ops"]["QUANTIZE"] == 2
    assert meta["export_settings"]["calibration_samples_used"] == 32


@pytest.mark.slow
def test_real_data_export(tmp_path):
    """The task gate and calibration crops from (tiny) procedural data through the evaluation pipeline."""
    from awh_tf.data.procedural import generate

    generate(str(tmp_path / "data"), seed=0, rhd_train=6, rhd_eval=2, stb_frames=2, workers=1, progress=False)
    config = tiny_config(data_dir=tmp_path / "data")
    workdir = make_workdir(tmp_path / "run", config)
    options = export_lib.ExportOptions(formats=("fp32", "int8"), calibration_samples=8)
    meta = export_lib.export_run(workdir, str(tmp_path / "out"), options, **QUIET)
    settings = meta["export_settings"]
    assert settings["gate_samples_used"] == 4  # all of the split: the 2 test sequences hold 2 frames each
    assert settings["calibration_samples_used"] == 8  # 4 synthetic + 4 real training crops
    assert meta["gate"]["mode"] == "task" and meta["gate"]["samples"] == 4
    assert all(row["passed"] for row in meta["gate"]["artefacts"].values()), meta["gate"]

    from awh_tf.export import crops

    bad = tmp_path / "data" / "STB" / "images" / "B1Counting" / "SK_color_1.png"
    bad.write_bytes(bad.read_bytes()[:100])  # truncated PNG
    with pytest.raises(ExportError, match=r"^real test split cannot be read: .*SK_color_1.png"):
        crops.test_split(config)


def test_failed_export_write_is_one_line_and_the_old_export_stays(tmp_path, monkeypatch):
    """A disk that fills while the export is written (here: at its last file, metadata.json)."""
    import errno

    from awh_tf.export import metadata

    def disk_full(meta, path):
        with open(path, "w") as f:
            f.write("{")  # a partial file, as a full disk leaves
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    monkeypatch.setattr(metadata, "write_metadata", disk_full)
    workdir = make_workdir(tmp_path / "run")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "metadata.json").write_text('{"old": true}')
    options = export_lib.ExportOptions(formats=(), overwrite=True, gate_source="random", gate_samples=2)
    with pytest.raises(ExportError) as info:
        export_lib.export_run(workdir, str(out_dir), options, **QUIET)
    message = str(info.value)
    assert "\n" not in message and "No space left on device" in message and "unchanged" in message
    assert os.listdir(out_dir) == ["metadata.json"] and json.loads((out_dir / "metadata.json").read_text())["old"]
    assert not os.path.exists(str(out_dir) + ".partial") and not os.path.exists(str(out_dir) + ".old")
