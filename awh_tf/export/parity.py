"""Each artefact against the Keras model on the same crops: the export's self-check.

Legend: N crops, K = 21 keypoints. ``uv`` differences are Euclidean distances in crop px per keypoint;
``z_rel`` differences are absolute, in reference-bone units (palm → middle MCP, about 40 mm on an adult
hand, so 0.01 units ≈ 0.4 mm). Mean and max are over all N·K keypoints.

Tolerances (mean over keypoints): the issue's uv bounds — float formats (float ``.tflite`` files and
``pose.onnx``) 0.1 px, int8 0.5 px — and our z_rel bounds, 0.02 / 0.1 units. On the demo's 64-px crops
1 px ≈ 4 mm and 1 unit ≈ 45 mm, so the z_rel bounds are about twice the uv bounds in mm: quantisation
noise (which moves z_rel about a tenth as much, in these units, as uv) trips the uv bound first, and z_rel
fails on its own only when the depth path is broken.
"""

import dataclasses

import numpy as np

from awh_tf.export.errors import ExportError

# artefact kind -> (uv mean px, z_rel mean units)
TOLERANCES = {"saved_model": (0.1, 0.02), "fp32": (0.1, 0.02), "fp16": (0.1, 0.02),
              "dynamic_int8": (0.1, 0.02), "int8": (0.5, 0.1), "onnx": (0.1, 0.02)}


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

    ``kind`` picks the tolerance from :data:`TOLERANCES` (default: ``name``).
    """
    uv, z = np.asarray(predicted["uv"], np.float64), np.asarray(predicted["z_rel"], np.float64)
    if uv.shape != reference["uv"].shape or z.shape != reference["z_rel"].shape:
        raise ExportError(f"{name}: output shapes {uv.shape}/{z.shape} differ from the Keras model's "
                          f"{reference['uv'].shape}/{reference['z_rel'].shape}")
    uv = np.linalg.norm(uv - reference["uv"], axis=-1)  # [N, K] px
    z = np.abs(z - reference["z_rel"])  # [N, K] bone units
    uv_tol, z_tol = TOLERANCES[kind or name]
    return Parity(name=name, n=int(uv.shape[0]), uv_mean_px=float(uv.mean()), uv_max_px=float(uv.max()),
                  z_mean=float(z.mean()), z_max=float(z.max()), uv_tolerance_px=uv_tol, z_tolerance=z_tol)


def format_table(results):
    """A fixed-width table of :class:`Parity` rows (one line each)."""
    lines = [f"{'artefact':<26} {'n':>4} {'uv mean px':>11} {'uv max px':>10} {'z mean':>8} {'z max':>8}"
             f"  {'tolerance':>15}  ok"]
    for r in results:
        lines.append(f"{r.name:<26} {r.n:>4} {r.uv_mean_px:>11.4f} {r.uv_max_px:>10.4f} {r.z_mean:>8.4f} "
                     f"{r.z_max:>8.4f}  {r.uv_tolerance_px:>6.2f}px/{r.z_tolerance:<6.3f}  "
                     f"{'yes' if r.passed else 'NO'}")
    return "\n".join(lines)


def check(results):
    """Raises ExportError naming every artefact above its tolerance."""
    failed = [r for r in results if not r.passed]
    if failed:
        what = "; ".join(f"{r.name}: uv mean {r.uv_mean_px:.3f} px (max {r.uv_tolerance_px}), z_rel mean "
                         f"{r.z_mean:.4f} (max {r.z_tolerance})" for r in failed)
        raise ExportError(f"parity check failed against the Keras model: {what}")
