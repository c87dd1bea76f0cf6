"""uint64 labels marked missing (``ignore_index=2**64 - 1``) in ``calibrate``.

``calibrate`` cast integer labels to int64 before comparing them with ``ignore_index``:
the marker ``2**64 - 1`` became ``-1``, was not ignored and was fitted as the last class
(a silently different temperature), on NumPy, PyTorch and JAX with ``jax_enable_x64``
alike. The labels are now compared in their own dtype first. (The JAX losses and metrics
with such a marker: tests/test_adversarial_36_uint64_counts.py.)
"""

from __future__ import annotations

import jax
import numpy as np
import torch

import wxent

RNG = np.random.default_rng(36)
X = RNG.normal(size=(6, 3))
Y = X.argmax(axis=1)
Y[0] = (Y[0] + 1) % 3  # one mistake: a finite temperature
MISSING = 2**64 - 1
LABELS = np.where(np.arange(6) == 5, MISSING, Y).astype(np.uint64)


def test_calibrate_drops_uint64_labels_marked_missing() -> None:
    want = wxent.calibrate(X[:5], Y[:5]).temperature
    got = wxent.calibrate(X, LABELS, ignore_index=MISSING).temperature
    assert got == want
    got = wxent.calibrate(torch.tensor(X), torch.from_numpy(LABELS), ignore_index=MISSING)
    assert got.temperature == want
    with jax.enable_x64(True):
        x, y = jax.numpy.asarray(X), jax.numpy.asarray(LABELS)
        assert wxent.calibrate(x, y, ignore_index=MISSING).temperature == want
        thresholds = wxent.tune_thresholds(x, y, ignore_index=MISSING)
    np.testing.assert_array_equal(thresholds, wxent.tune_thresholds(X[:5], Y[:5]))
