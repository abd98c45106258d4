"""Figures of the evaluation: PCK curves, per-keypoint errors and hand skeletons (matplotlib, PNG).

Legend: K = 21 keypoints in our order (``awh_tf.keypoints``); uv ``[K, 2]`` px with pixel centres at
integer coordinates (u right, v down); xyz ``[K, 3]`` mm, camera frame (+Z forward, Y down).

Every function that writes a file takes the output path, draws with the non-interactive Agg backend
(no display needed) and closes its figure, so many calls in one process do not accumulate memory.
"""

import os

import cv2
import numpy as np

from awh_tf.keypoints import KEYPOINT_NAMES, NUM_KEYPOINTS, SKELETON_EDGES

# One colour per finger (RGB in [0, 1]); edge i of SKELETON_EDGES belongs to finger i // 4.
FINGER_COLOURS = ((0.85, 0.10, 0.10), (0.95, 0.60, 0.05), (0.15, 0.65, 0.15), (0.10, 0.35, 0.90),
                  (0.70, 0.15, 0.75))
PALM_COLOUR = (0.4, 0.4, 0.4)


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (chosen before pyplot is first imported)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    """Writes ``fig`` to ``path`` (folders created) and closes it; returns ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return path


def plot_pck(curves, path, title="3D PCK", xlabel="error threshold (mm)"):
    """One figure with one PCK curve per run and a legend.

    Args:
      curves: list of dicts with ``label`` (str), ``thresholds`` [T] (mm or px), ``pck`` [T] in [0, 1] and
        optionally ``auc`` (float, shown in the legend) and ``band`` ([T] lower, [T] upper) drawn as a
        shaded spread (e.g. min/max over seeds).
      path: output PNG.
    Returns:
      ``path``.
    """
    if not curves:
        raise ValueError("plot_pck: no curves to plot")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for curve in curves:
        label = curve["label"]
        t = np.asarray(curve["thresholds"], np.float64)
        if curve.get("auc") is not None:
            label = f"{label} (AUC {t.min():g}-{t.max():g}: {curve['auc']:.3f})"
        line, = ax.plot(t, np.asarray(curve["pck"], np.float64), marker=".", label=label)
        if curve.get("band") is not None:
            lo, hi = curve["band"]
            ax.fill_between(t, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("PCK")
    ax.set_ylim(0.0, 1.0)
    ax.set_xlim(float(np.min(curves[0]["thresholds"])), float(np.max(curves[0]["thresholds"])))
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize="small")
    return _save(fig, path)


def plot_per_keypoint(errors, path, title="3D EPE per keypoint", ylabel="mean EPE (mm)",
                      names=KEYPOINT_NAMES):
    """A bar per keypoint, coloured by finger; a keypoint never visible (NaN) is marked "n/a".

    Args:
      errors: [K] per-keypoint mean error (NaN or None where the keypoint was never visible).
      path: output PNG.
    Returns:
      ``path``.
    """
    values = np.array([np.nan if e is None else e for e in errors], np.float64)
    if values.shape != (len(names),):
        raise ValueError(f"plot_per_keypoint: expected {len(names)} errors, got shape {values.shape}")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 3.6))
    x = np.arange(len(values))
    colours = [PALM_COLOUR] + [FINGER_COLOURS[(i - 1) // 4] for i in range(1, len(values))]
    ax.bar(x, np.nan_to_num(values), color=colours)
    for i in np.nonzero(~np.isfinite(values))[0]:
        ax.text(i, 0.0, "n/a", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=75, fontsize=7)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def draw_skeleton_2d(ax, uv, visible=None, alpha=1.0, linestyle="-"):
    """Draws the hand skeleton on a matplotlib image axis.

    Args:
      ax: axis showing an image in px (``imshow`` puts pixel centres at integer coordinates, as ours).
      uv: [K, 2] px.  visible: [K] bool or None (all); an edge is drawn when both ends are visible.
    """
    uv = np.asarray(uv, np.float64)
    vis = np.ones(NUM_KEYPOINTS, bool) if visible is None else np.asarray(visible, bool)
    for e, (a, b) in enumerate(SKELETON_EDGES):
        if vis[a] and vis[b]:
            ax.plot(uv[[a, b], 0], uv[[a, b], 1], color=FINGER_COLOURS[e // 4], linewidth=1.5,
                    alpha=alpha, linestyle=linestyle)
    ax.scatter(uv[vis, 0], uv[vis, 1], s=6, color="white", edgecolors="black", linewidths=0.4,
               alpha=alpha, zorder=3)


def draw_skeleton_3d(ax, xyz, alpha=1.0, linestyle="-"):
    """Draws a root-relative 3D skeleton on a ``projection="3d"`` axis, as the camera sees it.

    Args:
      ax: a 3D axis.  xyz: [K, 3] mm, camera frame; drawn relative to the root (palm) with the camera's
        Y (down) and Z (forward) mapped so that the view matches the image (up is up).
    """
    rel = np.asarray(xyz, np.float64) - np.asarray(xyz, np.float64)[0]
    # Plot axes (x, y, z) = (X, Z, -Y): depth goes into the screen, image-up is plot-up.
    p = np.stack([rel[:, 0], rel[:, 2], -rel[:, 1]], axis=1)
    for e, (a, b) in enumerate(SKELETON_EDGES):
        ax.plot(p[[a, b], 0], p[[a, b], 1], p[[a, b], 2], color=FINGER_COLOURS[e // 4], linewidth=1.5,
                alpha=alpha, linestyle=linestyle)
    ax.scatter(p[:, 0], p[:, 1], p[:, 2], s=5, color="black", alpha=alpha)


def set_equal_3d(ax, points, margin=10.0):
    """Same scale on the three axes of a 3D plot around ``points`` [N, 3] (mm, plot axes)."""
    pts = np.asarray(points, np.float64).reshape(-1, 3)
    centre = (pts.max(0) + pts.min(0)) / 2.0
    half = float(np.max(pts.max(0) - pts.min(0))) / 2.0 + margin
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_zlim(centre[2] - half, centre[2] + half)
    ax.set_xlabel("X mm", fontsize=7)
    ax.set_ylabel("Z mm", fontsize=7)
    ax.set_zlabel("-Y mm", fontsize=7)
    ax.tick_params(labelsize=6)


def skeleton_plot_points(xyz):
    """The points :func:`draw_skeleton_3d` draws for ``xyz`` [K, 3] mm, in plot axes (for limits)."""
    rel = np.asarray(xyz, np.float64) - np.asarray(xyz, np.float64)[0]
    return np.stack([rel[:, 0], rel[:, 2], -rel[:, 1]], axis=1)


def overlay_skeleton(image, uv, box=None):
    """The skeleton drawn onto a copy of an image with OpenCV (anti-aliased, sub-pixel).

    Args:
      image: uint8 [H, W, 3] RGB.  uv: [K, 2] px in this image.  box: optional ``(x, y, w, h)`` px drawn
        as a rectangle (the crop's source box).
    Returns:
      uint8 [H, W, 3] RGB.
    """
    out = np.ascontiguousarray(image.copy())
    shift = 4  # OpenCV fixed-point coordinates: 1/16 px
    pts = np.round(np.asarray(uv, np.float64) * (1 << shift)).astype(np.int64)
    thickness = max(1, int(round(max(image.shape[:2]) / 200)))
    for e, (a, b) in enumerate(SKELETON_EDGES):
        colour = tuple(int(255 * c) for c in FINGER_COLOURS[e // 4])
        cv2.line(out, tuple(map(int, pts[a])), tuple(map(int, pts[b])), colour, thickness, cv2.LINE_AA,
                 shift)
    for p in pts:
        cv2.circle(out, tuple(map(int, p)), (thickness + 1) << shift, (255, 255, 255), -1, cv2.LINE_AA,
                   shift)
    if box is not None:
        x, y, w, h = (int(round(v)) for v in box)
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), (255, 255, 0), thickness)
    return out


def write_rgb(path, image):
    """Writes uint8 [H, W, 3] RGB as a PNG (folders created); raises OSError if OpenCV cannot."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, cv2.cvtColor(np.asarray(image, np.uint8), cv2.COLOR_RGB2BGR)):
        raise OSError(f"{path}: could not write the PNG")
    return path
