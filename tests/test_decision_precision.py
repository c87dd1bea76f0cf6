"""The documented precision of ``bayes_decision``: computed risks, ties to the smallest index.

Decisions are the argmin of the expected costs computed in the logits' dtype. Where the
exact expected costs differ by more than that dtype resolves, the decision is the exact
one (checked against a float64 log-space reference at large logit gaps); where two
columns differ only through probabilities that underflow (or below the rounding of the
sums), they tie and the smaller index wins, on every backend and in the metrics.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wxent
from conftest import Backend

# Column 0 is expensive; columns 1 and 2 differ only on the unlikely classes 1 and 2.
UNDERFLOW = np.array([[5.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]])
ROUNDING = np.array([[5.0, 1.0, 1.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]])


def _log_risks(x: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """``log sum_j softmax(x)_j costs[j, k]`` in float64, in log space (no underflow)."""
    x = x.astype(np.float64)
    lse = np.logaddexp.reduce(x, axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        terms = (x - lse)[..., :, None] + np.log(costs)[None, :, :]  # (N, C, C)
    return np.logaddexp.reduce(terms, axis=-2)


def _rows(gap: float, dtype) -> np.ndarray:
    return np.array([[0.0, -gap, -gap - 1.0]], dtype)


def _decide(backend: Backend, x: np.ndarray, costs: np.ndarray) -> np.ndarray:
    return backend.call(lambda a: wxent.bayes_decision(a, costs), x)


@pytest.mark.parametrize(
    ("gap", "expected"), [(10.0, 2), (60.0, 2), (80.0, 2), (110.0, 1), (300.0, 1)]
)
def test_underflow_ties_go_to_the_smaller_index(backend: Backend, gap, expected):
    x = _rows(gap, np.float32)
    assert int(np.argmin(_log_risks(x, UNDERFLOW))) == 2  # the exact decision
    assert _decide(backend, x, UNDERFLOW).tolist() == [expected]


@pytest.mark.parametrize(("gap", "expected"), [(110.0, 2), (700.0, 2), (760.0, 1)])
def test_float64_logits_move_the_limit(gap, expected):
    x = _rows(gap, np.float64)
    assert int(np.argmin(_log_risks(x, UNDERFLOW))) == 2
    assert wxent.bayes_decision(x, UNDERFLOW).tolist() == [expected]
    assert wxent.bayes_decision(torch.from_numpy(x), UNDERFLOW).tolist() == [expected]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_16_bit_logits_decide_in_float32(dtype):
    """A probability of e**-60 is 0 in 16 bits but not in float32, where they are decided."""
    x = torch.from_numpy(_rows(60.0, np.float32)).to(dtype)
    assert wxent.bayes_decision(x, UNDERFLOW).tolist() == [2]


@pytest.mark.parametrize(("gap", "expected"), [(5.0, 2), (12.0, 2), (25.0, 1), (200.0, 1)])
def test_rounding_ties_go_to_the_smaller_index(backend: Backend, gap, expected):
    """Costs 1 on the likely class in both columns: differences below 2**-24 of 1 tie."""
    x = _rows(gap, np.float32)
    assert int(np.argmin(_log_risks(x, ROUNDING))) == 2
    assert _decide(backend, x, ROUNDING).tolist() == [expected]


def test_metrics_decide_as_bayes_decision(eager_backend: Backend):
    """The metrics' and the accumulator's decisions tie the same way."""
    b = eager_backend
    x = np.concatenate([_rows(g, np.float32) for g in (10.0, 60.0, 110.0, 300.0)])
    labels = np.array([2, 2, 2, 2])
    matrix = b.numpy(wxent.confusion_matrix(b.asarray(x), b.asarray(labels), costs=UNDERFLOW))
    np.testing.assert_array_equal(matrix[2], [0, 2, 2])  # two ties to class 1
    acc = wxent.MetricAccumulator(costs=UNDERFLOW).update(b.asarray(x), b.asarray(labels))
    result = acc.compute()
    counts = result["confusion_matrix"]
    np.testing.assert_array_equal(counts if b.name == "numpy" else b.numpy(counts), matrix)
    cost = result["expected_cost"]
    assert float(cost if b.name == "numpy" else b.numpy(cost)) == pytest.approx(1.5)


@pytest.mark.filterwarnings("ignore::wxent.CostMatrixWarning")  # sparse random costs
def test_distinguishable_risks_give_the_exact_decision(backend: Backend):
    """Large logit gaps, sparse costs: wherever the exact risks are resolvable, no error.

    Resolvable: the best two exact risks differ by more than ``1e-4`` of the second plus
    what the float32 probabilities below ``2**-126`` (flushed to zero on some kernels)
    could carry.
    """
    rng = np.random.default_rng(7)
    n, c = 4000, 6
    gaps = rng.choice([0.0, 3.0, 20.0, 60.0, 85.0, 95.0, 110.0, 200.0], size=(n, c))
    x = (rng.normal(size=(n, c)) - gaps).astype(np.float32)
    costs = rng.integers(0, 4, size=(c, c)).astype(np.float64) * (rng.random((c, c)) < 0.6)
    np.fill_diagonal(costs, 0.0)
    ours = _decide(backend, x, costs)
    log_r = _log_risks(x, costs)
    r = np.exp(log_r)
    order = np.sort(r, axis=-1)
    slack = 1e-4 * order[:, 1] + c * costs.max() * 2.0**-126
    resolvable = order[:, 1] - order[:, 0] > slack
    assert resolvable.sum() > n // 2 and (~resolvable).sum() > 50  # both kinds occur
    np.testing.assert_array_equal(ours[resolvable], np.argmin(log_r, axis=-1)[resolvable])
    # Elsewhere the decision is one of the (near-)best columns, never a dearer one.
    chosen = np.take_along_axis(r, ours[:, None].astype(np.int64), axis=-1)[:, 0]
    assert np.all(chosen <= order[:, 0] + slack)
