"""The nuisances that make the two domains differ (DESIGN.md §5); the hands themselves do not.

Synthetic (RHD format): skin tones from a narrow light-to-medium range, one white light plus ambient
(Lambert), flat or two-colour gradient backgrounds, no blur, noise or compression; depth exact.

Real-looking (STB format): skin tones from light to dark with blotchy texture, a coloured key light
and a coloured fill light with a weak specular highlight, cluttered backgrounds (a low-frequency colour
field, 10-30 random shapes), sleeves, then camera effects — white-balance gains, uneven illumination,
soft optics (rendered at half resolution, blurred, upsampled), sensor noise and a JPEG round trip
(quality 30-75) before the PNG is written. Depth: a wall behind the hand, noise growing with distance, a
random working range, holes at depth edges and random dropouts, quantised to mm.

Colours (albedo, light) are RGB floats in [0, 1] (display values, no gamma). Images are uint8
``[H, W, 3]`` in OpenCV's **BGR** order from the background on, since that is what gets encoded.
Noise comes from a bank built once per process from the generator seed (`NoiseBank`): a sample takes
random windows of it, which costs a slice instead of millions of fresh normal draws per frame.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

_BANK_SIZE = 1024
_MAX_IMAGE = (480, 640)  # windows for per-pixel gathers cover the largest image
_SYNTHETIC_SKIN = np.array([[0.92, 0.76, 0.66], [0.78, 0.56, 0.42]])
_REAL_SKIN = np.array([[0.95, 0.80, 0.72], [0.93, 0.70, 0.62], [0.80, 0.58, 0.44],
                       [0.62, 0.42, 0.30], [0.45, 0.30, 0.21], [0.33, 0.22, 0.16]])


class NoiseBank:
    """Unit-variance noise fields shared by all samples of a process, float32.

    ``white`` ``[1024, 1024]`` and ``white3`` ``[1024, 1024, 3]`` are i.i.d. N(0, 1); ``smooth`` is
    Gaussian-blurred noise (σ 6 px) rescaled to unit std, ``smooth3`` the same in three equal channels.
    Built from ``seed`` only, so every worker holds the same bank.
    """

    def __init__(self, seed: int):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x6E6F697365]))
        self.white = rng.standard_normal((_BANK_SIZE, _BANK_SIZE), dtype=np.float32)
        self.white3 = rng.standard_normal((_BANK_SIZE, _BANK_SIZE, 3), dtype=np.float32)
        smooth = cv2.GaussianBlur(rng.standard_normal((_BANK_SIZE, _BANK_SIZE), dtype=np.float32), (0, 0), 6.0)
        self.smooth = smooth / smooth.std()
        self.smooth3 = np.repeat(self.smooth[..., None], 3, axis=-1)  # grey, for 3-channel cv2 calls

    def offset(self, rng: np.random.Generator, height: int, width: int):
        """A random top-left corner (v, u) of a ``[height, width]`` window."""
        return int(rng.integers(0, _BANK_SIZE - height + 1)), int(rng.integers(0, _BANK_SIZE - width + 1))

    def window(self, rng: np.random.Generator, field: str, height: int, width: int) -> np.ndarray:
        """A random ``[height, width]`` view of ``field`` ("white", "white3", "smooth" or "smooth3")."""
        v, u = self.offset(rng, height, width)
        return getattr(self, field)[v:v + height, u:u + width]


@dataclasses.dataclass(frozen=True)
class Lighting:
    """Directional lights: ``directions`` ``[L, 3]`` unit vectors towards the lights (camera frame),
    ``colours`` ``[L, 3]``, ``ambient`` ``[3]``, ``specular`` strength (Blinn-Phong, exponent 20)."""

    directions: np.ndarray
    colours: np.ndarray
    ambient: np.ndarray
    specular: float = 0.0


def _towards_camera(rng: np.random.Generator, n: int) -> np.ndarray:
    """``[n, 3]`` unit vectors in the half space facing the camera (Z < 0), mostly from above."""
    d = np.stack([rng.uniform(-1.0, 1.0, n), rng.uniform(-1.0, 0.4, n), -rng.uniform(0.4, 1.5, n)], axis=-1)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def shade(albedo: np.ndarray, normals: np.ndarray, lighting: Lighting) -> np.ndarray:
    """Lambert (+ optional Blinn-Phong) shading: ``albedo`` ``[F, 3]``, ``normals`` ``[F, 3]`` -> ``[F, 3]``.

    The viewer is along -Z (the normals face the camera), which is what the half vector uses.
    """
    cosines = np.clip(normals @ lighting.directions.T, 0.0, None)  # [F, L]
    colour = albedo * (lighting.ambient + cosines @ lighting.colours)
    if lighting.specular > 0:
        half = lighting.directions + np.array([0.0, 0.0, -1.0])
        half /= np.linalg.norm(half, axis=-1, keepdims=True)
        highlight = np.clip(normals @ half.T, 0.0, None) ** 20  # [F, L]
        colour += lighting.specular * highlight @ lighting.colours
    return colour


# --- synthetic domain ------------------------------------------------------------------------


def synthetic_skin(rng: np.random.Generator) -> np.ndarray:
    """``[3]`` albedo between a light and a medium skin tone."""
    t = rng.uniform()
    return (1 - t) * _SYNTHETIC_SKIN[0] + t * _SYNTHETIC_SKIN[1] + rng.normal(0.0, 0.015, 3)


def synthetic_lighting(rng: np.random.Generator) -> Lighting:
    """One white light plus white ambient."""
    ambient = rng.uniform(0.25, 0.45)
    return Lighting(_towards_camera(rng, 1), np.full((1, 3), 1.0 - ambient), np.full(3, ambient))


def synthetic_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """uint8 BGR ``[H, W, 3]``: a flat colour or a linear gradient between two random colours."""
    c0 = rng.uniform(0.0, 255.0, 3)
    if rng.uniform() < 0.4:
        return np.broadcast_to(np.rint(c0).astype(np.uint8), (height, width, 3)).copy()
    c1 = rng.uniform(0.0, 255.0, 3)
    angle = rng.uniform(0.0, 2 * np.pi)
    # The gradient on a coarse grid, resized: bilinear interpolation of a linear ramp is the ramp.
    grid = np.linspace(-0.5, 0.5, 17)
    t = np.clip(0.5 + np.cos(angle) * grid[None, :] + np.sin(angle) * grid[:, None], 0.0, 1.0)[..., None]
    coarse = np.rint(c0 + t * (c1 - c0))[..., ::-1].astype(np.uint8)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)


def clothing(rng: np.random.Generator) -> np.ndarray:
    """``[3]`` albedo of a sleeve or shirt: any colour, somewhat desaturated."""
    c = rng.uniform(0.05, 0.95, 3)
    return 0.6 * c + 0.4 * c.mean()


# --- real-looking domain -----------------------------------------------------------------------


def real_skin(rng: np.random.Generator) -> np.ndarray:
    """``[3]`` albedo between two neighbouring tones of a light-to-dark palette."""
    i = rng.integers(0, len(_REAL_SKIN) - 1)
    t = rng.uniform()
    return (1 - t) * _REAL_SKIN[i] + t * _REAL_SKIN[i + 1] + rng.normal(0.0, 0.03, 3)


def real_lighting(rng: np.random.Generator, gains) -> Lighting:
    """A coloured key light, a weaker coloured fill light, tinted ambient and a weak highlight.

    ``gains`` ``[3]`` (RGB): the camera's white balance, multiplied into every light.
    """
    tint = np.clip(1.0 + rng.uniform(-0.3, 0.3, (2, 3)), 0.4, 1.5)
    strength = np.array([[rng.uniform(0.5, 0.9)], [rng.uniform(0.05, 0.35)]])
    ambient = rng.uniform(0.1, 0.35) * np.clip(1.0 + rng.uniform(-0.2, 0.2, 3), 0.5, 1.5)
    return Lighting(_towards_camera(rng, 2), tint * strength * gains, ambient * gains,
                    specular=rng.uniform(0.0, 0.25))


def skin_texture(rng: np.random.Generator, bank: NoiseBank, v: np.ndarray, u: np.ndarray) -> np.ndarray:
    """float32 ``[F]`` multiplicative texture around 1 at pixels (v, u) ``[F]``: blotches plus fine grain."""
    blotch, grain = np.float32(rng.uniform(0.03, 0.1)), np.float32(rng.uniform(0.01, 0.05))
    (v0, u0), (v1, u1) = bank.offset(rng, *_MAX_IMAGE), bank.offset(rng, *_MAX_IMAGE)
    return 1.0 + blotch * bank.smooth[v0 + v, u0 + u] + grain * bank.white[v1 + v, u1 + u]


def real_background(rng: np.random.Generator, height: int, width: int, gains=(1.0, 1.0, 1.0)) -> np.ndarray:
    """uint8 BGR ``[H, W, 3]`` clutter: a low-frequency colour field and 10-30 random shapes.

    ``gains`` ``[3]`` (RGB): the camera's white balance, multiplied into every colour.
    """
    bgr_gains = np.asarray(gains, dtype=np.float64)[::-1]
    grid = (int(rng.integers(2, 6)), int(rng.integers(2, 7)))
    n_shapes = int(rng.integers(10, 31))
    colours = np.rint(np.clip(rng.uniform(0.0, 255.0, (grid[0] * grid[1] + n_shapes, 3)) * bgr_gains, 0, 255))
    coarse = colours[:grid[0] * grid[1]].reshape(grid + (3,)).astype(np.uint8)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
    scale = max(height, width)
    for colour in colours[grid[0] * grid[1]:]:
        _draw_shape(rng, image, tuple(int(c) for c in colour), scale)
    return image


def _draw_shape(rng: np.random.Generator, image: np.ndarray, bgr: tuple, scale: int) -> None:
    """Draws one random filled rectangle, disc, thick line or polygon on ``image`` in place."""
    height, width = image.shape[:2]
    centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
    size = int(rng.uniform(0.02, 0.25) * scale)
    kind = rng.integers(0, 4)
    if kind == 0:
        corner = (centre[0] + int(rng.integers(-2 * size, 2 * size + 1)),
                  centre[1] + int(rng.integers(-size, size + 1)))
        cv2.rectangle(image, centre, corner, bgr, -1)
    elif kind == 1:
        cv2.circle(image, centre, size, bgr, -1, lineType=cv2.LINE_AA)
    elif kind == 2:
        end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.line(image, centre, end, bgr, int(rng.integers(1, 1 + scale // 50)), lineType=cv2.LINE_AA)
    else:
        points = np.asarray(centre) + rng.integers(-size, size + 1, (int(rng.integers(3, 7)), 2))
        cv2.fillPoly(image, [points.astype(np.int32)], bgr, lineType=cv2.LINE_AA)


def real_optics(rng: np.random.Generator, bank: NoiseBank, image: np.ndarray) -> np.ndarray:
    """Soft optics and uneven light on a half-resolution uint8 BGR render ``[h, w, 3]`` -> ``[2h, 2w, 3]``.

    Smooth illumination / surface texture (2-10 grey levels), a Gaussian blur (σ 0.15-0.65 px here,
    0.3-1.3 px at full resolution), then a bilinear 2× upsampling (itself a further ~0.5 px blur).
    """
    height, width = image.shape[:2]
    image = cv2.addWeighted(image, 1.0, bank.window(rng, "smooth3", height, width), rng.uniform(2.0, 10.0), 0.0,
                            dtype=cv2.CV_8U)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.15, 0.65))
    return cv2.resize(image, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR)


def real_sensor(rng: np.random.Generator, bank: NoiseBank, image: np.ndarray) -> np.ndarray:
    """Sensor noise (white, σ 2-7 grey levels per channel) and a JPEG round trip (quality 30-75).

    uint8 BGR ``[H, W, 3]`` -> uint8 BGR ``[H, W, 3]``. White balance is applied upstream
    (`real_lighting`, `real_background`).
    """
    height, width = image.shape[:2]
    image = cv2.addWeighted(image, 1.0, bank.window(rng, "white3", height, width), rng.uniform(2.0, 7.0), 0.0,
                            dtype=cv2.CV_8U)  # saturating, rounded
    _, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 76))])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def wall_depth(rng: np.random.Generator, K: np.ndarray, height: int, width: int) -> np.ndarray:
    """``[H, W]`` float32 mm: a slightly tilted plane 0.7-1.6 m away, ``Z = D / (1 + a·x + b·y)``."""
    x = ((np.arange(width) - K[0, 2]) / K[0, 0]).astype(np.float32)
    y = ((np.arange(height) - K[1, 2]) / K[1, 1]).astype(np.float32)
    a, b = rng.uniform(-0.3, 0.3, 2)
    return np.float32(rng.uniform(700.0, 1600.0)) / (1.0 + np.float32(a) * x[None, :] + np.float32(b) * y[:, None])


def depth_sensor(rng: np.random.Generator, bank: NoiseBank, depth: np.ndarray) -> np.ndarray:
    """A structured-light depth camera's view of exact depth ``[H, W]`` mm -> uint16 ``[H, W]`` mm (0 = none).

    Noise σ = 0.3 + 1.2 (Z / 1 m)² mm (about a structured-light camera's); readings beyond a random range
    of 1-2 m dropped; holes at depth edges (a jump > 20 mm within 3×3 px; each such pixel dropped with
    probability 0.6) and 2-10 random elliptic blobs.
    """
    height, width = depth.shape
    z = depth.astype(np.float32, copy=False)
    sigma = np.float32(0.3) + np.float32(1.2e-6) * (z * z)
    noisy = z + sigma * bank.window(rng, "white", height, width)
    jump = cv2.morphologyEx(z, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 20.0
    valid = (z < rng.uniform(1000.0, 2000.0)) & ~(jump & (bank.window(rng, "white", height, width) > -0.25))
    holes = np.ones((height, width), np.uint8)
    for _ in range(rng.integers(2, 11)):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = (int(rng.integers(1, 13)), int(rng.integers(1, 13)))
        cv2.ellipse(holes, centre, axes, float(rng.uniform(0, 180)), 0, 360, 0, -1)
    valid &= holes.view(bool)
    noisy[~valid] = 0.0
    return np.rint(noisy).astype(np.uint16)
