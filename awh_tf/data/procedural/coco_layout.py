"""FreiHAND-layout data converted to COCO-style hand keypoint JSON: the procedural "your own 2D labels" set.

:func:`freihand_to_coco` turns one split of a FreiHAND-layout folder (procedural or the real FreiHAND) into
the format of `awh_tf.data.coco` — what a user does with their own labels: the JPEGs are copied unchanged,
each image gets one annotation with the 21 keypoints projected to 2D in COCO's hand order (FreiHAND's order
is the same), ``v = 2`` inside the image and ``v = 0`` (not labelled) outside it (FreiHAND has no occlusion
labels), the keypoints' bounding box as ``bbox`` and ``"hand": "right"``. The 3D labels and cameras are
dropped: the COCO set carries 2D only.

:func:`generate_coco` writes ``out_dir/COCO_hands/`` from the procedural FreiHAND layout in ``out_dir``
(generated first when missing)::

    COCO_hands/images/train/%08d.jpg, COCO_hands/images/test/%08d.jpg
    COCO_hands/train.json   (from FreiHAND "training")    COCO_hands/test.json   (from "evaluation")

then, last, ``out_dir/procedural_coco_manifest.json`` (``"complete": true`` with the source's settings).
"""

from __future__ import annotations

import json
import os
import shutil

import cv2
import numpy as np

from awh_tf.data.errors import DataError
from awh_tf.data.freihand import FreiHANDDataset, read_freihand_labels
from awh_tf.data.procedural import freihand_layout
from awh_tf.geometry import project

COCO_ROOT = "COCO_hands"
COCO_MANIFEST = "procedural_coco_manifest.json"
LAYOUT_VERSION = 1
CATEGORIES = [{"id": 1, "name": "hand", "supercategory": "hand",
               "keypoints": ["wrist"] + [f"{finger}{j}" for finger in ("thumb", "index", "middle", "ring", "little")
                                         for j in range(1, 5)]}]


def coco_annotation(uv, width, height, image_id, hand="right"):
    """One COCO hand annotation from keypoints ``uv`` [21, 2] px in COCO order: v = 2 inside the image,
    0 (unlabelled, written as 0, 0) outside; ``bbox`` the labelled keypoints' box."""
    uv = np.asarray(uv, np.float64)
    inside = (uv[:, 0] >= -0.5) & (uv[:, 0] < width - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] < height - 0.5)
    values = []
    for (x, y), ok in zip(uv, inside):
        values += [float(x), float(y), 2] if ok else [0.0, 0.0, 0]
    pts = uv[inside] if inside.any() else uv
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return {"id": int(image_id), "image_id": int(image_id), "category_id": 1, "iscrowd": 0,
            "bbox": [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])],
            "num_keypoints": int(inside.sum()), "keypoints": values, "hand": hand}


def freihand_to_coco(freihand_root, split, json_path, images_dir, image_subdir, limit=0):
    """Converts images 0 .. n-1 of a FreiHAND-layout ``split`` to COCO JSON (module docstring).

    Args:
      freihand_root: the FreiHAND folder.  split: "training" or "evaluation".
      json_path: the annotation file to write.  images_dir: the COCO image folder; the JPEGs are copied to
        ``images_dir/image_subdir/%08d.jpg`` and ``file_name`` is relative to ``images_dir``.
      limit: convert at most this many images (0 = all).
    Returns:
      the number of images converted.
    Raises:
      DataError: the FreiHAND folder is malformed (`awh_tf.data.freihand`).
    """
    dataset = FreiHANDDataset(freihand_root, split, with_mask=False)  # checks the layout and image counts
    labels = read_freihand_labels(freihand_root, split)  # FreiHAND order = COCO hand order
    n = len(dataset) if not limit else min(limit, len(dataset))
    os.makedirs(os.path.join(images_dir, image_subdir), exist_ok=True)
    images, annotations = [], []
    for i in range(n):
        source = os.path.join(freihand_root, split, "rgb", f"{i:08d}.jpg")
        image = cv2.imread(source, cv2.IMREAD_UNCHANGED)
        if image is None:
            raise DataError.at(source, "cannot decode JPEG", i)
        height, width = image.shape[:2]
        name = f"{image_subdir}/{i:08d}.jpg"
        shutil.copyfile(source, os.path.join(images_dir, name))
        label = i % dataset.num_labels
        uv = project(labels["xyz"][label], labels["K"][label])
        images.append({"id": i, "file_name": name, "width": int(width), "height": int(height)})
        annotations.append(coco_annotation(uv, width, height, i))
    tmp = f"{json_path}.tmp"
    with open(tmp, "w") as f:
        json.dump({"images": images, "annotations": annotations, "categories": CATEGORIES}, f)
    os.replace(tmp, json_path)
    return n


def manifest_path(out_dir):
    return os.path.join(out_dir, COCO_MANIFEST)


def _config(seed, train, evaluation):
    return {"layout": "coco", "layout_version": LAYOUT_VERSION, "seed": int(seed), "freihand_train": int(train),
            "freihand_eval": int(evaluation)}


def is_complete(out_dir, seed=0, train=freihand_layout.DEMO_TRAIN, evaluation=freihand_layout.DEMO_EVAL):
    """True iff ``out_dir`` holds a finished procedural COCO layout made from these FreiHAND settings."""
    try:
        with open(manifest_path(os.fspath(out_dir))) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return False
    expected = _config(seed, train, evaluation)
    return bool(manifest.get("complete") and all(manifest.get(k) == v for k, v in expected.items()))


def generate_coco(out_dir, seed=0, train=freihand_layout.DEMO_TRAIN, evaluation=freihand_layout.DEMO_EVAL,
                  workers=None, progress=True):
    """Writes (or finds complete) ``out_dir/COCO_hands`` (module docstring); returns the manifest dict.

    Raises:
      FileExistsError: ``out_dir/COCO_hands`` (or ``FreiHAND_pub_v2``) exists without its manifest.
    """
    out_dir = os.fspath(out_dir)
    config = _config(seed, train, evaluation)
    if is_complete(out_dir, seed, train, evaluation):
        return dict(config, complete=True)
    root = os.path.join(out_dir, COCO_ROOT)
    if not os.path.exists(manifest_path(out_dir)) and os.path.exists(root):
        raise FileExistsError(f"{out_dir}: holds {COCO_ROOT}/ without {COCO_MANIFEST}; not written by the "
                              f"procedural generator, refusing to overwrite it (choose another --out_dir)")
    freihand_layout.generate_freihand(out_dir, seed, train, evaluation, workers=workers, progress=progress)
    os.makedirs(out_dir, exist_ok=True)
    freihand_layout._write_json(manifest_path(out_dir), dict(config, complete=False))
    shutil.rmtree(root, ignore_errors=True)
    source = os.path.join(out_dir, freihand_layout.FREIHAND_ROOT)
    images_dir = os.path.join(root, "images")
    for split, name in (("training", "train"), ("evaluation", "test")):
        freihand_to_coco(source, split, os.path.join(root, f"{name}.json"), images_dir, name)
    manifest = dict(config, complete=True)
    freihand_layout._write_json(manifest_path(out_dir), manifest)
    return manifest
