"""The export's gate: every artefact judged by the task on the real test split, with a raw-parity sanity bound.

Legend: N test crops, K = 21 keypoints, B bootstrap resamples.

**Task gate** (with test data). Every artefact and the float Keras model run on the same N crops of the run's
real test split (all of it by default). Each is scored with the evaluation protocol (DESIGN.md §4): 2D EPE
in crop px and, when the split has 3D labels, 3D EPE in mm (root depth and scale known), each with
``awh_tf.metrics``' definition (per keypoint over its visible samples, then averaged over keypoints). The
gate's figure is the paired change ``Δ = EPE(artefact) − EPE(Keras)`` with a 95 % percentile bootstrap
interval over test samples: B = 2000 resamples, each scoring *both* models on the same resampled crops, so
the interval says how much Δ depends on which crops were drawn (paired: the per-crop difficulty, which is
most of either error's spread, cancels). An artefact passes when the interval's upper end is at most
``tolerance × EPE(Keras)`` for 2D and 3D (a non-inferiority test), and it is within its parity bound.

Tolerances (fractions of the float model's own error), from the measured noise: **0.2 % for float
artefacts** (SavedModel, ``.keras``, the preset, fp32, fp16, ONNX: round-off only; on the trained demo fp16
moves 3D EPE by +0.04 % [+0.02, +0.05], so 0.2 % is 4× its upper end and still refuses a float file that
drifted), **2 % for quantised files** (dynamic_int8, int8). On the trained demo (``configs/demo.cfg``, 28.01 mm)
int8 moves 2D EPE by +0.54 % [+0.04, +1.09] and 3D by +0.27 % [−0.26, +0.80] (the issue's earlier demo:
+0.49 % / +0.36 %): a first choice of 1 % refused it on the interval's upper end. 2 % is the smallest round
figure above that end with room for another training run, and it is below the float model's own run-to-run
spread (27.19–28.14 mm over seeds of one commit, ±1.7 %): a quantised file passing it is as good as a retrained
float one. The gate tests the interval's upper end, so judging on fewer crops widens it and can refuse a good
file.

**Sanity bound** (always): the mean raw uv / z_rel difference to the Keras model (``awh_tf.export.parity``;
loose: 0.5 px float, 2 px quantised), which catches a broken conversion on any crops.

**Fallback** (no test data, e.g. exporting on a device machine, or ``gate_source="random"``): the sanity bound
on random crops only (:func:`gate` without labels); the export says so in one line and ``metadata.json``
records ``mode: parity``.
"""

import dataclasses

import numpy as np

from awh_tf import geometry, metrics
from awh_tf.export import parity
from awh_tf.export.errors import ExportError

FLOAT_TOLERANCE = 0.002
QUANTISED_TOLERANCE = 0.02
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95


def tolerance(kind):
    """The largest accepted relative EPE increase (upper end of the 95 % interval) for an artefact kind."""
    return QUANTISED_TOLERANCE if kind in parity.QUANTISED_KINDS else FLOAT_TOLERANCE


@dataclasses.dataclass(frozen=True)
class TaskDelta:
    """One metric of one artefact against the Keras model on the same crops.

    ``reference`` and ``value`` are the protocol's mean EPE (px for ``epe2d_px``, mm for ``epe3d_mm``) of the
    Keras model and of the artefact; ``delta = value − reference``; ``ci95`` its paired bootstrap interval.
    """

    metric: str
    reference: float
    value: float
    delta: float
    ci95: tuple
    tolerance: float

    @property
    def relative(self):
        return self.delta / self.reference

    @property
    def ci95_relative(self):
        return tuple(c / self.reference for c in self.ci95)

    @property
    def passed(self):
        return self.ci95_relative[1] <= self.tolerance

    def to_dict(self):
        return dict(dataclasses.asdict(self), ci95=list(self.ci95), relative=self.relative,
                    ci95_relative=list(self.ci95_relative), passed=self.passed)


@dataclasses.dataclass(frozen=True)
class GateResult:
    """An artefact's verdict: its parity (sanity) row and, with test data, its task figures."""

    name: str
    parity: parity.Parity
    task: tuple = ()

    @property
    def passed(self):
        return self.parity.passed and all(t.passed for t in self.task)

    def to_dict(self):
        return {"passed": self.passed, "parity": self.parity.to_dict(),
                "task": {t.metric: t.to_dict() for t in self.task}}


def distances(predicted, labels):
    """Per-crop, per-keypoint protocol errors of ``predicted`` (``{"uv", "z_rel"}``) against ``labels``
    (``crops.test_split``): ``{"epe2d_px": [N, K] crop px, "epe3d_mm": [N, K] mm root-relative}``; the 3D
    entry only when every crop has 3D labels (DESIGN.md §4: the GT root depth and scale)."""
    uv = np.asarray(predicted["uv"], np.float64)
    out = {"epe2d_px": metrics.distances_2d(uv, np.asarray(labels["uv"], np.float64))}
    if np.asarray(labels["has_3d"], bool).all():
        xyz = geometry.xyz_from_25d(uv, predicted["z_rel"], labels["crop_K"], labels["scale"],
                                    labels["root_depth"])
        out["epe3d_mm"] = metrics.distances_3d(np.asarray(xyz, np.float64),
                                               np.asarray(labels["xyz"], np.float64))
    return out


def protocol_mean(dist, visible, weights=None):
    """The protocol's mean EPE (per keypoint over its visible crops, then over keypoints with data) of
    ``dist`` [N, K], with each crop counted ``weights`` times: ``weights`` [B, N] gives [B] (one bootstrap
    resample per row), None gives a float (= ``metrics.evaluate_2d/3d``'s ``epe_mean``)."""
    visible = np.asarray(visible, bool)
    single = weights is None
    weights = np.ones((1, len(dist))) if single else np.asarray(weights, np.float64)
    masked = np.where(visible, dist, 0.0)
    count = weights @ visible.astype(np.float64)  # [B, K]
    with np.errstate(invalid="ignore", divide="ignore"):
        per_keypoint = (weights @ masked) / count
    means = np.nanmean(np.where(count > 0, per_keypoint, np.nan), axis=1)
    return float(means[0]) if single else means


def bootstrap_weights(n, resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED):
    """``[resamples, n]`` counts: how often each crop appears in each resample (drawn with replacement)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)


def paired_delta(metric, reference, candidate, visible, weights, tol):
    """:class:`TaskDelta` of ``candidate`` vs ``reference`` ([N, K] distances of one metric) on resamples
    ``weights`` [B, N] (the same for every artefact, so every row of a table is paired alike)."""
    ref, value = protocol_mean(reference, visible), protocol_mean(candidate, visible)
    deltas = protocol_mean(candidate, visible, weights) - protocol_mean(reference, visible, weights)
    tail = 100.0 * (1.0 - CONFIDENCE) / 2.0
    low, high = np.percentile(deltas, [tail, 100.0 - tail])
    return TaskDelta(metric=metric, reference=ref, value=value, delta=value - ref,
                     ci95=(float(low), float(high)), tolerance=tol)


def judge(name, kind, predicted, reference, labels=None, weights=None):
    """One artefact's :class:`GateResult`.

    Args:
      name: its file name.  kind: its kind (``parity.sanity_bounds``, :func:`tolerance`).
      predicted, reference: ``{"uv" [N, K, 2], "z_rel" [N, K]}`` of the artefact and the Keras model.
      labels: the test split's labels (``crops.test_split``), or None for parity only.
      weights: bootstrap counts [B, N] (default :func:`bootstrap_weights`).
    """
    row = parity.compare(name, predicted, reference, kind=kind)
    if labels is None:
        return GateResult(name, row)
    weights = bootstrap_weights(len(labels["uv"])) if weights is None else weights
    ref, cand = distances(reference, labels), distances(predicted, labels)
    task = tuple(paired_delta(m, ref[m], cand[m], labels["visible"], weights, tolerance(kind)) for m in ref)
    return GateResult(name, row, task)


def gate(artefacts, reference, labels=None):
    """Judges every artefact on the same crops and bootstrap resamples.

    Args:
      artefacts: ``[(name, kind, predicted)]``.  reference: the Keras model's outputs on the crops.
      labels: the test split's labels, or None for the parity fallback.
    Returns:
      the :class:`GateResult` rows, in order.
    """
    weights = None if labels is None else bootstrap_weights(len(labels["uv"]))
    return [judge(name, kind, predicted, reference, labels, weights) for name, kind, predicted in artefacts]


def _percent(x):
    return f"{100.0 * x:+.2f}%"


def format_table(results):
    """The gate as text: the Keras model's EPE, then one line per artefact — raw parity (mean / max uv px,
    mean z_rel) and each task figure (its EPE, the change and its 95 % interval, relative to the Keras model)."""
    if not results:
        return "(no artefacts)"
    task = results[0].task
    lines = []
    if task:
        lines.append("float Keras model: " + ", ".join(f"{t.metric} {t.reference:.3f}" for t in task))
    head = f"{'artefact':<26} {'n':>5} {'uv mean':>8} {'uv max':>7} {'z mean':>7}"
    head += "".join(f"  {t.metric:>9} {'Δ  [95% CI]':>26}" for t in task)
    lines.append(head + f"  {'bound':>7}  ok")
    for r in results:
        p = r.parity
        line = f"{r.name:<26} {p.n:>5} {p.uv_mean_px:>8.4f} {p.uv_max_px:>7.2f} {p.z_mean:>7.4f}"
        for t in r.task:
            low, high = t.ci95_relative
            interval = f"{_percent(t.relative)} [{_percent(low)}, {_percent(high)}]"
            line += f"  {t.value:>9.3f} {interval:>26}"
        bound = f"{100 * r.task[0].tolerance:.1f}%" if r.task else f"{p.uv_tolerance_px:.1f}px"
        lines.append(line + f"  {bound:>7}  {'yes' if r.passed else 'NO'}")
    return "\n".join(lines)


def check(results):
    """Raises ExportError naming every artefact that failed, and why (one line)."""
    reasons = []
    for r in results:
        p = r.parity
        if not p.passed:
            reasons.append(f"{r.name}: raw uv mean {p.uv_mean_px:.3f} px (sanity bound {p.uv_tolerance_px}), "
                           f"z_rel mean {p.z_mean:.4f} (bound {p.z_tolerance}) — a broken conversion?")
        for t in r.task:
            if not t.passed:
                reasons.append(f"{r.name}: {t.metric} {_percent(t.relative)} vs the Keras model (95% CI up to "
                               f"{_percent(t.ci95_relative[1])}, tolerance {_percent(t.tolerance)})")
    if reasons:
        raise ExportError(f"export gate failed: {'; '.join(reasons)}")
