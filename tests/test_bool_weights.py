"""Boolean weights are masks: 0/1 on every backend, for every weight-like argument.

A boolean array given as ``sample_weight`` (``sample_weight=mask``), as a per-class weight
or as a cost matrix counts as the 0/1 numbers it holds, as NumPy booleans always did; a
tensor of bools of PyTorch, JAX or TensorFlow was a ``TypeError``. A lone ``True`` or
``False`` is refused everywhere: as a scalar weight it is a flag in the wrong place.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import wxent
import wxent.torch
from conftest import EAGER_BACKENDS

N, C = 6, 3


def _msg(text: str) -> str:
    return re.escape(text)


def _data():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((N, C)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    z = (rng.random((N, C)) < 0.4).astype(np.float32)
    masks = {
        "rows": np.array([True, False, True, True, False, True]),
        "elements": rng.random((N, C)) < 0.6,
        "classes": np.array([True, False, True]),
        "matrix": ~np.eye(C, dtype=bool),
    }
    return x, y, z, masks


# name -> (uses sigmoid labels, mask kind, the call with the mask as `m`)
LOSSES = {
    "softmax sample_weight": (
        False,
        "rows",
        lambda x, y, m: wxent.softmax_cross_entropy(x, y, sample_weight=m),
    ),
    "softmax sample_weight weighted_mean": (
        False,
        "rows",
        lambda x, y, m: wxent.softmax_cross_entropy(
            x, y, sample_weight=m, reduction="weighted_mean"
        ),
    ),
    "softmax class_weight": (
        False,
        "classes",
        lambda x, y, m: wxent.softmax_cross_entropy(
            x, y, class_weight=m, reduction="weighted_mean"
        ),
    ),
    "softmax focal class_weight": (
        False,
        "classes",
        lambda x, y, m: wxent.softmax_focal_loss(x, y, class_weight=m),
    ),
    "sigmoid per element": (
        True,
        "elements",
        lambda x, z, m: wxent.sigmoid_cross_entropy(x, z, sample_weight=m),
    ),
    "sigmoid per sample": (
        True,
        "rows",
        lambda x, z, m: wxent.sigmoid_cross_entropy(x, z, sample_weight=m, reduction="sum"),
    ),
    "sigmoid pos_weight": (
        True,
        "classes",
        lambda x, z, m: wxent.sigmoid_cross_entropy(x, z, pos_weight=m),
    ),
    "sigmoid neg_weight": (
        True,
        "classes",
        lambda x, z, m: wxent.sigmoid_cross_entropy(x, z, neg_weight=m),
    ),
    "sigmoid focal alpha": (
        True,
        "classes",
        lambda x, z, m: wxent.sigmoid_focal_loss(x, z, alpha=m),
    ),
    "asymmetric sample_weight": (
        True,
        "elements",
        lambda x, z, m: wxent.asymmetric_loss(x, z, sample_weight=m),
    ),
    "expected cost costs": (
        False,
        "matrix",
        lambda x, y, m: wxent.expected_cost_loss(x, y, m),
    ),
    "cost-sensitive costs": (
        False,
        "matrix",
        lambda x, y, m: wxent.cost_sensitive_cross_entropy(x, y, m),
    ),
    "confusion-weighted weights": (
        False,
        "matrix",
        lambda x, y, m: wxent.confusion_weighted_cross_entropy(x, y, m),
    ),
    "linear sample_weight": (
        False,
        "rows",
        lambda x, y, m: wxent.linear_cross_entropy(
            x, x[:C, ...] * 0.5, y, sample_weight=m, reduction="weighted_mean"
        ),
    ),
}


@pytest.mark.parametrize("case", LOSSES)
def test_boolean_weights_equal_their_zero_one_numbers(backend, case):
    sigmoid, kind, loss = LOSSES[case]
    x, y, z, masks = _data()
    labels = z if sigmoid else y
    mask = masks[kind]
    got = backend.call(loss, x, labels, mask)
    want = backend.call(loss, x, labels, mask.astype(np.float32))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    ref = loss(x, labels, mask.astype(np.float64))  # NumPy, float64 weights
    np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize(
    "case", ["softmax sample_weight", "sigmoid per element", "sigmoid focal alpha"]
)
def test_boolean_weights_give_the_gradients_of_zero_one(ad_backend, case):
    sigmoid, kind, loss = LOSSES[case]
    x, y, z, masks = _data()
    labels = z if sigmoid else y
    mask = masks[kind]
    got = ad_backend.value_and_grad(loss, x, labels, mask)
    want = ad_backend.value_and_grad(loss, x, labels, mask.astype(np.float32))
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert np.all(got[1][~mask] == 0) if kind == "elements" else True


@pytest.mark.parametrize("backend", EAGER_BACKENDS, ids=lambda b: b.name)
def test_boolean_weights_in_metrics_and_corrections(backend):
    x, y, z, masks = _data()
    b = backend
    rows, cost_mask = masks["rows"], masks["matrix"]
    for f in (wxent.recall, wxent.precision, wxent.confusion_matrix):
        got = b.numpy(f(b.asarray(x), b.asarray(z), sample_weight=b.asarray(masks["elements"])))
        want = f(x, z, sample_weight=masks["elements"].astype(np.float64))
        np.testing.assert_allclose(got, want, rtol=1e-6)
    got = wxent.expected_cost(
        b.asarray(x), b.asarray(y), b.asarray(cost_mask), sample_weight=b.asarray(rows)
    )
    want = wxent.expected_cost(x, y, 1.0 - np.eye(C), sample_weight=rows.astype(np.float64))
    np.testing.assert_allclose(b.numpy(got), want, rtol=1e-6)
    acc = wxent.MetricAccumulator(costs=b.asarray(cost_mask))
    acc.update(b.asarray(x), b.asarray(y), b.asarray(rows))
    np.testing.assert_allclose(np.asarray(b.numpy(acc.compute()["expected_cost"])), want, rtol=1e-6)
    # host functions (thresholds, calibration, counting) took boolean tensors already
    counts = wxent.label_counts(b.asarray(y), sample_weight=b.asarray(rows))
    np.testing.assert_array_equal(counts, [2.0, 0.0, 2.0])
    # class_weight given as a mask: the prior correction of classes whose weight is 1
    ones = b.asarray(np.ones(C, dtype=bool))
    np.testing.assert_allclose(b.numpy(wxent.unweight_logits(b.asarray(x), class_weight=ones)), x)


@pytest.mark.parametrize("backend", EAGER_BACKENDS, ids=lambda b: b.name)
def test_a_false_prior_is_still_a_zero_prior(backend):
    """Boolean values are numbers: False in a prior is 0, whose log is -inf."""
    x, y, _, masks = _data()
    prior = backend.asarray(masks["classes"])
    with pytest.raises(ValueError, match=_msg("`class_prior`. Expected finite positive values")):
        wxent.logit_adjusted_cross_entropy(backend.asarray(x), backend.asarray(y), prior)
    with pytest.raises(ValueError, match=_msg("`class_weight`. Expected positive values")):
        wxent.unweight_logits(backend.asarray(x), class_weight=prior)


LONE_BOOL = "Expected numbers or an array of numbers (a boolean array is taken as 0/1 weights"


@pytest.mark.parametrize("flag", [True, False, np.True_])
def test_a_lone_bool_is_not_a_weight(flag):
    x, y, z, _ = _data()
    calls = {
        "sample_weight": [
            lambda: wxent.softmax_cross_entropy(x, y, sample_weight=flag),
            lambda: wxent.sigmoid_cross_entropy(x, z, sample_weight=flag),
            lambda: wxent.recall(x, z, sample_weight=flag),
            lambda: wxent.label_counts(y, sample_weight=flag),
            lambda: wxent.tune_thresholds(x, z, sample_weight=flag),
            lambda: wxent.calibrate(x, y, sample_weight=flag),
            lambda: wxent.MetricAccumulator().update(x, y, flag),
        ],
        "class_weight": [lambda: wxent.softmax_cross_entropy(x, y, class_weight=flag)],
        "pos_weight": [lambda: wxent.sigmoid_cross_entropy(x, z, pos_weight=flag)],
        "alpha": [lambda: wxent.sigmoid_focal_loss(x, z, alpha=flag)],
    }
    for name, fs in calls.items():
        for f in fs:
            with pytest.raises(TypeError, match=_msg(f"argument `{name}`. {LONE_BOOL}")):
                f()


def test_torch_module_takes_a_boolean_class_weight():
    x, y, _, masks = _data()
    module = wxent.torch.SoftmaxCrossEntropy(
        class_weight=torch.from_numpy(masks["classes"]), class_axis=-1
    )
    got = module(torch.from_numpy(x), torch.from_numpy(y))
    want = wxent.softmax_cross_entropy(x, y, class_weight=masks["classes"].astype(np.float64))
    np.testing.assert_allclose(got.item(), want, rtol=1e-6)
