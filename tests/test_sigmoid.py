"""sigmoid_cross_entropy: float64 reference, peers (TensorFlow, PyTorch), shapes, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import torch

import wxent
from conftest import assert_close
from reference import numeric_grad, sigmoid_ce

REDUCTIONS = ["none", "sum", "mean", "weighted_mean"]


def _data(rng, shape=(5, 4), soft=False):
    x = rng.normal(scale=3.0, size=shape).astype(np.float32)
    if soft:
        z = rng.uniform(size=shape).astype(np.float32)
    else:
        z = (rng.uniform(size=shape) < 0.3).astype(np.float32)
    return x, z


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_reference_all_options(backend, rng, reduction):
    x, z = _data(rng, soft=True)
    z[0, 1] = -1.0
    z[3, 2] = -1.0
    options = dict(
        pos_weight=[3.0, 1.0, 0.5, 2.0],
        neg_weight=[1.0, 0.25, 1.0, 2.0],
        sample_weight=rng.uniform(size=(5,)).astype(np.float32),
        label_smoothing=0.1,
        ignore_label=-1,
        reduction=reduction,
    )
    got = backend.call(lambda a, b: wxent.sigmoid_cross_entropy(a, b, **options), x, z)
    assert_close(got, sigmoid_ce(x, z, **options))


@pytest.mark.parametrize("reduction", ["sum", "mean", "weighted_mean"])
def test_gradient_matches_reference(ad_backend, rng, reduction):
    x, z = _data(rng, shape=(4, 3))
    z[1, 1] = -1.0
    options = dict(
        pos_weight=[2.0, 0.5, 4.0],
        sample_weight=rng.uniform(0.5, 1.5, size=(4, 3)).astype(np.float32),
        label_smoothing=0.05,
        ignore_label=-1,
        reduction=reduction,
    )
    value, grad = ad_backend.value_and_grad(
        lambda a, b: wxent.sigmoid_cross_entropy(a, b, **options), x, z
    )
    assert_close(value, sigmoid_ce(x, z, **options))
    expected = numeric_grad(lambda a: sigmoid_ce(a, z, **options), x)
    assert_close(grad, expected, rtol=1e-4, atol=1e-5)


def test_equals_tf_weighted_cross_entropy_with_logits(backend, rng):
    x, z = _data(rng, shape=(6, 5), soft=True)
    q = np.array([0.5, 1.0, 2.0, 7.0, 29.0], dtype=np.float32)
    peer = tf.nn.weighted_cross_entropy_with_logits(
        labels=tf.constant(z), logits=tf.constant(x), pos_weight=tf.constant(q)
    ).numpy()
    got = backend.call(
        lambda a, b: wxent.sigmoid_cross_entropy(a, b, pos_weight=q, reduction="none"), x, z
    )
    assert_close(got, peer)


def test_gradient_equals_tf_weighted_cross_entropy(ad_backend, rng):
    x, z = _data(rng, shape=(6, 5), soft=True)
    q = np.array([0.5, 1.0, 2.0, 7.0, 29.0], dtype=np.float32)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        peer = tf.reduce_sum(
            tf.nn.weighted_cross_entropy_with_logits(labels=z, logits=xt, pos_weight=q)
        )
    peer_grad = tape.gradient(peer, xt).numpy()
    value, grad = ad_backend.value_and_grad(
        lambda a, b: wxent.sigmoid_cross_entropy(a, b, pos_weight=q, reduction="sum"), x, z
    )
    assert_close(value, peer.numpy(), rtol=1e-5)
    assert_close(grad, peer_grad)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_equals_torch_bce_with_logits(ad_backend, rng, reduction):
    x, z = _data(rng, shape=(6, 4), soft=True)
    q = np.array([1.0, 3.0, 0.2, 9.0], dtype=np.float32)
    w = rng.uniform(size=(6, 4)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    peer = torch.nn.functional.binary_cross_entropy_with_logits(
        xt, torch.tensor(z), weight=torch.tensor(w), pos_weight=torch.tensor(q), reduction=reduction
    )
    if reduction == "none":
        got = ad_backend.call(
            lambda a, b: wxent.sigmoid_cross_entropy(
                a, b, pos_weight=q, sample_weight=w, reduction="none"
            ),
            x,
            z,
        )
        assert_close(got, peer.detach().numpy())
        return
    (peer_grad,) = torch.autograd.grad(peer, xt)
    value, grad = ad_backend.value_and_grad(
        lambda a, b: wxent.sigmoid_cross_entropy(
            a, b, pos_weight=q, sample_weight=w, reduction=reduction
        ),
        x,
        z,
    )
    assert_close(value, peer.detach().numpy())
    assert_close(grad, peer_grad.numpy())


def test_per_sample_weight_weights_every_label(backend, rng):
    x, z = _data(rng, shape=(5, 3))
    s = rng.uniform(size=(5,)).astype(np.float32)
    got = backend.call(
        lambda a, b: wxent.sigmoid_cross_entropy(a, b, sample_weight=s, reduction="none"), x, z
    )
    plain = backend.call(lambda a, b: wxent.sigmoid_cross_entropy(a, b, reduction="none"), x, z)
    assert_close(got, plain * s[:, None])


def test_per_class_sample_weight_shape_is_an_error():
    x = np.zeros((5, 3), dtype=np.float32)
    z = np.zeros((5, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"Invalid value for argument `sample_weight`.*\(3,\)"):
        wxent.sigmoid_cross_entropy(x, z, sample_weight=np.ones(3))


def test_pos_weight_follows_class_axis_when_width_equals_channels(backend, rng):
    # (N, C, H, W) with W == C: a (C,) pos_weight must weight channels, not columns.
    x = rng.normal(size=(2, 3, 4, 3)).astype(np.float32)
    z = (rng.uniform(size=x.shape) < 0.5).astype(np.float32)
    q = np.array([1.0, 5.0, 10.0], dtype=np.float32)
    got = backend.call(
        lambda a, b: wxent.sigmoid_cross_entropy(
            a, b, pos_weight=q, class_axis=1, reduction="none"
        ),
        x,
        z,
    )
    assert_close(got, sigmoid_ce(x, z, pos_weight=q, class_axis=1, reduction="none"))
    # channel c of every pixel carries weight q[c] on positives
    pos = z == 1
    plain = sigmoid_ce(x, z, class_axis=1, reduction="none")
    ratio = np.where(pos, got / np.where(pos, plain, 1.0), np.nan)
    for c in range(3):
        assert np.allclose(ratio[:, c][pos[:, c]], q[c], rtol=1e-4)


def test_per_sample_weight_with_channels_first(backend, rng):
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    z = (rng.uniform(size=x.shape) < 0.5).astype(np.float32)
    s = rng.uniform(size=(2, 4)).astype(np.float32)
    got = backend.call(
        lambda a, b: wxent.sigmoid_cross_entropy(
            a, b, sample_weight=s, class_axis=1, reduction="sum"
        ),
        x,
        z,
    )
    assert_close(got, sigmoid_ce(x, z, sample_weight=s, class_axis=1, reduction="sum"))


def test_boolean_and_integer_labels(backend, rng):
    x, z = _data(rng)
    expected = sigmoid_ce(x, z)
    for labels in (z.astype(bool), z.astype(np.int64)):
        got = backend.call(lambda a, b: wxent.sigmoid_cross_entropy(a, b), x, labels)
        assert_close(got, expected)


def test_binary_one_dimensional_logits(backend, rng):
    x = rng.normal(size=(7,)).astype(np.float32)
    z = (rng.uniform(size=(7,)) < 0.5).astype(np.float32)
    got = backend.call(lambda a, b: wxent.sigmoid_cross_entropy(a, b, pos_weight=2.0), x, z)
    assert_close(got, sigmoid_ce(x, z, pos_weight=2.0))
