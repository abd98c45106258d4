"""Opens the two domains a run trains on and the real test split it is judged on.

Synthetic domain = an RHD-format folder (``training`` split), real domain = an STB-format folder
(``STB_TRAIN_SEQUENCES``), test = STB's ``STB_TEST_SEQUENCES``. With neither ``rhd_root`` nor ``stb_root``
set, both come from the procedural benchmark in ``data_dir``, generated there on first use.
"""

import json
import os

from awh_tf.data import RHDDataset, STBDataset, STB_TEST_SEQUENCES, STB_TRAIN_SEQUENCES
from awh_tf.data.errors import DataError

MANIFEST = "procedural_manifest.json"


def ensure_procedural_data(data_cfg, log=print):
    """Generates the procedural benchmark in ``data_cfg.data_dir`` unless a complete one is there.

    A folder is complete when its manifest exists (written last by the generator) and matches the
    requested seed and sizes; a half-written folder (a killed generation) is generated again.
    """
    if data_cfg.rhd_root or data_cfg.stb_root:
        return
    want = {"seed": data_cfg.gen_seed, "rhd_train": data_cfg.gen_rhd_train,
            "rhd_eval": data_cfg.gen_rhd_eval, "stb_frames": data_cfg.gen_stb_frames}
    path = os.path.join(data_cfg.data_dir, MANIFEST)
    if os.path.exists(path):
        with open(path) as f:
            have = json.load(f)
        if all(have.get(k) == v for k, v in want.items()):
            return
        if not data_cfg.generate_if_missing:
            raise DataError(f"{data_cfg.data_dir}: procedural data was generated with {have}, the config asks "
                            f"for {want}; use another --data_dir or --generate_if_missing")
    elif not data_cfg.generate_if_missing:
        raise DataError(f"{data_cfg.data_dir}: no procedural data here ({MANIFEST} missing); run "
                        f"python -m awh_tf.data.procedural --out_dir {data_cfg.data_dir} or set "
                        f"--rhd_root/--stb_root")
    from awh_tf.data.procedural import generate  # imported lazily: multiprocessing workers

    log(f"generating the procedural two-domain data in {data_cfg.data_dir} (seed {data_cfg.gen_seed}) ...")
    generate(data_cfg.data_dir, seed=data_cfg.gen_seed, rhd_train=data_cfg.gen_rhd_train,
             rhd_eval=data_cfg.gen_rhd_eval, stb_frames=data_cfg.gen_stb_frames)


def open_domains(data_cfg):
    """Returns ``(synthetic_train, real_train, real_test)`` datasets; raises DataError for a bad layout."""
    synthetic = RHDDataset(data_cfg.rhd_path(), split="training")
    real_train = STBDataset(data_cfg.stb_path(), sequences=STB_TRAIN_SEQUENCES)
    real_test = STBDataset(data_cfg.stb_path(), sequences=STB_TEST_SEQUENCES)
    return synthetic, real_train, real_test


def open_synthetic_test(data_cfg):
    """The synthetic domain's held-out split (RHD ``evaluation``), for the domain-gap figure."""
    return RHDDataset(data_cfg.rhd_path(), split="evaluation")
