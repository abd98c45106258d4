"""The experiment suites as data: every configuration of the paper's comparisons, defined once.

A suite is a tuple of :class:`Experiment` rows; a row's ``overrides`` are training flags (built by
:func:`row_flags`) applied on top of a base flag file by :func:`build_config`, which gives the frozen
``Config`` of one run. ``tools/run_experiments.py`` runs the suites (:mod:`awh_tf.experiments.runner`);
:data:`FLAG_FILES` names the checked-in ``configs/procedural_*.cfg`` that are suite rows on
``configs/demo.cfg``, and ``tests/experiments/test_config_files.py`` checks that each file parses to its
row's config, so a row and its flag file cannot drift apart.

Suites (our reading of the paper, p. 6, where its text is silent):

* ``table2`` — ``wo/AWH+w/FSS``: Iqbal et al.'s two-stack network with the depth regularizer, the first
  stack supervised as Iqbal et al. supervise every stack, i.e. with all the losses the final stack gets:
  synthetic 2D + 3D and real 2D (R2D+R3D+S2D; the paper's Table 1 row of that name is the same network);
  ``wo/AWH+wo/FSS``: the same without first-stack supervision; ``w/WH+wo/FSS``: plus a WDGRL critic
  (α ≡ 1, Shen et al.); ``w/AWH+wo/FSS``: the method. Two references the paper lacks: ``source only``
  (synthetic data alone) and ``oracle`` (the real domain's 3D labels used in training), which define the
  **domain gap closed** = (EPE_source_only − EPE_method) / (EPE_source_only − EPE_oracle).
* ``adaptation`` — the critic across the real domain's label budgets (3D oracle, 2D + depth, 2D, none),
  each with and without the critic, the centred α, and a λ_wd sweep.
* ``table1`` — no critic (Iqbal et al. + depth regularizer), the first stack supervised with each of the 7
  combinations of R2D (synthetic 2D), R3D (synthetic depth), S2D (real 2D), and ``wo/IL`` (none).
* ``fig5a`` — wo/FSS, w/FSS and w/FSSC (extra conv layers before the first stack's heatmaps, paper Fig. 3),
  each first-stack-supervised variant with R2D+R3D+S2D; the runs behind the paper's Fig. 4 and 5a.

No TensorFlow here: importing this module is cheap.
"""

import dataclasses
import os


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One configuration of a suite: its table label, folder name, flag overrides and paper numbers.

    ``role`` is ``source_only`` / ``oracle`` for the domain-gap references, else None; ``paper`` is the
    paper's (3D mean EPE mm, AUC@30mm) on real STB, or None; ``partner`` is the slug of the same
    configuration without the critic, for the paired difference (None: no such row).
    """

    label: str
    slug: str
    overrides: tuple
    paper: tuple = None
    role: str = None
    partner: str = None


def row_flags(da="none", losses=(), intermediate=None, source_only=False, labels="2d_depth", alpha="eq5",
              lambda_wd=None, attach="bottleneck", stack=0):
    """The training flags of one row: the critic (``da``), the first stack's losses and head, the label
    budget, α's mode, where the critic attaches (``--awh_features``, ``--awh_stack``) and (if given) λ_wd.
    Every one is set explicitly, so the base flag file cannot leak into what distinguishes the rows."""
    intermediate = intermediate or ("heatmap" if losses else "none")
    out = (f"--da={da}", f"--intermediate={intermediate}", f"--intermediate_losses={','.join(losses)}",
           f"--{'' if source_only else 'no'}source_only", f"--target_labels={labels}",
           f"--similarity_mode={alpha}", f"--awh_features={attach}", f"--awh_stack={stack}")
    return out + ((f"--lambda_wd={lambda_wd}",) if lambda_wd is not None else ())


ALL_FIRST_STACK = ("R2D", "R3D", "S2D")
_TABLE1_ROWS = ((("R2D",), (15.7, 0.512)), (("R3D",), (16.6, 0.477)), (("S2D",), (14.1, 0.553)),
                (("R2D", "S2D"), (17.1, 0.482)), (("R2D", "R3D"), (15.9, 0.499)),
                (("S2D", "R3D"), (16.2, 0.486)), (("R2D", "S2D", "R3D"), (15.9, 0.504)))

_ADAPTATION = (
    Experiment("source only", "source_only", row_flags("none", source_only=True), role="source_only"),
    Experiment("oracle: 2D+depth+3D", "oracle", row_flags("none", labels="3d"), role="oracle"),
    Experiment("oracle + AWH (Fig. 5c)", "oracle_awh", row_flags("awh", labels="3d"), partner="oracle"),
    Experiment("2D+depth (wo/AWH)", "wo_awh", row_flags("none"), (13.1, 0.576)),
    Experiment("2D+depth + WH (α ≡ 1)", "w_wh", row_flags("wdgrl"), (13.1, 0.578), partner="wo_awh"),
    Experiment("2D+depth + AWH, Eq. 5 α", "w_awh", row_flags("awh"), (12.8, 0.589), partner="wo_awh"),
    Experiment("2D+depth + AWH, centred α", "w_awh_centred", row_flags("awh", alpha="centred"),
               partner="wo_awh"),
    Experiment("2D only", "l2d", row_flags("none", labels="2d")),
    Experiment("2D only + AWH", "l2d_awh", row_flags("awh", labels="2d"), partner="l2d"),
    Experiment("no labels", "unlabelled", row_flags("none", labels="none")),
    Experiment("no labels + AWH", "unlabelled_awh", row_flags("awh", labels="none"), partner="unlabelled"),
)
# λ_wd of the critic rows above is the base's (0.05); these sweep it where the critic has the most to do.
_LAMBDA_SWEEP = tuple(
    Experiment(f"{label} + AWH, λ_wd {lam}", f"{slug}_awh_lwd{lam}",
               row_flags("awh", labels=labels, lambda_wd=lam), partner=slug)
    for slug, label, labels in (("unlabelled", "no labels", "none"), ("wo_awh", "2D+depth", "2d_depth"))
    for lam in (0.01, 0.2, 1.0))

# The verdict at the demo's own schedule (3000 + 2500 steps, the base's; issue "why the critic does not help"):
# the paper's budget (2D + depth) and the unlabelled one, every row on the same seeds, run with
# --deterministic_ops (as every suite) so a paired difference carries the critic's effect, not kernel noise.
# The core rows come first: a suite cut short still has them on the most seeds.
_ROWS = {e.slug: e for e in _ADAPTATION}
_FULL_SCHEDULE = tuple(_ROWS[slug] for slug in ("wo_awh", "w_wh", "w_awh", "unlabelled")) + (
    Experiment("no labels + AWH, λ_wd 1.0", "unlabelled_awh_lwd1.0", row_flags("awh", labels="none", lambda_wd=1.0),
               partner="unlabelled"),
) + tuple(_ROWS[slug] for slug in ("source_only", "oracle", "w_awh_centred")) + (
    Experiment("2D+depth + AWH, λ_wd 1.0", "w_awh_lwd1.0", row_flags("awh", lambda_wd=1.0), partner="wo_awh"),
    # The attach point the per-level probe points to (docs/adaptation.md "Where the domain lives"): the domain is
    # as visible after the skip branches as before them and least at the bottleneck the paper adapts, and each
    # 2.5D head reads its hourglass's output through one residual and a 1x1 conv: the critic on the outputs of
    # both hourglasses (one critic on their concatenation), at the λ_wd that aligned the bottleneck.
    Experiment("2D+depth + AWH at both hourglass outputs, λ_wd 1.0", "w_awh_output_all_lwd1.0",
               row_flags("awh", lambda_wd=1.0, attach="output", stack=-1), partner="wo_awh"),
    Experiment("no labels + AWH at both hourglass outputs, λ_wd 1.0", "unlabelled_awh_output_all_lwd1.0",
               row_flags("awh", labels="none", lambda_wd=1.0, attach="output", stack=-1), partner="unlabelled"),
)

SUITES = {
    "table2": (
        Experiment("wo/AWH+w/FSS", "wo_awh_w_fss", row_flags("none", ALL_FIRST_STACK)),
        Experiment("wo/AWH+wo/FSS", "wo_awh_wo_fss", row_flags("none"), (13.1, 0.576)),
        Experiment("w/WH+wo/FSS", "w_wh_wo_fss", row_flags("wdgrl"), (13.1, 0.578), partner="wo_awh_wo_fss"),
        Experiment("w/AWH+wo/FSS", "w_awh_wo_fss", row_flags("awh"), (12.8, 0.589), partner="wo_awh_wo_fss"),
        Experiment("source only", "source_only", row_flags("none", source_only=True), role="source_only"),
        Experiment("oracle", "oracle", row_flags("none", labels="3d"), role="oracle"),
    ),
    "adaptation": _ADAPTATION + _LAMBDA_SWEEP,
    "full_schedule": _FULL_SCHEDULE,
    "table1": tuple(Experiment("+".join(losses), "_".join(losses).lower(), row_flags("none", losses), paper)
                    for losses, paper in _TABLE1_ROWS)
    + (Experiment("wo/IL", "wo_il", row_flags("none"), (13.1, 0.576)),),
    "fig5a": (
        Experiment("wo/FSS", "wo_fss", row_flags("none")),
        Experiment("w/FSS", "w_fss", row_flags("none", ALL_FIRST_STACK)),
        Experiment("w/FSSC", "w_fssc", row_flags("none", ALL_FIRST_STACK, intermediate="conv")),
    ),
}


# The checked-in flag files that are suite rows: each parses to build_config(DEMO_BASE, its row, seed 0).
DEMO_BASE = "configs/demo.cfg"
FLAG_FILES = {
    "configs/procedural_noda_fss.cfg": ("table2", "wo_awh_w_fss"),
    "configs/procedural_noda.cfg": ("table2", "wo_awh_wo_fss"),
    "configs/procedural_wh.cfg": ("table2", "w_wh_wo_fss"),
    "configs/procedural_awh.cfg": ("table2", "w_awh_wo_fss"),
}


def get_row(suite, slug):
    """The row ``slug`` of ``suite``; ValueError naming the suite's slugs when there is none."""
    if suite not in SUITES:
        raise ValueError(f"suite: expected one of {sorted(SUITES)}, got {suite!r}")
    for e in SUITES[suite]:
        if e.slug == slug:
            return e
    raise ValueError(f"{suite} has no row {slug!r}; its rows: {[e.slug for e in SUITES[suite]]}")


def build_config(base, experiment, seed, name, extra=(), steps=0):
    """The frozen ``Config`` of one run: ``--flagfile=base``, then ``extra``, then the suite's overrides.

    Parsed on fresh flag values (:func:`awh_tf.flags.config_from_args`): no global flag state is read.
    ``steps`` > 0 replaces the schedule: ``steps // 2`` pre-training + the rest joint steps, warm-up at most
    a tenth of the run.
    """
    from awh_tf import flags as awh_flags

    if not os.path.exists(base):
        raise ValueError(f"--base: {base} not found (paths are relative to the working directory)")
    config = awh_flags.config_from_args([f"--flagfile={base}", *extra, *experiment.overrides, f"--seed={seed}",
                                         f"--name={name}"])
    if steps:
        train = dataclasses.replace(config.train, pretrain_steps=steps // 2, train_steps=steps - steps // 2,
                                    warmup_steps=min(config.train.warmup_steps, steps // 10))
        config = dataclasses.replace(config, train=train)
    if config.train.intermediate_losses and config.model.num_stacks < 2:
        raise ValueError(f"{experiment.label}: first-stack supervision needs --num_stacks >= 2, the base "
                         f"config has {config.model.num_stacks}")
    return config
