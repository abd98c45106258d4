"""``metadata.json``: everything a device team needs to feed an artefact and read its outputs.

Contents: the input (name, shape, dtype, colour order, value range, how the crop is made), the outputs
(shapes, units, frames), the keypoints (names in order, root, reference bone, skeleton, hand side), the
source run (workdir, checkpoint, its full config), each file's size and sha256, the gate's figures per
artefact (``gate``: task error on the real test split with its paired interval, or the parity fallback;
``parity``: the raw differences alone), the ops of each ``.tflite`` and (when exported) of ``pose.onnx``
with its opset, and the library versions that wrote them.

A SavedModel is a folder: its ``sha256`` is the hash of the sorted ``(relative path, file sha256)`` lines
of every file in it, so it is reproducible from the files alone.
"""

import datetime
import hashlib
import json
import os

from awh_tf.keypoints import KEYPOINT_NAMES, NUM_KEYPOINTS, REF_BONE, ROOT, SKELETON_EDGES

FORMAT_VERSION = 1

INPUT_DOC = {
    "name": "image", "dtype": "float32", "layout": "NHWC", "color": "RGB",
    "range": [0.0, 1.0],
    "normalisation": "pixel / 255; nothing else (the model maps [0, 1] to [-1, 1] itself)",
    "crop": ("square around the hand in the original image, resized to S×S with bilinear sampling "
             "(cv2.warpAffine); with centre c and side L in image px, p_crop = (S / L)·(p_image − c) + "
             "(S − 1)/2; pixel centres at integer coordinates; outside the image is black"),
    "hand": ("left hands (the network is trained on left hands): mirror a right-hand crop horizontally "
             "before the call and map u back with u = S − 1 − u'"),
}


def _sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_record(path, root):
    """``{"path": relative to root, "size_bytes", "sha256"}`` of a file or a folder (see module doc)."""
    rel = os.path.relpath(path, root)
    if not os.path.isdir(path):
        return {"path": rel, "size_bytes": os.path.getsize(path), "sha256": _sha256_file(path)}
    lines, size = [], 0
    for folder, _, files in os.walk(path):
        for name in files:
            full = os.path.join(folder, name)
            size += os.path.getsize(full)
            lines.append(f"{os.path.relpath(full, path)} {_sha256_file(full)}")
    digest = hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()
    return {"path": rel, "size_bytes": size, "sha256": digest}


def outputs_doc(input_size):
    """The outputs' shapes, units and frames."""
    return {
        "uv": {"shape": [1, NUM_KEYPOINTS, 2], "dtype": "float32",
               "units": f"px in the {input_size}×{input_size} crop frame (u right, v down, pixel centres "
                        "at integers); soft-argmax of a latent heatmap"},
        "z_rel": {"shape": [1, NUM_KEYPOINTS], "dtype": "float32",
                  "units": "(Z_k − Z_root) / |P_0 − P_12|: depth relative to the palm, camera +Z "
                           "forward, in units of the reference bone (palm → middle MCP)"},
        "to_3d": ("with the crop's intrinsics K_crop = A·K (A the image→crop affine) and the reference "
                  "bone length s mm: Z_root/s from the quadratic of Iqbal et al. with the factor 2 in b "
                  "(export/litert_infer.py: solve_root_depth), Z_k = (Z_root/s + z_rel_k)·s, "
                  "(X_k, Y_k) = Z_k·K⁻¹(u_k, v_k, 1)"),
    }


def keypoints_doc():
    return {"count": NUM_KEYPOINTS, "names": list(KEYPOINT_NAMES), "root": ROOT,
            "reference_bone": list(REF_BONE), "skeleton_edges": [list(e) for e in SKELETON_EDGES],
            "order": "RHD per-hand order with 0 = palm centre; each finger tip → MCP (thumb tip → CMC)"}


def versions():
    import ai_edge_litert
    import keras
    import numpy as np
    import tensorflow as tf

    return {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
            "ai_edge_litert": getattr(ai_edge_litert, "__version__", "unknown")}


def build_metadata(config, workdir, checkpoint, input_size, files, parity, tflite_info, settings,
                   onnx_info=None, gate=None):
    """The metadata dict.

    Args:
      config: the run's Config.  workdir, checkpoint: where the weights came from.  input_size: S px.
      files: ``{artefact: file_record}``.  parity: ``{artefact: Parity.to_dict()}``.
      gate: ``export_lib``'s gate record (mode, crops, reference EPE, tolerances, ``artefacts``: each
        artefact's ``GateResult.to_dict()``), or None (then the key is absent).
      tflite_info: ``{format: op_summary}``.  settings: the export's own options (formats, sources, …).
      onnx_info: ``awh_tf.export.onnx.summary`` of ``pose.onnx`` (opset, ops, converter and runtime
        versions), or None when no ONNX file was exported (then the key is absent).
    """
    meta = {
        "format_version": FORMAT_VERSION,
        "model": "AW Hourglass RGB path (stacked hourglass + latent 2.5D head), awh_tf",
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "signature": "serving_default",
        "input": dict(INPUT_DOC, shape=[1, input_size, input_size, 3]),
        "outputs": outputs_doc(input_size),
        "keypoints": keypoints_doc(),
        "source": {"workdir": os.path.abspath(workdir), "checkpoint": os.path.abspath(checkpoint),
                   "config": config.to_dict()},
        "files": files,
        "gate": gate,
        "parity": parity,
        "tflite_ops": tflite_info,
        "export_settings": settings,
        "versions": versions(),
    }
    if gate is None:
        del meta["gate"]
    if onnx_info is not None:
        meta["onnx"] = onnx_info
    return meta


def write_metadata(metadata, path):
    with open(path, "w") as f:
        json.dump(metadata, f, indent=2, sort_keys=False)
        f.write("\n")
