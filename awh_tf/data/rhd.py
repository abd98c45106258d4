"""The Rendered Hand Pose Dataset (RHD, Zimmermann & Brox 2017) loader — the synthetic domain.

Layout (DESIGN.md §3), ``root`` = the ``RHD_published_v2`` folder::

    <root>/<split>/color/%05d.png   RGB, 320x320
    <root>/<split>/depth/%05d.png   depth_m = (R*256 + G) / 65535 * 5.0 (R = high byte)
    <root>/<split>/mask/%05d.png    labels: 0 background, 1 person, 2-17 left hand, 18-33 right hand
    <root>/<split>/anno_<split>.pickle  {id: {'xyz': (42,3) m, 'uv_vis': (42,3) u,v,vis, 'K': (3,3)}}

42 keypoints: left hand 0-20, right hand 21-41, each in our per-hand order but with the wrist at 0.
Samples are the pickle's ids in increasing order; sample i reads the files named ``%05d`` % ids[i]
(for the published files ids[i] == i).

Which hand: with ``hand="dominant"`` the hand with more mask pixels (as hand3d does; a tie, including
a frame with neither hand, goes to the right hand). Reading a sample decides it from its mask and
caches the decision in memory (one byte per sample). `RHDDataset.annotations` gives all labels
without reading colour or depth images: by default it reads the masks once for the same choice, or,
with ``hand_rule="keypoints"``, takes the hand with more visible keypoints in the image (see there).

Streaming: only the annotation arrays (~1 KB per sample) stay in memory; images are read per access.
"""

from __future__ import annotations

import concurrent.futures
import os
from pathlib import Path

import numpy as np

from awh_tf import keypoints as kp
from awh_tf.data.errors import DataError, sample_index
from awh_tf.data.image_io import check_shape, decode_rhd_depth, read_label_png, read_png_bytes, read_rgb
from awh_tf.data.safe_pickle import load_numpy_pickle

SPLITS = ("training", "evaluation")
HANDS = ("dominant", "left", "right")
LEFT, RIGHT = 0, 1
_SIDE_NAMES = ("left", "right")
_LAYOUT = ("expected RHD_published_v2/<split>/{color,depth,mask}/%05d.png and "
           "RHD_published_v2/<split>/anno_<split>.pickle with <split> in {training,evaluation}")


def hand_mask(labels: np.ndarray, side: int) -> np.ndarray:
    """RHD part labels uint8 [H, W] -> bool [H, W] of one hand (left: 2..17, right: >= 18)."""
    return (labels >= 2) & (labels <= 17) if side == LEFT else labels >= 18


def _check_layout(root: Path, split: str) -> Path:
    if not root.is_dir():
        raise DataError.at(root, f"RHD root folder not found; {_LAYOUT}")
    split_dir = root / split
    if not split_dir.is_dir():
        raise DataError.at(split_dir, f"RHD split folder not found; {_LAYOUT}")
    for sub in ("color", "depth", "mask"):
        if not (split_dir / sub).is_dir():
            raise DataError.at(split_dir / sub, f"RHD image folder not found; {_LAYOUT}")
    if not (split_dir / f"anno_{split}.pickle").is_file():
        raise DataError.at(split_dir / f"anno_{split}.pickle", f"RHD annotations not found; {_LAYOUT}")
    return split_dir


def _sample_arrays(path: Path, sample_id, entry):
    """One pickle entry -> (xyz (42,3) m, uv_vis (42,3), K (3,3)) float64; DataError if malformed."""
    expected = {"xyz": (42, 3), "uv_vis": (42, 3), "K": (3, 3)}
    if not isinstance(entry, dict):
        raise DataError.at(path, f"entry is a {type(entry).__name__}, expected a dict", sample_id)
    arrays = []
    for key, shape in expected.items():
        if key not in entry:
            raise DataError.at(path, f"entry has no '{key}'", sample_id)
        try:
            value = np.asarray(entry[key], dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError.at(path, f"'{key}' is not numeric", sample_id) from None
        if value.shape != shape:
            raise DataError.at(path, f"'{key}' has shape {value.shape}, expected {shape}", sample_id)
        if not np.all(np.isfinite(value)):
            raise DataError.at(path, f"'{key}' contains NaN or infinite values", sample_id)
        arrays.append(value)
    return arrays


def read_rhd_annotations(path: str | os.PathLike) -> dict:
    """Reads and checks an RHD ``anno_*.pickle`` with the restricted unpickler.

    Returns:
      dict of ``ids`` int64 [N] (sorted), ``xyz`` float32 [N, 42, 3] mm (camera frame),
      ``uv`` float32 [N, 42, 2] px, ``visible`` bool [N, 42], ``K`` float32 [N, 3, 3].
    Raises:
      DataError: a refused or unreadable pickle, a missing key, a wrong shape, NaN; the message names
        the file and the sample id.
    """
    path = Path(path)
    raw = load_numpy_pickle(path)
    if not isinstance(raw, dict) or not raw:
        raise DataError.at(path, "expected a non-empty dict {sample id: annotation}")
    if not all(isinstance(k, (int, np.integer)) for k in raw):
        raise DataError.at(path, "sample ids (dict keys) must be integers")
    ids = np.array(sorted(int(k) for k in raw), dtype=np.int64)
    xyz, uv_vis, K = (np.stack(a) for a in zip(*(_sample_arrays(path, i, raw[i]) for i in ids)))
    return {
        "ids": ids,
        "xyz": (xyz * 1000.0).astype(np.float32),  # m -> mm
        "uv": uv_vis[..., :2].astype(np.float32),
        "visible": uv_vis[..., 2] == 1,
        "K": K.astype(np.float32),
    }


def check_image_files(folder: Path, names: list[str]) -> None:
    """Checks that folder holds exactly the PNGs `names` (sample i is names[i]).

    Raises:
      DataError: a different number of PNGs (naming the first missing file and its sample index when
        there is one), or a missing file.
    """
    with os.scandir(folder) as entries:
        present = {e.name for e in entries if e.name.endswith(".png")}
    missing = next(((i, name) for i, name in enumerate(names) if name not in present), None)
    if len(present) != len(names):
        first = f"; first missing: {missing[1]} (sample {missing[0]})" if missing else ""
        raise DataError.at(folder, f"annotation count {len(names)} != image count {len(present)}{first}")
    if missing:
        raise DataError.at(folder / missing[1], "image not found", missing[0])


class RHDDataset:
    """RHD samples as dicts in our keypoint order (see the module docstring for the format).

    Args:
      root: the ``RHD_published_v2`` folder.
      split: "training" or "evaluation".
      hand: "dominant" (more mask pixels), "left" or "right" (always that hand).
      with_depth: if False, samples carry ``depth=None`` and the depth PNG is not read.
    Raises:
      DataError: a missing folder or file (the message shows the expected layout), a bad pickle,
        NaN in the annotations, or annotation count != image count.

    ``ds[i]`` returns ``image`` uint8 [H, W, 3] RGB; ``depth`` float32 [H, W] mm (0 = none);
    ``mask`` bool [H, W] of the selected hand; ``uv`` float32 [21, 2] px; ``xyz`` float32 [21, 3] mm
    in the camera frame; ``visible`` bool [21]; ``K`` float32 [3, 3]; ``hand`` "left"/"right";
    ``index`` i; ``domain`` 0; ``name`` "<split>/<id:05d>". Nothing is mirrored.
    """

    domain = 0

    def __init__(self, root, split: str = "training", hand: str = "dominant", with_depth: bool = True):
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
        if hand not in HANDS:
            raise ValueError(f"hand: expected one of {HANDS}, got {hand!r}")
        self.root, self.split, self.hand, self.with_depth = Path(root), split, hand, with_depth
        self.split_dir = _check_layout(self.root, split)
        self._labels = read_rhd_annotations(self.split_dir / f"anno_{split}.pickle")
        n = len(self._labels["ids"])
        names = [f"{i:05d}.png" for i in self._labels["ids"]]
        for sub in ("color", "depth", "mask"):
            check_image_files(self.split_dir / sub, names)
        # -1 = not decided yet; LEFT / RIGHT once a mask was read (or fixed by `hand`).
        fixed = {"left": LEFT, "right": RIGHT}.get(hand, -1)
        self._side = np.full(n, fixed, dtype=np.int8)

    def __len__(self) -> int:
        return len(self._labels["ids"])

    def _path(self, sub: str, i: int) -> Path:
        return self.split_dir / sub / f"{self._labels['ids'][i]:05d}.png"

    def _index(self, i) -> int:
        return sample_index(i, len(self))

    def __getitem__(self, i) -> dict:
        i = self._index(i)
        image = read_rgb(self._path("color", i), i)
        labels = read_label_png(self._path("mask", i), i)
        check_shape(labels, image.shape[:2], self._path("mask", i), i, "mask")
        depth = None
        if self.with_depth:
            raw = read_png_bytes(self._path("depth", i), i)
            check_shape(raw, image.shape[:2], self._path("depth", i), i, "depth image")
            depth = decode_rhd_depth(raw)
        if self._side[i] < 0:
            self._side[i] = self._side_from_mask(labels)
        side = int(self._side[i])
        uv, xyz, visible = self._hand_labels(np.array([i]), np.array([side]))
        return {
            "image": image, "depth": depth, "mask": hand_mask(labels, side),
            "uv": uv[0], "xyz": xyz[0], "visible": visible[0], "K": self._labels["K"][i],
            "hand": _SIDE_NAMES[side], "index": i, "domain": self.domain,
            "name": f"{self.split}/{self._labels['ids'][i]:05d}",
        }

    @staticmethod
    def _side_from_mask(labels: np.ndarray) -> int:
        n_left = np.count_nonzero(hand_mask(labels, LEFT))
        n_right = np.count_nonzero(hand_mask(labels, RIGHT))
        return LEFT if n_left > n_right else RIGHT

    def _hand_labels(self, idx: np.ndarray, side: np.ndarray):
        """Samples idx [M] with sides [M] -> uv [M,21,2], xyz [M,21,3], visible [M,21] in our order."""
        right = side == RIGHT

        def pick(a):  # [N, 42, ...] -> the chosen hand's [M, 21, ...]
            choose_right = right.reshape((-1,) + (1,) * (a.ndim - 1))
            return np.where(choose_right, a[idx, kp.RHD_RIGHT], a[idx, kp.RHD_LEFT])

        uv, visible = kp.rhd_hand_to_ours(pick(self._labels["uv"]), pick(self._labels["visible"]))
        xyz, _ = kp.rhd_hand_to_ours(pick(self._labels["xyz"]))
        return uv.astype(np.float32), xyz.astype(np.float32), visible

    def hand_side(self, i) -> str:
        """The hand sample i uses, "left" or "right"; reads its mask once if not decided yet."""
        i = self._index(i)
        if self._side[i] < 0:
            self._side[i] = self._side_from_mask(read_label_png(self._path("mask", i), i))
        return _SIDE_NAMES[self._side[i]]

    def _decide_from_masks(self, idx: np.ndarray) -> None:
        # OpenCV releases the GIL while decoding, so two threads use both cores.
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(self.hand_side, idx.tolist()))

    def _sides_from_keypoints(self, idx: np.ndarray) -> np.ndarray:
        """Sides of idx by visible keypoints inside the image; ties take the mask's choice."""
        height, width = read_label_png(self._path("mask", 0), 0).shape
        uv, visible = self._labels["uv"][idx], self._labels["visible"][idx]
        inside = (visible & (uv[..., 0] >= -0.5) & (uv[..., 0] < width - 0.5)
                  & (uv[..., 1] >= -0.5) & (uv[..., 1] < height - 0.5))
        n_left = inside[:, kp.RHD_LEFT].sum(axis=1)
        n_right = inside[:, kp.RHD_RIGHT].sum(axis=1)
        tie = idx[(n_left == n_right) & (self._side[idx] < 0)]
        self._decide_from_masks(tie)
        return np.where(n_left > n_right, LEFT, np.where(n_right > n_left, RIGHT, self._side[idx]))

    def annotations(self, hand_rule: str = "mask") -> dict:
        """All labels without reading colour or depth images.

        Args:
          hand_rule: how ``hand="dominant"`` chooses the hand.
            "mask": the hand with more mask pixels, exactly as ``ds[i]``; reads each mask not read
              before once (two threads; ~0.5 ms a mask, about 10 s for the 41 258 training masks).
            "keypoints": the hand with more visible keypoints inside the image; a tie takes the mask's
              choice. Cheap, and the same as the mask rule whenever one hand is clearly the visible
              one, but it can differ from ``ds[i]`` on frames where both hands are partly visible.
          Mask decisions are cached in memory (one byte a sample) and reused by ``ds[i]``.
        Returns:
          dict of ``uv`` float32 [N, 21, 2] px, ``xyz`` float32 [N, 21, 3] mm, ``visible`` bool
          [N, 21], ``K`` float32 [N, 3, 3], ``hand`` str [N] ("left"/"right"), our keypoint order.
        """
        if hand_rule not in ("mask", "keypoints"):
            raise ValueError(f"hand_rule: expected 'mask' or 'keypoints', got {hand_rule!r}")
        idx = np.arange(len(self))
        if self.hand != "dominant" or hand_rule == "mask":
            self._decide_from_masks(np.flatnonzero(self._side < 0))
            sides = self._side.astype(np.int64)
        else:
            sides = self._sides_from_keypoints(idx).astype(np.int64)
        uv, xyz, visible = self._hand_labels(idx, sides)
        return {"uv": uv, "xyz": xyz, "visible": visible, "K": self._labels["K"].copy(),
                "hand": np.array(_SIDE_NAMES)[sides]}
