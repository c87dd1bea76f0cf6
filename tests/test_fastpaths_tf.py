"""TensorFlow's rule for softmax CE with integer labels: the generic path's values, gradients,
second derivatives and limits, eagerly and in ``tf.function`` (XLA included)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import tensorflow as tf

import wxent
from conftest import assert_close
from reference import softmax_ce
from test_fastpaths import CASES, _data, _kw  # the same cases as the other fast paths
from wxent import _fastpaths
from wxent import _namespace as ns
from wxent._fastpaths import tf as tf_rule

MODES = ["eager", "function", "xla"]
# XLA compiles the rule's value, gradient and HVP once per shape: the 3-D shape (rows
# reshaped) stands for both there; eager and tf.function take both shapes.
SHAPE_MODES = [(s, m) for s in [(6, 9), (2, 3, 7)] for m in MODES if m != "xla" or len(s) == 3]


def _traced(f, mode):
    if mode == "eager":
        return f
    return tf.function(f, jit_compile=mode == "xla", reduce_retracing=True)


@pytest.fixture
def used(monkeypatch):
    """The number of calls that took the rule."""
    calls = []
    real = _fastpaths.tf_softmax_losses

    def counting(inp, eps):
        out = real(inp, eps)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(_fastpaths, "tf_softmax_losses", counting)
    return calls


def _value_grad_hvp(f, x, direction):
    """``f(x)``, its gradient and the Hessian-vector product along ``direction``."""
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            value = f(x)
            total = tf.reduce_sum(value)
        grad = inner.gradient(total, x)
        along = tf.reduce_sum(grad * direction)
    return value, grad, outer.gradient(along, x)


def _fast_and_generic(monkeypatch, run):
    fast = [t.numpy() for t in run()]
    monkeypatch.setattr(_fastpaths, "ENABLED", False)
    generic = [t.numpy() for t in run()]
    monkeypatch.setattr(_fastpaths, "ENABLED", True)
    return fast, generic


def runs(cases: list, xla_cases: tuple[int, ...], name: Any) -> list:
    """``(case, shape, mode)`` params: every case eagerly and traced on both layouts.

    Under XLA (seconds of compilation each) only the cases ``xla_cases`` (by index), chosen
    to take every option and reduction together. ``name(case)``: the case's id.
    """
    return [
        pytest.param(case, shape, mode, id=f"{name(case)}-{len(shape)}d-{mode}-{i}")
        for i, case in enumerate(cases)
        for shape, mode in SHAPE_MODES
        if mode != "xla" or i in xla_cases
    ]


# (XLA: every option and reduction but the plain mean)
@pytest.mark.parametrize(("case", "shape", "mode"), runs(CASES, (1, 3, 4), lambda c: "case"))
def test_tf_rule_matches_generic_path_and_float64(monkeypatch, used, case, shape, mode):
    x, y, cw, sw = _data(shape, seed=1)
    y = y if "ignore_index" in case else np.where(y < 0, 0, y)
    kw = _kw(case, cw, sw)
    direction = tf.constant(np.random.default_rng(2).normal(size=shape).astype(np.float32))

    def run():
        f = _traced(lambda a: wxent.softmax_cross_entropy(a, tf.constant(y), **kw), mode)
        return _value_grad_hvp(f, tf.constant(x), direction)

    fast, generic = _fast_and_generic(monkeypatch, run)
    assert used and all(used)
    for a, b in zip(fast, generic, strict=True):
        assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert_close(fast[0], softmax_ce(x.astype(np.float64), y, **kw), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_tf_rule_takes_the_limits_at_infinite_logits(monkeypatch, used, eps, mode):
    x, y, cw, _ = _data((6, 9), seed=3)
    y = np.where(y < 0, 0, y)
    x[0, (y[0] + 1) % 9] = np.inf  # +inf elsewhere than the target: loss inf
    x[2, y[2]] = x[2, (y[2] + 2) % 9] = np.inf  # the target among two +inf: log 2
    x[3] = -np.inf
    x[3, y[3]] = 0.0  # one finite logit, the target's
    x[4, y[4]] = -np.inf  # the target at -inf: loss inf
    kw = {"label_smoothing": eps, "class_weight": cw, "reduction": "none"}
    # smoothing also pays log p of the -inf logits: then only the rows without one are finite
    finite = [1, 2, 3, 5] if eps == 0 else [1, 5]
    infinite = sorted(set(range(6)) - set(finite))

    def run():
        f = _traced(lambda a: wxent.softmax_cross_entropy(a, tf.constant(y), **kw), mode)
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            value = f(xt)
            total = tf.reduce_sum(tf.gather(value, finite))
        return value, tape.gradient(total, xt)

    fast, generic = _fast_and_generic(monkeypatch, run)
    assert used and all(used)
    np.testing.assert_array_equal(np.isinf(fast[0]), np.isinf(generic[0]))
    assert_close(fast[0], generic[0], rtol=1e-6, atol=1e-6)
    assert np.isinf(fast[0][infinite]).all() and np.isfinite(fast[0][finite]).all()
    assert_close(fast[1], generic[1], rtol=1e-5, atol=1e-6)
    assert np.isfinite(fast[1]).all()


def _taped(call):
    """``call()`` while a ``tf.GradientTape`` records (where the rule runs)."""
    with tf.GradientTape():
        return call()


def test_tf_rule_with_unknown_leading_dimensions(used):
    x, y, cw, _ = _data((6, 9), seed=4)
    y = np.where(y < 0, 0, y)
    spec = [tf.TensorSpec([None, 9], tf.float32), tf.TensorSpec([None], tf.int64)]

    @tf.function(input_signature=spec)
    def f(a, b):
        with tf.GradientTape() as tape:
            tape.watch(a)
            loss = wxent.softmax_cross_entropy(a, b, class_weight=cw, label_smoothing=0.1)
        return loss, tape.gradient(loss, a)

    for n in (6, 2):
        expected = softmax_ce(x[:n], y[:n], class_weight=cw, label_smoothing=0.1)
        loss, grad = f(tf.constant(x[:n]), tf.constant(y[:n]))
        assert_close(loss, expected)
        assert grad.shape == (n, 9)
    assert used == [True]  # traced once, for every batch size


def test_tf_rule_keeps_the_errors_of_the_generic_path(used):
    x, y, *_ = _data((4, 5), seed=5)
    y = np.where(y < 0, 0, y)
    x[1, 2] = np.nan
    with pytest.raises(ValueError, match="logits"):
        _taped(lambda: wxent.softmax_cross_entropy(tf.constant(x), tf.constant(y)))
    assert used == [True]


def test_tf_rule_runs_only_where_a_tape_records(monkeypatch, used):
    x, y, cw, _ = _data((6, 9), seed=7)
    y = np.where(y < 0, 0, y)

    def loss(a):
        return wxent.softmax_cross_entropy(a, tf.constant(y), class_weight=cw)

    expected = softmax_ce(x, y, class_weight=cw)
    assert_close(loss(tf.constant(x)), expected)  # evaluation: no gradient is written
    assert used == [False]
    traced = tf.function(loss)
    assert_close(traced(tf.constant(x)), expected)  # traced without a tape ...
    assert not any(used)
    differentiated_later_matches_generic(monkeypatch, traced, loss, x)  # the generic graph


def differentiated_later_matches_generic(monkeypatch, traced, loss, x):
    """A function traced without a tape, differentiated later: value and gradient as the
    generic path's (fast paths off)."""
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        value = traced(xt)
    grad = tape.gradient(value, xt)
    monkeypatch.setattr(_fastpaths, "ENABLED", False)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        generic = loss(xt)
    assert_close(value, generic)
    assert_close(grad, tape.gradient(generic, xt), rtol=1e-5, atol=1e-7)


def test_tf_rule_layouts_and_dtypes(monkeypatch, used):
    x, y, *_ = _data((2, 4, 3), seed=6)
    y = np.where(y < 0, 0, y)
    _taped(
        lambda: wxent.softmax_cross_entropy(
            tf.constant(x), tf.constant(np.zeros((2, 3), np.int64)), class_axis=1
        )
    )
    assert not used  # classes not on the last axis: the generic path
    # 16-bit logits are computed in float32: the rule runs there, the result is float16
    half = tf.constant(x, dtype=tf.float16)
    fast, generic = _fast_and_generic(
        monkeypatch, lambda: [_taped(lambda: wxent.softmax_cross_entropy(half, tf.constant(y)))]
    )
    assert used[-1] is True and fast[0].dtype == np.float16
    assert_close(fast[0], generic[0], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("classes", [3, 4096])
def test_smoothing_term_at_any_offset_matches_float64(monkeypatch, used, mode, classes):
    # On CPUs, eagerly and in tf.function, the smoothing term comes from the plain row mean
    # while every |log-sum-exp| is at most 16 (a cond), from the mean of x - x_y beyond
    # and under XLA. Each row is its own batch, so that rows take both branches: float32
    # rounding of the shifted-logit float64 value either way (rows of nearly equal
    # logits are the worst case for the plain mean: the term is about log C).
    calls = []
    real = tf_rule._mean_above
    monkeypatch.setattr(tf_rule, "_mean_above", lambda *a: calls.append(1) or real(*a))
    rng = np.random.default_rng(9)
    rows = []
    for offset in [0.0, -15.9, 15.9, 16.1, -40.0, 1e4]:
        for spread in [1e-3, 1.0]:
            rows.append(offset + spread * rng.standard_normal(classes))
        rows.append(offset + 1e-3 * rng.standard_normal(classes))
        rows[-1][0] += 30.0  # one far above the rest: the term is large
    x = np.asarray(rows, np.float32)
    labels = np.arange(len(x)) % classes

    def loss(row, label):
        with tf.GradientTape() as tape:
            tape.watch(row)
            return wxent.softmax_cross_entropy(row, label, label_smoothing=0.3, reduction="none")

    f = _traced(loss, mode)
    got = [f(tf.constant(x[i : i + 1]), tf.constant(labels[i : i + 1])) for i in range(len(x))]
    got = np.concatenate([g.numpy() for g in got]).astype(np.float64)
    assert all(used) and calls
    z = x.astype(np.float64) - x.astype(np.float64).max(axis=1, keepdims=True)
    log_total = np.log(np.exp(z).sum(axis=1))
    picked = z[np.arange(len(x)), labels]
    want = 0.7 * (log_total - picked) + 0.3 * (log_total - z.mean(axis=1))
    np.testing.assert_allclose(got, want, rtol=2e-6)


def test_eager_tensorflow_cpu_tensors_are_on_the_host():
    assert ns.on_host(tf.constant([1.0]))
