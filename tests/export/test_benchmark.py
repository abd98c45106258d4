"""The LiteRT benchmark on the session's fp32 export, and the tool's model collection."""

import importlib.util
import os

import pytest

from awh_tf.export import benchmark

TOOL = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "benchmark_tflite.py")


def test_benchmark_rows(fp32_export):
    _, out_dir, _ = fp32_export
    path = os.path.join(out_dir, "pose_fp32.tflite")
    rows = benchmark.benchmark({"a": path, "b": path}, threads=(1, 2), runs=7, warmup=1, rounds=3)
    assert [(r["label"], r["threads"]) for r in rows] == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    for r in rows:
        assert r["runs"] == 7 and 0 < r["median_ms"] <= r["p90_ms"] and r["runtime"] == "litert"
        assert r["size_bytes"] == os.path.getsize(path) and r["input_shape"] == [1, 32, 32, 3]
    table = benchmark.format_table(rows).splitlines()
    assert len(table) == 6 and table[2].startswith("| a | litert | 32×32 |")


def test_benchmark_errors(tmp_path):
    with pytest.raises(ValueError, match=r"x: .*missing.tflite: no such file"):
        benchmark.benchmark({"x": str(tmp_path / "missing.tflite")})
    with pytest.raises(ValueError, match=r"need runs >= 1"):
        benchmark.benchmark({}, runs=0)


def test_tool_collects_models(tmp_path):
    spec = importlib.util.spec_from_file_location("benchmark_tflite", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    for name in ("pose_fp32.tflite", "pose_int8.tflite"):
        (tmp_path / name).write_bytes(b"")
    models = tool.collect_models(str(tmp_path), [], ["/x/hand_landmark_full.tflite"])
    assert list(models) == ["pose_fp32.tflite", "pose_int8.tflite", "anchor: hand_landmark_full.tflite"]
    # Another export's file of the same name is a row of its own, both labelled with their folders.
    other = tmp_path / "mobile"
    other.mkdir()
    (other / "pose_int8.tflite").write_bytes(b"")
    models = tool.collect_models(str(tmp_path), [str(other / "pose_int8.tflite")], [])
    assert list(models) == ["pose_fp32.tflite", f"{tmp_path.name}/pose_int8.tflite", "mobile/pose_int8.tflite"]
    with pytest.raises(ValueError, match=r"no .tflite or .onnx files there"):
        tool.collect_models(str(tmp_path / "empty"), [], [])
    # An exported pose.onnx is timed too (with onnxruntime), in name order with the .tflite files.
    (tmp_path / "pose.onnx").write_bytes(b"")
    assert list(tool.collect_models(str(tmp_path), [], [])) == ["pose.onnx", "pose_fp32.tflite", "pose_int8.tflite"]
