"""Eager TensorFlow metrics: a repeated call as one graph call, checked as eagerly.

A metric call that repeats (its shapes, dtypes and options seen before) runs as one
traced graph of the eager code path (:mod:`wxent._tf_metric_graphs`), and a
``wxent.keras`` metric adds a batch's counts to its variables in one graph call
(:func:`wxent._keras_metrics.in_graph`). Pinned here without timings: the number of
eager operations a repeated call dispatches, the eager values bit for bit, and the
eager errors and warnings, also for a ``tf.Variable`` changed in place.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python import pywrap_tfe

import wxent

RNG = np.random.default_rng(11)
X = tf.constant(RNG.normal(size=(32, 5)).astype(np.float32))
TIES = tf.constant(np.round(RNG.normal(size=(32, 5))).astype(np.float32))
Y = tf.constant(RNG.integers(0, 5, 32))
Z = tf.constant((RNG.uniform(size=(32, 5)) < 0.4).astype(np.float32))
W = tf.constant(RNG.uniform(size=32).astype(np.float32) * 10)
C = RNG.uniform(size=(5, 5)) * (1 - np.eye(5))

CALLS: dict[str, Callable[[Any], Any]] = {
    "confusion_matrix": lambda x: wxent.confusion_matrix(x, Y),
    "confusion_matrix, costs, weights": lambda x: wxent.confusion_matrix(
        x, Y, costs=C, sample_weight=W
    ),
    "precision, macro, weights": lambda x: wxent.precision(x, Y, average="macro", sample_weight=W),
    "recall, sigmoid, thresholds": lambda x: wxent.recall(x, Z, threshold=np.linspace(-1, 1, 5)),
    "fbeta_score, sigmoid, per label": lambda x: wxent.fbeta_score(
        x, Z, beta=2.0, average=None, sample_weight=W
    ),
    "expected_cost": lambda x: wxent.expected_cost(x, Y, C),
    "expected_cost, tensor costs, weights": lambda x: wxent.expected_cost(
        x, Y, tf.constant(C, tf.float32), sample_weight=W
    ),
    "expected_cost, sigmoid": lambda x: wxent.expected_cost(x, Z, [[0.0, 1.0], [4.0, 0.0]]),
}


@pytest.fixture
def eager_ops(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[], Any]], int]]:
    """The eager operations of a call repeated twice before (a graph's call is one)."""
    fast, execute = pywrap_tfe.TFE_Py_FastPathExecute, pywrap_tfe.TFE_Py_Execute

    def count(call: Callable[[], Any]) -> int:
        call()
        call()
        names: collections.Counter[str] = collections.Counter()

        def counted_fast(ctx: Any, name: Any, *a: Any, **k: Any) -> Any:
            names[str(name)] += 1
            return fast(ctx, name, *a, **k)

        def counted_execute(ctx: Any, device: Any, name: Any, *a: Any, **k: Any) -> Any:
            names[str(name)] += 1
            return execute(ctx, device, name, *a, **k)

        with monkeypatch.context() as m:
            m.setattr(pywrap_tfe, "TFE_Py_FastPathExecute", counted_fast)
            m.setattr(pywrap_tfe, "TFE_Py_Execute", counted_execute)
            call()
        return sum(names.values())

    yield count


@pytest.mark.parametrize("name", list(CALLS))
def test_a_repeated_metric_call_is_one_graph_call(eager_ops, name):
    assert eager_ops(lambda: CALLS[name](X)) <= 2  # (the graph; a tensor's conversion)


@pytest.mark.parametrize("name", list(CALLS))
def test_the_graph_gives_the_eager_values_bit_for_bit(name):
    for x in (X, TIES):
        first = CALLS[name](x).numpy()  # a first call runs eagerly
        for _ in range(2):
            again = CALLS[name](x).numpy()  # then as a graph
            assert again.dtype == first.dtype and again.tobytes() == first.tobytes()


def test_keras_updates_are_a_few_operations(eager_ops):
    import wxent.keras

    recall, cost = wxent.keras.Recall(), wxent.keras.ExpectedCost(C)
    assert eager_ops(lambda: recall.update_state(Z, X)) <= 6
    assert eager_ops(lambda: cost.update_state(Y, X, sample_weight=W)) <= 8


def test_a_variable_changed_in_place_is_checked_again():
    costs = tf.Variable(C, dtype=tf.float32)
    for _ in range(3):
        wxent.expected_cost(X, Y, costs)
    costs.assign(-costs)
    with pytest.raises(ValueError, match=r"`costs`\. Expected finite non-negative values"):
        wxent.expected_cost(X, Y, costs)
    costs.assign(C * 2)
    np.testing.assert_equal(
        wxent.expected_cost(X, Y, costs).numpy(), wxent.expected_cost(X, Y, C * 2).numpy()
    )


def test_bad_values_after_repeated_calls_raise_the_eager_messages():
    for _ in range(3):
        wxent.precision(X, Y, costs=C)
        wxent.recall(X, Z)
    labels = tf.tensor_scatter_nd_update(Y, [[3]], [7])
    with pytest.raises(ValueError, match=r"class indices in \[0, 5\). Received: label value 7"):
        wxent.precision(X, labels, costs=C)
    logits = tf.tensor_scatter_nd_update(X, [[2, 1]], [np.nan])
    with pytest.raises(ValueError, match=r"`logits`\. Expected numbers without NaN"):
        wxent.precision(logits, Y, costs=C)
    with pytest.raises(ValueError, match=r"0/1 labels for sigmoid logits.*label value 2\.0"):
        wxent.recall(X, Z * 2)


def test_the_dominated_columns_warning_comes_with_every_call():
    dominated = np.array([[0, 1, 5.0], [1, 0, 5.0], [1, 1, 6.0]])
    x, y = X[:, :3], Y % 3
    for _ in range(4):
        with pytest.warns(wxent.CostMatrixWarning, match="dominated columns"):
            wxent.confusion_matrix(x, y, costs=dominated)


def test_traced_and_recorded_calls_keep_their_paths():
    from wxent import _tf_metric_graphs as graphs

    @tf.function
    def step(x: Any) -> Any:
        return wxent.expected_cost(x, Y, C * 3)

    weights = tf.Variable(W)
    before = len(graphs._GRAPHS)
    for _ in range(3):
        step(X)
        with tf.GradientTape() as tape:
            cost = wxent.expected_cost(X, Y, C * 3, sample_weight=weights)
        assert tape.gradient(cost, weights) is not None  # recorded op by op, as eagerly
    assert len(graphs._GRAPHS) == before


def test_many_batch_sizes_stop_tracing():
    from wxent import _tf_metric_graphs as graphs

    costs = C * 5
    for n in range(2, 4 + graphs.MAX_SHAPES):
        for _ in range(2):
            wxent.expected_cost(X[:n], Y[:n], costs)
    assert max(graphs._SHAPES.values()) == graphs.MAX_SHAPES  # then eager calls
