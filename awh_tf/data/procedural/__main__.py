"""Writes the procedural RHD + STB dataset.

    python -m awh_tf.data.procedural --out_dir DIR [--seed S] [--rhd_train N] [--rhd_eval N]
        [--stb_frames N] [--workers W]

With the defaults (the demo size) this takes about a minute on 2 CPU cores. A complete dataset with
the same settings is left alone; see `awh_tf.data.procedural.generation`.
"""

import os
import time

from absl import app, flags

from awh_tf.data.procedural import generation as gen

flags.DEFINE_string("out_dir", None, "Folder for RHD_published_v2/, STB/ and the manifest.", required=True)
flags.DEFINE_integer("seed", 0, "Dataset seed; the same seed writes the same bytes.")
flags.DEFINE_integer("rhd_train", gen.DEMO_RHD_TRAIN, "RHD training samples.")
flags.DEFINE_integer("rhd_eval", gen.DEMO_RHD_EVAL, "RHD evaluation samples.")
flags.DEFINE_integer("stb_frames", gen.DEMO_STB_FRAMES, "Frames per STB sequence (12 sequences).")
flags.DEFINE_integer("workers", os.cpu_count() or 1, "Worker processes (1: render in this process).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    total = FLAGS.rhd_train + FLAGS.rhd_eval + 12 * FLAGS.stb_frames
    was_complete = gen.is_complete(FLAGS.out_dir, FLAGS.seed, FLAGS.rhd_train, FLAGS.rhd_eval, FLAGS.stb_frames)
    start = time.perf_counter()
    gen.generate(FLAGS.out_dir, seed=FLAGS.seed, rhd_train=FLAGS.rhd_train, rhd_eval=FLAGS.rhd_eval,
                 stb_frames=FLAGS.stb_frames, workers=FLAGS.workers, progress=True)
    if was_complete:
        print(f"{FLAGS.out_dir}: already complete ({gen.MANIFEST}), nothing to do")
        return
    seconds = time.perf_counter() - start
    print(f"wrote {total} frames to {FLAGS.out_dir} in {seconds:.1f} s ({total / seconds:.0f} frames/s)")


if __name__ == "__main__":
    app.run(main)
