"""Keypoint order, index maps from RHD, STB and FreiHAND, and mirroring (DESIGN.md §2-3)."""

import numpy as np

from awh_tf import keypoints as kp


def test_names_and_edges():
    assert kp.NUM_KEYPOINTS == 21 == len(kp.KEYPOINT_NAMES)
    assert kp.KEYPOINT_NAMES[0] == "palm" and kp.KEYPOINT_NAMES[1] == "thumb_tip"
    assert kp.KEYPOINT_NAMES[12] == "middle_mcp" and kp.KEYPOINT_NAMES[11] == "middle_pip"
    assert kp.REF_BONE == (0, 12) and kp.ROOT == 0
    assert len(kp.SKELETON_EDGES) == 20
    children = sorted(c for _, c in kp.SKELETON_EDGES)
    assert children == list(range(1, 21))  # a tree: every non-root keypoint has one parent


def test_rhd_42_to_ours_picks_hand_and_builds_palm():
    uv42 = np.arange(42 * 2, dtype=np.float32).reshape(42, 2)
    vis42 = np.zeros(42, bool)
    vis42[21 + 12] = True          # right middle MCP visible, right wrist not
    uv, vis = kp.rhd_hand_to_ours(uv42[kp.RHD_RIGHT], vis42[kp.RHD_RIGHT])
    np.testing.assert_allclose(uv[1:], uv42[22:42])
    np.testing.assert_allclose(uv[0], 0.5 * (uv42[21] + uv42[33]))
    assert vis[0] and vis[12] and not vis[1:12].any()


def test_stb_to_ours_order():
    stb = np.arange(21)
    ours = kp.stb_to_ours(stb)
    assert ours[0] == 0            # palm
    assert ours[1] == 20           # thumb tip is STB's last keypoint
    assert ours[12] == 9           # middle MCP is STB's 9 (middle 9-12, MCP first)
    assert ours[17] == 4 and ours[20] == 1   # pinky tip (STB 4), pinky MCP (STB 1)
    xyz = np.random.default_rng(0).normal(size=(5, 21, 3))
    np.testing.assert_array_equal(kp.ours_to_stb(kp.stb_to_ours(xyz)), xyz)
    np.testing.assert_array_equal(kp.stb_to_ours(xyz)[:, 1], xyz[:, 20])


def test_freihand_to_ours_reverses_fingers_and_builds_palm():
    # FreiHAND: 0 wrist, thumb 1-4, index 5-8, middle 9-12, ring 13-16, little 17-20, base -> tip.
    fh = np.arange(21 * 2, dtype=np.float64).reshape(21, 2)
    vis_fh = np.zeros(21, bool)
    vis_fh[9] = True  # middle MCP visible, wrist not
    ours, vis = kp.freihand_to_ours(fh, vis_fh)
    source = [4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17]  # ours 1..20
    np.testing.assert_array_equal(ours[1:], fh[source])
    np.testing.assert_array_equal(ours[0], 0.5 * (fh[0] + fh[9]))  # palm = wrist / middle MCP midpoint
    assert vis[0] and vis[12] and vis.sum() == 2
    assert kp.freihand_to_ours(fh)[1] is None
    np.testing.assert_array_equal(kp.FREIHAND_TO_RHD[kp.FREIHAND_TO_RHD], np.arange(21))


def test_mirror_is_consistent_with_projection():
    from awh_tf.geometry import project
    rng = np.random.default_rng(1)
    xyz = np.concatenate([rng.uniform(-50, 50, (21, 2)), rng.uniform(300, 500, (21, 1))], -1)
    K = np.array([[600.0, 0, 300], [0, 600, 240], [0, 0, 1]])
    width = 640
    mirrored = project(kp.mirror_xyz(xyz), kp.mirror_K(K, width))
    np.testing.assert_allclose(mirrored, kp.mirror_uv(project(xyz, K), width), atol=1e-3)
    np.testing.assert_allclose(kp.mirror_uv(kp.mirror_uv(xyz[:, :2], width), width), xyz[:, :2], atol=1e-4)
