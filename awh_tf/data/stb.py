"""The Stereo Hand Pose Tracking Benchmark (STB, Zhang et al. 2017) loader, SK (RealSense) frames —
the real domain.

Layout (DESIGN.md §3), ``root`` holds ``images/`` and ``labels/``::

    <root>/images/<seq>/SK_color_<i>.png   RGB, 640x480, colour camera
    <root>/images/<seq>/SK_depth_<i>.png   depth_mm = R + 256*G, 640x480, *depth* camera (unregistered)
    <root>/labels/<seq>_SK.mat             handPara (3, 21, N) mm in the depth camera frame

STB keypoint order: 0 palm, pinky 1-4, ring 5-8, middle 9-12, index 13-16, thumb 17-20, each
MCP -> tip; converted to ours with `keypoints.stb_to_ours`. Left hands only.

Frames: labels go to the colour frame by X_c = R^T (X_d - t) and are projected with the colour K;
the depth map is registered into the colour image (`image_io.DepthRegistration`).

Depth region: registering a whole frame costs ~18 ms (one core). With ``depth_region="hand"`` only the
hand's box (`hand_box`: the keypoints' bounding box in the colour image grown on each side by
``hand_margin`` times its larger side plus `HAND_BOX_PAD_PX`, clipped to the image) is registered,
in ~5 ms: inside it the depth equals the whole-frame registration exactly, outside it is 0 (no
measurement). The training pipeline uses the depth only near the keypoints: the depth regularizer's
target keeps the keypoints' convex hull dilated by ``hand_region_dilation`` (0.1) of the hand's 2D
extent. The default margin (0.75) also covers the whole training crop (at most 1.3 extents
from the keypoints' centre at the default augmentation) but for the largest hands' rarest rotations
and shifts; 0.5 already leaves the depth target unchanged.

Weak labels: the depth registration reads only the depth image and the 2D keypoints with visibility
(the hand box, and the occluder bound ``near_mm`` taken from the depth image inside that box), never the
3D labels, so what the training pipeline sees of a real frame does not depend on them.

Visibility: STB has no occlusion labels, so ``visible`` = the keypoint projects inside the colour
image (u in [-0.5, W - 0.5), v in [-0.5, H - 0.5)) in front of the camera. Self-occluded keypoints
count as visible. Every keypoint is labelled all the same (``in_image_visibility``): the crop and the 2D
losses use ``visible``, while evaluation scores all 21, as hand3d does (docs/protocol.md).

Streaming: only the labels (N x 21 x 3 floats) stay in memory; images are read per access.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.io

from awh_tf import keypoints as kp
from awh_tf.data.errors import DataError, sample_index
from awh_tf.data.depth_registration import DepthRegistration
from awh_tf.data.image_io import check_shape, decode_stb_depth, read_png_bytes, read_rgb
from awh_tf.data.sk_cameras import IMAGE_HW, SK_COLOR_K, SK_DEPTH_K, SK_R, SK_T_MM, depth_to_color_frame
from awh_tf.geometry import project

STB_TRAIN_SEQUENCES = tuple(f"B{b}{kind}" for b in range(2, 7) for kind in ("Counting", "Random"))
STB_TEST_SEQUENCES = ("B1Counting", "B1Random")

HAND_BOX_MARGIN = 0.75  # hand box growth on each side, times the keypoints' larger extent
HAND_BOX_PAD_PX = 20.0  # plus this many px on each side
# Depth pixels more than this in front of the hand's nearest measured depth (an occluder) are searched for in
# the whole depth image rather than near the hand: exact for any value, it bounds the parallax searched.
NEAR_MARGIN_MM = 50.0
NEAR_PERCENTILE = 1.0  # the hand's nearest depth: this percentile of the depth image inside the hand box
DEPTH_REGIONS = ("full", "hand")

_LAYOUT = ("expected <root>/images/<seq>/SK_color_<i>.png, <root>/images/<seq>/SK_depth_<i>.png "
           "and <root>/labels/<seq>_SK.mat (handPara (3, 21, N) mm)")


def read_hand_para(path: str | os.PathLike) -> np.ndarray:
    """Reads ``handPara`` from an STB label file.

    Returns:
      float64 [N, 21, 3] mm in the depth camera frame, STB keypoint order.
    Raises:
      DataError: unreadable file, no ``handPara``, a shape other than (3, 21, N), or NaN (naming the
        first bad frame).
    """
    try:
        mat = scipy.io.loadmat(path, variable_names=["handPara"])
    except FileNotFoundError:
        raise DataError.at(path, f"STB label file not found; {_LAYOUT}") from None
    except Exception as e:  # scipy raises several types (ValueError, MatReadError, NotImplementedError)
        raise DataError.at(path, f"cannot read .mat file ({type(e).__name__}: {e})") from None
    if "handPara" not in mat:
        raise DataError.at(path, "no 'handPara' variable in the .mat file")
    para = mat["handPara"]
    if para.ndim != 3 or para.shape[:2] != (3, 21) or para.shape[2] == 0:
        raise DataError.at(path, f"handPara has shape {para.shape}, expected (3, 21, N)")
    if not np.issubdtype(para.dtype, np.number):
        raise DataError.at(path, f"handPara has dtype {para.dtype}, expected numbers")
    xyz = np.transpose(para, (2, 1, 0)).astype(np.float64)  # (3, 21, N) -> [N, 21, 3]
    bad = np.flatnonzero(~np.all(np.isfinite(xyz), axis=(1, 2)))
    if bad.size:
        raise DataError.at(path, "handPara contains NaN or infinite values", int(bad[0]))
    return xyz


def check_frame_files(folder: Path, kind: str, n: int, mat_path: Path) -> None:
    """Checks that folder holds exactly SK_<kind>_0.png .. SK_<kind>_<n-1>.png (BB_* files ignored).

    Raises:
      DataError: a different number of such PNGs (naming the first missing frame when there is one),
        or a missing frame.
    """
    prefix = f"SK_{kind}_"
    with os.scandir(folder) as entries:
        present = {e.name for e in entries if e.name.startswith(prefix) and e.name.endswith(".png")}
    missing = next((i for i in range(n) if f"{prefix}{i}.png" not in present), None)
    if len(present) != n:
        first = f"; first missing: {prefix}{missing}.png (sample {missing})" if missing is not None else ""
        raise DataError.at(folder, f"annotation count {n} ({mat_path.name}) != image count "
                                   f"{len(present)} ({prefix}*.png){first}")
    if missing is not None:
        raise DataError.at(folder / f"{prefix}{missing}.png", "image not found", missing)


def hand_box(uv: np.ndarray, visible: np.ndarray, margin: float = HAND_BOX_MARGIN,
             pad_px: float = HAND_BOX_PAD_PX, hw: tuple[int, int] = IMAGE_HW) -> tuple[int, ...]:
    """The colour-image box registered with ``depth_region="hand"``.

    Args:
      uv: [21, 2] px, colour image.  visible: [21] bool, the 2D labels' visibility (only these count).
      margin, pad_px: growth on each side: margin * (larger side of the keypoints' box) + pad_px px.
      hw: (H, W) of the image.
    Returns:
      (u0, v0, u1, v1) int px: columns u0..u1-1 and rows v0..v1-1, clipped to the image (empty when no
      keypoint is visible or the box misses the image).
    """
    if not np.any(visible):
        return 0, 0, 0, 0
    pts = np.asarray(uv, np.float64)[np.asarray(visible, bool)]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    grow = margin * float(np.max(hi - lo)) + pad_px
    height, width = hw
    u0, v0 = np.clip(np.floor(lo - grow), 0, [width, height]).astype(int)
    u1, v1 = np.clip(np.ceil(hi + grow) + 1, 0, [width, height]).astype(int)
    return int(u0), int(v0), int(u1), int(v1)


def near_bound(depth: np.ndarray, box) -> float | None:
    """The occluder bound ``near_mm`` of a hand-box registration, from the depth image alone: the
    `NEAR_PERCENTILE` of the measured depth inside the box (read in the depth image: the cameras are 24 mm
    apart, so it is nearly the same region) minus `NEAR_MARGIN_MM`. Any value gives the same registration;
    this one keeps the searched region small. None (the image's nearest depth) when it is not positive.
    """
    u0, v0, u1, v1 = box
    window = depth[v0:v1, u0:u1]
    window = window[window > 0]
    if window.size == 0:
        return None
    near = float(np.percentile(window, NEAR_PERCENTILE)) - NEAR_MARGIN_MM
    return near if near > 0 else None


def _sequence_labels(root: Path, seq: str) -> np.ndarray:
    """Checks one sequence's folders and counts; returns its labels [N, 21, 3] mm, depth frame."""
    folder = root / "images" / seq
    if not folder.is_dir():
        raise DataError.at(folder, f"STB sequence folder not found; {_LAYOUT}")
    mat_path = root / "labels" / f"{seq}_SK.mat"
    if not mat_path.is_file():
        raise DataError.at(mat_path, f"STB label file not found; {_LAYOUT}")
    xyz_depth = read_hand_para(mat_path)
    for kind in ("color", "depth"):
        check_frame_files(folder, kind, len(xyz_depth), mat_path)
    return xyz_depth


class STBDataset:
    """STB SK frames as dicts in our keypoint order (see the module docstring for the format).

    Args:
      root: the folder holding ``images/`` and ``labels/``.
      sequences: sequence names, e.g. `STB_TRAIN_SEQUENCES` or `STB_TEST_SEQUENCES`.
      with_depth: if False, samples carry ``depth=None`` and the depth PNG is neither read nor
        registered (evaluation does not need it).
      depth_region: "full" registers the whole depth frame; "hand" only `hand_box` (exactly the same
        values there, 0 elsewhere; several times faster: the mode for training, see the module
        docstring).
      hand_margin: with "hand", the box's growth on each side as a fraction of the keypoints' larger
        extent (plus `HAND_BOX_PAD_PX`).
    Raises:
      ValueError: an unknown ``depth_region``, a negative ``hand_margin`` or no sequence.
      DataError: a missing folder or file (the message shows the expected layout), a bad .mat, NaN in
        the labels, or annotation count != image count.

    ``ds[i]`` returns ``image`` uint8 [480, 640, 3] RGB; ``depth`` float32 [480, 640] mm registered to
    the colour image (0 = none; with ``depth_region="hand"`` 0 outside ``ds.depth_box(i)``); ``mask``
    None; ``uv`` float32 [21, 2] px (colour image); ``xyz`` float32 [21, 3] mm (colour camera frame);
    ``visible`` bool [21] (inside the image); ``K`` float32 [3, 3] (colour camera); ``hand`` "left";
    ``index`` i; ``domain`` 1; ``name`` "<seq>/<frame>".
    """

    domain = 1
    # ``visible`` means "inside the image", not "labelled": the protocol scores every keypoint and reports
    # the in-image-only figures beside them (awh_tf.evaluation.protocol.evaluate_predictions).
    in_image_visibility = True

    def __init__(self, root, sequences=STB_TRAIN_SEQUENCES, with_depth: bool = True,
                 depth_region: str = "full", hand_margin: float = HAND_BOX_MARGIN):
        if isinstance(sequences, str):
            sequences = (sequences,)
        self.root, self.sequences, self.with_depth = Path(root), tuple(sequences), with_depth
        self.depth_region, self.hand_margin = depth_region, float(hand_margin)
        if not self.sequences:
            raise ValueError("sequences: expected at least one sequence name")
        if depth_region not in DEPTH_REGIONS:
            raise ValueError(f"depth_region: expected one of {DEPTH_REGIONS}, got {depth_region!r}")
        if not self.hand_margin >= 0:
            raise ValueError(f"hand_margin: expected >= 0, got {hand_margin}")
        for sub in ("", "images", "labels"):
            if not (self.root / sub).is_dir():
                raise DataError.at(self.root / sub, f"STB folder not found; {_LAYOUT}")
        per_seq = [_sequence_labels(self.root, seq) for seq in self.sequences]
        self._seq = np.repeat(np.arange(len(per_seq)), [len(x) for x in per_seq])
        self._frame = np.concatenate([np.arange(len(x)) for x in per_seq])
        xyz_depth = np.concatenate(per_seq)
        xyz = kp.stb_to_ours(depth_to_color_frame(xyz_depth))
        self._xyz = xyz.astype(np.float32)
        self._uv, self._visible = self._project(xyz)
        self._registration = None  # built on first use: its per-pixel rays take ~4 MB

    @staticmethod
    def _project(xyz: np.ndarray):
        """xyz [N, 21, 3] mm colour frame -> uv [N, 21, 2] px, visible [N, 21] (inside the image)."""
        in_front = xyz[..., 2] > 0
        # Points behind the camera get a dummy depth so the projection is defined; not visible.
        safe = np.where(in_front[..., None], xyz, np.array([0.0, 0.0, 1.0]))
        uv = project(safe, SK_COLOR_K)
        height, width = IMAGE_HW
        visible = (in_front & (uv[..., 0] >= -0.5) & (uv[..., 0] < width - 0.5)
                   & (uv[..., 1] >= -0.5) & (uv[..., 1] < height - 0.5))
        return uv.astype(np.float32), visible

    def __len__(self) -> int:
        return len(self._frame)

    def _index(self, i) -> int:
        return sample_index(i, len(self))

    def _path(self, kind: str, i: int) -> Path:
        seq = self.sequences[self._seq[i]]
        return self.root / "images" / seq / f"SK_{kind}_{self._frame[i]}.png"

    def depth_box(self, i) -> tuple[int, int, int, int]:
        """Sample i's registered box (u0, v0, u1, v1) px in the colour image (see `hand_box`)."""
        i = self._index(i)
        if self.depth_region == "full":
            return 0, 0, IMAGE_HW[1], IMAGE_HW[0]
        return hand_box(self._uv[i], self._visible[i], self.hand_margin)

    def _read_depth(self, i: int) -> np.ndarray:
        raw = read_png_bytes(self._path("depth", i), i)
        check_shape(raw, IMAGE_HW, self._path("depth", i), i, "depth image")
        if self._registration is None:
            self._registration = DepthRegistration(SK_DEPTH_K, SK_COLOR_K, SK_R, SK_T_MM,
                                                   IMAGE_HW, IMAGE_HW)
        depth = decode_stb_depth(raw)
        if self.depth_region == "full":
            return self._registration(depth)
        box = self.depth_box(i)
        return self._registration(depth, box, near_bound(depth, box))

    def __getitem__(self, i) -> dict:
        i = self._index(i)
        image = read_rgb(self._path("color", i), i)
        check_shape(image, IMAGE_HW, self._path("color", i), i, "colour image")
        return {
            "image": image, "depth": self._read_depth(i) if self.with_depth else None, "mask": None,
            "uv": self._uv[i], "xyz": self._xyz[i], "visible": self._visible[i],
            "K": SK_COLOR_K.astype(np.float32), "hand": "left", "index": i, "domain": self.domain,
            "name": f"{self.sequences[self._seq[i]]}/{self._frame[i]}",
        }

    def annotations(self) -> dict:
        """All labels (no image is read).

        Returns:
          dict of ``uv`` float32 [N, 21, 2] px, ``xyz`` float32 [N, 21, 3] mm (colour frame),
          ``visible`` bool [N, 21], ``K`` float32 [N, 3, 3], ``hand`` str [N] (all "left").
        """
        n = len(self)
        return {"uv": self._uv.copy(), "xyz": self._xyz.copy(), "visible": self._visible.copy(),
                "K": np.broadcast_to(SK_COLOR_K.astype(np.float32), (n, 3, 3)).copy(),
                "hand": np.full(n, "left")}
