"""Bayes decisions, cost thresholds and metrics from logits."""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

import reference_cost as ref
import wxent

C = 5


def _msg(text: str) -> str:
    return re.escape(text)


def _random_costs(rng, c=C):
    costs = rng.uniform(0.0, 5.0, size=(c, c))
    np.fill_diagonal(costs, 0.0)
    return costs


# ----------------------------------------------------------------------------- bayes_decision


def test_bayes_decision_is_brute_force_argmin(backend, rng):
    logits = (2.0 * rng.standard_normal((40, C))).astype(np.float32)
    costs = _random_costs(rng)
    out = backend.call(lambda x: wxent.bayes_decision(x, costs), logits)
    expected, margin = ref.bayes_decision(logits, costs)
    clear = margin > 1e-4  # near ties may go either way in float32
    assert clear.sum() > 30
    np.testing.assert_array_equal(out[clear], expected[clear])


def test_bayes_decision_with_one_minus_identity_is_argmax(backend, rng):
    logits = (3.0 * rng.standard_normal((40, C))).astype(np.float32)
    out = backend.call(lambda x: wxent.bayes_decision(x, 1 - np.eye(C)), logits)
    np.testing.assert_array_equal(out, np.argmax(logits, axis=-1))


def test_bayes_decision_class_axis_and_framework_costs(backend, rng):
    logits = rng.standard_normal((3, C, 4)).astype(np.float32)
    costs = _random_costs(rng).astype(np.float32)
    out = backend.call(lambda x, c: wxent.bayes_decision(x, c, class_axis=1), logits, costs)
    expected, margin = ref.bayes_decision(logits, costs, class_axis=1)
    assert out.shape == (3, 4)
    clear = margin > 1e-4
    np.testing.assert_array_equal(out[clear], expected[clear])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_classes=st.integers(2, 6))
def test_bayes_decision_minimises_expected_cost(seed, n_classes):
    """No other prediction has a smaller expected cost (up to float32 rounding)."""
    rng = np.random.default_rng(seed)
    logits = (4.0 * rng.standard_normal((20, n_classes))).astype(np.float32)
    costs = _random_costs(rng, n_classes)
    decisions = wxent.bayes_decision(logits, costs)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p = p / p.sum(-1, keepdims=True)
    risks = p.astype(np.float64) @ costs
    chosen = risks[np.arange(20), decisions]
    assert np.all(chosen <= risks.min(-1) + 1e-5 * (1 + risks.min(-1)))


def test_bayes_decision_returns_framework_integers(rng):
    logits = rng.standard_normal((4, 3)).astype(np.float32)
    costs = 1 - np.eye(3)
    out_t = wxent.bayes_decision(torch.from_numpy(logits), costs)
    assert isinstance(out_t, torch.Tensor) and not out_t.dtype.is_floating_point
    out_j = jax.jit(lambda x: wxent.bayes_decision(x, costs))(jnp.asarray(logits))
    assert isinstance(out_j, jax.Array) and jnp.issubdtype(out_j.dtype, jnp.integer)
    out_tf = tf.function(lambda x: wxent.bayes_decision(x, costs))(tf.constant(logits))
    assert isinstance(out_tf, tf.Tensor) and out_tf.dtype.is_integer
    out_np = wxent.bayes_decision(logits, costs)
    assert isinstance(out_np, np.ndarray) and out_np.dtype.kind == "i"


def test_bayes_decision_errors(rng):
    logits = rng.standard_normal((4, 3)).astype(np.float32)
    with pytest.raises(
        ValueError,
        match=_msg(
            "Invalid value for argument `costs`. Expected a square matrix of shape (3, 3), one "
            "row and column per class. Received: costs of shape (2, 2)"
        ),
    ):
        wxent.bayes_decision(logits, np.ones((2, 2)))
    with pytest.raises(ValueError, match=_msg("Received: negative value")):
        wxent.bayes_decision(logits, -np.ones((3, 3)))
    with pytest.raises(TypeError, match=_msg("Invalid type for argument `logits`")):
        wxent.bayes_decision(np.zeros((2, 3), dtype=np.int64), 1 - np.eye(3))
    with pytest.raises(ValueError, match=_msg("Invalid value for argument `class_axis`")):
        wxent.bayes_decision(logits, 1 - np.eye(3), class_axis=2)
    nan = logits.copy()
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match=_msg("Received: 1 NaN value(s) in `logits`")):
        wxent.bayes_decision(nan, 1 - np.eye(3))


# ----------------------------------------------------------------------------- cost_threshold

costs_st = st.floats(0.0, 100.0, allow_nan=False)


@settings(max_examples=25, deadline=None)
@given(
    cost_fp=st.floats(0.01, 100.0),
    cost_fn=st.floats(0.01, 100.0),
    cost_tp=st.floats(0.0, 1.0),
    cost_tn=st.floats(0.0, 1.0),
)
def test_cost_threshold_is_elkan_logit(cost_fp, cost_fn, cost_tp, cost_tn):
    cost_fp, cost_fn = cost_fp + cost_tn, cost_fn + cost_tp  # both regrets > 0
    t = wxent.cost_threshold(cost_fp=cost_fp, cost_fn=cost_fn, cost_tp=cost_tp, cost_tn=cost_tn)
    p_star = ref.elkan_threshold(cost_fp, cost_fn, cost_tp, cost_tn)
    assert math.isclose(t, math.log(p_star / (1 - p_star)), rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=50, deadline=None)
@given(
    logit=st.floats(-40.0, 40.0),
    cost_fp=costs_st,
    cost_fn=costs_st,
    cost_tp=costs_st,
    cost_tn=costs_st,
)
def test_deciding_with_cost_threshold_minimises_expected_cost(
    logit, cost_fp, cost_fn, cost_tp, cost_tn
):
    a, b = cost_fp - cost_tn, cost_fn - cost_tp
    if (a == 0 and b == 0) or (a < 0 and b < 0):
        with pytest.raises(ValueError, match="Invalid value for argument `cost_fp`"):
            wxent.cost_threshold(cost_fp=cost_fp, cost_fn=cost_fn, cost_tp=cost_tp, cost_tn=cost_tn)
        return
    t = wxent.cost_threshold(cost_fp=cost_fp, cost_fn=cost_fn, cost_tp=cost_tp, cost_tn=cost_tn)
    positive, negative = ref.binary_expected_costs(logit, cost_fp, cost_fn, cost_tp, cost_tn)
    chosen, other = (positive, negative) if logit > t else (negative, positive)
    assert chosen <= other + 1e-9 * (1 + abs(other))
    # and the decision agrees with the sigmoid logits metrics use
    decided = wxent.confusion_matrix(np.array([logit]), np.array([1]), threshold=t)
    assert decided[1, 1] == (logit > t)


def test_cost_threshold_degenerate_cases():
    assert wxent.cost_threshold(cost_fp=1.0, cost_fn=1.0) == 0.0
    assert wxent.cost_threshold(cost_fp=0.0, cost_fn=1.0) == -math.inf  # positive never worse
    assert wxent.cost_threshold(cost_fp=2.0, cost_fn=1.0, cost_tp=1.0) == math.inf
    assert wxent.cost_threshold(cost_fp=1.0, cost_fn=0.0, cost_tp=2.0) == math.inf
    with pytest.raises(
        ValueError,
        match=_msg(
            "Invalid value for argument `cost_fp`. Expected costs under which the decision "
            "matters (cost_fp != cost_tn or cost_fn != cost_tp). Received: cost_fp=1.0, "
            "cost_fn=2.0, cost_tp=2.0, cost_tn=1.0"
        ),
    ):
        wxent.cost_threshold(cost_fp=1.0, cost_fn=2.0, cost_tp=2.0, cost_tn=1.0)
    with pytest.raises(ValueError, match=_msg("are the arguments swapped?")):
        wxent.cost_threshold(cost_fp=0.0, cost_fn=0.0, cost_tp=1.0, cost_tn=1.0)
    with pytest.raises(
        ValueError,
        match=_msg(
            "Invalid value for argument `cost_fn`. Expected a finite number >= 0. "
            "Received: cost_fn=-1.0"
        ),
    ):
        wxent.cost_threshold(cost_fp=1.0, cost_fn=-1.0)
    with pytest.raises(ValueError, match=_msg("Received: cost_tp=inf")):
        wxent.cost_threshold(cost_fp=1.0, cost_fn=1.0, cost_tp=math.inf)
    with pytest.raises(
        TypeError,
        match=_msg(
            "Invalid type for argument `cost_fp`. Expected a finite number >= 0. "
            "Received: cost_fp='1'"
        ),
    ):
        wxent.cost_threshold(cost_fp="1", cost_fn=1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cost_fn"):
        wxent.cost_threshold(cost_fp=1.0)  # type: ignore[call-arg]


# ----------------------------------------------------------------------------- metrics vs sklearn

AVERAGE_IDS = ["micro", "macro", "none"]


def _sk_scores(y_true, y_pred, average, labels=None, beta=2.0):
    kw = dict(average=average, zero_division=0, labels=labels)
    return (
        skm.precision_score(y_true, y_pred, **kw),
        skm.recall_score(y_true, y_pred, **kw),
        skm.fbeta_score(y_true, y_pred, beta=beta, **kw),
    )


def _ours(backend, logits, labels, average, **options):
    x, y = backend.asarray(logits), backend.asarray(labels)
    return (
        wxent.precision(x, y, average=average, **options),
        wxent.recall(x, y, average=average, **options),
        wxent.fbeta_score(x, y, beta=2.0, average=average, **options),
    )


def _check(ours, theirs):
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("average", ["micro", "macro", None], ids=AVERAGE_IDS)
def test_binary_metrics_match_sklearn(eager_backend, rng, average):
    logits = rng.standard_normal(50).astype(np.float32)
    labels = rng.integers(0, 2, size=50)
    threshold = 0.3
    ours = _ours(eager_backend, logits, labels, average, threshold=threshold)
    theirs = _sk_scores(labels, (logits > threshold).astype(int), "binary")
    if average is None:
        assert all(np.shape(o) == (1,) for o in ours)
        theirs = tuple(np.array([t]) for t in theirs)
    else:
        assert all(isinstance(o, float) for o in ours)
    _check(ours, theirs)
    cm = wxent.confusion_matrix(eager_backend.asarray(logits), eager_backend.asarray(labels))
    np.testing.assert_array_equal(cm, skm.confusion_matrix(labels, (logits > 0).astype(int)))


@pytest.mark.parametrize("average", ["micro", "macro", None], ids=AVERAGE_IDS)
def test_multilabel_metrics_match_sklearn(eager_backend, rng, average):
    logits = rng.standard_normal((40, 6)).astype(np.float32) - 1.0
    labels = (rng.random((40, 6)) < 0.3).astype(np.float32)
    labels[:, 5] = 0.0
    logits[:, 5] = -5.0  # a label with no positives and no predictions
    threshold = np.array([0.0, -0.5, 0.5, 0.0, 1.0, 0.0])
    pred = (logits > threshold).astype(int)
    ours = _ours(eager_backend, logits, labels, average, threshold=threshold)
    if average == "macro":  # over the labels present in the labels or the predictions
        theirs = _sk_scores(labels.astype(int), pred, "macro", labels=[0, 1, 2, 3, 4])
    else:
        theirs = _sk_scores(labels.astype(int), pred, average)
    _check(ours, theirs)
    cm = wxent.confusion_matrix(
        eager_backend.asarray(logits), eager_backend.asarray(labels), threshold=threshold
    )
    np.testing.assert_array_equal(cm, skm.multilabel_confusion_matrix(labels.astype(int), pred))


@pytest.mark.parametrize("average", ["micro", "macro", None], ids=AVERAGE_IDS)
def test_multiclass_metrics_match_sklearn(eager_backend, rng, average):
    logits = rng.standard_normal((60, C)).astype(np.float32)
    logits[:, 4] -= 10.0  # class 4: never predicted
    labels = rng.integers(0, C - 1, size=60)  # ... and never true
    pred = np.argmax(logits, -1)
    ours = _ours(eager_backend, logits, labels, average)
    sk_labels = None if average is not None else list(range(C))
    _check(ours, _sk_scores(labels, pred, average, labels=sk_labels))
    cm = wxent.confusion_matrix(eager_backend.asarray(logits), eager_backend.asarray(labels))
    np.testing.assert_array_equal(cm, skm.confusion_matrix(labels, pred, labels=range(C)))


def test_multiclass_micro_is_accuracy(rng):
    logits = rng.standard_normal((30, C)).astype(np.float32)
    labels = rng.integers(0, C, size=30)
    accuracy = skm.accuracy_score(labels, np.argmax(logits, -1))
    for f in (wxent.precision, wxent.recall, wxent.fbeta_score):
        assert f(logits, labels) == pytest.approx(accuracy)


def test_metrics_with_costs_use_bayes_decisions(eager_backend, rng):
    logits = rng.standard_normal((50, C)).astype(np.float32)
    labels = rng.integers(0, C, size=50)
    costs = _random_costs(rng)
    x, y = eager_backend.asarray(logits), eager_backend.asarray(labels)
    decisions = eager_backend.numpy(wxent.bayes_decision(x, costs))
    assert (decisions != np.argmax(logits, -1)).any()
    cm = wxent.confusion_matrix(x, y, costs=costs)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(labels, decisions, labels=range(C)))
    np.testing.assert_allclose(
        wxent.recall(x, y, costs=costs, average="macro"),
        skm.recall_score(labels, decisions, average="macro", zero_division=0),
    )
    assert wxent.expected_cost(x, y, costs) == pytest.approx(costs[labels, decisions].mean())


def test_ignored_labels_are_left_out(rng):
    logits = rng.standard_normal((30, C)).astype(np.float32)
    labels = rng.integers(0, C, size=30)
    labels[:7] = -1
    keep = labels != -1
    pred = np.argmax(logits, -1)
    cm = wxent.confusion_matrix(logits, labels, ignore_index=-1)
    np.testing.assert_array_equal(
        cm, skm.confusion_matrix(labels[keep], pred[keep], labels=range(C))
    )
    ml_logits = rng.standard_normal((20, 3)).astype(np.float32)
    ml_labels = (rng.random((20, 3)) < 0.5).astype(np.float32)
    ml_labels[0, :] = -1
    ml_labels[5, 1] = -1
    ours = wxent.recall(ml_logits, ml_labels, ignore_label=-1, average=None)
    for k in range(3):
        keep = ml_labels[:, k] != -1
        expected = skm.recall_score(ml_labels[keep, k], ml_logits[keep, k] > 0, zero_division=0)
        assert ours[k] == pytest.approx(expected)


def test_multilabel_class_axis(rng):
    logits = rng.standard_normal((4, 3, 5)).astype(np.float32)
    labels = (rng.random((4, 3, 5)) < 0.5).astype(np.float32)
    moved = wxent.precision(
        np.moveaxis(logits, 1, -1).reshape(-1, 3),
        np.moveaxis(labels, 1, -1).reshape(-1, 3),
        average=None,
    )
    np.testing.assert_allclose(wxent.precision(logits, labels, class_axis=1, average=None), moved)


def test_zero_division_gives_zero():
    logits = np.array([-3.0, -2.0, -1.0], dtype=np.float32)
    assert wxent.precision(logits, np.array([1, 1, 0])) == 0.0  # nothing predicted
    assert wxent.recall(logits, np.array([0, 0, 0])) == 0.0  # nothing to find
    assert wxent.fbeta_score(logits, np.array([0, 0, 0]), average="macro") == 0.0
    assert (
        wxent.expected_cost(
            np.zeros((2, 3), np.float32), np.array([-1, -1]), 1 - np.eye(3), ignore_index=-1
        )
        == 0.0
    )


def test_expected_cost_sigmoid(rng):
    logits = rng.standard_normal(40).astype(np.float32)
    labels = rng.integers(0, 2, size=40)
    costs = [[0.0, 1.0], [4.0, 0.0]]  # [[tn, fp], [fn, tp]]
    t = wxent.cost_threshold(cost_fp=1.0, cost_fn=4.0)
    pred = (logits > t).astype(int)
    expected = np.asarray(costs)[labels, pred].mean()
    assert wxent.expected_cost(logits, labels, costs) == pytest.approx(expected)
    # deciding at the cost threshold is no worse than at 0 on calibrated-ish data
    assert math.isclose(t, math.log(1 / 4))


def test_expected_cost_softmax_matches_definition(eager_backend, rng):
    logits = rng.standard_normal((30, C)).astype(np.float32)
    labels = rng.integers(0, C, size=30)
    costs = _random_costs(rng)
    decisions, _ = ref.bayes_decision(logits, costs)
    ours = wxent.expected_cost(eager_backend.asarray(logits), eager_backend.asarray(labels), costs)
    assert isinstance(ours, float)
    assert ours == pytest.approx(costs[labels, decisions].mean())


# ----------------------------------------------------------------------------- metric errors


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
    with pytest.raises(
        ValueError,
        match=_msg(
            "Invalid value for argument `labels`. Expected 0/1 labels for sigmoid logits "
            "(labels with the logits' shape). Received: label value 0.5 (1 such label(s))"
        ),
    ):
        wxent.recall(logits, np.array([[0.5, 0, 1]] + [[0, 0, 1]] * 5, dtype=np.float32))
    with pytest.raises(ValueError, match=_msg("Expected class indices in [0, 3)")):
        wxent.recall(logits, np.array([0, 1, 2, 3, 0, 0]))
    with pytest.raises(ValueError, match=_msg("Invalid value for argument `threshold`")):
        wxent.recall(logits, labels, threshold=0.5)
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


def test_metrics_need_concrete_arrays(rng):
    logits = jnp.asarray(rng.standard_normal((6, 3)).astype(np.float32))
    labels = jnp.asarray(rng.integers(0, 3, size=6))
    with pytest.raises(
        TypeError,
        match=_msg("Invalid type for argument `logits`. Expected a concrete array"),
    ):
        jax.jit(lambda x, y: wxent.recall(x, y))(logits, labels)
