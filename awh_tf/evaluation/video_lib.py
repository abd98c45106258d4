"""Videos and folders of frames: detection, tracking and One-Euro smoothing frame by frame.

A video file (any container OpenCV's FFmpeg reads: ``.mp4``/``.avi``/``.mov``/``.mkv``/``.webm``/``.m4v``)
or a folder of images (sorted by name; frames of another size than the first are skipped with a warning)
goes through ``awh_tf.detection.tracker.HandTracker`` with the network as its pose function. Written:

* ``<out>/<stem>/frame_<i:06d>.json`` per frame: the image fields of ``predict_lib`` plus ``frame``,
  ``time_s`` and ``hands`` — per hand ``predict_lib.hand_fields`` (smoothed ``uv``/``z_rel``; 3D from them)
  plus ``track_id``, ``detector_score``, ``track_score`` and ``detected``;
* ``<out>/<stem>_overlay.mp4`` (MPEG-4 Part 2, ``mp4v``: what OpenCV's headless wheel writes) with the
  skeletons and boxes.

Times: frame i is at ``i / fps`` s, fps from the video's header (``fps`` overrides it; folders need it).
"""

import json
import os

import cv2

from awh_tf.evaluation import plots, predict_lib
from awh_tf.evaluation.predict_lib import PredictError

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_FPS = 30.0


def is_sequence(path):
    """True for a folder or a file with a video extension."""
    return os.path.isdir(path) or os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


def open_frames(path, fps=None, warn=print):
    """``(frames, fps, count)``: an iterator of uint8 [H, W, 3] RGB frames, the frame rate, the frame count
    (an estimate for videos). PredictError (one line) if nothing can be read."""
    if os.path.isdir(path):
        files = sorted(f for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise PredictError(f"{path}: a folder without image files ({', '.join(IMAGE_EXTENSIONS)})")
        return _folder_frames(path, files, warn), float(fps or DEFAULT_FPS), len(files)
    capture = cv2.VideoCapture(path)
    ok, first = capture.read() if capture.isOpened() else (False, None)
    if not capture.isOpened():
        raise PredictError(f"{path}: not a readable video")
    if not ok:
        capture.release()
        raise PredictError(f"{path}: the video has no frames")
    rate = float(fps or capture.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS)
    return _video_frames(capture, first), rate, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None


def _video_frames(capture, first):
    frame = first
    try:
        while frame is not None:
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            ok, frame = capture.read()
            frame = frame if ok else None
    finally:
        capture.release()


def _folder_frames(folder, files, warn):
    shape = None
    for name in files:
        try:
            image = predict_lib.read_image(os.path.join(folder, name))
        except PredictError as e:
            warn(f"warning: {e}; frame skipped")
            continue
        if shape is not None and image.shape != shape:
            warn(f"warning: {os.path.join(folder, name)}: {image.shape[1]}x{image.shape[0]} px, not the first "
                 f"frame's {shape[1]}x{shape[0]}; frame skipped")
            continue
        shape = image.shape
        yield image


def frame_record(path, index, t, image_shape, hands, K=None, bone_length_mm=None, hand="left"):
    """The JSON record of one frame (module docstring) from ``tracker.TrackedHand`` s."""
    records = []
    for h in hands:
        fields = predict_lib.hand_fields(hand, h.box, h.uv, h.z_rel, K, bone_length_mm)
        fields.update(track_id=h.track_id, detector_score=h.detector_score, track_score=h.track_score,
                      detected=h.detected)
        records.append(fields)
    return dict(predict_lib.image_fields(path, image_shape), frame=index, time_s=t, hands=records)


def predict_sequence(tracker, path, out_dir, stem, fps=None, K=None, bone_length_mm=None, hand="left",
                     progress=True, warn=print):
    """Runs ``tracker`` over every frame of ``path``; writes the per-frame JSON and the overlay video.

    Returns:
      ``{"frames", "frames_with_hands", "detections_run", "json_dir", "video"}``.
    Raises:
      PredictError: unreadable video, zero frames, or an overlay video that cannot be written.
    """
    frames, rate, count = open_frames(path, fps, warn)
    json_dir = os.path.join(out_dir, stem)
    os.makedirs(json_dir, exist_ok=True)
    video_path = os.path.join(out_dir, f"{stem}_overlay.mp4")
    writer, n, with_hands = None, 0, 0
    bar = _progress(count, path, progress)
    try:
        for image in frames:
            t = n / rate
            hands = tracker(image, t)
            with open(os.path.join(json_dir, f"frame_{n:06d}.json"), "w") as f:
                json.dump(frame_record(path, n, t, image.shape, hands, K, bone_length_mm, hand), f, indent=1)
            writer = writer or _writer(video_path, rate, image.shape)
            overlay = image
            for h in hands:
                overlay = plots.overlay_skeleton(overlay, h.uv, h.box)
            writer.write(cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
            n, with_hands = n + 1, with_hands + bool(hands)
            bar.update(1)
    finally:
        bar.close()
        if writer is not None:
            writer.release()
    if n == 0:
        raise PredictError(f"{path}: no readable frames")
    return {"frames": n, "frames_with_hands": with_hands, "detections_run": tracker.detections_run,
            "json_dir": json_dir, "video": video_path}


def _writer(path, fps, shape):
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (shape[1], shape[0]))
    if not writer.isOpened():
        raise PredictError(f"{path}: OpenCV cannot write an mp4v video there")
    return writer


def _progress(total, path, enabled):
    from tqdm import tqdm

    return tqdm(total=total, desc=os.path.basename(os.path.normpath(path)), unit="frame", disable=not enabled,
                leave=False)

