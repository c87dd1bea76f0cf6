"""JAX with ``jax_enable_x64``: uint64 labels with an ``ignore_index`` past int64.

JAX reads a Python integer as int64, so comparing uint64 labels with
``ignore_index=2**64 - 1`` (a "missing" marker of uint64 data) was an ``OverflowError``
from inside JAX in every loss and metric, eagerly and under ``jit``. The marker is now a
scalar of the labels' dtype there; the result equals the float64 reference with that
element dropped. ``calibrate`` cast such labels to int64 before comparing them with the
marker (NumPy and every framework): the "missing" row was fitted as the last class.
The JAX checks run in a subprocess: x64 must not leak into the other tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

import wxent

SRC = str(Path(__file__).resolve().parents[1] / "src")

SCRIPT = """
import warnings
warnings.simplefilter("error")
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp, numpy as np, wxent

rng = np.random.default_rng(36)
x = rng.normal(size=(6, 3))
y = x.argmax(axis=1)
y[0] = (y[0] + 1) % 3  # one mistake: a finite temperature
MISSING = 2**64 - 1
Y = jnp.asarray(np.where(np.arange(6) == 5, MISSING, y).astype(np.uint64))
X, X32 = jnp.asarray(x), jnp.asarray(x, jnp.float32)
costs = 1.0 - np.eye(3)
kept = slice(0, 5)

def close(got, want, what, rtol=1e-12):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert np.allclose(got, want, rtol=rtol, atol=rtol), (what, got, want)

kw = dict(class_weight=[1.0, 2.0, 3.0], reduction="weighted_mean", ignore_index=MISSING)
want = wxent.softmax_cross_entropy(x[kept], y[kept], class_weight=[1.0, 2.0, 3.0],
                                   reduction="weighted_mean")
loss = jax.jit(jax.value_and_grad(lambda a: wxent.softmax_cross_entropy(a, Y, **kw)))
for logits, rtol in ((X, 1e-12), (X32, 1e-6)):
    value, grad = loss(logits)
    close(value, want, "loss", rtol)
    assert np.all(np.asarray(grad)[5] == 0) and np.all(np.isfinite(grad))
want = wxent.recall(x[kept], y[kept], average="macro")
close(jax.jit(lambda a: wxent.recall(a, Y, average="macro", ignore_index=MISSING))(X), want,
      "recall")
close(wxent.tune_thresholds(X, Y, ignore_index=MISSING),
      wxent.tune_thresholds(x[kept], y[kept]), "tune")
close(wxent.calibrate(X, Y, ignore_index=MISSING).temperature,
      wxent.calibrate(x[kept], y[kept]).temperature, "calibrate", rtol=1e-9)
print("OK")
"""


def test_uint64_labels_with_a_missing_marker_under_x64() -> None:
    env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join([SRC, env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "OK" in proc.stdout, proc.stdout[-3000:]


def test_calibrate_drops_uint64_labels_marked_missing() -> None:
    """NumPy too: the marker 2**64 - 1 became -1 in int64 and was fitted as the last class."""
    rng = np.random.default_rng(36)
    x = rng.normal(size=(6, 3))
    y = x.argmax(axis=1)
    y[0] = (y[0] + 1) % 3
    labels = np.where(np.arange(6) == 5, 2**64 - 1, y).astype(np.uint64)
    got = wxent.calibrate(x, labels, ignore_index=2**64 - 1).temperature
    assert got == wxent.calibrate(x[:5], y[:5]).temperature
