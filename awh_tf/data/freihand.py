"""The FreiHAND loader (Zimmermann et al. 2019): real RGB images of right hands with 3D labels.

Layout (the published ``FreiHAND_pub_v2`` folder and its evaluation release), ``root`` holds::

    <root>/<split>_K.json            [N][3][3] pinhole intrinsics (px), one per label
    <root>/<split>_xyz.json          [N][21][3] m, camera frame, FreiHAND keypoint order
    <root>/<split>_scale.json        [N] m, FreiHAND's per-label reference length (optional; checked
                                     and kept as ``scale_mm`` when present, not used by the samples)
    <root>/<split>/rgb/%08d.jpg      RGB images (224x224 in the published data)
    <root>/training/mask/%08d.jpg    optional hand masks, one per label (grey JPEG)

with ``<split>`` in {training, evaluation}. Other published files (MANO parameters, mesh vertices,
segmentation maps) are not read.

Versions: the published training set holds each of its N labelled frames in several versions
(FreiHAND's "gs", "hom", "sample" and "auto" post-processings of one green-screen recording), stored
one version after the other: image i shows label ``i mod N`` (and mask ``i mod N``). Any whole number
of versions is accepted (4 N images when complete, N with the first version only); the evaluation
split has exactly one image per label.

Keypoints: FreiHAND's order is 0 wrist, then thumb 1-4, index 5-8, middle 9-12, ring 13-16,
little 17-20, each base -> tip; `keypoints.freihand_to_ours` reverses each finger and puts the palm
(midpoint of wrist and middle MCP, DESIGN.md §2) at 0. FreiHAND publishes no 2D labels: ``uv`` is the
projection of ``xyz`` with K, the palm's included (the projection of the 3D palm, so that K·xyz = uv
holds for every keypoint; RHD's palm uv is the midpoint of two labelled uv instead). FreiHAND has no
occlusion labels either, so every keypoint is ``visible``.

Masks are JPEG, so compression blurs their edge: a pixel is hand when its grey value is above
`MASK_THRESHOLD`.

Streaming: the labels (about 0.5 KB per label) are read once at construction; images are read per
access.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from awh_tf import keypoints as kp
from awh_tf.data.errors import DataError, sample_index
from awh_tf.data.image_io import check_shape, read_jpeg_grey, read_jpeg_rgb
from awh_tf.geometry import project

SPLITS = ("training", "evaluation")
MASK_THRESHOLD = 127  # grey value; JPEG masks are 0 / 255 up to compression noise
_IMAGE_NAME = re.compile(r"^\d{8}\.jpg$")
_LAYOUT = ("expected <root>/<split>_K.json, <root>/<split>_xyz.json and <root>/<split>/rgb/%08d.jpg "
           "with <split> in {training,evaluation}")


def _read_json_list(path: Path) -> list:
    """A non-empty JSON list from path; DataError when missing, unparsable or of another type."""
    if not path.is_file():
        raise DataError.at(path, f"FreiHAND annotation file not found; {_LAYOUT}")
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise DataError.at(path, f"cannot read JSON ({type(e).__name__}: {e})") from None
    if not isinstance(data, list) or not data:
        raise DataError.at(path, "expected a non-empty JSON list with one entry per label")
    return data


def _label_array(path: Path, data: list, shape: tuple, what: str) -> np.ndarray:
    """JSON entries [N] of `shape` -> float64 [N, *shape]; DataError naming the first bad entry."""
    try:
        array = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):  # ragged or non-numeric entries: found below
        array = None
    if array is None or array.shape[1:] != shape:
        for i, entry in enumerate(data):
            try:
                entry = np.asarray(entry, dtype=np.float64)
            except (TypeError, ValueError):
                raise DataError.at(path, f"{what} is not numeric", i) from None
            if entry.shape != shape:
                raise DataError.at(path, f"{what} has shape {entry.shape}, expected {shape}", i)
        raise DataError.at(path, f"entries are not all {what}s of shape {shape}")
    bad = np.flatnonzero(~np.all(np.isfinite(array.reshape(len(array), -1)), axis=1))
    if bad.size:
        raise DataError.at(path, f"{what} contains NaN or infinite values", int(bad[0]))
    return array


def read_freihand_labels(root: str | os.PathLike, split: str) -> dict:
    """Reads and checks ``<split>_K.json``, ``<split>_xyz.json`` and, if present, ``<split>_scale.json``.

    Returns:
      dict of ``xyz`` float64 [N, 21, 3] mm (camera frame, FreiHAND order), ``K`` float64 [N, 3, 3],
      ``scale_mm`` float64 [N] or None.
    Raises:
      DataError: a missing or unparsable file, an entry of the wrong shape, NaN, a K that is not an
        invertible pinhole matrix, a keypoint with Z <= 0, or lists of different lengths; the message
        names the file and, for a bad entry, its sample (label) index.
    """
    root = Path(root)
    k_path, xyz_path, scale_path = (root / f"{split}_{name}.json" for name in ("K", "xyz", "scale"))
    K = _label_array(k_path, _read_json_list(k_path), (3, 3), "K")
    xyz_m = _label_array(xyz_path, _read_json_list(xyz_path), (21, 3), "xyz")
    if len(xyz_m) != len(K):
        raise DataError.at(xyz_path, f"{len(xyz_m)} labels, but {k_path.name} has {len(K)}")
    # A pinhole K (last row 0 0 1) makes the projected depth Z, so Z > 0 is all projection needs.
    bad = np.flatnonzero(np.any(K[:, 2] != [0.0, 0.0, 1.0], axis=1)
                         | (np.abs(K[:, 0, 0] * K[:, 1, 1]) < 1e-12))
    if bad.size:
        raise DataError.at(k_path, "K is not an invertible pinhole matrix (last row 0 0 1, fx fy != 0)",
                           int(bad[0]))
    bad = np.flatnonzero(np.any(xyz_m[..., 2] <= 0, axis=1))
    if bad.size:
        raise DataError.at(xyz_path, "a keypoint has Z <= 0 (behind the camera)", int(bad[0]))
    scale_mm = None
    if scale_path.is_file():
        scale = _label_array(scale_path, _read_json_list(scale_path), (), "scale")
        if len(scale) != len(K):
            raise DataError.at(scale_path, f"{len(scale)} labels, but {k_path.name} has {len(K)}")
        bad = np.flatnonzero(scale <= 0)
        if bad.size:
            raise DataError.at(scale_path, "scale <= 0", int(bad[0]))
        scale_mm = scale * 1000.0
    return {"xyz": xyz_m * 1000.0, "K": K, "scale_mm": scale_mm}  # m -> mm


def _jpeg_names(folder: Path) -> set[str]:
    with os.scandir(folder) as entries:
        return {e.name for e in entries if _IMAGE_NAME.match(e.name)}


def check_jpeg_files(folder: Path, count: int, what: str, names: set[str] | None = None) -> None:
    """Checks that folder holds exactly ``%08d.jpg`` for 0 .. count-1 (sample i is file i).

    Args:
      what: the expected count's description for the message, e.g. "label count".
      names: the folder's ``%08d.jpg`` names if already listed (None: list them here).
    Raises:
      DataError: a different number of such JPEGs (naming the first missing file and its sample index
        when there is one), or a missing file.
    """
    present = _jpeg_names(folder) if names is None else names
    missing = next((i for i in range(count) if f"{i:08d}.jpg" not in present), None)
    if len(present) != count:
        first = f"; first missing: {missing:08d}.jpg (sample {missing})" if missing is not None else ""
        raise DataError.at(folder, f"{what} {count} != image count {len(present)}{first}")
    if missing is not None:
        raise DataError.at(folder / f"{missing:08d}.jpg", "image not found", missing)


class FreiHANDDataset:
    """FreiHAND samples as dicts in our keypoint order (see the module docstring for the format).

    Args:
      root: the folder holding ``<split>_K.json``, ``<split>_xyz.json`` and ``<split>/rgb/``.
      split: "training" or "evaluation".
      with_mask: read ``training/mask/`` when it exists; if False (and for the evaluation split, which
        has no masks) samples carry ``mask=None``.
    Raises:
      DataError: a missing folder or file (the message shows the expected layout), a bad JSON file
        (see `read_freihand_labels`), a training image count that is not a multiple of the label count,
        an evaluation image count other than it, or a mask count other than the label count.

    ``ds[i]`` returns ``image`` uint8 [H, W, 3] RGB; ``depth`` None; ``mask`` bool [H, W] or None;
    ``uv`` float32 [21, 2] px (``xyz`` projected with K); ``xyz`` float32 [21, 3] mm in the camera
    frame; ``visible`` bool [21] (all True); ``K`` float32 [3, 3]; ``hand`` "right"; ``index`` i;
    ``domain`` 1 (real images); ``name`` "<split>/<i:08d>". Labels are those of label ``i mod N``.

    Attributes:
      num_labels: N, the number of labels (unique frames).  num_versions: images per label.
      scale_mm: float32 [N] from ``<split>_scale.json`` (mm), or None when the file is absent.
    """

    domain = 1

    def __init__(self, root, split: str = "training", with_mask: bool = True):
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
        self.root, self.split = Path(root), split
        if not self.root.is_dir():
            raise DataError.at(self.root, f"FreiHAND root folder not found; {_LAYOUT}")
        rgb_dir = self.root / split / "rgb"
        if not rgb_dir.is_dir():
            raise DataError.at(rgb_dir, f"FreiHAND image folder not found; {_LAYOUT}")
        labels = read_freihand_labels(self.root, split)
        self.num_labels = n = len(labels["K"])
        names = _jpeg_names(rgb_dir)
        self.num_versions = self._versions(rgb_dir, len(names), n)
        check_jpeg_files(rgb_dir, n * self.num_versions, f"label count ({split}_xyz.json)", names)
        mask_dir = self.root / split / "mask"
        self.with_mask = bool(with_mask) and mask_dir.is_dir()
        if self.with_mask:
            check_jpeg_files(mask_dir, n, "label count")
        xyz, _ = kp.freihand_to_ours(labels["xyz"])
        self._xyz = xyz.astype(np.float32)
        self._uv = project(xyz, labels["K"])
        self._K = labels["K"].astype(np.float32)
        self.scale_mm = None if labels["scale_mm"] is None else labels["scale_mm"].astype(np.float32)

    def _versions(self, rgb_dir: Path, count: int, n: int) -> int:
        """Images per label: count / n for training (DataError unless a whole number), 1 for evaluation."""
        if self.split == "evaluation":
            return 1
        if count == 0 or count % n:
            raise DataError.at(rgb_dir, f"image count {count} is not a positive multiple of the label count "
                                        f"{n} ({self.split}_xyz.json); training image i uses label i mod N")
        return count // n

    def __len__(self) -> int:
        return self.num_labels * self.num_versions

    def _index(self, i) -> int:
        return sample_index(i, len(self))

    def _path(self, sub: str, file_index: int) -> Path:
        return self.root / self.split / sub / f"{file_index:08d}.jpg"

    def __getitem__(self, i) -> dict:
        i = self._index(i)
        label = i % self.num_labels
        image = read_jpeg_rgb(self._path("rgb", i), i)
        mask = None
        if self.with_mask:
            path = self._path("mask", label)
            grey = read_jpeg_grey(path, i)
            check_shape(grey, image.shape[:2], path, i, "mask")
            mask = grey > MASK_THRESHOLD
        return {
            "image": image, "depth": None, "mask": mask,
            "uv": self._uv[label], "xyz": self._xyz[label], "visible": np.ones(kp.NUM_KEYPOINTS, bool),
            "K": self._K[label], "hand": "right", "index": i, "domain": self.domain,
            "name": f"{self.split}/{i:08d}",
        }

    def annotations(self) -> dict:
        """All labels (no image is read), one row per sample (image), i.e. label ``i mod N``.

        Returns:
          dict of ``uv`` float32 [M, 21, 2] px, ``xyz`` float32 [M, 21, 3] mm (camera frame),
          ``visible`` bool [M, 21] (all True), ``K`` float32 [M, 3, 3], ``hand`` str [M] (all
          "right"), our keypoint order; M = len(self).
        """
        label = np.arange(len(self)) % self.num_labels
        return {"uv": self._uv[label], "xyz": self._xyz[label],
                "visible": np.ones((len(self), kp.NUM_KEYPOINTS), bool), "K": self._K[label],
                "hand": np.full(len(self), "right")}
