"""Photometric augmentation: the colour jitter is the formula its docstring states, no jitter is the identity,
and every function draws the same amount of randomness whatever it decides (so samples stay independent)."""

import dataclasses

import numpy as np

from awh_tf.data import augment
from awh_tf.config import PipelineConfig

CFG = PipelineConfig()


def _image(seed):
    image = np.random.default_rng(seed).random((16, 16, 3), dtype=np.float32)
    image[:2] = 0.0  # clipped at both ends after jitter
    image[2:4] = 1.0
    return image


def _reference_colour(image, rng, cfg):
    """The colour jitter written out plainly (the form it had before being rewritten in place)."""
    b, c, s = rng.uniform(-1.0, 1.0, size=3) * (cfg.brightness, cfg.contrast, cfg.saturation) + 1.0
    gain = rng.uniform(-1.0, 1.0, size=3) * cfg.channel_gain + 1.0
    grey = image @ np.float32([0.299, 0.587, 0.114])
    out = grey[..., None] + s * (image - grey[..., None])
    out = (out - grey.mean()) * c + grey.mean()
    out = out * (b * gain).astype(np.float32)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def test_colour_jitter_is_the_stated_formula_bit_for_bit():
    # Bit-for-bit: the training runs' published numbers were measured with the plain form.
    for seed in range(20):
        got = augment.jitter_colour(_image(seed), np.random.default_rng(seed), CFG)
        expect = _reference_colour(_image(seed), np.random.default_rng(seed), CFG)
        assert got.dtype == np.float32 and got.shape == (16, 16, 3)
        np.testing.assert_array_equal(got, expect)


def test_zero_jitter_is_the_identity():
    cfg = dataclasses.replace(CFG, brightness=0.0, contrast=0.0, saturation=0.0, channel_gain=0.0)
    image = _image(0)
    np.testing.assert_allclose(augment.jitter_colour(image, np.random.default_rng(1), cfg), image, atol=1e-6)
    cfg = dataclasses.replace(cfg, blur_prob=0.0, noise_prob=0.0)
    np.testing.assert_allclose(augment.photometric(image, np.random.default_rng(1), cfg), image, atol=1e-6)


def test_blur_and_noise_change_pixels_and_stay_in_range():
    cfg = dataclasses.replace(CFG, blur_prob=1.0, noise_prob=1.0)
    image = _image(3)
    out = augment.blur_and_noise(image, np.random.default_rng(2), cfg)
    assert out.dtype == np.float32 and 0.0 <= out.min() and out.max() <= 1.0
    assert np.abs(out - image).mean() > 0.01


def test_same_randomness_drawn_whatever_the_branch():
    never = dataclasses.replace(CFG, blur_prob=0.0, noise_prob=0.0)
    always = dataclasses.replace(CFG, blur_prob=1.0, noise_prob=1.0)
    states = []
    for cfg in (never, always):
        rng = np.random.default_rng(5)
        augment.photometric(_image(1), rng, cfg)
        states.append(rng.uniform())
    assert states[0] == states[1]
