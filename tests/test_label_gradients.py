"""Gradients of the losses with respect to the labels, at hard labels 0 and 1 too.

The sigmoid-family loss is linear in its label ``z`` (``q z A(x) + r (1 - z) N(x)``): its
derivative is ``q A(x) - r N(x)`` at every ``z``, 0 and 1 included. The products that keep
``0 * inf = 0`` (``safe_mul``, the JAX and TensorFlow rules) once zeroed the whole
derivative of a term whose coefficient was 0, so at a hard label the gradient missed a
term (``jax.grad`` and ``tf.GradientTape`` gave ``q A(x)`` at ``z = 1``, where PyTorch's
native kernel gave ``q A(x) - r N(x)``). For softmax probability labels the gradient along
the simplex (rows summing to 1) is compared, at one-hot rows.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import reference_imbalance as ref_imbalance
import wxent
from conftest import assert_close
from reference import numeric_grad, sigmoid_ce, softmax_ce

SIGMOID = {
    "sigmoid_cross_entropy": (wxent.sigmoid_cross_entropy, sigmoid_ce),
    "sigmoid_focal_loss": (wxent.sigmoid_focal_loss, ref_imbalance.sigmoid_focal),
    "asymmetric_loss": (wxent.asymmetric_loss, ref_imbalance.asymmetric),
}
SIGMOID_OPTIONS = [
    {"reduction": "sum"},
    {"reduction": "mean", "pos_weight": [2.0, 0.5, 3.0], "neg_weight": 0.7},
    {"reduction": "sum", "label_smoothing": 0.2, "sample_weight": [1.0, 2.0, 0.5, 3.0]},
]
SOFTMAX = {
    "softmax_cross_entropy": (wxent.softmax_cross_entropy, softmax_ce),
    "softmax_focal_loss": (wxent.softmax_focal_loss, ref_imbalance.softmax_focal),
}
SOFTMAX_OPTIONS = [{"reduction": "sum"}, {"reduction": "sum", "label_smoothing": 0.1}]


@pytest.fixture(params=["default", "off"])
def kernels(request, monkeypatch):
    """The default paths, and the generic one (``WXENT_KERNELS=off``)."""
    if request.param == "off":
        monkeypatch.setenv("WXENT_KERNELS", "off")
    return request.param


def _data():
    rng = np.random.default_rng(21)
    x = (rng.normal(size=(4, 3)) * 2.0).astype(np.float32)
    z = np.array([[1, 0, 0], [0, 1, 1], [1, 1, 0], [0.3, 0, 1]], dtype=np.float32)
    return x, z


@pytest.mark.parametrize("options", SIGMOID_OPTIONS, ids=lambda o: "-".join(sorted(o)))
@pytest.mark.parametrize("name", sorted(SIGMOID))
def test_sigmoid_label_gradient_at_hard_labels(ad_backend, kernels, name, options):
    loss, reference = SIGMOID[name]
    x, z = _data()
    _, grad = ad_backend.value_and_grad(
        lambda labels, logits: loss(logits, labels, **options), z, x
    )
    expected = numeric_grad(lambda t: reference(x, t, **options), z.astype(np.float64))
    assert_close(grad, expected, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", sorted(SIGMOID))
def test_sigmoid_label_gradient_stays_finite_at_infinite_logits(ad_backend, kernels, name):
    loss, _ = SIGMOID[name]
    x = np.array([[math.inf, -math.inf, 1.0]], dtype=np.float32)  # each on its label's side
    z = np.array([[1.0, 0.0, 1.0]], dtype=np.float32)
    value, grad = ad_backend.value_and_grad(
        lambda labels, logits: loss(logits, labels, reduction="sum"), z, x
    )
    assert np.isfinite(value) and np.all(np.isfinite(grad))


@pytest.mark.parametrize("options", SOFTMAX_OPTIONS, ids=lambda o: "-".join(sorted(o)))
@pytest.mark.parametrize("name", sorted(SOFTMAX))
def test_softmax_probability_label_gradient_along_the_simplex(ad_backend, kernels, name, options):
    loss, reference = SOFTMAX[name]
    x, _ = _data()
    t = np.eye(3, dtype=np.float32)[[0, 2, 1, 1]]
    _, grad = ad_backend.value_and_grad(
        lambda labels, logits: loss(logits, labels, **options), t, x
    )
    expected = numeric_grad(lambda p: reference(x, p, **options), t.astype(np.float64))

    def along_simplex(g):  # the part of a label gradient that moves along rows summing to 1
        g = np.asarray(g, dtype=np.float64)
        return g - g.mean(axis=1, keepdims=True)

    assert_close(along_simplex(grad), along_simplex(expected), rtol=1e-3, atol=1e-4)
