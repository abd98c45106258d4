"""ONNX export: ``pose.onnx`` of a tiny network end to end through onnxruntime (parity, interface,
metadata, latency rows), tf2onnx conversions of small hand-built SavedModels (ops without an ONNX
equivalent are an error), and the one-line refusal when the optional packages are missing.

Tests needing tf2onnx / onnx / onnxruntime skip, with the install command as reason, when they are not
installed (``requirements-onnx.txt``)."""

import hashlib
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from awh_tf.export import benchmark, export_lib, onnx, parity
from awh_tf.export.errors import ExportError
from tests.export.conftest import make_workdir

needs_onnx = pytest.mark.skipif(bool(onnx.missing_packages()),
                                reason=f"not installed: {', '.join(onnx.missing_packages())} ({onnx.INSTALL})")
QUIET = dict(log=lambda *_: None)
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def _without(monkeypatch, *names):
    """Makes ``importlib.util.find_spec`` see the packages ``names`` as not installed and the other ONNX
    packages as installed (whether they are or not)."""
    real = importlib.util.find_spec

    def find_spec(name, *args):
        if name in onnx.PACKAGES:
            return None if name in names else object()
        return real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_missing_packages_refuse_the_format_in_one_line(monkeypatch):
    _without(monkeypatch, "tf2onnx", "onnxruntime")
    assert onnx.missing_packages() == ["tf2onnx", "onnxruntime"]
    with pytest.raises(ExportError, match=r"^--formats onnx: needs tf2onnx, onnx, onnxruntime; not installed: "
                                          r"tf2onnx, onnxruntime \(pip install -r requirements-onnx.txt\)$"):
        export_lib.ExportOptions(formats=("fp32", "onnx"))
    export_lib.ExportOptions(formats=("fp32",))  # the other formats do not need them
    with pytest.raises(ValueError, match=r"^x: m.onnx: timing an .onnx file needs onnxruntime \(pip install"):
        benchmark._runner("x", "m.onnx", 1)


def test_onnx_is_an_export_format():
    assert export_lib.EXPORT_FORMATS[-1] == "onnx"
    assert "onnx" not in export_lib.ExportOptions().formats  # opt-in: the default needs no extra package
    assert parity.sanity_bounds("onnx") == parity.sanity_bounds("fp32") == parity.FLOAT_BOUNDS
    with pytest.raises(ExportError, match=r"--formats: unknown \['onxx'\]; expected some of .*'onnx'"):
        export_lib.ExportOptions(formats=("onxx",))


def test_importing_onnx_and_benchmark_starts_no_tensorflow():
    code = ("import sys; import awh_tf.export.onnx, awh_tf.export.benchmark; "
            "sys.exit('tensorflow' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


@pytest.fixture(scope="module")
def onnx_export(tmp_path_factory):
    """``(workdir, out_dir, metadata)`` of a tiny untrained network exported to fp32 TFLite and ONNX,
    checked on 8 random crops."""
    base = tmp_path_factory.mktemp("onnx_export")
    workdir = make_workdir(base / "run")
    out_dir = str(base / "out")
    options = export_lib.ExportOptions(formats=("fp32", "onnx"), gate_source="random", gate_samples=8)
    return workdir, out_dir, export_lib.export_run(workdir, out_dir, options, **QUIET)


@needs_onnx
def test_export_writes_pose_onnx_and_passes_parity(onnx_export):
    _, out_dir, meta = onnx_export
    assert sorted(os.listdir(out_dir)) == ["keras_preset", "metadata.json", "pose.onnx", "pose_fp32.tflite",
                                           "pose_network.keras", "saved_model"]
    row = meta["parity"]["pose.onnx"]
    assert row["passed"] and row["n"] == 8
    assert (row["uv_tolerance_px"], row["z_tolerance"]) == parity.FLOAT_BOUNDS
    assert row["uv_mean_px"] < 1e-3 and row["z_mean"] < 1e-4  # the same float graph: round-off only


@needs_onnx
def test_onnxruntime_matches_the_keras_model_by_name(onnx_export):
    """Independently of the export's own check: new crops, the restored Keras model, outputs by name."""
    import onnxruntime as ort

    workdir, out_dir, _ = onnx_export
    session = ort.InferenceSession(os.path.join(out_dir, "pose.onnx"), providers=["CPUExecutionProvider"])
    inputs = [(i.name, i.shape, i.type) for i in session.get_inputs()]
    assert inputs == [("image", [1, 32, 32, 3], "tensor(float)")]
    assert sorted((o.name, o.shape) for o in session.get_outputs()) == [("uv", [1, 21, 2]), ("z_rel", [1, 21])]
    _, network, _ = export_lib.load_run(workdir)
    images = np.random.default_rng(5).random((6, 32, 32, 3)).astype(np.float32)
    reference = parity.keras_reference(network.export_model(), images)
    outs = [session.run(["z_rel", "uv"], {"image": image[None]}) for image in images]
    uv, z = np.concatenate([o[1] for o in outs]), np.concatenate([o[0] for o in outs])
    assert np.abs(uv - reference["uv"]).max() < 1e-3 and np.abs(z - reference["z_rel"]).max() < 1e-4
    # The outputs depend on the crop far more than the tolerance, so matching them is not trivial.
    assert np.ptp(reference["uv"], axis=0).max() > 1e-2 and np.ptp(reference["z_rel"], axis=0).max() > 1e-3


@needs_onnx
def test_metadata_lists_pose_onnx(onnx_export):
    import onnx as onnx_lib

    _, out_dir, meta = onnx_export
    with open(os.path.join(out_dir, "metadata.json")) as f:
        assert json.load(f) == json.loads(json.dumps(meta))
    record = meta["files"]["onnx"]
    with open(os.path.join(out_dir, record["path"]), "rb") as f:
        data = f.read()
    assert record == {"path": "pose.onnx", "size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    info = meta["onnx"]
    assert info["opset"] == onnx.OPSET == 15
    model = onnx_lib.load_model_from_string(data)
    assert sum(info["ops"].values()) == len(model.graph.node) and info["ops"]["Conv"] > 10
    assert info["ops"]["Exp"] == 1 and {n.domain for n in model.graph.node} == {""}  # ONNX ops only
    assert info["converter"].startswith("tf2onnx ") and info["checked_with"].startswith("onnxruntime ")
    assert meta["export_settings"]["formats"] == ["fp32", "onnx"] and "onnx" not in meta["tflite_ops"]


@needs_onnx
def test_benchmark_times_onnx_beside_tflite(onnx_export):
    _, out_dir, _ = onnx_export
    models = {"pose.onnx": os.path.join(out_dir, "pose.onnx"),
              "pose_fp32.tflite": os.path.join(out_dir, "pose_fp32.tflite")}
    rows = benchmark.benchmark(models, threads=(1, 2), runs=6, warmup=1, rounds=2)
    assert [(r["label"], r["runtime"], r["threads"]) for r in rows] == [
        ("pose.onnx", "onnxruntime", 1), ("pose_fp32.tflite", "litert", 1),
        ("pose.onnx", "onnxruntime", 2), ("pose_fp32.tflite", "litert", 2)]
    for r in rows:
        assert r["runs"] == 6 and 0 < r["median_ms"] <= r["p90_ms"] and r["input_shape"] == [1, 32, 32, 3]
    # The bound output buffers hold the model's outputs for the fixed input after a timed call.
    runner = benchmark._OnnxRuntime(models["pose.onnx"], 1)
    runner.invoke()
    image, first_output = runner._values[0].numpy(), runner._values[1].numpy()
    expected = parity.run_onnx(models["pose.onnx"], image)
    assert np.array_equal(first_output, expected[runner.session.get_outputs()[0].name])


@needs_onnx
def test_failed_onnx_parity_fails_the_export(tmp_path, monkeypatch):
    real = parity.run_onnx

    def shifted(*args, **kwargs):  # a converter that moved every keypoint by 1 px
        out = real(*args, **kwargs)
        return dict(out, uv=out["uv"] + np.float32(1.0 / np.sqrt(2)))

    monkeypatch.setattr(parity, "run_onnx", shifted)
    workdir = make_workdir(tmp_path / "run")
    options = export_lib.ExportOptions(formats=("onnx",), gate_source="random", gate_samples=2)
    with pytest.raises(ExportError, match=r"^export gate failed: pose.onnx: raw uv mean 1.000 px \(sanity bound "
                                          r"0.5\)"):
        export_lib.export_run(workdir, str(tmp_path / "out"), options, **QUIET)
    assert not os.path.exists(tmp_path / "out") and not os.path.exists(tmp_path / "out.partial")


class _Tail(tf.Module):
    """image [1, 8, 8, 3] -> conv -> softmax over 64 cells -> expectation; ``op`` on the result."""

    def __init__(self, op=None, outputs=("uv", "z_rel")):
        self.w = tf.Variable(np.random.default_rng(0).normal(size=(3, 3, 3, 2)).astype(np.float32))
        self.op, self.outputs = op or tf.identity, outputs

    @tf.function(input_signature=[tf.TensorSpec((1, 8, 8, 3), tf.float32, name="image")])
    def serve(self, image):
        flat = tf.reshape(tf.nn.conv2d(image, self.w, 1, "SAME"), (1, 64, 2))
        p = tf.nn.softmax(flat, axis=1)
        cells = tf.range(64, dtype=tf.float32)[None, :, None]  # built in the graph: a captured eager
        uv = self.op(tf.reduce_sum(p * cells, axis=1) / 64.0)  # constant would become an ONNX input
        return dict(zip(self.outputs, (uv, tf.reduce_sum(p * flat, axis=1))))


def _save(module, path):
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return str(path)


@needs_onnx
def test_convert_small_model(tmp_path):
    import onnxruntime as ort

    module = _Tail()
    model = onnx.convert(_save(module, tmp_path / "sm"))
    image = np.random.default_rng(1).random((1, 8, 8, 3)).astype(np.float32)
    expected = module.serve(tf.constant(image))
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    got = session.run(["uv", "z_rel"], {"image": image})
    np.testing.assert_allclose(got[0], expected["uv"].numpy(), atol=1e-5)
    np.testing.assert_allclose(got[1], expected["z_rel"].numpy(), atol=1e-5)
    summary = onnx.summary(model)
    assert summary["opset"] == 15 and summary["ops"]["Conv"] == 1 and summary["ops"]["Softmax"] == 1


@needs_onnx
def test_ops_without_onnx_equivalent_are_an_error(tmp_path):
    # tf2onnx keeps an op it cannot convert under its TensorFlow name (here Erfinv); onnxruntime would
    # refuse the file, so the conversion fails instead, naming the op.
    path = _save(_Tail(op=tf.math.erfinv), tmp_path / "erfinv")
    with pytest.raises(ExportError, match=r"^ONNX: the model needs ops that ONNX opset 15 does not have "
                                          r"\(Erfinv\); tf2onnx has no conversion for them$"):
        onnx.convert(path)


@needs_onnx
def test_outputs_other_than_the_signature_are_an_error(tmp_path):
    path = _save(_Tail(outputs=("uv", "depth")), tmp_path / "renamed")
    with pytest.raises(ExportError, match=r"^ONNX: inputs \[\('image', \[1, 8, 8, 3\]\)\] / outputs "
                                          r".*'depth'.* differ from the SavedModel's image \[1, 8, 8, 3\] -> "
                                          r"uv, z_rel$"):
        onnx.convert(path)


@needs_onnx
@pytest.mark.slow
def test_cli_exports_onnx_and_benchmarks_it(tmp_path):
    """``tools/export_model.py --formats fp32,onnx`` then ``tools/benchmark_tflite.py`` (two
    TensorFlow start-ups, ~15 s idle)."""
    workdir = make_workdir(tmp_path / "run")
    out_dir = str(tmp_path / "out")
    args = ["--workdir", workdir, "--out_dir", out_dir, "--formats", "fp32,onnx", "--gate_source", "random",
            "--gate_samples", "4"]
    export = subprocess.run([sys.executable, "tools/export_model.py"] + args, cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert export.returncode == 0, export.stderr[-2000:]
    assert any(line.startswith("pose.onnx ") and line.endswith("yes") for line in export.stdout.splitlines())
    args = ["--export_dir", out_dir, "--runs", "50", "--warmup", "2", "--threads", "1"]
    bench = subprocess.run([sys.executable, "tools/benchmark_tflite.py"] + args, cwd=ROOT, capture_output=True,
                           text=True, timeout=600)
    assert bench.returncode == 0, bench.stderr[-2000:]
    assert "| pose.onnx | onnxruntime | 32×32 |" in bench.stdout
    assert "| pose_fp32.tflite | litert | 32×32 |" in bench.stdout
