"""Hands across video frames: track each hand by its own keypoints, re-detect when needed, smooth.

Per frame (MediaPipe Hands' scheme, with our pose network in place of its landmark model):

* **Tracking.** Each track's crop comes from its previous frame's keypoint box, one pose pass. With
  smoothing on, the box of the *smoothed* keypoints: a crop that follows the raw keypoints follows the
  network's noise, and the noise feeds back through the crop (on the demo run's static clip, raw tracking
  jitters 11.5 px per frame where fixed true boxes give 2.5 px; smoothed output with raw crops 1.9 px, with
  smoothed crops 0.9 px, and less lag on a moving clip: ``docs/full_images.md``).
* **Track score.** Our network has no hand-presence output, so a track is judged by its pose: the
  extent (longer side of the keypoint box) of the new pose over the extent of the box it was cropped
  from. It stays near 1 while the hand is in the crop; a network that sees no hand pulls its soft-argmax
  keypoints together and the score drops. Below ``min_track_score`` the track is lost.
* **Re-detection** runs on the first frame, every ``redetect_every`` frames and on any frame where a
  track was lost; its hands (with the ``full_image`` second pass) are matched to the previous frame's
  tracks by the IoU of their keypoint boxes (greedy, ≥ ``match_iou``) and keep their id and filter. Tracked
  hands the detector missed stay while their score holds; unmatched detections start new tracks.
* **Smoothing.** Each track's ``uv`` and ``z_rel`` go through a One-Euro filter (``one_euro``): uv with the
  hand's box side as scale, ``z_rel`` (already in bone units) with scale 1. 3D is computed from the
  smoothed values by the caller.

Times in s; image px.
"""

import dataclasses
import itertools

import numpy as np

from awh_tf.detection import full_image
from awh_tf.detection.hand_box import corners, keypoint_box
from awh_tf.detection.nms import iou
from awh_tf.detection.one_euro import OneEuroFilter


@dataclasses.dataclass(frozen=True)
class TrackerOptions:
    """``redetect_every`` frames (0: only when a track is lost or none exists); ``min_track_score``;
    ``match_iou``; ``max_hands``; ``refine_passes`` after a detection; ``smoothing`` One-Euro parameters or
    None (no smoothing)."""

    redetect_every: int = 10
    min_track_score: float = 0.5
    match_iou: float = 0.3
    max_hands: int = 2
    refine_passes: int = 1
    smoothing: object = None


@dataclasses.dataclass(frozen=True)
class TrackedHand:
    """A hand in one frame: ``track_id``; ``uv``/``z_rel`` smoothed (raw ones in ``raw_uv``/``raw_z_rel``);
    ``box`` the crop's box; ``detector_score`` of the detection that (re)started the track; ``track_score``
    (None on a detection frame); ``detected`` whether this frame's pose came from a detection."""

    track_id: int
    uv: np.ndarray
    z_rel: np.ndarray
    raw_uv: np.ndarray
    raw_z_rel: np.ndarray
    box: tuple
    detector_score: float
    track_score: object
    detected: bool


class _Track:
    def __init__(self, track_id, detector_score, smoothing):
        self.id, self.detector_score = track_id, detector_score
        self.uv_filter = OneEuroFilter(smoothing) if smoothing else None
        self.z_filter = OneEuroFilter(smoothing) if smoothing else None
        self.uv = self.z_rel = self.box = None


def track_score(uv, box):
    """The keypoints' extent over the extent of ``box`` ``(x, y, w, h)`` they were cropped for (module doc)."""
    _, _, w, h = keypoint_box(uv)
    return float(max(w, h) / max(box[2], box[3]))


class HandTracker:
    """Runs detection, tracking and smoothing frame by frame (module docstring).

    Args:
      detector: image → list of ``PalmDetection`` (``palm_detector.PalmDetector``).
      pose_fn: ``(image, box, right_hand) -> (uv, z_rel)``.  right_hand: the hands are right hands.
      options: :class:`TrackerOptions`.
    """

    def __init__(self, detector, pose_fn, right_hand=False, options=TrackerOptions()):
        self.detector, self.pose_fn, self.right_hand, self.options = detector, pose_fn, right_hand, options
        self.tracks, self.frame, self._last_detection = [], 0, None
        self._ids = itertools.count()
        self.detections_run = 0

    def __call__(self, image, t):
        """One frame ``image`` [H, W, 3] uint8 RGB at time ``t`` s → list of :class:`TrackedHand`."""
        opts = self.options
        tracked, lost = [], False
        for track in self.tracks:
            found = full_image.pose_in_box(self.pose_fn, image, track.box, self.right_hand, refine_passes=0)
            score = None if found is None else track_score(found[0], track.box)
            if score is None or score < opts.min_track_score:
                lost = True
            else:
                tracked.append((track, found, score))
        due = (not self.tracks or lost or self._last_detection is None
               or (opts.redetect_every and self.frame - self._last_detection >= opts.redetect_every))
        updates = self._redetect(image, tracked) if due else [(tr, f, s, False) for tr, f, s in tracked]
        self.tracks = [u[0] for u in updates]
        hands = [self._update(track, found, score, detected, t) for track, found, score, detected in updates]
        self.frame += 1
        return hands

    def _redetect(self, image, tracked):
        opts = self.options
        self._last_detection = self.frame
        self.detections_run += 1
        hands = full_image.detect_hands(self.detector, self.pose_fn, image, self.right_hand, opts.refine_passes)
        previous = list(self.tracks)
        pairs = sorted(((iou(corners(keypoint_box(h.uv)), corners(tr.box)[None])[0], i, j)
                        for i, h in enumerate(hands) for j, tr in enumerate(previous)), reverse=True)
        match, used = {}, set()
        for overlap, i, j in pairs:
            if overlap >= opts.match_iou and i not in match and j not in used:
                match[i] = j
                used.add(j)
        updates = []
        for i, hand in enumerate(hands):
            score = hand.detection.score
            if i in match:
                track = previous[match[i]]
                track.detector_score = score
            else:
                track = _Track(next(self._ids), score, opts.smoothing)
            updates.append((track, (hand.uv, hand.z_rel, hand.box), None, True))
        kept = {id(u[0]) for u in updates}
        updates += [(tr, f, s, False) for tr, f, s in tracked if id(tr) not in kept]
        return updates[:opts.max_hands]

    def _update(self, track, found, score, detected, t):
        uv, z_rel, crop_box = found
        track.uv, track.z_rel = uv, z_rel
        _, _, w, h = keypoint_box(uv)
        smooth_uv = uv if track.uv_filter is None else track.uv_filter(uv, t, scale=max(w, h))
        smooth_z = z_rel if track.z_filter is None else track.z_filter(z_rel, t)
        track.box = keypoint_box(smooth_uv)  # the next frame's crop (module docstring)
        return TrackedHand(track_id=track.id, uv=smooth_uv, z_rel=smooth_z, raw_uv=uv, raw_z_rel=z_rel,
                           box=crop_box, detector_score=track.detector_score, track_score=score, detected=detected)
