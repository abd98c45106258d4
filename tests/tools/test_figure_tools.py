"""The paper's figures as tools: each runs on the tiny run and writes a non-empty PNG; their numbers are
checked on inputs with known answers."""

import cv2
import numpy as np

from tools import feature_tsne, show_heatmaps, show_predictions


def _png_ok(path):
    image = cv2.imread(str(path))
    return image is not None and image.shape[0] > 50 and image.std() > 0


def test_feature_tsne_two_runs_side_by_side(tiny_run, tmp_path):
    out = tmp_path / "tsne.png"
    lines = []
    acc = feature_tsne.feature_tsne([tiny_run.workdir, tiny_run.workdir], str(out), num=8, log=lines.append)
    assert _png_ok(out)
    assert list(acc) == [tiny_run.workdir] and 0.0 <= acc[tiny_run.workdir] <= 1.0
    assert sum("domain-classifier held-out accuracy" in line for line in lines) == 2


def test_domain_features_are_the_flattened_bottleneck(tiny_run):
    feats, domain, name = feature_tsne.domain_features(tiny_run.workdir, num=5)
    c, hb = tiny_run.config.model.channels, tiny_run.config.model.bottleneck_size
    assert feats.shape == (10, hb * hb * c) and name == "tiny"
    np.testing.assert_array_equal(domain, [0] * 5 + [1] * 5)


def test_domain_classifier_accuracy_on_known_cases(rng):
    x = rng.normal(size=(200, 6))
    y = np.repeat([0, 1], 100)
    assert 0.35 < feature_tsne.domain_classifier_accuracy(x, y) < 0.65  # one distribution: chance
    shifted = x + 4.0 * y[:, None]
    assert feature_tsne.domain_classifier_accuracy(shifted, y) == 1.0  # far apart: separable


def test_show_heatmaps_writes_summary_and_keypoint_grids(tiny_run, tmp_path):
    out = str(tmp_path / "hm.png")
    written = show_heatmaps.show_heatmaps([tiny_run.workdir, tiny_run.workdir], out, indices=[0, 3],
                                          per_keypoint=True, log=lambda _: None)
    assert written == [out, str(tmp_path / "hm_keypoints_0.png"), str(tmp_path / "hm_keypoints_1.png")]
    assert all(_png_ok(p) for p in written)


def test_heatmap_summary_normalises_each_keypoint():
    maps = np.zeros((1, 2, 2, 2))
    maps[0, :, :, 0] = [[0.1, 0.3], [0.3, 0.3]]  # peak 0.3
    maps[0, :, :, 1] = [[0.9, 0.0], [0.05, 0.05]]  # peak 0.9
    np.testing.assert_allclose(show_heatmaps.summarise(maps)[0], [[1.0, 1.0], [1.0, 1.0]])
    maps[0, 0, 1, 0] = 0.0
    np.testing.assert_allclose(show_heatmaps.summarise(maps)[0], [[1.0, 0.0], [1.0, 1.0]])


def test_show_predictions_worst_and_chosen(tiny_run, tmp_path):
    out, worst = show_predictions.show_predictions(tiny_run.workdir, str(tmp_path / "w.png"), worst=2,
                                                   log=lambda _: None)
    assert _png_ok(out) and len(worst) == 2 and len(set(worst)) == 2
    out, chosen = show_predictions.show_predictions(tiny_run.workdir, str(tmp_path / "c.png"),
                                                    split="synthetic_test", indices=[1], log=lambda _: None)
    assert _png_ok(out) and chosen == [1]


def test_worst_indices_are_the_largest_errors(tiny_run):
    from awh_tf.evaluation import evaluate_lib
    from awh_tf.run_dir import load_run

    config, pose_net, _ = load_run(tiny_run.workdir)
    test_set, _ = evaluate_lib.open_split(config.data, "test")
    batch = evaluate_lib.load_samples(test_set, range(len(test_set)), config.pipeline)
    _, xyz = show_predictions.predict_samples(pose_net, batch)
    epe = show_predictions.sample_epe(xyz, batch["xyz"], batch["visible"])
    worst = show_predictions.worst_indices(pose_net, test_set, config, 3)
    assert sorted(worst) == sorted(np.argsort(-epe)[:3].tolist())


def test_sample_epe_by_hand():
    gt = np.zeros((1, 21, 3))
    pred = gt.copy()
    pred[0, 1:, 0] = 3.0  # every non-root keypoint 3 mm off; the root's own error is 0
    vis = np.ones((1, 21), bool)
    np.testing.assert_allclose(show_predictions.sample_epe(pred, gt, vis), [3.0 * 20 / 21])
    vis[0, 0] = False
    np.testing.assert_allclose(show_predictions.sample_epe(pred, gt, vis), [3.0])
