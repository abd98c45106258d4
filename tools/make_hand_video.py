"""Writes a short procedural hand video with known keypoints (tracking and smoothing checks).

    python tools/make_hand_video.py --data_dir data/procedural --index 5 --motion slow --out hand_slow.mp4

Frame ``--index`` of the procedural real-domain test split (STB B1Counting + B1Random), moved slowly
(``--motion slow``) or held still (``static``) with fresh sensor noise each frame
(``awh_tf/data/procedural/sequences.py``). Writes ``--out`` (mp4v, OpenCV's headless wheel) and, beside it,
``<out>.json`` with the true keypoints per frame (``uv`` [T][21][2] px) and the frame's intrinsics ``K``.
Then: ``python -m awh_tf.predict --workdir runs/demo hand_slow.mp4``.
"""

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data_dir", default="data/procedural", help="the procedural data (holds STB/)")
    p.add_argument("--index", type=int, default=5, help="frame of the real test split")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--motion", choices=("static", "slow"), default="slow")
    p.add_argument("--noise", type=float, default=4.0, help="sensor noise, grey levels (std)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="hand_slow.mp4")
    args = p.parse_args(argv)
    from awh_tf.data import STB_TEST_SEQUENCES, STBDataset
    from awh_tf.data.procedural.sequences import moving_frames

    sample = STBDataset(os.path.join(args.data_dir, "STB"), sequences=STB_TEST_SEQUENCES, with_depth=False)[args.index]
    video, uv = moving_frames(sample["image"], sample["uv"], args.frames, args.motion, noise=args.noise, seed=args.seed)
    writer = cv2.VideoWriter(args.out, cv2.VideoWriter_fourcc(*"mp4v"), args.fps, video.shape[2:0:-1])
    if not writer.isOpened():
        raise SystemExit(f"error: {args.out}: OpenCV cannot write an mp4v video there")
    for frame in video:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump({"source": sample["name"], "fps": args.fps, "K": sample["K"].tolist(), "uv": uv.tolist()}, f)
    print(f"{args.out}: {len(video)} frames of {sample['name']} ({args.motion})")


if __name__ == "__main__":
    main()
