"""Writes the procedural data: RHD + STB (the default), or the real-looking domain in the FreiHAND or COCO layout.

    python -m awh_tf.data.procedural --out_dir DIR [--seed S] [--rhd_train N] [--rhd_eval N]
        [--stb_frames N] [--workers W]
    python -m awh_tf.data.procedural --out_dir DIR --layout freihand [--freihand_train N] [--freihand_eval N]
    python -m awh_tf.data.procedural --out_dir DIR --layout coco [--freihand_train N] [--freihand_eval N]

``rhd_stb`` writes ``RHD_published_v2/`` and ``STB/`` (about a minute on 2 CPU cores at the demo size);
``freihand`` writes ``FreiHAND_pub_v2/`` (224×224 right hands, no depth; `freihand_layout`); ``coco`` writes
that FreiHAND layout and converts it to ``COCO_hands/{train,test}.json`` + ``images/`` (`coco_layout`). Each
layout has its own manifest; a complete one with the same settings is left alone (`generation`).
"""

import os
import time

from absl import app, flags

from awh_tf.data.procedural import coco_layout, freihand_layout
from awh_tf.data.procedural import generation as gen

flags.DEFINE_string("out_dir", None, "Folder for the dataset folders and their manifests.", required=True)
flags.DEFINE_enum("layout", "rhd_stb", ["rhd_stb", "freihand", "coco"], "Which layout to write.")
flags.DEFINE_integer("seed", 0, "Dataset seed; the same seed writes the same bytes.")
flags.DEFINE_integer("rhd_train", gen.DEMO_RHD_TRAIN, "RHD training samples.")
flags.DEFINE_integer("rhd_eval", gen.DEMO_RHD_EVAL, "RHD evaluation samples.")
flags.DEFINE_integer("stb_frames", gen.DEMO_STB_FRAMES, "Frames per STB sequence (12 sequences).")
flags.DEFINE_integer("freihand_train", freihand_layout.DEMO_TRAIN, "FreiHAND-layout training frames.")
flags.DEFINE_integer("freihand_eval", freihand_layout.DEMO_EVAL, "FreiHAND-layout evaluation frames.")
flags.DEFINE_integer("workers", os.cpu_count() or 1, "Worker processes (1: render in this process).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    if FLAGS.layout == "rhd_stb":
        total = FLAGS.rhd_train + FLAGS.rhd_eval + 12 * FLAGS.stb_frames
        sizes = dict(seed=FLAGS.seed, rhd_train=FLAGS.rhd_train, rhd_eval=FLAGS.rhd_eval, stb_frames=FLAGS.stb_frames)
        is_complete, generate, manifest = gen.is_complete, gen.generate, gen.MANIFEST
    else:
        total = FLAGS.freihand_train + FLAGS.freihand_eval
        sizes = dict(seed=FLAGS.seed, train=FLAGS.freihand_train, evaluation=FLAGS.freihand_eval)
        module = freihand_layout if FLAGS.layout == "freihand" else coco_layout
        is_complete = module.is_complete
        generate = freihand_layout.generate_freihand if FLAGS.layout == "freihand" else coco_layout.generate_coco
        manifest = freihand_layout.FREIHAND_MANIFEST if FLAGS.layout == "freihand" else coco_layout.COCO_MANIFEST
    was_complete = is_complete(FLAGS.out_dir, **sizes)
    start = time.perf_counter()
    try:
        generate(FLAGS.out_dir, workers=FLAGS.workers, progress=True, **sizes)
    except (FileExistsError, ValueError) as e:
        raise app.UsageError(str(e)) from None
    if was_complete:
        print(f"{FLAGS.out_dir}: already complete ({manifest}), nothing to do")
        return
    seconds = time.perf_counter() - start
    print(f"wrote {total} frames ({FLAGS.layout}) to {FLAGS.out_dir} in {seconds:.1f} s "
          f"({total / seconds:.0f} frames/s)")


if __name__ == "__main__":
    app.run(main)
