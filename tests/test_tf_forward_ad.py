"""TensorFlow forward mode (``tf.autodiff.ForwardAccumulator``) through every loss.

An accumulator opened inside a traced function derives its JVP of a custom gradient from
the backward function; the focal rules gave 0 there (and the float64 softmax focal rule a
TypeError). Every loss must give reverse mode's directional derivative, eagerly, with the
accumulator inside or outside ``tf.function``, whichever input carries the tangent
(logits, probability labels, weights), and the forward-over-reverse Hessian-vector
product must equal the tape-of-tape one. JAX's ``jax.jvp`` is held to the same values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf

import wxent
from conftest import assert_close

Loss = Callable[[dict[str, Any]], Any]
CASES: list[tuple[str, Loss, str]] = [
    (
        "softmax_int",
        lambda d: wxent.softmax_cross_entropy(d["x"], d["y"], label_smoothing=0.1),
        "x",
    ),
    ("softmax_prob", lambda d: wxent.softmax_cross_entropy(d["x"], d["t"]), "t"),
    ("sigmoid", lambda d: wxent.sigmoid_cross_entropy(d["x"], d["z"], pos_weight=d["q"]), "x"),
    (
        "sigmoid_weights",
        lambda d: wxent.sigmoid_cross_entropy(
            d["x"], d["z"], pos_weight=d["q"], reduction="weighted_mean"
        ),
        "q",
    ),
    ("sigmoid_focal", lambda d: wxent.sigmoid_focal_loss(d["x"], d["z"]), "x"),
    ("sigmoid_focal_labels", lambda d: wxent.sigmoid_focal_loss(d["x"], d["t"], alpha=0.3), "t"),
    ("asymmetric", lambda d: wxent.asymmetric_loss(d["x"], d["z"], pos_weight=d["q"]), "x"),
    ("asymmetric_weights", lambda d: wxent.asymmetric_loss(d["x"], d["z"], pos_weight=d["q"]), "q"),
    ("softmax_focal", lambda d: wxent.softmax_focal_loss(d["x"], d["y"]), "x"),
    (
        "softmax_focal_smoothed",
        lambda d: wxent.softmax_focal_loss(d["x"], d["y"], label_smoothing=0.1),
        "x",
    ),
    ("softmax_focal_prob", lambda d: wxent.softmax_focal_loss(d["x"], d["t"]), "t"),
    ("expected_cost", lambda d: wxent.expected_cost_loss(d["x"], d["y"], d["c"]), "x"),
    (
        "cost_sensitive",
        lambda d: wxent.cost_sensitive_cross_entropy(
            d["x"], d["y"], d["c"], cost_weight=0.7, label_smoothing=0.1
        ),
        "x",
    ),
]


def _data(dtype: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(5)
    t = rng.dirichlet(np.ones(5), size=6)
    data = {
        "x": 2 * rng.normal(size=(6, 5)),
        "t": t,
        "y": np.array([0, 1, 2, 3, 4, 1]),
        "z": (t > 0.2) * 1.0,
        "q": rng.uniform(0.5, 2.0, 5),
        "c": rng.uniform(0.0, 3.0, (5, 5)) * (1.0 - np.eye(5)),
    }
    data = {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in data.items()}
    tangents = {k: rng.normal(size=v.shape).astype(dtype) for k, v in data.items()}
    tangents["t"] -= tangents["t"].mean(axis=1, keepdims=True)  # rows keep summing to 1
    return data, tangents


def _tf(data):
    return {k: tf.constant(v) for k, v in data.items()}


def _reverse(loss, data, name, tangent):
    """``<grad, v>`` and the Hessian-vector product by tape-of-tape."""
    d = _tf(data)
    v = tf.constant(tangent)
    with tf.GradientTape() as outer:
        outer.watch(d[name])
        with tf.GradientTape() as inner:
            inner.watch(d[name])
            value = loss(d)
        grad = inner.gradient(value, d[name])
        along = tf.reduce_sum(grad * v)
    hvp = outer.gradient(along, d[name], unconnected_gradients="zero")
    return along.numpy(), hvp.numpy()


def _forward(loss, data, name, tangent, mode):
    """The accumulator's JVP and the forward-over-reverse HVP."""
    d = _tf(data)
    v = tf.constant(tangent)

    def jvp(primal):
        with tf.autodiff.ForwardAccumulator(primal, v) as acc:
            value = loss({**d, name: primal})
        return acc.jvp(value)

    def hvp(primal):
        with tf.autodiff.ForwardAccumulator(primal, v) as acc:
            with tf.GradientTape() as tape:
                tape.watch(primal)
                value = loss({**d, name: primal})
            grad = tape.gradient(value, primal)
        return acc.jvp(grad, unconnected_gradients="zero")

    if mode == "inside":
        jvp, hvp = tf.function(jvp), tf.function(hvp)
        return jvp(d[name]).numpy(), hvp(d[name]).numpy()
    if mode == "outside":  # the accumulator around a traced loss
        traced = tf.function(loss)
        with tf.autodiff.ForwardAccumulator(d[name], v) as acc:
            value = traced(dict(d))
        with tf.autodiff.ForwardAccumulator(d[name], v) as acc2:
            with tf.GradientTape() as tape:
                tape.watch(d[name])
                inner = traced(dict(d))
            grad = tape.gradient(inner, d[name])
        return acc.jvp(value).numpy(), acc2.jvp(grad, unconnected_gradients="zero").numpy()
    return jvp(d[name]).numpy(), hvp(d[name]).numpy()


# An accumulator around a traced call (outside) differentiates the traced rules' gradient
# functions as eager ones: one tangent carrier (the logits) per loss stands for all there.
RUNS = [
    pytest.param(case, loss, name, mode, dtype, id=f"{case}-{mode}-{dtype}")
    for case, loss, name in CASES
    for mode, dtype in [("eager", "float64"), ("inside", "float32")]
    + ([("outside", "float64")] if name == "x" else [])
]


@pytest.mark.parametrize(("case", "loss", "name", "mode", "dtype"), RUNS)
def test_tf_forward_mode_equals_reverse_mode(case, loss, name, mode, dtype):
    data, tangents = _data(dtype)
    along, hvp = _reverse(loss, data, name, tangents[name])
    got_along, got_hvp = _forward(loss, data, name, tangents[name], mode)
    rtol = 1e-9 if dtype == "float64" else 2e-4
    assert got_along.dtype == along.dtype
    assert_close(got_along, along, rtol=rtol, atol=rtol)
    assert_close(got_hvp, hvp, rtol=rtol, atol=rtol)


@pytest.mark.parametrize(("case", "loss", "name"), CASES, ids=[c[0] for c in CASES])
def test_jax_jvp_equals_the_same_directional_derivative(case, loss, name):
    data, tangents = _data("float64")  # the reference in float64 (TensorFlow's reverse mode)
    along, _ = _reverse(loss, data, name, tangents[name])
    d = {
        k: jnp.asarray(v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in data.items()
    }
    direction = jnp.asarray(tangents[name].astype(np.float32))
    _, got = jax.jvp(lambda a: loss({**d, name: a}), (d[name],), (direction,))
    assert_close(np.asarray(got), along, rtol=2e-4, atol=2e-5)  # JAX in float32


@pytest.mark.parametrize(("case", "loss", "name"), CASES, ids=[c[0] for c in CASES])
def test_eager_accumulator_beside_a_tape_gives_the_loss_tangent(case, loss, name):
    # A training step's tape and an accumulator together, eagerly: the loss's tangent is
    # the directional derivative (a custom gradient under both used to leave it None).
    data, tangents = _data("float64")
    along, _ = _reverse(loss, data, name, tangents[name])
    d = _tf(data)
    with tf.autodiff.ForwardAccumulator(d[name], tf.constant(tangents[name])) as acc:
        with tf.GradientTape() as tape:
            tape.watch(d[name])
            value = loss(d)
        grad = tape.gradient(value, d[name])
    assert grad is not None
    tangent = acc.jvp(value)
    assert tangent is not None
    assert_close(tangent.numpy(), along, rtol=1e-9, atol=1e-9)


# Infinite logits: the tangent is reverse mode's directional derivative, finite, also
# where the loss is infinite (TensorFlow's forward mode gave a product of an infinite
# loss and a weight, a label or a number, and its division, a NaN tangent: the factor's
# zero tangent times inf). Row 0 of the sigmoid logits holds both costly and free
# infinite logits; the softmax rows hold +inf off and on the target, -inf on and off it.
def _infinite_data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    inf = np.inf
    xs = rng.normal(size=(4, 4))
    xs[0] = [inf, -inf, inf, -inf]
    zs = (rng.uniform(size=(4, 4)) > 0.5) * 1.0
    zs[0] = [0.0, 1.0, 1.0, 0.0]
    zi = zs.copy()
    zi[0, 0] = zi[2, 1] = -1.0  # ignored, one at an infinite logit
    xm = rng.normal(size=(5, 4))
    xm[0, 2] = xm[3, 3] = inf
    xm[1, 1] = xm[2, 0] = -inf
    ym = np.array([0, 1, 2, 3, 1])
    tm = rng.dirichlet(np.ones(4), size=5)
    tm[2] = [0.0, 0.5, 0.25, 0.25]
    xf = rng.normal(size=(5, 4))  # finite logits; labels with zeros carry the tangent
    tz = tm.copy()
    tz[1] = [0.5, 0.0, 0.5, 0.0]
    zz = rng.uniform(size=(5, 4))
    zz[1] = [0.0, 1.0, 0.0, 0.5]
    return {
        "xs": xs, "zs": zs, "zi": zi, "xm": xm, "ym": ym, "yi": np.array([0, -1, 2, 3, -1]),
        "tm": tm, "xf": xf, "tz": tz, "zz": zz, "q": rng.uniform(0.5, 2.0, 4),
        "r": rng.uniform(0.5, 2.0, 4), "w": rng.uniform(0.5, 2.0, 4),
        "s": rng.uniform(0.5, 2.0, 5), "p": rng.dirichlet(np.ones(4)),
        "c": rng.uniform(0.5, 3.0, (4, 4)) * (1.0 - np.eye(4)),
    }  # fmt: skip


INFINITE: list[tuple[str, Loss, str, int | None]] = [  # (case, loss, carrier, class axis)
    (
        "sigmoid_smoothing_weights",
        lambda d: wxent.sigmoid_cross_entropy(
            d["xs"], d["zs"], pos_weight=d["q"], sample_weight=d["s"][:4], label_smoothing=0.1
        ),
        "xs",
        None,
    ),
    (
        "sigmoid_ignore_weighted_mean",
        lambda d: wxent.sigmoid_cross_entropy(
            d["xs"], d["zi"], neg_weight=d["r"], ignore_label=-1.0, reduction="weighted_mean"
        ),
        "xs",
        None,
    ),
    (
        "sigmoid_none",
        lambda d: wxent.sigmoid_cross_entropy(d["xs"], d["zs"], reduction="none"),
        "xs",
        -1,
    ),
    (
        "sigmoid_focal_alpha_smoothing_none",
        lambda d: wxent.sigmoid_focal_loss(
            d["xs"], d["zs"], alpha=0.25, label_smoothing=0.1, reduction="none"
        ),
        "xs",
        -1,
    ),
    (
        "sigmoid_focal_gamma_half_sum",
        lambda d: wxent.sigmoid_focal_loss(d["xs"], d["zs"], gamma=0.5, reduction="sum"),
        "xs",
        None,
    ),
    (
        "asymmetric_pos_weight",
        lambda d: wxent.asymmetric_loss(d["xs"], d["zs"], pos_weight=d["q"]),
        "xs",
        None,
    ),
    (
        "asymmetric_wide_clip_weighted_mean",
        lambda d: wxent.asymmetric_loss(
            d["xs"],
            d["zs"],
            gamma_pos=1.0,
            clip=0.6,
            sample_weight=d["s"][:4],
            reduction="weighted_mean",
        ),
        "xs",
        None,
    ),
    (
        "softmax_smoothing",
        lambda d: wxent.softmax_cross_entropy(d["xm"], d["ym"], label_smoothing=0.1),
        "xm",
        None,
    ),
    (
        "softmax_weights_ignore_weighted_mean",
        lambda d: wxent.softmax_cross_entropy(
            d["xm"],
            d["yi"],
            class_weight=d["w"],
            sample_weight=d["s"],
            ignore_index=-1,
            label_smoothing=0.2,
            reduction="weighted_mean",
        ),
        "xm",
        None,
    ),
    (
        "softmax_probabilities_none",
        lambda d: wxent.softmax_cross_entropy(
            d["xm"], d["tm"], label_smoothing=0.1, reduction="none"
        ),
        "xm",
        1,
    ),
    (
        "softmax_focal_smoothing_class_weight",
        lambda d: wxent.softmax_focal_loss(
            d["xm"], d["ym"], class_weight=d["w"], label_smoothing=0.1
        ),
        "xm",
        None,
    ),
    (
        "softmax_focal_probabilities_sum",
        lambda d: wxent.softmax_focal_loss(d["xm"], d["tm"], gamma=0.5, reduction="sum"),
        "xm",
        None,
    ),
    (
        "logit_adjusted_smoothing",
        lambda d: wxent.logit_adjusted_cross_entropy(
            d["xm"], d["ym"], d["p"], tau=0.5, label_smoothing=0.1
        ),
        "xm",
        None,
    ),
    (
        "expected_cost_weighted_mean",
        lambda d: wxent.expected_cost_loss(
            d["xm"], d["ym"], d["c"], class_weight=d["w"], reduction="weighted_mean"
        ),
        "xm",
        None,
    ),
    (
        "cost_sensitive_smoothing_weights",
        lambda d: wxent.cost_sensitive_cross_entropy(
            d["xm"], d["ym"], d["c"], cost_weight=0.7, label_smoothing=0.1, sample_weight=d["s"]
        ),
        "xm",
        None,
    ),
    (
        "confusion_weighted_smoothing",
        lambda d: wxent.confusion_weighted_cross_entropy(
            d["xm"], d["ym"], d["c"], class_weight=d["w"], label_smoothing=0.1
        ),
        "xm",
        None,
    ),
    (
        "softmax_probabilities_zero_labels",
        lambda d: wxent.softmax_cross_entropy(d["xf"], d["tz"]),
        "tz",
        None,
    ),
    (
        "sigmoid_zero_labels",
        lambda d: wxent.sigmoid_cross_entropy(d["xf"], d["zz"], pos_weight=d["q"]),
        "zz",
        None,
    ),
]


def _infinite_reference(loss, d, name, v, axis):
    """Reverse mode's ``<grad, v>``: per element (sigmoid) or per row (softmax) for
    ``"none"`` (each loss depends on its own element or row only)."""
    with tf.GradientTape() as tape:
        tape.watch(d[name])
        value = loss(d)
    along = tape.gradient(value, d[name]) * v
    if axis is None:
        return tf.reduce_sum(along).numpy()
    return (along if axis == -1 else tf.reduce_sum(along, axis=axis)).numpy()


@pytest.mark.parametrize("mode", ["eager", "inside"])
@pytest.mark.parametrize(("case", "loss", "name", "axis"), INFINITE, ids=[c[0] for c in INFINITE])
def test_tf_forward_mode_at_infinite_logits(case, loss, name, axis, mode):
    data = _infinite_data()
    d = _tf(data)
    direction = np.random.default_rng(3).normal(size=data[name].shape)
    if name in ("tm", "tz"):
        direction -= direction.mean(axis=1, keepdims=True)  # rows keep summing to 1
    v = tf.constant(direction)
    expected = _infinite_reference(loss, d, name, v, axis)
    assert np.all(np.isfinite(expected))

    def jvp(primal):
        with tf.autodiff.ForwardAccumulator(primal, v) as acc:
            value = loss({**d, name: primal})
        return acc.jvp(value)

    got = (jvp if mode == "eager" else tf.function(jvp))(d[name]).numpy()
    assert np.all(np.isfinite(got)), got
    assert_close(got, expected, rtol=1e-9, atol=1e-12)
