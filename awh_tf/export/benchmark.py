"""Latency and size of ``.tflite`` files (LiteRT) and ``.onnx`` files (onnxruntime) at batch 1
(``ai_edge_litert`` / ``onnxruntime`` only: importing this starts no TensorFlow).

Method: for each thread count, every model gets its own interpreter (``.tflite``: XNNPACK, the default CPU
delegate) or session (``.onnx``: onnxruntime's CPU provider, all graph optimisations, that many intra-op
threads), is warmed up, then timed for ``runs`` single calls on a fixed random input: ``invoke()``, or
``run_with_iobinding`` with the input and the outputs bound to preallocated buffers, so neither call
copies tensors in or out. The timed calls are **interleaved** across models in ``rounds`` blocks, so a
load change on a shared machine hits every model alike and the side-by-side comparison stays fair even
when absolute figures drift. Reported: median and 90th percentile in ms, file size in bytes, runtime.
"""

import importlib.util
import os
import time

import numpy as np

from awh_tf.export import onnx


def _random(shape, dtype, rng):
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    return rng.random(shape).astype(dtype)


class _LiteRT:
    """A ``.tflite`` ready to ``invoke()`` on a fixed random input."""

    runtime = "litert"

    def __init__(self, path, num_threads):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        self.interpreter.allocate_tensors()
        rng = np.random.default_rng(0)
        for detail in self.interpreter.get_input_details():
            self.interpreter.set_tensor(detail["index"], _random(detail["shape"], detail["dtype"], rng))
        self.input_shape = [int(d) for d in self.interpreter.get_input_details()[0]["shape"]]
        self.invoke = self.interpreter.invoke


class _OnnxRuntime:
    """A ``.onnx`` (static shapes, float inputs) ready to run on a fixed random input, its input and
    outputs bound to preallocated numpy buffers."""

    runtime = "onnxruntime"

    def __init__(self, path, num_threads):
        import onnxruntime as ort

        self.session = onnx.session(path, num_threads)
        self.binding = self.session.io_binding()
        rng = np.random.default_rng(0)
        args = self.session.get_inputs() + self.session.get_outputs()
        if any(a.type != "tensor(float)" or not all(isinstance(d, int) for d in a.shape) for a in args):
            raise ValueError(f"{path}: the benchmark times models with static float32 inputs and outputs; "
                             f"got {[(a.name, a.type, a.shape) for a in args]}")
        self._values = []  # the bound buffers must outlive the binding
        for arg in self.session.get_inputs():
            self._values.append(ort.OrtValue.ortvalue_from_numpy(_random(arg.shape, np.float32, rng)))
            self.binding.bind_ortvalue_input(arg.name, self._values[-1])
        for arg in self.session.get_outputs():
            self._values.append(ort.OrtValue.ortvalue_from_numpy(np.zeros(arg.shape, np.float32)))
            self.binding.bind_ortvalue_output(arg.name, self._values[-1])
        self.input_shape = list(self.session.get_inputs()[0].shape)

    def invoke(self):
        self.session.run_with_iobinding(self.binding)


def _runner(label, path, num_threads):
    if str(path).endswith(".onnx"):
        if importlib.util.find_spec("onnxruntime") is None:
            raise ValueError(f"{label}: {path}: timing an .onnx file needs onnxruntime ({onnx.INSTALL})")
        return _OnnxRuntime(path, num_threads)
    return _LiteRT(path, num_threads)


def _timed_invokes(runner, n):
    times = np.empty(n)
    for i in range(n):
        start = time.perf_counter()
        runner.invoke()
        times[i] = time.perf_counter() - start
    return times * 1e3  # ms


def benchmark(models, threads=(1, 2), runs=50, warmup=10, rounds=5):
    """Times every model at every thread count.

    Args:
      models: ``{label: path}`` of ``.tflite`` and ``.onnx`` files (ours and anchors alike).
      threads: thread counts.  runs: timed invokes per model and thread count (>= 1).
      warmup: untimed invokes first.  rounds: interleaved blocks the runs are split into.
    Returns:
      list of dicts ``label, path, runtime, size_bytes, threads, runs, median_ms, p90_ms, input_shape``.
    """
    if runs < 1 or warmup < 0 or rounds < 1:
        raise ValueError(f"benchmark: need runs >= 1, warmup >= 0, rounds >= 1; got {runs}, {warmup}, "
                         f"{rounds}")
    for label, path in models.items():
        if not os.path.isfile(path):
            raise ValueError(f"{label}: {path}: no such file")
    rows = []
    for n in threads:
        runners = {label: _runner(label, path, n) for label, path in models.items()}
        times = {label: [] for label in models}
        for runner in runners.values():
            _timed_invokes(runner, warmup)
        blocks = np.diff(np.linspace(0, runs, rounds + 1).round().astype(int))
        for block in blocks:
            for label, runner in runners.items():
                times[label].append(_timed_invokes(runner, int(block)))
        for label, path in models.items():
            t = np.concatenate(times[label])
            rows.append({"label": label, "path": str(path), "runtime": runners[label].runtime,
                         "size_bytes": os.path.getsize(path), "threads": n, "runs": int(t.size),
                         "median_ms": float(np.median(t)), "p90_ms": float(np.percentile(t, 90)),
                         "input_shape": runners[label].input_shape})
    return rows


def format_table(rows):
    """A Markdown table of :func:`benchmark` rows."""
    lines = ["| model | runtime | input | size | threads | median ms | p90 ms |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        shape = "×".join(str(d) for d in r["input_shape"][1:3])
        lines.append(f"| {r['label']} | {r['runtime']} | {shape} | {r['size_bytes'] / 1e6:.2f} MB | "
                     f"{r['threads']} | {r['median_ms']:.2f} | {r['p90_ms']:.2f} |")
    return "\n".join(lines)
