"""The factory returns built objects whose interfaces fit together as the trainer uses them."""

import numpy as np

from awh_tf.models import (ModelConfig, build_critic, build_depth_regularizer, build_pose_network,
                           build_similarity_weighting)

CFG = ModelConfig(input_size=32, channels=8, hourglass_depth=1, critic_filters=(4,), critic_units=(8,),
                  depth_reg_size=16, depth_reg_units=(16,), depth_reg_filters=(8, 4))


def test_pieces_are_built_and_compose(rng):
    pose, critic = build_pose_network(CFG), build_critic(CFG)
    regularizer = build_depth_regularizer(CFG)
    awh, wdgrl = build_similarity_weighting(CFG), build_similarity_weighting(CFG, mode="ones")
    assert all(m.built and m.weights for m in (pose, critic, regularizer))
    out = pose(rng.random((4, 32, 32, 3), dtype=np.float32), training=True)
    z_s, z_t = out["features"][:2], out["features"][2:]
    alpha = awh(z_s, z_t)
    assert tuple(alpha.shape) == (8,) and np.all(np.asarray(wdgrl(z_s, z_t)) == 1)
    assert tuple(critic(alpha * z_s).shape) == (2, 1)
    depth = regularizer({"uv_norm": out["uv"] / CFG.input_size, "z_rel": out["z_rel"]})
    assert tuple(depth.shape) == (4, 16, 16)
    assert awh.stop_gradient == CFG.similarity_stop_gradient and critic.norm == CFG.critic_norm
