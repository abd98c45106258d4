"""The RGB-only path on user images: image (+ optional hand box) → crop → 2.5D pose → image px (+ 3D).

A hand crop is used whole: the square of side ``max(W, H)`` centred on the image (zero padding for a
non-square image) is resized to the network's S×S input. A full image comes with a hand box
``(x, y, w, h)`` in px (top-left pixel, width, height; the box covers pixels ``x .. x+w-1``), which is
treated like the keypoints' bounding box of training crops: the square of side
``max(w, h)·(1 + 2·crop_margin)`` around the box centre (``awh_tf.data.pipeline`` makes its crops the
same way), so the hand fills the input as it did in training. The box must lie inside the image.
Without a box, a hand detector finds the boxes (:func:`predict_full_image`, ``awh_tf.detection``): every
hand it finds is predicted in its box, then again in the box of that pose's keypoints.

The network was trained on left hands (right ones are mirrored, DESIGN.md §2); ``hand="right"`` mirrors
the image first and the predicted u back (``u = W − 1 − u'``); ``z_rel`` is unchanged by the mirror.

Outputs (:func:`predict_image`): the 21 named keypoints with ``uv`` in **image** px (the crop's affine
inverted), ``z_rel`` in reference-bone units (Eq. 7), and — when the image's intrinsics and the length of
the reference bone palm → middle MCP are given — ``xyz_mm`` in the camera frame, with the root depth
recovered by ``geometry.solve_root_depth`` (no ground truth needed).
"""

import dataclasses
import json
import os

import cv2
import numpy as np

from awh_tf import geometry
from awh_tf.data import crop
from awh_tf.evaluation import plots
from awh_tf.keypoints import KEYPOINT_NAMES, mirror_uv


class PredictError(ValueError):
    """A user image that cannot be processed; the message is one line naming the file."""


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One image's result. ``record`` is the JSON-ready dict; ``overlay`` uint8 [H, W, 3] RGB."""

    record: dict
    overlay: np.ndarray


def parse_bbox(text):
    """``"x,y,w,h"`` (px) → a tuple of 4 floats; ValueError naming ``--bbox`` otherwise."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or not all(np.isfinite(values)) or values[2] <= 0 or values[3] <= 0:
        raise ValueError(f"--bbox: expected x,y,w,h in px with w, h > 0, got {text!r}")
    return values


def parse_intrinsics(text):
    """``"fx,fy,cx,cy"`` (px) → ``K`` [3, 3] float64; ValueError naming ``--intrinsics`` otherwise."""
    try:
        fx, fy, cx, cy = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--intrinsics: expected fx,fy,cx,cy in px, got {text!r}") from None
    if not (np.isfinite([fx, fy, cx, cy]).all() and fx > 0 and fy > 0):
        raise ValueError(f"--intrinsics: need finite values and fx, fy > 0, got {text!r}")
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def read_image(path):
    """Any image OpenCV decodes (PNG, JPEG, …) as uint8 [H, W, 3] RGB; PredictError if it cannot."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise PredictError(f"{path}: cannot read file ({e.strerror or e})") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise PredictError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def check_box(image_shape, bbox):
    """PredictError unless the box ``(x, y, w, h)`` px lies inside an image of ``image_shape`` (H, W, …)."""
    h, w = image_shape[:2]
    x, y, bw, bh = bbox
    if x < 0 or y < 0 or x + bw > w or y + bh > h:
        raise PredictError(f"box {x:g},{y:g},{bw:g},{bh:g} lies outside the {w}x{h} image")


def input_affine(image_shape, input_size, bbox=None, crop_margin=0.2):
    """The affine ``A`` [3, 3] from image px to the network's input px (module docstring).

    Args:
      image_shape: ``(H, W, ...)``.  input_size: S.  bbox: ``(x, y, w, h)`` px or None (whole image).
      crop_margin: the training pipeline's ``crop_margin``.
    Raises:
      PredictError: the box does not lie inside the image.
    """
    h, w = image_shape[:2]
    if bbox is None:
        return crop.crop_affine(((w - 1) / 2.0, (h - 1) / 2.0), max(w, h), input_size)
    check_box(image_shape, bbox)
    x, y, bw, bh = bbox
    centre = (x + (bw - 1) / 2.0, y + (bh - 1) / 2.0)
    return crop.crop_affine(centre, max(bw, bh) * (1.0 + 2.0 * crop_margin), input_size)


def run_network(pose_network, image):
    """``image`` float32 [S, S, 3] in [0, 1] → ``(uv [21, 2] input px, z_rel [21])`` as float64."""
    out = pose_network(image[None].astype(np.float32), training=False)
    return np.asarray(out["uv"][0], np.float64), np.asarray(out["z_rel"][0], np.float64)


def pose_3d(uv, z_rel, K, bone_length_mm):
    """3D from a 2.5D pose in image px with one known bone length (root depth solved, DESIGN.md §4).

    Returns:
      ``(xyz [21, 3] mm camera frame, root_depth_mm)`` with ``Z_k = root_depth_mm + z_rel_k·bone_length_mm``
      (so ``root_depth_mm`` is the palm's depth when the predicted palm ``z_rel`` is 0), or
      ``(None, None)`` when the root-depth quadratic has no real solution for this pose.
    """
    root = geometry.solve_root_depth(uv[None], z_rel[None], K, on_invalid="nan")[0]
    if not np.isfinite(root) or root <= 0:
        return None, None
    root_mm = float(root) * bone_length_mm
    return geometry.xyz_from_25d(uv, z_rel, K, bone_length_mm, root_mm).astype(np.float64), root_mm


def predict_box(pose_network, config, image, box=None, hand="left"):
    """The pose of the hand in ``box`` ``(x, y, w, h)`` px (None: the whole image is the crop).

    Args:
      pose_network: the network, or any callable ``(images, training=False) -> {"uv", "z_rel", ...}``.
      image: uint8 [H, W, 3] RGB.  hand: ``left`` or ``right`` (mirrored for the network and back).
    Returns:
      ``(uv [21, 2] image px, z_rel [21])`` float64.
    Raises:
      PredictError: the box does not lie inside the image.
    """
    width = image.shape[1]
    seen = image
    if hand == "right":  # the network only knows left hands
        seen = np.ascontiguousarray(image[:, ::-1])
        box = None if box is None else (width - box[0] - box[2], box[1], box[2], box[3])
    A = input_affine(image.shape, config.model.input_size, box, config.pipeline.crop_margin)
    net_in = crop.warp(seen, A, config.model.input_size).astype(np.float32) / 255.0
    uv_in, z_rel = run_network(pose_network, net_in)
    uv = crop.apply_affine(np.linalg.inv(A), uv_in).astype(np.float64)
    return (mirror_uv(uv, width) if hand == "right" else uv), z_rel


def pose_function(pose_network, config):
    """:func:`predict_box` as the ``pose_fn(image, box, right_hand)`` of ``awh_tf.detection``, with the
    network traced once (an eager call per crop costs ~10x more on a video)."""
    import tensorflow as tf

    forward = tf.function(lambda images: pose_network(images, training=False), reduce_retracing=True)
    network = lambda images, training=False: forward(tf.constant(images))  # noqa: E731
    return lambda image, box, right_hand: predict_box(network, config, image, box,
                                                      "right" if right_hand else "left")


def predict_image(pose_network, config, path, bbox=None, K=None, bone_length_mm=None, hand="left"):
    """Runs the RGB path on one image file (module docstring).

    Args:
      pose_network: the run's network.  config: the run's ``Config`` (input size, crop margin).
      path: image file.  bbox: ``(x, y, w, h)`` px or None.  K: [3, 3] intrinsics or None.
      bone_length_mm: palm → middle MCP length in mm or None.  hand: ``left`` or ``right``.
    Returns:
      :class:`Prediction`.
    Raises:
      PredictError: unreadable image or a box outside it.
    """
    _check_hand(hand)
    image = read_image(path)
    if bbox is not None:
        try:
            check_box(image.shape, bbox)  # in the user's coordinates, before any mirroring
        except PredictError as e:
            raise PredictError(f"{path}: {e}") from None
    uv, z_rel = predict_box(pose_network, config, image, bbox, hand)
    record = dict(image_fields(path, image.shape), **hand_fields(hand, bbox, uv, z_rel, K, bone_length_mm))
    return Prediction(record=record, overlay=plots.overlay_skeleton(image, uv, bbox))


def predict_full_image(pose_network, config, detector, path, K=None, bone_length_mm=None, hand="left",
                       refine_passes=1):
    """Every hand ``detector`` finds in an image file, each predicted in its box and re-cropped on its
    keypoints ``refine_passes`` times (``awh_tf.detection.full_image``).

    Returns:
      :class:`Prediction` whose record has the image fields and ``hands``: per hand the fields of
      :func:`hand_fields` plus ``detector_score`` and ``palm_box_xyxy``, best detection first.
    Raises:
      PredictError: unreadable image, or no hand found.
    """
    from awh_tf.detection import full_image

    _check_hand(hand)
    image = read_image(path)
    hands = full_image.detect_hands(detector, pose_function(pose_network, config), image, hand == "right",
                                    refine_passes)
    if not hands:
        raise PredictError(f"{path}: no hand found (pass --bbox x,y,w,h, or lower --min_detection_score)")
    records, overlay = [], image
    for found in hands:
        fields = hand_fields(hand, found.box, found.uv, found.z_rel, K, bone_length_mm)
        fields.update(detector_score=found.detection.score,
                      palm_box_xyxy=[float(v) for v in found.detection.palm_box])
        records.append(fields)
        overlay = plots.overlay_skeleton(overlay, found.uv, found.box)
    return Prediction(record=dict(image_fields(path, image.shape), hands=records), overlay=overlay)


def _check_hand(hand):
    if hand not in ("left", "right"):
        raise ValueError(f"hand: expected left or right, got {hand!r}")


UNITS = {"uv": "image px, pixel centres at integer coordinates",
         "z_rel": "(Z - Z_palm) / |palm - middle MCP| (Eq. 7)",
         "xyz_mm": "mm, camera frame (+Z forward): Z_k = root_depth_mm + z_rel_k * "
                   "bone_length_mm, root_depth_mm solved from the palm-middle MCP bone"}


def image_fields(path, image_shape):
    """The record's fields about the image: ``image``, ``image_size_wh``, ``units``."""
    return {"image": str(path), "image_size_wh": [int(image_shape[1]), int(image_shape[0])], "units": UNITS}


def hand_fields(hand, bbox, uv, z_rel, K=None, bone_length_mm=None):
    """The record's fields about one hand: ``hand``, ``bbox_xywh``, ``keypoints`` (+ 3D when K and the bone
    length are given: ``intrinsics``, ``bone_length_mm``, ``root_depth_mm``, or a ``note`` without a root)."""
    xyz, root_mm = (None, None)
    if K is not None and bone_length_mm is not None:
        xyz, root_mm = pose_3d(uv, z_rel, K, float(bone_length_mm))
    keypoints = []
    for k, name in enumerate(KEYPOINT_NAMES):
        entry = {"name": name, "uv": [float(uv[k, 0]), float(uv[k, 1])], "z_rel": float(z_rel[k])}
        if xyz is not None:
            entry["xyz_mm"] = [float(v) for v in xyz[k]]
        keypoints.append(entry)
    record = {"hand": hand, "bbox_xywh": None if bbox is None else [float(v) for v in bbox], "keypoints": keypoints}
    if K is not None and bone_length_mm is not None:
        record.update(intrinsics=np.asarray(K).tolist(), bone_length_mm=float(bone_length_mm),
                      root_depth_mm=root_mm)
        if xyz is None:
            record["note"] = "no real root depth for this pose (solve_root_depth quadratic); 3D omitted"
    return record


def output_stems(paths):
    """A unique file stem per input path (``name``, then ``name_2``, … for repeated names)."""
    stems, used = [], {}
    for p in paths:
        base = os.path.splitext(os.path.basename(p))[0] or "image"
        used[base] = used.get(base, 0) + 1
        stems.append(base if used[base] == 1 else f"{base}_{used[base]}")
    return stems


def predict_files(pose_network, config, paths, out_dir, bbox=None, K=None, bone_length_mm=None,
                  hand="left", log=print, warn=None, detector=None, refine_passes=1):
    """Runs :func:`predict_image` on every path — or, with a ``detector`` and no ``bbox``,
    :func:`predict_full_image` — and writes ``<stem>.json`` and ``<stem>_overlay.png``.

    A file that fails gets one line ``error: <path>: <why>`` in ``warn`` (default ``log``) and the others
    still run.

    Returns:
      ``(written, failed)``: lists of the JSON paths written and of the error messages.
    """
    os.makedirs(out_dir, exist_ok=True)
    written, failed = [], []
    for path, stem in zip(paths, output_stems(paths)):
        try:
            if detector is not None and bbox is None:
                pred = predict_full_image(pose_network, config, detector, path, K, bone_length_mm, hand,
                                          refine_passes)
            else:
                pred = predict_image(pose_network, config, path, bbox, K, bone_length_mm, hand)
        except PredictError as e:
            failed.append(str(e))
            (warn or log)(f"error: {e}")
            continue
        json_path = os.path.join(out_dir, f"{stem}.json")
        with open(json_path, "w") as f:
            json.dump(pred.record, f, indent=2)
        plots.write_rgb(os.path.join(out_dir, f"{stem}_overlay.png"), pred.overlay)
        written.append(json_path)
        log(f"{path} -> {json_path}")
    return written, failed
