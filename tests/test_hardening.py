"""Regressions of the adversarial pass: each class of bug, on every framework it touches."""

from __future__ import annotations

import jax
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
INF = float("inf")


def _grad(framework: str, f, x: np.ndarray) -> tuple[float, np.ndarray]:
    if framework == "torch":
        t = torch.tensor(x, requires_grad=True)
        loss = f(t)
        (g,) = torch.autograd.grad(loss, t)
        return float(loss.detach()), g.numpy()
    if framework == "jax":
        loss, g = jax.value_and_grad(f)(jnp.asarray(x))
        return float(loss), np.asarray(g)
    t = tf.Variable(x)
    with tf.GradientTape() as tape:
        loss = f(t)
    return float(loss), tape.gradient(loss, t).numpy()


@pytest.mark.parametrize("framework", ["torch", "jax", "tf"])
@pytest.mark.parametrize("labels", ["indices", "one_hot"])
def test_plus_inf_on_the_target_class_costs_nothing(framework, labels):
    x = np.array([[INF, 0.0, 0.0], [1.0, 2.0, 3.0]], np.float32)
    y = np.array([0, 2])
    lab = FRAMEWORKS[framework](y if labels == "indices" else np.eye(3, dtype=np.float32)[y])
    loss, grad = _grad(framework, lambda a: wxent.softmax_cross_entropy(a, lab), x)
    finite_row = float(wxent.softmax_cross_entropy(x[1:], y[1:]))
    assert loss == pytest.approx(finite_row / 2, rel=1e-6)
    assert np.isfinite(grad).all() and (grad[0] == 0).all()


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_plus_inf_elsewhere_costs_infinity_and_ties_cost_log_k(framework):
    x = FRAMEWORKS[framework](np.array([[INF, INF, 0.0], [0.0, INF, 1.0]], np.float32))
    y = FRAMEWORKS[framework](np.array([0, 0]))
    out = np.asarray(wxent.softmax_cross_entropy(x, y, reduction="none"))
    assert out[0] == pytest.approx(np.log(2.0)) and out[1] == INF


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_a_row_of_only_minus_inf_is_an_error(framework):
    x = FRAMEWORKS[framework](np.array([[-INF, -INF], [0.0, 1.0]], np.float32))
    y = FRAMEWORKS[framework](np.array([0, 1]))
    with pytest.raises(ValueError, match=r"`logits`.*above -inf in every row.*1 row"):
        wxent.softmax_cross_entropy(x, y)


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_adjust_logits_refuses_nan_logits(framework):
    x = FRAMEWORKS[framework](np.array([[0.0, np.nan]], np.float32))
    with pytest.raises(ValueError, match=r"`logits`.*1 NaN value"):
        wxent.adjust_logits(x, [0.5, 0.5])


def test_ignore_index_outside_the_labels_dtype_ignores_nothing():
    x = tf.zeros((3, 2))
    y = tf.constant([0, 1, 0], tf.int32)
    full = float(wxent.softmax_cross_entropy(x, y))
    assert float(wxent.softmax_cross_entropy(x, y, ignore_index=2**40)) == full
    jy = jnp.asarray([0, 1, 0], dtype=jnp.int32)
    assert float(wxent.softmax_cross_entropy(jnp.zeros((3, 2)), jy, ignore_index=2**40)) == full
    ty = torch.tensor([0, 1, 0], dtype=torch.uint8)
    assert float(wxent.softmax_cross_entropy(torch.zeros(3, 2), ty, ignore_index=-1)) == full


MIXES = [(a, b) for a in FRAMEWORKS for b in FRAMEWORKS if a != b]


@pytest.mark.parametrize(("logits_fw", "labels_fw"), MIXES)
def test_every_framework_mix_gets_one_message(logits_fw, labels_fw):
    x = FRAMEWORKS[logits_fw](np.zeros((2, 3), np.float32))
    y = FRAMEWORKS[labels_fw](np.array([0, 1]))
    z = FRAMEWORKS[labels_fw](np.zeros((2, 3), np.float32))
    for call in (
        lambda: wxent.softmax_cross_entropy(x, y),
        lambda: wxent.sigmoid_cross_entropy(x, z),
        lambda: wxent.softmax_focal_loss(x, y),
        lambda: wxent.expected_cost_loss(x, y, 1 - np.eye(3)),
    ):
        with pytest.raises(TypeError, match=r"`labels`. Expected an array of the same framework"):
            call()


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_python_lists_are_accepted_as_labels(framework):
    x = FRAMEWORKS[framework](np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]], np.float32))
    expected = float(wxent.softmax_cross_entropy(np.asarray(x), np.array([0, 1])))
    assert float(wxent.softmax_cross_entropy(x, [0, 1])) == pytest.approx(expected)
    z = [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]
    expected = float(wxent.sigmoid_cross_entropy(np.asarray(x), np.asarray(z, np.float32)))
    assert float(wxent.sigmoid_cross_entropy(x, z)) == pytest.approx(expected, rel=1e-6)


def test_multi_hot_labels_for_softmax_name_the_sigmoid_loss():
    x = np.zeros((2, 3), np.float32)
    multi_hot = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]], np.float32)
    with pytest.raises(ValueError, match=r"sum to 1.*wxent.sigmoid_cross_entropy.*summing to 2"):
        wxent.softmax_cross_entropy(x, multi_hot)
    with pytest.raises(ValueError, match="sigmoid_cross_entropy"):
        wxent.softmax_cross_entropy(torch.as_tensor(x), torch.as_tensor(multi_hot))


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_framework_weights_are_checked_on_their_device(framework):
    x = FRAMEWORKS[framework](np.zeros((2, 3), np.float32))
    y = FRAMEWORKS[framework](np.array([0, 1]))
    bad = FRAMEWORKS[framework](np.array([1.0, np.nan, 1.0], np.float32))
    with pytest.raises(ValueError, match=r"`class_weight`.*1 NaN value"):
        wxent.softmax_cross_entropy(x, y, class_weight=bad)
    prior = FRAMEWORKS[framework](np.array([0.5, 0.0, 0.5], np.float32))
    with pytest.raises(ValueError, match=r"`class_prior`.*zero at class"):
        wxent.logit_adjusted_cross_entropy(x, y, prior)
    alpha = FRAMEWORKS[framework](np.array([0.5, 1.5, 0.5], np.float32))
    with pytest.raises(ValueError, match=r"`alpha`.*values in \[0, 1\]"):
        wxent.sigmoid_focal_loss(
            x, FRAMEWORKS[framework](np.zeros((2, 3), np.float32)), alpha=alpha
        )


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_host_fast_paths_fall_back_to_the_exact_limits(framework):
    """The native and NumPy kernels give NaN at infinite logits; the call recomputes."""
    x = FRAMEWORKS[framework](np.array([[-INF, INF, 0.5]], np.float32))
    z = FRAMEWORKS[framework](np.array([[0.0, 1.0, 1.0]], np.float32))
    out = np.asarray(wxent.sigmoid_cross_entropy(x, z, pos_weight=2.0, reduction="none"))
    assert out[0, 0] == 0.0 and out[0, 1] == 0.0 and np.isfinite(out).all()
    soft = FRAMEWORKS[framework](np.array([[0.0, 1.0, 0.0]], np.float32))
    assert float(wxent.softmax_cross_entropy(x, soft)) == 0.0
