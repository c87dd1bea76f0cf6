"""Ignored labels under ``torch.compile``: the traced call equals the eager one.

Under torch 2.11 (what CUDA machines run) the traced graph of every loss with
``ignore_index`` or ``ignore_label`` dropped the mask: ignored rows counted in the loss
and its denominator and got a gradient (the mask was read through a property that
shadowed a dataclass field; ``tests/test_dataclass_properties.py`` keeps that pattern
out). Each loss that ignores labels, and the metrics that do, run here eagerly and
compiled with ``fullgraph=True`` (``aot_eager``: the traced graph as it is; Inductor for
the softmax and sigmoid cross-entropy), each on two reductions and every reduction on
some loss of each family: values and gradients equal,
ignored rows' gradients exactly 0.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wxent

# (torch's compiler instantiates the autograd functions of linear_cross_entropy's chunks)
pytestmark = pytest.mark.filterwarnings("ignore:.*should not be instantiated:DeprecationWarning")

N, C = 12, 5
IGNORED = np.arange(N) % 3 == 0  # rows 0, 3, 6, 9


def _softmax_inputs() -> dict:
    g = torch.Generator().manual_seed(7)
    x = torch.randn(N, C, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, C, (N,), generator=g)
    y[torch.from_numpy(IGNORED)] = -100
    costs = torch.rand(C, C, generator=g, dtype=torch.float64) * (1 - torch.eye(C))
    cw = torch.rand(C, generator=g, dtype=torch.float64) + 0.5
    prior = torch.softmax(torch.randn(C, generator=g, dtype=torch.float64), 0)
    return {"x": x, "y": y, "costs": costs, "cw": cw, "prior": prior}


def _sigmoid_inputs() -> dict:
    g = torch.Generator().manual_seed(8)
    x = torch.randn(N, C, generator=g, dtype=torch.float64) * 2
    z = (torch.rand(N, C, generator=g) < 0.4).double()
    z[torch.from_numpy(IGNORED)] = -1.0
    return {"x": x, "z": z, "pw": torch.rand(C, generator=g, dtype=torch.float64) * 3 + 1}


SOFTMAX = {
    "softmax_cross_entropy": lambda i, x, r: wxent.softmax_cross_entropy(
        x, i["y"], class_weight=i["cw"], label_smoothing=0.1, ignore_index=-100, reduction=r
    ),
    "softmax_focal_loss": lambda i, x, r: wxent.softmax_focal_loss(
        x, i["y"], gamma=2.0, ignore_index=-100, reduction=r
    ),
    "expected_cost_loss": lambda i, x, r: wxent.expected_cost_loss(
        x, i["y"], i["costs"], ignore_index=-100, reduction=r
    ),
    "cost_sensitive_cross_entropy": lambda i, x, r: wxent.cost_sensitive_cross_entropy(
        x, i["y"], i["costs"], ignore_index=-100, reduction=r
    ),
    "confusion_weighted_cross_entropy": lambda i, x, r: wxent.confusion_weighted_cross_entropy(
        x, i["y"], i["costs"] + 1.0, ignore_index=-100, reduction=r
    ),
    "logit_adjusted_cross_entropy": lambda i, x, r: wxent.logit_adjusted_cross_entropy(
        x, i["y"], i["prior"], ignore_index=-100, reduction=r
    ),
}
SIGMOID = {
    "sigmoid_cross_entropy": lambda i, x, r: wxent.sigmoid_cross_entropy(
        x, i["z"], pos_weight=i["pw"], ignore_label=-1.0, reduction=r
    ),
    "sigmoid_focal_loss": lambda i, x, r: wxent.sigmoid_focal_loss(
        x, i["z"], gamma=2.0, alpha=0.25, ignore_label=-1.0, reduction=r
    ),
    "asymmetric_loss": lambda i, x, r: wxent.asymmetric_loss(
        x, i["z"], ignore_label=-1.0, reduction=r
    ),
}
REDUCTIONS = ["mean", "sum", "none", "weighted_mean"]


def _value_and_grad(fn, inputs: dict, reduction: str) -> tuple[np.ndarray, np.ndarray]:
    x = inputs["x"].detach().clone().requires_grad_()
    value = fn(inputs, x, reduction)
    value.sum().backward()
    return value.detach().numpy(), x.grad.numpy()


def _check(fn, inputs: dict, reduction: str, backend: str) -> None:
    torch._dynamo.reset()
    eager = _value_and_grad(fn, inputs, reduction)
    assert np.all(eager[1][IGNORED] == 0.0)
    assert np.any(eager[1][~IGNORED] != 0.0)
    compiled = torch.compile(fn, backend=backend, fullgraph=True, dynamic=False)
    traced = _value_and_grad(compiled, inputs, reduction)
    np.testing.assert_allclose(traced[0], eager[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(traced[1], eager[1], rtol=1e-12, atol=1e-14)
    assert np.all(traced[1][IGNORED] == 0.0)


def _two_reductions_each(names: list[str]) -> list[tuple[str, str]]:
    """Every loss on two reductions, every reduction on some loss of the family.

    (The mask is dropped or kept before the reduction: each pair compiles once, seconds.)
    """
    return [
        (name, REDUCTIONS[(i + shift) % len(REDUCTIONS)])
        for i, name in enumerate(names)
        for shift in (0, 2)
    ]


@pytest.mark.parametrize(("name", "reduction"), _two_reductions_each(sorted(SOFTMAX)))
def test_softmax_family_traced_ignores_what_eager_ignores(name, reduction):
    _check(SOFTMAX[name], _softmax_inputs(), reduction, "aot_eager")


@pytest.mark.parametrize(("name", "reduction"), _two_reductions_each(sorted(SIGMOID)))
def test_sigmoid_family_traced_ignores_what_eager_ignores(name, reduction):
    _check(SIGMOID[name], _sigmoid_inputs(), reduction, "aot_eager")


# (inductor's first CPU lowering in a process imports torch.utils.mkldnn, which warns)
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
@pytest.mark.parametrize(
    ("fn", "inputs"),
    [
        (SOFTMAX["softmax_cross_entropy"], _softmax_inputs),
        (SIGMOID["sigmoid_cross_entropy"], _sigmoid_inputs),
    ],
    ids=["softmax_cross_entropy", "sigmoid_cross_entropy"],
)
def test_inductor_ignores_what_eager_ignores(fn, inputs):
    _check(fn, inputs(), "mean", "inductor")


def test_linear_cross_entropy_traced_ignores_what_eager_ignores():
    g = torch.Generator().manual_seed(9)
    h = torch.randn(N, 6, generator=g, dtype=torch.float64)
    w = torch.randn(C, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, C, (N,), generator=g)
    y[torch.from_numpy(IGNORED)] = -100

    def loss(h: torch.Tensor) -> torch.Tensor:
        return wxent.linear_cross_entropy(h, w, y, ignore_index=-100, label_smoothing=0.1)

    def value_and_grad(fn) -> tuple[float, np.ndarray]:
        x = h.clone().requires_grad_()
        value = fn(x)
        value.backward()
        return float(value.detach()), x.grad.numpy()

    torch._dynamo.reset()
    eager = value_and_grad(loss)
    traced = value_and_grad(torch.compile(loss, backend="aot_eager", fullgraph=True))
    assert np.all(eager[1][IGNORED] == 0.0)
    np.testing.assert_allclose(traced[0], eager[0], rtol=1e-12)
    np.testing.assert_allclose(traced[1], eager[1], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("metric", ["recall", "precision", "confusion_matrix"])
def test_metrics_traced_ignore_what_eager_ignores(metric):
    inputs = _softmax_inputs()

    def fn(x: torch.Tensor) -> torch.Tensor:
        return getattr(wxent, metric)(x, inputs["y"], ignore_index=-100)

    torch._dynamo.reset()
    eager = fn(inputs["x"])
    traced = torch.compile(fn, backend="aot_eager", fullgraph=True)(inputs["x"])
    np.testing.assert_allclose(traced.numpy(), eager.numpy(), rtol=1e-12)
