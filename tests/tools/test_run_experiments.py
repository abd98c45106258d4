"""The ablation suite runner (awh_tf.experiments, tools/run_experiments.py): configs from a base flag file,
resumability, the report's numbers."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from awh_tf import experiments as rx

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _base(tmp_path, text="--da=awh\n--input_size=32\n--channels=8\n--num_stacks=2\n--hourglass_depth=1\n"):
    path = tmp_path / "base.cfg"
    path.write_text(text)
    return str(path)


def _exp(suite, slug):
    return next(e for e in rx.SUITES[suite] if e.slug == slug)


def _fields(config):
    """Every config field but the run's name, flattened: ``{"train.da": "awh", ...}``."""
    import dataclasses

    return {f"{part}.{k}": v for part in ("data", "pipeline", "model", "train")
            for k, v in dataclasses.asdict(getattr(config, part)).items()}


def test_suite_labels_say_what_their_configs_do(tmp_path):
    """Each row's label is read as the paper names it and checked against the config its flags build."""
    base = _base(tmp_path)
    da_of = {"w/AWH": "awh", "w/WH": "wdgrl", "wo/AWH": "none"}
    for e in rx.SUITES["table2"]:
        c = rx.build_config(base, e, 0, e.slug)
        if e.role == "source_only":
            assert c.train.source_only and c.train.da == "none"
        elif e.role == "oracle":
            assert c.train.target_labels == "3d" and c.train.da == "none"
        else:
            critic, fss = e.label.split("+")
            assert c.train.da == da_of[critic], e.label
            assert c.train.intermediate_losses == (rx.ALL_FIRST_STACK if fss == "w/FSS" else ()), e.label
            assert c.train.target_labels == "2d_depth" and not c.train.source_only
    for e in rx.SUITES["table1"]:  # "R2D+S2D" supervises the first stack with exactly those; wo/IL with none
        c = rx.build_config(base, e, 0, e.slug)
        named = () if e.label == "wo/IL" else tuple(e.label.split("+"))
        assert sorted(c.train.intermediate_losses) == sorted(named) and c.train.da == "none", e.label
    assert len({e.slug for e in rx.SUITES["table1"]}) == len(rx.SUITES["table1"]) == 8


def test_paired_rows_differ_from_their_partner_only_in_the_critic(tmp_path):
    """A paired difference means "the same run plus a critic": every row with a partner must build the
    partner's config but for the critic's own fields (da, λ_wd, α mode)."""
    base = _base(tmp_path)
    critic_fields = {"train.da", "train.lambda_wd", "model.similarity_mode", "model.awh_features",
                     "model.awh_stack", "train.critic_warmup_steps", "train.lambda_wd_rampup_steps"}
    pairs = 0
    for name, suite in rx.SUITES.items():
        by_slug = {e.slug: e for e in suite}
        for e in suite:
            if e.partner is None:
                continue
            a = _fields(rx.build_config(base, e, 0, "x"))
            b = _fields(rx.build_config(base, by_slug[e.partner], 0, "x"))
            differ = {k for k in a if a[k] != b[k]}
            assert differ and differ <= critic_fields, (name, e.slug, differ)
            assert a["train.da"] != "none" and b["train.da"] == "none", (name, e.slug)
            pairs += 1
    assert pairs >= 10


def test_build_config_applies_base_extras_suite_and_steps(tmp_path):
    base = _base(tmp_path)
    # The suite's own flags win over extras given after "--" (here --da and --target_labels).
    config = rx.build_config(base, _exp("table2", "wo_awh_w_fss"), seed=3, name="x",
                             extra=["--da=awh", "--target_labels=3d", "--batch_size=8"], steps=5)
    assert config.name == "x"
    assert config.model.input_size == config.pipeline.input_size == 32 and config.model.channels == 8
    assert config.train.da == "none" and config.train.target_labels == "2d_depth"
    assert config.train.intermediate_losses == ("R2D", "R3D", "S2D")
    assert config.model.intermediate == "heatmap"
    assert config.train.batch_size == 8
    assert config.train.seed == config.pipeline.seed == 3
    assert (config.train.pretrain_steps, config.train.train_steps, config.train.warmup_steps) == (2, 3, 0)
    oracle = rx.build_config(base, _exp("table2", "oracle"), 0, "o")
    assert oracle.train.target_labels == "3d" and oracle.train.da == "none"
    assert oracle.train.total_steps == 2000  # the dataclass defaults: no --steps
    wh = rx.build_config(base, _exp("table2", "w_wh_wo_fss"), 0, "w")
    assert wh.train.da == "wdgrl" and wh.train.intermediate_losses == () and not wh.train.source_only
    centred = rx.build_config(base, _exp("adaptation", "w_awh_centred"), 0, "c")
    assert centred.model.similarity_mode == "centred" and centred.train.da == "awh"
    unlabelled = rx.build_config(base, _exp("adaptation", "unlabelled_awh_lwd0.2"), 0, "u")
    assert unlabelled.train.target_labels == "none" and unlabelled.train.lambda_wd == 0.2
    fssc = rx.build_config(base, _exp("fig5a", "w_fssc"), 0, "c")
    assert fssc.model.intermediate == "conv"


def test_build_config_refuses_first_stack_losses_on_one_stack(tmp_path):
    base = _base(tmp_path, "--num_stacks=1\n--input_size=32\n")
    with pytest.raises(ValueError, match="num_stacks >= 2"):
        rx.build_config(base, _exp("table1", "r2d"), 0, "x")
    with pytest.raises(ValueError, match="not found"):
        rx.build_config(str(tmp_path / "missing.cfg"), _exp("table1", "r2d"), 0, "x")


EPE = {"wo_awh_w_fss": (30.0, 32.0), "wo_awh_wo_fss": (28.0, 30.0), "w_wh_wo_fss": (27.0, 29.0),
       "w_awh_wo_fss": (25.0, 26.0), "source_only": (40.0, 42.0), "oracle": (20.0, 22.0)}


class FakeTrainer:
    """Writes an eval.json with a set EPE per (slug, seed) instead of training; counts its calls."""

    def __init__(self, fail=()):
        self.calls, self.fail = [], set(fail)

    def __call__(self, config, workdir, log, progress):
        slug, seed = config.name.rsplit("_seed", 1)
        self.calls.append((slug, int(seed)))
        if slug in self.fail:
            raise RuntimeError(f"{slug} broke")
        config.save(os.path.join(workdir, "config.json"))
        epe = EPE[slug][int(seed)]
        t = np.linspace(0, 50, 20)
        result = {"epe_mean_mm": epe, "auc_0_30": 1 - epe / 100, "auc_20_50": 0.5, "auc_0_50": 0.4,
                  "epe2d_mean_px": epe / 10, "root_free": {"epe_mean_mm": epe + 1},
                  "pck_thresholds_mm": t.tolist(), "pck_curve": np.clip(t / epe / 2, 0, 1).tolist()}
        with open(os.path.join(workdir, "eval.json"), "w") as f:
            json.dump(result, f)
        log("trained")
        return result


def test_run_suite_reports_mean_spread_and_gap_closed_and_resumes(tmp_path):
    base, out = _base(tmp_path), str(tmp_path / "exp")
    fake, lines = FakeTrainer(), []
    failures = rx.run_suite("table2", base, [0, 1], out, steps=4, train_fn=fake, command="cmd",
                            log=lines.append)
    assert failures == [] and len(fake.calls) == 12
    # One line per run, seed-major (every configuration's seed 0 first), + the report line.
    assert len(lines) == 13 and "EPE  25.00 mm" in lines[3] and "seed 1" in lines[6]
    md = open(os.path.join(out, "table2", "results.md")).read()
    row = next(line for line in md.splitlines() if line.startswith("| w/AWH+wo/FSS"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # EPE 25, 26: mean 25.5, sample std 0.71; AUC 0.75, 0.74; 2D 2.5, 2.6; root-free 26, 27.
    assert cells[1:6] == ["2", "25.50 ± 0.71", "0.745 ± 0.007", "0.500 ± 0.000", "2.55 ± 0.07"]
    assert cells[6] == "26.50 ± 0.71"
    # Gap closed per seed: (40-25)/(40-20) = 0.75 and (42-26)/(42-22) = 0.8 -> 0.775 ± 0.035.
    assert cells[7] == "0.78 ± 0.04" and cells[8] == "12.8 / 0.589"
    src = next(line for line in md.splitlines() if line.startswith("| source only"))
    assert "| 0.00 ± 0.00 |" in src
    assert os.path.getsize(os.path.join(out, "table2", "pck.png")) > 0
    summary = json.load(open(os.path.join(out, "table2", "results.json")))
    gap = next(r for r in summary["rows"] if r["slug"] == "w_awh_wo_fss")["gap_closed"]
    np.testing.assert_allclose(gap, [0.775, np.std([0.75, 0.8], ddof=1)])
    # Paired to the same seeds without the critic: 25 - 28 = -3, 26 - 30 = -4 -> mean -3.5, sd 0.707,
    # 95 % t half-width t(0.975, 1) = 12.706 x 0.707 / sqrt(2) = 6.35.
    paired = next(line for line in md.splitlines() if line.startswith("| w/AWH+wo/FSS | -3.50"))
    assert "-3.50 [-9.85, +2.85] (n=2) vs wo_awh_wo_fss" in paired

    # Rerunning trains nothing; a different schedule in the same folder is refused, not mixed.
    lines.clear()
    assert rx.run_suite("table2", base, [0, 1], out, steps=4, train_fn=fake, command="cmd",
                        log=lines.append) == []
    assert len(fake.calls) == 12 and all("done earlier" in line for line in lines[:-1])
    failures = rx.run_suite("table2", base, [0], out, steps=6, train_fn=fake, only=("oracle",),
                            log=lines.append)
    assert len(failures) == 1 and "other settings" in failures[0]


def test_archive_keeps_finished_runs_and_a_new_machine_restores_them(tmp_path):
    """--archive_dir: after every run the report and the finished runs (no checkpoints) are copied there; a
    suite on a fresh out_dir restores them, trains only what is missing and reports the archived rows too."""
    base, archive = _base(tmp_path), str(tmp_path / "docs" / "table2")
    fake = FakeTrainer()
    rx.run_suite("table2", base, [0], str(tmp_path / "first"), steps=4, train_fn=fake, command="cmd",
                 log=lambda _: None, only=("source_only", "oracle"), archive_dir=archive)
    ckpt = tmp_path / "first" / "table2" / "oracle" / "seed0" / "checkpoints"
    ckpt.mkdir()
    (ckpt / "ckpt-4.index").write_text("x")
    rx.archive_runs(str(tmp_path / "first" / "table2"), archive)
    assert sorted(os.listdir(os.path.join(archive, "runs"))) == ["oracle", "source_only"]
    assert not os.path.exists(os.path.join(archive, "runs", "oracle", "seed0", "checkpoints"))
    assert os.path.exists(os.path.join(archive, "results.md"))

    fake = FakeTrainer()  # a new machine: nothing under the new out_dir
    lines = []
    rx.run_suite("table2", base, [0], str(tmp_path / "second"), steps=4, train_fn=fake, command="cmd",
                 log=lines.append, only=("w_awh_wo_fss", "source_only", "oracle"), archive_dir=archive)
    assert fake.calls == [("w_awh_wo_fss", 0)] and "restored 2 finished run(s)" in lines[0]
    md = open(os.path.join(archive, "results.md")).read()
    assert all(f"| {label} |" in md for label in ("source only", "oracle", "w/AWH+wo/FSS"))
    assert sorted(os.listdir(os.path.join(archive, "runs"))) == ["oracle", "source_only", "w_awh_wo_fss"]


def test_run_suite_continues_after_a_failed_run(tmp_path):
    fake, lines = FakeTrainer(fail={"w_wh_wo_fss"}), []
    failures = rx.run_suite("table2", _base(tmp_path), [0], str(tmp_path / "e"), steps=2, train_fn=fake,
                            only=("w_wh_wo_fss", "w_awh_wo_fss"), log=lines.append)
    assert failures == ["w_wh_wo_fss seed 0: w_wh_wo_fss broke"]
    assert "FAILED: w_wh_wo_fss broke" in lines[0] and "EPE" in lines[1]
    log = open(tmp_path / "e" / "table2" / "w_wh_wo_fss" / "seed0" / "run.log").read()
    assert "Traceback" in log
    md = open(tmp_path / "e" / "table2" / "results.md").read()
    assert "| w/WH+wo/FSS | 0 | — |" in md


def test_run_suite_rejects_unknown_names(tmp_path):
    with pytest.raises(ValueError, match="--suite"):
        rx.run_suite("table9", _base(tmp_path), [0], str(tmp_path))
    with pytest.raises(ValueError, match="--only"):
        rx.run_suite("table1", _base(tmp_path), [0], str(tmp_path), only=("nope",))


@pytest.mark.slow
def test_tiny_suite_end_to_end_and_resume(tmp_path):
    """The real command on a tiny network: 3 configurations x 2 seeds x 2 steps, then a resumed rerun."""
    from tests.evaluation.conftest import tiny_config

    cfg = tiny_config(tmp_path / "data")
    lines = [f"--data_dir={cfg.data.data_dir}", "--gen_rhd_train=16", "--gen_rhd_eval=8",
             "--gen_stb_frames=4",
             "--input_size=32", "--min_crop_size=16", "--channels=8", "--hourglass_depth=1",
             "--depth_reg_size=8", "--depth_reg_units=16", "--depth_reg_filters=8", "--critic_filters=8",
             "--critic_units=8", "--batch_size=4", "--n_critic=1"]
    base = _base(tmp_path, "\n".join(lines) + "\n")
    cmd = [sys.executable, "tools/run_experiments.py", "--suite", "table2", "--steps", "2", "--seeds", "0,1",
           "--only", "source_only,oracle,w_awh_wo_fss", "--base", base, "--out_dir", str(tmp_path / "exp"),
           "--discrepancy_samples=8", "--discrepancy_critic_steps=5"]
    first = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-2000:]
    progress = [line for line in first.stdout.splitlines() if line.startswith("[")]
    assert len(progress) == 6 and all("EPE" in line and line.endswith(" s") for line in progress)
    md = open(tmp_path / "exp" / "table2" / "results.md").read()
    assert "| w/AWH+wo/FSS | 2 |" in md and "domain gap closed" in md
    disc = json.load(open(tmp_path / "exp" / "table2" / "oracle" / "seed1" / "discrepancy.json"))
    assert 0 < disc["num_per_domain"] <= 8 and disc["fresh_critic_steps"] == 5
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.count("done earlier") == 6


def test_run_suite_ranks_the_rows_at_an_earlier_checkpoint(tmp_path):
    base, out = _base(tmp_path), str(tmp_path / "exp")
    # Earlier in training every row is 5 mm worse, except the method, which is then the worst.
    early = dict({slug: tuple(e + 5 for e in v) for slug, v in EPE.items()}, w_awh_wo_fss=(50.0, 52.0))
    evaluated = []

    def evaluate(workdir, checkpoint):
        slug, seed = os.path.basename(os.path.dirname(workdir)), int(workdir[-1])
        evaluated.append((slug, seed, os.path.basename(checkpoint)))
        with open(os.path.join(workdir, "eval_ckpt-3.json"), "w") as f:
            json.dump({"epe_mean_mm": early[slug][seed]}, f)

    def train(config, workdir, log, progress):
        result = FakeTrainer()(config, workdir, log, progress)
        os.makedirs(os.path.join(workdir, "checkpoints"), exist_ok=True)
        open(os.path.join(workdir, "checkpoints", "ckpt-3.index"), "w").close()
        return result

    failures = rx.run_suite("table2", base, [0, 1], out, steps=4, train_fn=train, command="cmd",
                            log=lambda _: None, rank_steps=(3,), evaluate_fn=evaluate)
    assert failures == [] and len(evaluated) == 12 and {c for *_, c in evaluated} == {"ckpt-3"}
    md = open(os.path.join(out, "table2", "results.md")).read()
    row = next(line for line in md.splitlines() if line.startswith("| w/AWH+wo/FSS | 51.00"))
    # Mean EPE 51 at step 3 (rank 6 of 6), 25.5 at the end (rank 2, behind the oracle's 21).
    assert "51.00 ± 1.41 (6) | 25.50 ± 0.71 (2) |" in row
    # Final ranks: oracle 1, w/AWH 2, w/WH 3, wo/AWH wo/FSS 4, w/FSS 5, source only 6; at step 3 the
    # method drops from 2 to 6 and the others move up by one: d² = 16 + 1 + 1 + 1 + 1 = 20, 1 − 6·20/210.
    assert f"step 3 vs end of training: {1 - 6 * 20 / 210:.2f} (6 configurations)" in md
    # Already evaluated checkpoints are not evaluated again.
    rx.run_suite("table2", base, [0, 1], out, steps=4, train_fn=train, log=lambda _: None, rank_steps=(3,),
                 evaluate_fn=evaluate)
    assert len(evaluated) == 12


def test_an_interrupted_run_stops_the_suite_instead_of_counting_as_failed(tmp_path):
    """SIGTERM / Ctrl-C reach a suite as the run's Interrupted (it saved a checkpoint): the suite stops there,
    and rerunning it resumes; it must not go on to the next row as after a failed run."""
    from awh_tf.errors import Interrupted

    class Preempted(FakeTrainer):
        def __call__(self, config, workdir, log, progress):
            if config.name.startswith("w_wh_wo_fss"):
                self.calls.append(config.name)
                raise Interrupted("interrupted at step 1; checkpoint saved: x; rerun the same command to resume", 15)
            return super().__call__(config, workdir, log, progress)

    fake, lines = Preempted(), []
    with pytest.raises(Interrupted):
        rx.run_suite("table2", _base(tmp_path), [0], str(tmp_path / "e"), steps=2, train_fn=fake,
                     only=("w_wh_wo_fss", "w_awh_wo_fss"), log=lines.append)
    assert fake.calls == ["w_wh_wo_fss_seed0"]  # the next row never started
    assert "interrupted; rerun the same command" in lines[-1]
