"""Where does the domain live? The held-out domain measures of :mod:`domain_discrepancy`, at every level.

:mod:`domain_discrepancy` measures what the critic sees; this probe asks the same question of every level of
every stack (``PoseNetwork`` with ``return_levels=True``): the stem, each encoder level ``low1_k``, the
bottleneck, each skip branch ``up1_k``, the hourglass output, the head's input and its heatmaps, and each
later stack's input (after the merge). On the same held-out crops (``domain_discrepancy.held_out_crops``) each level gives:

* ``gap_accuracy`` — the held-out linear domain classifier on the global-average-pooled features ``[N, C]``
  (is the domain in the channels' mean activations, whatever the layout?);
* ``flat_accuracy`` — the same on the flattened features ``[N, h·w·C]``;
* ``fresh_critic_w`` — the RMS-normalised fresh critic's held-out W (the run's critic architecture built for
  the level's shape), when ``critic_steps > 0``.

0.5 accuracy = linearly indistinguishable; 0 W = a fresh critic finds no difference.
"""

import numpy as np

from awh_tf.evaluation import domain_discrepancy


def level_features(pose_network, images, batch_size=64):
    """``{level: [N, h, w, C] float32}`` of ``images`` ``[N, S, S, 3]``, in the network's level order."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def levels(x):
        return pose_network(x, training=False, return_levels=True)["levels"]

    chunks = {}
    for start in range(0, len(images), batch_size):
        for name, value in levels(tf.constant(images[start:start + batch_size])).items():
            chunks.setdefault(name, []).append(np.asarray(value, np.float32))
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


def probe_levels(feats_s, feats_t, model_cfg, critic_steps=400, seed=0, log=None):
    """The module docstring's numbers for each level of ``feats_s``/``feats_t`` (``{level: [N, h, w, C]}``).

    Returns:
      ``[{"level", "shape", "gap_accuracy", "flat_accuracy", "fresh_critic_w"?}, ...]`` in level order.
    """
    rows = []
    for name, z_s in feats_s.items():
        z_t = feats_t[name]
        domain = np.repeat([0, 1], [len(z_s), len(z_t)])
        both = np.concatenate([z_s, z_t])
        row = {"level": name, "shape": list(z_s.shape[1:]),
               "gap_accuracy": domain_discrepancy.domain_classifier_accuracy(both.mean(axis=(1, 2)), domain, seed),
               "flat_accuracy": domain_discrepancy.domain_classifier_accuracy(both.reshape(len(both), -1),
                                                                              domain, seed)}
        if critic_steps:
            row["fresh_critic_w"] = domain_discrepancy.fresh_critic_wasserstein(z_s, z_t, model_cfg,
                                                                                steps=critic_steps, seed=seed)
        rows.append(row)
        if log:
            w = f", fresh critic W {row['fresh_critic_w']:.3f}" if critic_steps else ""
            log(f"  {name:20s} {'x'.join(map(str, row['shape'])):>9s}  GAP {row['gap_accuracy']:.3f}  "
                f"flat {row['flat_accuracy']:.3f}{w}")
    return rows


def probe(pose_network, config, num=300, critic_steps=400, seed=0, log=None):
    """Every level's numbers for one trained pose network (a JSON-ready dict); ``critic_level`` names the
    level(s) the run's critic trained on (``None`` without a critic)."""
    images_s, images_t = domain_discrepancy.held_out_crops(config, num, seed)
    feats_s, feats_t = level_features(pose_network, images_s), level_features(pose_network, images_t)
    return {"num_per_domain": int(len(images_s)), "fresh_critic_steps": int(critic_steps), "seed": int(seed),
            "critic_levels": critic_levels(config), "head_input": head_input_level(config.model),
            "levels": probe_levels(feats_s, feats_t, config.model, critic_steps, seed, log)}


def critic_levels(config):
    """The probe levels the run's critic reads (``awh_features`` of the ``awh_stack`` stack(s)); ``[]``
    without a critic."""
    if not config.train.uses_critic:
        return []
    m = config.model
    stacks = range(m.num_stacks) if m.awh_stack == -1 else [m.awh_stack]
    names = {"bottleneck": ["bottleneck"], "output": ["output"], "heatmaps": ["heatmaps"],
             "multilevel": ["bottleneck"] + [f"up1_{k}" for k in range(m.hourglass_depth)]}[m.awh_features]
    return [f"stack{i}_{n}" for i in stacks for n in names]


def head_input_level(model_cfg):
    """The level the last stack's 2.5D head reads."""
    return f"stack{model_cfg.num_stacks - 1}_head_input"
