"""Weights, costs and priors of another framework than the logits'.

Configuration of another framework is read as values (like a NumPy array), so a constant
PyTorch, JAX or TensorFlow array works with any loss. A PyTorch tensor that requires grad
cannot be: the loss is another framework's, so its gradient would be lost without a word.
Such a tensor, alone or inside a list, is refused with the argument's name; so is a list
of them given to a PyTorch loss (a list is read on the host).
"""

from __future__ import annotations

import re

import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf
import torch

import wxent

FRAMEWORKS = {
    "numpy": np.asarray,
    "torch": torch.as_tensor,
    "jax": jnp.asarray,
    "tf": tf.convert_to_tensor,
}
RNG = np.random.default_rng(7)
X = RNG.normal(size=(6, 3)).astype(np.float32)
Y = np.array([0, 1, 2, 1, 0, 2])
T = (RNG.random((6, 3)) > 0.5).astype(np.float32)
COSTS = np.array([[0.0, 1.0, 4.0], [2.0, 0.0, 1.0], [3.0, 5.0, 0.0]], np.float32)

# (loss, label kind, the configuration under test, the other arguments it needs)
LOSSES = [
    ("sigmoid_cross_entropy", T, "pos_weight", np.array([1.0, 2.0, 3.0]), {}),
    ("sigmoid_cross_entropy", T, "sample_weight", np.arange(1.0, 7.0), {}),
    ("sigmoid_focal_loss", T, "alpha", np.array([0.2, 0.3, 0.4]), {}),
    ("asymmetric_loss", T, "neg_weight", np.array([1.0, 2.0, 3.0]), {}),
    ("softmax_cross_entropy", Y, "class_weight", np.array([1.0, 2.0, 3.0]), {}),
    ("softmax_focal_loss", Y, "sample_weight", np.arange(1.0, 7.0), {}),
    ("expected_cost_loss", Y, "costs", COSTS, {}),
    ("cost_sensitive_cross_entropy", Y, "costs", COSTS, {}),
    ("confusion_weighted_cross_entropy", Y, "weights", COSTS + 1.0, {}),
    ("logit_adjusted_cross_entropy", Y, "class_prior", np.array([0.2, 0.3, 0.5]), {}),
]
IDS = [f"{name}-{key}" for name, _, key, _, _ in LOSSES]


def _call(name, fw, labels, key, value, extra):
    f = getattr(wxent, name)
    conv = FRAMEWORKS[fw]
    return f(conv(X), conv(labels), **{key: value}, **extra)


def _requires_grad(values):
    return torch.tensor(np.asarray(values, np.float32), requires_grad=True)


@pytest.mark.parametrize("fw", ["numpy", "jax", "tf"])
@pytest.mark.parametrize(("name", "labels", "key", "values", "extra"), LOSSES, ids=IDS)
def test_tensor_that_requires_grad_is_refused_by_another_frameworks_loss(
    fw, name, labels, key, values, extra
):
    with pytest.raises(TypeError, match=rf"argument `{key}`.*requires_grad=True"):
        _call(name, fw, labels, key, _requires_grad(values), extra)


@pytest.mark.parametrize("fw", sorted(FRAMEWORKS))
@pytest.mark.parametrize(("name", "labels", "key", "values", "extra"), LOSSES, ids=IDS)
def test_list_of_tensors_that_require_grad_is_refused(fw, name, labels, key, values, extra):
    values = np.asarray(values, np.float32)
    listed = [
        [_requires_grad(e) for e in row] if values.ndim == 2 else _requires_grad(row)
        for row in values
    ]
    with pytest.raises(TypeError, match=re.escape(f"Invalid type for argument `{key}`")):
        _call(name, fw, labels, key, listed, extra)


@pytest.mark.parametrize("fw", ["numpy", "jax", "tf"])
@pytest.mark.parametrize(("name", "labels", "key", "values", "extra"), LOSSES, ids=IDS)
def test_constant_tensor_of_another_framework_is_read_as_values(
    fw, name, labels, key, values, extra
):
    expected = _call(name, fw, labels, key, values, extra)
    detached = _requires_grad(values).detach()
    got = _call(name, fw, labels, key, detached, extra)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-6)


def test_same_framework_tensor_keeps_its_gradient():
    w = _requires_grad([1.0, 2.0, 3.0])
    loss = wxent.softmax_cross_entropy(
        torch.as_tensor(X), torch.as_tensor(Y), class_weight=w, reduction="sum"
    )
    loss.backward()
    assert w.grad is not None and torch.count_nonzero(w.grad) == 3


@pytest.mark.parametrize("fw", ["numpy", "jax", "tf"])
def test_decisions_read_a_tensor_that_requires_grad_as_values(fw):
    # Thresholds and costs of a decision or a count carry no gradient: values are enough.
    conv = FRAMEWORKS[fw]
    threshold = _requires_grad([0.0, 0.5, -0.5])
    got = wxent.predict(conv(X), threshold=threshold)
    np.testing.assert_array_equal(np.asarray(got), np.array([0.0, 0.5, -0.5]) < X)


def test_metrics_read_sample_weight_of_another_framework_as_values():
    # The losses read such weights as values; the metrics refused them as data of another
    # framework (a TypeError), although they carry no gradient either.
    weight = np.linspace(0.5, 2.0, 6).astype(np.float32)
    costs = 1.0 - np.eye(3)
    for fw, conv in FRAMEWORKS.items():
        x, y = conv(X), conv(Y)
        for other in ("torch", "jax", "tf", "numpy"):
            if other == fw:
                continue
            w = _requires_grad(weight) if other == "torch" else FRAMEWORKS[other](weight)
            got = wxent.precision(x, y, sample_weight=w, average="macro")
            want = wxent.precision(X, Y, sample_weight=weight, average="macro")
            assert float(got) == pytest.approx(float(want), rel=1e-6), (fw, other)
            got = wxent.expected_cost(x, y, costs, sample_weight=w)
            want = wxent.expected_cost(X, Y, costs, sample_weight=weight)
            assert float(got) == pytest.approx(float(want), rel=1e-6), (fw, other)
            acc = wxent.MetricAccumulator(costs=costs).update(x, y, w)
            assert float(acc.compute()["expected_cost"]) == pytest.approx(float(want), rel=1e-6)
    bad = torch.tensor([1.0, -1.0, 1.0, 1.0, 1.0, 1.0])  # checked as the logits' own weights
    with pytest.raises(ValueError, match="sample_weight"):
        wxent.recall(jnp.asarray(X), jnp.asarray(Y), sample_weight=bad, average="macro")
