"""Are the two training domains' 3D pose distributions linearly distinguishable? (A label-shift check.)

Usage (from the repository root)::

    python tools/pose_domain_check.py [--data_dir data/procedural] [--num 2000]

Prints the held-out accuracy of a linear domain classifier on normalised 3D poses of the synthetic and
the real training split (``domain_discrepancy.pose_domain_accuracy``; 0.5 = indistinguishable). Reads the
annotations only, so it takes seconds. With ``--rhd_root`` / ``--stb_root`` it reads the real datasets.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from absl import app, flags  # noqa: E402

flags.DEFINE_string("data_dir", "data/procedural", "Procedural data folder (RHD_published_v2/ and STB/).")
flags.DEFINE_string("rhd_root", "", "The real RHD_published_v2 folder (instead of --data_dir).")
flags.DEFINE_string("stb_root", "", "The real STB folder (instead of --data_dir).")
flags.DEFINE_integer("num", 2000, "Poses per domain.")
flags.DEFINE_integer("seed", 0, "Draw and split seed.")


def main(argv):
    del argv
    from awh_tf.evaluation.domain_discrepancy import pose_domain_accuracy
    from awh_tf.data import data_setup
    from awh_tf.config import DataConfig

    F = flags.FLAGS
    data = DataConfig(data_dir=F.data_dir, rhd_root=F.rhd_root, stb_root=F.stb_root)
    synthetic, real_train, _ = data_setup.open_domains(data)
    xyz_s, xyz_t = synthetic.annotations()["xyz"], real_train.annotations()["xyz"]
    acc = pose_domain_accuracy(xyz_s, xyz_t, F.num, F.seed)
    print(f"linear domain classifier on normalised 3D poses: held-out accuracy {acc:.3f} "
          f"({min(F.num, len(xyz_s), len(xyz_t))} poses per domain; 0.5 = indistinguishable)")


if __name__ == "__main__":
    app.run(main)
