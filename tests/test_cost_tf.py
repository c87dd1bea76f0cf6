"""The TensorFlow custom gradient of the expected-cost losses against the generic formulas.

``expected_cost_loss`` and ``cost_sensitive_cross_entropy`` under a tape run one
``tf.custom_gradient`` rule (:mod:`wxent._fastpaths.cost_tf`), eagerly and in
``tf.function``: values and gradients equal the generic path's
(``wxent._fastpaths.ENABLED = False``) for every option and reduction, float32 and
float64, at ``-inf`` and huge logits; rows holding ``+inf`` reach their limits (eagerly
by the call's one read, traced by a branch), rows of only ``-inf`` or NaN the generic
path's errors or NaN; second derivatives and cost matrices a tape watches take the generic
formulas (forward mode: tests/test_tf_forward_ad.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

import wxent
from conftest import assert_close
from reference_cost import RULE_CASES, rule_case, spy_cost_paths
from wxent import _fastpaths
from wxent._fastpaths import cost_tf

REDUCTIONS = ["none", "sum", "mean", "weighted_mean"]
MODES = ["eager", "function"]
N, C = 9, 6


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """``"fast"`` per forward pass of the rule, ``"generic"`` per core call."""
    yield spy_cost_paths(monkeypatch, cost_tf)


def _data(dtype: Any, *, edges: bool = True) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(N, C)) * 3.0
    if edges:
        x[0, 2] = -math.inf  # a masked class (not the label)
        x[1] = -1e30  # huge finite logits, one of them large
        x[1, 3] = 5.0
        x[2, 4] = 1e4
    y = rng.integers(0, C, N)
    y[0] = 1
    y[5] = -100  # ignored
    costs = rng.random((C, C))
    np.fill_diagonal(costs, 0.0)
    cw = rng.random(C) + 0.5
    sw = rng.random(N)
    sw[3] = 0.0
    return tuple(a.astype(dtype) if a.dtype.kind == "f" else a for a in (x, y, costs, cw, sw))


CASES = RULE_CASES


def _call(case: str, reduction: str, data: tuple[np.ndarray, ...]) -> Any:
    _, y, costs, cw, sw = data
    fn, opts = rule_case(case, cw, sw)
    labels = tf.constant(y)
    costs_t = tf.constant(costs)
    return lambda a: fn(a, labels, costs_t, ignore_index=-100, reduction=reduction, **opts)


def _value_and_grad(f: Any, x: np.ndarray, mode: str = "eager") -> tuple[np.ndarray, np.ndarray]:
    def step(a: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(a)
            out = f(a)
        return out, tape.gradient(out, a)

    if mode == "function":
        step = tf.function(step, autograph=False)
    out, grad = step(tf.constant(x))
    return out.numpy().astype(np.float64), grad.numpy().astype(np.float64)


def _generic(f: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as m:
        m.setattr(_fastpaths, "ENABLED", False)
        return f()


TOL = {np.float32: 2e-6, np.float64: 1e-12}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", list(CASES))
def test_matches_the_generic_path(monkeypatch, ran, case, reduction, dtype, mode):
    data = _data(dtype)
    f = _call(case, reduction, data)
    value, grad = _value_and_grad(f, data[0], mode)
    assert ran == ["fast"]
    ran.clear()
    ref_value, ref_grad = _generic(lambda: _value_and_grad(f, data[0], mode), monkeypatch)
    assert "fast" not in ran
    assert np.isfinite(grad).all()
    assert_close(value, ref_value, rtol=TOL[dtype], atol=TOL[dtype])
    assert_close(grad, ref_grad, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("mode", MODES)
def test_matches_float64_formula(ran, mode):
    """``l = ce_eps + w e`` and ``dl/dx = p - t + w p (costs[y] - e)``, in float64."""
    x, y, costs, _, _ = _data(np.float64, edges=False)
    y = np.maximum(y, 0)
    eps, w = 0.2, 0.7
    value, grad = _value_and_grad(
        lambda a: wxent.cost_sensitive_cross_entropy(
            a, tf.constant(y), costs, cost_weight=w, label_smoothing=eps, reduction="none"
        ),
        x,
        mode,
    )
    assert ran == ["fast"]
    z = x - x.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    rows = costs[y]
    e = (rows * p).sum(axis=1)
    t = np.full((N, C), eps / C)
    t[np.arange(N), y] += 1.0 - eps
    ce = -(t * np.log(p)).sum(axis=1)
    assert_close(value, ce + w * e, rtol=1e-13, atol=1e-15)
    assert_close(grad, p - t + w * p * (rows - e[:, None]), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", ["expected", "sensitive-smooth-weights"])
def test_plus_inf_rows_take_their_limit(monkeypatch, ran, case, mode):
    """Eagerly a ``+inf`` row is NaN and the one read recomputes; traced, a branch limits it."""
    data = _data(np.float32)
    data[0][4, 1] = math.inf
    f = _call(case, "none", data)
    value, grad = _value_and_grad(f, data[0], mode)
    assert ran[0] == "fast"
    if mode == "eager":
        assert "generic" in ran  # the inexact result was recomputed
    ref_value, ref_grad = _generic(lambda: _value_and_grad(f, data[0], mode), monkeypatch)
    assert not np.isnan(value).any() and not np.isnan(grad).any()
    assert (grad[4] == 0).all()
    assert_close(value, ref_value, rtol=2e-6, atol=2e-6)
    assert_close(grad, ref_grad, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("bad", ["nan", "all -inf"])
def test_bad_rows_raise_the_generic_error_eagerly_and_give_nan_traced(monkeypatch, bad):
    x, y, costs, _, _ = _data(np.float32)
    if bad == "nan":
        x[6, 2] = math.nan
    else:
        x[6] = -math.inf
    f = _call("sensitive", "none", (x, y, costs, None, None))
    with pytest.raises(ValueError, match="logits"):
        _value_and_grad(f, x)
    value, grad = _value_and_grad(f, x, "function")
    ref_value, ref_grad = _generic(lambda: _value_and_grad(f, x, "function"), monkeypatch)
    assert np.isnan(value[6]) and not np.isnan(value[:6]).any()
    assert_close(value[:6], ref_value[:6], rtol=2e-6, atol=2e-6)
    assert_close(grad[:6], ref_grad[:6], rtol=2e-6, atol=2e-6)


def test_ignored_nan_rows_get_gradient_zero(monkeypatch):
    """A NaN row that is ignored counts nothing: loss and gradient 0 there, as generically."""
    x, y, costs, _, _ = _data(np.float32)
    x[5, 1] = math.nan  # row 5 is ignored
    f = _call("sensitive", "mean", (x, y, costs, None, None))
    for mode in MODES:
        value, grad = _value_and_grad(f, x, mode)
        ref_value, ref_grad = _generic(lambda m=mode: _value_and_grad(f, x, m), monkeypatch)
        assert np.isfinite(value) and (grad[5] == 0).all()
        assert_close(value, ref_value, rtol=2e-6, atol=2e-6)
        assert_close(grad, ref_grad, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("case", ["expected", "sensitive-smooth-weights"])
def test_second_derivatives_match_generic(monkeypatch, case):
    x, y, costs, cw, sw = _data(np.float64, edges=False)
    f = _call(case, "mean", (x, y, costs, cw, sw))

    def hvp() -> np.ndarray:
        a = tf.constant(x)
        with tf.GradientTape() as outer:
            outer.watch(a)
            with tf.GradientTape() as inner:
                inner.watch(a)
                out = f(a)
            g = inner.gradient(out, a)
            s = tf.reduce_sum(g * tf.sin(a))
        return outer.gradient(s, a).numpy()

    assert_close(hvp(), _generic(hvp, monkeypatch), rtol=1e-10, atol=1e-12)


def test_watched_costs_take_the_generic_formulas_and_the_loss_alone_the_forward_pass(
    monkeypatch, ran
):
    x, y, costs, _, _ = _data(np.float64, edges=False)
    y = np.maximum(y, 0)
    variable = tf.Variable(costs)
    a = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(a)
        out = wxent.expected_cost_loss(a, tf.constant(y), variable)
    g_costs, g_x = tape.gradient(out, [variable, a])
    assert "fast" not in ran
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    expected = np.zeros_like(costs)
    np.add.at(expected, y, p / N)  # d mean_i(costs[y_i] . p_i) / d costs
    assert_close(tf.convert_to_tensor(g_costs).numpy(), expected, rtol=1e-12, atol=1e-15)
    assert np.isfinite(g_x.numpy()).all()
    alone = wxent.expected_cost_loss(a, tf.constant(y), costs)  # no tape: the loss alone
    assert ran[-1] == "fast"  # the rule's forward pass, nothing kept for a gradient
    assert_close(alone.numpy(), out.numpy(), rtol=1e-14, atol=0.0)
    del ran[:]
    monkeypatch.setenv("WXENT_KERNELS", "off")
    with tf.GradientTape() as tape:
        tape.watch(a)
        wxent.expected_cost_loss(a, tf.constant(y), costs)
    assert "fast" not in ran


def test_unknown_leading_dimensions_and_3d_logits(monkeypatch, ran):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 4, C)).astype(np.float32)
    y = rng.integers(0, C, (2, 4))
    costs = rng.random((C, C)).astype(np.float32)
    np.fill_diagonal(costs, 0.0)

    @tf.function(input_signature=[tf.TensorSpec([None, None, C], tf.float32)], autograph=False)
    def step(a: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(a)
            out = wxent.cost_sensitive_cross_entropy(
                a, tf.constant(y), costs, cost_weight=0.5, reduction="none"
            )
        return out, tape.gradient(out, a)

    value, grad = step(tf.constant(x))
    assert ran == ["fast"]
    ref_value, ref_grad = _generic(lambda: _value_and_grad(
        lambda a: wxent.cost_sensitive_cross_entropy(
            a, tf.constant(y), costs, cost_weight=0.5, reduction="none"
        ), x), monkeypatch)  # fmt: skip
    assert value.shape == (2, 4)
    assert_close(value.numpy(), ref_value, rtol=2e-6, atol=2e-6)
    assert_close(grad.numpy(), ref_grad, rtol=2e-6, atol=2e-6)


def test_float64_smoothed_softmax_gradient_is_exact():
    # The smoothing term of TensorFlow's softmax cross-entropy rule in float64: eps in
    # float64, not a float32 rounding of it (an error of 1.5e-8 relative before).
    x, y, _, _, _ = _data(np.float64, edges=False)
    y = np.maximum(y, 0)
    eps = 0.1
    _, grad = _value_and_grad(
        lambda a: wxent.softmax_cross_entropy(
            a, tf.constant(y), label_smoothing=eps, reduction="sum"
        ),
        x,
    )
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    t = np.full((N, C), eps / C)
    t[np.arange(N), y] += 1.0 - eps
    assert_close(grad, p - t, rtol=1e-14, atol=1e-15)


def test_namespace_scalars_keep_float64():
    from wxent import _tf_namespace as tnp

    x = tf.zeros(3, tf.float64)
    assert tnp.full_like(x, 0.1).numpy()[0] == 0.1
    assert tnp.clip(x, min=1e-300).numpy()[0] == 1e-300
    assert tnp.clip(x + 1.0, max=0.1).numpy()[0] == 0.1


def test_variable_logits_run_the_rule(monkeypatch, ran):
    x, y, costs, _, _ = _data(np.float32, edges=False)
    y = np.maximum(y, 0)
    variable = tf.Variable(x)
    with tf.GradientTape() as tape:
        out = wxent.cost_sensitive_cross_entropy(variable, tf.constant(y), costs, cost_weight=0.3)
    grad = tape.gradient(out, variable)
    assert ran == ["fast"]
    ref_value, ref_grad = _generic(
        lambda: _value_and_grad(
            lambda a: wxent.cost_sensitive_cross_entropy(a, tf.constant(y), costs, cost_weight=0.3),
            x,
        ),
        monkeypatch,
    )
    assert_close(out.numpy(), ref_value, rtol=2e-6, atol=2e-6)
    assert_close(grad.numpy(), ref_grad, rtol=2e-6, atol=2e-6)


def _matrix_size_ops(graph: Any, shape: tuple[int, ...]) -> list[str]:
    return sorted(
        op.type
        for op in graph.get_operations()
        if op.type != "Placeholder"
        and any(out.shape.as_list() == list(shape) for out in op.outputs)
    )


TRACED_MATRIX_CALLS = {
    "expected": lambda x, y, k: wxent.expected_cost_loss(x, y, k, reduction="none"),
    "sensitive": lambda x, y, k: wxent.cost_sensitive_cross_entropy(
        x, y, k, cost_weight=0.5, label_smoothing=0.1, reduction="none"
    ),
    "confusion": lambda x, y, k: wxent.confusion_weighted_cross_entropy(x, y, k, reduction="none"),
}


@pytest.mark.parametrize("taped", [False, True], ids=["loss", "taped"])
@pytest.mark.parametrize("call", sorted(TRACED_MATRIX_CALLS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_traced_cost_matrix_is_checked_where_integer_labels_read_it(dtype, call, taped):
    # Traced calls cannot raise: an invalid cost gives NaN where it is used. TensorFlow
    # runs each op as its own pass, so with integer labels the check runs on what the
    # labels read (N rows of costs: their minimum; N confusion weights), not on the
    # C x C matrix, with the values of a checked matrix.
    c, n = 12, 5
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, c)).astype(dtype)
    y = rng.integers(0, c, n)
    good = rng.uniform(0.0, 2.0, (c, c)).astype(dtype)
    good[0, 0], good[1, 1], good[2, 2] = 0.0, -0.0, 1e30
    loss = TRACED_MATRIX_CALLS[call]

    def run(x, y, k):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = loss(x, y, k)
        return (out, tape.gradient(out, x)) if taped else (out, tf.zeros_like(x))

    traced = tf.function(run)
    spec = (tf.TensorSpec(x.shape, dtype), tf.TensorSpec(y.shape, tf.int64))
    graph = traced.get_concrete_function(*spec, tf.TensorSpec((c, c), dtype)).graph
    assert _matrix_size_ops(graph, (c, c)) == []  # nothing of the matrix's size
    check = "GreaterEqual" if call == "confusion" else "Min"  # (the rows' minimum)
    assert check in _matrix_size_ops(graph, (n,))

    args = (tf.constant(x), tf.constant(y))
    want = loss(x, y, good)  # eager (checked) NumPy-given matrix
    value, grad = traced(*args, tf.constant(good))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-13, atol=1e-14)
    assert_close(value.numpy(), np.asarray(want), **tol)
    assert np.isfinite(grad.numpy()).all()
    for bad_value in (-1e-30, math.nan, -math.inf):
        bad = good.copy()
        predicted = int(np.argmax(x[0])) if call == "confusion" else 7
        bad[y[0], predicted] = bad_value
        value, grad = traced(*args, tf.constant(bad))
        hit = y == y[0]
        if call == "confusion":  # one entry per sample: the rows that read it
            hit = hit & (np.argmax(x, axis=1) == predicted)
        np.testing.assert_array_equal(np.isnan(value.numpy()), hit)
        if taped:  # the samples that read a bad cost have NaN gradients, as before
            assert np.isnan(grad.numpy()[hit]).all()
            assert np.isfinite(grad.numpy()[~hit]).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_traced_cost_matrix_with_probability_labels_is_checked_whole(dtype):
    # Probability labels read every row of the matrix: it is checked as it is, one
    # comparison and one `where`.
    c = 12
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, c)).astype(dtype)
    y = rng.dirichlet(np.ones(c), 5).astype(dtype)
    good = rng.uniform(0.0, 2.0, (c, c)).astype(dtype)
    traced = tf.function(lambda x, y, k: wxent.expected_cost_loss(x, y, k, reduction="none"))
    spec = (tf.TensorSpec(x.shape, dtype), tf.TensorSpec(y.shape, dtype))
    graph = traced.get_concrete_function(*spec, tf.TensorSpec((c, c), dtype)).graph
    assert _matrix_size_ops(graph, (c, c)) == ["GreaterEqual", "SelectV2"]
    bad = good.copy()
    bad[3, 7] = -1.0
    out = traced(tf.constant(x), tf.constant(y), tf.constant(bad)).numpy()
    assert np.isnan(out).all()  # every sample reads row 3


def test_traced_alpha_above_one_and_zero_prior_are_nan():
    # The same check with its other bounds: focal alpha at most 1, a prior above 0.
    x = tf.constant(np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -3.0]], np.float32))
    z = tf.constant(np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], np.float32))
    y = tf.constant(np.array([2, 0]))
    focal = tf.function(lambda a: wxent.sigmoid_focal_loss(x, z, alpha=a))
    prior = tf.function(lambda q: wxent.logit_adjusted_cross_entropy(x, y, class_prior=q))
    assert np.isfinite(focal(tf.constant([0.25, 1.0, 0.0])).numpy())
    assert np.isnan(focal(tf.constant([0.25, 1.0 + 1e-6, 0.5])).numpy())
    assert np.isfinite(prior(tf.constant([0.2, 0.3, 0.5])).numpy())
    assert np.isnan(prior(tf.constant([0.2, 0.0, 0.8])).numpy())


@pytest.mark.parametrize("taped", [False, True], ids=["loss", "taped"])
@pytest.mark.parametrize("mode", MODES)
def test_full_smoothing_at_infinite_logits_matches_generic(monkeypatch, ran, mode, taped):
    # label_smoothing=1 gives the target's term weight 0, also where it is inf (a target
    # at -inf, or below a +inf that the limits keep): 0 * inf was NaN in the rule.
    inf = math.inf
    x = np.array([[inf, 0.0, 1.0], [0.0, inf, 1.0], [-inf, 0.0, 2.0], [0.3, -1.2, 2.0]], np.float32)
    y = tf.constant([0, 0, 0, 1])
    costs = tf.constant(1.0 - np.eye(3, dtype=np.float32))

    def f(a: Any) -> Any:
        return wxent.cost_sensitive_cross_entropy(
            a, y, costs, cost_weight=0.5, label_smoothing=1.0, reduction="none"
        )

    def run() -> tuple[np.ndarray, np.ndarray]:
        if taped:
            return _value_and_grad(f, x, mode)
        step = tf.function(f, autograph=False) if mode == "function" else f
        return step(tf.constant(x)).numpy(), np.zeros_like(x)

    value, grad = run()
    assert "fast" in ran
    want_value, want_grad = _generic(run, monkeypatch)
    assert not np.isnan(value).any(), value
    assert_close(value, want_value, rtol=1e-6, atol=1e-6)
    assert_close(grad, want_grad, rtol=1e-6, atol=1e-6)
