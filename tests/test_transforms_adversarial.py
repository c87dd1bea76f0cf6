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


@pytest.mark.parametrize("label_dtype", ["int32", "int64"])
@pytest.mark.parametrize("name", sorted(_tf_losses()))
def test_tf_vectorized_map_per_sample_gradients(name, label_dtype):
    # The focal rule's scatter of per-row terms joined vectorized_map's int32 loop
    # index to int64 labels: a ConcatV2 TypeError from deep inside pfor.
    loss = _tf_losses()[name]
    xs = tf.constant(np.stack([X, 0.5 * X]))
    ys = tf.constant(np.stack([Y, Y[::-1]]), label_dtype)

    def value_and_gradient(args: Any) -> Any:
        a, b = args
        with tf.GradientTape() as tape:
            tape.watch(a)
            value = loss(a, b)
        return value, tape.gradient(value, a)

    values, grads = tf.vectorized_map(value_and_gradient, (xs, ys))
    for i in range(2):
        np.testing.assert_allclose(values[i].numpy(), loss(xs[i], ys[i]).numpy(), rtol=1e-6)
        expected = _tape_gradient(loss, xs[i], ys[i])
        np.testing.assert_allclose(grads[i].numpy(), expected.numpy(), rtol=1e-6, atol=1e-12)


XINF = np.array([[np.inf, 0.0, 1.0], [np.inf, np.inf, 0.0], [0.5, -np.inf, 0.1], [0.0, -2.0, 1.0]])


@pytest.mark.parametrize("logits", ["finite", "infinite"])
@pytest.mark.parametrize("name", sorted(_tf_losses()))
def test_tf_function_hessian_by_a_vectorized_jacobian(name, logits):
    # In a tf.function, the traced softmax and expected-cost rules put a tf.cond (the
    # limits of rows holding +inf) on the differentiated path: a Hessian by
    # tape.jacobian (vectorized) failed converting the cond's gradient.
    loss = _tf_losses()[name]
    x = tf.constant(X if logits == "finite" else XINF)
    y = tf.constant(Y)

    @tf.function
    def hessian(a: Any, b: Any) -> Any:
        with tf.GradientTape() as outer:
            outer.watch(a)
            with tf.GradientTape() as inner:
                inner.watch(a)
                value = loss(a, b)
            grad = inner.gradient(value, a)
        return value, grad, outer.jacobian(grad, a)

    value, grad, h = hessian(x, y)
    with tf.GradientTape(persistent=True) as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            expected_value = loss(x, y)
        expected_grad = inner.gradient(expected_value, x)
    expected_h = outer.jacobian(expected_grad, x, experimental_use_pfor=False)
    np.testing.assert_allclose(value.numpy(), expected_value.numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad.numpy(), expected_grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(h.numpy(), expected_h.numpy(), rtol=1e-10, atol=1e-13)
    assert np.isfinite(h.numpy()).all()


@pytest.mark.parametrize("name", sorted(_tf_losses()))
def test_tf_vectorized_map_at_infinite_logits(name):
    loss = _tf_losses()[name]
    xs = tf.constant(np.stack([XINF, X]))
    ys = tf.constant(np.stack([Y, Y]))

    @tf.function
    def per_sample(a: Any, b: Any) -> Any:
        def value_and_gradient(args: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(args[0])
                value = loss(args[0], args[1])
            return value, tape.gradient(value, args[0])

        return tf.vectorized_map(value_and_gradient, (a, b))

    values, grads = per_sample(xs, ys)
    for i in range(2):
        np.testing.assert_allclose(values[i].numpy(), loss(xs[i], ys[i]).numpy(), rtol=1e-12)
        expected = _tape_gradient(loss, xs[i], ys[i])
        np.testing.assert_allclose(grads[i].numpy(), expected.numpy(), rtol=1e-12, atol=1e-15)
