"""Training-time augmentation of hand crops (numpy + OpenCV), drawn from a per-sample generator.

Geometric jitter changes only the crop box (centre, side, in-plane angle), so it reaches the image, uv and
``crop_K`` through the one affine of ``awh_tf.data.crop`` and the labels stay consistent by construction;
an in-plane rotation about the crop centre leaves ``z_rel`` unchanged. Photometric jitter changes pixel
values only. Every function draws the same count of random numbers whatever the outcome, so one sample's
augmentation does not depend on which branches another took.

``cfg`` is an ``awh_tf.config.PipelineConfig`` (its docstring gives the fields' meaning and defaults).
"""

from __future__ import annotations

import cv2
import numpy as np

LUMA = np.float32([0.299, 0.587, 0.114])  # RGB weights of the grey level (ITU-R BT.601)


def jitter_box(centre, side, rng, cfg):
    """Randomly moves, scales and rotates a square crop box.

    Args:
      centre: ``[2]`` px, image frame.  side: px.
      rng: ``np.random.Generator``.
      cfg: uses ``center_jitter`` (max shift per axis, fraction of the side), ``scale_jitter``
        (side × U[1 - s, 1 + s]; larger side = smaller hand in the crop) and ``rotation_deg`` (U[-r, r]).
    Returns:
      ``(centre [2] px, side px, angle_deg)``.
    """
    shift = rng.uniform(-1.0, 1.0, size=2) * cfg.center_jitter * side
    factor = rng.uniform(1.0 - cfg.scale_jitter, 1.0 + cfg.scale_jitter)
    angle = rng.uniform(-1.0, 1.0) * cfg.rotation_deg
    return np.asarray(centre, dtype=np.float64) + shift, side * factor, angle


def jitter_colour(image, rng, cfg):
    """Brightness, contrast, saturation and per-channel gain (white balance) jitter.

    Args:
      image: ``[S, S, 3]`` float32 RGB in [0, 1].
      rng: ``np.random.Generator``.
      cfg: uses ``brightness``, ``contrast``, ``saturation``, ``channel_gain`` (each a factor drawn from
        U[1 - x, 1 + x]).
    Returns:
      ``[S, S, 3]`` float32 in [0, 1].
    """
    b, c, s = rng.uniform(-1.0, 1.0, size=3) * (cfg.brightness, cfg.contrast, cfg.saturation) + 1.0
    gain = rng.uniform(-1.0, 1.0, size=3) * cfg.channel_gain + 1.0
    grey = image @ LUMA  # [S, S]
    # In place, float64 from the saturation factor on; the per-channel arrays are spelt out at full shape
    # because numpy broadcasts over a last axis of 3 several times slower than it multiplies equal shapes.
    grey3 = np.repeat(grey, 3).reshape(image.shape)
    out = (image - grey3) * s  # saturation: grey + s · (image - grey)
    out += grey3
    mean = grey.mean()
    out -= mean  # contrast about the mean luma
    out *= c
    out += mean
    out *= np.tile((b * gain).astype(np.float32), image.shape[:-1] + (1,))  # brightness × white balance
    np.clip(out, 0.0, 1.0, out=out)
    return out.astype(np.float32)


def blur_and_noise(image, rng, cfg):
    """Gaussian blur with probability ``blur_prob`` (sigma U[0.5, blur_sigma_max] px) then Gaussian
    pixel noise with probability ``noise_prob`` (std U[0, noise_std_max], in [0, 1] intensity units).

    Args:
      image: ``[S, S, 3]`` float32 in [0, 1].  rng: ``np.random.Generator``.  cfg: as above.
    Returns:
      ``[S, S, 3]`` float32 in [0, 1].
    """
    u_blur, sigma_u, u_noise, std_u = rng.uniform(size=4)
    noise_seed = int(rng.integers(2 ** 31))
    blur = u_blur < cfg.blur_prob and cfg.blur_sigma_max > 0.5
    noisy = u_noise < cfg.noise_prob and cfg.noise_std_max > 0
    if not (blur or noisy):
        return image
    if blur:
        sigma = 0.5 + sigma_u * (cfg.blur_sigma_max - 0.5)
        image = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma)
    if noisy:
        noise = np.random.default_rng(noise_seed).standard_normal(image.shape, dtype=np.float32)
        image = image + noise * np.float32(std_u * cfg.noise_std_max)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def photometric(image, rng, cfg):
    """All pixel-value augmentation in order: colour jitter, then blur and noise (see those functions)."""
    return blur_and_noise(jitter_colour(image, rng, cfg), rng, cfg)
