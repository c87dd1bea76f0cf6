"""A zero weight means "does not count", also where the element's loss is infinite.

``0 * inf`` is NaN; wxent's weighted losses are instead exactly 0 with gradient 0 where
the weight is 0 — sample weights, class weights, ``pos_weight``/``neg_weight``, ``alpha``,
cost-matrix weights — and masked elements (``ignore_index``, ``ignore_label``) likewise.
So a loss with infinite logits on zero-weight elements equals, in value and gradient and
for every reduction, the same loss with those logits replaced by finite ones. An infinite
loss with a positive weight stays infinite, and is not an error.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import wxent
from conftest import assert_close

INF = math.inf
REDUCTIONS = ["none", "sum", "mean", "weighted_mean"]

# Softmax: the target of row 0 at -inf, a non-target of row 1 at +inf: both losses inf.
SOFTMAX_INF = np.array([[-INF, 0.0, 1.0], [0.0, INF, 1.0], [0.3, -1.0, 2.0]], np.float32)
SOFTMAX_FIN = np.array([[-1.0, 0.0, 1.0], [0.0, 2.0, 1.0], [0.3, -1.0, 2.0]], np.float32)
Y = np.array([0, 0, 2])
ONE_HOT = np.eye(3, dtype=np.float32)[Y]
PRIOR = [0.5, 0.3, 0.2]
COSTS = 1.0 - np.eye(3)
CONFUSION = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])  # rows 0, 1: 0

SOFTMAX_LOSSES = {
    "softmax_cross_entropy": wxent.softmax_cross_entropy,
    "softmax_focal_loss": wxent.softmax_focal_loss,
    "logit_adjusted_cross_entropy": lambda a, b, **k: wxent.logit_adjusted_cross_entropy(
        a, b, PRIOR, **k
    ),
    "cost_sensitive_cross_entropy": lambda a, b, **k: wxent.cost_sensitive_cross_entropy(
        a, b, COSTS, **k
    ),
    "confusion_weighted_cross_entropy": lambda a, b, **k: wxent.confusion_weighted_cross_entropy(
        a, b, np.ones((3, 3)), **k
    ),
}
SOFTMAX_ZEROS = {  # (labels, options): rows 0 and 1 weigh 0
    "sample_weight": (Y, {"sample_weight": np.array([0.0, 0.0, 1.5], np.float32)}),
    "class_weight": (Y, {"class_weight": [0.0, 1.0, 2.0]}),
    "class_weight_probabilities": (ONE_HOT, {"class_weight": [0.0, 1.0, 2.0]}),
    "ignore_index": (np.array([-1, -1, 2]), {"ignore_index": -1}),
}

# Sigmoid: column 0 holds positives at -inf, column 1 negatives at +inf: losses inf.
SIGMOID_INF = np.array([[-INF, INF, 0.5], [-INF, INF, -0.5], [0.2, -0.3, 1.0]], np.float32)
SIGMOID_FIN = np.array([[-2.0, 3.0, 0.5], [-1.0, 1.0, -0.5], [0.2, -0.3, 1.0]], np.float32)
Z = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0], [1.0, 0.0, 1.0]], np.float32)

SIGMOID_LOSSES = {
    "sigmoid_cross_entropy": wxent.sigmoid_cross_entropy,
    "sigmoid_focal_loss": wxent.sigmoid_focal_loss,
    "asymmetric_loss": lambda a, b, **k: wxent.asymmetric_loss(a, b, clip=0.0, **k),
}
SIGMOID_ZEROS = {  # (labels, options): the infinite elements weigh 0
    "sample_weight": (Z, {"sample_weight": np.array([[0, 0, 1], [0, 0, 2], [1, 1, 1]], "f4")}),
    "sample_weight_per_sample": (Z, {"sample_weight": np.array([0.0, 0.0, 1.0], np.float32)}),
    "pos_and_neg_weight": (Z, {"pos_weight": [0.0, 1.0, 2.0], "neg_weight": [1.0, 0.0, 0.5]}),
    "ignore_label": (
        np.where(np.isinf(SIGMOID_INF), -1.0, Z).astype(np.float32),
        {"ignore_label": -1},
    ),
}


def _cases():
    for name in SOFTMAX_LOSSES:
        for zero in SOFTMAX_ZEROS:
            yield pytest.param("softmax", name, zero, id=f"{name}-{zero}")
    yield pytest.param("softmax", "confusion_weights", "confusion", id="confusion_weights")
    for name in SIGMOID_LOSSES:
        for zero in SIGMOID_ZEROS:
            yield pytest.param("sigmoid", name, zero, id=f"{name}-{zero}")
    yield pytest.param("sigmoid", "sigmoid_focal_loss", "alpha", id="sigmoid_focal_loss-alpha")


def _case(family: str, name: str, zero: str):
    """``(loss(a, b, reduction), labels, infinite logits, finite logits)``."""
    if family == "softmax":
        if zero == "confusion":

            def confusion(a, b, **k):
                return wxent.confusion_weighted_cross_entropy(a, b, CONFUSION, **k)

            return confusion, Y, SOFTMAX_INF, SOFTMAX_FIN
        labels, options = SOFTMAX_ZEROS[zero]
        loss = SOFTMAX_LOSSES[name]
        return (lambda a, b, **k: loss(a, b, **options, **k)), labels, SOFTMAX_INF, SOFTMAX_FIN
    if zero == "alpha":  # alpha 0 on the positives' class, 1 on the negatives'

        def focal(a, b, **k):
            return wxent.sigmoid_focal_loss(a, b, alpha=[0.0, 1.0, 0.25], **k)

        return focal, Z, SIGMOID_INF, SIGMOID_FIN
    labels, options = SIGMOID_ZEROS[zero]
    loss = SIGMOID_LOSSES[name]
    return (lambda a, b, **k: loss(a, b, **options, **k)), labels, SIGMOID_INF, SIGMOID_FIN


@pytest.mark.parametrize(("family", "name", "zero"), list(_cases()))
def test_zero_weights_on_infinite_losses_count_nothing(backend, family, name, zero):
    loss, labels, x_inf, x_fin = _case(family, name, zero)
    # Traced backends compile every call: two reductions there (per element, and the one
    # whose denominator holds the weights), all four eagerly.
    for reduction in ["none", "weighted_mean"] if backend.traced else REDUCTIONS:
        value = backend.call(lambda a, b, r=reduction: loss(a, b, reduction=r), x_inf, labels)
        expected = backend.call(lambda a, b, r=reduction: loss(a, b, reduction=r), x_fin, labels)
        assert np.isfinite(value).all(), (reduction, value)
        assert_close(value, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(("family", "name", "zero"), list(_cases()))
def test_zero_weights_on_infinite_losses_have_zero_gradient(ad_backend, family, name, zero):
    loss, labels, x_inf, x_fin = _case(family, name, zero)
    value, grad = ad_backend.value_and_grad(lambda a, b: loss(a, b, reduction="sum"), x_inf, labels)
    expected_value, expected_grad = ad_backend.value_and_grad(
        lambda a, b: loss(a, b, reduction="sum"), x_fin, labels
    )
    assert np.isfinite(grad).all(), grad
    assert not grad[np.isinf(x_inf)].any()
    assert_close(value, expected_value, rtol=1e-6, atol=1e-7)
    assert_close(grad, expected_grad, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(SOFTMAX_LOSSES))
def test_an_infinite_softmax_loss_with_a_positive_weight_stays_infinite(backend, name):
    loss = SOFTMAX_LOSSES[name]
    weights = np.array([2.0, 0.0, 1.0], np.float32)
    per_sample = backend.call(
        lambda a, b: loss(a, b, sample_weight=weights, reduction="none"), SOFTMAX_INF, Y
    )
    assert per_sample[0] == INF and per_sample[1] == 0.0 and np.isfinite(per_sample[2])
    total = backend.call(
        lambda a, b: loss(a, b, sample_weight=weights, reduction="sum"), SOFTMAX_INF, Y
    )
    assert total == INF


@pytest.mark.parametrize("name", sorted(SIGMOID_LOSSES))
def test_an_infinite_sigmoid_loss_with_a_positive_weight_stays_infinite(backend, name):
    loss = SIGMOID_LOSSES[name]
    weights = np.array([[2.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]], np.float32)
    per_element = backend.call(
        lambda a, b: loss(a, b, sample_weight=weights, reduction="none"), SIGMOID_INF, Z
    )
    assert per_element[0, 0] == INF and per_element[0, 1] == 0.0
    assert not np.isnan(per_element).any()
    mean = backend.call(
        lambda a, b: loss(a, b, sample_weight=weights, reduction="mean"), SIGMOID_INF, Z
    )
    assert mean == INF
