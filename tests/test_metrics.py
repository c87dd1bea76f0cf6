"""Metrics from logits on every framework, traced or not, and the streaming accumulator."""

from __future__ import annotations

import itertools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf
import torch
from sklearn import metrics as skm

import reference_cost as ref
import wxent
from conftest import EAGER_BACKENDS, NumpyBackend

NUMPY = NumpyBackend()

C = 5
AVERAGES = ["micro", "macro", None]
AVERAGE_IDS = ["micro", "macro", "none"]


def _msg(text: str) -> str:
    return re.escape(text)


def _random_costs(rng, c=C):
    costs = rng.uniform(0.0, 5.0, size=(c, c))
    np.fill_diagonal(costs, 0.0)
    return costs


def _sk_scores(y_true, y_pred, average, weight=None, labels=None, beta=2.0):
    kw = dict(average=average, zero_division=0, labels=labels, sample_weight=weight)
    return (
        skm.precision_score(y_true, y_pred, **kw),
        skm.recall_score(y_true, y_pred, **kw),
        skm.fbeta_score(y_true, y_pred, beta=beta, **kw),
    )


def _ours(backend, logits, labels, weight, average, **options):
    """precision, recall, F2 in the backend (traced where it traces), as NumPy."""

    def f(x, y, w):
        return tuple(
            metric(x, y, average=average, sample_weight=w, **options, **extra)
            for metric, extra in (
                (wxent.precision, {}),
                (wxent.recall, {}),
                (wxent.fbeta_score, {"beta": 2.0}),
            )
        )

    if backend.name == "numpy":
        return f(logits, labels, weight)
    out = _call(backend, f, logits, labels, weight)
    return tuple(backend.numpy(o) for o in out)


def _call(backend, f, *arrays):
    args = [backend.asarray(a) for a in arrays]
    if backend.name == "jax-jit":
        return jax.jit(f)(*args)
    if backend.name == "tf-function":
        return tf.function(f)(*args)
    return f(*args)


def _check(ours, theirs, rtol=2e-6):
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(np.asarray(a, dtype=np.float64), b, rtol=rtol, atol=1e-7)


# ----------------------------------------------------------------------------- vs sklearn


@pytest.mark.parametrize("average", AVERAGES, ids=AVERAGE_IDS)
def test_binary_metrics_match_sklearn(backend, rng, average):
    logits = rng.standard_normal(50).astype(np.float32)
    labels = rng.integers(0, 2, size=50)
    weight = rng.uniform(0.1, 3.0, size=50).astype(np.float32)
    threshold = 0.3
    ours = _ours(backend, logits, labels, weight, average, threshold=threshold)
    theirs = _sk_scores(labels, (logits > threshold).astype(int), "binary", weight)
    if average is None:
        assert all(np.shape(o) == (1,) for o in ours)
        theirs = tuple(np.array([t]) for t in theirs)
    elif backend.name == "numpy":
        assert all(isinstance(o, float) for o in ours)
    else:
        assert all(np.shape(o) == () for o in ours)
    _check(ours, theirs)
    cm = backend.call(
        lambda x, y: wxent.confusion_matrix(x, y, threshold=threshold), logits, labels
    )
    np.testing.assert_array_equal(cm, skm.confusion_matrix(labels, (logits > threshold)))
    assert cm.dtype.kind == "i"
    cm_w = backend.call(
        lambda x, y, w: wxent.confusion_matrix(x, y, sample_weight=w), logits, labels, weight
    )
    expected = skm.confusion_matrix(labels, logits > 0, sample_weight=weight)
    np.testing.assert_allclose(cm_w, expected, rtol=1e-6)


@pytest.mark.parametrize("average", AVERAGES, ids=AVERAGE_IDS)
def test_multilabel_metrics_match_sklearn(backend, rng, average):
    logits = rng.standard_normal((40, 6)).astype(np.float32) - 1.0
    labels = (rng.random((40, 6)) < 0.3).astype(np.float32)
    labels[:, 5] = 0.0
    logits[:, 5] = -5.0  # a label with no positives and no predictions
    weight = rng.uniform(0.1, 3.0, size=40).astype(np.float32)
    threshold = np.array([0.0, -0.5, 0.5, 0.0, 1.0, 0.0])  # one logit per label
    pred = (logits > threshold).astype(int)
    ours = _ours(backend, logits, labels, weight, average, threshold=threshold)
    # macro: over the labels present in the labels or the predictions
    sk_labels = [0, 1, 2, 3, 4] if average == "macro" else None
    _check(ours, _sk_scores(labels.astype(int), pred, average, weight, labels=sk_labels))
    cm = backend.call(
        lambda x, y, w: wxent.confusion_matrix(x, y, threshold=threshold, sample_weight=w),
        logits,
        labels,
        weight,
    )
    expected = skm.multilabel_confusion_matrix(labels.astype(int), pred, sample_weight=weight)
    np.testing.assert_allclose(cm, expected, rtol=1e-6)


@pytest.mark.parametrize("average", AVERAGES, ids=AVERAGE_IDS)
def test_multiclass_metrics_match_sklearn(backend, rng, average):
    logits = rng.standard_normal((60, C)).astype(np.float32)
    logits[:, 4] -= 10.0  # class 4: never predicted
    labels = rng.integers(0, C - 1, size=60)  # ... and never true
    weight = rng.uniform(0.1, 3.0, size=60).astype(np.float32)
    pred = np.argmax(logits, -1)
    ours = _ours(backend, logits, labels, weight, average)
    sk_labels = None if average is not None else list(range(C))
    _check(ours, _sk_scores(labels, pred, average, weight, labels=sk_labels))
    cm = backend.call(wxent.confusion_matrix, logits, labels)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(labels, pred, labels=range(C)))
    cm_w = backend.call(
        lambda x, y, w: wxent.confusion_matrix(x, y, sample_weight=w), logits, labels, weight
    )
    expected = skm.confusion_matrix(labels, pred, labels=range(C), sample_weight=weight)
    np.testing.assert_allclose(cm_w, expected, rtol=1e-6)


def test_metrics_with_costs_use_bayes_decisions(backend, rng):
    logits = rng.standard_normal((50, C)).astype(np.float32)
    labels = rng.integers(0, C, size=50)
    weight = rng.uniform(0.1, 3.0, size=50).astype(np.float32)
    costs = _random_costs(rng)
    decisions, margin = ref.bayes_decision(logits, costs)
    keep = margin > 1e-4  # near ties may go either way in float32
    logits, labels, weight, decisions = logits[keep], labels[keep], weight[keep], decisions[keep]
    assert (decisions != np.argmax(logits, -1)).any()
    cm = backend.call(lambda x, y: wxent.confusion_matrix(x, y, costs=costs), logits, labels)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(labels, decisions, labels=range(C)))
    recall = backend.call(
        lambda x, y, w: wxent.recall(x, y, costs=costs, average="macro", sample_weight=w),
        logits,
        labels,
        weight,
    )
    expected = skm.recall_score(
        labels, decisions, average="macro", zero_division=0, sample_weight=weight
    )
    np.testing.assert_allclose(recall, expected, rtol=2e-6)
    cost = backend.call(
        lambda x, y, w: wxent.expected_cost(x, y, costs, sample_weight=w), logits, labels, weight
    )
    np.testing.assert_allclose(cost, np.average(costs[labels, decisions], weights=weight), 2e-6)


def test_expected_cost_sigmoid(backend, rng):
    logits = rng.standard_normal((40, 3)).astype(np.float32)
    labels = (rng.random((40, 3)) < 0.4).astype(np.float32)
    weight = rng.uniform(0.1, 3.0, size=40).astype(np.float32)
    costs = np.array([[0.0, 1.0], [4.0, 0.5]])  # [[tn, fp], [fn, tp]]
    t = wxent.cost_threshold(cost_fp=1.0, cost_fn=4.0, cost_tp=0.5)
    pred = (logits > t).astype(int)
    expected = np.average(costs[labels.astype(int), pred], weights=np.repeat(weight[:, None], 3, 1))
    ours = backend.call(
        lambda x, y, w: wxent.expected_cost(x, y, costs, sample_weight=w), logits, labels, weight
    )
    np.testing.assert_allclose(ours, expected, rtol=2e-6)
    if backend.name not in ("numpy", "strict"):  # costs as an array of the logits' framework
        framework_costs = backend.call(
            lambda x, y, c: wxent.expected_cost(x, y, c), logits, labels, costs
        )
        np.testing.assert_allclose(framework_costs, costs[labels.astype(int), pred].mean(), 2e-6)


@pytest.mark.parametrize("kind", ["binary", "multilabel", "multiclass"])
def test_torch_compile_fullgraph_matches_sklearn(rng, kind):
    torch._dynamo.reset()
    weight = rng.uniform(0.1, 3.0, size=30).astype(np.float32)
    if kind == "multiclass":
        logits = rng.standard_normal((30, C)).astype(np.float32)
        labels = rng.integers(0, C, size=30)
        pred, options, y_sk = np.argmax(logits, -1), {}, labels
    else:
        shape = (30,) if kind == "binary" else (30, 4)
        logits = rng.standard_normal(shape).astype(np.float32)
        labels = (rng.random(shape) < 0.4).astype(np.int64)
        threshold = 0.2 if kind == "binary" else np.array([0.0, 0.5, -0.5, 1.0])
        pred, options, y_sk = (logits > threshold).astype(int), {"threshold": threshold}, labels

    def f(x, y, w):
        return (
            wxent.precision(x, y, sample_weight=w, average="macro", **options),
            wxent.recall(x, y, sample_weight=w, average="macro", **options),
            wxent.fbeta_score(x, y, beta=2.0, sample_weight=w, average="macro", **options),
            wxent.confusion_matrix(x, y, **options),
        )

    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    out = compiled(torch.from_numpy(logits), torch.from_numpy(labels), torch.from_numpy(weight))
    average = "binary" if kind == "binary" else "macro"
    _check([o.numpy() for o in out[:3]], _sk_scores(y_sk, pred, average, weight))
    if kind == "multiclass":
        expected_cm = skm.confusion_matrix(labels, pred, labels=range(C))
    elif kind == "binary":
        expected_cm = skm.confusion_matrix(labels, pred)
    else:
        expected_cm = skm.multilabel_confusion_matrix(labels, pred)
    np.testing.assert_array_equal(out[3].numpy(), expected_cm)


def test_torch_compile_expected_cost(rng):
    torch._dynamo.reset()
    logits = rng.standard_normal((30, C)).astype(np.float32)
    labels = rng.integers(0, C, size=30)
    costs = _random_costs(rng)
    compiled = torch.compile(
        lambda x, y: wxent.expected_cost(x, y, costs), fullgraph=True, backend="aot_eager"
    )
    decisions, _ = ref.bayes_decision(logits, costs)
    ours = compiled(torch.from_numpy(logits), torch.from_numpy(labels))
    np.testing.assert_allclose(float(ours), costs[labels, decisions].mean(), rtol=2e-6)


def test_framework_results_stay_in_framework(rng):
    logits = rng.standard_normal((8, 3)).astype(np.float32)
    labels = rng.integers(0, 3, size=8)
    r_t = wxent.recall(torch.from_numpy(logits), torch.from_numpy(labels))
    assert isinstance(r_t, torch.Tensor) and r_t.shape == () and r_t.dtype == torch.float32
    r_j = wxent.recall(jnp.asarray(logits), jnp.asarray(labels), average=None)
    assert isinstance(r_j, jax.Array) and r_j.shape == (3,)
    r_tf = wxent.recall(tf.constant(logits), tf.constant(labels))
    assert isinstance(r_tf, tf.Tensor) and r_tf.dtype == tf.float32
    r_np = wxent.recall(logits, labels)
    assert isinstance(r_np, float)
    assert float(r_t) == pytest.approx(r_np) == pytest.approx(float(r_j.mean() * 0 + r_np))
    cm_t = wxent.confusion_matrix(torch.from_numpy(logits), torch.from_numpy(labels))
    assert cm_t.dtype == torch.int64
    cm_w = wxent.confusion_matrix(
        torch.from_numpy(logits), torch.from_numpy(labels), sample_weight=torch.ones(8)
    )
    assert cm_w.dtype == torch.float32
    np.testing.assert_array_equal(cm_w.numpy(), cm_t.numpy())


def test_float64_logits_count_in_float64(rng):
    logits = rng.standard_normal((20, 3))
    labels = rng.integers(0, 3, size=20)
    weight = rng.uniform(0.1, 3.0, size=20)
    ours = wxent.precision(
        torch.from_numpy(logits), torch.from_numpy(labels), sample_weight=torch.from_numpy(weight)
    )
    assert ours.dtype == torch.float64
    theirs = skm.precision_score(labels, logits.argmax(-1), average="micro", sample_weight=weight)
    assert float(ours) == pytest.approx(theirs, rel=1e-12)


def test_threshold_compares_exactly_in_float32():
    """``logits > threshold`` as in float64, though the logits are float32."""
    logits = np.array([0.3, 0.30000001, 0.2999999], dtype=np.float32)
    labels = np.array([1, 1, 1])
    expected = (logits.astype(np.float64) > 0.3).sum()
    for make in (np.asarray, torch.from_numpy, jnp.asarray, tf.constant):
        cm = wxent.confusion_matrix(make(logits), make(labels), threshold=0.3)
        assert int(np.asarray(cm)[1, 1]) == expected


def test_ignored_labels_are_left_out(eager_backend, rng):
    logits = rng.standard_normal((30, C)).astype(np.float32)
    labels = rng.integers(0, C, size=30)
    labels[:7] = -1
    keep = labels != -1
    pred = np.argmax(logits, -1)
    cm = eager_backend.call(
        lambda x, y: wxent.confusion_matrix(x, y, ignore_index=-1), logits, labels
    )
    np.testing.assert_array_equal(
        cm, skm.confusion_matrix(labels[keep], pred[keep], labels=range(C))
    )
    ml_logits = rng.standard_normal((20, 3)).astype(np.float32)
    ml_labels = (rng.random((20, 3)) < 0.5).astype(np.float32)
    ml_labels[0, :] = -1
    ml_labels[5, 1] = -1
    ours = eager_backend.call(
        lambda x, y: wxent.recall(x, y, ignore_label=-1, average=None), ml_logits, ml_labels
    )
    for k in range(3):
        keep = ml_labels[:, k] != -1
        expected = skm.recall_score(ml_labels[keep, k], ml_logits[keep, k] > 0, zero_division=0)
        assert ours[k] == pytest.approx(expected)


def test_ignore_index_outside_the_label_dtype_ignores_nothing(rng):
    logits = rng.standard_normal((10, 3)).astype(np.float32)
    labels = rng.integers(0, 3, size=10).astype(np.int32)
    for make in (np.asarray, torch.from_numpy, jnp.asarray, tf.constant):
        cm = wxent.confusion_matrix(make(logits), make(labels), ignore_index=2**40)
        assert int(np.asarray(cm).sum()) == 10


def test_multilabel_class_axis(rng):
    logits = rng.standard_normal((4, 3, 5)).astype(np.float32)
    labels = (rng.random((4, 3, 5)) < 0.5).astype(np.float32)
    moved = wxent.precision(
        np.moveaxis(logits, 1, -1).reshape(-1, 3),
        np.moveaxis(labels, 1, -1).reshape(-1, 3),
        average=None,
    )
    np.testing.assert_allclose(wxent.precision(logits, labels, class_axis=1, average=None), moved)
    on_torch = wxent.precision(
        torch.from_numpy(logits), torch.from_numpy(labels), class_axis=1, average=None
    )
    np.testing.assert_allclose(on_torch.numpy(), moved, rtol=1e-6)


def test_zero_division_gives_zero(eager_backend):
    logits = np.array([-3.0, -2.0, -1.0], dtype=np.float32)

    def run(f, y, **kw):
        return float(eager_backend.call(lambda a, b: f(a, b, **kw), logits, np.array(y)))

    assert run(wxent.precision, [1, 1, 0]) == 0.0  # nothing predicted
    assert run(wxent.recall, [0, 0, 0]) == 0.0  # nothing to find
    assert run(wxent.fbeta_score, [0, 0, 0], average="macro") == 0.0
    nothing = eager_backend.call(
        lambda x, y: wxent.expected_cost(x, y, 1 - np.eye(3), ignore_index=-1),
        np.zeros((2, 3), np.float32),
        np.array([-1, -1]),
    )
    assert float(nothing) == 0.0


def test_python_lists_as_labels_and_weights(rng):
    logits = rng.standard_normal((6, 3)).astype(np.float32)
    labels = [0, 1, 2, 2, 1, 0]
    expected = wxent.recall(logits, np.array(labels), average=None, sample_weight=np.arange(6.0))
    for make in (np.asarray, torch.from_numpy, jnp.asarray, tf.constant):
        ours = wxent.recall(make(logits), labels, average=None, sample_weight=list(range(6)))
        np.testing.assert_allclose(np.asarray(ours), expected, rtol=1e-6)
    assert wxent.recall(jnp.asarray(logits), np.array(labels)) == pytest.approx(
        wxent.recall(logits, np.array(labels))
    )


# ----------------------------------------------------------------------------- accumulator


def _batches(n, sizes):
    edges = np.cumsum([0, *sizes])
    assert edges[-1] == n
    return [slice(a, b) for a, b in itertools.pairwise(edges)]


@pytest.mark.parametrize("kind", ["multiclass", "multilabel", "binary"])
def test_accumulator_over_batches_equals_whole_set(eager_backend, rng, kind):
    n = 45
    weight = rng.uniform(0.1, 3.0, size=n).astype(np.float32)
    options = {}
    if kind == "multiclass":
        logits = rng.standard_normal((n, C)).astype(np.float32)
        labels = rng.integers(0, C, size=n)
        labels[:3] = -1
        options = {"ignore_index": -1, "costs": _random_costs(rng)}
    else:
        shape = (n,) if kind == "binary" else (n, 4)
        logits = rng.standard_normal(shape).astype(np.float32)
        labels = (rng.random(shape) < 0.4).astype(np.float32)
        if kind == "multilabel":
            options = {"threshold": np.array([0.0, 0.5, -0.5, 1.0])}
    b = eager_backend
    for weighted in (False, True):
        acc = wxent.MetricAccumulator(**options)
        for s in _batches(n, [10, 1, 20, 14]):
            w = b.asarray(weight[s]) if weighted else None
            assert acc.update(b.asarray(logits[s]), b.asarray(labels[s]), w) is acc
        result = acc.compute(average="macro", beta=2.0)
        x, y = b.asarray(logits), b.asarray(labels)
        w = b.asarray(weight) if weighted else None
        metric_options = dict(options)
        whole = {
            "precision": wxent.precision(x, y, average="macro", sample_weight=w, **metric_options),
            "recall": wxent.recall(x, y, average="macro", sample_weight=w, **metric_options),
            "fbeta_score": wxent.fbeta_score(
                x, y, beta=2.0, average="macro", sample_weight=w, **metric_options
            ),
            "confusion_matrix": wxent.confusion_matrix(x, y, sample_weight=w, **metric_options),
        }
        if "costs" in options:
            whole["expected_cost"] = wxent.expected_cost(
                x, y, options["costs"], sample_weight=w, ignore_index=-1
            )
        assert set(result) == set(whole)
        for name, value in whole.items():
            ours = result[name] if b.name == "numpy" else b.numpy(result[name])
            theirs = value if b.name == "numpy" else b.numpy(value)
            np.testing.assert_allclose(ours, theirs, rtol=2e-6, err_msg=name)


def test_accumulator_shards_merge_like_one(rng):
    n = 60
    logits = rng.standard_normal((n, C)).astype(np.float32)
    labels = rng.integers(0, C, size=n)
    weight = rng.uniform(0.1, 3.0, size=n).astype(np.float32)
    for make in (np.asarray, torch.from_numpy, jnp.asarray, tf.constant):
        one = wxent.MetricAccumulator()
        shards = [wxent.MetricAccumulator() for _ in range(3)]
        for i, s in enumerate(_batches(n, [7, 13, 9, 11, 20])):
            x, y, w = make(logits[s]), make(labels[s]), make(weight[s]) if i % 2 else None
            one.update(x, y, w)
            shards[i % 3].update(x, y, w)
        merged = sum(shards)
        assert isinstance(merged, wxent.MetricAccumulator)
        for average in AVERAGES:
            a, m = one.compute(average=average), merged.compute(average=average)
            for name in a:
                np.testing.assert_allclose(np.asarray(m[name]), np.asarray(a[name]), rtol=1e-6)
        again = wxent.MetricAccumulator().merge(shards[0]).merge(shards[1]) + shards[2]
        np.testing.assert_allclose(
            np.asarray(again.compute()["confusion_matrix"]),
            np.asarray(one.compute()["confusion_matrix"]),
            rtol=1e-6,
        )


def test_accumulator_counts_stay_in_framework_and_reset(rng):
    logits = torch.from_numpy(rng.standard_normal((8, 3)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 3, size=8))
    acc = wxent.MetricAccumulator().update(logits, labels)
    result = acc.compute()
    assert isinstance(result["recall"], torch.Tensor)
    assert result["confusion_matrix"].dtype == torch.int64
    assert int(result["confusion_matrix"].sum()) == 8
    acc.reset()
    with pytest.raises(ValueError, match=_msg("Expected at least one batch before compute()")):
        acc.compute()
    acc.update(logits, labels)
    with pytest.raises(TypeError, match=_msg("Expected the framework of the first batch")):
        acc.update(logits.numpy(), labels.numpy())
    with pytest.raises(ValueError, match=_msg("Expected multiclass batches with 3 classes")):
        acc.update(logits[:, :2], labels % 2)
    small = wxent.MetricAccumulator(confusion=False).update(logits, labels).compute()
    assert "confusion_matrix" not in small


# ----------------------------------------------------------------------------- errors

FRAMEWORKS = {
    "numpy": np.asarray,
    "torch": torch.from_numpy,
    "jax": jnp.asarray,
    "tf": tf.constant,
}


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("bad", [-1, 5, 3])
def test_out_of_range_labels_raise_on_every_framework(framework, bad):
    make = FRAMEWORKS[framework]
    logits = make(np.zeros((4, 3), np.float32))
    labels = make(np.array([0, bad, 2, 1]))
    for f in (wxent.precision, wxent.recall, wxent.fbeta_score, wxent.confusion_matrix):
        with pytest.raises(
            ValueError,
            match=_msg(
                "Invalid value for argument `labels`. Expected class indices in [0, 3). "
                f"Received: label value {bad} (1 out-of-range label(s))"
            ),
        ):
            f(logits, labels)
    with pytest.raises(ValueError, match=_msg(f"Received: label value {bad}")):
        wxent.expected_cost(logits, labels, 1 - np.eye(3))
    with pytest.raises(ValueError, match=_msg(f"Received: label value {bad}")):
        wxent.MetricAccumulator().update(logits, labels)
    assert int(np.asarray(wxent.confusion_matrix(logits, labels, validate=False)).sum()) == 3


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_bad_values_raise_on_every_framework(framework):
    make = FRAMEWORKS[framework]
    x = np.zeros((4, 3), np.float32)
    z = np.array([[0, 1, 1]] * 4, np.float32)
    z[1, 2] = 0.5
    with pytest.raises(
        ValueError,
        match=_msg(
            "Invalid value for argument `labels`. Expected 0/1 labels for sigmoid logits "
            "(labels with the logits' shape). Received: label value 0.5 (1 such label(s))"
        ),
    ):
        wxent.recall(make(x), make(z))
    nan = x.copy()
    nan[2, 1] = np.nan
    with pytest.raises(ValueError, match=_msg("Received: 1 NaN value(s) in `logits`")):
        wxent.precision(make(nan), make(np.array([0, 1, 2, 0])))
    with pytest.raises(
        ValueError, match=_msg("Invalid value for argument `sample_weight`. Expected finite")
    ):
        wxent.precision(make(x), make(np.array([0, 1, 2, 0])), sample_weight=make(-np.ones(4)))
    with pytest.raises(ValueError, match=_msg("Invalid value for argument `sample_weight`")):
        wxent.precision(make(x), make(np.array([0, 1, 2, 0])), sample_weight=[1.0, -1.0, 0, 0])
    with pytest.raises(ValueError, match=_msg("Expected one weight per sample")):
        wxent.precision(make(x), make(np.array([0, 1, 2, 0])), sample_weight=np.ones(3))
    if framework != "numpy":
        with pytest.raises(ValueError, match=_msg("Invalid value for argument `threshold`")):
            wxent.recall(
                make(x), make(np.ones((4, 3), np.float32)), threshold=make(np.full(3, np.nan))
            )
        with pytest.raises(ValueError, match=_msg("Invalid value for argument `costs`")):
            wxent.expected_cost(make(x), make(np.array([0, 1, 2, 0])), make(-np.ones((3, 3))))


MIXES = [
    ("numpy", "torch"),
    ("torch", "numpy"),
    ("jax", "torch"),
    ("torch", "jax"),
    ("tf", "numpy"),
    ("numpy", "tf"),
    ("torch", "tf"),
    ("tf", "jax"),
    ("numpy", "jax"),
]


@pytest.mark.parametrize(("logits_fw", "labels_fw"), MIXES)
def test_mixed_frameworks_get_one_message(logits_fw, labels_fw):
    logits = FRAMEWORKS[logits_fw](np.zeros((4, 3), np.float32))
    labels = FRAMEWORKS[labels_fw](np.array([0, 1, 2, 0]))
    expected = (
        "Invalid type for argument `labels`. Expected an array of the same framework as "
        f"`logits` ({type(logits).__name__}). Received: labels of type {type(labels).__name__}"
    )
    for f in (wxent.precision, wxent.recall, wxent.fbeta_score, wxent.confusion_matrix):
        with pytest.raises(TypeError, match=_msg(expected)):
            f(logits, labels)
    with pytest.raises(TypeError, match=_msg(expected)):
        wxent.expected_cost(logits, labels, 1 - np.eye(3))
    good = FRAMEWORKS[logits_fw](np.array([0, 1, 2, 0]))
    # sample_weight of another framework: read as values, as the losses' weights
    weighted = wxent.recall(logits, good, sample_weight=FRAMEWORKS[labels_fw](np.ones(4)))
    assert float(weighted) == float(wxent.recall(logits, good))


def test_metric_errors(rng):
    logits = rng.standard_normal((6, 3)).astype(np.float32)
    labels = rng.integers(0, 3, size=6)
    with pytest.raises(
        ValueError,
        match=_msg(
            'Invalid value for argument `average`. Expected one of "micro", "macro", None. '
            "Received: average='weighted'"
        ),
    ):
        wxent.precision(logits, labels, average="weighted")
    with pytest.raises(ValueError, match=_msg("Invalid value for argument `beta`")):
        wxent.fbeta_score(logits, labels, beta=-1.0)
    with pytest.raises(
        ValueError,
        match=_msg(
            "Invalid value for argument `labels`. Expected 0/1 labels of the logits' shape "
            "(6, 3) (sigmoid logits) or integer class indices of shape (6,) (softmax logits, "
            "class_axis=1). Received: labels of shape (6,) and dtype float32"
        ),
    ):
        wxent.recall(logits, labels.astype(np.float32))
    with pytest.raises(ValueError, match=_msg("Received: labels of shape (3,)")):
        wxent.recall(logits, labels[:3])
    with pytest.raises(ValueError, match=_msg("Invalid value for argument `threshold`")):
        wxent.recall(logits, labels, threshold=0.5)
    with pytest.raises(TypeError, match=_msg("Invalid type for argument `threshold`")):
        wxent.recall(logits, (logits > 0).astype(np.float32), threshold="0.5")
    with pytest.raises(ValueError, match=_msg("Invalid value for argument `costs`")):
        wxent.recall(logits, (logits > 0).astype(np.float32), costs=1 - np.eye(3))
    with pytest.raises(
        ValueError,
        match=_msg(
            "Invalid value for argument `threshold`. Expected a scalar logit or one per "
            "label, shape (3,) along class_axis. Received: threshold of shape (2,)"
        ),
    ):
        wxent.recall(logits, (logits > 0).astype(np.float32), threshold=[0.0, 1.0])
    with pytest.raises(ValueError, match=_msg("Invalid value for argument `ignore_index`")):
        wxent.recall(logits, (logits > 0).astype(np.float32), ignore_index=-1)
    with pytest.raises(ValueError, match=_msg("Invalid value for argument `ignore_label`")):
        wxent.recall(logits, labels, ignore_label=-1)
    with pytest.raises(TypeError, match=_msg("Invalid type for argument `costs`")):
        wxent.expected_cost(logits, labels, None)
    with pytest.raises(ValueError, match=_msg("Expected a square matrix of shape (2, 2)")):
        wxent.expected_cost(logits[:, 0], labels % 2, 1 - np.eye(3))
    # a degenerate 2 x 2 matrix is an error about `costs`, the argument given (it named
    # cost_fp, an argument of cost_threshold that the caller never passed)
    with pytest.raises(ValueError, match=_msg("argument `costs`. Expected a 2 x 2 matrix")):
        wxent.expected_cost(logits[:, 0], labels % 2, [[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match=_msg("under which the decision matters")):
        wxent.expected_cost(logits[:, 0], labels % 2, [[2.0, 2.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match=_msg("argument `costs`")):
        wxent.MetricAccumulator(costs=[[1.0, 0.0], [0.0, 1.0]]).update(logits[:, 0], labels % 2)
    with pytest.raises(TypeError, match=_msg("Invalid type for argument `labels`")):
        wxent.recall(logits, ["a", "b", "c", "a", "b", "c"])


def test_one_scalar_read_per_call(rng, monkeypatch):
    """Torch: no array goes to the host, one scalar is read (the folded checks)."""
    logits = torch.from_numpy(rng.standard_normal((16, 4)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 4, size=16))
    weight = torch.rand(16)
    reads = []
    for name in ("numpy", "cpu", "item", "tolist", "__bool__", "__float__", "__int__", "__index__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            reads.append((_name, tuple(self.shape)))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    for f in (wxent.precision, wxent.confusion_matrix):
        reads.clear()
        f(logits, labels, sample_weight=weight)
        assert len(reads) == 1 and reads[0][1] == (), reads
    reads.clear()
    wxent.expected_cost(logits, labels, torch.from_numpy(1 - np.eye(4, dtype=np.float32)))
    assert len(reads) == 1 and reads[0][1] == (), reads
    reads.clear()
    wxent.recall(logits, labels, validate=False)
    assert reads == []


def test_every_eager_backend_is_tested():
    assert {b.name for b in EAGER_BACKENDS} >= {"numpy", "strict", "torch", "jax", "tf"}


@pytest.mark.parametrize("kind", ["binary", "multilabel", "multiclass"])
@pytest.mark.parametrize("average", AVERAGES, ids=AVERAGE_IDS)
def test_scores_from_confusion_equal_the_metrics(backend, rng, kind, average):
    """What a Keras metric does: sum confusion matrices in its state, then score them."""
    n = 40
    weight = rng.uniform(0.1, 3.0, size=n).astype(np.float32)
    if kind == "multiclass":
        logits = rng.standard_normal((n, C)).astype(np.float32)
        labels = rng.integers(0, C, size=n)
    else:
        shape = (n,) if kind == "binary" else (n, 4)
        logits = rng.standard_normal(shape).astype(np.float32)
        labels = (rng.random(shape) < 0.4).astype(np.float32)

    def state_then_scores(x, y, w):
        total = None
        for s in _batches(n, [15, 25]):
            m = wxent.confusion_matrix(x[s, ...], y[s, ...], sample_weight=w[s])
            total = m if total is None else total + m
        return tuple(
            wxent.metrics.scores_from_confusion(
                total, metric=metric, average=average, beta=2.0, multiclass=kind == "multiclass"
            )
            for metric in ("precision", "recall", "fbeta")
        )

    ours = _call(backend, state_then_scores, logits, labels, weight)
    if backend.name != "numpy":
        ours = tuple(backend.numpy(o) for o in ours)
    whole = _ours(NUMPY, logits, labels, weight, average)
    _check(ours, whole, rtol=5e-6)


def test_scores_from_confusion_integer_counts_and_errors():
    counts = np.array([[3, 1, 0], [0, 2, 2], [1, 0, 1]])
    for make in (np.asarray, torch.from_numpy, jnp.asarray, tf.constant):
        macro = wxent.metrics.scores_from_confusion(make(counts), metric="recall", average="macro")
        assert float(macro) == pytest.approx((3 / 4 + 2 / 4 + 1 / 2) / 3)
        two = wxent.metrics.scores_from_confusion(
            make(np.array([[5, 1], [2, 2]])), metric="precision", average=None, multiclass=True
        )
        np.testing.assert_allclose(np.asarray(two), [5 / 7, 2 / 3], rtol=1e-6)
    with pytest.raises(ValueError, match=_msg("Invalid value for argument `metric`")):
        wxent.metrics.scores_from_confusion(counts, metric="accuracy")
    with pytest.raises(
        ValueError,
        match=_msg(
            "Invalid value for argument `confusion`. Expected counts of shape (2, 2), "
            "(L, 2, 2) or (C, C). Received: shape (3, 2)"
        ),
    ):
        wxent.metrics.scores_from_confusion(np.ones((3, 2)))
    with pytest.raises(TypeError, match=_msg("Invalid type for argument `confusion`")):
        wxent.metrics.scores_from_confusion([[1, 2], [3, 4]])


def test_unknown_dimensions_under_tf_function(rng):
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    y = rng.integers(0, 3, (2, 5))
    z = (rng.random((2, 5, 3)) < 0.5).astype(np.float32)
    costs = _random_costs(rng, 3)
    spec_x = tf.TensorSpec([None, None, 3])

    @tf.function(input_signature=[spec_x, tf.TensorSpec([None, None], tf.int64)])
    def softmax_metrics(a, b):
        return (
            wxent.recall(a, b, average="macro"),
            wxent.confusion_matrix(a, b, costs=costs),
            wxent.expected_cost(a, b, costs),
        )

    @tf.function(input_signature=[spec_x, tf.TensorSpec([None, None, 3])])
    def sigmoid_metrics(a, b):
        return wxent.precision(a, b, average=None, sample_weight=tf.ones_like(b))

    recall, cm, cost = softmax_metrics(tf.constant(x), tf.constant(y))
    assert float(recall) == pytest.approx(wxent.recall(x, y, average="macro"))
    np.testing.assert_array_equal(cm.numpy(), wxent.confusion_matrix(x, y, costs=costs))
    assert float(cost) == pytest.approx(wxent.expected_cost(x, y, costs), rel=1e-6)
    np.testing.assert_allclose(
        sigmoid_metrics(tf.constant(x), tf.constant(z)).numpy(),
        wxent.precision(x, z, average=None),
        rtol=1e-6,
    )


def test_softmax_class_axis_with_costs(eager_backend, rng):
    logits = rng.standard_normal((3, C, 4)).astype(np.float32)
    labels = rng.integers(0, C, (3, 4))
    costs = _random_costs(rng)
    decisions, margin = ref.bayes_decision(logits, costs, class_axis=1)
    assert (margin > 1e-4).all()
    cm = eager_backend.call(
        lambda x, y: wxent.confusion_matrix(x, y, costs=costs, class_axis=1), logits, labels
    )
    expected = skm.confusion_matrix(labels.ravel(), decisions.ravel(), labels=range(C))
    np.testing.assert_array_equal(cm, expected)
