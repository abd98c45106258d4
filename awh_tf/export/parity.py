"""Each artefact against the Keras model on the same crops: the raw-output half of the export's gate.

Legend: N crops, K = 21 keypoints. ``uv`` differences are Euclidean distances in crop px per keypoint;
``z_rel`` differences are absolute, in reference-bone units (palm → middle MCP, about 40 mm on an adult
hand, so 0.01 units ≈ 0.4 mm). Mean and max are over all N·K keypoints.

These are **sanity bounds**, not the accuracy gate (that is ``awh_tf.export.task_gate``: the task error on
the real test split). Raw parity ranks quantised files differently from the task — a few crops whose
heatmaps have two similar modes carry its maxima — so its bounds are loose, there to catch a broken
conversion: float artefacts 0.5 px (their round-off is ≤ 0.013 px, fp16 included), quantised files
(dynamic_int8, int8) 2 px (the trained demo's int8 file: 0.61 px mean; broken conversions seen here were
5–36 px off). The z_rel bounds (0.1 / 0.4 units) keep the ratio of the earlier bounds: on the demo's 64-px
crops 1 px ≈ 4 mm and 1 unit ≈ 45 mm, so they are about twice the uv bounds in mm and z_rel fails on its
own only when the depth path is broken.
"""

import dataclasses

import numpy as np

from awh_tf.export.errors import ExportError

QUANTISED_KINDS = ("dynamic_int8", "int8")
FLOAT_BOUNDS = (0.5, 0.1)  # (uv mean px, z_rel mean units)
QUANTISED_BOUNDS = (2.0, 0.4)


def sanity_bounds(kind):
    """``(uv mean px, z_rel mean units)`` an artefact of ``kind`` (a TFLite format, ``onnx``,
    ``saved_model``, ``keras``, ``preset``) must stay within."""
    return QUANTISED_BOUNDS if kind in QUANTISED_KINDS else FLOAT_BOUNDS


@dataclasses.dataclass(frozen=True)
class Parity:
    """One artefact's differences from the Keras model over ``n`` crops (px for uv, bone units for z)."""

    name: str
    n: int
    uv_mean_px: float
    uv_max_px: float
    z_mean: float
    z_max: float
    uv_tolerance_px: float
    z_tolerance: float

    @property
    def passed(self):
        return self.uv_mean_px <= self.uv_tolerance_px and self.z_mean <= self.z_tolerance

    def to_dict(self):
        return dict(dataclasses.asdict(self), passed=self.passed)


def keras_reference(model, images, batch_size=32):
    """The Keras model's ``{"uv": [N, K, 2], "z_rel": [N, K]}`` on ``images`` ``[N, S, S, 3]``."""
    out = model.predict(images, batch_size=batch_size, verbose=0)
    return {name: np.asarray(out[name], np.float32) for name in ("uv", "z_rel")}


def run_tflite(model_path, images, num_threads=2):
    """Runs a ``.tflite`` (``ai_edge_litert``, signature ``serving_default``) on each crop.

    Returns ``{"uv": [N, K, 2], "z_rel": [N, K]}`` numpy float32.
    """
    from ai_edge_litert.interpreter import Interpreter  # the runtime a device uses, not tf.lite

    runner = Interpreter(model_path=str(model_path), num_threads=num_threads).get_signature_runner()
    outs = [runner(image=np.ascontiguousarray(image[None], np.float32)) for image in images]
    return {name: np.concatenate([o[name] for o in outs], axis=0) for name in ("uv", "z_rel")}


def run_onnx(model_path, images, num_threads=2):
    """Runs ``pose.onnx`` (onnxruntime, CPU; inputs and outputs by name) on each crop at batch 1.

    Returns ``{"uv": [N, K, 2], "z_rel": [N, K]}`` numpy float32.
    """
    from awh_tf.export import onnx

    session = onnx.session(model_path, num_threads)
    names = list(onnx.OUTPUT_NAMES)
    outs = [session.run(names, {onnx.INPUT_NAME: np.ascontiguousarray(image[None], np.float32)})
            for image in images]
    return {name: np.concatenate([o[i] for o in outs], axis=0) for i, name in enumerate(onnx.OUTPUT_NAMES)}


def compare(name, predicted, reference, kind=None):
    """Differences of ``predicted`` from ``reference`` (both ``{"uv", "z_rel"}``) as a :class:`Parity`.

    ``kind`` picks the bounds (:func:`sanity_bounds`; default: ``name``).
    """
    uv, z = np.asarray(predicted["uv"], np.float64), np.asarray(predicted["z_rel"], np.float64)
    if uv.shape != reference["uv"].shape or z.shape != reference["z_rel"].shape:
        raise ExportError(f"{name}: output shapes {uv.shape}/{z.shape} differ from the Keras model's "
                          f"{reference['uv'].shape}/{reference['z_rel'].shape}")
    uv = np.linalg.norm(uv - reference["uv"], axis=-1)  # [N, K] px
    z = np.abs(z - reference["z_rel"])  # [N, K] bone units
    uv_tol, z_tol = sanity_bounds(kind or name)
    return Parity(name=name, n=int(uv.shape[0]), uv_mean_px=float(uv.mean()), uv_max_px=float(uv.max()),
                  z_mean=float(z.mean()), z_max=float(z.max()), uv_tolerance_px=uv_tol, z_tolerance=z_tol)
