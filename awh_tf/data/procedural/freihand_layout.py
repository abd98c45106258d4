"""The procedural real-looking domain written in FreiHAND's published layout (2D weak labels: no depth).

``generate_freihand(out_dir)`` writes ``out_dir/FreiHAND_pub_v2/`` as `awh_tf.data.freihand` reads it::

    training_K.json, training_xyz.json, training_scale.json, training/rgb/%08d.jpg
    evaluation_K.json, evaluation_xyz.json, evaluation_scale.json, evaluation/rgb/%08d.jpg

one image per label (one "version"), then, last, ``out_dir/procedural_freihand_manifest.json`` with the
seed and sizes and ``"complete": true`` (the RHD/STB manifest is separate: those files are not touched).

Frames: 224×224 JPEG (quality 90) of one **right** hand (FreiHAND's side), 110-180 px tall with its palm
within 15 px of the image centre, a per-frame pinhole K (focal 450-700 px, principal point within 4 px of
the centre), and the real-looking nuisances of the STB-format domain (``domains``: cluttered background,
skin texture, coloured light, soft optics, sensor noise, JPEG) on hands from the same distribution
(``scene``). Labels: ``xyz`` in metres in FreiHAND's order (wrist, then each finger base -> tip), ``K``,
and ``scale`` = the length of the middle finger's MCP -> PIP bone in metres (FreiHAND's reference bone).
No depth image, no mask: FreiHAND's real-domain value here is its 2D keypoints (and 3D for evaluation).
Each frame is seeded from (seed, domain 2, split, index), so the bytes do not depend on the workers.
"""

from __future__ import annotations

import json
import os
import shutil

import cv2
import numpy as np

from awh_tf import keypoints
from awh_tf.data.procedural import domains, frames, generation, scene

FREIHAND_ROOT = "FreiHAND_pub_v2"
FREIHAND_SPLITS = ("training", "evaluation")
FREIHAND_MANIFEST = "procedural_freihand_manifest.json"
FREIHAND_DOMAIN = 2  # sample_rng's domain id (RHD 0, STB 1)
SIZE = 224
JPEG_QUALITY = 90
LAYOUT_VERSION = 1
DEMO_TRAIN, DEMO_EVAL = 2000, 400
_FREIHAND_MIDDLE_MCP, _FREIHAND_MIDDLE_PIP = 9, 10


def freihand_frame(seed: int, split: int, index: int, bank: domains.NoiseBank):
    """Frame ``index`` of ``split`` (0 training, 1 evaluation): ``(colour uint8 BGR [224, 224, 3],
    joints [21, 3] mm camera frame in RHD's per-hand order (wrist at 0), K [3, 3])``."""
    rng = frames.sample_rng(seed, FREIHAND_DOMAIN, split, index)
    f = rng.uniform(450.0, 700.0)
    centre = (SIZE - 1) / 2.0 + rng.uniform(-4.0, 4.0, 2)
    K = np.array([[f, 0.0, centre[0]], [0.0, f, centre[1]], [0.0, 0.0, 1.0]])
    sleeve = domains.clothing(rng) if rng.uniform() < 0.6 else None
    hand = scene.sample_hand(rng, "right", skin=domains.real_skin(rng), sleeve=sleeve)
    size_px = rng.uniform(110.0, 180.0)
    root_px = (SIZE - 1) / 2.0 + rng.uniform(-15.0, 15.0, 2)
    joints, radii, prims = scene.posed(hand, hand.translation(K, root_px, f * hand.extent_mm() / size_px))
    colour, _ = frames.real_colour(rng, bank, hand, joints, radii, prims, K, (SIZE, SIZE))
    return colour, joints, K


def image_path(out_dir: str, split: str, index: int) -> str:
    return os.path.join(out_dir, FREIHAND_ROOT, split, "rgb", f"{index:08d}.jpg")


def _make_freihand(task):
    """Renders and writes one frame (a `generation._run` ``make``); returns (task, its labels)."""
    split, index = task
    state = generation.worker_state()
    colour, joints, K = freihand_frame(state["seed"], split, index, state["bank"])
    path = image_path(state["out_dir"], FREIHAND_SPLITS[split], index)
    if not cv2.imwrite(path, colour, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
        raise OSError(f"{path}: could not write JPEG")
    xyz_m = np.take(joints, keypoints.FREIHAND_TO_RHD, axis=0) / 1000.0  # the permutation is its own inverse
    scale = float(np.linalg.norm(xyz_m[_FREIHAND_MIDDLE_MCP] - xyz_m[_FREIHAND_MIDDLE_PIP]))
    return task, {"xyz": xyz_m.tolist(), "K": K.tolist(), "scale": scale}


def manifest_path(out_dir: str) -> str:
    return os.path.join(out_dir, FREIHAND_MANIFEST)


def _config(seed, train, evaluation) -> dict:
    for name, value in (("freihand_train", train), ("freihand_eval", evaluation)):
        if int(value) < 1:
            raise ValueError(f"{name}: expected a count >= 1, got {value}")
    return {"layout": "freihand", "layout_version": LAYOUT_VERSION, "seed": int(seed),
            "freihand_train": int(train), "freihand_eval": int(evaluation)}


def read_manifest(out_dir: str):
    """The FreiHAND layout's manifest dict, or None (none, or a half-written one)."""
    return generation.read_json_or_none(manifest_path(out_dir))


def is_complete(out_dir, seed=0, train=DEMO_TRAIN, evaluation=DEMO_EVAL) -> bool:
    """True iff ``out_dir`` holds a finished procedural FreiHAND layout with exactly these settings."""
    manifest = read_manifest(os.fspath(out_dir))
    expected = _config(seed, train, evaluation)
    return bool(manifest and manifest.get("complete") and all(manifest.get(k) == v for k, v in expected.items()))


def _write_json(path: str, value) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)


def generate_freihand(out_dir, seed=0, train=DEMO_TRAIN, evaluation=DEMO_EVAL, workers=None,
                      progress=True) -> dict:
    """Writes (or finds complete) ``out_dir/FreiHAND_pub_v2`` (module docstring); returns the manifest.

    Raises:
      FileExistsError: ``out_dir/FreiHAND_pub_v2`` exists without this layout's manifest (not ours, e.g.
        the real FreiHAND): it is never overwritten.
    """
    out_dir = os.fspath(out_dir)
    config = _config(seed, train, evaluation)
    if is_complete(out_dir, seed, train, evaluation):
        return read_manifest(out_dir)
    root = os.path.join(out_dir, FREIHAND_ROOT)
    if read_manifest(out_dir) is None and os.path.exists(root):
        raise FileExistsError(f"{out_dir}: holds {FREIHAND_ROOT}/ without {FREIHAND_MANIFEST}; not written by the "
                              f"procedural generator, refusing to overwrite it (choose another --out_dir)")
    os.makedirs(out_dir, exist_ok=True)
    _write_json(manifest_path(out_dir), dict(config, complete=False))
    shutil.rmtree(root, ignore_errors=True)
    for split in FREIHAND_SPLITS:
        os.makedirs(os.path.join(root, split, "rgb"))
    tasks = [(s, i) for s, n in enumerate((config["freihand_train"], config["freihand_eval"])) for i in range(n)]
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    labels = generation._run(tasks, out_dir, config["seed"], workers, progress, make=_make_freihand)
    for s, split in enumerate(FREIHAND_SPLITS):
        rows = [labels[(s, i)] for i in range(len([t for t in tasks if t[0] == s]))]
        for key in ("K", "xyz", "scale"):
            _write_json(os.path.join(root, f"{split}_{key}.json"), [row[key] for row in rows])
    manifest = dict(config, complete=True)
    _write_json(manifest_path(out_dir), manifest)
    return manifest
