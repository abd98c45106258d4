"""Model inspection: summaries, parameter counts, forward GFLOPs per image, and a ``.keras`` round trip.

The CLI ``python -m awh_tf.inspect --flagfile configs/X.cfg`` is a thin wrapper over
:func:`inspect_models`. FLOPs come from TensorFlow's graph profiler (:mod:`awh_tf.models.flops`) at
batch 1; 1 multiply-accumulate = 2 FLOPs.
"""

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from awh_tf.keypoints import NUM_KEYPOINTS
from awh_tf.models.factory import (build_critic, build_depth_regularizer, build_pose_network,
                                   build_similarity_weighting)
from awh_tf.models.flops import count_flops

ROUNDTRIP_ATOL = 1e-6


def _spec(shape):
    return tf.TensorSpec((1,) + tuple(shape), tf.float32)


def _report(name, layer, flops, print_fn):
    params = int(layer.count_params())
    trainable = int(sum(np.prod(w.shape) for w in layer.trainable_weights))
    gflops = flops / 1e9
    print_fn(f"{name}: {params:,} parameters ({trainable:,} trainable), {gflops:.4f} GFLOPs per image")
    return {"params": params, "trainable_params": trainable, "gflops_per_image": gflops}


def inspect_models(model_config, print_fn=print, seed=0):
    """Builds every sub-model of ``model_config``, prints its summary, size and cost, and round-trips the
    pose network through ``.keras``.

    Returns:
      dict: ``{"pose_network" | "critic" | "depth_regularizer" | "feature_similarity_weighting":
      {"params", "trainable_params", "gflops_per_image"}, "roundtrip_max_abs_diff": float}``.
    Raises:
      RuntimeError: when the reloaded pose network's outputs differ by more than ``ROUNDTRIP_ATOL``.
    """
    cfg = model_config
    results = {}
    pose = build_pose_network(cfg)
    pose.summary(print_fn=print_fn, expand_nested=False)
    image = (cfg.input_size, cfg.input_size, 3)
    results["pose_network"] = _report(
        "pose_network", pose, count_flops(lambda x: pose(x, training=False), [_spec(image)]), print_fn)

    critic = build_critic(cfg)
    critic.summary(print_fn=print_fn)
    results["critic"] = _report(
        "critic", critic, count_flops(critic, [_spec(cfg.critic_input_shape)]), print_fn)

    regularizer = build_depth_regularizer(cfg)
    regularizer.summary(print_fn=print_fn)
    pose_spec = {"uv_norm": _spec((NUM_KEYPOINTS, 2)), "z_rel": _spec((NUM_KEYPOINTS,))}
    results["depth_regularizer"] = _report(
        "depth_regularizer", regularizer, count_flops(regularizer, [pose_spec]), print_fn)

    # α for one source and one target feature map; no weights, so no summary table.
    weighting = build_similarity_weighting(cfg)
    results["feature_similarity_weighting"] = _report(
        "feature_similarity_weighting", weighting,
        count_flops(weighting, [_spec(cfg.critic_input_shape)] * 2), print_fn)

    results["roundtrip_max_abs_diff"] = roundtrip_keras(pose, seed=seed)
    print_fn(f"pose_network .keras round trip: max |Δ| over all outputs = "
             f"{results['roundtrip_max_abs_diff']:.3g}")
    return results


def roundtrip_keras(model, seed=0, batch=2):
    """Saves ``model`` to a temporary ``.keras`` file, reloads it and returns the largest absolute
    difference between the two models' outputs (inference mode) on seeded random images in [0, 1].

    Raises:
      RuntimeError: when the difference exceeds ``ROUNDTRIP_ATOL``.
    """
    images = np.random.default_rng(seed).random((batch, model.input_size, model.input_size, 3),
                                                dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "pose_network.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    before, after = model(images, training=False), loaded(images, training=False)
    if sorted(before) != sorted(after):
        raise RuntimeError(f"round trip of {model.name}: outputs {sorted(before)} became {sorted(after)}")
    diff = max(float(np.max(np.abs(np.asarray(before[k]) - np.asarray(after[k])))) for k in before)
    if diff > ROUNDTRIP_ATOL:
        raise RuntimeError(f"round trip of {model.name}: outputs differ by {diff:.3g} after .keras reload")
    return diff
