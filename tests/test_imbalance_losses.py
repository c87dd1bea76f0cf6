"""Focal, asymmetric and logit-adjusted losses: float64 references (values and gradients)
on every backend, the cross-entropy special cases, Optax as a peer, numerics at extreme
logits, and every error message.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import reference_imbalance as ref
import wxent
from conftest import assert_close
from reference import numeric_grad

REDUCTIONS = ["none", "sum", "mean", "weighted_mean"]


def _binary_case(rng, shape=(4, 3)):
    x = rng.normal(scale=3.0, size=shape).astype(np.float32)
    z = (rng.random(shape) < 0.4).astype(np.float32)
    z.flat[1] = -1.0  # one unknown label
    return x, z


def _softmax_case(rng, n=5, c=4):
    x = rng.normal(scale=2.0, size=(n, c)).astype(np.float32)
    y = rng.integers(0, c, size=n)
    y[2] = -100
    return x, y


# ----------------------------------------------------------------------------- sigmoid focal


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_focal_matches_reference(backend, reduction, rng):
    x, z = _binary_case(rng)
    opts = dict(
        gamma=1.5,
        alpha=[0.25, 0.5, 0.9],
        pos_weight=[1.0, 2.0, 3.0],
        sample_weight=[1.0, 0.5, 2.0, 0.0],
        label_smoothing=0.1,
        ignore_label=-1.0,
        reduction=reduction,
    )
    got = backend.call(lambda a, b: wxent.sigmoid_focal_loss(a, b, **opts), x, z)
    assert_close(got, ref.sigmoid_focal(x, z, **opts), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_sigmoid_focal_gradient_matches_reference(ad_backend, gamma, rng):
    x, z = _binary_case(rng)
    opts = dict(gamma=gamma, alpha=0.25, ignore_label=-1.0, reduction="mean")
    value, grad = ad_backend.value_and_grad(
        lambda a, b: wxent.sigmoid_focal_loss(a, b, **opts), x, z
    )
    assert_close(value, ref.sigmoid_focal(x, z, **opts), rtol=1e-4)
    expected = numeric_grad(lambda a: ref.sigmoid_focal(a, z, **opts), x)
    assert_close(grad, expected, rtol=1e-3, atol=1e-5)


def test_sigmoid_focal_class_axis_1(backend, rng):
    x = rng.normal(size=(2, 3, 2, 2)).astype(np.float32)
    z = (rng.random((2, 3, 2, 2)) < 0.5).astype(np.float32)
    opts = dict(alpha=[0.2, 0.5, 0.8], class_axis=1, reduction="sum")
    got = backend.call(lambda a, b: wxent.sigmoid_focal_loss(a, b, **opts), x, z)
    assert_close(got, ref.sigmoid_focal(x, z, **opts), rtol=1e-4)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_focal_gamma_0_is_cross_entropy(backend, reduction, rng):
    x, z = _binary_case(rng)
    alpha = np.array([0.25, 0.6, 0.9])

    def both(a, b):
        focal = wxent.sigmoid_focal_loss(
            a, b, gamma=0.0, alpha=alpha, ignore_label=-1.0, reduction=reduction
        )
        ce = wxent.sigmoid_cross_entropy(
            a, b, pos_weight=alpha, neg_weight=1 - alpha, ignore_label=-1.0, reduction=reduction
        )
        return focal - ce

    assert_close(backend.call(both, x, z), np.zeros(()), atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(
    st.floats(0.0, 1.0),
    st.lists(st.floats(-30, 30), min_size=6, max_size=6),
    st.sampled_from(REDUCTIONS),
)
def test_sigmoid_focal_gamma_0_property(alpha, logits, reduction):
    x = np.array(logits, dtype=np.float64).reshape(2, 3)
    z = np.array([[1.0, 0.0, 0.3], [0.0, 1.0, 1.0]])
    focal = wxent.sigmoid_focal_loss(x, z, gamma=0.0, alpha=alpha, reduction=reduction)
    ce = wxent.sigmoid_cross_entropy(
        x, z, pos_weight=alpha, neg_weight=1 - alpha, reduction=reduction
    )
    assert_close(focal, ce, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 3.5])
@pytest.mark.parametrize("alpha", [None, 0.25])
def test_sigmoid_focal_equals_optax(gamma, alpha, rng):
    x = rng.normal(scale=4.0, size=(6, 5)).astype(np.float32)
    z = (rng.random((6, 5)) < 0.3).astype(np.float32)
    theirs = optax.sigmoid_focal_loss(jnp.asarray(x), jnp.asarray(z), alpha=alpha, gamma=gamma)
    ours = wxent.sigmoid_focal_loss(
        jnp.asarray(x), jnp.asarray(z), gamma=gamma, alpha=alpha, reduction="none"
    )
    assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    # Optax returns per element: its sum is our "sum" (and its mean our "mean").
    g_theirs = jax.grad(lambda a: optax.sigmoid_focal_loss(a, z, alpha=alpha, gamma=gamma).sum())(
        jnp.asarray(x)
    )
    g_ours = jax.grad(
        lambda a: wxent.sigmoid_focal_loss(
            a, jnp.asarray(z), gamma=gamma, alpha=alpha, reduction="sum"
        )
    )(jnp.asarray(x))
    assert_close(g_ours, g_theirs, rtol=1e-4, atol=1e-6)


def test_sigmoid_focal_confident_mistake_costs_alpha_times_logit(backend):
    # A positive at logit -100, gamma=2, alpha=0.25: 0.25 * 1**2 * softplus(100) = 25.
    # (Clipping probabilities to [1e-7, 1 - 1e-7] gives about 4; 16 without alpha.)
    x = np.array([[-100.0]], dtype=np.float32)
    z = np.array([[1.0]], dtype=np.float32)
    got = backend.call(lambda a, b: wxent.sigmoid_focal_loss(a, b, gamma=2.0, alpha=0.25), x, z)
    assert_close(got, 25.0, rtol=1e-5)


# ----------------------------------------------------------------------------- extreme logits


EXTREME = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0]], dtype=np.float32)


@pytest.mark.parametrize(
    "loss",
    [
        lambda a, b: wxent.sigmoid_focal_loss(a, b, gamma=0.5, alpha=0.25),
        lambda a, b: wxent.asymmetric_loss(a, b, gamma_pos=0.5, gamma_neg=0.5),
        lambda a, b: wxent.asymmetric_loss(a, b, gamma_pos=0.5, gamma_neg=0.5, clip=0.0),
    ],
    ids=["sigmoid_focal", "asl", "asl-no-clip"],
)
def test_binary_losses_finite_at_extreme_logits(ad_backend, loss):
    z = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]], dtype=np.float32)
    value, grad = ad_backend.value_and_grad(loss, EXTREME, z)
    assert np.isfinite(value) and np.isfinite(grad).all()
    # The confident mistake (-1e4 with label 1) costs about 1e4 / 6 elements, not a clip.
    assert value > 1e3


@pytest.mark.parametrize(("gamma", "smoothing"), [(0.0, 0.1), (0.5, 0.0), (2.0, 0.1)])
def test_softmax_focal_finite_at_extreme_logits(ad_backend, gamma, smoothing):
    y = np.array([0, 0])

    def f(a, b):
        return wxent.softmax_focal_loss(a, b, gamma=gamma, label_smoothing=smoothing)

    value, grad = ad_backend.value_and_grad(f, EXTREME, y)
    assert np.isfinite(value) and np.isfinite(grad).all()
    assert_close(value, ref.softmax_focal(EXTREME, y, gamma=gamma, label_smoothing=smoothing))


def test_softmax_focal_tied_maxima(ad_backend):
    x = np.array([[5.0, 5.0, -1e4], [1e4, 1e4, -1e4], [2.0, 2.0, 2.0]], dtype=np.float32)
    y = np.array([0, 1, 2])
    opts = dict(gamma=0.5, label_smoothing=0.2, reduction="sum")
    value, grad = ad_backend.value_and_grad(
        lambda a, b: wxent.softmax_focal_loss(a, b, **opts), x, y
    )
    assert_close(value, ref.softmax_focal(x, y, **opts), rtol=1e-5)
    assert np.isfinite(grad).all()
    expected = numeric_grad(lambda a: ref.softmax_focal(a, y[[0, 2]], **opts), x[[0, 2]])
    assert_close(grad[[0, 2]], expected, rtol=1e-3, atol=1e-5)


def test_softmax_focal_single_class_is_zero(ad_backend):
    x = np.array([[3.0], [-2.0]], dtype=np.float32)
    value, grad = ad_backend.value_and_grad(
        lambda a, b: wxent.softmax_focal_loss(a, b, gamma=0.5), x, np.array([0, 0])
    )
    assert_close(value, 0.0)
    assert_close(grad, np.zeros_like(x))


def test_infinite_logit_on_target_side_costs_nothing():
    x = np.array([[np.inf, -np.inf]], dtype=np.float32)
    z = np.array([[1.0, 0.0]], dtype=np.float32)
    assert float(wxent.sigmoid_focal_loss(x, z, reduction="sum")) == 0.0
    assert float(wxent.asymmetric_loss(x, z, reduction="sum")) == 0.0
    probs = np.array([[1.0, 0.0]], dtype=np.float32)
    x2 = np.array([[2.0, -np.inf]], dtype=np.float32)
    assert float(wxent.softmax_focal_loss(x2, probs, reduction="sum")) == 0.0


# ----------------------------------------------------------------------------- softmax focal


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_softmax_focal_matches_reference(backend, reduction, rng):
    x, y = _softmax_case(rng)
    opts = dict(
        gamma=2.0,
        class_weight=[1.0, 2.0, 0.5, 3.0],
        sample_weight=[1.0, 2.0, 1.0, 0.5, 1.0],
        label_smoothing=0.1,
        ignore_index=-100,
        reduction=reduction,
    )
    got = backend.call(lambda a, b: wxent.softmax_focal_loss(a, b, **opts), x, y)
    assert_close(got, ref.softmax_focal(x, y, **opts), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_softmax_focal_gradient_matches_reference(ad_backend, gamma, rng):
    x, y = _softmax_case(rng)
    opts = dict(gamma=gamma, class_weight=[1.0, 2.0, 0.5, 3.0], ignore_index=-100)
    value, grad = ad_backend.value_and_grad(
        lambda a, b: wxent.softmax_focal_loss(a, b, **opts), x, y
    )
    assert_close(value, ref.softmax_focal(x, y, **opts), rtol=1e-4)
    expected = numeric_grad(lambda a: ref.softmax_focal(a, y, **opts), x)
    assert_close(grad, expected, rtol=1e-3, atol=1e-5)


def test_softmax_focal_soft_labels_and_class_axis(backend, rng):
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    soft = rng.random((2, 3, 4)).astype(np.float32)
    soft /= soft.sum(axis=1, keepdims=True)
    opts = dict(gamma=1.0, class_weight=[1.0, 2.0, 3.0], label_smoothing=0.2, class_axis=1)
    got = backend.call(
        lambda a, b: wxent.softmax_focal_loss(a, b, reduction="none", **opts), x, soft
    )
    assert_close(got, ref.softmax_focal(x, soft, reduction="none", **opts), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_softmax_focal_gamma_0_is_cross_entropy(backend, reduction, rng):
    x, y = _softmax_case(rng)
    opts = dict(
        class_weight=[1.0, 2.0, 0.5, 3.0],
        label_smoothing=0.1,
        ignore_index=-100,
        reduction=reduction,
    )

    def diff(a, b):
        return wxent.softmax_focal_loss(a, b, gamma=0.0, **opts) - wxent.softmax_cross_entropy(
            a, b, **opts
        )

    assert_close(backend.call(diff, x, y), 0.0, atol=1e-5)


def test_softmax_focal_label_encodings_agree(ad_backend, rng):
    x = rng.normal(size=(4, 3)).astype(np.float32)
    y = np.array([0, 2, 1, 2])
    onehot = np.eye(3, dtype=np.float32)[y]
    opts = dict(gamma=2.0, class_weight=[1.0, 3.0, 0.5], label_smoothing=0.1)
    v1, g1 = ad_backend.value_and_grad(lambda a, b: wxent.softmax_focal_loss(a, b, **opts), x, y)
    v2, g2 = ad_backend.value_and_grad(
        lambda a, b: wxent.softmax_focal_loss(a, b, **opts), x, onehot
    )
    assert_close(v1, v2)
    assert_close(g1, g2)


# ----------------------------------------------------------------------------- asymmetric


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("clip", [0.0, 0.05])
def test_asymmetric_matches_reference(backend, reduction, clip, rng):
    x, z = _binary_case(rng)
    opts = dict(
        gamma_pos=1.0,
        gamma_neg=4.0,
        clip=clip,
        pos_weight=[2.0, 1.0, 0.5],
        sample_weight=[1.0, 0.5, 2.0, 1.0],
        label_smoothing=0.05,
        ignore_label=-1.0,
        reduction=reduction,
    )
    got = backend.call(lambda a, b: wxent.asymmetric_loss(a, b, **opts), x, z)
    assert_close(got, ref.asymmetric(x, z, **opts), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("clip", [0.0, 0.2])
def test_asymmetric_gradient_matches_reference(ad_backend, clip, rng):
    x, z = _binary_case(rng)
    x = x / 3.0  # probabilities spread around the clip margin
    opts = dict(gamma_pos=0.5, gamma_neg=2.0, clip=clip, ignore_label=-1.0, reduction="sum")
    value, grad = ad_backend.value_and_grad(lambda a, b: wxent.asymmetric_loss(a, b, **opts), x, z)
    assert_close(value, ref.asymmetric(x, z, **opts), rtol=1e-4)
    expected = numeric_grad(lambda a: ref.asymmetric(a, z, **opts), x)
    assert_close(grad, expected, rtol=1e-3, atol=1e-5)


def test_asymmetric_special_cases(backend, rng):
    x, z = _binary_case(rng)

    def diff(a, b):
        asl = wxent.asymmetric_loss(a, b, gamma_pos=0.0, gamma_neg=0.0, clip=0.0, ignore_label=-1)
        return asl - wxent.sigmoid_cross_entropy(a, b, ignore_label=-1)

    assert_close(backend.call(diff, x, z), 0.0, atol=1e-5)

    def focal(a, b):
        asl = wxent.asymmetric_loss(a, b, gamma_pos=2.0, gamma_neg=2.0, clip=0.0, ignore_label=-1)
        return asl - wxent.sigmoid_focal_loss(a, b, gamma=2.0, ignore_label=-1)

    assert_close(backend.call(focal, x, z), 0.0, atol=1e-5)


def test_asymmetric_easy_negatives_cost_nothing():
    x = np.array([[-4.0, -2.0, 0.0]], dtype=np.float32)  # p = 0.018, 0.119, 0.5
    z = np.zeros((1, 3), dtype=np.float32)
    per = wxent.asymmetric_loss(x, z, clip=0.05, reduction="none")
    assert per[0, 0] == 0.0 and per[0, 1] > 0.0 and per[0, 2] > per[0, 1]


# ----------------------------------------------------------------------------- logit adjustment


PRIOR = np.array([0.6, 0.25, 0.1, 0.05])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_logit_adjusted_matches_reference(backend, reduction, rng):
    x, y = _softmax_case(rng)
    opts = dict(
        tau=1.5,
        class_weight=[1.0, 2.0, 0.5, 3.0],
        sample_weight=[1.0, 2.0, 1.0, 0.5, 1.0],
        label_smoothing=0.1,
        ignore_index=-100,
        reduction=reduction,
    )
    got = backend.call(lambda a, b: wxent.logit_adjusted_cross_entropy(a, b, PRIOR, **opts), x, y)
    assert_close(got, ref.logit_adjusted(x, y, PRIOR, **opts), rtol=1e-4, atol=1e-5)


def test_logit_adjusted_gradient_matches_reference(ad_backend, rng):
    x, y = _softmax_case(rng)
    opts = dict(tau=1.0, ignore_index=-100, reduction="mean")
    value, grad = ad_backend.value_and_grad(
        lambda a, b: wxent.logit_adjusted_cross_entropy(a, b, PRIOR, **opts), x, y
    )
    assert_close(value, ref.logit_adjusted(x, y, PRIOR, **opts), rtol=1e-4)
    expected = numeric_grad(lambda a: ref.logit_adjusted(a, y, PRIOR, **opts), x)
    assert_close(grad, expected, rtol=1e-3, atol=1e-5)


def test_logit_adjusted_soft_labels_class_axis_and_prior_array(backend, rng):
    x = rng.normal(size=(2, 4, 3)).astype(np.float32)
    soft = rng.random((2, 4, 3)).astype(np.float32)
    soft /= soft.sum(axis=1, keepdims=True)

    def f(a, b):
        prior = backend.asarray(PRIOR.astype(np.float32)) if backend.name != "strict" else PRIOR
        return wxent.logit_adjusted_cross_entropy(a, b, prior, class_axis=1, reduction="none")

    got = backend.call(f, x, soft)
    assert_close(got, ref.logit_adjusted(x, soft, PRIOR, class_axis=1, reduction="none"), rtol=1e-4)


def test_logit_adjusted_special_cases(backend, rng):
    x, y = _softmax_case(rng)

    def diff(a, b):
        plain = wxent.softmax_cross_entropy(a, b, ignore_index=-100)
        no_tau = wxent.logit_adjusted_cross_entropy(a, b, PRIOR, tau=0.0, ignore_index=-100)
        uniform = wxent.logit_adjusted_cross_entropy(a, b, [0.3] * 4, ignore_index=-100)
        return (no_tau - plain) ** 2 + (uniform - plain) ** 2

    assert_close(backend.call(diff, x, y), 0.0, atol=1e-9)


def test_adjust_logits(backend, rng):
    x = rng.normal(size=(3, 4)).astype(np.float32)
    got = backend.call(lambda a: wxent.adjust_logits(a, PRIOR, tau=0.5), x)
    assert_close(got, x - 0.5 * np.log(PRIOR))
    x4 = rng.normal(size=(2, 4, 2)).astype(np.float32)
    got = backend.call(lambda a: wxent.adjust_logits(a, PRIOR, class_axis=1), x4)
    assert_close(got, x4 - np.log(PRIOR)[None, :, None])


def test_adjust_logits_keeps_half_precision():
    x = torch.zeros(2, 4, dtype=torch.float16)
    out = wxent.adjust_logits(x, PRIOR)
    assert out.dtype == torch.float16
    assert int(out.argmax(dim=-1)[0]) == 3  # the rarest class wins a tie


def test_prior_from_class_prior_feeds_both(rng):
    labels = np.array([0] * 8 + [1] * 2)
    prior = wxent.class_prior(labels)
    x = np.zeros((1, 2), dtype=np.float32)
    assert wxent.adjust_logits(x, prior).argmax() == 1
    low = wxent.class_prior(labels, num_classes=3, zero_count="min")
    out = wxent.logit_adjusted_cross_entropy(x[:, [0, 1, 1]], np.array([2]), low)
    assert np.isfinite(out)


# ----------------------------------------------------------------------------- shared options


@pytest.mark.parametrize(
    "loss",
    [
        lambda a, b, **o: wxent.sigmoid_focal_loss(a, b, alpha=0.25, **o),
        lambda a, b, **o: wxent.asymmetric_loss(a, b, pos_weight=2.0, **o),
    ],
    ids=["sigmoid_focal", "asl"],
)
@pytest.mark.parametrize("reduction", ["mean", "weighted_mean"])
def test_loss_terms_binary(loss, reduction, rng):
    x, z = _binary_case(rng)
    num, den = wxent.loss_terms(loss, x, z, ignore_label=-1.0, reduction=reduction)
    assert_close(wxent.safe_divide(num, den), loss(x, z, ignore_label=-1.0, reduction=reduction))


@pytest.mark.parametrize("reduction", ["mean", "weighted_mean"])
def test_loss_terms_softmax(reduction, rng):
    x, y = _softmax_case(rng)
    opts = dict(class_weight=[1.0, 2.0, 3.0, 4.0], ignore_index=-100, reduction=reduction)
    num, den = wxent.loss_terms(wxent.softmax_focal_loss, x, y, **opts)
    assert_close(wxent.safe_divide(num, den), wxent.softmax_focal_loss(x, y, **opts))
    num, den = wxent.loss_terms(wxent.logit_adjusted_cross_entropy, x, y, PRIOR, **opts)
    assert_close(
        wxent.safe_divide(num, den), wxent.logit_adjusted_cross_entropy(x, y, PRIOR, **opts)
    )


def test_half_precision_in_and_out(rng):
    x, z = _binary_case(rng)
    xh = torch.from_numpy(x).to(torch.bfloat16)
    out = wxent.sigmoid_focal_loss(xh, torch.from_numpy(z), ignore_label=-1.0)
    assert out.dtype == torch.bfloat16
    xs, y = _softmax_case(rng)
    out = wxent.softmax_focal_loss(
        torch.from_numpy(xs).half(), torch.from_numpy(y), ignore_index=-100
    )
    assert out.dtype == torch.float16
    assert_close(float(out), ref.softmax_focal(xs, y, ignore_index=-100), rtol=2e-2, atol=1e-3)


def test_nothing_valid_gives_zero(ad_backend):
    x = np.ones((2, 3), dtype=np.float32)
    z = -np.ones((2, 3), dtype=np.float32)
    value, grad = ad_backend.value_and_grad(
        lambda a, b: wxent.asymmetric_loss(a, b, ignore_label=-1.0, reduction="weighted_mean"), x, z
    )
    assert value == 0.0 and (grad == 0).all()


# ----------------------------------------------------------------------------- errors


def test_errors():
    x = np.zeros((2, 3), dtype=np.float32)
    z = np.zeros((2, 3), dtype=np.float32)
    y = np.array([0, 1])
    with pytest.raises(ValueError, match=r"`gamma`. Expected a finite float >= 0. Received: gamma"):
        wxent.sigmoid_focal_loss(x, z, gamma=-1.0)
    with pytest.raises(TypeError, match=r"`gamma`. Expected a finite float >= 0"):
        wxent.softmax_focal_loss(x, y, gamma="2")
    with pytest.raises(ValueError, match=r"`gamma`. Expected a finite float >= 0.*gamma=nan"):
        wxent.softmax_focal_loss(x, y, gamma=float("nan"))
    with pytest.raises(ValueError, match=r"`alpha`. Expected values in \[0, 1\]"):
        wxent.sigmoid_focal_loss(x, z, alpha=1.5)
    with pytest.raises(ValueError, match=r"`alpha`. Expected values in \[0, 1\]"):
        wxent.sigmoid_focal_loss(torch.zeros(2, 3), torch.zeros(2, 3), alpha=torch.tensor(2.0))
    with pytest.raises(ValueError, match=r"`alpha`. Expected finite non-negative values"):
        wxent.sigmoid_focal_loss(x, z, alpha=[0.1, -0.1, 0.2])
    with pytest.raises(ValueError, match=r"`alpha`. Expected a scalar or one value per class"):
        wxent.sigmoid_focal_loss(x, z, alpha=[0.1, 0.2])
    with pytest.raises(ValueError, match=r"`gamma_neg`. Expected a finite float >= 0"):
        wxent.asymmetric_loss(x, z, gamma_neg=-4.0)
    with pytest.raises(ValueError, match=r"`gamma_pos`. Expected a finite float >= 0"):
        wxent.asymmetric_loss(x, z, gamma_pos=float("inf"))
    with pytest.raises(ValueError, match=r"`clip`. Expected a float in \[0, 1\]"):
        wxent.asymmetric_loss(x, z, clip=1.5)
    with pytest.raises(ValueError, match=r"`tau`. Expected a finite float >= 0"):
        wxent.logit_adjusted_cross_entropy(x, y, [0.5, 0.3, 0.2], tau=-1.0)
    with pytest.raises(ValueError, match=r"`tau`. Expected a finite float >= 0"):
        wxent.adjust_logits(x, [0.5, 0.3, 0.2], tau=-1.0)
    with pytest.raises(
        ValueError,
        match=r"`class_prior`. Expected finite positive.*Received: zero at class\(es\) \[1\]",
    ):
        wxent.logit_adjusted_cross_entropy(x, y, [0.5, 0.0, 0.5])
    with pytest.raises(ValueError, match=r"`class_prior`. Expected finite positive values"):
        wxent.adjust_logits(torch.zeros(2, 3), torch.tensor([0.5, 0.0, 0.5]))
    with pytest.raises(ValueError, match=r"`class_prior`. Expected finite non-negative values"):
        wxent.adjust_logits(x, [0.5, -0.1, 0.5])
    with pytest.raises(TypeError, match=r"`class_prior`. Expected one positive value per class"):
        wxent.logit_adjusted_cross_entropy(x, y, None)
    with pytest.raises(
        ValueError, match=r"`class_prior`. Expected a scalar or one value per class"
    ):
        wxent.adjust_logits(x, [0.5, 0.5])
    with pytest.raises(TypeError, match=r"`logits`. Expected a floating dtype"):
        wxent.adjust_logits(np.zeros((2, 3), dtype=np.int64), [0.5, 0.3, 0.2])
    with pytest.raises(ValueError, match=r"`class_axis`. Expected an axis of `logits`"):
        wxent.adjust_logits(x, [0.5, 0.3, 0.2], class_axis=2)
    with pytest.raises(ValueError, match=r"`reduction`. Expected one of"):
        wxent.softmax_focal_loss(x, y, reduction="avg")
    with pytest.raises(ValueError, match=r"`labels`. Expected values in \[0, 1\]"):
        wxent.asymmetric_loss(x, z + 2.0)


def test_traced_config_skips_value_checks_only():
    # Under jit the alpha/prior values cannot be read: static checks still run.
    x = jnp.zeros((2, 3))
    z = jnp.zeros((2, 3))
    f = jax.jit(lambda a, b, al: wxent.sigmoid_focal_loss(a, b, alpha=al))
    assert np.isfinite(f(x, z, jnp.array([0.1, 0.2, 0.3])))
    with pytest.raises(ValueError, match=r"`alpha`. Expected a scalar or one value per class"):
        f(x, z, jnp.array([0.1, 0.2]))
    # Host configuration (numbers, lists, NumPy) is checked also under jit.
    g = jax.jit(lambda a, b: wxent.sigmoid_focal_loss(a, b, alpha=np.array([0.1, 0.2, 1.3])))
    with pytest.raises(ValueError, match=r"`alpha`. Expected values in \[0, 1\]"):
        g(x, z)


def test_torch_compile_fullgraph(rng):
    x = rng.normal(size=(6, 4)).astype(np.float32)
    y = rng.integers(0, 4, size=(6,))
    z = (rng.random((6, 4)) < 0.3).astype(np.float32)
    prior = [0.4, 0.3, 0.2, 0.1]

    def step(a, b, c):
        return (
            wxent.softmax_focal_loss(a, b, gamma=0.5, class_weight=[1.0, 2.0, 3.0, 4.0])
            + wxent.sigmoid_focal_loss(a, c, alpha=[0.25, 0.5, 0.5, 0.75])
            + wxent.asymmetric_loss(a, c)
            + wxent.logit_adjusted_cross_entropy(a, b, prior, label_smoothing=0.1)
            + wxent.adjust_logits(a, prior).sum()
        )

    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)
    xt = torch.tensor(x, requires_grad=True)
    out = compiled(xt, torch.tensor(y), torch.tensor(z))
    out.backward()
    xe = torch.tensor(x, requires_grad=True)
    expected = step(xe, torch.tensor(y), torch.tensor(z))
    expected.backward()
    assert_close(out.detach(), expected.detach())
    assert_close(xt.grad, xe.grad)
