"""The on-disk formats of RHD and STB (DESIGN.md §3), written exactly as the published datasets.

RHD (``<out>/RHD_published_v2/<split>/``, split ``training`` or ``evaluation``):
  ``color/%05d.png`` RGB 320×320; ``depth/%05d.png`` with ``depth_m = (R·256 + G) / 65535 · 5.0``
  (R the high byte; B = 0); ``mask/%05d.png`` 8-bit grey part labels; ``anno_<split>.pickle``: a
  protocol-2 pickle of ``{int id: {'xyz': (42, 3) float32 m, 'uv_vis': (42, 3) float32 (u, v, 0/1),
  'K': (3, 3) float32}}``.
STB (``<out>/STB/``): ``images/<seq>/SK_color_<i>.png`` RGB 640×480, ``images/<seq>/SK_depth_<i>.png``
  with ``depth_mm = R + 256·G`` (R the low byte; B = 0), in the depth camera, unregistered;
  ``labels/<seq>_SK.mat`` with ``handPara`` (3, 21, N) float64 mm in the SK depth camera frame, STB order.

OpenCV writes arrays as BGR: the red channel is index 2 of what is passed to it.
"""

from __future__ import annotations

import io
import os
import pickle

import cv2
import numpy as np
import scipy.io

from awh_tf import keypoints

RHD_ROOT = "RHD_published_v2"
STB_ROOT = "STB"
RHD_SPLITS = ("training", "evaluation")
STB_SEQUENCES = tuple(f"B{i}{kind}" for i in range(1, 7) for kind in ("Counting", "Random"))
RHD_DEPTH_MAX_M = 5.0
_MAT_TEXT_BYTES = 116
_MAT_HEADER_TEXT = b"MATLAB 5.0 MAT-file Platform: posix, Created by: awh_tf.data.procedural"


# PNG filter/strategy measured fastest for the 640×480 STB images (OpenCV's default is SUB + RLE):
# "up" predicts each row from the one above, which the 2×2-replicated depth rows match exactly.
_PNG_STB_COLOR = (cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP, cv2.IMWRITE_PNG_STRATEGY,
                  cv2.IMWRITE_PNG_STRATEGY_RLE)
_PNG_STB_DEPTH = (cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP, cv2.IMWRITE_PNG_COMPRESSION, 1)


def write_png(path: str, image: np.ndarray, params=()) -> None:
    """Writes ``image`` (uint8 ``[H, W]`` grey or ``[H, W, 3]`` BGR) as a PNG; raises OSError on failure."""
    if not cv2.imwrite(path, image, list(params)):
        raise OSError(f"{path}: could not write PNG")


def encode_rhd_depth(depth_mm: np.ndarray) -> np.ndarray:
    """float ``[H, W]`` mm -> uint8 BGR ``[H, W, 3]``: 16 bits over 0-5 m, R high byte, G low byte."""
    value = np.clip(np.rint(depth_mm * (65535.0 / (1000.0 * RHD_DEPTH_MAX_M))), 0, 65535).astype(np.uint16)
    bgr = np.zeros(depth_mm.shape + (3,), np.uint8)
    bgr[..., 2] = value >> 8
    bgr[..., 1] = value & 0xFF
    return bgr


def encode_stb_depth(depth_mm: np.ndarray) -> np.ndarray:
    """uint16 ``[H, W]`` mm -> uint8 BGR ``[H, W, 3]``: R low byte, G high byte (``R + 256·G``)."""
    value = np.asarray(depth_mm, dtype=np.uint16)
    bgr = np.zeros(value.shape + (3,), np.uint8)
    bgr[..., 2] = value & 0xFF
    bgr[..., 1] = value >> 8
    return bgr


def rhd_split_dir(out_dir: str, split: str) -> str:
    return os.path.join(out_dir, RHD_ROOT, split)


def rhd_annotation_path(out_dir: str, split: str) -> str:
    return os.path.join(rhd_split_dir(out_dir, split), f"anno_{split}.pickle")


def stb_image_path(out_dir: str, sequence: str, kind: str, index: int) -> str:
    """``kind`` "color" or "depth"."""
    return os.path.join(out_dir, STB_ROOT, "images", sequence, f"SK_{kind}_{index}.png")


def stb_label_path(out_dir: str, sequence: str) -> str:
    return os.path.join(out_dir, STB_ROOT, "labels", f"{sequence}_SK.mat")


def make_dirs(out_dir: str) -> None:
    """Creates every folder the two datasets need."""
    for split in RHD_SPLITS:
        for kind in ("color", "depth", "mask"):
            os.makedirs(os.path.join(rhd_split_dir(out_dir, split), kind), exist_ok=True)
    for sequence in STB_SEQUENCES:
        os.makedirs(os.path.join(out_dir, STB_ROOT, "images", sequence), exist_ok=True)
    os.makedirs(os.path.join(out_dir, STB_ROOT, "labels"), exist_ok=True)


def write_rhd_frame(out_dir: str, split: str, index: int, frame) -> dict:
    """Writes one RHD sample's three PNGs; returns its annotation entry (module docstring)."""
    name = f"{index:05d}.png"
    base = rhd_split_dir(out_dir, split)
    write_png(os.path.join(base, "color", name), frame.color_bgr)
    write_png(os.path.join(base, "depth", name), encode_rhd_depth(frame.depth_mm))
    write_png(os.path.join(base, "mask", name), frame.mask)
    uv_vis = np.concatenate([frame.uv, frame.visible[:, None]], axis=1)
    return {"xyz": (frame.xyz / 1000.0).astype(np.float32), "uv_vis": uv_vis.astype(np.float32),
            "K": np.asarray(frame.K, dtype=np.float32)}


def write_rhd_annotations(out_dir: str, split: str, annotations: dict) -> None:
    """Writes ``anno_<split>.pickle`` ({int id: entry}) with protocol 2, like the published file."""
    with open(rhd_annotation_path(out_dir, split), "wb") as f:
        pickle.dump({int(k): annotations[k] for k in sorted(annotations)}, f, protocol=2)


def write_stb_frame(out_dir: str, sequence: str, index: int, frame) -> np.ndarray:
    """Writes one STB frame's two PNGs; returns its label ``[21, 3]`` mm, depth frame, **STB order**."""
    write_png(stb_image_path(out_dir, sequence, "color", index), frame.color_bgr, _PNG_STB_COLOR)
    write_png(stb_image_path(out_dir, sequence, "depth", index), encode_stb_depth(frame.depth_mm), _PNG_STB_DEPTH)
    return keypoints.ours_to_stb(frame.xyz_depth)


def write_stb_labels(out_dir: str, sequence: str, xyz_stb: np.ndarray) -> None:
    """Writes ``<seq>_SK.mat`` (MAT v5) with ``handPara`` (3, 21, N) from ``xyz_stb`` ``[N, 21, 3]`` mm."""
    hand_para = np.ascontiguousarray(np.transpose(np.asarray(xyz_stb, dtype=np.float64), (2, 1, 0)))
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"handPara": hand_para})
    data = bytearray(buffer.getvalue())
    # The 116-byte header text carries the creation time; a fixed text keeps the bytes reproducible.
    data[:_MAT_TEXT_BYTES] = _MAT_HEADER_TEXT.ljust(_MAT_TEXT_BYTES, b"\0")
    with open(stb_label_path(out_dir, sequence), "wb") as f:
        f.write(bytes(data))
