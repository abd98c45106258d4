"""Opens the two domains a run trains on and the real test split it is judged on.

Synthetic domain = an RHD-format folder (``training`` split), real domain = an STB-format folder
(``STB_TRAIN_SEQUENCES``), test = STB's ``STB_TEST_SEQUENCES``. With neither ``rhd_root`` nor ``stb_root``
set, both come from the procedural benchmark in ``data_dir``, generated there on first use.
"""

from awh_tf.data import RHDDataset, STBDataset, STB_TEST_SEQUENCES, STB_TRAIN_SEQUENCES
from awh_tf.data.errors import DataError


def ensure_procedural_data(data_cfg, log=print):
    """Generates the procedural benchmark in ``data_cfg.data_dir`` unless a complete one is there.

    Completeness is the generator's manifest (written last, with the seed and sizes): a half-written folder
    from a killed generation is generated again; real RHD/STB folders are never touched.
    """
    if data_cfg.rhd_root or data_cfg.stb_root:
        return
    from awh_tf.data.procedural import generation  # lazily: it starts worker processes

    sizes = dict(seed=data_cfg.gen_seed, rhd_train=data_cfg.gen_rhd_train, rhd_eval=data_cfg.gen_rhd_eval,
                 stb_frames=data_cfg.gen_stb_frames)
    if generation.is_complete(data_cfg.data_dir, **sizes):
        return
    if not data_cfg.generate_if_missing:
        raise DataError(f"{data_cfg.data_dir}: no complete procedural data with {sizes}; run python -m "
                        f"awh_tf.data.procedural --out_dir {data_cfg.data_dir} or set --rhd_root/--stb_root")
    log(f"generating the procedural two-domain data in {data_cfg.data_dir} ({sizes}) ...")
    try:
        generation.generate(data_cfg.data_dir, **sizes)
    except FileExistsError as e:
        raise DataError(str(e)) from None


def open_domains(data_cfg):
    """Returns ``(synthetic_train, real_train, real_test)`` datasets; raises DataError for a bad layout."""
    synthetic = RHDDataset(data_cfg.rhd_path(), split="training")
    # Only the hand's neighbourhood of the depth reaches the depth regularizer's target: register just
    # that (identical there, ~5 ms instead of ~18 ms a frame).
    real_train = STBDataset(data_cfg.stb_path(), sequences=STB_TRAIN_SEQUENCES, depth_region="hand")
    # The test split is only scored on 2D/3D labels: skip its depth registration (~30 ms a frame).
    real_test = STBDataset(data_cfg.stb_path(), sequences=STB_TEST_SEQUENCES, with_depth=False)
    return synthetic, real_train, real_test


def open_synthetic_test(data_cfg):
    """The synthetic domain's held-out split (RHD ``evaluation``), for the domain-gap figure."""
    return RHDDataset(data_cfg.rhd_path(), split="evaluation", with_depth=False)
