"""Hand-written RHD and STB fixture folders for the loader tests.

Written from the format description (DESIGN.md §3) with cv2, pickle and scipy only — never with the
procedural generator — so the loaders are tested against the formats, not against themselves.
Every writer takes images in RGB order and converts to OpenCV's BGR itself.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import scipy.io

RHD_SIZE = 320
STB_HW = (480, 640)


def write_rgb_png(path: Path, rgb: np.ndarray) -> None:
    """Writes uint8 [H, W, 3] given in RGB order (or [H, W] grey) as a PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), image)


def rhd_entry(xyz_m: np.ndarray, uv: np.ndarray, vis: np.ndarray, K: np.ndarray) -> dict:
    """One RHD annotation: 'xyz' (42,3) m, 'uv_vis' (42,3) = u, v, visible, 'K' (3,3)."""
    uv_vis = np.concatenate([uv, vis[:, None]], axis=1).astype(np.float64)
    return {"xyz": np.asarray(xyz_m, np.float64), "uv_vis": uv_vis, "K": np.asarray(K, np.float64)}


def write_rhd_split(root: Path, split: str, frames: list[dict], annotations: dict | None = None,
                    pickle_bytes: bytes | None = None) -> Path:
    """Writes root/<split>/{color,depth,mask}/%05d.png and anno_<split>.pickle.

    Args:
      frames: per frame a dict of ``color`` RGB uint8 [H,W,3], ``depth`` the depth PNG's bytes in RGB
        order uint8 [H,W,3] (R high byte, G low byte), ``mask`` uint8 [H,W] part labels.
      annotations: {id: rhd_entry(...)} pickled with protocol 2 (as the published file), unless
        ``pickle_bytes`` gives the file's raw content.
    Returns:
      root (the ``RHD_published_v2`` folder).
    """
    split_dir = root / split
    for i, frame in enumerate(frames):
        write_rgb_png(split_dir / "color" / f"{i:05d}.png", frame["color"])
        write_rgb_png(split_dir / "depth" / f"{i:05d}.png", frame["depth"])
        write_rgb_png(split_dir / "mask" / f"{i:05d}.png", frame["mask"])
    if pickle_bytes is None:
        pickle_bytes = pickle.dumps(annotations, protocol=2)
    (split_dir / f"anno_{split}.pickle").write_bytes(pickle_bytes)
    return root


def write_stb_sequence(root: Path, seq: str, hand_para: np.ndarray | None, colors: list,
                       depths_rgb: list, mat_vars: dict | None = None) -> Path:
    """Writes root/images/<seq>/SK_{color,depth}_<i>.png and root/labels/<seq>_SK.mat.

    Args:
      hand_para: (3, 21, N) mm in the depth camera frame, STB order; saved as ``handPara``.
      colors: RGB uint8 [480, 640, 3] per frame.
      depths_rgb: the depth PNG's bytes in RGB order uint8 [H, W, 3] (depth_mm = R + 256*G).
      mat_vars: variables to save instead of {"handPara": hand_para}.
    Returns:
      root (the folder holding images/ and labels/).
    """
    folder = root / "images" / seq
    for i, (color, depth) in enumerate(zip(colors, depths_rgb)):
        write_rgb_png(folder / f"SK_color_{i}.png", color)
        write_rgb_png(folder / f"SK_depth_{i}.png", depth)
    # The real folders also hold the stereo pair's frames; the loader must ignore them.
    write_rgb_png(folder / "BB_left_0.png", np.zeros((4, 4, 3), np.uint8))
    (root / "labels").mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(root / "labels" / f"{seq}_SK.mat",
                     mat_vars if mat_vars is not None else {"handPara": hand_para})
    return root


def stb_depth_bytes(depth_mm: np.ndarray) -> np.ndarray:
    """Depth uint16-valued [H, W] mm -> the STB depth PNG's RGB bytes: R = low byte, G = high byte.

    B is filled with a constant the decoder must ignore.
    """
    depth_mm = np.asarray(depth_mm, np.int64)
    return np.stack([depth_mm % 256, depth_mm // 256, np.full_like(depth_mm, 99)], -1).astype(np.uint8)


class ForeignGlobal:
    """Pickles to a call of os.mkdir(path): observable if a loader ever executes it."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        import os
        return (os.mkdir, (self.path,))
