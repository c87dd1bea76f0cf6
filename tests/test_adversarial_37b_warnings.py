"""A dominated cost matrix warns at the caller's line, on every path of a call.

Before, the metrics' ``CostMatrixWarning`` pointed into wxent (``_metric_counts.py``)
when run eagerly, and at another line of wxent (``metrics.py``) when a repeated JAX call
ran as one compiled program: Python's "once per location" default showed it once per
process, and a filter by module never saw the user's module.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import wxent

COSTS = np.array([[0.0, 1.0, 5.0], [1.0, 0.0, 5.0], [2.0, 1.0, 5.0]])  # column 2 dominated
LABELS = np.array([0, 1, 2, 0])


def _locations(logits, labels, function, calls=3):
    found = []
    for _ in range(calls):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            function(logits, labels, costs=COSTS)
        found += [(w.filename, w.category) for w in caught]
    return found


@pytest.mark.parametrize("function", [wxent.expected_cost, wxent.precision, wxent.confusion_matrix])
def test_numpy_metric_warns_at_caller(function):
    logits = np.zeros((4, 3), np.float32)
    found = _locations(logits, LABELS, function)
    assert found and all(f == (__file__, wxent.CostMatrixWarning) for f in found)


@pytest.mark.parametrize("function", [wxent.expected_cost, wxent.confusion_matrix])
def test_jax_metric_warns_at_caller_eager_and_compiled(function):
    jnp = pytest.importorskip("jax.numpy")
    logits = jnp.zeros((4, 3), jnp.float32)
    found = _locations(logits, jnp.asarray(LABELS), function)
    assert len(found) == 3 and all(f == (__file__, wxent.CostMatrixWarning) for f in found)


def test_loss_warns_at_caller():
    logits = np.zeros((4, 3), np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wxent.expected_cost_loss(logits, LABELS, costs=COSTS)
    assert [w.filename for w in caught] == [__file__]
