"""TensorFlow's rule for sigmoid CE: the generic path's values, gradients (of the logits,
labels and weights), second derivatives and limits, eagerly and in ``tf.function`` (XLA
included), with unknown dimensions and 16-bit logits."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import wxent
from conftest import assert_close
from reference import sigmoid_ce
from test_fastpaths_tf import (
    MODES,
    _fast_and_generic,
    _taped,
    _traced,
    _value_grad_hvp,
    differentiated_later_matches_generic,
    runs,
)
from wxent import _fastpaths

CASES = [
    {"pos_weight": "q"},
    {"pos_weight": "q", "neg_weight": "r", "reduction": "sum"},
    {"pos_weight": "q", "sample_weight": "s", "reduction": "weighted_mean"},
    {"neg_weight": "r", "sample_weight": "s", "label_smoothing": 0.2, "reduction": "none"},
    {"pos_weight": "q", "ignore_label": -1, "reduction": "mean"},
    {"pos_weight": 2.5, "ignore_label": -1, "label_smoothing": 0.1, "reduction": "weighted_mean"},
    {"sample_weight": "s", "ignore_label": -1, "reduction": "sum"},
    {},
]


@pytest.fixture
def used(monkeypatch):
    """Whether each call took the rule."""
    calls = []
    real = _fastpaths._tf_sigmoid_values

    def counting(*args):
        out = real(*args)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(_fastpaths, "_tf_sigmoid_values", counting)
    return calls


def _data(shape, seed, soft=False):
    rng = np.random.default_rng(seed)
    x = (3 * rng.normal(size=shape)).astype(np.float32)
    z = (rng.uniform(size=shape) < 0.4).astype(np.float32)
    if soft:
        z = rng.uniform(size=shape).astype(np.float32)
    z.reshape(-1)[[1, 5]] = -1.0  # ignored where ignore_label=-1
    c = shape[-1]
    weights = {
        "q": rng.uniform(0.5, 4.0, c),
        "r": rng.uniform(0.2, 2.0, c),
        "s": np.where(np.arange(shape[0]) == 1, 0.0, rng.uniform(0.1, 2.0, shape[0])),
    }
    per_sample = weights["s"].reshape((-1,) + (1,) * (len(shape) - 2))
    weights["s"] = np.broadcast_to(per_sample, shape[:-1])
    return x, z, weights


def _kw(case, weights):
    return {k: weights[v] if v in ("q", "r", "s") else v for k, v in case.items()}


def _labels(z, case):
    return z if "ignore_label" in case else np.where(z < 0, 0.0, z).astype(np.float32)


# (XLA: cases 1, 3, 4 and 5 take every option and reduction together)
@pytest.mark.parametrize(
    ("case", "shape", "mode"), runs(CASES, (1, 3, 4, 5), lambda c: "-".join(c) or "plain")
)
def test_tf_sigmoid_rule_matches_generic_path_and_float64(monkeypatch, used, case, shape, mode):
    x, z, weights = _data(shape, seed=1)
    z = _labels(z, case)
    kw = _kw(case, weights)
    direction = tf.constant(np.random.default_rng(2).normal(size=shape).astype(np.float32))

    def run():
        f = _traced(lambda a: wxent.sigmoid_cross_entropy(a, tf.constant(z), **kw), mode)
        return _value_grad_hvp(f, tf.constant(x), direction)

    fast, generic = _fast_and_generic(monkeypatch, run)
    assert used and all(used)
    for a, b in zip(fast, generic, strict=True):
        assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert_close(fast[0], sigmoid_ce(x, z, **kw), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_tf_sigmoid_rule_takes_the_limits_at_infinite_logits(monkeypatch, used, eps, mode):
    x, z, weights = _data((4, 6), seed=3)
    z = np.where(z < 0, 0.0, z).astype(np.float32)
    x[0, :4] = [-np.inf, np.inf, np.inf, -np.inf]
    z[0, :4] = [1.0, 0.0, 1.0, 0.0]  # inf, inf, and (eps = 0) the limits 0, 0
    x[1, 0], z[1, 0] = 0.0, 1.0  # the gradient at 0: (c2 - c1) / 2
    kw = {"pos_weight": weights["q"], "neg_weight": weights["r"], "label_smoothing": eps}
    kw["reduction"] = "none"
    direction = tf.constant(np.random.default_rng(4).normal(size=x.shape).astype(np.float32))

    def run():
        f = _traced(lambda a: wxent.sigmoid_cross_entropy(a, tf.constant(z), **kw), mode)
        return _value_grad_hvp(f, tf.constant(x), direction)

    fast, generic = _fast_and_generic(monkeypatch, run)
    assert used and all(used)
    infinite = np.isinf(fast[0])
    assert infinite[0, :2].all() and infinite.sum() == (2 if eps == 0 else 4)
    assert eps or (fast[0][0, 2:4] == 0).all()
    assert_close(fast[0], generic[0], rtol=1e-6, atol=0)
    assert_close(fast[0], sigmoid_ce(x, z, **kw), rtol=1e-5, atol=1e-6)
    for a, b in zip(fast[1:], generic[1:], strict=True):
        assert np.isfinite(a).all()
        assert_close(a, b, rtol=1e-5, atol=1e-6)
    # d/dx = c2 * sigmoid(x) - c1 * sigmoid(-x): -c1 at -inf, c2 at +inf
    t = z * (1 - eps) + eps / 2
    c1, c2 = weights["q"] * t, weights["r"] * (1 - t)
    assert_close(fast[1][0, :4], [-c1[0, 0], c2[0, 1], c2[0, 2], -c1[0, 3]], rtol=1e-6)
    assert_close(fast[1][1, 0], 0.5 * c2[1, 0] - 0.5 * c1[1, 0], rtol=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["ignored", "sample_weight", "zero_weights"])
def test_tf_sigmoid_rule_nan_logits_where_nothing_counts(used, kind, mode):
    x, z, weights = _data((5, 4), seed=5)
    z = np.where(z < 0, 0.0, z).astype(np.float32)
    bad = np.zeros(x.shape, bool)
    kw: dict = {"reduction": "sum"}
    if kind == "ignored":
        bad[[0, 3], [1, 2]] = True
        z[bad] = -1.0
        kw["ignore_label"] = -1
    elif kind == "sample_weight":
        bad[1, [0, 2]] = True  # sample 1 weighs 0
        kw["sample_weight"] = weights["s"]
    else:  # positives with pos_weight 0, negatives with neg_weight 0
        z[:, 0], z[:, 1] = 1.0, 0.0
        bad[2, [0, 1]] = True
        kw["pos_weight"], kw["neg_weight"] = [0.0, 1.0, 1.0, 2.0], [1.0, 0.0, 3.0, 1.0]
    f = _traced(lambda a: wxent.sigmoid_cross_entropy(a, tf.constant(z), **kw), mode)
    direction = tf.ones(x.shape)
    nan_x = np.where(bad, np.nan, x).astype(np.float32)
    value, grad, hvp = _value_grad_hvp(f, tf.constant(nan_x), direction)
    ref = _value_grad_hvp(f, tf.constant(np.where(bad, 0.0, x).astype(np.float32)), direction)
    assert used and all(used)
    assert_close(value, ref[0], rtol=1e-6, atol=0)
    assert (grad.numpy()[bad] == 0).all()
    assert_close(grad.numpy()[~bad], ref[1].numpy()[~bad], rtol=1e-6, atol=1e-7)
    assert_close(hvp.numpy()[~bad], ref[2].numpy()[~bad], rtol=1e-5, atol=1e-7)
    assert_close(value, sigmoid_ce(np.where(bad, 0.0, x), z, **kw), rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_tf_sigmoid_rule_gradients_of_labels_and_weights(monkeypatch, used, mode):
    x, z, weights = _data((6, 5), seed=6, soft=True)
    z = np.where(z < 0, 0.0, z).astype(np.float32)
    z[0, 0], z[0, 1] = 0.0, 1.0  # the coefficients' gradient at a coefficient of 0
    x[0, 0], x[0, 1] = -np.inf, np.inf

    def run():
        args = [tf.constant(v.astype(np.float32)) for v in (z, *weights.values())]

        def loss(a, lab, q, r, s):
            return wxent.sigmoid_cross_entropy(a, lab, pos_weight=q, neg_weight=r, sample_weight=s)

        f = _traced(loss, mode)
        with tf.GradientTape() as tape:
            tape.watch(args)
            value = f(tf.constant(x), *args)
        return [value, *tape.gradient(value, args)]

    fast, generic = _fast_and_generic(monkeypatch, run)
    assert used and all(used)
    for a, b in zip(fast, generic, strict=True):
        assert np.isfinite(a).all()
        assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_tf_sigmoid_rule_runs_without_a_tape_and_is_differentiated_later(monkeypatch, used):
    x, z, weights = _data((6, 9), seed=7)
    z = np.where(z < 0, 0.0, z).astype(np.float32)

    def loss(a):
        return wxent.sigmoid_cross_entropy(a, tf.constant(z), pos_weight=weights["q"])

    expected = sigmoid_ce(x, z, pos_weight=weights["q"])
    traced = tf.function(loss)
    assert_close(loss(tf.constant(x)), expected)  # the loss alone: the rule writes no gradient
    assert_close(traced(tf.constant(x)), expected)  # traced without a tape ...
    assert used == [True, True]
    differentiated_later_matches_generic(monkeypatch, traced, loss, x)  # ... differentiated later


@pytest.mark.parametrize("classes", [9, None])
def test_tf_sigmoid_rule_with_unknown_dimensions(used, classes):
    x, z, weights = _data((4, 3, 9), seed=8)
    spec = [tf.TensorSpec([None, None, classes], tf.float32)] * 2
    kw = {"pos_weight": weights["q"], "ignore_label": -1, "label_smoothing": 0.1}

    @tf.function(input_signature=spec)
    def f(a, b):
        with tf.GradientTape() as tape:
            tape.watch(a)
            loss = wxent.sigmoid_cross_entropy(a, b, **kw)
        return loss, tape.gradient(loss, a)

    for n, steps in ((4, 3), (2, 1)):
        loss, grad = f(tf.constant(x[:n, :steps]), tf.constant(z[:n, :steps]))
        assert_close(loss, sigmoid_ce(x[:n, :steps], z[:n, :steps], **kw))
        assert grad.shape == (n, steps, 9)
    assert used == [True]  # traced once, for every shape


def test_tf_sigmoid_rule_keeps_the_errors_of_the_generic_path(used):
    x, z, _ = _data((4, 5), seed=9)
    z = np.where(z < 0, 0.0, z).astype(np.float32)
    x[1, 2] = np.nan
    with pytest.raises(ValueError, match="logits"):
        _taped(lambda: wxent.sigmoid_cross_entropy(tf.constant(x), tf.constant(z)))
    z[0, 0] = 2.0
    with pytest.raises(ValueError, match="labels"):
        _taped(lambda: wxent.sigmoid_cross_entropy(tf.constant(x * 0), tf.constant(z)))
    with pytest.raises(ValueError, match="pos_weight"):
        wxent.sigmoid_cross_entropy(tf.constant(x * 0), tf.constant(z), pos_weight=[-1.0] * 5)
    assert used == [True, True]


def test_tf_sigmoid_rule_layouts_and_dtypes(monkeypatch, used):
    x, z, _ = _data((2, 5, 3), seed=10)
    z = np.where(z < 0, 0.0, z).astype(np.float32)
    kw = {"pos_weight": np.linspace(0.5, 3.0, 5), "class_axis": 1}

    def run(dtype):
        return [
            _taped(
                lambda: wxent.sigmoid_cross_entropy(
                    tf.constant(x, dtype=dtype), tf.constant(z), **kw
                )
            )
        ]

    fast, generic = _fast_and_generic(monkeypatch, lambda: run(tf.float32))
    assert used == [True]  # classes on another axis: the rule as well
    assert_close(fast[0], generic[0], rtol=1e-6, atol=0)
    assert_close(fast[0], sigmoid_ce(x, z, **kw), rtol=1e-5)
    # 16-bit logits are computed in float32: the result is float16
    fast, generic = _fast_and_generic(monkeypatch, lambda: run(tf.float16))
    assert used[-1] is True and fast[0].dtype == np.float16
    assert_close(fast[0], generic[0], rtol=1e-3, atol=1e-3)
    fast, generic = _fast_and_generic(monkeypatch, lambda: run(tf.float64))
    assert fast[0].dtype == np.float64
    assert_close(fast[0], sigmoid_ce(x, z, **kw), rtol=1e-12, atol=0)
