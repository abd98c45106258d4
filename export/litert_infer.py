"""Runs an exported AW Hourglass ``.tflite`` on one image: 21 hand keypoints, and 3D when given a camera.

Standalone: numpy, OpenCV and ``ai_edge_litert`` only (no TensorFlow). The crop path uses nothing from this
repository, so the file ships to a device team as is; the full-image path (no ``--box``) adds the palm
detector, ``awh_tf/detection/`` (also numpy + OpenCV + LiteRT only: ship that folder and ``awh_tf/__init__.py``
beside ``export/``, and the palm model from ``python -m awh_tf.detection.fetch``). See ``export/README.md``
for the model's contract.

Usage::

    # a hand crop already S×S (S = the model's input size, e.g. 64):
    python export/litert_infer.py --model export/out/demo/pose_int8.tflite --image crop.png
    # a full image and a square box around the hand (centre u, v and side, image px):
    python export/litert_infer.py --model pose_int8.tflite --image frame.png --box 320,240,180 \\
        --intrinsics 607.9,607.9,314.8,236.4 --bone_mm 41 --json out.json --draw out.png
    # a full image, the hands found by MediaPipe's palm detector (up to --max_hands):
    python export/litert_infer.py --model pose_int8.tflite --image frame.png --threads 1 --draw out.png

Output: one line per keypoint (name, u, v in image px, z_rel; with ``--intrinsics`` and ``--bone_mm``
also X, Y, Z in mm, camera frame). ``--json`` writes the same, ``--draw`` the image with the skeleton. With the
detector, each hand found gets a header line (its box and detector score) and ``--json`` holds ``hands``.

Full image: an image that is not S×S and comes without ``--box`` goes through ``awh_tf.detection.full_image``
as ``python -m awh_tf.predict`` does: palm detection, a crop of side ``max(w, h)·(1 + 2·crop_margin)`` around
each hand box (``crop_margin`` from ``metadata.json`` beside the model, else 0.2, the training default), then
the same on the box of the predicted keypoints (``--refine_passes``).

Geometry (pixel centres at integer coordinates): the crop is the square of side L centred on c, mapped
to S×S by ``p_crop = (S / L)·(p − c) + (S − 1)/2`` (the training pipeline's crop). The model returns
``uv`` in crop px and ``z_rel = (Z_k − Z_palm) / s`` with s the palm → middle-MCP bone length. 3D: the
palm depth in bone units from the quadratic of Iqbal et al. (with the factor 2 their published ``b``
drops), then ``Z_k = (Z_root + z_rel_k)·s`` and ``(X, Y) = Z·K⁻¹(u, v, 1)``. When a poor prediction
leaves the quadratic without a real root, the depth where the bone's length is closest to ``--bone_mm``
is used and a warning is printed (``root_depth_exact: false`` in the JSON).

Errors (unreadable image or model, a crop of the wrong size, bad arguments) are one line on stderr and
exit status 2.
"""

import argparse
import json
import sys

import cv2
import numpy as np

# Keypoint order of the model outputs (our order: RHD per hand, 0 = palm centre, each finger tip -> MCP).
KEYPOINT_NAMES = (
    "palm",
    "thumb_tip", "thumb_ip", "thumb_mcp", "thumb_cmc",
    "index_tip", "index_dip", "index_pip", "index_mcp",
    "middle_tip", "middle_dip", "middle_pip", "middle_mcp",
    "ring_tip", "ring_dip", "ring_pip", "ring_mcp",
    "pinky_tip", "pinky_dip", "pinky_pip", "pinky_mcp",
)
ROOT, REF_BONE = 0, (0, 12)
# (parent, child): palm -> each finger's base, then base -> ... -> tip.
SKELETON_EDGES = tuple(e for f in range(5) for e in ((0, 4 * f + 4), (4 * f + 4, 4 * f + 3),
                                                       (4 * f + 3, 4 * f + 2), (4 * f + 2, 4 * f + 1)))


class ClientError(ValueError):
    """Bad input to the client; the message is one line naming the file or argument."""


def crop_affine(centre, side, size):
    """``[3, 3]`` affine from image px to crop px: the square (``centre`` [2] px, ``side`` px) → size²."""
    s = size / float(side)
    return np.array([[s, 0.0, (size - 1) / 2.0 - s * centre[0]],
                     [0.0, s, (size - 1) / 2.0 - s * centre[1]],
                     [0.0, 0.0, 1.0]])


def mirror_affine(size):
    """Horizontal flip of a size² crop, ``u' = size − 1 − u`` (its own inverse)."""
    return np.array([[-1.0, 0.0, size - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def read_rgb(path):
    """``[H, W, 3]`` uint8 RGB; raises ClientError if the file cannot be decoded."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ClientError(f"{path}: cannot read an image from this file")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def make_crop(image, size, box=None, right_hand=False, path="image"):
    """The model input and its affine: ``([1, size, size, 3] float32 in [0, 1], A [3, 3] image→crop)``.

    Without ``box`` the image must already be the size² crop. ``right_hand`` mirrors the crop (the
    network is trained on left hands); ``A`` includes the flip, so ``A⁻¹`` maps predictions back.
    """
    if box is None:
        if image.shape[:2] != (size, size):
            raise ClientError(f"{path}: image is {image.shape[1]}x{image.shape[0]} px but the model takes "
                              f"{size}x{size} crops; pass a {size}x{size} crop or --box U,V,SIDE")
        A = np.eye(3)
    else:
        u, v, side = box
        if side <= 0:
            raise ClientError(f"--box: side must be > 0, got {side}")
        A = crop_affine((u, v), side, size)
    if right_hand:
        A = mirror_affine(size) @ A
    crop = cv2.warpAffine(image, A[:2], (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return (crop.astype(np.float32) / 255.0)[None], A


def solve_root_depth(uv, z_rel, K, bone_length=1.0, closest_if_no_root=False):
    """Palm depth in units of the reference bone from a 2.5D pose (Iqbal et al. 2018, corrected ``b``).

    With ``x, y`` the rays ``K⁻¹ (u, v, 1)`` at unit depth and ``z`` the normalised relative depths of
    the bone's ends n = 0 (palm), m = 12 (middle MCP), the palm depth ``Z`` solves ``a Z² + b Z + c = 0``:
    ``a = (x_n−x_m)² + (y_n−y_m)²``, ``b = 2[(x_n−x_m)(x_n z_n − x_m z_m) + (y_n−y_m)(y_n z_n − y_m z_m)]``,
    ``c = (x_n z_n − x_m z_m)² + (y_n z_n − y_m z_m)² + (z_n − z_m)² − C²``; ``Z = (−b + √(b² − 4ac)) / 2a``.

    Args:
      uv: ``[21, 2]`` px in the frame of ``K``.  z_rel: ``[21]`` bone units.  K: ``[3, 3]`` intrinsics.
      bone_length: C, the bone's length in the units of ``z_rel`` (1).
      closest_if_no_root: when ``b² < 4ac`` (a prediction whose z_rel is inconsistent with its 2D pose:
        no depth makes the bone C long), return ``−b / 2a``, the depth where its length is closest to C,
        instead of raising.
    Returns:
      ``(Z_root / s, exact)``: the palm depth in bone units and whether the quadratic had a real root.
    Raises:
      ClientError: ``a = 0`` (both bone ends on one ray), or no real root and not ``closest_if_no_root``.
    """
    rays = np.linalg.solve(K, np.concatenate([uv, np.ones((len(uv), 1))], axis=1).T).T  # [21, 3]
    x, y, z = rays[:, 0] / rays[:, 2], rays[:, 1] / rays[:, 2], np.asarray(z_rel, np.float64)
    n, m = REF_BONE
    dx, dy = x[n] - x[m], y[n] - y[m]
    px, py = x[n] * z[n] - x[m] * z[m], y[n] * z[n] - y[m] * z[m]
    a = dx ** 2 + dy ** 2
    b = 2.0 * (dx * px + dy * py)
    c = px ** 2 + py ** 2 + (z[n] - z[m]) ** 2 - bone_length ** 2
    disc = b ** 2 - 4.0 * a * c
    if a <= 1e-18:
        raise ClientError("root depth: palm and middle MCP project to one point; the depth is undefined")
    if disc < 0 and not closest_if_no_root:
        raise ClientError("root depth: no real solution (the predicted z_rel is inconsistent with the 2D "
                          "pose for this bone length)")
    return float((-b + np.sqrt(max(disc, 0.0))) / (2.0 * a)), bool(disc >= 0)


def recover_xyz(uv, z_rel, K, bone_mm, closest_if_no_root=False):
    """3D keypoints from image ``uv`` [21, 2] px, ``z_rel`` [21], the image's intrinsics ``K`` [3, 3] and
    the palm → middle-MCP length ``bone_mm``: ``(xyz [21, 3] mm camera frame, exact root)``."""
    root, exact = solve_root_depth(uv, z_rel, K, closest_if_no_root=closest_if_no_root)
    Z = (root + np.asarray(z_rel, np.float64)) * bone_mm
    rays = np.linalg.solve(K, np.concatenate([uv, np.ones((len(uv), 1))], axis=1).T).T
    return np.concatenate([rays[:, :2] / rays[:, 2:] * Z[:, None], Z[:, None]], axis=1), exact


class PoseModel:
    """A ``.tflite`` pose model via its ``serving_default`` signature (``image`` → ``uv``, ``z_rel``)."""

    def __init__(self, path, num_threads=2):
        from ai_edge_litert.interpreter import Interpreter

        try:
            interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
            self.runner = interpreter.get_signature_runner("serving_default")
        except (ValueError, RuntimeError) as e:
            raise ClientError(f"{path}: not a loadable .tflite with a serving_default signature "
                              f"({' '.join(str(e).split())[:200]})") from None
        shape = self.runner.get_input_details()["image"]["shape"]
        self.input_size = int(shape[1])

    def __call__(self, crop):
        """``crop`` ``[1, S, S, 3]`` float32 → ``(uv [21, 2] crop px, z_rel [21])``."""
        out = self.runner(image=np.ascontiguousarray(crop, np.float32))
        return out["uv"][0].astype(np.float64), out["z_rel"][0].astype(np.float64)


def predict(model, image, box=None, right_hand=False, path="image"):
    """Keypoints of the hand in ``image`` [H, W, 3] uint8 RGB: ``(uv [21, 2] image px, z_rel [21])``."""
    crop, A = make_crop(image, model.input_size, box, right_hand, path)
    uv_crop, z_rel = model(crop)
    uv_h = np.concatenate([uv_crop, np.ones((len(uv_crop), 1))], axis=1) @ np.linalg.inv(A).T
    return uv_h[:, :2], z_rel


def box_square(box, crop_margin):
    """A hand box ``(x, y, w, h)`` px (pixels ``x .. x+w-1``) → the crop square ``(u, v, side)``, the way
    training crops are made from the keypoints' box."""
    x, y, w, h = box
    return x + (w - 1) / 2.0, y + (h - 1) / 2.0, max(w, h) * (1.0 + 2.0 * crop_margin)


def model_crop_margin(model_path, default=0.2):
    """The run's ``pipeline.crop_margin`` from ``metadata.json`` beside the model, else ``default``."""
    import os

    try:
        with open(os.path.join(os.path.dirname(os.path.abspath(model_path)), "metadata.json")) as f:
            return float(json.load(f)["source"]["config"]["pipeline"]["crop_margin"])
    except (OSError, KeyError, TypeError, ValueError):
        return default


def detection_modules():
    """``(full_image, palm_detector, fetch)`` of ``awh_tf.detection``, from this repository if not installed."""
    import os

    try:
        from awh_tf.detection import fetch, full_image, palm_detector
    except ImportError:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from awh_tf.detection import fetch, full_image, palm_detector
    return full_image, palm_detector, fetch


def detect_and_predict(model, image, detector, crop_margin=0.2, right_hand=False, refine_passes=1):
    """Every hand ``detector`` finds in ``image``: a list of ``awh_tf.detection.full_image.HandPose``."""
    full_image, _, _ = detection_modules()

    def pose_fn(img, box, right):
        return predict(model, img, box_square(box, crop_margin), right)

    return full_image.detect_hands(detector, pose_fn, image, right_hand, refine_passes)


def draw(image, hands_uv, path):
    """Writes ``image`` with the skeletons (each ``[21, 2]`` px) over it to ``path``."""
    canvas = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    for uv in hands_uv:
        pts = [(int(round(u)), int(round(v))) for u, v in uv]
        for a, b in SKELETON_EDGES:
            cv2.line(canvas, pts[a], pts[b], (0, 255, 0), 1, cv2.LINE_AA)
        for p in pts:
            cv2.circle(canvas, p, 2, (0, 0, 255), -1, cv2.LINE_AA)
    if not cv2.imwrite(str(path), canvas):
        raise ClientError(f"--draw {path}: cannot write an image there")


def _floats(text, n, flag):
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != n:
        raise ClientError(f"{flag}: expected {n} comma-separated numbers, got {text!r}")
    return values


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help=".tflite file (any of the exported formats)")
    p.add_argument("--image", required=True, help="an S×S hand crop, or a full image with --box")
    p.add_argument("--box", help="U,V,SIDE: centre and side (image px) of the square around the hand")
    p.add_argument("--hand", choices=("left", "right"), default="left", help="right hands are mirrored")
    p.add_argument("--intrinsics", help="FX,FY,CX,CY of --image (px); with --bone_mm gives 3D")
    p.add_argument("--bone_mm", type=float, help="palm → middle-MCP length of this hand, mm")
    p.add_argument("--threads", type=int, default=2, help="LiteRT CPU threads")
    p.add_argument("--detector", choices=("full", "lite"), default="full", help="palm model for full images")
    p.add_argument("--detector_dir", help="where `python -m awh_tf.detection.fetch` put the palm models")
    p.add_argument("--max_hands", type=int, default=2, help="full images: at most this many hands")
    p.add_argument("--min_detection_score", type=float, default=0.5, help="full images: palm score threshold")
    p.add_argument("--refine_passes", type=int, default=1, help="full images: re-crops on the keypoints")
    p.add_argument("--json", help="write the keypoints to this JSON file")
    p.add_argument("--draw", help="write the image with the skeleton to this file")
    return p.parse_args(argv)


def run(args):
    """The CLI body: returns the result dict (also printed / written as asked)."""
    box = _floats(args.box, 3, "--box") if args.box else None
    if (args.intrinsics is None) != (args.bone_mm is None):
        raise ClientError("--intrinsics and --bone_mm: give both for 3D, or neither")
    K = None
    if args.intrinsics:
        fx, fy, cx, cy = _floats(args.intrinsics, 4, "--intrinsics")
        K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    image = read_rgb(args.image)
    model = PoseModel(args.model, args.threads)
    if box is None and image.shape[:2] != (model.input_size, model.input_size):
        result = _run_full_image(args, model, image, K)
    else:
        uv, z_rel = predict(model, image, box, args.hand == "right", args.image)
        result = _hand_result(uv, z_rel, K, args.bone_mm)
        _print_hand(result)
        result = dict(keypoints=list(KEYPOINT_NAMES), **result)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    if args.draw:
        hands = result["hands"] if "hands" in result else [result]
        draw(image, [np.array(h["uv_px"]) for h in hands], args.draw)
    return result


def _run_full_image(args, model, image, K):
    _, palm_detector, fetch = detection_modules()
    try:
        detector = palm_detector.PalmDetector(args.detector, args.detector_dir, args.min_detection_score,
                                              args.max_hands, num_threads=args.threads)
    except fetch.DetectorNotInstalled as e:
        raise ClientError(f"{args.image}: a full image needs the palm detector or --box U,V,SIDE; {e}") from None
    found = detect_and_predict(model, image, detector, model_crop_margin(args.model), args.hand == "right",
                               args.refine_passes)
    if not found:
        raise ClientError(f"{args.image}: no hand found (give --box U,V,SIDE, or lower --min_detection_score)")
    hands = []
    for i, hand in enumerate(found):
        print(f"hand {i}: box x,y,w,h {','.join(f'{v:.1f}' for v in hand.box)} detector score "
              f"{hand.detection.score:.3f}")
        result = _hand_result(hand.uv, hand.z_rel, K, args.bone_mm)
        _print_hand(result)
        hands.append(dict(result, box_xywh=list(hand.box), detector_score=hand.detection.score))
    return {"keypoints": list(KEYPOINT_NAMES), "hands": hands}


def _hand_result(uv, z_rel, K, bone_mm):
    result = {"uv_px": uv.tolist(), "z_rel": z_rel.tolist()}
    if K is not None:
        xyz, exact = recover_xyz(uv, z_rel, K, bone_mm, closest_if_no_root=True)
        result["xyz_mm"], result["root_depth_exact"] = xyz.tolist(), exact
        if not exact:
            print("warning: the root-depth quadratic has no real root for this prediction; using the depth "
                  "where the reference bone is closest to --bone_mm", file=sys.stderr)
    return result


def _print_hand(result):
    for i, name in enumerate(KEYPOINT_NAMES):
        (u, v), z = result["uv_px"][i], result["z_rel"][i]
        line = f"{i:2d} {name:<11} u {u:8.2f} v {v:8.2f} z_rel {z:+.3f}"
        if "xyz_mm" in result:
            line += " xyz_mm " + " ".join(f"{c:8.1f}" for c in result["xyz_mm"][i])
        print(line)


def main(argv=None):
    try:
        run(_parse(argv))
    except (ClientError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
