"""softmax_cross_entropy: float64 reference, peers (TensorFlow, PyTorch), label encodings."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import torch

import wxent
from conftest import assert_close
from reference import numeric_grad, softmax_ce

REDUCTIONS = ["none", "sum", "mean", "weighted_mean"]
F = torch.nn.functional


def _data(rng, n=6, c=4):
    x = rng.normal(scale=2.0, size=(n, c)).astype(np.float32)
    y = rng.integers(0, c, size=(n,))
    return x, y


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_integer_labels_match_reference(backend, rng, reduction):
    x, y = _data(rng)
    y[2] = -100
    options = dict(
        class_weight=[0.5, 2.0, 1.0, 3.0],
        sample_weight=rng.uniform(size=(6,)).astype(np.float32),
        label_smoothing=0.15,
        ignore_index=-100,
        reduction=reduction,
    )
    got = backend.call(lambda a, b: wxent.softmax_cross_entropy(a, b, **options), x, y)
    assert_close(got, softmax_ce(x, y, **options))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_labels_match_reference(backend, rng, reduction):
    x, _ = _data(rng)
    t = rng.dirichlet(np.ones(4), size=6).astype(np.float32)
    options = dict(class_weight=[0.5, 2.0, 1.0, 3.0], label_smoothing=0.1, reduction=reduction)
    got = backend.call(lambda a, b: wxent.softmax_cross_entropy(a, b, **options), x, t)
    assert_close(got, softmax_ce(x, t, **options))


@pytest.mark.parametrize("reduction", ["sum", "mean", "weighted_mean"])
def test_gradient_matches_reference(ad_backend, rng, reduction):
    x, y = _data(rng, n=5, c=3)
    y[1] = 7
    options = dict(
        class_weight=[1.0, 4.0, 0.5], label_smoothing=0.2, ignore_index=7, reduction=reduction
    )
    value, grad = ad_backend.value_and_grad(
        lambda a, b: wxent.softmax_cross_entropy(a, b, **options), x, y
    )
    assert_close(value, softmax_ce(x, y, **options))
    assert_close(grad, numeric_grad(lambda a: softmax_ce(a, y, **options), x), atol=1e-5)


def test_encodings_agree_with_weights_smoothing_weighted_mean(ad_backend, rng):
    """Integer, one-hot and (equivalent) soft labels: same value and same gradient."""
    x, y = _data(rng, n=8, c=5)
    one_hot = np.eye(5, dtype=np.float32)[y]
    options = dict(
        class_weight=[0.2, 1.0, 3.0, 0.7, 2.0], label_smoothing=0.3, reduction="weighted_mean"
    )
    v_int, g_int = ad_backend.value_and_grad(
        lambda a, b: wxent.softmax_cross_entropy(a, b, **options), x, y
    )
    v_hot, g_hot = ad_backend.value_and_grad(
        lambda a, b: wxent.softmax_cross_entropy(a, b, **options), x, one_hot
    )
    assert_close(v_int, v_hot, rtol=1e-6, atol=1e-6)
    assert_close(g_int, g_hot, rtol=1e-6, atol=1e-7)
    # torch itself gives two different numbers for these two encodings
    w = torch.tensor(options["class_weight"])
    t_int = F.cross_entropy(torch.tensor(x), torch.tensor(y), weight=w, label_smoothing=0.3)
    t_hot = F.cross_entropy(torch.tensor(x), torch.tensor(one_hot), weight=w, label_smoothing=0.3)
    assert not np.isclose(float(t_int), float(t_hot))


@pytest.mark.parametrize("reduction", ["none", "sum", "weighted_mean"])
def test_equals_torch_cross_entropy_class_weights(ad_backend, rng, reduction):
    x, y = _data(rng, n=10, c=4)
    y[[1, 4]] = -100
    w = np.array([0.5, 2.0, 1.0, 3.0], dtype=np.float32)
    torch_reduction = "mean" if reduction == "weighted_mean" else reduction
    xt = torch.tensor(x, requires_grad=True)
    peer = F.cross_entropy(
        xt, torch.tensor(y), weight=torch.tensor(w), ignore_index=-100, reduction=torch_reduction
    )

    def ours(a, b):
        return wxent.softmax_cross_entropy(
            a, b, class_weight=w, ignore_index=-100, reduction=reduction
        )

    if reduction == "none":
        assert_close(ad_backend.call(ours, x, y), peer.detach().numpy())
        return
    (peer_grad,) = torch.autograd.grad(peer, xt)
    value, grad = ad_backend.value_and_grad(ours, x, y)
    assert_close(value, peer.detach().numpy())
    assert_close(grad, peer_grad.numpy())


def test_equals_torch_label_smoothing_without_weights(ad_backend, rng):
    x, y = _data(rng, n=10, c=6)
    xt = torch.tensor(x, requires_grad=True)
    peer = F.cross_entropy(xt, torch.tensor(y), label_smoothing=0.25)
    (peer_grad,) = torch.autograd.grad(peer, xt)
    value, grad = ad_backend.value_and_grad(
        lambda a, b: wxent.softmax_cross_entropy(a, b, label_smoothing=0.25), x, y
    )
    assert_close(value, peer.detach().numpy())
    assert_close(grad, peer_grad.numpy())


def test_equals_tf_softmax_cross_entropy_with_logits(ad_backend, rng):
    x, _ = _data(rng, n=7, c=5)
    t = rng.dirichlet(np.ones(5), size=7).astype(np.float32)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        per_sample = tf.nn.softmax_cross_entropy_with_logits(labels=t, logits=xt)
        peer = tf.reduce_sum(per_sample)
    peer_grad = tape.gradient(peer, xt).numpy()
    got = ad_backend.call(lambda a, b: wxent.softmax_cross_entropy(a, b, reduction="none"), x, t)
    assert_close(got, per_sample.numpy())
    value, grad = ad_backend.value_and_grad(
        lambda a, b: wxent.softmax_cross_entropy(a, b, reduction="sum"), x, t
    )
    assert_close(value, peer.numpy())
    assert_close(grad, peer_grad)


def test_channels_first_segmentation(backend, rng):
    x = rng.normal(size=(2, 3, 4, 3)).astype(np.float32)  # (N, C, H, W) with W == C
    y = rng.integers(0, 3, size=(2, 4, 3))
    w = [1.0, 5.0, 0.1]
    got = backend.call(
        lambda a, b: wxent.softmax_cross_entropy(
            a, b, class_weight=w, class_axis=1, reduction="weighted_mean"
        ),
        x,
        y,
    )
    assert_close(got, softmax_ce(x, y, class_weight=w, class_axis=1, reduction="weighted_mean"))
    peer = F.cross_entropy(torch.tensor(x), torch.tensor(y), weight=torch.tensor(w))
    assert_close(got, peer.numpy())


def test_channels_first_soft_labels(backend, rng):
    x = rng.normal(size=(2, 3, 5)).astype(np.float32)
    t = np.moveaxis(rng.dirichlet(np.ones(3), size=(2, 5)), -1, 1).astype(np.float32)
    w = [1.0, 5.0, 0.1]
    got = backend.call(
        lambda a, b: wxent.softmax_cross_entropy(
            a, b, class_weight=w, class_axis=1, reduction="none"
        ),
        x,
        t,
    )
    assert got.shape == (2, 5)
    assert_close(got, softmax_ce(x, t, class_weight=w, class_axis=1, reduction="none"))


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8])
def test_integer_label_dtypes(backend, rng, dtype):
    x, y = _data(rng)
    got = backend.call(lambda a, b: wxent.softmax_cross_entropy(a, b), x, y.astype(dtype))
    assert_close(got, softmax_ce(x, y))


def test_float64_stays_float64(rng):
    x, y = _data(rng)
    out = wxent.softmax_cross_entropy(x.astype(np.float64), y)
    assert out.dtype == np.float64
    out_t = wxent.softmax_cross_entropy(torch.tensor(x, dtype=torch.float64), torch.tensor(y))
    assert out_t.dtype == torch.float64
    assert abs(float(out) - softmax_ce(x, y)) < 1e-12
