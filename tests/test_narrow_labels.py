"""Integer labels whose dtype cannot hold the number of classes (uint8 labels of 257 classes).

Clamping such labels into ``[0, C)``, or comparing them with ``C``, must not cast ``C - 1``
or ``C`` to the labels' dtype (JAX does: ``C = 257`` becomes ``1`` in uint8, which clamped
every label to 0 eagerly and made the losses of labels >= 1 NaN under ``jax.jit``).
"""

from __future__ import annotations

import numpy as np
import pytest

import wxent
from conftest import assert_close
from reference import numeric_grad, softmax_ce

# (dtype, number of classes, labels): each dtype's largest labels, in [0, C).
CASES = [
    ("uint8", 257, [0, 1, 2, 254, 255, 128]),
    ("int8", 130, [0, 1, 2, 127, 100, 126]),
]
IDS = [c[0] for c in CASES]


def _losses(num_classes: int) -> dict:
    costs = (1.0 - np.eye(num_classes)).astype(np.float32)
    costs[0, 1] = 2.0
    prior = np.linspace(1.0, 2.0, num_classes)
    prior = prior / prior.sum()
    return {
        "softmax_cross_entropy": lambda x, y, **kw: wxent.softmax_cross_entropy(x, y, **kw),
        "softmax_focal_loss": lambda x, y, **kw: wxent.softmax_focal_loss(x, y, **kw),
        "logit_adjusted": lambda x, y, **kw: wxent.logit_adjusted_cross_entropy(x, y, prior, **kw),
        "expected_cost_loss": lambda x, y, **kw: wxent.expected_cost_loss(x, y, costs, **kw),
        "cost_sensitive": lambda x, y, **kw: wxent.cost_sensitive_cross_entropy(x, y, costs, **kw),
        "confusion_weighted": lambda x, y, **kw: wxent.confusion_weighted_cross_entropy(
            x, y, costs + np.eye(num_classes, dtype=np.float32), **kw
        ),
    }


def _inputs(seed: int, dtype: str, num_classes: int, labels: list) -> tuple:
    """float32 logits of ``len(labels)`` rows and the labels in ``dtype``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(labels), num_classes)).astype(np.float32)
    return x, np.asarray(labels, dtype=dtype)


@pytest.mark.parametrize(("dtype", "num_classes", "labels"), CASES, ids=IDS)
def test_softmax_ce_of_narrow_labels_matches_reference(backend, dtype, num_classes, labels):
    x, y = _inputs(3, dtype, num_classes, labels)
    w = np.linspace(0.5, 2.0, num_classes).astype(np.float32)
    for kw in ({}, {"class_weight": w, "reduction": "weighted_mean"}, {"ignore_index": 1}):
        expected = softmax_ce(x, y.astype(np.int64), **{"reduction": "none", **kw})
        got = backend.call(
            lambda a, b, kw=kw: wxent.softmax_cross_entropy(a, b, **{"reduction": "none", **kw}),
            x,
            y,
        )
        assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("dtype", "num_classes", "labels"), CASES, ids=IDS)
def test_every_softmax_loss_reads_narrow_labels_as_wide_ones(backend, dtype, num_classes, labels):
    x, y = _inputs(4, dtype, num_classes, labels)
    for name, loss in _losses(num_classes).items():
        expected = np.asarray(loss(x, y.astype(np.int64), reduction="none"))
        got = backend.call(lambda a, b, loss=loss: loss(a, b, reduction="none"), x, y)
        assert np.all(np.isfinite(got)), name
        assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("dtype", "num_classes", "labels"), CASES, ids=IDS)
def test_gradient_of_narrow_labels_matches_reference(ad_backend, dtype, num_classes, labels):
    x, y = _inputs(5, dtype, num_classes, labels)
    value, grad = ad_backend.value_and_grad(
        lambda a, b: wxent.softmax_cross_entropy(a, b, reduction="sum"), x, y
    )
    y64 = y.astype(np.int64)
    assert_close(value, softmax_ce(x, y64, reduction="sum"), rtol=1e-5)
    expected = numeric_grad(lambda a: softmax_ce(a, y64, reduction="sum"), x.astype(np.float64))
    assert_close(grad, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("dtype", "num_classes"), [("uint8", 257), ("int8", 130)], ids=IDS)
def test_out_of_range_narrow_labels_still_raise(eager_backend, dtype, num_classes):
    x = np.zeros((2, num_classes), dtype=np.float32)
    y = np.asarray([0, -1] if dtype == "int8" else [0, 1], dtype=dtype)
    if dtype == "uint8":  # every uint8 label is a class of 257: nothing to raise
        got = eager_backend.call(lambda a, b: wxent.softmax_cross_entropy(a, b), x, y)
        assert_close(got, np.log(num_classes), rtol=1e-6)
        return
    with pytest.raises(ValueError, match="labels"):
        eager_backend.call(lambda a, b: wxent.softmax_cross_entropy(a, b), x, y)
