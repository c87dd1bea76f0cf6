"""NumPy metrics decide float32 probabilities in float64 from a float32 product and a bound.

``_certified.bayes_decision_float64`` must give ``argmin(p.astype(float64) @ costs)``
wherever the float64 risks resolve the best column, and one of the best columns (to
float64 rounding) elsewhere, on every path: rows decided by the float32 risks, close
columns recomputed in float64, whole rows recomputed, NaN rows, costs too large for float32.
"""

from __future__ import annotations

import numpy as np
import pytest

import wxent
from wxent import _namespace as ns
from wxent._certified import bayes_decision_float64
from wxent._core import cost as core_cost


def _softmax(x: np.ndarray, dtype) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(dtype)


def _check(p: np.ndarray, costs: np.ndarray) -> None:
    with np.errstate(invalid="ignore"):
        risks = p.astype(np.float64) @ costs
    got = bayes_decision_float64(p, costs)
    assert got.dtype == np.intp and got.shape == (p.shape[0],)
    nan = np.isnan(risks).any(axis=1)
    np.testing.assert_array_equal(got[nan], 0)  # argmin of a NaN row
    risks, got = risks[~nan], got[~nan]
    best = risks.min(axis=1)
    rounding = 4 * costs.shape[0] * 2.0**-53 * np.abs(risks).max(axis=1) + 1e-300
    second = np.sort(risks, axis=1)[:, 1] if risks.shape[1] > 1 else best + 1
    resolved = second - best > rounding
    np.testing.assert_array_equal(got[resolved], np.argmin(risks, axis=1)[resolved])
    chosen = risks[np.arange(got.size), got]
    assert np.all(chosen <= best + rounding)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("scale", [0.01, 1.0, 8.0, 90.0])
@pytest.mark.parametrize("c", [2, 3, 40, 300])
def test_decisions_equal_the_float64_product(dtype, scale, c, rng):
    x = rng.normal(size=(200, c)) * scale
    x[::7] = np.round(x[::7])  # equal logits: equal probabilities
    p = _softmax(x, dtype)
    _check(p, rng.integers(0, 4, size=(c, c)).astype(np.float64))
    _check(p, rng.random((c, c)) * 1e-30)  # products near float32's underflow
    _check(p, rng.random((c, c)) * 1e30)
    dup = rng.integers(0, 4, size=(c, c)).astype(np.float64)
    dup[:, 1::2] = dup[:, 0 : 2 * (c // 2) : 2]  # equal columns: the smaller index
    _check(p, dup)
    near = np.ones((c, c)) + 1e-12 * rng.random((c, c))  # every column close
    _check(p, near)


def test_float32_ties_are_broken_in_float64():
    """Columns 1 and 2 differ by 3 e**-25 on top of 1: equal in float32, not in float64."""
    costs = np.array([[5.0, 1.0, 1.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]])
    x = np.array([[0.0, -25.0, -26.0]] * 3, dtype=np.float32)
    p = _softmax(x.astype(np.float64), np.float32)
    r32 = p @ costs.astype(np.float32)
    assert r32[0, 1] == r32[0, 2]
    assert bayes_decision_float64(p, costs).tolist() == [2, 2, 2]
    labels = np.array([1, 1, 0])  # float32 decisions (1) would cost 7 / 3
    assert wxent.expected_cost(x, labels, costs) == pytest.approx(1 / 3)


def test_nan_rows_costs_beyond_float32_and_one_class(rng):
    p = _softmax(rng.normal(size=(20, 5)), np.float32)
    p[3] = np.nan
    _check(p, rng.random((5, 5)))
    _check(p, rng.random((5, 5)) * 1e200)  # float32 products would overflow
    _check(p, rng.random((5, 5)) - 0.5)  # negative costs (validate=False): no bound
    costs32 = rng.random((5, 5)).astype(np.float32)
    np.testing.assert_array_equal(
        bayes_decision_float64(p, costs32.astype(np.float64), costs32),
        bayes_decision_float64(p, costs32.astype(np.float64)),
    )
    np.testing.assert_array_equal(bayes_decision_float64(p[:, :1], np.ones((1, 1))), 0)
    assert bayes_decision_float64(p[:0], rng.random((5, 5))).shape == (0,)


@pytest.mark.filterwarnings("ignore::wxent.CostMatrixWarning")  # random integer costs
def test_expected_cost_metric_decides_as_the_float64_product(rng):
    n, c = 500, 50
    x = rng.normal(size=(n, c)).astype(np.float32)
    y = rng.integers(0, c, size=n)
    costs = rng.integers(0, 3, size=(c, c)).astype(np.float64)
    np.fill_diagonal(costs, 0.0)
    p = core_cost.softmax(x, axis=1, xp=ns.namespace(x))  # the metric's probabilities
    assert p.dtype == np.float32
    decision = np.argmin(p.astype(np.float64) @ costs, axis=1)
    expected = costs[y, decision].mean()
    assert wxent.expected_cost(x, y, costs) == pytest.approx(expected, rel=1e-12)
    costs32 = costs.astype(np.float32)  # used as it is for the float32 product
    assert wxent.expected_cost(x, y, costs32) == pytest.approx(expected, rel=1e-12)
    matrix = wxent.confusion_matrix(x, y, costs=costs)
    np.testing.assert_array_equal(
        matrix, np.bincount(y * c + decision, minlength=c * c).reshape(c, c)
    )


def test_close_columns_recomputed_in_chunks(rng, monkeypatch):
    from wxent import _certified

    monkeypatch.setattr(_certified, "_CHUNK_ELEMENTS", 1000)  # 3 pairs per chunk
    p = _softmax(rng.normal(size=(300, 300)), np.float32)
    costs = rng.random((300, 300))
    costs[:, 1::2] = costs[:, ::2] + 1e-9 * rng.random((300, 150))  # twins: 2 close columns
    with monkeypatch.context() as patch:
        calls = []
        patch.setattr(_certified.np, "ascontiguousarray", lambda a: calls.append(1) or a.copy())
        _check(p, costs)
    assert len(calls) > 100  # every row's pair of twins, 3 pairs at a time
