"""Invariants (SPEC §5) with Hypothesis, and the numerator/denominator terms."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import torch
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import wxent
from conftest import assert_close

SETTINGS = settings(max_examples=40, deadline=None)
REDUCTION = st.sampled_from(["sum", "mean", "weighted_mean"])


@st.composite
def softmax_problem(draw):
    n = draw(st.integers(1, 6))
    c = draw(st.integers(2, 5))
    x = draw(hnp.arrays(np.float64, (n, c), elements=st.floats(-20, 20)))
    y = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    cw = draw(hnp.arrays(np.float64, (c,), elements=st.floats(0.0, 5.0)))
    sw = draw(hnp.arrays(np.float64, (n,), elements=st.floats(0.0, 5.0)))
    eps = draw(st.floats(0.0, 1.0))
    return x, y, cw, sw, eps


@SETTINGS
@given(softmax_problem(), REDUCTION)
def test_label_encodings_agree(problem, reduction):
    x, y, cw, sw, eps = problem
    one_hot = np.eye(x.shape[1])[y]
    opts = dict(class_weight=cw, sample_weight=sw, label_smoothing=eps, reduction=reduction)
    xt1 = torch.tensor(x, requires_grad=True)
    xt2 = torch.tensor(x, requires_grad=True)
    a = wxent.softmax_cross_entropy(xt1, torch.tensor(y), **opts)
    b = wxent.softmax_cross_entropy(xt2, torch.tensor(one_hot), **opts)
    a.backward()
    b.backward()
    assert_close(a.detach(), b.detach(), rtol=1e-10, atol=1e-10)
    assert_close(xt1.grad, xt2.grad, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(softmax_problem(), REDUCTION, st.data())
def test_ignoring_equals_dropping(problem, reduction, data):
    x, y, cw, sw, eps = problem
    drop = data.draw(hnp.arrays(bool, y.shape))
    y_ignored = np.where(drop, -7, y)
    opts = dict(class_weight=cw, label_smoothing=eps, reduction=reduction)
    xt = torch.tensor(x, requires_grad=True)
    ignored = wxent.softmax_cross_entropy(
        xt, torch.tensor(y_ignored), sample_weight=sw, ignore_index=-7, **opts
    )
    ignored.backward()
    xk = torch.tensor(x[~drop], requires_grad=True)
    kept = wxent.softmax_cross_entropy(xk, torch.tensor(y[~drop]), sample_weight=sw[~drop], **opts)
    kept.backward()
    assert_close(ignored.detach(), kept.detach(), rtol=1e-10, atol=1e-12)
    assert_close(xt.grad[~drop], xk.grad, rtol=1e-10, atol=1e-12)
    assert np.all(xt.grad.numpy()[drop] == 0)


@SETTINGS
@given(softmax_problem(), st.floats(-1e3, 1e3), REDUCTION)
def test_row_shift_changes_nothing(problem, shift, reduction):
    x, y, cw, sw, eps = problem
    opts = dict(class_weight=cw, sample_weight=sw, label_smoothing=eps, reduction=reduction)
    a = wxent.softmax_cross_entropy(x, y, **opts)
    b = wxent.softmax_cross_entropy(x + shift, y, **opts)
    assert_close(a, b, rtol=1e-9, atol=1e-9)


@SETTINGS
@given(softmax_problem(), st.sampled_from(["sum", "weighted_mean"]), st.data())
def test_duplicating_a_sample_with_half_weight_changes_nothing(problem, reduction, data):
    x, y, cw, sw, eps = problem
    i = data.draw(st.integers(0, len(y) - 1))
    x2 = np.concatenate([x, x[i : i + 1]])
    y2 = np.concatenate([y, y[i : i + 1]])
    sw2 = np.concatenate([sw, sw[i : i + 1] / 2])
    sw2[i] /= 2
    opts = dict(class_weight=cw, label_smoothing=eps, reduction=reduction)
    a = wxent.softmax_cross_entropy(x, y, sample_weight=sw, **opts)
    b = wxent.softmax_cross_entropy(x2, y2, sample_weight=sw2, **opts)
    assert_close(a, b, rtol=1e-9, atol=1e-9)


@st.composite
def sigmoid_problem(draw):
    n = draw(st.integers(1, 5))
    c = draw(st.integers(1, 4))
    x = draw(hnp.arrays(np.float64, (n, c), elements=st.floats(-30, 30)))
    z = draw(hnp.arrays(np.float64, (n, c), elements=st.sampled_from([0.0, 1.0, -1.0, 0.25])))
    q = draw(hnp.arrays(np.float64, (c,), elements=st.floats(0.0, 30.0)))
    sw = draw(hnp.arrays(np.float64, (n,), elements=st.floats(0.0, 3.0)))
    return x, z, q, sw


@SETTINGS
@given(sigmoid_problem(), REDUCTION)
@example(  # weights whose product underflows float64 (found by a CI-like run)
    problem=(
        np.zeros((1, 1)),
        np.ones((1, 1)),
        np.array([1.12474303e-101]),
        np.array([2.42597669e-273]),
    ),
    reduction="weighted_mean",
)
def test_sigmoid_ignoring_equals_dropping(problem, reduction):
    x, z, q, sw = problem
    keep = z != -1
    full = wxent.sigmoid_cross_entropy(
        x, z, pos_weight=q, sample_weight=sw, ignore_label=-1, reduction=reduction
    )
    # the kept elements, flattened: per-class weight and per-sample weight follow them
    q_el = np.broadcast_to(q, x.shape)[keep]
    s_el = np.broadcast_to(sw[:, None], x.shape)[keep]
    flat = [
        wxent.sigmoid_cross_entropy(
            x[keep][i : i + 1],
            z[keep][i : i + 1],
            pos_weight=q_el[i],
            sample_weight=s_el[i],
            reduction="none",
        )
        for i in range(int(keep.sum()))
    ]
    total = float(np.sum(flat)) if flat else 0.0
    if reduction == "sum":
        expected = total
    elif reduction == "mean":
        expected = total / keep.sum() if keep.sum() else 0.0
    else:
        # each kept element alone, as a weighted mean of one (its loss per unit weight),
        # combined with its weight s * (q z + 1 - z) in exact rational arithmetic: the
        # products of tiny weights (1e-101 * 1e-273) underflow in float64, which the
        # weighted mean of the whole call does not (it scales the weights first)
        per_unit = [
            float(
                wxent.sigmoid_cross_entropy(
                    x[keep][i : i + 1],
                    z[keep][i : i + 1],
                    pos_weight=q_el[i],
                    reduction="weighted_mean",
                )
            )
            for i in range(int(keep.sum()))
        ]
        w = [
            Fraction(s) * (Fraction(q) * Fraction(t) + 1 - Fraction(t))
            for s, q, t in zip(s_el, q_el, z[keep], strict=True)
        ]
        den = sum(w, Fraction(0))
        num = sum((wi * Fraction(li) for wi, li in zip(w, per_unit, strict=True)), Fraction(0))
        expected = float(num / den) if den else 0.0
    assert_close(full, expected, rtol=1e-9, atol=1e-12)


@SETTINGS
@given(softmax_problem(), st.sampled_from(["mean", "weighted_mean"]), st.data())
def test_loss_terms_recombine_across_shards(problem, reduction, data):
    x, y, cw, sw, eps = problem
    # terms keep the caller's scale (ranks add them): subnormal weights, or weights whose
    # product is below the normal range, lose their digits there, while the whole loss
    # scales each first (tests/test_weight_scale.py; README, "weighted_mean")
    tiny = np.finfo(np.float64).tiny
    positive = [w[w > 0] for w in (cw, sw)]
    smallest = [float(w.min()) if w.size else 1.0 for w in positive]
    assume(reduction == "mean" or (min(smallest) >= tiny and smallest[0] * smallest[1] >= tiny))
    y = np.where(data.draw(hnp.arrays(bool, y.shape)), -1, y)
    cut = data.draw(st.integers(0, len(y)))
    opts = dict(class_weight=cw, label_smoothing=eps, ignore_index=-1, reduction=reduction)
    whole = wxent.softmax_cross_entropy(x, y, sample_weight=sw, **opts)
    parts = [
        wxent.loss_terms(wxent.softmax_cross_entropy, x[s], y[s], sample_weight=sw[s], **opts)
        for s in (slice(0, cut), slice(cut, None))
    ]
    num = sum(p.numerator for p in parts)
    den = sum(p.denominator for p in parts)
    assert_close(wxent.safe_divide(num, den), whole, rtol=1e-9, atol=1e-12)


def test_loss_terms_reject_sum_and_none():
    import pytest

    x = np.zeros((2, 3))
    for reduction in ("sum", "none"):
        with pytest.raises(ValueError, match=r"argument `reduction`. Expected \"mean\" or"):
            wxent.loss_terms(wxent.softmax_cross_entropy, x, np.array([0, 1]), reduction=reduction)


def test_loss_terms_sigmoid_with_ignored_labels():
    x = np.array([[0.5, -1.0], [2.0, 0.0]])
    z = np.array([[1.0, -1.0], [0.0, 1.0]])
    num, den = wxent.loss_terms(
        wxent.sigmoid_cross_entropy,
        x,
        z,
        ignore_label=-1,
        pos_weight=[2.0, 3.0],
        reduction="weighted_mean",
    )
    assert float(den) == 2.0 + 1.0 + 3.0
    expected = wxent.sigmoid_cross_entropy(
        x, z, ignore_label=-1, pos_weight=[2.0, 3.0], reduction="weighted_mean"
    )
    assert_close(num / den, expected, rtol=1e-12)
