"""``"weighted_mean"`` does not depend on the scale of the weights, also at the extremes.

``sum(w * l) / sum(w)`` is the same for ``w`` and ``k * w``. In floats it was not: with
subnormal weights ``w * l`` lost its digits (float64 weights of 5e-324 gave a loss of
0.0) and ``1 / sum(w)`` overflowed in the gradient (inf, NaN at a zero weight); with
huge weights ``sum(w)`` overflowed (NaN). wxent scales the weights of a weighted mean by
a power of two first, so tiny, ordinary and huge weights give one value and one gradient.
JAX and TensorFlow flush subnormal numbers to zero on CPUs: there subnormal weights are
zeros (a result of 0 with gradient 0, never NaN).
"""

from __future__ import annotations

import numpy as np
import pytest

import reference as ref
import reference_imbalance as ref_imb
import wxent
from conftest import assert_close

X = np.array([[0.5, -1.0, 2.0], [2.0, 0.1, -0.3], [-0.7, 0.4, 0.0]], np.float32)
Y = np.array([0, 2, 1])
Z = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]], np.float32)
BASE = np.array([0.5, 0.0, 1.5], np.float32)  # a zero weight: NaN there before
PAIR = np.array([1.0, 0.25, 2.0], np.float32)

# 2**-140 makes float32 weights subnormal; 2**126 makes their float32 sum overflow.
SCALES = {"tiny": 2.0**-140, "huge": 2.0**126}


def _softmax(name):
    losses = {
        "softmax_cross_entropy": wxent.softmax_cross_entropy,
        "softmax_focal_loss": wxent.softmax_focal_loss,
        "cost_sensitive_cross_entropy": lambda a, b, **k: wxent.cost_sensitive_cross_entropy(
            a, b, 1.0 - np.eye(3), **k
        ),
    }
    return losses[name]


SOFTMAX = ["softmax_cross_entropy", "softmax_focal_loss", "cost_sensitive_cross_entropy"]
SIGMOID = {
    "sigmoid_cross_entropy": wxent.sigmoid_cross_entropy,
    "sigmoid_focal_loss": wxent.sigmoid_focal_loss,
    "asymmetric_loss": wxent.asymmetric_loss,
}


def _expect(backend, scale, expected, expected_grad):
    if scale == "tiny" and backend.name.split("-")[0] in ("jax", "tf"):
        return np.zeros_like(expected), np.zeros_like(expected_grad)  # flushed to zero
    return expected, expected_grad


def _scaled(scale: float) -> tuple[np.ndarray, np.ndarray]:
    return (BASE * np.float32(scale)).astype(np.float32), (PAIR * np.float32(scale)).astype(
        np.float32
    )


@pytest.mark.parametrize("scale", list(SCALES))
@pytest.mark.parametrize("weight", ["sample_weight", "class_weight"])
@pytest.mark.parametrize("name", SOFTMAX)
def test_softmax_family_weighted_mean_is_scale_free(ad_backend, name, weight, scale):
    loss = _softmax(name)
    w, _ = _scaled(SCALES[scale])

    def f(a, b, c):
        return loss(a, b, reduction="weighted_mean", **{weight: c})

    value, grad = ad_backend.value_and_grad(f, X, Y, w)
    expected, expected_grad = _expect(ad_backend, scale, *ad_backend.value_and_grad(f, X, Y, BASE))
    assert np.isfinite(value).all() and np.isfinite(grad).all(), (value, grad)
    assert_close(value, expected, rtol=1e-6, atol=0)
    assert_close(grad, expected_grad, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("scale", list(SCALES))
@pytest.mark.parametrize("weight", ["sample_weight", "pos_and_neg_weight"])
@pytest.mark.parametrize("name", list(SIGMOID))
def test_sigmoid_family_weighted_mean_is_scale_free(ad_backend, name, weight, scale):
    loss = SIGMOID[name]
    w, pair = _scaled(SCALES[scale])

    def f(a, b, c, d):
        if weight == "sample_weight":
            return loss(a, b, sample_weight=c, reduction="weighted_mean")
        return loss(a, b, pos_weight=c, neg_weight=d, reduction="weighted_mean")

    value, grad = ad_backend.value_and_grad(f, X, Z, w, pair)
    expected, expected_grad = _expect(
        ad_backend, scale, *ad_backend.value_and_grad(f, X, Z, BASE, PAIR)
    )
    assert np.isfinite(value).all() and np.isfinite(grad).all(), (value, grad)
    assert_close(value, expected, rtol=1e-6, atol=0)
    assert_close(grad, expected_grad, rtol=1e-6, atol=1e-7)


def test_float64_subnormal_sample_weight_keeps_its_digits():
    import torch

    x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    w = torch.tensor([5e-324, 0.0, 0.0], dtype=torch.float64)
    loss = wxent.softmax_cross_entropy(
        x, torch.tensor(Y), sample_weight=w, reduction="weighted_mean"
    )
    loss.backward()
    row = torch.log_softmax(x.detach()[0], dim=0)
    assert loss.item() == pytest.approx(-row[Y[0]].item(), rel=1e-12)
    expected = torch.softmax(x.detach()[0], dim=0)
    expected[Y[0]] -= 1
    np.testing.assert_allclose(x.grad[0].numpy(), expected.numpy(), rtol=1e-12)
    assert (x.grad[1:] == 0).all()


def test_loss_terms_keep_the_callers_scale():
    # ranks add numerators and denominators: they must not be rescaled per call
    w = np.array([2.0, 2.0, 4.0], np.float32)
    terms = wxent.loss_terms(
        wxent.softmax_cross_entropy, X, Y, sample_weight=w, reduction="weighted_mean"
    )
    assert float(terms.denominator) == 8.0


@pytest.mark.parametrize("scale", list(SCALES))
def test_numpy_weighted_mean_is_scale_free(scale):
    w, pair = _scaled(SCALES[scale])
    for loss, labels, options, base in [
        (wxent.softmax_cross_entropy, Y, {"class_weight": w}, {"class_weight": BASE}),
        (wxent.softmax_focal_loss, Y, {"sample_weight": w}, {"sample_weight": BASE}),
        (
            wxent.sigmoid_cross_entropy,
            Z,
            {"pos_weight": w, "neg_weight": pair},
            {"pos_weight": BASE, "neg_weight": PAIR},
        ),
        (wxent.asymmetric_loss, Z, {"sample_weight": w}, {"sample_weight": BASE}),
    ]:
        value = loss(X, labels, reduction="weighted_mean", **options)
        expected = loss(X, labels, reduction="weighted_mean", **base)
        assert np.isfinite(value), (loss, value)
        assert_close(value, expected, rtol=1e-6, atol=0)


@pytest.mark.parametrize("scale", list(SCALES))
def test_triton_kernels_weighted_mean_is_scale_free(monkeypatch, scale):
    import torch

    from wxent._fastpaths import select

    monkeypatch.setenv("WXENT_KERNELS", "triton")  # TRITON_INTERPRET=1: tests/conftest.py
    w, pair = _scaled(SCALES[scale])
    y, z = torch.tensor(Y), torch.tensor(Z)
    cases = [
        (wxent.softmax_cross_entropy, y, "sample_weight", "softmax_cross_entropy"),
        (wxent.softmax_cross_entropy, y, "class_weight", "softmax_cross_entropy"),
        (
            wxent.softmax_cross_entropy,
            torch.eye(3)[y],
            "class_weight",
            "softmax_cross_entropy_soft",
        ),
        (wxent.softmax_focal_loss, y, "sample_weight", "softmax_focal_loss"),
        (wxent.sigmoid_cross_entropy, z, "sample_weight", "sigmoid_family"),
        (wxent.sigmoid_focal_loss, z, "pos_and_neg_weight", "sigmoid_family"),
    ]
    for loss, labels, weight, kernel in cases:

        def run(first, second, loss=loss, labels=labels, weight=weight):
            x = torch.tensor(X, requires_grad=True)
            if weight == "pos_and_neg_weight":
                options = {"pos_weight": torch.tensor(first), "neg_weight": torch.tensor(second)}
            else:
                options = {weight: torch.tensor(first)}
            value = loss(x, labels, reduction="weighted_mean", **options)
            value.backward()
            return value.detach().numpy(), x.grad.numpy()

        select.LAUNCHES.clear()
        value, grad = run(w, pair)
        assert select.LAUNCHES[kernel] >= 1, (kernel, dict(select.LAUNCHES))
        expected, expected_grad = run(BASE, PAIR)
        assert np.isfinite(value).all() and np.isfinite(grad).all(), (kernel, value, grad)
        assert_close(value, expected, rtol=1e-6, atol=0)
        assert_close(grad, expected_grad, rtol=1e-6, atol=1e-7)


def test_weights_of_ignored_elements_do_not_overflow_when_scaled():
    # the counted weight is tiny, an ignored one is 1: scaled by the counted maximum it
    # would overflow, and its 0 gradient become NaN
    import torch

    x = torch.zeros((2, 2), dtype=torch.float64, requires_grad=True)
    sw = torch.tensor([1.11253693e-308, 1.0], dtype=torch.float64)
    loss = wxent.softmax_cross_entropy(
        x, torch.tensor([0, -7]), sample_weight=sw, ignore_index=-7, reduction="weighted_mean"
    )
    loss.backward()
    assert loss.item() == pytest.approx(np.log(2.0), rel=1e-12)
    assert np.all(x.grad[1].numpy() == 0.0)
    np.testing.assert_allclose(x.grad[0].numpy(), [-0.5, 0.5], rtol=1e-12)
    z = torch.tensor([[1.0, -1.0], [0.0, 1.0]], dtype=torch.float64)
    xs = torch.zeros((2, 2), dtype=torch.float64, requires_grad=True)
    s = torch.tensor([[1.11253693e-308, 1.11253693e-308], [1.0, 1.0]], dtype=torch.float64)
    loss = wxent.sigmoid_cross_entropy(
        xs, z, sample_weight=s, ignore_label=-1.0, reduction="weighted_mean"
    )
    loss.backward()
    assert np.isfinite(xs.grad.numpy()).all() and np.all(xs.grad[0, 1].numpy() == 0.0)


def test_triton_sigmoid_weights_of_ignored_elements_do_not_set_the_scale(monkeypatch):
    # per-element sample weights with ignored labels: the scale comes from the counted
    # ones (the masked array operations), not from the one-launch kernel over all of them
    import torch

    from wxent._fastpaths import select

    monkeypatch.setenv("WXENT_KERNELS", "triton")
    z = torch.tensor([[1.0, -1.0], [0.0, 1.0]])
    s = torch.tensor([[1e-40, 1e30], [1e-40, 1e-40]])  # the 1e30 is ignored

    def run(weights):
        x = torch.tensor([[0.5, -1.0], [2.0, 0.1]], requires_grad=True)
        value = wxent.sigmoid_cross_entropy(
            x, z, sample_weight=weights, ignore_label=-1.0, reduction="weighted_mean"
        )
        value.backward()
        return value.detach().numpy(), x.grad.numpy()

    select.LAUNCHES.clear()
    value, grad = run(s)
    assert select.LAUNCHES["sigmoid_family"] >= 1 and select.LAUNCHES["weight_scale"] == 0
    expected, expected_grad = run(torch.tensor([[1.0, 7.0], [1.0, 1.0]]))
    assert np.isfinite(grad).all() and grad[0, 1] == 0.0
    assert_close(value, expected, rtol=1e-5, atol=0)
    assert_close(grad, expected_grad, rtol=1e-5, atol=1e-7)


REFERENCES = {
    "sigmoid_cross_entropy": ref.sigmoid_ce,
    "sigmoid_focal_loss": lambda *a, **k: ref_imb.sigmoid_focal(*a, alpha=0.25, **k),
    "asymmetric_loss": ref_imb.asymmetric,
}


@pytest.mark.parametrize("given", ["pos_weight", "neg_weight"])
@pytest.mark.parametrize("name", list(SIGMOID))
def test_sigmoid_family_huge_weight_alone(ad_backend, name, given):
    """A huge ``pos_weight`` (or ``neg_weight``) without the other: the missing one is 1.

    The weighted sums overflowed float32 (NaN) when only one of the pair was given, as
    only a given pair was scaled.
    """
    loss = SIGMOID[name]
    w = (BASE * np.float32(SCALES["huge"])).astype(np.float32)
    ones = np.ones_like(w)

    def alone(a, b, c):
        return loss(a, b, reduction="weighted_mean", **{given: c})

    def pair(a, b, c, d):
        other = "neg_weight" if given == "pos_weight" else "pos_weight"
        return loss(a, b, reduction="weighted_mean", **{given: c, other: d})

    value, grad = ad_backend.value_and_grad(alone, X, Z, w)
    expected, expected_grad = ad_backend.value_and_grad(pair, X, Z, w, ones)
    assert np.isfinite(value).all() and np.isfinite(grad).all(), (value, grad)
    reference = REFERENCES[name](X, Z, reduction="weighted_mean", **{given: w.astype(np.float64)})
    assert_close(value, reference, rtol=1e-5, atol=0)
    assert_close(value, expected, rtol=1e-6, atol=0)
    assert_close(grad, expected_grad, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", list(SIGMOID))
def test_sigmoid_family_huge_pos_weight_and_overflowing_element(ad_backend, name):
    """``pos_weight * loss`` of one element beyond float32, its weighted mean finite.

    PyTorch's native element losses take the caller's ``pos_weight`` unscaled and
    overflow there (an infinite mean): the call recomputes exactly.
    """
    loss = SIGMOID[name]
    x = X.copy()
    x[0, 0] = -30.0  # a positive label: softplus(30) * 2**126 * 0.5 overflows float32
    w = (BASE * np.float32(SCALES["huge"])).astype(np.float32)

    def f(a, b, c):
        return loss(a, b, pos_weight=c, reduction="weighted_mean")

    value, grad = ad_backend.value_and_grad(f, x, Z, w)
    assert np.isfinite(value).all() and np.isfinite(grad).all(), (value, grad)
    reference = REFERENCES[name](x, Z, reduction="weighted_mean", pos_weight=w.astype(np.float64))
    assert_close(value, reference, rtol=1e-5, atol=0)


# sample_weight and class_weight whose products (2**200) are beyond float32, each factor
# well inside it: the weighted mean of their ratios is finite; any other reduction of
# such weights overflows, and is refused.
BIG = np.float32(2.0**100)
SAMPLE_BIG = (np.array([1.0, 0.5, 2.0], np.float32) * BIG).astype(np.float32)
CLASS_BIG = (np.array([1.5, 1.0, 0.25], np.float32) * BIG).astype(np.float32)


@pytest.mark.parametrize("power", [100, -100])
@pytest.mark.parametrize("name", SOFTMAX)
def test_softmax_family_weighted_mean_of_overflowing_weight_products(ad_backend, name, power):
    # 2**100 each: products of 2**200 overflow float32; 2**-100 each: 2**-200 underflows
    loss = _softmax(name)

    def f(a, b, s, c):
        return loss(a, b, sample_weight=s, class_weight=c, reduction="weighted_mean")

    factor = np.float32(2.0**power)
    sample, classes = (SAMPLE_BIG / BIG) * factor, (CLASS_BIG / BIG) * factor
    assert sample.all() and classes.all() and np.isfinite([sample, classes]).all()
    value, grad = ad_backend.value_and_grad(f, X, Y, sample, classes)
    small = np.float32(2.0**-power)
    expected, expected_grad = ad_backend.value_and_grad(f, X, Y, sample * small, classes * small)
    assert np.isfinite(value).all() and np.isfinite(grad).all(), (value, grad)
    assert_close(value, expected, rtol=1e-6, atol=0)
    assert_close(grad, expected_grad, rtol=1e-6, atol=1e-7)
    if name == "softmax_cross_entropy":
        weights = (SAMPLE_BIG.astype(np.float64) / BIG) * (CLASS_BIG[Y] / BIG)
        reference = ref.softmax_ce(X, Y, sample_weight=weights, reduction="weighted_mean")
        assert_close(value, reference, rtol=1e-5, atol=0)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", SOFTMAX)
def test_overflowing_weight_products_are_refused(eager_backend, name, reduction):
    loss = _softmax(name)
    arrays = [eager_backend.asarray(a) for a in (X, Y, SAMPLE_BIG, CLASS_BIG)]
    with pytest.raises(ValueError, match=r"`sample_weight`.*products with `class_weight`"):
        eager_backend.numpy(
            loss(
                arrays[0],
                arrays[1],
                sample_weight=arrays[2],
                class_weight=arrays[3],
                reduction=reduction,
            )
        )
    # an ignored sample's weights count nothing, and a product that fits is accepted
    ignored = eager_backend.asarray(np.array([0, -100, 1]))
    one_big = (np.array([1.0, 1.0, 1.0], np.float32) * BIG).astype(np.float32)
    small_sample = eager_backend.asarray(np.array([1.0, 2.0**100, 1.0], np.float32))
    out = loss(
        arrays[0],
        ignored,
        sample_weight=small_sample,
        class_weight=eager_backend.asarray(one_big),
        ignore_index=-100,
        reduction=reduction,
    )
    assert np.isfinite(eager_backend.numpy(out)).all()


def test_triton_kernels_refuse_overflowing_weight_products(monkeypatch):
    import torch

    from wxent._fastpaths import select

    monkeypatch.setenv("WXENT_KERNELS", "triton")  # TRITON_INTERPRET=1: tests/conftest.py
    x = torch.tensor(X)
    sample, classes = torch.tensor(SAMPLE_BIG), torch.tensor(CLASS_BIG)
    for loss, labels, kernel in [
        (wxent.softmax_cross_entropy, torch.tensor(Y), "softmax_cross_entropy"),
        (wxent.softmax_cross_entropy, torch.eye(3)[Y], "softmax_cross_entropy_soft"),
        (wxent.softmax_focal_loss, torch.tensor(Y), "softmax_focal_loss"),
    ]:
        select.LAUNCHES.clear()
        with (  # the interpreter runs the kernels in NumPy: its overflow warnings
            pytest.warns(RuntimeWarning),
            pytest.raises(ValueError, match=r"`sample_weight`.*products with `class_weight`"),
        ):
            loss(x, labels, sample_weight=sample, class_weight=classes, reduction="sum")
        assert select.LAUNCHES[kernel] >= 1, (kernel, dict(select.LAUNCHES))
        value = loss(
            x, labels, sample_weight=sample, class_weight=classes, reduction="weighted_mean"
        )
        assert torch.isfinite(value)


WEIGHT_GRADIENT_LOSSES = {
    "softmax_cross_entropy": wxent.softmax_cross_entropy,
    "softmax_focal_loss": wxent.softmax_focal_loss,
    "cost_sensitive_cross_entropy": _softmax("cost_sensitive_cross_entropy"),
    "sigmoid_cross_entropy": wxent.sigmoid_cross_entropy,
    "sigmoid_focal_loss": wxent.sigmoid_focal_loss,
    "asymmetric_loss": wxent.asymmetric_loss,
}


@pytest.mark.parametrize("start", [0.0, 1e-30])
@pytest.mark.parametrize("name", list(WEIGHT_GRADIENT_LOSSES))
def test_gradient_with_respect_to_sample_weights_at_and_near_zero(ad_backend, name, start):
    # what reweighting methods differentiate: d(sum w * l) / dw = l, from weights at 0
    # (a weight of 0 counts nothing in the value; its gradient is still the loss)
    loss = WEIGHT_GRADIENT_LOSSES[name]
    labels = Z if name in SIGMOID else Y

    def f(w, a, b):
        return loss(a, b, sample_weight=w, reduction="sum")

    value, grad = ad_backend.value_and_grad(f, np.full(3, start, np.float32), X, labels)
    per_element = np.asarray(loss(X, labels, reduction="none"), np.float64)
    expected = per_element.sum(axis=-1) if name in SIGMOID else per_element
    assert_close(grad, expected, rtol=1e-5, atol=1e-7)
    assert abs(float(value)) <= 1e-28


def test_gradient_with_respect_to_zero_class_weights_and_projection_weights(ad_backend):
    def by_class(w, a, b):
        return wxent.softmax_cross_entropy(a, b, class_weight=w, reduction="sum")

    _, grad = ad_backend.value_and_grad(by_class, np.zeros(3, np.float32), X, Y)
    per_sample = np.asarray(wxent.softmax_cross_entropy(X, Y, reduction="none"), np.float64)
    assert_close(grad, np.eye(3)[Y].T @ per_sample, rtol=1e-5, atol=1e-7)  # per class
    h = np.array([[0.5, 1.0], [-1.0, 0.25], [2.0, -0.5]], np.float32)

    def projected(w, a, b, c):
        return wxent.linear_cross_entropy(a, c, b, sample_weight=w, reduction="sum")

    _, grad = ad_backend.value_and_grad(projected, np.zeros(3, np.float32), h, Y, X[:, :2])
    expected = np.asarray(wxent.softmax_cross_entropy(h @ X[:, :2].T, Y, reduction="none"))
    assert_close(grad, expected, rtol=1e-5, atol=1e-7)


# Infinite logits where the loss is finite: -inf masking a class (softmax: rows 0 and 2,
# the target of row 2 at +inf: loss 0); +inf on a positive and -inf on a negative
# (sigmoid: loss 0). Their weights' gradients are these finite losses.
X_MASKED = np.array([[0.5, -np.inf, 2.0], [2.0, 0.1, -0.3], [-0.7, np.inf, -np.inf]], np.float32)
Z_MASKED = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 1.0]], np.float32)
X_SIGMOID = np.array([[np.inf, -np.inf, 2.0], [2.0, 0.1, -0.3], [-0.7, 0.4, np.inf]], np.float32)


@pytest.mark.parametrize("name", list(WEIGHT_GRADIENT_LOSSES))
def test_gradient_with_respect_to_zero_weights_at_infinite_logits(ad_backend, name):
    # Traced calls (jax.grad, jax.jit, tf.function) zeroed the infinite logits of elements
    # of weight 0, and the weights' gradient there was the loss at logit 0 (log 2).
    loss = WEIGHT_GRADIENT_LOSSES[name]
    x, labels = (X_SIGMOID, Z_MASKED) if name in SIGMOID else (X_MASKED, np.array([0, 2, 1]))

    def f(w, a, b):
        return loss(a, b, sample_weight=w, reduction="sum")

    _, grad = ad_backend.value_and_grad(f, np.zeros(3, np.float32), x, labels)
    per_element = np.asarray(loss(x, labels, reduction="none"), np.float64)
    expected = per_element.sum(axis=-1) if name in SIGMOID else per_element
    assert np.isfinite(expected).all()
    assert_close(grad, expected, rtol=1e-5, atol=1e-7)
    # and the logits' gradient of a weight of 0 is 0
    _, grad_x = ad_backend.value_and_grad(
        lambda a, w, b: loss(a, b, sample_weight=w, reduction="sum"), x, np.zeros(3, "f4"), labels
    )
    assert not np.asarray(grad_x).any()
