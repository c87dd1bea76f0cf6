"""Function transforms and compiled modes against the eager gradient (adversarial pass).

Each case compares a transform's derivative with the one a plain recording tape gives in
the same call, at logits where the rules' building blocks (``abs``, ``relu``, a ``tf.cond``
on the logits' values) have a derivative of their own that differs from the loss's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import wxent

tf = pytest.importorskip("tensorflow")

C = 3
# Logits of exactly 0 (where d|x|/dx and relu' are 0 in forward mode), large ones, and
# ordinary ones.
X = np.array([[0.0, 0.0, 0.0], [1e4, -1e4, 0.0], [0.3, 0.2, -3e1], [0.0, -2.0, 1.0]])
Y = np.array([1, 1, 2, 0])
T = np.random.default_rng(1).normal(size=X.shape)


def _tf_losses() -> dict[str, Callable[[Any, Any], Any]]:
    def hot(y: Any, a: Any) -> Any:
        return tf.one_hot(y, C, dtype=a.dtype)

    return {
        "sigmoid": lambda a, y: wxent.sigmoid_cross_entropy(a, hot(y, a), pos_weight=[1, 2, 3]),
        "sigmoid_focal": lambda a, y: wxent.sigmoid_focal_loss(a, hot(y, a), alpha=0.25),
        "asymmetric": lambda a, y: wxent.asymmetric_loss(a, hot(y, a)),
        "softmax": lambda a, y: wxent.softmax_cross_entropy(a, y, class_weight=[1, 2, 3]),
        "softmax_focal": lambda a, y: wxent.softmax_focal_loss(a, y, gamma=2.0),
        "expected_cost": lambda a, y: wxent.expected_cost_loss(a, y, 1.0 - np.eye(C)),
    }


def _tape_gradient(loss: Callable[[Any, Any], Any], x: Any, y: Any) -> Any:
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = loss(x, y)
    return tape.gradient(value, x)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(_tf_losses()))
def test_tf_eager_accumulator_alone_is_exact_at_zero_logits(name, dtype):
    # Eagerly, an accumulator without a tape differentiated the rules' loss-only graphs
    # op by op: tangent 0 at a logit of exactly 0 (sigmoid: 0.5 - z expected).
    loss = _tf_losses()[name]
    x, y, t = tf.constant(X, dtype), tf.constant(Y), tf.constant(T, dtype)
    with tf.autodiff.ForwardAccumulator(x, t) as acc:
        value = loss(x, y)
    expected = tf.reduce_sum(_tape_gradient(loss, x, y) * t)
    np.testing.assert_allclose(acc.jvp(value).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
