"""The edges: nothing valid, zero weights, extreme and infinite logits, 16-bit dtypes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wxent
from conftest import assert_close
from reference import sigmoid_ce, softmax_ce

REDUCTIONS = ["none", "sum", "mean", "weighted_mean"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_everything_ignored_softmax(ad_backend, rng, reduction):
    x = rng.normal(size=(4, 3)).astype(np.float32)
    y = np.full((4,), -1)

    def f(a, b):
        return wxent.softmax_cross_entropy(a, b, ignore_index=-1, reduction=reduction)

    if reduction == "none":
        got = ad_backend.call(
            lambda a, b: wxent.softmax_cross_entropy(a, b, ignore_index=-1, reduction="none"), x, y
        )
        assert np.array_equal(got, np.zeros(4))
        return
    value, grad = ad_backend.value_and_grad(f, x, y)
    assert float(value) == 0.0
    assert np.array_equal(grad, np.zeros_like(x))


@pytest.mark.parametrize("reduction", ["sum", "mean", "weighted_mean"])
def test_all_weights_zero(ad_backend, rng, reduction):
    x = rng.normal(size=(4, 3)).astype(np.float32)
    y = rng.integers(0, 3, size=(4,))
    z = (rng.uniform(size=(4, 3)) < 0.5).astype(np.float32)
    value, grad = ad_backend.value_and_grad(
        lambda a, b: wxent.softmax_cross_entropy(
            a, b, class_weight=[0.0, 0.0, 0.0], reduction=reduction
        ),
        x,
        y,
    )
    assert float(value) == 0.0 and np.array_equal(grad, np.zeros_like(x))
    value, grad = ad_backend.value_and_grad(
        lambda a, b: wxent.sigmoid_cross_entropy(a, b, sample_weight=0.0, reduction=reduction),
        x,
        z,
    )
    assert float(value) == 0.0 and np.array_equal(grad, np.zeros_like(x))


@pytest.mark.parametrize("reduction", ["sum", "mean", "weighted_mean"])
def test_everything_ignored_sigmoid(ad_backend, rng, reduction):
    x = rng.normal(size=(3, 2)).astype(np.float32)
    z = np.full((3, 2), -1.0, dtype=np.float32)
    value, grad = ad_backend.value_and_grad(
        lambda a, b: wxent.sigmoid_cross_entropy(
            a, b, ignore_label=-1, pos_weight=[2.0, 3.0], reduction=reduction
        ),
        x,
        z,
    )
    assert float(value) == 0.0 and np.array_equal(grad, np.zeros_like(x))


INDICES = np.zeros((0,), dtype=np.int64)
EMPTY_BATCH = {  # every option that takes a rule of its own (batch-wide reductions)
    "plain": (
        lambda a, b: wxent.softmax_cross_entropy(a, b, reduction="weighted_mean"),
        INDICES,
    ),
    "smoothing": (
        lambda a, b: wxent.softmax_cross_entropy(a, b, label_smoothing=0.1, reduction="sum"),
        INDICES,
    ),
    "probabilities": (
        lambda a, b: wxent.softmax_cross_entropy(a, b, label_smoothing=0.1),
        np.zeros((0, 3), dtype=np.float32),
    ),
    "focal": (lambda a, b: wxent.softmax_focal_loss(a, b, label_smoothing=0.1), INDICES),
}


@pytest.mark.parametrize("call", list(EMPTY_BATCH))
def test_empty_batch(ad_backend, call):
    x = np.zeros((0, 3), dtype=np.float32)
    loss, labels = EMPTY_BATCH[call]
    value, grad = ad_backend.value_and_grad(loss, x, labels)
    assert float(value) == 0.0 and grad.shape == (0, 3)


def test_extreme_logits_sigmoid_exact(ad_backend):
    x = np.array([[1e4, -1e4, 3e38, -3e38, 0.0]], dtype=np.float32)
    z = np.array([[0.0, 1.0, 1.0, 0.0, 1.0]], dtype=np.float32)
    value, grad = ad_backend.value_and_grad(
        lambda a, b: wxent.sigmoid_cross_entropy(a, b, reduction="sum"), x, z
    )
    assert np.isfinite(grad).all()
    assert_close(value, 1e4 + 1e4 + 0 + 0 + np.log(2.0), rtol=1e-6)
    # d/dx = sigmoid(x) - z: exactly 0.5 - z at x = 0
    assert_close(grad, [[1.0, -1.0, 0.0, 0.0, -0.5]], rtol=0, atol=1e-7)


def test_extreme_logits_softmax_exact(ad_backend):
    x = np.array([[1e4, -1e4, 0.0], [-1e38, 1e38, 0.0]], dtype=np.float32)
    y = np.array([1, 0])
    value, grad = ad_backend.value_and_grad(
        lambda a, b: wxent.softmax_cross_entropy(a, b, reduction="sum"), x, y
    )
    assert np.isfinite(grad).all()
    assert_close(value, 2e38, rtol=1e-6)
    assert_close(grad, [[1.0, -1.0, 0.0], [-1.0, 1.0, 0.0]], rtol=0, atol=1e-7)


def test_extreme_logits_reference_values(backend):
    x = np.array([[1e4, -1e4, 5.0]], dtype=np.float32)
    y = np.array([2])
    got = backend.call(lambda a, b: wxent.softmax_cross_entropy(a, b, reduction="sum"), x, y)
    assert_close(got, 1e4 - 5.0, rtol=1e-7)


def test_negative_infinite_logit_with_zero_target_costs_nothing(ad_backend):
    x = np.array([[-np.inf, 1.0, 2.0]], dtype=np.float32)
    y = np.array([2])
    t = np.array([[0.0, 0.3, 0.7]], dtype=np.float32)
    finite = np.array([[-1e30, 1.0, 2.0]], dtype=np.float32)
    for labels in (y, t):
        value, grad = ad_backend.value_and_grad(
            lambda a, b: wxent.softmax_cross_entropy(a, b, reduction="sum"), x, labels
        )
        ref = softmax_ce(finite, labels, reduction="sum")
        assert np.isfinite(value) and np.isfinite(grad).all()
        assert_close(value, ref)
        assert grad[0, 0] == 0.0
    z = np.array([[0.0, 1.0]], dtype=np.float32)
    xs = np.array([[-np.inf, np.inf]], dtype=np.float32)
    value, grad = ad_backend.value_and_grad(
        lambda a, b: wxent.sigmoid_cross_entropy(a, b, pos_weight=3.0, reduction="sum"), xs, z
    )
    assert float(value) == 0.0
    assert np.array_equal(grad, np.zeros_like(xs))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_computed_in_float32(dtype, rng):
    import jax.numpy as jnp
    import tensorflow as tf

    x = rng.normal(scale=4.0, size=(6, 5)).astype(np.float32)
    y = rng.integers(0, 5, size=(6,))
    z = (rng.uniform(size=(6, 5)) < 0.3).astype(np.float32)
    # the reference sees the logits as rounded to the 16-bit dtype
    xt16 = torch.tensor(x).to(getattr(torch, dtype))
    rounded = xt16.float().numpy()
    ref_soft = softmax_ce(rounded, y, label_smoothing=0.1, reduction="none")
    ref_sig = sigmoid_ce(rounded, z, pos_weight=4.0)

    cases = [
        (
            xt16,
            torch.tensor(y),
            torch.tensor(z),
            lambda o: o.float().numpy(),
            getattr(torch, dtype),
        ),
        (
            jnp.asarray(rounded, dtype=dtype),
            jnp.asarray(y),
            jnp.asarray(z),
            lambda o: np.asarray(o.astype(jnp.float32)),
            jnp.dtype(dtype),
        ),
        (
            tf.cast(tf.constant(rounded), dtype),
            tf.constant(y),
            tf.constant(z),
            lambda o: tf.cast(o, tf.float32).numpy(),
            getattr(tf, dtype),
        ),
    ]
    if dtype == "float16":
        cases.append((rounded.astype(np.float16), y, z, lambda o: o.astype(np.float32), np.float16))
    tol = 1e-2 if dtype == "bfloat16" else 2e-3
    for logits, labels, binary, to_np, expected_dtype in cases:
        out = wxent.softmax_cross_entropy(logits, labels, label_smoothing=0.1, reduction="none")
        assert out.dtype == expected_dtype
        assert_close(to_np(out), ref_soft, rtol=tol, atol=tol)
        out = wxent.sigmoid_cross_entropy(logits, binary, pos_weight=4.0)
        assert out.dtype == expected_dtype
        assert_close(to_np(out), ref_sig, rtol=tol, atol=tol)


def test_half_precision_gradient_dtype(rng):
    x = torch.tensor(rng.normal(size=(4, 3)), dtype=torch.bfloat16, requires_grad=True)
    y = torch.tensor(rng.integers(0, 3, size=(4,)))
    loss = wxent.softmax_cross_entropy(x, y, class_weight=[1.0, 2.0, 3.0])
    loss.backward()
    assert loss.dtype == torch.bfloat16 and x.grad.dtype == torch.bfloat16
    assert torch.isfinite(x.grad.float()).all()
