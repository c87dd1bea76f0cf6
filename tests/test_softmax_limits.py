"""The softmax family at ``+inf`` logits: every loss takes its limit, with gradient 0 there.

Softmax is shift-invariant, so a row holding ``+inf`` has the limit of shifting it by
its maximum: probability uniform over the ``+inf`` entries and 0 elsewhere. The
cross-entropy then costs 0 (a single ``+inf`` on the target), ``log k`` (``k`` tied ones)
or ``inf`` (the target elsewhere); the focal loss ``F = -(1 - p)**gamma log p`` costs 0,
``(1 - 1/k)**gamma log k`` or ``inf``. The gradient in such a row is 0, a row of only
``-inf`` is an error, and the other rows are untouched. Checked on every framework,
eager and traced, for indices and probability labels, with and without smoothing,
against a float64 reference evaluated on the limit rows.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import reference_imbalance as ref
import wxent
from conftest import assert_close

INF = math.inf
X = np.array(
    [
        [INF, 0.0, 1.0, -2.0],  # +inf on the target: 0
        [0.0, INF, 1.0, -2.0],  # +inf elsewhere: inf
        [INF, INF, 0.0, 1.0],  # two tied +inf, one the target: (1/2)**gamma log 2
        [INF, -INF, 0.0, 5.0],  # +inf and -inf in one row: 0
        [INF, INF, INF, INF],  # all +inf: (3/4)**gamma log 4, also smoothed
        [-INF, 0.0, 1.0, 2.0],  # a masked class, no +inf
        [0.3, -1.2, 2.0, 0.1],  # an ordinary row
    ],
    dtype=np.float32,
)
Y = np.array([0, 0, 1, 0, 2, 1, 2])
INFINITE_ROWS = [0, 1, 2, 3, 4]
FINITE_ROWS = [5, 6]
CLASS_WEIGHT = [1.0, 2.0, 0.5, 1.5]


def _limit(x: np.ndarray) -> np.ndarray:
    """Each row holding +inf replaced by its limit (0 at +inf, -inf elsewhere), float64."""
    out = np.asarray(x, dtype=np.float64).copy()
    for row in out:
        if np.isposinf(row).any():
            row[:] = np.where(np.isposinf(row), 0.0, -INF)
    return out


def _labels(kind: str) -> np.ndarray:
    return Y if kind == "indices" else np.eye(4, dtype=np.float32)[Y]


def _focal(gamma, eps, reduction):
    def f(a, b):
        return wxent.softmax_focal_loss(
            a,
            b,
            gamma=gamma,
            label_smoothing=eps,
            class_weight=CLASS_WEIGHT,
            reduction=reduction,
        )

    return f


def test_the_reference_limits_are_the_documented_ones():
    for gamma in (0.0, 0.5, 2.0):
        got = ref.softmax_focal(_limit(X), Y, gamma=gamma, reduction="none")
        expected = [0.0, INF, 0.5**gamma * math.log(2), 0.0, 0.75**gamma * math.log(4)]
        np.testing.assert_allclose(got[:5], expected, rtol=1e-12)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("labels", ["indices", "probabilities"])
def test_softmax_focal_values_at_plus_inf(backend, gamma, eps, labels):
    value = backend.call(_focal(gamma, eps, "none"), X, _labels(labels))
    expected = ref.softmax_focal(
        _limit(X), Y, gamma=gamma, label_smoothing=eps, class_weight=CLASS_WEIGHT, reduction="none"
    )
    assert not np.isnan(value).any(), value
    assert_close(value, expected, rtol=1e-5, atol=1e-6)
    if eps:  # smoothing puts mass on classes of probability 0
        assert np.isinf(value[:4]).all() and np.isfinite(value[4])


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("labels", ["indices", "probabilities"])
def test_softmax_focal_gradient_is_zero_in_plus_inf_rows(ad_backend, gamma, eps, labels):
    y = _labels(labels)
    _, grad = ad_backend.value_and_grad(_focal(gamma, eps, "sum"), X, y)
    assert np.isfinite(grad).all(), grad
    assert not grad[INFINITE_ROWS].any()
    _, finite = ad_backend.value_and_grad(_focal(gamma, eps, "sum"), X[FINITE_ROWS], y[FINITE_ROWS])
    assert_close(grad[FINITE_ROWS], finite, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("labels", ["indices", "probabilities"])
def test_focal_with_gamma_0_is_the_cross_entropy_at_plus_inf(ad_backend, labels):
    y = _labels(labels)
    focal, focal_grad = ad_backend.value_and_grad(
        _focal(0.0, 0.0, "sum"), X[[0, 2, 3, 4, 5]], y[[0, 2, 3, 4, 5]]
    )

    def ce(a, b):
        return wxent.softmax_cross_entropy(a, b, class_weight=CLASS_WEIGHT, reduction="sum")

    expected, expected_grad = ad_backend.value_and_grad(ce, X[[0, 2, 3, 4, 5]], y[[0, 2, 3, 4, 5]])
    assert_close(focal, expected, rtol=1e-6)
    assert_close(focal_grad, expected_grad, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("labels", ["indices", "probabilities"])
def test_logit_adjusted_cross_entropy_at_plus_inf(ad_backend, labels):
    prior = [0.6, 0.2, 0.15, 0.05]
    y = _labels(labels)

    def la(a, b, reduction="sum"):
        return wxent.logit_adjusted_cross_entropy(a, b, prior, tau=1.0, reduction=reduction)

    value = ad_backend.call(lambda a, b: la(a, b, "none"), X, y)
    adjusted = X.astype(np.float64) + np.log(prior)  # +inf stays +inf: the same limit rows
    expected = ref.softmax_focal(_limit(adjusted), Y, gamma=0.0, reduction="none")
    assert_close(value, expected, rtol=1e-5, atol=1e-6)
    _, grad = ad_backend.value_and_grad(la, X, y)
    assert np.isfinite(grad).all() and not grad[INFINITE_ROWS].any()


COSTS = 1 - np.eye(2)
LOSSES = {
    "softmax_focal_loss": lambda a, b, **k: wxent.softmax_focal_loss(a, b, gamma=2.0, **k),
    "logit_adjusted_cross_entropy": lambda a, b, **k: wxent.logit_adjusted_cross_entropy(
        a, b, [0.5, 0.5], **k
    ),
    "expected_cost_loss": lambda a, b, **k: wxent.expected_cost_loss(a, b, COSTS, **k),
    "cost_sensitive_cross_entropy": lambda a, b, **k: wxent.cost_sensitive_cross_entropy(
        a, b, COSTS, **k
    ),
    "confusion_weighted_cross_entropy": lambda a, b, **k: wxent.confusion_weighted_cross_entropy(
        a, b, np.ones((2, 2)), **k
    ),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_a_row_of_only_minus_inf_is_an_error(eager_backend, name):
    x = eager_backend.asarray(np.array([[-INF, -INF], [0.0, 1.0]], np.float32))
    y = eager_backend.asarray(np.array([0, 1]))
    with pytest.raises(ValueError, match=r"`logits`.*above -inf in every row.*1 row"):
        LOSSES[name](x, y)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_softmax_loss_is_exact_at_plus_inf(backend, name):
    x = np.array([[INF, 0.0], [0.0, INF], [INF, INF], [INF, -INF], [0.5, -0.5]], np.float32)
    y = np.array([0, 0, 0, 0, 1])
    value = backend.call(lambda a, b: LOSSES[name](a, b, reduction="none"), x, y)
    assert not np.isnan(value).any(), value
    assert value[0] == 0.0 and value[3] == 0.0
    if name == "expected_cost_loss":  # 1 - p_y: bounded
        np.testing.assert_allclose(value[1:3], [1.0, 0.5], rtol=1e-6)
    elif name == "softmax_focal_loss":
        np.testing.assert_allclose(value[1:3], [INF, 0.25 * math.log(2)], rtol=1e-6)
    else:
        assert value[1] == INF


FULL_SMOOTHING = {
    "softmax_cross_entropy": wxent.softmax_cross_entropy,
    "softmax_focal_loss": lambda a, b, **k: wxent.softmax_focal_loss(a, b, gamma=0.5, **k),
    "logit_adjusted_cross_entropy": lambda a, b, **k: wxent.logit_adjusted_cross_entropy(
        a, b, [0.1, 0.2, 0.3, 0.4], **k
    ),
    "cost_sensitive_cross_entropy": lambda a, b, **k: wxent.cost_sensitive_cross_entropy(
        a, b, 1 - np.eye(4), **k
    ),
    "confusion_weighted_cross_entropy": lambda a, b, **k: wxent.confusion_weighted_cross_entropy(
        a, b, np.ones((4, 4)), **k
    ),
}


@pytest.mark.parametrize("name", sorted(FULL_SMOOTHING))
def test_full_smoothing_at_infinite_logits_is_not_nan(backend, name):
    # label_smoothing=1 gives the target 0 weight: (1 - eps) * inf was a NaN loss (no
    # error) for class indices whose logit lies below a +inf or at -inf; one-hot labels
    # gave inf.
    def f(a, b):
        return FULL_SMOOTHING[name](a, b, label_smoothing=1.0, reduction="none")

    indices = backend.call(f, X, Y)
    one_hot = backend.call(f, X, np.eye(4, dtype=np.float32)[Y])
    assert not np.isnan(indices).any(), indices
    assert_close(indices, one_hot, rtol=1e-5, atol=1e-6)


def test_full_smoothing_of_a_projection_with_an_infinite_bias(eager_backend):
    h = eager_backend.asarray(np.array([[1.0, 0.5], [0.2, -1.0]], np.float32))
    w = eager_backend.asarray(np.array([[0.1, 0.2], [0.3, -0.1], [0.0, 1.0]], np.float32))
    b = eager_backend.asarray(np.array([0.0, INF, -INF], np.float32))
    y = eager_backend.asarray(np.array([0, 1]))
    loss = wxent.linear_cross_entropy(h, w, y, bias=b, label_smoothing=1.0, reduction="none")
    np.testing.assert_array_equal(np.asarray(loss), [INF, INF])  # -inf in the smoothed target


def test_numpy_limit_rows_keeps_finite_logits_without_copies():
    # host logits without +inf: the logits themselves, no limit passes or temporaries
    from wxent._core.numerics import limit_rows
    from wxent._namespace import namespace

    x = np.array([[1.0, -INF, 3.0], [-INF, -INF, -INF], [2.0, 0.0, 1.0]], np.float32)
    xp = namespace(x)
    limited, shift = limit_rows(x, axis=-1, xp=xp)
    assert limited is x
    np.testing.assert_array_equal(shift, [[3.0], [0.0], [2.0]])
    x[0, 1] = INF  # a row holding +inf takes its limit as before
    limited, shift = limit_rows(x, axis=-1, xp=xp)
    np.testing.assert_array_equal(limited[0], [-INF, 0.0, -INF])
    np.testing.assert_array_equal(limited[1:], x[1:])
    np.testing.assert_array_equal(shift, [[0.0], [0.0], [2.0]])


def test_eager_host_limit_rows_keep_finite_logits():
    # Eager TensorFlow tensors on the CPU read the row flags as NumPy does: without +inf
    # the logits themselves come back (no comparison, no two `where`s).
    import tensorflow as tf

    from wxent._core.numerics import limit_rows
    from wxent._namespace import namespace

    host = np.array([[1.0, -INF, 3.0], [-INF, -INF, -INF], [2.0, 0.0, 1.0]], np.float32)
    convert = tf.convert_to_tensor
    x = convert(host)
    xp = namespace(x)
    limited, shift = limit_rows(x, axis=-1, xp=xp)
    assert limited is x
    np.testing.assert_array_equal(np.asarray(shift), [[3.0], [0.0], [2.0]])
    host[0, 1] = INF
    limited, shift = limit_rows(convert(host), axis=-1, xp=xp)
    np.testing.assert_array_equal(np.asarray(limited)[0], [-INF, 0.0, -INF])
    np.testing.assert_array_equal(np.asarray(shift), [[0.0], [0.0], [2.0]])


def test_traced_limit_rows_keep_the_limits():
    # Inside torch.compile / tf.function nothing is read: a traced +inf row still takes
    # its limit (TensorFlow: in a branch of the graph, below).
    import tensorflow as tf

    from wxent._core.numerics import limit_rows
    from wxent._namespace import namespace

    @tf.function(autograph=False)
    def limited(x):
        return limit_rows(x, axis=-1, xp=namespace(x))[0]

    x = np.array([[1.0, INF, 3.0], [2.0, 0.0, 1.0]], np.float32)
    np.testing.assert_array_equal(limited(tf.constant(x)).numpy(), [[-INF, 0.0, -INF], x[1]])


def _logits_size_ops(graph, shape):
    """Top-level ops of a TensorFlow graph with an output of the logits' shape."""
    return sorted(
        op.type
        for op in graph.get_operations()
        if any(out.shape.as_list() == list(shape) for out in op.outputs)
    )


def test_tf_graph_limits_run_only_when_a_row_holds_inf():
    # A TensorFlow graph runs each op as its own pass: the comparison and the two `where`s
    # of the limits sit in a branch taken only when some row holds +inf. Values, the
    # gradient, XLA and vectorized_map agree with the eager limits either way.
    import tensorflow as tf

    from wxent._core.numerics import limit_rows
    from wxent._namespace import namespace

    def loss(x, y):
        return tf.reduce_sum(wxent.expected_cost_loss(x, y, 1.0 - np.eye(4), reduction="none"))

    traced = tf.function(loss)
    spec = (tf.TensorSpec(X.shape, tf.float32), tf.TensorSpec(Y.shape, tf.int64))
    graph = traced.get_concrete_function(*spec).graph
    ops = _logits_size_ops(graph, X.shape)
    assert "SelectV2" not in ops and "Equal" not in ops, ops
    assert "StatelessIf" in ops or "If" in ops, ops

    def value_and_grad(fn, x, y):
        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(x, tf.constant(y, tf.int64))
        return value.numpy(), tape.gradient(value, x).numpy()

    for x, y in ((X, Y), (X[FINITE_ROWS], Y[FINITE_ROWS])):
        want = value_and_grad(loss, x, y)
        for fn in (traced, tf.function(loss, jit_compile=True)):
            got = value_and_grad(fn, x, y)
            np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
            np.testing.assert_allclose(got[1], want[1], rtol=1e-6, atol=1e-7)

    @tf.function(autograph=False)
    def limited(x):
        return limit_rows(x, axis=-1, xp=namespace(x))[0]

    eager = limit_rows(tf.constant(X), axis=-1, xp=namespace(tf.constant(X)))[0].numpy()
    np.testing.assert_array_equal(limited(tf.constant(X)).numpy(), eager)
    stacked = tf.constant(np.stack([X, np.where(np.isinf(X), 0.0, X).astype(np.float32)]))
    mapped = tf.vectorized_map(lambda x: limit_rows(x, axis=-1, xp=namespace(x))[0], stacked)
    np.testing.assert_array_equal(mapped.numpy()[0], eager)
    np.testing.assert_array_equal(mapped.numpy()[1], stacked.numpy()[1])
