"""The Triton kernels against the generic path on inputs the other kernel tests leave out.

Run by Triton's interpreter on CPU tensors (``TRITON_INTERPRET=1``, ``WXENT_KERNELS=triton``),
tiny shapes: the autograd corners (a second backward pass through a retained graph,
``create_graph=True``), ``inplace_backward`` on logits that share storage with a leaf or
that another operation saved.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import triton  # noqa: F401  (a missing triton is a failure, not a skip)

import wxent
from wxent._fastpaths import select

X = np.random.default_rng(7).normal(size=(3, 5)).astype(np.float32) * 2
Y = np.array([0, 4, 2])
Z = np.array([[1, 0, 0, 1, 0], [0, 0, 1, 0, 0], [1, 1, 0, 0, 1]], dtype=np.float32)
P = np.full((3, 5), 0.2, dtype=np.float32)

#: One loss of each kernel (softmax: integer labels, probabilities, focal; sigmoid family).
LOSSES = {
    "softmax": lambda x, **k: wxent.softmax_cross_entropy(
        x, torch.tensor(Y), class_weight=[1.0, 2.0, 0.5, 1.0, 3.0], **k
    ),
    "soft": lambda x, **k: wxent.softmax_cross_entropy(x, torch.tensor(P), **k),
    "softmax_focal": lambda x, **k: wxent.softmax_focal_loss(x, torch.tensor(Y), **k),
    "sigmoid": lambda x, **k: wxent.sigmoid_cross_entropy(x, torch.tensor(Z), pos_weight=2.0, **k),
    "asymmetric": lambda x, **k: wxent.asymmetric_loss(x, torch.tensor(Z), **k),
}


@pytest.fixture(autouse=True)
def _interpreter(monkeypatch):
    assert os.environ.get("TRITON_INTERPRET") == "1", "tests/conftest.py sets it"
    monkeypatch.setenv("WXENT_KERNELS", "triton")
    select.LAUNCHES.clear()


def _kernels(monkeypatch, on: bool) -> None:
    monkeypatch.setenv("WXENT_KERNELS", "triton" if on else "off")


def _two_backward_passes(loss, validate: bool) -> np.ndarray:
    x = torch.tensor(X, requires_grad=True)
    out = loss(x, validate=validate)
    out.backward(retain_graph=True)
    (out * 3).backward()  # the second pass, another upstream gradient
    return x.grad.numpy()


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("name", list(LOSSES))
def test_second_backward_through_a_retained_graph(monkeypatch, name, validate):
    # The kernels' gradient buffer serves one backward pass; a second one (retain_graph)
    # failed (an unpacking error) or silently added nothing (the sigmoid family).
    loss = LOSSES[name]
    fast = _two_backward_passes(loss, validate)
    assert sum(select.LAUNCHES.values()) > 0, "the kernel did not run"
    _kernels(monkeypatch, False)
    np.testing.assert_allclose(fast, _two_backward_passes(loss, validate), rtol=1e-5, atol=1e-6)


def _gradient_penalty(loss) -> tuple[np.ndarray, np.ndarray]:
    x = torch.tensor(X, requires_grad=True)
    (g,) = torch.autograd.grad(loss(x), x, create_graph=True)
    (hvp,) = torch.autograd.grad((g * g).sum(), x)
    return g.detach().numpy(), hvp.numpy()


@pytest.mark.parametrize("name", list(LOSSES))
def test_create_graph_gives_a_differentiable_gradient(monkeypatch, name):
    # The kernels' gradient had no graph: a penalty on it got no gradient (an error from
    # torch.autograd.grad, or silently nothing in a sum with the loss).
    loss = LOSSES[name]
    fast = _gradient_penalty(loss)
    assert sum(select.LAUNCHES.values()) > 0, "the kernel did not run"
    _kernels(monkeypatch, False)
    for a, b in zip(fast, _gradient_penalty(loss), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("labels", ["indices", "probabilities"])
@pytest.mark.parametrize("view", ["whole", "rows"])
def test_inplace_backward_never_writes_a_leafs_storage(labels, view):
    # Logits that are a view of a leaf (a parameter) are not a leaf themselves: the
    # gradient was written over the parameter's values.
    y = torch.tensor(Y) if labels == "indices" else torch.tensor(P)
    w = torch.tensor(X, requires_grad=True)
    logits = w.view(3, 5) if view == "whole" else w[:2]
    wxent.softmax_cross_entropy(logits, y[: len(logits)], inplace_backward=True).backward()
    assert sum(select.LAUNCHES.values()) > 0, "the kernel did not run"
    np.testing.assert_array_equal(w.detach().numpy(), X)
    expected = torch.tensor(X, requires_grad=True)
    part = expected if view == "whole" else expected[:2]
    os.environ["WXENT_KERNELS"] = "off"
    try:
        wxent.softmax_cross_entropy(part, y[: len(part)]).backward()
    finally:
        os.environ["WXENT_KERNELS"] = "triton"
    np.testing.assert_allclose(w.grad.numpy(), expected.grad.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("labels", ["indices", "probabilities"])
def test_inplace_backward_over_logits_another_operation_saved_raises(labels):
    # The gradient written over logits that a later backward step reads (here ``l * l``)
    # gave that step the gradient's values: a silently wrong gradient. The write now
    # counts as an in-place modification, which PyTorch reports.
    y = torch.tensor(Y) if labels == "indices" else torch.tensor(P)
    w = torch.tensor(X, requires_grad=True)
    logits = w * 2.0
    square = (logits * logits).sum()  # saves the logits; its backward runs after the loss's
    total = wxent.softmax_cross_entropy(logits, y, inplace_backward=True) + square
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        total.backward()


@pytest.mark.parametrize("context", [torch.no_grad, torch.inference_mode])
@pytest.mark.parametrize("name", ["softmax", "soft", "sigmoid"])
def test_no_gradient_pass_where_autograd_records_nothing(name, context):
    # Logits that require a gradient, under no_grad or inference_mode: no backward pass
    # can follow, yet a checked call queued its gradient pass (a read and a write of the
    # logits' size) behind the flag read.
    loss = LOSSES[name]
    expected = loss(torch.tensor(X))  # logits that need no gradient
    launches = dict(select.LAUNCHES)
    select.LAUNCHES.clear()
    with context():
        out = loss(torch.tensor(X, requires_grad=True))
    assert dict(select.LAUNCHES) == launches
    assert not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), expected.numpy())


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize(
    "loss",
    [
        # pos_weight 0 on the NaN logit's positive label
        lambda x, **k: wxent.sigmoid_cross_entropy(
            x, torch.ones(3, 5), pos_weight=[1.0, 0.0, 1.0, 1.0, 1.0], **k
        ),
        # alpha = 1: the negative term has weight 1 - alpha = 0
        lambda x, **k: wxent.sigmoid_focal_loss(x, torch.zeros(3, 5), alpha=1.0, **k),
    ],
)
def test_sigmoid_nan_logit_of_weight_zero_has_gradient_zero(monkeypatch, loss, validate):
    # An element whose only term has weight 0 counts nothing: loss 0 and gradient 0,
    # also at a NaN logit. The kernel's gradient was NaN there (it masked a zero label,
    # not a zero weight).
    x = X.copy()
    x[1, 1] = np.nan
    values = []
    for on in (True, False):
        _kernels(monkeypatch, on)
        xt = torch.tensor(x, requires_grad=True)
        out = loss(xt, reduction="none", validate=validate)
        out.sum().backward()
        values.append((out.detach().numpy(), xt.grad.numpy()))
    assert sum(select.LAUNCHES.values()) > 0, "the kernel did not run"
    (fast, fast_grad), (generic, generic_grad) = values
    assert fast_grad[1, 1] == 0.0
    np.testing.assert_allclose(fast, generic, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(fast_grad, generic_grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("labels", ["indices", "probabilities"])
def test_second_backward_after_inplace_backward_raises(labels):
    # The first backward pass overwrote the logits with their gradient; a second one
    # (retain_graph) computed another gradient from those values, silently.
    y = torch.tensor(Y) if labels == "indices" else torch.tensor(P)
    w = torch.tensor(X, requires_grad=True)
    out = wxent.softmax_cross_entropy(w * 1.0, y, inplace_backward=True)
    out.backward(retain_graph=True)
    assert sum(select.LAUNCHES.values()) > 0, "the kernel did not run"
    with pytest.raises(RuntimeError, match="inplace_backward=True"):
        out.backward()


def _batched_vjp(loss, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the Jacobian of per-sample losses: batched (vmap) and one pass each."""
    out = loss(x)
    (batched,) = torch.autograd.grad(out, x, torch.eye(len(out)), is_grads_batched=True)
    rows = [torch.autograd.grad(loss(x), x, torch.eye(len(out))[i])[0] for i in range(len(out))]
    return batched.numpy(), torch.stack(rows).numpy()


PER_SAMPLE = {
    "softmax": lambda x: LOSSES["softmax"](x, reduction="none"),
    "soft": lambda x: LOSSES["soft"](x, reduction="none"),
    "softmax_focal": lambda x: LOSSES["softmax_focal"](x, reduction="none"),
    "sigmoid": lambda x: LOSSES["sigmoid"](x, reduction="none").sum(-1),
    "linear": lambda x: wxent.linear_cross_entropy(
        x, torch.tensor(X[:, 1:] * 0.5), torch.tensor([0, 2, 1]), reduction="none"
    ),
}


@pytest.mark.parametrize("kernels", ["triton", "auto"])
@pytest.mark.parametrize("name", list(PER_SAMPLE))
def test_batched_upstream_gradients(monkeypatch, name, kernels):
    # is_grads_batched=True (torch.autograd.functional.jacobian(vectorize=True)) hands the
    # backward pass a batched upstream gradient: the Triton kernels failed on it (a
    # BatchedTensor has no storage), so did the CPU custom gradients of the softmax
    # focal loss and of linear_cross_entropy (an in-place product with a batched factor).
    monkeypatch.setenv("WXENT_KERNELS", kernels)
    x = torch.tensor(X if name != "linear" else X[:, :4], requires_grad=True)
    batched, rows = _batched_vjp(PER_SAMPLE[name], x)
    np.testing.assert_allclose(batched, rows, rtol=1e-5, atol=1e-6)


def test_full_smoothing_at_infinite_logits(monkeypatch):
    # label_smoothing=1: the target's share (1 - eps) * inf was a NaN loss in the kernels
    inf = float("inf")
    x = torch.tensor([[0.5, inf, inf, -1.0], [0.1, 0.2, -inf, 0.3], [0.3, -0.2, 1.0, 0.0]])
    y = torch.tensor([0, 2, 1])
    h, w = torch.eye(4)[:3], torch.zeros(4, 4)
    b = torch.tensor([0.0, inf, inf, -1.0])
    calls = {
        "softmax_cross_entropy": lambda: wxent.softmax_cross_entropy(x, y, label_smoothing=1.0),
        "softmax_focal_loss": lambda: wxent.softmax_focal_loss(x, y, label_smoothing=1.0),
        "linear_cross_entropy": lambda: wxent.linear_cross_entropy(
            h, w, y, bias=b, label_smoothing=1.0, reduction="sum"
        ),
    }
    for kernel, call in calls.items():
        select.LAUNCHES.clear()
        value = call()
        assert select.LAUNCHES[kernel] >= 1, (kernel, dict(select.LAUNCHES))
        assert value.item() == float("inf"), (kernel, value)
        _kernels(monkeypatch, False)
        assert call().item() == float("inf")
        _kernels(monkeypatch, True)
