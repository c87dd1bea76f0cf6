"""TensorFlow's custom gradients of the focal and asymmetric losses against the generic path.

Every option of ``sigmoid_focal_loss``, ``asymmetric_loss`` and ``softmax_focal_loss``,
every reduction, infinite logits: values and gradients of the rules
(:mod:`wxent._fastpaths.focal_tf`) equal those of the generic formulas
(``WXENT_KERNELS=off``) and, on finite logits, the float64 references
(``tests/reference_imbalance.py``; gradients: the generic path in float64). Eagerly and in
``tf.function`` (XLA included, unknown dimensions, a function traced without a tape and
differentiated later), with ``tf.Variable`` inputs, Keras loss objects, float16/bfloat16/
float64 logits, gradients of labels and weights, second derivatives and forward mode; the
counter :data:`~wxent._fastpaths.focal_tf.CALLS` proves the rule ran.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

import reference_imbalance as ref
import wxent
from conftest import assert_close
from focal_cases import SIGMOID_OPTIONS, SOFTMAX_OPTIONS, clip_case, softmax_data
from test_fastpaths_tf import _value_grad_hvp
from wxent._fastpaths import focal_tf

INF = math.inf
REDUCTIONS = ["none", "sum", "mean", "weighted_mean"]


@pytest.fixture
def calls() -> Any:
    """The rules' uses by name during the test."""
    focal_tf.CALLS.clear()
    yield focal_tf.CALLS
    focal_tf.CALLS.clear()


def _generic(monkeypatch: pytest.MonkeyPatch, f: Callable[[], Any]) -> Any:
    """``f()`` with the kernel switch off (the generic path)."""
    with monkeypatch.context() as m:
        m.setenv("WXENT_KERNELS", "off")
        return f()


def _binary_data(seed: int, n: int = 6, c: int = 5, *, inf: bool = True):
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=3.0, size=(n, c))
    z = (rng.random((n, c)) < 0.4).astype(np.float64)
    z[n - 1] = rng.random(c)  # soft labels
    z[0, 1] = -1.0  # unknown
    if inf:
        x[0, 0], x[1, 1], x[2, 2], x[3, 3], x[0, 4] = -INF, INF, -1e38, 1e4, -INF
        z[1, 1] = 1.0  # +inf on its target's side
        z[0, 0] = z[0, 4] = 0.0  # -inf on its target's side
    return x, z


def _softmax_data(seed: int, *, inf: bool = True):
    return softmax_data(np.random.default_rng(seed), inf=inf, plus_inf=True)


def _probabilities(seed: int, n: int = 6, c: int = 5) -> np.ndarray:
    t = np.random.default_rng(seed).random((n, c))
    t[:, 0] = 0.0  # zero target on the masked class of row 0
    return t / t.sum(axis=1, keepdims=True)


def _sigmoid_options(case: str, shape: tuple[int, int]) -> tuple[str, dict[str, Any]]:
    opts = dict(SIGMOID_OPTIONS[case])
    loss = opts.pop("loss")
    if opts.get("sample_weight") == "element":
        opts["sample_weight"] = np.linspace(0.0, 2.0, shape[0] * shape[1]).reshape(shape)
    return loss, opts


def _sigmoid_fn(case: str, reduction: str, shape: tuple[int, int] = (6, 5)):
    loss, opts = _sigmoid_options(case, shape)
    fn = wxent.sigmoid_focal_loss if loss == "focal" else wxent.asymmetric_loss
    return lambda a, b: fn(a, b, ignore_label=-1.0, reduction=reduction, **opts)


def _sigmoid_reference(case: str, reduction: str, x: np.ndarray, z: np.ndarray) -> Any:
    loss, opts = _sigmoid_options(case, x.shape)
    fn = ref.sigmoid_focal if loss == "focal" else ref.asymmetric
    return fn(x, z, ignore_label=-1.0, reduction=reduction, **opts)


def _softmax_fn(case: str, reduction: str, *, indices: bool = True):
    opts = dict(SOFTMAX_OPTIONS[case])
    if indices:
        opts["ignore_index"] = -100
    return lambda a, b: wxent.softmax_focal_loss(a, b, reduction=reduction, **opts)


def _softmax_reference(case: str, reduction: str, x: np.ndarray, labels: np.ndarray) -> Any:
    opts = dict(SOFTMAX_OPTIONS[case])
    if labels.ndim == 1:
        opts["ignore_index"] = -100
    return ref.softmax_focal(x, labels, reduction=reduction, **opts)


def _traced(f: Callable[..., Any], mode: str) -> Callable[..., Any]:
    if mode == "eager":
        return f
    return tf.function(f, jit_compile=mode == "xla")


def _value_and_grad(f, x, labels, *, mode="eager", dtype=tf.float32):
    """``f(x, labels)`` and the gradient of its sum, as float64 NumPy arrays."""
    g = _traced(f, mode)
    xt = tf.constant(x, dtype=dtype)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        value = g(xt, tf.constant(labels))
        total = tf.reduce_sum(value)
    grad = tape.gradient(total, xt)
    return np.asarray(value, np.float64), np.asarray(tf.cast(grad, tf.float64))


def _check(monkeypatch, calls, f, x, labels, name, *, mode="eager", dtype=tf.float32, tol=2e-6):
    """The rule's value and gradient equal the generic path's; the rule ran (once)."""
    value, grad = _value_and_grad(f, x, labels, mode=mode, dtype=dtype)
    assert dict(calls) == {name: 1}
    expected = _generic(monkeypatch, lambda: _value_and_grad(f, x, labels, mode=mode, dtype=dtype))
    assert dict(calls) == {name: 1}  # the switch disables the rule
    assert np.isfinite(grad).all()
    assert_close(value, expected[0], rtol=tol, atol=tol)
    assert_close(grad, expected[1], rtol=tol, atol=tol)
    return value, grad


def _check_float64(monkeypatch, f, x, labels, expected_value, *, mode="eager"):
    """On finite logits: the value as the float64 reference, the gradient as float64's."""
    value, grad = _value_and_grad(f, x, labels, mode=mode)
    assert_close(value, expected_value, rtol=2e-5, atol=2e-6)
    exact = _generic(monkeypatch, lambda: _value_and_grad(f, x, labels, dtype=tf.float64))
    assert_close(value, exact[0], rtol=2e-5, atol=2e-6)
    assert_close(grad, exact[1], rtol=2e-5, atol=2e-6)


# ----------------------------------------------------------------------------- values


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", list(SIGMOID_OPTIONS))
def test_sigmoid_family_matches_generic_and_float64(monkeypatch, calls, case, reduction):
    x, z = _binary_data(1)
    f = _sigmoid_fn(case, reduction)
    _check(monkeypatch, calls, f, x, z.astype(np.float32), "sigmoid_family")
    x, z = _binary_data(2, inf=False)
    expected = _sigmoid_reference(case, reduction, x, z)
    _check_float64(monkeypatch, f, x, z.astype(np.float32), expected)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", list(SOFTMAX_OPTIONS))
def test_softmax_focal_matches_generic_and_float64(monkeypatch, calls, case, reduction):
    x, y = _softmax_data(3)
    f = _softmax_fn(case, reduction)
    name = "softmax_dense" if "smooth" in case else "softmax_sparse"
    _check(monkeypatch, calls, f, x, y, name)
    x, y = _softmax_data(4, inf=False)
    _check_float64(monkeypatch, f, x, y, _softmax_reference(case, reduction, x, y))


@pytest.mark.parametrize("case", list(SOFTMAX_OPTIONS))
def test_softmax_focal_probabilities(monkeypatch, calls, case):
    opts = {k: v for k, v in SOFTMAX_OPTIONS[case].items() if k != "sample_weight"}

    def f(a, b):
        return wxent.softmax_focal_loss(a, b, reduction="sum", **opts)

    x, _ = _softmax_data(5)
    x[3, 1] = 0.0  # (a +inf logit with a probability label is the generic path's NaN)
    t = _probabilities(6).astype(np.float32)
    _check(monkeypatch, calls, f, x, t, "softmax_dense")
    x, _ = _softmax_data(7, inf=False)
    expected = ref.softmax_focal(x, t, reduction="sum", **opts)
    _check_float64(monkeypatch, f, x, t, expected)


@pytest.mark.parametrize(
    ("family", "case", "mode"),
    [
        ("sigmoid", "focal-g0.5-per-class", "function"),
        ("sigmoid", "focal-weights-smooth", "xla"),
        ("sigmoid", "asl-gpos", "function"),
        ("sigmoid", "asl-clip0", "xla"),
        ("softmax", "g0.5-weights", "xla"),
        ("softmax", "g2-smooth", "function"),
        ("probabilities", "g0.5-smooth-weights", "function"),
        ("probabilities", "g2-smooth", "xla"),
    ],
)
def test_traced_matches_generic(monkeypatch, calls, family, case, mode):
    if family == "sigmoid":
        x, labels = _binary_data(8)
        f, labels, name = _sigmoid_fn(case, "mean"), labels.astype(np.float32), "sigmoid_family"
    else:
        x, labels = _softmax_data(9)
        f = _softmax_fn(case, "weighted_mean", indices=family == "softmax")
        name = "softmax_dense" if "smooth" in case else "softmax_sparse"
        if family == "probabilities":
            x[3, 1], labels = 0.0, _probabilities(10).astype(np.float32)
            f = _softmax_fn(case, "sum", indices=False)
    _check(monkeypatch, calls, f, x, labels, name, mode=mode)


def test_limits_at_infinite_logits(monkeypatch, calls):
    # The limits themselves, per element and per row: inf where a -inf logit meets its
    # own label, 0 (gradient 0) beyond on the other side, log-sum-exp limits in +inf rows.
    x = np.array([[-INF, INF, -INF, INF, 0.0]], np.float32)
    z = np.array([[1.0, 0.0, 0.0, 1.0, 1.0]], np.float32)
    value, grad = _check(
        monkeypatch,
        calls,
        lambda a, b: wxent.sigmoid_focal_loss(a, b, alpha=0.25, reduction="none"),
        x,
        z,
        "sigmoid_family",
    )
    assert value[0, 0] == INF and value[0, 1] == INF
    assert value[0, 2] == 0 and value[0, 3] == 0
    assert grad[0, 0] == -0.25 and grad[0, 2] == 0 and grad[0, 3] == 0
    calls.clear()
    xs = np.array([[INF, INF, 0.0], [INF, 1.0, -INF], [0.0, -INF, 2.0]], np.float32)
    y = np.array([0, 1, 1])
    value, grad = _check(
        monkeypatch,
        calls,
        lambda a, b: wxent.softmax_focal_loss(a, b, gamma=2.0, reduction="none"),
        xs,
        y,
        "softmax_sparse",
    )
    assert_close(value[0], 0.5**2 * math.log(2.0), rtol=1e-6)  # the target among two +inf
    assert value[1] == INF and value[2] == INF
    assert (grad[:2] == 0).all()


def test_limits_without_a_host_branch(monkeypatch, calls):
    # Eagerly on an accelerator the +inf limits are a where over every row (an eager
    # tf.cond reads its predicate on the host): the same values and gradients.
    assert focal_tf._branch_on_host(tf.constant([[1.0]]))  # eager, on this CPU
    monkeypatch.setattr(focal_tf, "_branch_on_host", lambda x: False)
    xs = np.array([[INF, INF, 0.0], [INF, 1.0, -INF], [0.0, -INF, 2.0]], np.float32)
    value, grad = _check(
        monkeypatch,
        calls,
        lambda a, b: wxent.softmax_focal_loss(a, b, gamma=2.0, reduction="none"),
        xs,
        np.array([0, 1, 1]),
        "softmax_sparse",
    )
    assert_close(value[0], 0.5**2 * math.log(2.0), rtol=1e-6)
    assert value[1] == INF and value[2] == INF
    assert (grad[:2] == 0).all()


# ----------------------------------------------------------------------------- traced


@pytest.mark.parametrize("layout", ["sigmoid", "softmax", "smoothed", "classes-unknown"])
def test_unknown_dimensions(monkeypatch, calls, layout):
    rng = np.random.default_rng(11)
    x = rng.normal(scale=2.0, size=(4, 3, 5)).astype(np.float32)
    classes: int | None = 5
    if layout == "sigmoid":
        labels: np.ndarray = (rng.random(x.shape) < 0.4).astype(np.float32)
        labels[0, 0, 0] = -1.0
        label_spec = tf.TensorSpec([None, None, None], tf.float32)

        def loss(a, b):
            return wxent.sigmoid_focal_loss(a, b, alpha=0.25, ignore_label=-1.0)

    else:
        labels = rng.integers(0, 5, size=(4, 3))
        label_spec = tf.TensorSpec([None, None], tf.int64)
        eps = 0.1 if layout == "smoothed" else 0.0
        classes = None if layout == "classes-unknown" else 5

        def loss(a, b):
            return wxent.softmax_focal_loss(a, b, label_smoothing=eps)

    def value_and_grad(a, b):
        with tf.GradientTape() as tape:
            tape.watch(a)
            value = loss(a, b)
        return value, tape.gradient(value, a)

    spec = tf.TensorSpec([None, None, classes], tf.float32)
    traced = tf.function(value_and_grad, input_signature=[spec, label_spec])
    for n, steps in ((4, 3), (2, 1)):
        a, b = tf.constant(x[:n, :steps]), tf.constant(labels[:n, :steps])
        value, grad = traced(a, b)
        expected = _generic(monkeypatch, lambda a=a, b=b: value_and_grad(a, b))
        assert_close(value, expected[0], rtol=2e-6, atol=2e-6)
        assert_close(grad, expected[1], rtol=2e-6, atol=2e-6)
    if classes is None:
        assert dict(calls) == {}  # an unknown number of classes: the generic path
    else:
        assert sum(calls.values()) == 1  # traced once, for every shape


def test_loss_alone_and_differentiated_later(monkeypatch, calls):
    x, z = _binary_data(12, inf=False)
    z = z.astype(np.float32)

    def loss(a):
        return wxent.asymmetric_loss(a, tf.constant(z), gamma_pos=1.0, ignore_label=-1.0)

    expected = ref.asymmetric(x, z, gamma_pos=1.0, ignore_label=-1.0)
    assert_close(loss(tf.constant(x, tf.float32)), expected)  # eager, no tape: the loss alone
    traced = tf.function(loss)
    xt = tf.constant(x, tf.float32)
    assert_close(traced(xt), expected)  # traced without a tape ...
    assert calls["sigmoid_family"] == 2
    direction = tf.constant(np.random.default_rng(13).normal(size=x.shape), tf.float32)
    got = _value_grad_hvp(traced, xt, direction)  # ... differentiated (twice) later
    want = _generic(monkeypatch, lambda: _value_grad_hvp(loss, xt, direction))
    for a, b in zip(got, want, strict=True):
        assert_close(a, b, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- derivatives


SECOND_ORDER = {
    "focal": lambda a, z, y: wxent.sigmoid_focal_loss(a, z, gamma=0.5, alpha=0.25),
    "asl": lambda a, z, y: wxent.asymmetric_loss(a, z, gamma_pos=1.0, clip=0.1),
    "softmax": lambda a, z, y: wxent.softmax_focal_loss(a, y, gamma=1.5),
    "smoothed": lambda a, z, y: wxent.softmax_focal_loss(a, y, label_smoothing=0.2),
}


@pytest.mark.parametrize("mode", ["eager", "function", "tapes-in-function"])
@pytest.mark.parametrize("loss", list(SECOND_ORDER))
def test_second_derivatives_match_generic(monkeypatch, calls, loss, mode):
    x, z = _binary_data(14, inf=False)
    z = np.where(z < 0, 0.0, z).astype(np.float32)
    y = np.random.default_rng(15).integers(0, 5, size=6)
    xt = tf.constant(x, tf.float32)
    direction = tf.constant(np.random.default_rng(16).normal(size=x.shape), tf.float32)

    def f(a):
        return SECOND_ORDER[loss](a, tf.constant(z), tf.constant(y))

    def run():
        if mode == "tapes-in-function":
            return tf.function(lambda a: _value_grad_hvp(f, a, direction))(xt)
        return _value_grad_hvp(_traced(f, mode), xt, direction)

    got = run()
    assert sum(calls.values()) == 1
    want = _generic(monkeypatch, run)
    for a, b in zip(got, want, strict=True):
        assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_forward_mode_matches_generic(monkeypatch, calls):
    x, z = _binary_data(17, inf=False)
    z = np.where(z < 0, 0.0, z).astype(np.float32)
    y = np.random.default_rng(18).integers(0, 5, size=6)
    xt = tf.constant(x, tf.float32)
    tangent = tf.constant(np.random.default_rng(19).normal(size=x.shape), tf.float32)

    def run():
        out = []
        for f in SECOND_ORDER.values():
            with tf.autodiff.ForwardAccumulator(xt, tangent) as acc:
                value = f(xt, tf.constant(z), tf.constant(y))
            out += [value, acc.jvp(value)]
        return out

    got = run()
    # An eager accumulator takes the generic formulas: differentiated op by op, the
    # rules' loss-only graphs gave tangent 0 at logits of exactly 0.
    assert sum(calls.values()) == 0
    for a, b in zip(got, _generic(monkeypatch, run), strict=True):
        assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_gradients_of_labels_and_weights(monkeypatch, calls, mode):
    x, z = _binary_data(20, inf=False)
    z = np.where(z < 0, 0.0, z).astype(np.float32)
    t = _probabilities(21).astype(np.float32)

    def run():
        xt = tf.constant(x, tf.float32)
        zt, tt = tf.constant(z), tf.constant(t)
        alpha = tf.constant([0.1, 0.2, 0.3, 0.4, 0.5])
        pos_weight = tf.constant([1.0, 2.0, 0.5, 1.0, 3.0])

        def losses(xt, zt, tt, alpha, pos_weight):
            loss = wxent.sigmoid_focal_loss(xt, zt, alpha=alpha, neg_weight=2.0)
            loss += wxent.asymmetric_loss(xt, zt, clip=0.1, pos_weight=pos_weight)
            return loss + wxent.softmax_focal_loss(xt, tt, label_smoothing=0.1)

        sources = [xt, zt, tt, alpha, pos_weight]
        with tf.GradientTape() as tape:
            tape.watch(sources)
            loss = _traced(losses, mode)(*sources)
        return [loss, *tape.gradient(loss, sources)]

    got = run()
    assert dict(calls) == {"sigmoid_family": 2, "softmax_dense": 1}
    for a, b in zip(got, _generic(monkeypatch, run), strict=True):
        assert_close(a, b, rtol=2e-6, atol=2e-6)


# ----------------------------------------------------------------------------- inputs


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_variables_as_logits_and_labels(monkeypatch, calls, mode):
    x, z = _binary_data(22, inf=False)
    z = np.where(z < 0, 0.0, z).astype(np.float32)
    y = np.random.default_rng(23).integers(0, 5, size=6)
    xv, zv, yv = tf.Variable(x.astype(np.float32)), tf.Variable(z), tf.Variable(y)

    def run():
        def losses():
            return [
                wxent.sigmoid_focal_loss(xv, zv, alpha=0.25),
                wxent.asymmetric_loss(xv, zv),
                wxent.sigmoid_cross_entropy(xv, zv, pos_weight=2.0),
                wxent.softmax_focal_loss(xv, yv),
                wxent.softmax_focal_loss(xv, yv, label_smoothing=0.1),
            ]

        with tf.GradientTape(persistent=True) as tape:
            values = _traced(losses, mode)()
        return values + [tape.gradient(v, [xv, zv]) for v in values]

    got = run()
    assert dict(calls) == {"sigmoid_family": 2, "softmax_sparse": 1, "softmax_dense": 1}
    want = _generic(monkeypatch, run)
    for a, b in zip(got, want, strict=True):
        for u, w in zip(tf.nest.flatten(a), tf.nest.flatten(b), strict=True):
            assert_close(u, w, rtol=2e-6, atol=2e-6)


KERAS = {
    "SigmoidFocalLoss": dict(alpha=0.25, ignore_label=-1.0),
    "AsymmetricLoss": dict(clip=0.1, gamma_pos=1.0),
    "SoftmaxFocalLoss": dict(gamma=1.5),
}


@pytest.mark.parametrize("name", list(KERAS))
def test_keras_loss_objects(monkeypatch, calls, name):
    import wxent.keras as wk

    x, z = _binary_data(24, inf=False)
    z = np.where(z < 0, 0.0, z).astype(np.float32)
    labels = np.random.default_rng(25).integers(0, 5, size=6) if name.startswith("Softmax") else z
    loss = getattr(wk, name)(**KERAS[name])
    xv = tf.Variable(x.astype(np.float32))
    lv = tf.Variable(labels)
    sw = np.linspace(0.5, 1.5, 6).astype(np.float32)

    def run():
        out = []
        for step in (lambda: loss(lv, xv), tf.function(lambda: loss(lv, xv, sample_weight=sw))):
            with tf.GradientTape() as tape:
                value = step()
            out += [value, tape.gradient(value, xv)]
        return out

    got = run()
    assert sum(calls.values()) == 2
    for a, b in zip(got, _generic(monkeypatch, run), strict=True):
        assert_close(a, b, rtol=2e-6, atol=2e-6)


def test_keras_fit_runs_the_rule(calls):
    import keras

    import wxent.keras as wk

    rng = np.random.default_rng(26)
    features = rng.normal(size=(32, 4)).astype(np.float32)
    labels = (rng.random((32, 3)) < 0.3).astype(np.float32)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer="sgd", loss=wk.SigmoidFocalLoss(alpha=0.25))
    history = model.fit(features, labels, batch_size=16, epochs=2, verbose=0)
    assert calls["sigmoid_family"] >= 1
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
def test_dtypes(monkeypatch, calls, dtype):
    tf_dtype = getattr(tf, dtype)
    tol = 1e-12 if dtype == "float64" else 1e-2
    x, z = _binary_data(27, inf=dtype == "float64")
    xs, y = _softmax_data(28, inf=dtype == "float64")
    cases = [
        (_sigmoid_fn("focal-g0.5-per-class", "mean"), x, z.astype(np.float32), "sigmoid_family"),
        (_sigmoid_fn("asl", "sum"), x, z.astype(np.float32), "sigmoid_family"),
        (_softmax_fn("g0.5-weights", "mean"), xs, y, "softmax_sparse"),
        (_softmax_fn("g2-smooth", "none"), xs, y, "softmax_dense"),
    ]
    for f, a, b, name in cases:
        calls.clear()
        _check(monkeypatch, calls, f, a, b, name, dtype=tf_dtype, tol=tol)


def test_float64_in_a_function(monkeypatch, calls):
    # The rules' graphs take the logits' dtype: a Python number first in a ``tf.where``
    # became a float32 tensor in a graph and float64 logits failed in ``tf.function``.
    x, z = _binary_data(29)
    xs, y = _softmax_data(30)
    cases = [
        (_sigmoid_fn("asl", "sum"), x, z, "sigmoid_family"),
        (_softmax_fn("g0.5-weights", "mean"), xs, y, "softmax_sparse"),
        (_softmax_fn("g2-smooth", "none"), xs, y, "softmax_dense"),
    ]
    for f, a, b, name in cases:
        calls.clear()
        _check(monkeypatch, calls, f, a, b, name, mode="function", dtype=tf.float64, tol=1e-12)


# ----------------------------------------------------------------------------- switches


def test_kernels_off_and_classes_not_last_use_the_generic_path(monkeypatch, calls):
    x, z = _binary_data(29, inf=False)
    xt = tf.constant(x, tf.float32)
    y = tf.constant([0, 1, 2, 3, 4, 0])
    with tf.GradientTape() as tape:
        tape.watch(xt)
        wxent.softmax_focal_loss(
            tf.reshape(xt, (2, 5, 3)), tf.zeros((2, 3), tf.int32), class_axis=1
        )
        monkeypatch.setenv("WXENT_KERNELS", "off")
        wxent.sigmoid_focal_loss(xt, tf.constant(np.abs(z), tf.float32))
        wxent.softmax_focal_loss(xt, y)
    assert dict(calls) == {}


@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("kind", ["ignored", "sample_weight", "ignored-softmax"])
def test_nan_logits_where_nothing_counts(monkeypatch, calls, kind, mode):
    x, z = _binary_data(30, inf=False)
    z = np.where(z < 0, 0.0, z).astype(np.float32)
    bad = np.zeros(x.shape, bool)
    if kind == "ignored":
        bad[[0, 3], [1, 2]] = True
        z[bad] = -1.0

        def f(a):
            return wxent.sigmoid_focal_loss(a, tf.constant(z), ignore_label=-1.0, reduction="sum")

    elif kind == "sample_weight":
        bad[1, [0, 2]] = True
        weights = np.array([1.0, 0.0, 2.0, 1.0, 1.0, 0.5])

        def f(a):
            return wxent.asymmetric_loss(a, tf.constant(z), sample_weight=weights)

    else:
        bad[2, :] = True
        y = np.array([0, 1, -100, 3, 4, 0])

        def f(a):
            return wxent.softmax_focal_loss(a, tf.constant(y), ignore_index=-100)

    nan_x = tf.constant(np.where(bad, np.nan, x), tf.float32)
    clean = tf.constant(np.where(bad, 0.0, x), tf.float32)
    direction = tf.ones(x.shape)
    g = _traced(f, mode)
    value, grad, _ = _value_grad_hvp(g, nan_x, direction)
    assert sum(calls.values()) >= 1
    expected = _value_grad_hvp(f, clean, direction)
    assert_close(value, expected[0], rtol=1e-6)
    assert (grad.numpy()[bad] == 0).all()
    assert_close(grad.numpy()[~bad], expected[1].numpy()[~bad], rtol=1e-6, atol=1e-7)


def test_errors_of_the_generic_path_remain(calls):
    x, z = _binary_data(31, inf=False)
    z = np.where(z < 0, 0.0, z).astype(np.float32)
    x[1, 2] = np.nan
    xt = tf.constant(x, tf.float32)
    with tf.GradientTape() as tape, pytest.raises(ValueError, match="logits"):
        tape.watch(xt)
        wxent.sigmoid_focal_loss(xt, tf.constant(z))
    with tf.GradientTape() as tape, pytest.raises(ValueError, match="logits"):
        tape.watch(xt)
        wxent.softmax_focal_loss(xt, tf.constant([0, 1, 2, 3, 4, 0]))


# ----------------------------------------------------------------------------- compiled

# Eagerly the rules run as tf.function graphs (focal_tf.compiled()): the same operations,
# so the same values bit for bit as the operations run one by one (focal_tf._compiled
# patched to give None).

EAGER = {
    "focal": (lambda a, b, y, t: wxent.sigmoid_focal_loss(a, b, alpha=0.25, reduction="none")),
    "focal-weights": (
        lambda a, b, y, t: wxent.sigmoid_focal_loss(
            a,
            b,
            gamma=0.5,
            pos_weight=np.linspace(1.0, 5.0, a.shape[-1]),
            label_smoothing=0.1,
            reduction="none",
        )
    ),
    "asl": (lambda a, b, y, t: wxent.asymmetric_loss(a, b, reduction="none")),
    "asl-gpos": (
        lambda a, b, y, t: wxent.asymmetric_loss(
            a, b, gamma_pos=1.0, clip=0.1, neg_weight=2.0, reduction="none"
        )
    ),
    "softmax": (lambda a, b, y, t: wxent.softmax_focal_loss(a, y, gamma=2.0, reduction="none")),
    "softmax-g0": (lambda a, b, y, t: wxent.softmax_focal_loss(a, y, gamma=0.0, reduction="none")),
    "smoothed": (
        lambda a, b, y, t: wxent.softmax_focal_loss(a, y, label_smoothing=0.1, reduction="none")
    ),
    "probabilities": (
        lambda a, b, y, t: wxent.softmax_focal_loss(a, t, gamma=1.5, reduction="none")
    ),
}


def _eager_inputs(seed: int, n: int = 6, c: int = 5, *, inf: bool = True):
    """Logits (with ``inf``: infinite ones where ``n, c >= 5``), 0/1 and soft labels, classes."""
    inf = inf and min(n, c) >= 5
    x, z = _binary_data(seed, n, c, inf=inf)
    z = np.where(z < 0, 0.0, z).astype(np.float32)
    y = np.random.default_rng(seed).integers(0, c, size=n)
    if inf:
        x[4, :2] = [INF, INF]  # a row holding +inf twice (the softmax limit)
        z[0, 0], y[0] = 1.0, 0  # -inf on the side of its label: the limit inf
    t = _probabilities(seed + 1, n, c).astype(np.float32)
    return tf.constant(x, tf.float32), tf.constant(z), tf.constant(y), tf.constant(t)


def _eager_value_and_grad(loss: str, inputs, tape: bool):
    x = inputs[0]
    if not tape:
        return [EAGER[loss](*inputs).numpy()]
    with tf.GradientTape() as g:
        g.watch(x)
        value = EAGER[loss](*inputs)
    return [value.numpy(), g.gradient(value, x).numpy()]


@pytest.mark.parametrize("tape", [False, True])
@pytest.mark.parametrize("loss", list(EAGER))
def test_eager_calls_run_compiled_graphs_equal_to_the_operations(monkeypatch, loss, tape):
    inputs = _eager_inputs(40)
    ran = Counter()
    functions = focal_tf.compiled()
    for name, f in list(functions.items()):
        monkeypatch.setitem(functions, name, lambda *a, _f=f, _n=name: ran.update([_n]) or _f(*a))
    compiled = _eager_value_and_grad(loss, inputs, tape)
    kind = "sigmoid" if loss.startswith(("focal", "asl")) else "sparse"
    if loss in ("smoothed", "probabilities"):
        kind = "dense"
    expected = {f"{kind}_forward", f"{kind}_gradient"} if tape else {f"{kind}_loss"}
    assert set(ran) == (expected & set(functions)), ran  # (dense: the backward is one product)
    with monkeypatch.context() as m:
        m.setattr(focal_tf, "_compiled", lambda name, key: None)  # operation by operation
        one_by_one = _eager_value_and_grad(loss, inputs, tape)
    for a, b in zip(compiled, one_by_one, strict=True):
        np.testing.assert_array_equal(a, b)  # bit for bit, inf and NaN included
    assert np.isinf(compiled[0]).any()  # the limits at infinite logits


@pytest.mark.parametrize("loss", list(EAGER))
def test_eager_calls_run_no_exp_or_log_outside_the_graphs(monkeypatch, loss):
    inputs = _eager_inputs(41, inf=False)  # (no exact recomputation of a limit's NaN)
    _eager_value_and_grad(loss, inputs, True)  # traced (while tracing, not eager)
    eager_ops: list[str] = []

    def spy(module: Any, name: str) -> None:
        real = getattr(module, name)

        def recorded(*a: Any, **k: Any) -> Any:
            if tf.executing_eagerly():
                eager_ops.append(name)
            return real(*a, **k)

        monkeypatch.setattr(module, name, recorded)

    for module, name in [(tf, "exp"), (tf.math, "exp"), (tf.math, "log"), (tf.math, "log1p")]:
        spy(module, name)
    _eager_value_and_grad(loss, inputs, False)
    _eager_value_and_grad(loss, inputs, True)
    assert eager_ops == []
    with monkeypatch.context() as m:  # (the spies see the operations run one by one)
        m.setattr(focal_tf, "_compiled", lambda name, key: None)
        _eager_value_and_grad(loss, inputs, False)
    assert "exp" in eager_ops


def _trace_counts() -> dict[str, int]:
    return {k: f.experimental_get_tracing_count() for k, f in focal_tf.compiled().items()}


def test_eager_traces_stay_fixed_across_calls_and_bounded_across_shapes():
    for loss in EAGER:  # every function traced for these shapes
        for tape in (False, True):
            _eager_value_and_grad(loss, _eager_inputs(42), tape)
    first = _trace_counts()
    for seed in (43, 44, 45):  # new values, the same shapes: no new trace
        for loss in EAGER:
            for tape in (False, True):
                _eager_value_and_grad(loss, _eager_inputs(seed), tape)
    assert _trace_counts() == first
    # New shapes: a changed dimension is relaxed to an unknown one (reduce_retracing),
    # once per dimension: rank + 1 = 3 traces per key at most, whatever the shapes.
    for n, c in [(7, 5), (8, 5), (9, 6), (3, 7), (10, 8), (11, 9)]:
        for loss in EAGER:
            for tape in (False, True):
                _eager_value_and_grad(loss, _eager_inputs(46, n, c), tape)
    grown = _trace_counts()
    again = dict(grown)
    for n, c in [(12, 10), (13, 11), (2, 3)]:
        for loss in EAGER:
            for tape in (False, True):
                _eager_value_and_grad(loss, _eager_inputs(47, n, c), tape)
    assert _trace_counts() == again  # the relaxed traces take every further shape
    for name, count in grown.items():
        assert count - first[name] <= 2 * 8, (name, first[name], count)  # (<= 2 per key)


def test_relaxed_traces_keep_the_values(monkeypatch):
    # A trace with an unknown number of classes reads it from the shape (eps / C as
    # the same float64 quotient rounded to the dtype). A smoothing used nowhere else:
    # its keys are traced here, the third class count by a relaxed trace.
    classes: list[Any] = []
    real = focal_tf._targets
    monkeypatch.setattr(
        focal_tf, "_targets", lambda x, *a: classes.append(x.shape[1]) or real(x, *a)
    )

    def run(loss, inputs):
        x, _, y, t = inputs
        labels = y if loss == "indices" else t
        with tf.GradientTape() as g:
            g.watch(x)
            value = wxent.softmax_focal_loss(x, labels, label_smoothing=0.137, reduction="none")
        alone = wxent.softmax_focal_loss(x, labels, label_smoothing=0.137, reduction="none")
        return [value.numpy(), g.gradient(value, x).numpy(), alone.numpy()]

    for n, c in [(4, 3), (5, 7), (6, 11), (7, 13)]:
        inputs = _eager_inputs(48, n, c)
        for loss in ("indices", "probabilities"):
            got = run(loss, inputs)
            with monkeypatch.context() as m:
                m.setattr(focal_tf, "_compiled", lambda name, key: None)
                want = run(loss, inputs)
            for a, b in zip(got, want, strict=True):
                np.testing.assert_array_equal(a, b)
    assert None in classes  # (a relaxed trace ran)


def test_option_keys_are_bounded(monkeypatch):
    # A gamma that changes call after call compiles at most MAX_KEYS traces' keys; the
    # calls beyond run operation by operation (the same values).
    monkeypatch.setattr(focal_tf, "MAX_KEYS", 2)
    monkeypatch.setattr(focal_tf, "_KEYS", {})
    x, z, y, _ = _eager_inputs(49)
    before = _trace_counts()
    values = [wxent.sigmoid_focal_loss(x, z, gamma=0.1 * i, reduction="none") for i in range(6)]
    values += [wxent.softmax_focal_loss(x, y, gamma=0.1 * i, reduction="none") for i in range(6)]
    after = _trace_counts()
    assert after["sigmoid_loss"] - before["sigmoid_loss"] <= 2
    assert after["sparse_loss"] - before["sparse_loss"] <= 2
    assert len(focal_tf._KEYS["sigmoid_loss"]) == len(focal_tf._KEYS["sparse_loss"]) == 2
    monkeypatch.setattr(focal_tf, "_compiled", lambda name, key: None)
    for i, value in enumerate(values):
        gamma = 0.1 * (i % 6)
        if i < 6:
            want = wxent.sigmoid_focal_loss(x, z, gamma=gamma, reduction="none")
        else:
            want = wxent.softmax_focal_loss(x, y, gamma=gamma, reduction="none")
        np.testing.assert_array_equal(value.numpy(), want.numpy())


def test_alternating_option_sets_log_no_retracing_notice(caplog):
    # Each option set is a trace of its own, by design and bounded (MAX_KEYS per rule):
    # alternating them, as a training loop with and without weights does, must not log
    # TensorFlow's notice about functions retraced too often.
    rng = np.random.default_rng(3)
    sets = [
        {},
        {"pos_weight": [1.0, 2.0, 3.0]},
        {"neg_weight": [2.0, 1.0, 1.0]},
        {"reduction": "sum"},
        {"reduction": "none"},
        {"label_smoothing": 0.1},
        {"pos_weight": [1.0, 2.0, 3.0], "reduction": "sum"},
    ]
    with caplog.at_level("WARNING", logger="tensorflow"):
        for loss in (wxent.sigmoid_cross_entropy, wxent.sigmoid_focal_loss, wxent.asymmetric_loss):
            for options in sets:
                for n in (4, 8, 16):
                    x = tf.constant(rng.normal(size=(n, 3)).astype(np.float32))
                    t = tf.constant((rng.random((n, 3)) > 0.5).astype(np.float32))
                    with tf.GradientTape() as tape:
                        tape.watch(x)
                        value = loss(x, t, **options)
                    tape.gradient(value, x)
                    loss(x, t, **options)  # no tape: the loss-only graph
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]


@pytest.mark.parametrize("generic", [False, True], ids=["rule", "generic"])
@pytest.mark.parametrize("gamma", [0.0, 4.0])
@pytest.mark.parametrize("clip", [0.999, 0.9])
def test_asymmetric_clip_near_one_keeps_its_digits(monkeypatch, generic, gamma, clip):
    """float32 against float64 (as tests/test_fastpaths_focal.py): ``(1 - clip) -
    sigmoid(-x)`` and ``log1p``, not ``p - clip`` and ``log(q + clip)`` near 1."""
    x, z, loss, grad = clip_case(clip, gamma)
    if generic:
        monkeypatch.setenv("WXENT_KERNELS", "off")
    kw = {"gamma_pos": 0.0, "gamma_neg": gamma, "clip": clip, "reduction": "none"}
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        out = wxent.asymmetric_loss(xt, tf.constant(z), **kw)
    got_grad = tape.gradient(out, xt)
    np.testing.assert_allclose(out.numpy(), loss, rtol=1e-5, atol=0)
    np.testing.assert_allclose(got_grad.numpy(), grad, rtol=1e-5, atol=0)
