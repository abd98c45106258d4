"""Opens the two domains a run trains on and the real test split it is judged on.

Synthetic domain = an RHD-format folder (``training`` split). Real domain (``DataConfig.real_domain``):

* ``stb``: an STB-format folder, train ``STB_TRAIN_SEQUENCES``, test ``STB_TEST_SEQUENCES`` (B1);
* ``freihand``: a FreiHAND folder, train its ``training`` split, test its ``evaluation`` split (no depth
  images; the 3D labels only score the test split);
* ``coco``: a COCO-style hand keypoint JSON (``awh_tf.data.coco``), test a second JSON or a held-out part of
  its images (2D labels only).

Whatever a run's real domain reads from user paths is never generated; the rest comes from the procedural
benchmark in ``data_dir`` (RHD + STB always, as the synthetic domain lives there; the FreiHAND layout for
``freihand``; the FreiHAND layout converted to COCO JSON for ``coco``), generated there on first use.
"""

from awh_tf.data import FreiHANDDataset, RHDDataset, STBDataset, STB_TEST_SEQUENCES, STB_TRAIN_SEQUENCES
from awh_tf.data.coco import CocoHandDataset
from awh_tf.data.errors import DataError

# What each real domain's test split is, for reports.
TEST_SPLIT_NAMES = {"stb": "real test split (STB B1Counting + B1Random)",
                    "freihand": "real test split (FreiHAND evaluation)",
                    "coco": "real test split (COCO-style JSON)"}
TRAIN_SPLIT_NAMES = {"stb": "real training split (STB B2-B6)", "freihand": "real training split (FreiHAND training)",
                     "coco": "real training split (COCO-style JSON)"}


def _generate(what, is_complete, generate, data_cfg, sizes, log):
    if is_complete(data_cfg.data_dir, **sizes):
        return
    if not data_cfg.generate_if_missing:
        raise DataError(f"{data_cfg.data_dir}: no complete procedural {what} with {sizes}; run python -m "
                        f"awh_tf.data.procedural --out_dir {data_cfg.data_dir} (see --layout) or set the "
                        f"dataset's root flag")
    log(f"generating the procedural {what} in {data_cfg.data_dir} ({sizes}) ...")
    try:
        generate(data_cfg.data_dir, **sizes)
    except FileExistsError as e:
        raise DataError(str(e)) from None


def ensure_procedural_data(data_cfg, log=print):
    """Generates the procedural data the run reads from ``data_cfg.data_dir`` unless it is complete there.

    Completeness is each layout's manifest (written last, with the seed and sizes): a half-written folder
    from a killed generation is generated again; folders without a manifest (real datasets) are never
    touched. With ``rhd_root`` set, or the real domain's own root set, nothing is generated for it.
    """
    from awh_tf.data.procedural import coco_layout, freihand_layout, generation  # lazily: worker processes

    if data_cfg.real_domain == "stb" and data_cfg.stb_root:
        return  # as before: with stb_root, a missing rhd_root is an error at open time, not a generation
    if not data_cfg.rhd_root:
        sizes = dict(seed=data_cfg.gen_seed, rhd_train=data_cfg.gen_rhd_train, rhd_eval=data_cfg.gen_rhd_eval,
                     stb_frames=data_cfg.gen_stb_frames)
        _generate("two-domain data", generation.is_complete, generation.generate, data_cfg, sizes, log)
    if data_cfg.real_domain == "stb" or data_cfg.real_roots_given():
        return
    sizes = dict(seed=data_cfg.gen_seed, train=data_cfg.gen_freihand_train, evaluation=data_cfg.gen_freihand_eval)
    if data_cfg.real_domain == "freihand":
        _generate("FreiHAND layout", freihand_layout.is_complete, freihand_layout.generate_freihand, data_cfg,
                  sizes, log)
    elif data_cfg.real_domain == "coco":
        _generate("COCO-style hands", coco_layout.is_complete, coco_layout.generate_coco, data_cfg, sizes, log)


def open_real(data_cfg, part, with_depth=True):
    """The real domain's ``part`` ("train" or "test") as a loader; raises DataError for a bad layout.

    ``with_depth=False`` skips STB's depth registration (evaluation scores 2D/3D labels only); the test
    split never reads depth.
    """
    if part not in ("train", "test"):
        raise ValueError(f"part: expected train or test, got {part!r}")
    domain = data_cfg.real_domain
    if domain == "stb":
        if part == "test":
            return STBDataset(data_cfg.stb_path(), sequences=STB_TEST_SEQUENCES, with_depth=False)
        # Only the hand's neighbourhood of the depth reaches the depth regularizer's target: register just
        # that (identical there, ~5 ms instead of ~18 ms a frame).
        return STBDataset(data_cfg.stb_path(), sequences=STB_TRAIN_SEQUENCES, with_depth=with_depth,
                          depth_region="hand")
    if domain == "freihand":
        if part == "test":
            return FreiHANDDataset(data_cfg.freihand_eval_path(), split="evaluation", with_mask=False)
        return FreiHANDDataset(data_cfg.freihand_path(), split="training", with_mask=False)
    json_path, images, test_json = data_cfg.coco_paths()
    kwargs = dict(default_hand=data_cfg.coco_default_hand)
    if test_json:
        return CocoHandDataset(test_json if part == "test" else json_path, images, split="all", **kwargs)
    return CocoHandDataset(json_path, images, split=part, test_fraction=data_cfg.coco_test_fraction,
                           split_seed=data_cfg.gen_seed, **kwargs)


def open_domains(data_cfg):
    """Returns ``(synthetic_train, real_train, real_test)`` datasets; raises DataError for a bad layout."""
    synthetic = RHDDataset(data_cfg.rhd_path(), split="training")
    return synthetic, open_real(data_cfg, "train"), open_real(data_cfg, "test")


def open_synthetic_test(data_cfg):
    """The synthetic domain's held-out split (RHD ``evaluation``), for the domain-gap figure."""
    return RHDDataset(data_cfg.rhd_path(), split="evaluation", with_depth=False)

