"""PNG and JPEG reading with one-line errors and depth decoding for RHD and STB (registering a depth camera's
map into a colour image is ``awh_tf.data.depth_registration``).

Legend: H, W image height and width in px; pixel centres at integer coordinates (u right, v down).
Depth maps are float32 [H, W] in mm, 0 = no measurement.

OpenCV decodes to BGR: in a [H, W, 3] array from `read_png_bytes`, R is channel 2 and G channel 1.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from awh_tf.data.errors import DataError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_JPEG_SOI = b"\xff\xd8\xff"  # start-of-image marker and the first byte of the next marker
_JPEG_EOI = b"\xff\xd9"

RHD_DEPTH_MAX_MM = 5000.0  # RHD: depth_m = (R*256 + G) / 65535 * 5.0


def _read_file(path: str | os.PathLike, index: int | None) -> np.ndarray:
    try:
        return np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError.at(path, "image not found", index) from None
    except OSError as e:
        raise DataError.at(path, f"cannot read image ({e})", index) from None


def _decode_png(path: str | os.PathLike, index: int | None, flags: int) -> np.ndarray:
    data = _read_file(path, index)
    raw = data.tobytes()
    if not raw.startswith(_PNG_SIGNATURE):
        raise DataError.at(path, "not a PNG file", index)
    # libpng may decode a file cut after its last IDAT without complaint; the IEND check catches it.
    if not raw.endswith(_PNG_IEND):
        raise DataError.at(path, "truncated PNG (no IEND chunk at the end)", index)
    image = cv2.imdecode(data, flags)
    if image is None:
        raise DataError.at(path, "corrupt PNG (decoder failed)", index)
    return image


def _decode_jpeg(path: str | os.PathLike, index: int | None, flags: int) -> np.ndarray:
    data = _read_file(path, index)
    raw = data.tobytes()
    if not raw.startswith(_JPEG_SOI):
        raise DataError.at(path, "not a JPEG file", index)
    # libjpeg decodes a file cut short into grey rows with only a warning; the EOI check catches it.
    # Zero bytes after the marker (padding some writers add) are allowed.
    if not raw.rstrip(b"\x00").endswith(_JPEG_EOI):
        raise DataError.at(path, "truncated JPEG (no EOI marker at the end)", index)
    image = cv2.imdecode(data, flags)
    if image is None:
        raise DataError.at(path, "corrupt JPEG (decoder failed)", index)
    return image


def read_jpeg_rgb(path: str | os.PathLike, index: int | None = None) -> np.ndarray:
    """Reads a colour JPEG as RGB. Returns uint8 [H, W, 3]. Raises DataError naming path and index."""
    return cv2.cvtColor(_decode_jpeg(path, index, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def read_jpeg_grey(path: str | os.PathLike, index: int | None = None) -> np.ndarray:
    """Reads a JPEG as one grey channel (a colour file is converted). Returns uint8 [H, W]."""
    return _decode_jpeg(path, index, cv2.IMREAD_GRAYSCALE)


def read_rgb(path: str | os.PathLike, index: int | None = None) -> np.ndarray:
    """Reads a colour PNG as RGB. Returns uint8 [H, W, 3]. Raises DataError naming path and index."""
    return cv2.cvtColor(_decode_png(path, index, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def read_png_bytes(path: str | os.PathLike, index: int | None = None) -> np.ndarray:
    """Reads an 8-bit 3- or 4-channel PNG as stored, without colour conversion.

    Returns uint8 [H, W, 3] in OpenCV's **BGR** channel order (alpha dropped); for encoded depth maps.
    """
    image = _decode_png(path, index, cv2.IMREAD_UNCHANGED)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise DataError.at(
            path, f"expected an 8-bit RGB PNG, got {image.dtype} with shape {image.shape}", index)
    return image[..., :3]


def read_label_png(path: str | os.PathLike, index: int | None = None) -> np.ndarray:
    """Reads an 8-bit label PNG (e.g. RHD's part mask). Returns uint8 [H, W].

    A 3-channel file is accepted and its first channel used (a grey image saved as RGB).
    """
    image = _decode_png(path, index, cv2.IMREAD_UNCHANGED)
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise DataError.at(
            path, f"expected an 8-bit label PNG, got {image.dtype} with shape {image.shape}", index)
    return image if image.ndim == 2 else image[..., 0]


def check_shape(image: np.ndarray, hw: tuple[int, int], path, index: int | None, what: str) -> None:
    """Raises DataError unless image.shape[:2] == hw (H, W)."""
    if tuple(image.shape[:2]) != tuple(hw):
        raise DataError.at(
            path, f"{what} is {image.shape[1]}x{image.shape[0]} (WxH), expected {hw[1]}x{hw[0]}",
            index)


def decode_rhd_depth(bgr: np.ndarray) -> np.ndarray:
    """RHD depth PNG bytes -> depth in mm: (R*256 + G) / 65535 * 5000.

    Args:
      bgr: uint8 [H, W, 3] as returned by `read_png_bytes` (BGR order: R is channel 2).
    Returns:
      float32 [H, W] mm.
    """
    high = bgr[..., 2].astype(np.float64)
    low = bgr[..., 1].astype(np.float64)
    return ((high * 256.0 + low) * (RHD_DEPTH_MAX_MM / 65535.0)).astype(np.float32)


def decode_stb_depth(bgr: np.ndarray) -> np.ndarray:
    """STB depth PNG bytes -> depth in mm: R + 256*G (RGB order: R is the low byte).

    Args:
      bgr: uint8 [H, W, 3] as returned by `read_png_bytes` (BGR order: R is channel 2).
    Returns:
      float32 [H, W] mm, in the depth camera's image (not registered).
    """
    return (bgr[..., 2].astype(np.float32) + 256.0 * bgr[..., 1].astype(np.float32))
