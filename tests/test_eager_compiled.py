"""Eager JAX and TensorFlow sigmoid losses run compiled programs, traced once.

Eagerly every JAX or TensorFlow operation is a dispatch of its own; the sigmoid
cross-entropy's formulas, the value checks and the status word run as a few compiled
calls instead (``_fastpaths/focal_jax.py``, ``_jax_checks.py``, ``_fastpaths/tf_sigmoid.py``).
These tests pin that the compiled programs run, are not traced again call after call, and
give the generic path's values, limits, gradients and errors.
"""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf

import wxent
from conftest import assert_close
from wxent import _fastpaths, _jax_checks
from wxent._fastpaths import focal_jax, tf_sigmoid

INF = math.inf


def _data(n=6, c=5, seed=0):
    rng = np.random.default_rng(seed)
    x = (3 * rng.normal(size=(n, c))).astype(np.float32)
    x[0, 0], x[1, 1], x[2, 2], x[3, 3] = -INF, INF, 1e4, -1e4
    z = (rng.uniform(size=(n, c)) < 0.4).astype(np.float32)
    z[0, 0], z[1, 1] = 0.0, 1.0  # infinite logits on their labels' side: finite limits
    z[n - 1] = rng.uniform(size=c)  # soft labels
    q = rng.uniform(0.5, 3.0, c).astype(np.float32)
    return x, z, q


def _generic(monkeypatch, compute):
    with monkeypatch.context() as m:
        m.setattr(_fastpaths, "ENABLED", False)
        return compute()


# ----------------------------------------------------------------------------- JAX


@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize(
    "weights", [{}, {"pos_weight": "q"}, {"pos_weight": "q", "neg_weight": 2.0}]
)
def test_jax_rule_matches_the_generic_path_with_limits(monkeypatch, eps, weights):
    x, z, q = _data()
    kw = {k: (jnp.asarray(q) if v == "q" else v) for k, v in weights.items()}

    def f(a, b):
        return wxent.sigmoid_cross_entropy(a, b, label_smoothing=eps, reduction="none", **kw)

    def run():
        value = f(jnp.asarray(x), jnp.asarray(z))  # eager: the compiled rule
        grads = jax.jit(jax.grad(lambda a, b: jnp.sum(f(a, b)), argnums=(0, 1)))(
            jnp.asarray(x), jnp.asarray(z)
        )
        return (value, *grads)

    calls = []
    real = focal_jax.sigmoid_family
    monkeypatch.setattr(focal_jax, "sigmoid_family", lambda *a: calls.append(1) or real(*a))
    fast = run()
    assert len(calls) == 2  # eagerly and under jit(grad)
    generic = _generic(monkeypatch, run)
    assert len(calls) == 2  # the generic path takes no rule
    for a, b in zip(fast, generic, strict=True):  # (inf where both are: the limits)
        assert_close(a, b, rtol=2e-6, atol=2e-6)
    assert np.isfinite(np.asarray(fast[1])).all()  # the logits' gradient
    value = np.asarray(fast[0])
    # the limits at infinite logits on their labels' side: 0, or inf once smoothed
    assert (value[0, 0], value[1, 1]) == ((0.0, 0.0) if eps == 0 else (INF, INF))


def test_jax_rule_is_compiled_once_per_layout():
    x, z, q = _data()
    X, Z, Q = jnp.asarray(x), jnp.asarray(z), jnp.asarray(q)
    wxent.sigmoid_cross_entropy(X, Z).block_until_ready()
    wxent.sigmoid_cross_entropy(X, Z, pos_weight=Q).block_until_ready()
    size = focal_jax._sigmoid_jit._cache_size()
    checks = [f._cache_size() for f in (_jax_checks._outside(), _jax_checks._looks())]
    checks.append(_jax_checks._status()._cache_size())
    for _ in range(3):  # new arrays of the same shapes: no new program
        wxent.sigmoid_cross_entropy(X + 1.0, Z).block_until_ready()
        wxent.sigmoid_cross_entropy(X - 1.0, Z, pos_weight=Q * 2.0).block_until_ready()
    assert focal_jax._sigmoid_jit._cache_size() == size
    again = [f._cache_size() for f in (_jax_checks._outside(), _jax_checks._looks())]
    assert [*again, _jax_checks._status()._cache_size()] == checks


def test_jax_eager_call_runs_no_full_size_operation_outside_the_rule():
    """Under ``make_jaxpr`` (a trace of the eager call's operations) the losses are one
    compiled call: no exp, log1p or select of the logits' shape runs outside it."""
    x, z, q = _data(8, 7)
    jaxpr = jax.make_jaxpr(
        lambda a, b: wxent.sigmoid_cross_entropy(a, b, pos_weight=jnp.asarray(q), validate=False)
    )(jnp.asarray(x), jnp.asarray(z)).jaxpr
    top = [e.primitive.name for e in jaxpr.eqns]
    assert "exp" not in top and "log1p" not in top and "select_n" not in top, top
    assert any(name in ("pjit", "jit") for name in top), top


def test_jax_checks_keep_their_errors_and_warning():
    x, z, _ = _data()
    bad = z.copy()
    bad[2, 3] = 1.5
    with pytest.raises(ValueError, match="labels"):
        wxent.sigmoid_cross_entropy(jnp.asarray(x), jnp.asarray(bad))
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match="labels"):
        wxent.sigmoid_cross_entropy(jnp.asarray(x), jnp.asarray(bad))
    nan_logits = x.copy()
    nan_logits[4, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        wxent.sigmoid_cross_entropy(jnp.asarray(nan_logits), jnp.asarray(z))
    with pytest.raises(ValueError, match="pos_weight"):
        wxent.sigmoid_cross_entropy(jnp.asarray(x), jnp.asarray(z), pos_weight=jnp.full(5, -1.0))
    probabilities = np.random.default_rng(1).uniform(size=(64, 8)).astype(np.float32)
    with pytest.warns(wxent.LogitsWarning):
        wxent.sigmoid_cross_entropy(jnp.asarray(probabilities), jnp.asarray(probabilities > 0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wxent.sigmoid_cross_entropy(
            jnp.asarray(probabilities - 0.5), jnp.asarray(probabilities > 0.5)
        )


def test_jax_outside_flag_keeps_the_type_of_its_bounds():
    # 0 and 0.0 hash alike: the bounds are static arguments with their type.
    ints = jnp.asarray([0, 3], dtype=jnp.int32)
    assert not bool(_jax_checks.outside_flag(ints, 0, 3))
    assert bool(_jax_checks.outside_flag(ints, 0.0, 2.5))
    assert bool(_jax_checks.outside_flag(jnp.asarray([0.5, np.nan]), 0, 1))


# ----------------------------------------------------------------------------- TensorFlow


def test_tf_eager_loss_is_one_traced_function_and_equals_the_eager_operations():
    x, z, q = _data()
    values = tf_sigmoid.compiled()[0]
    kw = {"pos_weight": q, "label_smoothing": 0.1, "reduction": "none"}
    first = wxent.sigmoid_cross_entropy(tf.constant(x), tf.constant(z), **kw)
    traces = values.experimental_get_tracing_count()
    for shift in (1.0, 2.0, 3.0):  # new values, same shapes: no new trace
        wxent.sigmoid_cross_entropy(tf.constant(x + shift), tf.constant(z), **kw)
    assert values.experimental_get_tracing_count() == traces
    # the same operations run eagerly, one by one: the same values bit for bit
    c1, c2 = tf_sigmoid._coefficients(tf.constant(z), tf.constant(q), None, 0.1)
    np.testing.assert_array_equal(first.numpy(), tf_sigmoid._loss(tf.constant(x), c1, c2).numpy())
    assert np.isinf(first.numpy()[0, 0])  # -inf with a smoothed label 0.05: the limit inf


def test_tf_eager_calls_of_new_shapes_reuse_one_relaxed_trace():
    values = tf_sigmoid.compiled()[0]
    rng = np.random.default_rng(3)
    before = values.experimental_get_tracing_count()
    for n in (3, 4, 5, 6, 7):
        x = tf.constant(rng.normal(size=(n, 9)).astype(np.float32))
        z = tf.constant((rng.uniform(size=(n, 9)) < 0.5).astype(np.float32))
        wxent.sigmoid_cross_entropy(x, z, neg_weight=0.5)
    assert values.experimental_get_tracing_count() - before <= 2


def test_tf_taped_call_matches_the_generic_path(monkeypatch):
    x, z, q = _data()

    def run():
        a = tf.constant(x)
        with tf.GradientTape() as outer:
            outer.watch(a)
            with tf.GradientTape() as inner:
                inner.watch(a)
                loss = wxent.sigmoid_cross_entropy(a, tf.constant(z), pos_weight=q)
            g = inner.gradient(loss, a)
            gv = tf.reduce_sum(g * tf.ones_like(g))
        return loss, g, outer.gradient(gv, a)

    fast = run()
    generic = _generic(monkeypatch, run)
    for a, b in zip(fast, generic, strict=True):
        assert np.isfinite(a.numpy()).all()
        assert_close(a, b, rtol=2e-6, atol=2e-6)


def _tf_traces() -> int:
    """Traces of every compiled eager TensorFlow loss so far."""
    from wxent import _tf_checks
    from wxent._fastpaths import focal_tf

    functions = [*focal_tf.compiled().values(), *tf_sigmoid.compiled()]
    counts = sum(f.experimental_get_tracing_count() for f in functions)
    return counts + _tf_checks._COUNTS["softmax_losses"]


def _tf_smoothed_losses():
    _, z, q = _data()
    y = tf.constant([0, 1, 2, 3, 4, 0])
    p = tf.nn.softmax(tf.constant(z))
    return {
        "softmax_cross_entropy": lambda a, e: wxent.softmax_cross_entropy(
            a, y, label_smoothing=e, reduction="none"
        ),
        "softmax_cross_entropy probabilities": lambda a, e: wxent.softmax_cross_entropy(
            a, p, label_smoothing=e, reduction="none"
        ),
        "sigmoid_cross_entropy": lambda a, e: wxent.sigmoid_cross_entropy(
            a, tf.constant(z), pos_weight=tf.constant(q), label_smoothing=e, reduction="none"
        ),
        "sigmoid_focal_loss": lambda a, e: wxent.sigmoid_focal_loss(
            a, tf.constant(z), label_smoothing=e, reduction="none"
        ),
        "asymmetric_loss": lambda a, e: wxent.asymmetric_loss(
            a, tf.constant(z), label_smoothing=e, reduction="none"
        ),
        "softmax_focal_loss": lambda a, e: wxent.softmax_focal_loss(
            a, y, gamma=2.0, label_smoothing=e, reduction="none"
        ),
    }


def _tf_option_schedules():
    _, z, _ = _data()
    y = tf.constant([0, 1, 2, 3, 4, 0])
    z = tf.constant(z)
    return {
        "softmax_focal_loss gamma": (
            lambda a, g: wxent.softmax_focal_loss(a, y, gamma=g, reduction="none"),
            (2.0, 1.5, 0.7, 3.2),
        ),
        "softmax_focal_loss gamma, smoothing": (
            lambda a, g: wxent.softmax_focal_loss(
                a, y, gamma=g, label_smoothing=0.1, reduction="none"
            ),
            (2.0, 1.5, 0.7),
        ),
        "sigmoid_focal_loss gamma": (
            lambda a, g: wxent.sigmoid_focal_loss(a, z, gamma=g, alpha=0.25, reduction="none"),
            (2.0, 1.5, 0.7, 3.2),
        ),
        "asymmetric_loss gamma_neg": (
            lambda a, g: wxent.asymmetric_loss(a, z, gamma_neg=g, reduction="none"),
            (4.0, 3.0, 2.5),
        ),
        "asymmetric_loss clip": (
            lambda a, c: wxent.asymmetric_loss(a, z, clip=c, reduction="none"),
            (0.05, 0.1, 0.3),
        ),
        "asymmetric_loss high clip": (
            lambda a, c: wxent.asymmetric_loss(a, z, clip=c, reduction="none"),
            (0.6, 0.75, 0.999),
        ),
    }


@pytest.mark.parametrize("tape", [False, True])
@pytest.mark.parametrize("name", list(_tf_option_schedules()))
def test_tf_a_focal_option_schedule_traces_nothing_new(monkeypatch, name, tape):
    """A new gamma or clip per eager call runs the functions already traced."""
    loss, values = _tf_option_schedules()[name]
    x = tf.constant(np.nan_to_num(_data()[0], posinf=30.0, neginf=-30.0))

    def run(v):
        if not tape:
            return loss(x, v), None
        with tf.GradientTape() as g:
            g.watch(x)
            out = loss(x, v)
        return out, g.gradient(out, x)

    from wxent._fastpaths import focal_tf

    run(values[0])
    before = _tf_traces()
    for v in values[1:]:
        got = run(v)
        expected = _generic(monkeypatch, lambda v=v: run(v))
        with monkeypatch.context() as m:  # the same rules, operation by operation
            m.setattr(focal_tf, "MAX_KEYS", 0)
            m.setattr(focal_tf, "_KEYS", {})
            eager = run(v)
        for a, b, c in zip(got, expected, eager, strict=True):
            if a is not None:
                assert np.isfinite(a.numpy()).all()
                assert_close(a.numpy(), b.numpy(), rtol=2e-6, atol=1e-7)
                # (a graph may order a product differently from eager: an ulp apart)
                assert_close(a.numpy(), c.numpy(), rtol=1e-6, atol=1e-8)
    assert _tf_traces() == before, f"{name}: a new value traced again"


@pytest.mark.parametrize("tape", [False, True])
@pytest.mark.parametrize("name", list(_tf_smoothed_losses()))
def test_tf_a_label_smoothing_schedule_traces_nothing_new(monkeypatch, name, tape):
    """A new smoothing value per eager call (a schedule) runs the functions already traced."""
    loss = _tf_smoothed_losses()[name]
    x = tf.constant(np.nan_to_num(_data()[0], posinf=30.0, neginf=-30.0))

    def run(eps):
        if not tape:
            return loss(x, eps), None
        with tf.GradientTape() as g:
            g.watch(x)
            out = loss(x, eps)
        return out, g.gradient(out, x)

    run(0.05)  # the first smoothed call traces
    before = _tf_traces()
    for eps in (0.1, 0.35, 0.8):
        got = run(eps)
        expected = _generic(monkeypatch, lambda eps=eps: run(eps))
        for a, b in zip(got, expected, strict=True):
            if a is not None:
                assert np.isfinite(a.numpy()).all()
                assert_close(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)
    assert _tf_traces() == before, f"{name}: a new label_smoothing value traced again"
