"""Your own 2D-labelled hand images as the real domain: COCO-style hand keypoint JSON (2D weak labels only).

Format — one JSON file and one image folder, the layout of the field's 2D hand sets (OneHand10K,
COCO-WholeBody hands, as mmpose distributes them), one annotation per hand::

    {"images":      [{"id": 7, "file_name": "a/0007.jpg", "width": 640, "height": 480}, ...],
     "annotations": [{"id": 1, "image_id": 7, "bbox": [x, y, w, h],
                      "keypoints": [x0, y0, v0, x1, y1, v1, ..., x20, y20, v20],
                      "hand": "left"}, ...],
     "categories":  [...]}

* ``file_name``: relative to the image folder (``--coco_images``); JPEG (``.jpg``/``.jpeg``) or PNG.
  ``width`` and ``height`` are required and checked against the image when it is read.
* ``keypoints``: 21 × (x, y, v), x right and y down in image px with the top-left pixel's centre at
  (0, 0). ``v`` is COCO's flag: 0 = not labelled (x, y are ignored), 1 = labelled but occluded,
  2 = labelled and visible. Every labelled keypoint (v > 0) supervises and is scored, as in mmpose.
* **Keypoint order** (OneHand10K, COCO-WholeBody hand, FreiHAND — one order)::

      0 wrist
      1-4   thumb   CMC, MCP, IP, tip           (base -> tip)
      5-8   index   MCP, PIP, DIP, tip
      9-12  middle  MCP, PIP, DIP, tip
      13-16 ring    MCP, PIP, DIP, tip
      17-20 little  MCP, PIP, DIP, tip

  Ours (DESIGN.md §2, ``awh_tf.keypoints``) reverses each finger and has the **palm** at 0: ours[0] =
  midpoint of the wrist and the middle MCP (COCO 0 and 9), labelled only when **both** are (an unlabelled
  point has no position to average); ours[4f + 1 + j] = coco[4f + 4 - j] for finger f, j = 0..3
  (``keypoints.FREIHAND_TO_RHD``).
* ``bbox`` (optional): the hand box [x, y, w, h] px (top-left corner, size); used to normalise PCK
  (by max(w, h)). Without it, the labelled keypoints' bounding box is used.
* ``hand`` (optional): "left" or "right". The pipeline mirrors right hands to left ones (DESIGN.md §2);
  annotations without it take ``default_hand``.
* Other keys (``num_keypoints``, ``category_id``, ``iscrowd``, ``area`` …) are ignored.

What a sample carries: the image, the 2D keypoints with their labelled flag and the handedness — no
depth image and **no 3D label** (``xyz`` None, so the pipeline sets ``has_3d`` False in every budget). The
camera is unknown: ``K`` is a nominal pinhole (focal ``max(W, H)`` px, principal point at the image centre)
that only places the crop (``crop_K = A @ K``); no metric quantity is computed from it.

Annotations with fewer than ``min_keypoints`` labelled keypoints are skipped (the crop comes from the
labelled keypoints, as for every domain: it stands in for a hand detector); ``num_skipped`` counts them.

Splits: ``split="all"`` reads every annotation; ``"train"`` / ``"test"`` hold out whole images (a
hand's image never appears on both sides): ``round(test_fraction · images)`` of the images that carry an
annotation (at least one, and at least one left for training), chosen by ``split_seed``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from awh_tf import keypoints as kp
from awh_tf.data.errors import DataError, sample_index
from awh_tf.data.image_io import check_shape, read_jpeg_rgb, read_rgb

SPLITS = ("all", "train", "test")
HANDS = ("left", "right")
MIN_KEYPOINTS = 4
COCO_WRIST, COCO_MIDDLE_MCP = 0, 9
# COCO hand keypoint names, in the file's order (the order map of docs/datasets.md, "Adapting to your own hands").
COCO_KEYPOINT_NAMES = ("wrist",) + tuple(
    f"{finger}{j}" for finger in ("thumb", "index", "middle", "ring", "little") for j in range(1, 5))
_READERS = {".jpg": read_jpeg_rgb, ".jpeg": read_jpeg_rgb, ".png": read_rgb}


def coco_to_ours(xy, labelled):
    """COCO hand keypoints (module docstring order) -> ours.

    Args:
      xy: ``[..., 21, 2]`` px.  labelled: ``[..., 21]`` bool (v > 0).
    Returns:
      ``(uv [..., 21, 2] float32, visible [..., 21] bool)`` in our order; the palm is the midpoint of the
      wrist and the middle MCP, labelled only when both are (else it sits on whichever is labelled, or the
      wrist, so it stays finite; it is not used).
    """
    xy = np.asarray(xy, np.float64)
    labelled = np.asarray(labelled, bool)
    wrist, mcp = xy[..., COCO_WRIST, :], xy[..., COCO_MIDDLE_MCP, :]
    w_ok, m_ok = labelled[..., COCO_WRIST, None], labelled[..., COCO_MIDDLE_MCP, None]
    palm = np.where(w_ok & m_ok, 0.5 * (wrist + mcp), np.where(m_ok, mcp, wrist))
    uv = np.take(xy, kp.FREIHAND_TO_RHD, axis=-2)
    visible = np.take(labelled, kp.FREIHAND_TO_RHD, axis=-1)
    uv[..., kp.ROOT, :] = palm
    visible[..., kp.ROOT] = labelled[..., COCO_WRIST] & labelled[..., COCO_MIDDLE_MCP]
    return uv.astype(np.float32), visible


def nominal_K(width, height):
    """The stand-in pinhole of an image without calibration: focal max(W, H) px, centre ((W-1)/2, (H-1)/2)."""
    f = float(max(width, height))
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]], np.float32)


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise DataError.at(path, "COCO keypoint JSON not found (--coco_json)")
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise DataError.at(path, f"cannot read JSON ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict):
        raise DataError.at(path, "expected a JSON object with 'images' and 'annotations' lists")
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise DataError.at(path, f"no '{key}' list (COCO keypoint format: see awh_tf/data/coco.py)")
    return data


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def _read_images(path: Path, images_dir: Path, entries: list) -> dict:
    """``{image id: (file path, width, height)}``; DataError naming the first bad entry (``image i``)."""
    table = {}
    for i, entry in enumerate(entries):
        where = f"images[{i}]"
        if not isinstance(entry, dict):
            raise DataError.at(path, f"{where} is not an object")
        missing = [k for k in ("id", "file_name", "width", "height") if k not in entry]
        if missing:
            raise DataError.at(path, f"{where} has no {', '.join(missing)}")
        if not _int(entry["id"]) or entry["id"] in table:
            raise DataError.at(path, f"{where}: id {entry['id']!r} is not a unique integer")
        w, h = entry["width"], entry["height"]
        if not (_int(w) and _int(h) and w > 0 and h > 0):
            raise DataError.at(path, f"{where}: width/height must be positive integers, got {w!r}, {h!r}")
        name = entry["file_name"]
        if not isinstance(name, str) or os.path.splitext(name)[1].lower() not in _READERS:
            raise DataError.at(path, f"{where}: file_name {name!r} is not a .jpg, .jpeg or .png file")
        table[entry["id"]] = (images_dir / name, w, h)
    return table


def _parse_annotation(path: Path, i: int, ann, images: dict, default_hand: str):
    """One annotation -> (image id, xy [21, 2], labelled [21], box [4] or None, hand); DataError otherwise."""
    if not isinstance(ann, dict):
        raise DataError.at(path, "annotation is not an object", i)
    if ann.get("image_id") not in images:
        raise DataError.at(path, f"image_id {ann.get('image_id')!r} is not in 'images'", i)
    values = ann.get("keypoints")
    if not isinstance(values, list) or len(values) != 3 * kp.NUM_KEYPOINTS or not all(map(_number, values)):
        n = len(values) if isinstance(values, list) else type(values).__name__
        raise DataError.at(path, f"'keypoints' must be 63 finite numbers (21 x, y, v), got {n}", i)
    kpts = np.asarray(values, np.float64).reshape(kp.NUM_KEYPOINTS, 3)
    if not np.isin(kpts[:, 2], (0, 1, 2)).all():
        raise DataError.at(path, f"visibility flags must be 0, 1 or 2, got {sorted(set(kpts[:, 2]))}", i)
    box = ann.get("bbox")
    if box is not None:
        if not (isinstance(box, list) and len(box) == 4 and all(map(_number, box)) and box[2] > 0 and box[3] > 0):
            raise DataError.at(path, f"'bbox' must be [x, y, w, h] with w, h > 0, got {box!r}", i)
        box = np.asarray(box, np.float64)
    hand = ann.get("hand", default_hand)
    if hand not in HANDS:
        raise DataError.at(path, f"'hand' must be 'left' or 'right', got {hand!r}", i)
    return ann["image_id"], kpts[:, :2], kpts[:, 2] > 0, box, hand


def _keypoint_box(xy, labelled):
    pts = xy[labelled]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return np.array([lo[0], lo[1], max(hi[0] - lo[0], 1.0), max(hi[1] - lo[1], 1.0)])


def held_out_images(image_ids, fraction, seed):
    """The image ids of the test part: ``round(fraction · n)`` of the sorted unique ``image_ids`` (at least
    one, at most n - 1 when n >= 2), chosen by ``seed``."""
    ids = np.unique(np.asarray(image_ids, np.int64))
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"coco_test_fraction: expected a value in (0, 1), got {fraction}")
    if len(ids) < 2:
        raise ValueError(f"cannot hold out a test part of {len(ids)} image(s); give a test JSON instead")
    count = min(max(int(round(fraction * len(ids))), 1), len(ids) - 1)
    return set(ids[np.random.default_rng([seed, 0xC0C0]).permutation(len(ids))[:count]].tolist())


class CocoHandDataset:
    """Hands from a COCO-style keypoint JSON as samples in our keypoint order (module docstring).

    Args:
      json_path: the annotation file.  images_dir: the folder ``file_name`` is relative to.
      split: "all", or "train" / "test" for the held-out split of whole images.
      test_fraction, split_seed: the held-out part (``split`` "train" / "test" only).
      default_hand: the side of annotations without ``hand``.
      min_keypoints: annotations with fewer labelled keypoints are skipped.
    Raises:
      DataError: a missing or malformed file (the message names it and, for a bad annotation, its index
        in ``annotations`` as the sample), an image file that does not exist, or no usable annotation.

    ``ds[i]`` returns ``image`` uint8 [H, W, 3] RGB; ``depth`` None; ``mask`` None; ``uv`` float32 [21, 2]
    px; ``xyz`` None; ``visible`` bool [21] (labelled); ``K`` float32 [3, 3] (`nominal_K`); ``hand``;
    ``index`` i; ``domain`` 1; ``name`` "<file_name>#<annotation id>".

    Attributes:
      num_skipped: annotations with fewer than ``min_keypoints`` labelled keypoints.
      annotation_index: int [N], each sample's index in the JSON's ``annotations`` list.
    """

    domain = 1

    def __init__(self, json_path, images_dir, split="all", test_fraction=0.1, split_seed=0,
                 default_hand="left", min_keypoints=MIN_KEYPOINTS):
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
        if default_hand not in HANDS:
            raise ValueError(f"coco_default_hand: expected left or right, got {default_hand!r}")
        self.json_path, self.images_dir = Path(json_path), Path(images_dir)
        if not self.images_dir.is_dir():
            raise DataError.at(self.images_dir, "COCO image folder not found (--coco_images)")
        data = _load_json(self.json_path)
        images = _read_images(self.json_path, self.images_dir, data["images"])
        rows, self.num_skipped = [], 0
        for i, ann in enumerate(data["annotations"]):
            image_id, xy, labelled, box, hand = _parse_annotation(self.json_path, i, ann, images, default_hand)
            if labelled.sum() < min_keypoints:
                self.num_skipped += 1
                continue
            rows.append((i, image_id, xy, labelled, _keypoint_box(xy, labelled) if box is None else box, hand,
                         ann.get("id", i)))
        if split != "all" and rows:
            test_ids = held_out_images([r[1] for r in rows], test_fraction, split_seed)
            rows = [r for r in rows if (r[1] in test_ids) == (split == "test")]
        if not rows:
            raise DataError.at(self.json_path, f"no annotation with >= {min_keypoints} labelled keypoints "
                                               f"(split {split!r}, {self.num_skipped} skipped)")
        self.annotation_index = np.array([r[0] for r in rows], np.int64)
        self._files = [images[r[1]][0] for r in rows]
        self._wh = np.array([images[r[1]][1:] for r in rows], np.int64)
        self._uv, self._visible = coco_to_ours(np.stack([r[2] for r in rows]), np.stack([r[3] for r in rows]))
        self._box = np.stack([r[4] for r in rows]).astype(np.float32)
        self._hand = np.array([r[5] for r in rows])
        self._names = [f"{os.path.relpath(f, self.images_dir)}#{r[6]}" for f, r in zip(self._files, rows)]
        for i, path in enumerate(self._files):
            if not path.is_file():
                raise DataError.at(path, "image not found (file_name of an 'images' entry)", i)

    def __len__(self) -> int:
        return len(self._files)

    def _index(self, i) -> int:
        return sample_index(i, len(self))

    def __getitem__(self, i) -> dict:
        i = self._index(i)
        path = self._files[i]
        width, height = (int(v) for v in self._wh[i])
        image = _READERS[path.suffix.lower()](path, i)
        check_shape(image, (height, width), path, i, "image (its 'images' entry's width/height)")
        return {"image": image, "depth": None, "mask": None, "uv": self._uv[i], "xyz": None,
                "visible": self._visible[i], "K": nominal_K(width, height), "hand": str(self._hand[i]),
                "index": i, "domain": self.domain, "name": self._names[i]}

    def annotations(self) -> dict:
        """All labels (no image is read), in our keypoint order.

        Returns:
          dict of ``uv`` float32 [N, 21, 2] px, ``visible`` bool [N, 21] (labelled), ``K`` float32 [N, 3, 3]
          (nominal), ``hand`` str [N], ``box`` float32 [N, 4] (x, y, w, h px), ``image_wh`` int64 [N, 2].
          There is no ``xyz``: the format has no 3D labels.
        """
        K = np.stack([nominal_K(w, h) for w, h in self._wh])
        return {"uv": self._uv.copy(), "visible": self._visible.copy(), "K": K, "hand": self._hand.copy(),
                "box": self._box.copy(), "image_wh": self._wh.copy()}

