"""Eager JAX metrics: a repeated call as one compiled program, checked as eagerly.

A metric call that repeats (its shapes, dtypes and options seen before) runs as one
``jax.jit`` program of the eager code path (:mod:`wxent._jax_metric_graphs`), and a
:class:`wxent.MetricAccumulator` adds a batch in two compiled calls. Pinned here without
timings: the primitives a repeated call binds, the eager values bit for bit (summed
float weights: those of the same call under ``jax.jit``, whose fused sums may round
differently), the eager errors and warnings, a threshold sweep that compiles once,
``jax.jit`` callers untouched, and the cache's bound. One batch shape but where a test
needs another: every new shape compiles the eager operations too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.monitoring
import jax.numpy as jnp
import numpy as np
import pytest

import wxent
from conftest import jax_binds, jax_compiles
from wxent import _jax_metric_graphs as graphs
from wxent import _metric_graphs as mg

RNG = np.random.default_rng(5)
N, K = 12, 5  # (test_jax_eager_compiles' size: the eager operations compiled already)
X = jnp.asarray(RNG.normal(size=(N, K)), jnp.float32)
TIES = jnp.asarray(np.round(RNG.normal(size=(N, K))), jnp.float32)
Y = jnp.asarray(RNG.integers(0, K, N))
Z = jnp.asarray(RNG.uniform(size=(N, K)) < 0.4, jnp.float32)
W = jnp.asarray(RNG.uniform(size=N) * 10, jnp.float32)
C = RNG.uniform(size=(K, K)) * (1 - np.eye(K))

CALLS: dict[str, Callable[[Any, Any, Any, Any], Any]] = {  # (logits, labels, 0/1, weights)
    "confusion_matrix": lambda x, y, z, w: wxent.confusion_matrix(x, y),
    "precision, macro, weights": lambda x, y, z, w: wxent.precision(
        x, y, average="macro", sample_weight=w
    ),
    "recall, sigmoid, thresholds": lambda x, y, z, w: wxent.recall(
        x, z, threshold=[-0.5, 0.1, 0.0, 0.3, 1e-8]
    ),
    "fbeta_score, sigmoid, NumPy weights": lambda x, y, z, w: wxent.fbeta_score(
        x, z, beta=2.0, average=None, sample_weight=np.asarray(w, np.float64)
    ),
    "expected_cost, weights": lambda x, y, z, w: wxent.expected_cost(x, y, C, sample_weight=w),
}
WEIGHTED = ("fbeta_score, sigmoid, NumPy weights", "expected_cost, weights")  # float sums


@contextlib.contextmanager
def _eagerly() -> Iterator[None]:
    """Every metric call operation by operation (the path before compiled programs)."""
    original = graphs.run
    graphs.run = lambda function, logits, labels, **options: function(logits, labels, **options)
    try:
        yield
    finally:
        graphs.run = original


def _same(a: Any, b: Any) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), (a, b)


def test_a_repeated_metric_call_binds_no_eager_primitives():
    for name, call in CALLS.items():
        for _ in range(2):  # eagerly, then compiled
            call(X, Y, Z, W)
        with jax_binds() as seen:
            jax.block_until_ready(call(X, Y, Z, W))
        assert len(seen) <= 2, (name, seen)  # (eagerly 7-18 primitives)


def test_the_program_gives_the_eager_values_bit_for_bit():
    shuffled = (TIES, Y[::-1], Z[::-1], W[::-1])
    for name, call in CALLS.items():
        with _eagerly():
            expected = [call(X, Y, Z, W), call(*shuffled)]
        for _ in range(2):  # (the first call of a signature may be eager: then compiled)
            for args, value in zip(((X, Y, Z, W), shuffled), expected, strict=True):
                if name in WEIGHTED:  # summed float weights: see the test below
                    np.testing.assert_allclose(call(*args), value, rtol=1e-6)
                else:
                    _same(call(*args), value)


def test_summed_weights_are_those_of_the_call_under_jit():
    """XLA's fused reductions may round the last bit otherwise than the eager ones."""
    call = CALLS["expected_cost, weights"]
    call(X, Y, Z, W)
    _same(call(X, Y, Z, W), jax.jit(call)(X, Y, Z, W))


def test_another_batch_size_is_another_program():
    call, n = CALLS["confusion_matrix"], N // 2
    with _eagerly():
        expected = call(X[:n], Y[:n], Z, W)
    before = len(graphs._GRAPHS)
    for _ in range(3):
        _same(call(X[:n], Y[:n], Z, W), expected)
    assert len(graphs._GRAPHS) == before + 1


def test_a_threshold_sweep_compiles_once():
    def call(t: float) -> Any:  # (the program of CALLS' recall: one threshold per label)
        return wxent.recall(X, Z, threshold=[-0.5, 0.1, t, 0.3, 1e-8])

    values = (-0.3, 0.1, 0.7, 1.0 + 2.0**-30)
    call(0.25)
    call(0.25)  # compiled, the thresholds an argument of the program
    with jax_compiles() as seen:
        got = [call(t) for t in values]
    assert not seen
    with _eagerly():
        for t, value in zip(values, got, strict=True):
            _same(value, call(t))


def test_bad_values_after_repeated_calls_raise_the_eager_messages():
    w = np.asarray(W, np.float64)
    for _ in range(2):
        wxent.expected_cost(X, Y, C, sample_weight=W)
        wxent.fbeta_score(X, Z, beta=2.0, average=None, sample_weight=w)
    with pytest.raises(ValueError, match=r"class indices in \[0, 5\)\. Received: label value 7"):
        wxent.expected_cost(X, Y.at[3].set(7), C, sample_weight=W)
    with pytest.raises(ValueError, match=r"`logits`\. Expected numbers without NaN"):
        wxent.expected_cost(X.at[2, 1].set(jnp.nan), Y, C, sample_weight=W)
    with pytest.raises(ValueError, match=r"`sample_weight`\. Expected finite non-negative"):
        wxent.expected_cost(X, Y, C, sample_weight=-W)
    with pytest.raises(ValueError, match=r"`sample_weight`\. Expected finite non-negative"):
        wxent.fbeta_score(X, Z, beta=2.0, average=None, sample_weight=-w)
    with pytest.raises(ValueError, match=r"0/1 labels for sigmoid logits.*label value 2\.0"):
        wxent.fbeta_score(X, Z * 2, beta=2.0, average=None, sample_weight=w)
    with pytest.raises(ValueError, match=r"`threshold`\. Expected logits that are not NaN"):
        wxent.recall(X, Z, threshold=[0.0, 0.0, float("nan"), 0.0, 0.0])


def test_the_dominated_columns_warning_comes_with_every_call():
    dominated = np.array([[0, 1, 5.0], [1, 0, 5.0], [1, 1, 6.0], [1, 1, 6.0], [1, 1, 6.0]])
    dominated = np.concatenate([dominated, np.ones((5, 2))], axis=1)
    for _ in range(3):
        with pytest.warns(wxent.CostMatrixWarning, match="dominated columns"):
            wxent.confusion_matrix(X, Y, costs=dominated)


def test_calls_inside_jit_keep_their_path():
    def matrix(x: Any, w: Any) -> Any:
        return wxent.confusion_matrix(x, Y, sample_weight=w)

    before = len(graphs._GRAPHS)
    step = jax.jit(matrix)
    for _ in range(3):
        value = step(X, W)  # traced inline, as before (unchecked, nothing compiled here)
    assert len(graphs._GRAPHS) == before
    with _eagerly():
        _same(value, matrix(X, W))


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(mg, "MAX_SHAPES", 1)
    call = lambda x, y: wxent.confusion_matrix(x, y, ignore_index=-7)  # noqa: E731
    before = len(graphs._GRAPHS)
    for x, y in ((X, Y), (X[: N // 2], Y[: N // 2])):
        for _ in range(2):
            call(x, y)
    assert len(graphs._GRAPHS) == before + 1  # one program; the other size runs eagerly
    with jax_binds() as seen:
        call(X[: N // 2], Y[: N // 2])
    assert len(seen) > 2


def test_an_accumulator_update_is_two_compiled_calls():
    acc = wxent.MetricAccumulator(costs=C)
    for _ in range(3):
        acc.update(X, Y, sample_weight=W)
    with jax_binds() as seen:
        acc.update(X, Y, sample_weight=W)
    assert len(seen) <= 2, seen  # (eagerly about 40 primitives)
    reference = wxent.MetricAccumulator(costs=C)
    got = acc.compute(average="macro")
    with _eagerly():
        for _ in range(4):
            reference.update(X, Y, sample_weight=W)
    expected = reference.compute(average="macro")
    _same(got["confusion_matrix"], expected["confusion_matrix"])
    for key in ("precision", "recall", "expected_cost"):
        assert float(got[key]) == pytest.approx(float(expected[key]), rel=1e-6)
