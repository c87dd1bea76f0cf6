"""Tensor layouts reaching the PyTorch paths: the Triton kernels against the generic path.

Run by Triton's interpreter on CPU tensors (``TRITON_INTERPRET=1``, ``WXENT_KERNELS=triton``):
logits that are transposed, sliced with a step, ``expand``-ed (rows or classes of stride 0),
views at a storage offset, negative views (``torch._neg_view``, the imaginary part of a
conjugated complex tensor), permuted 3-D and 4-D (channels-last with ``class_axis=1``),
of size 0, ``nn.Parameter`` and ``torch.Tensor`` subclasses; labels and weights of such
layouts too. Each loss and its gradient (also with ``inplace_backward=True``) equals the
float64 generic path (``WXENT_KERNELS=off``) on the same layout, and the contiguous copy.

A kernel reads memory through data pointers, which ignore a negative view's sign bit:
those tensors are resolved first (``triton_common.plain``); NumPy copies of them (the
error messages) too.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import triton  # noqa: F401  (a missing triton is a failure, not a skip)

import wxent
from wxent._fastpaths import select

N, C, H, W = 4, 5, 2, 3
RNG = np.random.default_rng(11)


class _Sub(torch.Tensor):
    """A plain subclass (inherits ``__torch_function__``)."""


def _neg(t: torch.Tensor) -> torch.Tensor:
    """``t``'s values as a negative view of ``-t`` (the sign bit set, memory negated)."""
    out = torch._neg_view(-t)
    assert out.is_neg()
    return out


def _conj_imag(t: torch.Tensor) -> torch.Tensor:
    """``t``'s values as the imaginary part of a conjugated complex tensor (a negative view)."""
    out = torch.complex(torch.zeros_like(t), -t).conj().imag
    assert out.is_neg()
    return out


#: name: (shape of the leaf, leaf -> logits of the same values, class_axis)
LAYOUTS = {
    "transposed": ((C, N), lambda t: t.t(), -1),
    "row-and-class-step": ((2 * N, 2 * C), lambda t: (t * 1)[::2, ::2], -1),
    "storage-offset": ((N + 2, C + 3), lambda t: t[1 : N + 1, 2 : C + 2], -1),
    "expanded-rows": ((1, C), lambda t: t.expand(N, C), -1),
    "expanded-classes": ((N, 1), lambda t: t.expand(N, C), -1),
    "negative-view": ((N, C), _neg, -1),
    "conj-imag": ((N, C), _conj_imag, -1),
    "negative-transposed": ((C, N), lambda t: _neg(t.t()), -1),
    "permuted-3d": ((C, 2, 3), lambda t: t.permute(1, 2, 0), -1),
    "nhwc-view": ((N, C, H, W), lambda t: (t * 1).permute(0, 2, 3, 1), -1),
    "channels-last-axis1": (
        (N, C, H, W),
        lambda t: t.contiguous(memory_format=torch.channels_last),
        1,
    ),
    "size-0": ((2, 0, C), lambda t: t, -1),
    "parameter": ((N, C), "parameter", -1),
    "subclass": ((N, C), "subclass", -1),
}


def _leaf(shape, values, layout, dtype):
    """``(leaf, logits)``: the leaf that receives the gradient, the logits of that layout."""
    v = torch.tensor(values, dtype=dtype)
    if layout == "parameter":
        leaf = torch.nn.Parameter(v)
        return leaf, leaf
    if layout == "subclass":
        leaf = v.as_subclass(_Sub).requires_grad_(True)
        return leaf, leaf
    leaf = v.requires_grad_(True)
    return leaf, layout(leaf)


def _labels(kind: str, logits: torch.Tensor, axis: int) -> torch.Tensor:
    shape = list(logits.shape)
    classes = shape[axis]
    if kind == "int":
        del shape[axis]
        return torch.tensor(RNG.integers(0, classes, size=shape))
    if kind == "prob":
        a = RNG.normal(size=shape)
        return torch.tensor(
            np.exp(a) / np.exp(a).sum(axis=axis, keepdims=True), dtype=torch.float32
        )
    return torch.tensor((RNG.random(size=shape) < 0.4).astype(np.float32))


#: name: (labels kind, loss, options); "cw" stands for a per-class tensor, "sw" for a
#: sample-weight tensor (both made below in the layout under test)
LOSSES = {
    "softmax": ("int", wxent.softmax_cross_entropy, {"class_weight": "cw", "label_smoothing": 0.1}),
    "softmax-soft": (
        "prob",
        wxent.softmax_cross_entropy,
        {"class_weight": "cw", "sample_weight": "sw"},
    ),
    "softmax-focal": ("int", wxent.softmax_focal_loss, {"class_weight": "cw", "gamma": 1.5}),
    "sigmoid": ("sig", wxent.sigmoid_cross_entropy, {"pos_weight": "cw", "sample_weight": "sw"}),
    "sigmoid-focal": ("sig", wxent.sigmoid_focal_loss, {"alpha": 0.25, "sample_weight": "sw"}),
    "asymmetric": ("sig", wxent.asymmetric_loss, {"sample_weight": "sw"}),
}


def _weights(options, logits, axis, softmax, wrap):
    """The options with their tensors made, each passed through ``wrap`` (a layout)."""
    out = dict(options)
    classes = logits.shape[axis]
    for key in ("class_weight", "pos_weight"):
        if out.get(key) == "cw":
            out[key] = wrap(torch.linspace(0.5, 2.0, 2 * classes)[::2])  # (strided)
    if out.get("sample_weight") == "sw":
        shape = list(logits.shape)
        if softmax:
            del shape[axis]
        w = torch.linspace(0.25, 2.0, 2 * int(np.prod(shape[1:])))[::2]
        out["sample_weight"] = wrap(w.reshape([1, *shape[1:]]).expand(shape))  # (stride 0)
    return out


def _call(loss, make, values, labels, options, *, axis, kernels, dtype, reduction, **kw):
    """Loss and gradient of the leaf, under ``WXENT_KERNELS=kernels``, as float64 NumPy."""
    os.environ["WXENT_KERNELS"] = kernels
    shape, layout = make
    leaf, logits = _leaf(shape, values, layout, dtype)
    if dtype == torch.float64:
        labels = labels.double() if labels.is_floating_point() else labels
        options = {
            k: v.double() if isinstance(v, torch.Tensor) and v.is_floating_point() else v
            for k, v in options.items()
        }
    out = loss(logits, labels, class_axis=axis, reduction=reduction, **options, **kw)
    g = None
    if out.ndim:
        g = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)
    out.backward(g)
    return out.detach().double().numpy(), leaf.grad.double().numpy()


def _compare(loss, make, values, labels, options, axis, reduction, **kw):
    common = (loss, make, values, labels, options)
    got = _call(
        *common, axis=axis, kernels="triton", dtype=torch.float32, reduction=reduction, **kw
    )
    expected = _call(
        *common, axis=axis, kernels="off", dtype=torch.float64, reduction=reduction, validate=False
    )
    for name, a, e in zip(("loss", "gradient"), got, expected, strict=True):
        assert a.shape == e.shape, name
        assert np.isfinite(a).all(), name
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-6, err_msg=f"{name} ({reduction})")
    return got


@pytest.fixture(autouse=True)
def _interpreter(monkeypatch):
    assert os.environ.get("TRITON_INTERPRET") == "1", "tests/conftest.py sets it"
    monkeypatch.setenv("WXENT_KERNELS", "triton")  # (restored after the test)
    select.LAUNCHES.clear()


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("name", list(LOSSES))
def test_logits_layouts_match_the_generic_path(name, layout):
    kind, loss, options = LOSSES[name]
    shape, make, axis = LAYOUTS[layout]
    values = RNG.normal(size=shape).astype(np.float32) * 2
    probe = _leaf(shape, values, make, torch.float32)[1].detach()
    labels = _labels(kind, probe, axis)
    opts = _weights(options, probe, axis, kind != "sig", lambda t: t)
    for reduction in ("none", "mean"):
        got = _compare(loss, (shape, make), values, labels, opts, axis, reduction)
    # the kernels take every layout whose classes are on the last axis
    kernel = axis == -1 and probe.numel() > 0
    assert (sum(select.LAUNCHES.values()) > 0) == kernel, dict(select.LAUNCHES)
    # and the contiguous copy of the logits gives the same loss (the last call: "mean")
    copy = probe.clone(memory_format=torch.contiguous_format).resolve_neg()
    mean = loss(copy, labels, class_axis=axis, reduction="mean", **opts)
    np.testing.assert_allclose(float(mean), got[0], rtol=1e-5, atol=1e-7)


#: layouts of labels and weights (same values): strided, stride 0, negative views
WRAPS = {
    "transposed": lambda t: t.t().contiguous().t() if t.ndim == 2 else t,
    "expanded": lambda t: t[:1].expand(t.shape) if t.ndim == 2 else t,
    "negative-view": _neg,
}


@pytest.mark.parametrize("wrap", list(WRAPS))
@pytest.mark.parametrize("name", list(LOSSES))
def test_labels_and_weights_layouts_match_the_generic_path(name, wrap):
    # A negative view of the labels or of a weight was read with the opposite sign by
    # the kernels (wrong losses and gradients, or a spurious value error).
    kind, loss, options = LOSSES[name]
    values = RNG.normal(size=(N, C)).astype(np.float32)
    probe = torch.tensor(values)
    labels = WRAPS[wrap](_labels(kind, probe, -1))
    opts = _weights(options, probe, -1, kind != "sig", WRAPS[wrap])
    for reduction in ("none", "mean"):
        _compare(loss, ((N, C), lambda t: t * 1), values, labels, opts, -1, reduction)
    assert sum(select.LAUNCHES.values()) > 0, "the kernel did not run"


@pytest.mark.parametrize("layout", ["transposed", "row-and-class-step", "negative-view"])
@pytest.mark.parametrize("kind", ["int", "prob"])
def test_inplace_backward_on_views(kind, layout):
    # inplace_backward=True writes the gradient over the logits only where they are the
    # layer's own contiguous output: a strided or negative view of it is not overwritten
    # (a negative view's memory holds the negated logits).
    shape, make, _ = LAYOUTS[layout]
    values = RNG.normal(size=shape).astype(np.float32)
    probe = _leaf(shape, values, make, torch.float32)[1].detach()
    labels = _labels(kind, probe, -1)

    def nonleaf(t):
        return make(t * 1)

    for reduction in ("none", "mean"):
        _compare(
            wxent.softmax_cross_entropy,
            (shape, nonleaf),
            values,
            labels,
            {},
            -1,
            reduction,
            inplace_backward=True,
        )
    assert sum(select.LAUNCHES.values()) > 0, "the kernel did not run"


BAD_NEGATIVE_VIEWS = {
    "class_weight": lambda: wxent.softmax_cross_entropy(
        torch.zeros(4, 3), torch.tensor([0, 1, 2, 1]), class_weight=_neg(-torch.ones(3))
    ),
    "sample_weight": lambda: wxent.softmax_cross_entropy(
        torch.zeros(4, 3), torch.tensor([0, 1, 2, 1]), sample_weight=_neg(-torch.ones(4))
    ),
    "pos_weight": lambda: wxent.sigmoid_cross_entropy(
        torch.zeros(4, 3), torch.zeros(4, 3), pos_weight=_neg(-torch.ones(3))
    ),
    "labels": lambda: wxent.softmax_cross_entropy(
        torch.zeros(4, 3), _neg(torch.full((4, 3), -1 / 3))
    ),
    "sigmoid labels": lambda: wxent.sigmoid_cross_entropy(
        torch.zeros(4, 3), _neg(-torch.ones(4, 3))
    ),
}


@pytest.mark.parametrize("kernels", ["triton", "off"])
@pytest.mark.parametrize("case", list(BAD_NEGATIVE_VIEWS))
def test_bad_values_in_negative_views_are_named(monkeypatch, case, kernels):
    # The message's NumPy copy of a negative view raised torch's "Can't call numpy() on
    # Tensor that has negative bit set" instead of the ValueError naming the argument.
    monkeypatch.setenv("WXENT_KERNELS", kernels)
    with pytest.raises(ValueError, match=f"`{case.split()[-1]}`"):
        BAD_NEGATIVE_VIEWS[case]()


def test_probabilities_in_a_negative_view_warn_as_logits():
    # The kernels' probability look read the view's memory (the negated values): no warning.
    probs = torch.softmax(torch.tensor(RNG.normal(size=(16, 4)), dtype=torch.float32), dim=1)
    labels = torch.zeros(16, dtype=torch.int64)
    with pytest.warns(wxent.LogitsWarning):
        wxent.softmax_cross_entropy(_neg(probs), labels)
    assert sum(select.LAUNCHES.values()) > 0, "the kernel did not run"


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_softmax_focal_kernel_on_rows_of_negative_logits(smoothing):
    # The lanes past a row's last class were read as 0: above a negative row maximum
    # (constant rows of -4), log1p(-p) of p > 1 there. The masks dropped those lanes,
    # but Triton's interpreter raised on the NumPy warning and the kernel was set aside
    # for the process (a RuntimeWarning, the generic path from then on).
    x = np.full((3, 5), -4.0, np.float32)
    x[1] = np.linspace(-9.0, -3.0, 5)
    labels = torch.tensor([0, 2, 4])
    options = {"gamma": 1.5, "label_smoothing": smoothing}
    for reduction in ("none", "mean"):
        _compare(wxent.softmax_focal_loss, ((3, 5), lambda t: t), x, labels, options, -1, reduction)
    assert select.LAUNCHES["softmax_focal_loss"] > 0, "the kernel did not run"


def _upstream_of_stride_0(loss, logits, labels, options):
    """The gradient of ``loss(..., reduction="none").sum()``: an upstream of stride 0."""
    x = torch.tensor(logits, requires_grad=True)
    loss(x * 1, labels, reduction="none", **options).sum().backward()
    return x.grad.numpy()


@pytest.mark.parametrize("name", list(LOSSES))
def test_an_upstream_gradient_of_stride_0(monkeypatch, name):
    kind, loss, options = LOSSES[name]
    values = RNG.normal(size=(N, C)).astype(np.float32)
    probe = torch.tensor(values)
    labels = _labels(kind, probe, -1)
    opts = _weights(options, probe, -1, kind != "sig", lambda t: t)
    got = _upstream_of_stride_0(loss, values, labels, opts)
    assert sum(select.LAUNCHES.values()) > 0, "the kernel did not run"
    monkeypatch.setenv("WXENT_KERNELS", "off")
    np.testing.assert_allclose(
        got, _upstream_of_stride_0(loss, values, labels, opts), rtol=1e-5, atol=1e-6
    )


def _linear(inputs, weight, labels, reduction, validate, backward):
    x = torch.tensor(inputs, requires_grad=True)
    w = torch.tensor(weight, requires_grad=True)
    out = wxent.linear_cross_entropy(
        x, w, labels, reduction=reduction, chunk_size=4, validate=validate
    )
    backward(out)
    return out.detach().numpy(), x.grad.numpy(), w.grad.numpy()


LINEAR_BACKWARD = {
    "sum": lambda out: out.sum().backward(),  # (reduction="none": an upstream of stride 0)
    "mean": lambda out: out.mean().backward(),
    "vector": lambda out: out.backward(torch.linspace(0.5, 1.5, out.numel()) if out.ndim else None),
}


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("backward", list(LINEAR_BACKWARD))
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_the_linear_triton_chunk_step_takes_any_layout(monkeypatch, reduction, backward, validate):
    # The Triton chunk step read its labels and coefficients by row as if contiguous:
    # strided labels of an unchecked call, and the upstream gradient of stride 0 that
    # `loss.sum().backward()` hands to reduction="none", gave wrong losses and gradients.
    x = RNG.normal(size=(6, 3)).astype(np.float32)
    w = RNG.normal(size=(5, 3)).astype(np.float32)
    labels = torch.tensor([0, 9, 1, 9, 2, 9, 3, 9, 4, 9, 1, 9])[::2]  # (strided)
    run = LINEAR_BACKWARD[backward]
    got = _linear(x, w, labels, reduction, validate, run)
    assert select.LAUNCHES["linear_cross_entropy"] > 0, "the kernel did not run"
    monkeypatch.setenv("WXENT_KERNELS", "off")
    expected = _linear(x, w, labels.contiguous(), reduction, validate, run)
    for name, a, e in zip(("loss", "inputs", "weight"), got, expected, strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6, err_msg=name)
