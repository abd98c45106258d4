"""tf.distribute: a mirrored step on two logical CPUs equals a single-device step on the same batch."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_mirrored_step_equals_single_device_step():
    # da=none: the similarity weighting and the critic's interpolation weights are per-replica quantities
    # (batch-mean maps, per-sample draws), so only the pose update can be compared bit for bit.
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tests/training/mirrored_step_check.py"), "none"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "max weight difference" in proc.stdout
