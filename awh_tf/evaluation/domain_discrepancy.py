"""How far apart the two domains' features are, measured after training on held-out images.

A training run's Wasserstein estimate is judged by the critic that trained with it, on training images,
and it falls as much by the encoder shrinking its features as by aligning them. These numbers are
scale-honest and held out instead. On ``n`` synthetic held-out crops (RHD ``evaluation``, the source
domain) and ``n`` real test crops (STB, the target domain), cropped as in evaluation, the adapted
hourglass's bottleneck ``z`` (``outputs["features"]``, ``[N, hb, wb, C]``, what the critic sees) gives:

* ``domain_accuracy`` — held-out accuracy of a logistic-regression domain classifier on the flattened,
  standardised features (a stratified half trains it, the other half scores it): 0.5 means linearly
  indistinguishable, 1.0 perfectly separable.
* ``fresh_critic_w`` — the Wasserstein estimate ``mean f(z_s) − mean f(z_t)`` of a **fresh** critic (the run's
  architecture, WGAN-GP, trained from scratch for ``critic_steps`` on one half) on the other half, with
  every feature divided by the RMS of all of them first: a uniform rescaling of the features changes
  nothing, so only their relative arrangement counts. 0 = the critic finds no difference.
* ``feature_rms_source`` / ``feature_rms_target`` — the features' RMS per domain (before that division).

Legend: N samples, hb × wb × C the bottleneck shape.
"""

import numpy as np


def domain_classifier_accuracy(features, domain, seed=0):
    """Held-out accuracy of a logistic-regression domain classifier (module docstring); in [0, 1].

    Args:
      features: ``[N, D]`` float.  domain: ``[N]`` int (0 source, 1 target).  seed: the split's seed.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_tr, x_te, y_tr, y_te = train_test_split(features, domain, test_size=0.5, stratify=domain,
                                              random_state=seed)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    clf.fit(x_tr, y_tr)
    return float(clf.score(x_te, y_te))


def fresh_critic_wasserstein(z_s, z_t, model_cfg, steps=400, batch_size=64, lambda_gp=10.0,
                             learning_rate=1e-3, seed=0):
    """W of a critic trained from scratch on half of ``z_s``/``z_t``, evaluated on the other half.

    Args:
      z_s, z_t: ``[N_s, hb, wb, C]`` / ``[N_t, hb, wb, C]`` features; both are divided by the RMS of all of
        them (module docstring).
      model_cfg: ``ModelConfig`` (the critic's architecture; built for the features' own shape).
      steps, batch_size, lambda_gp, learning_rate: the critic's training (Adam β = (0.5, 0.9), as in a run).
      seed: weights, halves, batches and the penalty's interpolation weights.
    Returns:
      float: the held-out Wasserstein estimate (≥ 0 up to noise).
    """
    import keras
    import tensorflow as tf

    from awh_tf.losses import gradient_penalty, wasserstein_estimate
    from awh_tf.models import factory

    z_s, z_t = np.asarray(z_s, np.float32), np.asarray(z_t, np.float32)
    rms = float(np.sqrt(np.mean(np.concatenate([z_s.ravel(), z_t.ravel()]) ** 2)) + 1e-12)
    z_s, z_t = z_s / rms, z_t / rms
    rng = np.random.default_rng(seed)
    halves = [np.array_split(rng.permutation(len(z)), 2) for z in (z_s, z_t)]
    (s_fit, s_out), (t_fit, t_out) = halves
    keras.utils.set_random_seed(seed)
    critic = factory.build_critic(model_cfg, name="fresh_critic", input_shape=z_s.shape[1:])
    optimizer = keras.optimizers.Adam(learning_rate, beta_1=0.5, beta_2=0.9)
    n = min(batch_size, len(s_fit), len(t_fit))

    @tf.function
    def step(x_s, x_t, t):
        with tf.GradientTape() as tape:
            w = wasserstein_estimate(critic(x_s), critic(x_t))
            loss = -w + lambda_gp * gradient_penalty(critic, x_s, x_t, t)
        grads = tape.gradient(loss, critic.trainable_variables)
        optimizer.apply_gradients(zip(grads, critic.trainable_variables))

    for _ in range(steps):
        x_s = z_s[rng.choice(s_fit, n, replace=False)]
        x_t = z_t[rng.choice(t_fit, n, replace=False)]
        step(x_s, x_t, rng.uniform(0.0, 1.0, n).astype(np.float32))
    scores_s = critic.predict(z_s[s_out], verbose=0, batch_size=256)
    scores_t = critic.predict(z_t[t_out], verbose=0, batch_size=256)
    return float(wasserstein_estimate(scores_s, scores_t))


def held_out_crops(config, num, seed=0):
    """``num`` synthetic held-out and ``num`` real test crops (fewer if a split is smaller), cropped as in
    evaluation: ``(images_s [n, S, S, 3], images_t [n, S, S, 3])``, the same draw for every run of a
    config and seed."""
    from awh_tf.evaluation import evaluate_lib

    source, _ = evaluate_lib.open_split(config.data, "synthetic_test")
    target, _ = evaluate_lib.open_split(config.data, "test")
    n = min(num, len(source), len(target))
    rng = np.random.default_rng(seed)
    crops = []
    for ds in (source, target):
        idx = np.sort(rng.choice(len(ds), n, replace=False))
        crops.append(evaluate_lib.load_samples(ds, idx, config.pipeline)["image"])
    return crops[0], crops[1]


def domain_features(pose_network, config, num, seed=0):
    """What the critic sees (``outputs["features"]``) of :func:`held_out_crops`:
    ``(z_s [n, hb, wb, C], z_t [n, hb, wb, C])`` float32."""
    from awh_tf.evaluation import evaluate_lib

    return tuple(evaluate_lib.run_network(pose_network, images, ["features"])["features"].astype(np.float32)
                 for images in held_out_crops(config, num, seed))


def measure(pose_network, config, num=300, critic_steps=400, seed=0):
    """All the numbers of the module docstring for one trained pose network; a JSON-ready dict."""
    z_s, z_t = domain_features(pose_network, config, num, seed)
    flat = np.concatenate([z_s.reshape(len(z_s), -1), z_t.reshape(len(z_t), -1)])
    domain = np.repeat([0, 1], [len(z_s), len(z_t)])
    return {
        "num_per_domain": int(len(z_s)),
        "domain_accuracy": domain_classifier_accuracy(flat, domain, seed),
        "fresh_critic_w": fresh_critic_wasserstein(z_s, z_t, config.model, steps=critic_steps, seed=seed),
        "fresh_critic_steps": int(critic_steps),
        "feature_rms_source": float(np.sqrt(np.mean(z_s ** 2))),
        "feature_rms_target": float(np.sqrt(np.mean(z_t ** 2))),
    }


def pose_domain_accuracy(xyz_s, xyz_t, num=2000, seed=0):
    """Held-out accuracy of the same linear domain classifier on the two domains' **3D poses** instead of
    features: is there a label shift that aligning the features' marginals would have to fight?

    Each pose is made root-relative, divided by its reference bone (root to middle MCP) and its X
    coordinate taken in absolute value (left and right hands alike), so only the pose and the viewpoint
    remain. 0.5 = linearly indistinguishable pose distributions.

    Args:
      xyz_s, xyz_t: ``[N_s, 21, 3]`` / ``[N_t, 21, 3]`` mm, camera frame, our keypoint order.
      num: poses drawn per domain (fewer if a domain has fewer).  seed: the draw and the split.
    """
    from awh_tf.keypoints import MIDDLE_MCP, ROOT

    def normalised(xyz):
        xyz = np.asarray(xyz, np.float64)
        rel = xyz - xyz[:, ROOT:ROOT + 1]
        rel /= np.linalg.norm(rel[:, MIDDLE_MCP], axis=-1)[:, None, None]
        rel[..., 0] = np.abs(rel[..., 0])
        return rel.reshape(len(rel), -1)

    n = min(num, len(xyz_s), len(xyz_t))
    rng = np.random.default_rng(seed)
    poses = [normalised(x)[rng.choice(len(x), n, replace=False)] for x in (xyz_s, xyz_t)]
    return domain_classifier_accuracy(np.concatenate(poses), np.repeat([0, 1], n), seed)
