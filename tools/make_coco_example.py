"""Makes a tiny COCO-style hand keypoint example by converting FreiHAND-layout data (docs/datasets.md "Adapting to your
own hands").

    python tools/make_coco_example.py --out_dir data/coco_example [--num_train 40] [--num_test 10]
    python tools/make_coco_example.py --out_dir data/freihand_coco --freihand_root /data/FreiHAND_pub_v2 \
        [--freihand_eval_root /data/FreiHAND_pub_v2_eval] --num_train 0 --num_test 0

Without ``--freihand_root`` it first renders a small procedural FreiHAND-layout set into
``<out_dir>/freihand_source`` (``awh_tf.data.procedural.freihand_layout``; seconds). It then writes the format
``awh_tf/data/coco.py`` reads — what you would write for your own labels::

    <out_dir>/images/train/%08d.jpg   <out_dir>/train.json   (from the FreiHAND "training" split)
    <out_dir>/images/test/%08d.jpg    <out_dir>/test.json    (from "evaluation")

(JPEGs copied; 21 keypoints projected to 2D in COCO's hand order, v = 2 inside the image, 0 outside; the
keypoints' box as ``bbox``; ``"hand": "right"``; no 3D). ``--num_train`` / ``--num_test`` 0 convert every image.
"""

import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from awh_tf.data.errors import DataError  # noqa: E402
from awh_tf.data.procedural import coco_layout, freihand_layout  # noqa: E402

flags.DEFINE_string("out_dir", "data/coco_example", "Folder for train.json, test.json and images/.")
flags.DEFINE_string("freihand_root", None, "A FreiHAND-layout folder to convert (default: render a procedural "
                    "one into <out_dir>/freihand_source).")
flags.DEFINE_string("freihand_eval_root", None, "The folder holding evaluation_*.json (default: --freihand_root).")
flags.DEFINE_integer("num_train", 40, "Training images to convert (0 = all).")
flags.DEFINE_integer("num_test", 10, "Test images to convert (0 = all).")
flags.DEFINE_integer("seed", 0, "Seed of the procedural source.")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    source = FLAGS.freihand_root
    if source is None:
        if not FLAGS.num_train or not FLAGS.num_test:
            raise app.UsageError("--num_train and --num_test must be > 0 for the procedural source")
        folder = os.path.join(FLAGS.out_dir, "freihand_source")
        freihand_layout.generate_freihand(folder, seed=FLAGS.seed, train=FLAGS.num_train, evaluation=FLAGS.num_test,
                                          workers=1, progress=False)
        source = os.path.join(folder, freihand_layout.FREIHAND_ROOT)
    images = os.path.join(FLAGS.out_dir, "images")
    parts = (("training", "train", source, FLAGS.num_train),
             ("evaluation", "test", FLAGS.freihand_eval_root or source, FLAGS.num_test))
    try:
        for split, name, root, limit in parts:
            path = os.path.join(FLAGS.out_dir, f"{name}.json")
            n = coco_layout.freihand_to_coco(root, split, path, images, name, limit=limit)
            print(f"{path}: {n} hands, images in {os.path.join(images, name)}")
    except DataError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    app.run(main)
