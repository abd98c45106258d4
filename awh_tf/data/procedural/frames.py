"""One frame of each domain: scene, z-buffer render, appearance -> arrays ready to be written.

Every frame draws all its randomness from its own generator, seeded by (seed, domain, part, index)
(`sample_rng`), so a frame's bytes do not depend on which worker makes it or in which order.

Synthetic frame (RHD, 320×320, per-sample K): the dominant hand (left or right, even odds) 40-120 px
tall, its partner hand (same person: same shape and skin) beside it, usually farther and often cut by
the border; both forearms and, usually, a torso (label 1, person). If the partner ends up with as many
mask pixels as the dominant hand it is pushed farther out, and at the last attempt out of view; its
keypoints stay labelled either way (visible 0 where not seen).

Real-looking frame (STB, 640×480, SK cameras): one left hand 150-300 px tall, its palm 300-650 mm from
the colour camera near the image centre, a bare or sleeved forearm; colour rendered with the colour K
from the colour-frame hand, depth rendered with the depth K from the same hand moved to the depth frame.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from awh_tf import geometry, keypoints
from awh_tf.data import sk_cameras
from awh_tf.data.procedural import cameras, domains, primitives, renderer, scene

RHD_DOMAIN, STB_DOMAIN = 0, 1


def sample_rng(seed: int, domain: int, part: int, index: int) -> np.random.Generator:
    """The generator of one frame: ``part`` is the RHD split (0 training, 1 evaluation) or STB sequence."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), domain, part, int(index)]))


@dataclasses.dataclass(frozen=True)
class RhdFrame:
    """A synthetic frame. Keypoints: 42 = left hand 0-20, right hand 21-41, RHD per-hand order (wrist first).

    Attributes:
      color_bgr: uint8 ``[320, 320, 3]`` in OpenCV's BGR order, ready to encode.
      depth_mm: float32 ``[320, 320]`` mm (every pixel has a depth).
      mask: uint8 ``[320, 320]`` part labels.   xyz: ``[42, 3]`` mm, camera frame.
      uv: float32 ``[42, 2]`` px.   visible: bool ``[42]``.   K: ``[3, 3]``.   hand: the dominant side.
    """

    color_bgr: np.ndarray
    depth_mm: np.ndarray
    mask: np.ndarray
    xyz: np.ndarray
    uv: np.ndarray
    visible: np.ndarray
    K: np.ndarray
    hand: str


@dataclasses.dataclass(frozen=True)
class StbFrame:
    """A real-looking frame. Keypoints: 21 of the left hand in **our** order (palm at 0).

    Attributes:
      color_bgr: uint8 ``[480, 640, 3]`` BGR (OpenCV order), colour camera.
      depth_mm: uint16 ``[480, 640]`` mm, depth camera, unregistered, 0 = no measurement.
      xyz_depth: ``[21, 3]`` mm, **depth** camera frame.
      uv: float32 ``[21, 2]`` px and visible: bool ``[21]`` in the colour image (not written by STB).
    """

    color_bgr: np.ndarray
    depth_mm: np.ndarray
    xyz_depth: np.ndarray
    uv: np.ndarray
    visible: np.ndarray


def _shade_into(image, prims, K, depth, index, lighting, texture=None) -> np.ndarray:
    """Writes the shaded rendered surfaces into ``image`` (uint8 BGR ``[H, W, 3]``, the background).

    ``texture``: optional callable ``(v [F], u [F]) -> [F]`` multiplying the albedo per pixel.
    """
    flat, pid, normals = renderer.surface_normals(prims, K, depth, index)
    albedo = prims.albedo[pid].astype(np.float32)
    if texture is not None:
        v, u = np.divmod(flat, image.shape[1])
        albedo *= texture(v, u)[:, None]
    rgb = domains.shade(albedo, normals, lighting)
    image.reshape(-1, 3)[flat] = np.clip(rgb[:, ::-1] * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)
    return image


def _torso(rng, roots: np.ndarray, clothes) -> primitives.Primitives:
    """A person's torso (label 1) below and behind the hands ``roots`` ``[2, 3]`` mm."""
    centre = np.array([roots[:, 0].mean() + rng.normal(0.0, 80.0), roots[:, 1].mean() + rng.uniform(150.0, 350.0),
                       roots[:, 2].max() + rng.uniform(150.0, 400.0)])
    semi_axes = rng.uniform([150.0, 230.0, 90.0], [210.0, 330.0, 140.0])
    return primitives.ellipsoid(centre, semi_axes, primitives.PERSON_LABEL, clothes)


def _rhd_render(rng, K, main, other, t_main, root_px, size_px):
    """Places the partner hand, renders, and retries until the main hand dominates the mask."""
    side = rng.choice([-1.0, 1.0])
    offset = np.array([side * rng.uniform(0.8, 2.2), rng.uniform(-1.0, 1.0)]) * size_px
    other_depth = t_main[2] + rng.uniform(-50.0, 300.0)
    clothes = domains.clothing(rng)
    has_torso = rng.uniform() < 0.7
    main_joints, main_radii, main_body = scene.posed(main, t_main)
    for attempt in range(3):
        other_px = root_px + offset * (1 + attempt) if attempt < 2 else np.array([-3.0 * size_px, root_px[1]])
        t_other = other.translation(K, other_px, other_depth * (1.0 + 0.5 * attempt))
        other_joints, other_radii, other_body = scene.posed(other, t_other)
        parts = [main_body, other_body]
        if has_torso:
            parts.append(_torso(rng, np.stack([main_joints[0], other_joints[0]]), clothes))
        prims = primitives.concatenate(parts)
        depth, index = renderer.render(prims, K, cameras.RHD_SIZE, cameras.RHD_SIZE)
        labels = renderer.label_image(prims, index)
        counts = [np.count_nonzero((labels >= lo) & (labels <= hi)) for lo, hi in
                  (main.label_range, other.label_range)]
        if counts[0] > counts[1]:
            break
    hands = [(main, main_joints, main_radii), (other, other_joints, other_radii)]
    return prims, depth, index, labels, hands


def rhd_frame(seed: int, split: int, index: int, bank: domains.NoiseBank) -> RhdFrame:
    """Synthesises RHD sample ``index`` of ``split`` (0 training, 1 evaluation); see the module docstring."""
    rng = sample_rng(seed, RHD_DOMAIN, split, index)
    K = cameras.sample_rhd_K(rng)
    side = "left" if rng.uniform() < 0.5 else "right"
    skin = domains.synthetic_skin(rng)
    sleeve = domains.clothing(rng) if rng.uniform() < 0.5 else None
    main = scene.sample_hand(rng, side, skin=skin, sleeve=sleeve)
    other = scene.sample_hand(rng, "right" if side == "left" else "left", shape=main.shape, skin=skin,
                              sleeve=sleeve)
    size_px = rng.uniform(40.0, 120.0)
    margin = 0.3 * size_px
    root_px = rng.uniform(margin, cameras.RHD_SIZE - 1 - margin, 2)
    t_main = main.translation(K, root_px, K[0, 0] * main.extent_mm() / size_px)
    prims, depth, index_map, labels, hands = _rhd_render(rng, K, main, other, t_main, root_px, size_px)

    size = cameras.RHD_SIZE
    color = _shade_into(domains.synthetic_background(rng, size, size), prims, K, depth, index_map,
                        domains.synthetic_lighting(rng))
    xyz, uv, visible = np.zeros((42, 3)), np.zeros((42, 2), np.float32), np.zeros(42, bool)
    for hand, joints, radii in hands:
        sl = keypoints.RHD_LEFT if hand.side == "left" else keypoints.RHD_RIGHT
        xyz[sl] = joints
        uv[sl] = geometry.project(joints, K)
        visible[sl] = renderer.keypoint_visibility(uv[sl], joints, radii, depth, index_map, prims,
                                                   hand.label_range)
    far = np.float32(rng.uniform(2500.0, 4900.0))  # RHD stores a depth for every pixel
    return RhdFrame(
        color_bgr=color,
        depth_mm=np.where(np.isfinite(depth), depth, far).astype(np.float32),
        mask=labels, xyz=xyz, uv=uv, visible=visible, K=K, hand=side)


def real_colour(rng, bank, hand, joints, radii, prims, K=sk_cameras.SK_COLOR_K,
                hw=sk_cameras.IMAGE_HW):
    """The real-looking colour image (uint8 BGR ``[H, W, 3]``, default STB's colour camera and 640×480) and
    the keypoints' visibility ``[21]`` in it; H and W even, at most 480 and 640.

    The camera's optics are modelled soft: the scene is rendered, shaded and blurred at half resolution
    (K scaled) and upsampled bilinearly before the sensor's noise and compression, which also quarters
    the cost of the dominant steps. Visibility is taken from that render.
    """
    height, width = hw
    k_half = cameras.scaled_K(K, 0.5)
    depth, index_map = renderer.render(prims, k_half, height // 2, width // 2)
    # White balance is a per-channel gain: applied to the lights and the background colours, where it
    # costs nothing, instead of to the finished image.
    gains = np.clip(1.0 + rng.normal(0.0, 0.08, 3), 0.75, 1.25) * rng.uniform(0.75, 1.2)
    lighting = domains.real_lighting(rng, gains)
    color = _shade_into(domains.real_background(rng, height // 2, width // 2, gains), prims, k_half, depth,
                        index_map, lighting, lambda v, u: domains.skin_texture(rng, bank, v, u))
    visible = renderer.keypoint_visibility(geometry.project(joints, k_half), joints, radii, depth, index_map,
                                           prims, hand.label_range)
    return domains.real_sensor(rng, bank, domains.real_optics(rng, bank, color)), visible


def _stb_depth(rng, bank, prims) -> np.ndarray:
    """The depth camera's image, uint16 ``[480, 640]`` mm, of ``prims`` given in the colour frame.

    The depth camera works at half resolution (its K scaled), upsampled by pixel replication: a
    structured-light camera's depth is coarser than its pixel grid, and it quarters the cost.
    """
    height, width = sk_cameras.IMAGE_HW
    k_half, half_h, half_w = cameras.scaled_K(sk_cameras.SK_DEPTH_K, 0.5), height // 2, width // 2
    depth, index_map = renderer.render(prims.transformed(sk_cameras.SK_R, sk_cameras.SK_T_MM), k_half, half_h,
                                       half_w)
    scene_depth = domains.wall_depth(rng, k_half, half_h, half_w)
    np.copyto(scene_depth, depth, where=index_map >= 0)
    return cv2.resize(domains.depth_sensor(rng, bank, scene_depth), (width, height),
                      interpolation=cv2.INTER_NEAREST)


def stb_frame(seed: int, sequence: int, index: int, bank: domains.NoiseBank) -> StbFrame:
    """Synthesises frame ``index`` of STB sequence number ``sequence``; see the module docstring."""
    rng = sample_rng(seed, STB_DOMAIN, sequence, index)
    K, (height, width) = sk_cameras.SK_COLOR_K, sk_cameras.IMAGE_HW
    sleeve = domains.clothing(rng) if rng.uniform() < 0.6 else None
    hand = scene.sample_hand(rng, "left", skin=domains.real_skin(rng), sleeve=sleeve)
    size_px = rng.uniform(150.0, 300.0)
    root_depth = np.clip(K[0, 0] * hand.extent_mm() / size_px, 300.0, 650.0)
    root_px = np.array([width / 2 + rng.uniform(-110.0, 110.0), height / 2 + rng.uniform(-70.0, 70.0)])
    joints, radii, prims = scene.posed(hand, hand.translation(K, root_px, root_depth))
    color, visible = real_colour(rng, bank, hand, joints, radii, prims)
    depth = _stb_depth(rng, bank, prims)
    xyz_ours, visible_ours = keypoints.rhd_hand_to_ours(joints, visible)
    return StbFrame(color_bgr=color, depth_mm=depth, xyz_depth=sk_cameras.color_to_depth_frame(xyz_ours),
                    uv=geometry.project(xyz_ours, K), visible=visible_ours)
