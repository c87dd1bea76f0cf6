"""Traced metrics with a cost matrix or threshold that a check would refuse.

Eagerly a negative cost or a NaN threshold is a ``ValueError``; while tracing nothing
can raise, and the losses give NaN. The metrics gave plain numbers instead: decisions
by a poisoned matrix (precision, recall, F-beta under ``jax.jit`` and ``tf.function``;
``expected_cost`` under ``tf.function``, whose ``argmin`` skips NaN) or by a NaN
threshold (every element negative). Now the scores, the expected cost and weighted
counts are NaN on every framework; valid values give the eager numbers.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import wxent

X = np.random.default_rng(35).normal(size=(6, 3)).astype(np.float32)
Y = np.array([0, 1, 2, 0, 1, 2])
GOOD = (1.0 - np.eye(3)).astype(np.float32)
BAD = GOOD.copy()
BAD[1, 2] = -1.0


def _softmax_metrics(x, y, c, w):
    return (
        wxent.precision(x, y, costs=c),
        wxent.recall(x, y, costs=c, average=None),
        wxent.fbeta_score(x, y, costs=c, average="macro"),
        wxent.expected_cost(x, y, c),
        wxent.confusion_matrix(x, y, costs=c, sample_weight=w),
    )


def _jax(costs):
    f = jax.jit(_softmax_metrics)
    return f(jnp.asarray(X), jnp.asarray(Y), jnp.asarray(costs), jnp.ones(6))


def _torch(costs):
    f = torch.compile(_softmax_metrics, fullgraph=True, backend="eager")
    return f(torch.tensor(X), torch.tensor(Y), torch.tensor(costs), torch.ones(6))


def _tf(costs):
    import tensorflow as tf

    f = tf.function(_softmax_metrics)
    return f(tf.constant(X), tf.constant(Y), tf.constant(costs), tf.ones(6))


RUNS = {"jax": _jax, "torch": _torch, "tf": _tf}


@pytest.mark.parametrize("framework", sorted(RUNS))
def test_traced_bad_costs_give_nan_metrics(framework: str) -> None:
    for value in RUNS[framework](BAD):
        assert np.isnan(np.asarray(value)).all()


@pytest.mark.parametrize("framework", sorted(RUNS))
def test_traced_good_costs_give_the_eager_metrics(framework: str) -> None:
    want = _softmax_metrics(X, Y, GOOD, np.ones(6))
    for got, expected in zip(RUNS[framework](GOOD), want, strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-6)


def test_traced_nan_threshold_gives_nan_scores() -> None:
    z = jnp.asarray((X > 0.3).astype(np.int32))

    def scores(t):
        return (
            wxent.recall(jnp.asarray(X), z, threshold=t),
            wxent.precision(jnp.asarray(X), z, threshold=t, average=None),
            wxent.confusion_matrix(jnp.asarray(X), z, threshold=t, sample_weight=jnp.ones(6)),
        )

    bad = jax.jit(scores)(jnp.array([0.0, math.nan, 0.0]))
    assert all(np.isnan(np.asarray(value)).all() for value in bad)
    good = jax.jit(scores)(jnp.zeros(3))
    assert not any(np.isnan(np.asarray(value)).any() for value in good)
    assert float(good[0]) == wxent.recall(X, np.asarray(z))
