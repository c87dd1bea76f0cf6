"""Eager TensorFlow calls: the value checks' one graph call and the softmax losses' graph.

An eager TensorFlow call reads its pending checks (labels' range, weights' bounds, the
result's NaN flag, the probability look) and the status word from one traced function
(:mod:`wxent._tf_checks`), and the generic softmax cross-entropy runs as one traced
function where no tape records (:func:`wxent._fastpaths.tf.eager_softmax_losses`).
Pinned here without timings: the number of eager operations a call dispatches, the
number of traces across batch sizes, the same values bit for bit as the operations run
one by one, and the same errors and warnings as NumPy's calls.
"""

from __future__ import annotations

import collections
import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python import pywrap_tfe

import wxent
from wxent import _tf_checks
from wxent._fastpaths import tf as tf_rule

RNG = np.random.default_rng(7)
X = RNG.normal(size=(64, 10)).astype(np.float32)
Y = RNG.integers(0, 10, 64)
Z = (RNG.uniform(size=(64, 10)) < 0.3).astype(np.float32)


class _Ops:
    """Counts the eager operations dispatched (a traced function's call is one)."""

    def __init__(self) -> None:
        self.names: collections.Counter[str] = collections.Counter()

    @property
    def total(self) -> int:
        return sum(self.names.values())

    @property
    def functions(self) -> int:
        return sum(n for name, n in self.names.items() if name.startswith("__inference"))


@pytest.fixture
def eager_ops(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[], Any]], _Ops]]:
    fast, execute = pywrap_tfe.TFE_Py_FastPathExecute, pywrap_tfe.TFE_Py_Execute

    def count(call: Callable[[], Any]) -> _Ops:
        call()  # (traces and first-call work out of the count)
        ops = _Ops()

        def counted_fast(ctx: Any, name: Any, *a: Any, **k: Any) -> Any:
            ops.names[str(name)] += 1
            return fast(ctx, name, *a, **k)

        def counted_execute(ctx: Any, device: Any, name: Any, *a: Any, **k: Any) -> Any:
            ops.names[name.decode() if isinstance(name, bytes) else str(name)] += 1
            return execute(ctx, device, name, *a, **k)

        with monkeypatch.context() as m:
            m.setattr(pywrap_tfe, "TFE_Py_FastPathExecute", counted_fast)
            m.setattr(pywrap_tfe, "TFE_Py_Execute", counted_execute)
            call()
        return ops

    yield count


def _tape(loss: Callable[[Any], Any], x: Any) -> Callable[[], Any]:
    def run() -> Any:
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = loss(x)
        return value, tape.gradient(value, x)

    return run


def test_a_default_softmax_call_dispatches_a_few_operations(eager_ops):
    x, y = tf.constant(X), tf.constant(Y)
    ops = eager_ops(lambda: wxent.softmax_cross_entropy(x, y))
    # the labels' clamp (2), the losses' graph, the mean (2), the checks' graph: 6 (the
    # operations run one by one were 46)
    assert ops.total <= 8, ops.names
    assert ops.functions == 2, ops.names
    taped = eager_ops(_tape(lambda a: wxent.softmax_cross_entropy(a, y), x))
    assert taped.total <= 30, taped.names  # (65 before)
    assert "Reshape" not in ops.names and "Max" not in ops.names


def test_a_probability_labels_call_checks_them_in_the_graph(eager_ops):
    x = tf.constant(X)
    p = tf.constant(np.exp(X) / np.exp(X).sum(axis=1, keepdims=True))
    ops = eager_ops(lambda: wxent.softmax_cross_entropy(x, p, label_smoothing=0.1))
    assert ops.total <= 6, ops.names  # the losses' graph, the mean, the checks' graph (54 before)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_a_softmax_focal_call_takes_rows_as_they_are(eager_ops, eps):
    x, y = tf.constant(X), tf.constant(Y)
    ops = eager_ops(lambda: wxent.softmax_focal_loss(x, y, label_smoothing=eps))
    assert ops.total <= 8, ops.names  # (13 before: reshapes of rows, labels and losses)
    taped = eager_ops(_tape(lambda a: wxent.softmax_focal_loss(a, y, label_smoothing=eps), x))
    assert "Reshape" not in ops.names, ops.names
    assert taped.total <= 24, taped.names  # (33 before; the mean's gradient reshapes)


@pytest.mark.parametrize(
    "call",
    [
        lambda x, z: wxent.sigmoid_cross_entropy(x, z, pos_weight=tf.ones(10)),
        lambda x, z: wxent.sigmoid_focal_loss(x, z, alpha=0.25),
        lambda x, z: wxent.asymmetric_loss(x, z),
    ],
    ids=["sigmoid_cross_entropy", "sigmoid_focal_loss", "asymmetric_loss"],
)
def test_sigmoid_calls_read_their_checks_from_one_graph(eager_ops, call):
    x, z = tf.constant(X), tf.constant(Z)
    ops = eager_ops(lambda: call(x, z))
    assert ops.total <= 10, ops.names
    for name in ("Min", "Max", "LogicalNot", "Cast"):  # the checks' operations
        assert name not in ops.names, ops.names


def test_the_checks_trace_once_across_batch_sizes():
    cw = tf.constant(np.linspace(0.5, 2.0, 10, dtype=np.float32))

    def calls() -> None:
        for n in (64, 37, 5, 64):
            x, y = tf.constant(X[:n]), tf.constant(Y[:n])
            wxent.softmax_cross_entropy(x, y, class_weight=cw, ignore_index=-100)
            wxent.softmax_cross_entropy(x, y)

    calls()
    checks, losses = _tf_checks.traces(), _tf_checks.traces("softmax_losses")
    calls()
    assert _tf_checks.traces() == checks
    assert _tf_checks.traces("softmax_losses") == losses


def _inputs(seed: int, shape: tuple[int, ...], axis: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=shape) * 4).astype(np.float32)
    x.reshape(-1)[1] = math.inf
    x.reshape(-1)[::5] = -math.inf
    labels = rng.integers(0, shape[axis], tuple(np.delete(shape, axis)))
    return x, labels


@pytest.mark.parametrize("shape,axis", [((33, 7), 1), ((4, 6, 5), 1), ((3, 4, 9), 2)])
@pytest.mark.parametrize("eps", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("indices", [True, False])
def test_the_softmax_graph_gives_the_eager_values_bit_for_bit(
    monkeypatch, shape, axis, eps, indices
):
    x, labels = _inputs(shape[0] + shape[-1], shape, axis)
    if not indices:
        labels = np.moveaxis(np.eye(shape[axis], dtype=np.float32)[labels], -1, axis)
        labels = labels * 0.75 + 0.25 / shape[axis]
    x[0] = 0.0  # (rows of +inf have limits: no NaN to recompute in the first row)

    def per_sample() -> np.ndarray:
        return wxent.softmax_cross_entropy(
            tf.constant(x), tf.constant(labels), class_axis=axis, label_smoothing=eps,
            reduction="none", validate=False,
        ).numpy()  # fmt: skip

    graph = per_sample()
    with monkeypatch.context() as m:
        m.setattr(tf_rule, "eager_softmax_losses", lambda inp, eps: None)
        eager = per_sample()
    np.testing.assert_array_equal(graph, eager)  # bit for bit, inf and NaN included
    assert graph.view(np.uint32).tolist() == eager.view(np.uint32).tolist()


def _outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
        except Exception as error:  # (the type and message are compared)
            return type(error), str(error), [str(w.message) for w in caught]
    return None, None, [str(w.message) for w in caught]


def _bad_cases() -> dict[str, Callable[[Callable[[Any], Any]], Any]]:
    probabilities = np.exp(X) / np.exp(X).sum(axis=1, keepdims=True)
    bad_rows = probabilities.copy()
    bad_rows[3] *= 2
    nan_x = X.copy()
    nan_x[5, 2] = math.nan
    nan_z = Z.copy()
    nan_z[1, 1] = math.nan
    above = Y.copy()
    above[9] = 10
    below = Y.copy()
    below[2] = -3
    weights = np.ones(10, np.float32)
    negative, nan_w = weights.copy(), weights.copy()
    negative[4] = -1.0
    nan_w[6] = math.nan
    sce, sig = wxent.softmax_cross_entropy, wxent.sigmoid_cross_entropy
    return {
        "label above": lambda a: sce(a(X), a(above)),
        "label below": lambda a: sce(a(X), a(below), ignore_index=-100),
        "ignored label": lambda a: sce(a(X), a(below), ignore_index=-3),
        "negative class weight": lambda a: sce(a(X), a(Y), class_weight=a(negative)),
        "NaN class weight": lambda a: sce(
            a(X), a(Y), class_weight=a(nan_w), reduction="weighted_mean"
        ),
        "NaN logits": lambda a: sce(a(nan_x), a(Y)),
        "probability rows": lambda a: sce(a(X), a(bad_rows)),
        "NaN probability": lambda a: sce(
            a(X), a(np.where(bad_rows > 0.5, math.nan, probabilities))
        ),
        "negative probability": lambda a: sce(a(X), a(probabilities - 0.01)),
        "probability labels": lambda a: sce(a(X), a(probabilities), label_smoothing=0.1),
        "probabilities as logits": lambda a: sce(a(probabilities), a(Y)),
        "sigmoid label above": lambda a: sig(a(X), a(Z * 2)),
        "sigmoid NaN label": lambda a: sig(a(X), a(nan_z)),
        "sigmoid NaN label, ignore": lambda a: sig(a(X), a(nan_z), ignore_label=-1),
        "sigmoid NaN logits": lambda a: sig(a(nan_x), a(Z), pos_weight=a(weights)),
        "sigmoid negative pos_weight": lambda a: sig(a(X), a(Z), pos_weight=a(negative)),
        "sigmoid probabilities": lambda a: sig(a(1 / (1 + np.exp(-X))), a(Z)),
        "focal label above": lambda a: wxent.softmax_focal_loss(a(X), a(above)),
        "sigmoid focal NaN logits": lambda a: wxent.sigmoid_focal_loss(a(nan_x), a(Z)),
    }


@pytest.mark.parametrize("name", list(_bad_cases()))
@pytest.mark.parametrize("plans", [None, 0], ids=["graph", "one-by-one"])
def test_checks_raise_and_warn_as_numpy(monkeypatch, name, plans):
    if plans is not None:  # past the traced functions' bound: the same operations eagerly
        monkeypatch.setattr(_tf_checks, "MAX_PLANS", plans)
        monkeypatch.setattr(_tf_checks, "_FUNCTIONS", {})
        monkeypatch.setattr(_tf_checks, "_COUNTS", collections.Counter())
    case = _bad_cases()[name]
    expected = _outcome(lambda: case(np.asarray))
    got = _outcome(lambda: case(tf.constant))
    fails = name not in ("ignored label", "probability labels")  # (the ones that pass)
    assert (expected[0] is not None or bool(expected[2])) == fails, name
    assert got == expected
    with tf.GradientTape() as tape:  # under a tape too (the checks are not recorded)
        got_taped = _outcome(lambda: case(tf.constant))
    assert got_taped == expected
    del tape


def test_tf_variables_are_checked():
    x = tf.Variable(np.exp(X) / np.exp(X).sum(axis=1, keepdims=True))
    with pytest.warns(wxent.LogitsWarning):
        wxent.softmax_cross_entropy(x, tf.constant(Y))
    labels = tf.Variable(Y + 10)
    with pytest.raises(ValueError, match="labels"):
        wxent.softmax_cross_entropy(tf.constant(X), labels)


def test_weighted_calls_give_the_one_by_one_values(eager_ops, monkeypatch):
    x = X[:16, :5].copy()
    y = Y[:16] % 5
    y[3] = -100
    x[3, 1] = math.nan  # NaN logits in an ignored row: gradient 0 there, loss finite
    x[7, 0] = math.inf  # +inf in a row of weight 0
    sw = np.linspace(0.0, 2.0, 16, dtype=np.float32)
    sw[9] = 0.0
    cw = np.float32([1, 0, 2, 0.5, 3])

    def run() -> list[np.ndarray]:
        out = []
        for reduction in ("none", "sum", "mean", "weighted_mean"):
            kw = dict(class_weight=tf.constant(cw), ignore_index=-100, reduction=reduction)
            for extra in ({}, {"sample_weight": tf.constant(sw)}):
                out.append(
                    wxent.softmax_cross_entropy(tf.constant(x), tf.constant(y), **kw, **extra)
                )
        return [t.numpy() for t in out]

    graph = run()
    with monkeypatch.context() as m:
        m.setattr(_tf_checks, "MAX_PLANS", 0)
        m.setattr(_tf_checks, "_FUNCTIONS", {})
        m.setattr(_tf_checks, "_COUNTS", collections.Counter())
        eager = run()
    for a, b in zip(graph, eager, strict=True):
        assert (
            np.atleast_1d(a).view(np.uint32).tolist() == np.atleast_1d(b).view(np.uint32).tolist()
        )
    weighted = eager_ops(
        lambda: wxent.softmax_cross_entropy(
            tf.constant(X), tf.constant(Y), class_weight=tf.constant(np.ones(10, np.float32)),
            ignore_index=-100, reduction="weighted_mean",
        )
    )  # fmt: skip
    assert weighted.total <= 45, weighted.names  # (98 before; the weights' scaling stays eager)
    assert "IsFinite" not in weighted.names and "IsNan" not in weighted.names


def test_traced_steps_call_none_of_the_eager_graphs():
    x, y = tf.constant(X), tf.constant(Y)
    cw = tf.constant(np.ones(10, np.float32))
    before = {name: _tf_checks.traces(name) for name in ("status", "softmax_losses", "weigh")}

    @tf.function
    def step(a: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(a)
            loss = wxent.softmax_cross_entropy(a, y)
            loss += wxent.softmax_cross_entropy(a, y, class_weight=cw, ignore_index=-100)
            loss += wxent.sigmoid_cross_entropy(a, tf.constant(Z))
        return loss, tape.gradient(loss, a)

    @tf.function
    def forward(a: Any) -> Any:
        return wxent.softmax_cross_entropy(a, y, class_weight=cw, ignore_index=-100)

    for traced in (step, forward):
        graph = traced.get_concrete_function(x).graph
        calls = [op for op in graph.get_operations() if "PartitionedCall" in op.type]
        assert calls == [], [op.name for op in calls]  # (the operations are inline)
    after = {name: _tf_checks.traces(name) for name in before}
    assert after == before
