"""LiteRT latency and size of ``.tflite`` files (``ai_edge_litert`` only: importing this starts no
TensorFlow).

Method: for each thread count, every model gets its own interpreter (XNNPACK, the default CPU delegate),
is warmed up, then timed for ``runs`` single ``invoke()`` calls on a fixed random input. The timed calls
are **interleaved** across models in ``rounds`` blocks, so a load change on a shared machine hits every
model alike and the side-by-side comparison stays fair even when absolute figures drift. Reported:
median and 90th percentile in ms, file size in bytes.
"""

import os
import time

import numpy as np


def _interpreter(path, num_threads):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
    interpreter.allocate_tensors()
    rng = np.random.default_rng(0)
    for detail in interpreter.get_input_details():
        dtype, shape = detail["dtype"], detail["shape"]
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            data = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
        else:
            data = rng.random(shape).astype(dtype)
        interpreter.set_tensor(detail["index"], data)
    return interpreter


def _input_shape(interpreter):
    return [int(d) for d in interpreter.get_input_details()[0]["shape"]]


def _timed_invokes(interpreter, n):
    times = np.empty(n)
    for i in range(n):
        start = time.perf_counter()
        interpreter.invoke()
        times[i] = time.perf_counter() - start
    return times * 1e3  # ms


def benchmark(models, threads=(1, 2), runs=50, warmup=10, rounds=5):
    """Times every model at every thread count.

    Args:
      models: ``{label: path}`` of ``.tflite`` files (ours and anchors alike).
      threads: thread counts.  runs: timed invokes per model and thread count (>= 1).
      warmup: untimed invokes first.  rounds: interleaved blocks the runs are split into.
    Returns:
      list of dicts ``label, path, size_bytes, threads, runs, median_ms, p90_ms, input_shape``.
    """
    if runs < 1 or warmup < 0 or rounds < 1:
        raise ValueError(f"benchmark: need runs >= 1, warmup >= 0, rounds >= 1; got {runs}, {warmup}, "
                         f"{rounds}")
    for label, path in models.items():
        if not os.path.isfile(path):
            raise ValueError(f"{label}: {path}: no such file")
    rows = []
    for n in threads:
        interpreters = {label: _interpreter(path, n) for label, path in models.items()}
        times = {label: [] for label in models}
        for interpreter in interpreters.values():
            _timed_invokes(interpreter, warmup)
        blocks = np.diff(np.linspace(0, runs, rounds + 1).round().astype(int))
        for block in blocks:
            for label, interpreter in interpreters.items():
                times[label].append(_timed_invokes(interpreter, int(block)))
        for label, path in models.items():
            t = np.concatenate(times[label])
            rows.append({"label": label, "path": str(path), "size_bytes": os.path.getsize(path),
                         "threads": n, "runs": int(t.size), "median_ms": float(np.median(t)),
                         "p90_ms": float(np.percentile(t, 90)),
                         "input_shape": _input_shape(interpreters[label])})
    return rows


def format_table(rows):
    """A Markdown table of :func:`benchmark` rows."""
    lines = ["| model | input | size | threads | median ms | p90 ms |", "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        shape = "×".join(str(d) for d in r["input_shape"][1:3])
        lines.append(f"| {r['label']} | {shape} | {r['size_bytes'] / 1e6:.2f} MB | {r['threads']} | "
                     f"{r['median_ms']:.2f} | {r['p90_ms']:.2f} |")
    return "\n".join(lines)
