"""``bayes_decision`` where a row has no expected costs, in calls that read no check.

A NaN logit or a row of only ``-inf`` (no probabilities) raises ``ValueError`` eagerly;
traced (``jax.jit``, ``tf.function``) and with ``validate=False`` the framework's argmin
picked a class of its own there (class 0 on these rows), a silently wrong decision.
Such rows now decide ``-1``, no class, as :func:`wxent.predict` decides traced rows
holding NaN; so does every row when a traced cost matrix holds NaN. With ``classes``
(names) and ``validate=False``, such a row is an error, not the last name.
"""

from __future__ import annotations

import numpy as np
import pytest

import wxent

NAN, INF = float("nan"), float("inf")
LOGITS = np.array(
    [[1.0, NAN, 0.0], [0.0, 1.0, 2.0], [-INF, -INF, -INF], [INF, 0.0, 1.0]], np.float32
)
COSTS = 1.0 - np.eye(3)
WANT = [-1, 2, -1, 0]


@pytest.mark.parametrize("framework", ["numpy", "torch", "jax", "tensorflow"])
def test_rows_without_expected_costs_decide_no_class(framework: str) -> None:
    if framework == "numpy":
        got = wxent.bayes_decision(LOGITS, COSTS, validate=False)
    elif framework == "torch":
        import torch

        got = wxent.bayes_decision(torch.tensor(LOGITS), COSTS, validate=False)
    elif framework == "jax":
        import jax

        got = jax.jit(lambda x: wxent.bayes_decision(x, COSTS))(LOGITS)
        nan_costs = COSTS.copy()
        nan_costs[0, 1] = NAN
        every = jax.jit(wxent.bayes_decision)(LOGITS, nan_costs)  # (a check would refuse)
        assert np.asarray(every).tolist() == [-1, -1, -1, -1]
    else:
        import tensorflow as tf

        got = tf.function(lambda x: wxent.bayes_decision(x, COSTS))(tf.constant(LOGITS))
    assert np.asarray(got).tolist() == WANT
    assert wxent.predict(LOGITS[1:], offsets=0.0).tolist() == [2, 0, 0]  # (its rule: eager, no NaN)


def test_names_of_rows_without_expected_costs_are_an_error() -> None:
    with pytest.raises(ValueError, match="`logits`"):
        wxent.bayes_decision(LOGITS, COSTS, validate=False, classes=["a", "b", "c"])
    names = wxent.bayes_decision(LOGITS[1:2], COSTS, validate=False, classes=["a", "b", "c"])
    assert names.tolist() == ["c"]
