"""The pose network: outputs and shapes, intermediate-supervision wiring, the adapted stack, export."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from awh_tf.losses import loss_25d
from awh_tf.models import (ModelConfig, PoseNetwork, build_critic, build_depth_regularizer,
                           build_pose_network)
from tests.layer_test_case import run_layer_test

TINY = dict(input_size=32, channels=8, num_stacks=2, hourglass_depth=1, num_residual=1, heatmap_stride=4,
            intermediate="none", intermediate_convs=1, awh_stack=0, num_keypoints=21)


def _images(rng, b=2, s=32):
    return rng.random((b, s, s, 3), dtype=np.float32)


def test_layer_contract_and_output_shapes(rng):
    maps = (2, 8, 8, 21)
    expected = {"uv": (2, 21, 2), "z_rel": (2, 21), "heatmaps": maps, "depth_maps": maps,
                "features": (2, 4, 4, 8), "stack0_uv": (2, 21, 2), "stack0_z_rel": (2, 21),
                "stack0_heatmaps": maps, "stack0_depth_maps": maps}
    run_layer_test(PoseNetwork, TINY, _images(rng), expected)


def test_single_stack_has_no_intermediate_outputs(rng):
    out = PoseNetwork(**dict(TINY, num_stacks=1))(_images(rng, 1))
    assert sorted(out) == ["depth_maps", "features", "heatmaps", "uv", "z_rel"]


def _weight_shapes(model):
    return {w.path.split("/", 1)[1]: tuple(w.shape) for w in model.weights}


def _grad_is_connected(model, images, output_names, variables):
    """Per variable: does the sum of the named outputs depend on it?"""
    with tf.GradientTape() as tape:
        out = model(images, training=True)
        target = tf.add_n([tf.reduce_sum(out[name]) for name in output_names.split("+")])
    grads = tape.gradient(target, variables)
    return [g is not None for g in grads]


def test_none_and_heatmap_modes_build_the_same_graph(rng):
    x = _images(rng, 1)
    none, heatmap = PoseNetwork(**TINY), PoseNetwork(**dict(TINY, intermediate="heatmap"))
    none(x), heatmap(x)
    assert _weight_shapes(none) == _weight_shapes(heatmap)
    # Newell/Iqbal: the first stack's 21 heatmap logits + 21 depth maps are re-mapped to C channels.
    assert tuple(heatmap.merge_preds[0].kernel.shape) == (1, 1, 42, 8)
    assert all(_grad_is_connected(heatmap, x, "uv", heatmap.heads[0].trainable_weights))


def test_conv_mode_feeds_extra_conv_features_not_heatmaps(rng):
    x = _images(rng, 1)
    model = PoseNetwork(**dict(TINY, intermediate="conv", intermediate_convs=2))
    model(x)
    assert [l.name for l in model.intermediates[0].layers] == ["conv1", "conv2"]
    assert tuple(model.merge_preds[0].kernel.shape) == (1, 1, 8, 8)
    # FSSC: the first head is a side branch; the final outputs do not depend on it ...
    assert not any(_grad_is_connected(model, x, "uv+z_rel", model.heads[0].trainable_weights))
    # ... while the extra convs (supervised through that head) do feed the next stack.
    assert all(_grad_is_connected(model, x, "uv", model.intermediates[0].trainable_weights))
    assert all(_grad_is_connected(model, x, "stack0_uv+stack0_z_rel", model.heads[0].trainable_weights))


@pytest.mark.parametrize("awh_stack", [0, 1])
def test_features_are_the_bottleneck_of_the_adapted_hourglass(rng, awh_stack):
    x = _images(rng, 1)
    model = PoseNetwork(**dict(TINY, awh_stack=awh_stack))
    model(x)
    second = model.hourglasses[1].trainable_weights
    assert any(_grad_is_connected(model, x, "features", second)) == (awh_stack == 1)
    stem_out = model.stem(model.normalize(x), training=False)
    if awh_stack == 0:
        expected = model.hourglasses[0](stem_out, training=False)["bottleneck"]
        np.testing.assert_allclose(np.asarray(model(x, training=False)["features"]), np.asarray(expected),
                                   rtol=1e-5, atol=1e-6)


def test_export_model_is_the_rgb_path_alone(rng):
    cfg = ModelConfig(input_size=32, channels=8, hourglass_depth=1)
    pose, critic, regularizer = build_pose_network(cfg), build_critic(cfg), build_depth_regularizer(cfg)
    exported = pose.export_model()
    x = _images(rng)
    out = exported(x)
    assert sorted(out) == ["uv", "z_rel"]
    full = pose(x, training=False)
    for name in ("uv", "z_rel"):
        np.testing.assert_array_equal(np.asarray(out[name]), np.asarray(full[name]))
    exported_ids = {id(w) for w in exported.weights}
    assert exported_ids == {id(w) for w in pose.weights}
    assert not exported_ids & {id(w) for w in critic.weights + regularizer.weights}


def test_rejects_wrong_image_shape(rng):
    with pytest.raises(ValueError, match=r"expected images \[B, 32, 32, 3\], got shape \(1, 64, 64, 3\)"):
        PoseNetwork(**TINY)(_images(rng, 1, 64))


@pytest.mark.slow
@pytest.mark.parametrize("intermediate", ["none", "conv"])
def test_fits_a_tiny_fixed_batch(rng, intermediate):
    """200 Adam steps (~30 s) on 4 random images: both stacks' L_2.5D fall well below the start."""
    keras.utils.set_random_seed(0)
    x = _images(rng, 4)
    uv = rng.uniform(2, 29, (4, 21, 2)).astype(np.float32)
    z = rng.normal(size=(4, 21)).astype(np.float32)
    model = PoseNetwork(**dict(TINY, channels=16, intermediate=intermediate))
    optimizer = keras.optimizers.Adam(3e-3)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            losses = [loss_25d(out["uv"], uv, out["z_rel"], z),
                      loss_25d(out["stack0_uv"], uv, out["stack0_z_rel"], z)]
            total = tf.add_n(losses)
        grads = tape.gradient(total, model.trainable_weights)
        optimizer.apply(grads, model.trainable_weights)
        return losses

    first = [float(v) for v in step()]
    for _ in range(200):
        last = [float(v) for v in step()]
    assert all(l < 0.3 * f for f, l in zip(first, last)), (first, last)


@pytest.mark.slow
def test_export_model_converts_to_tflite_builtins(rng, tmp_path):
    """The RGB path converts with TFLite built-in ops only and matches Keras (DESIGN.md §6)."""
    from ai_edge_litert.interpreter import Interpreter

    exported = build_pose_network(ModelConfig(input_size=32, channels=8, hourglass_depth=1)).export_model()
    exported.export(str(tmp_path), input_signature=[tf.TensorSpec((1, 32, 32, 3), tf.float32, name="image")],
                    verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert())
    x = _images(rng, 1)
    out = interpreter.get_signature_runner()(image=x)
    expected = exported(x)
    np.testing.assert_allclose(out["uv"], np.asarray(expected["uv"]), atol=1e-3)
    np.testing.assert_allclose(out["z_rel"], np.asarray(expected["z_rel"]), atol=1e-4)
