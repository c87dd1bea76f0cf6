"""PyTorch forward-mode AD (``torch.autograd.forward_ad`` dual tensors) through every loss.

A dual tensor's tangent travels through torch operations only: the Triton kernels
(``WXENT_KERNELS=triton``, interpreted on the CPU here; the default on CUDA) would drop it
and wxent's autograd functions define no forward rule. Each loss must give the
directional derivative that reverse mode gives, in float64, whether the dual tensor also
requires a gradient (forward-over-reverse) or not, and whatever input carries it
(logits, probability labels, weights, the linear layer's inputs and weight).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as fwd

import wxent
from conftest import assert_close
from wxent._fastpaths import select

# torch's first make_dual scripts its forward-mode decompositions (its own warning)
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)

N, C = 6, 5


def _data(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = 3 * torch.randn(N, C, generator=g, dtype=torch.float64)
    t = torch.softmax(torch.randn(N, C, generator=g, dtype=torch.float64), dim=1)
    return {
        "x": x,
        "t": t,
        "y": torch.tensor([0, 1, 2, 3, 4, 1]),
        "z": (t > 0.2).to(torch.float64),
        "q": 0.5 + torch.rand(C, generator=g, dtype=torch.float64),
        "h": torch.randn(N, 3, generator=g, dtype=torch.float64),
        "w": torch.randn(C, 3, generator=g, dtype=torch.float64),
        "s": torch.rand(N, generator=g, dtype=torch.float64),
    }


# (name, loss of the data with the differentiated input replaced, which input)
Loss = Callable[[dict[str, torch.Tensor]], torch.Tensor]
LOSSES: list[tuple[str, Loss, str]] = [
    ("softmax_int", lambda d: wxent.softmax_cross_entropy(d["x"], d["y"]), "x"),
    (
        "softmax_int_weighted",
        lambda d: wxent.softmax_cross_entropy(
            d["x"], d["y"], class_weight=d["q"], label_smoothing=0.1, reduction="weighted_mean"
        ),
        "x",
    ),
    ("softmax_prob", lambda d: wxent.softmax_cross_entropy(d["x"], d["t"]), "x"),
    ("softmax_prob_labels", lambda d: wxent.softmax_cross_entropy(d["x"], d["t"]), "t"),
    (
        "sigmoid_pos_weight",
        lambda d: wxent.sigmoid_cross_entropy(d["x"], d["z"], pos_weight=d["q"]),
        "x",
    ),
    (
        "sigmoid_dual_pos_weight",
        lambda d: wxent.sigmoid_cross_entropy(
            d["x"], d["z"], pos_weight=d["q"], reduction="weighted_mean"
        ),
        "q",
    ),
    (
        "sigmoid_dual_neg_and_sample_weight",
        lambda d: wxent.sigmoid_cross_entropy(
            d["x"], d["z"], neg_weight=d["q"], sample_weight=d["s"], reduction="weighted_mean"
        ),
        "s",
    ),
    (
        "softmax_dual_class_weight",
        lambda d: wxent.softmax_cross_entropy(
            d["x"], d["y"], class_weight=d["q"], reduction="weighted_mean"
        ),
        "q",
    ),
    (
        "softmax_focal_dual_class_weight",
        lambda d: wxent.softmax_focal_loss(d["x"], d["y"], class_weight=d["q"]),
        "q",
    ),
    (
        "expected_cost",
        lambda d: wxent.expected_cost_loss(d["x"], d["y"], d["q"][:, None] * d["q"]),
        "x",
    ),
    ("sigmoid_focal", lambda d: wxent.sigmoid_focal_loss(d["x"], d["z"]), "x"),
    ("sigmoid_focal_alpha", lambda d: wxent.sigmoid_focal_loss(d["x"], d["t"], alpha=0.3), "t"),
    (
        "asymmetric",
        lambda d: wxent.asymmetric_loss(d["x"], d["z"], pos_weight=d["q"], reduction="sum"),
        "q",
    ),
    ("asymmetric_logits", lambda d: wxent.asymmetric_loss(d["x"], d["z"]), "x"),
    ("softmax_focal", lambda d: wxent.softmax_focal_loss(d["x"], d["y"], gamma=2.0), "x"),
    (
        "softmax_focal_smoothed",
        lambda d: wxent.softmax_focal_loss(d["x"], d["y"], label_smoothing=0.1),
        "x",
    ),
    ("softmax_focal_prob", lambda d: wxent.softmax_focal_loss(d["x"], d["t"]), "t"),
    ("linear_inputs", lambda d: wxent.linear_cross_entropy(d["h"], d["w"], d["y"]), "h"),
    (
        "linear_weight",
        lambda d: wxent.linear_cross_entropy(
            d["h"], d["w"], d["y"], sample_weight=d["s"], reduction="weighted_mean"
        ),
        "w",
    ),
    (
        "linear_none",
        lambda d: wxent.linear_cross_entropy(d["h"], d["w"], d["y"], reduction="none"),
        "h",
    ),
]


def _reverse(loss: Loss, data: dict[str, torch.Tensor], name: str, v: torch.Tensor) -> np.ndarray:
    """The directional derivative along ``v`` by reverse mode (per output element)."""
    x = data[name].clone().requires_grad_(True)
    out = loss({**data, name: x})
    rows = out.reshape(-1)
    return np.array(
        [float((torch.autograd.grad(r, x, retain_graph=True)[0] * v).sum()) for r in rows]
    )


def _forward(
    loss: Loss, data: dict[str, torch.Tensor], name: str, v: torch.Tensor, dtype, requires_grad
) -> tuple[torch.Tensor, torch.Tensor]:
    cast = {k: (t.to(dtype) if t.is_floating_point() else t) for k, t in data.items()}
    with fwd.dual_level():
        primal = cast[name].clone().requires_grad_(requires_grad)
        out = loss({**cast, name: fwd.make_dual(primal, v.to(dtype))})
        value, tangent = fwd.unpack_dual(out)
        assert tangent is not None, "the tangent was dropped"
        return value.detach(), tangent.detach()


@pytest.mark.parametrize("requires_grad", [False, True], ids=["forward", "forward-over-reverse"])
@pytest.mark.parametrize("mode", ["auto", "triton", "off"])
@pytest.mark.parametrize(("case", "loss", "name"), LOSSES, ids=[c[0] for c in LOSSES])
def test_forward_mode_tangent_equals_reverse_mode(
    monkeypatch, case, loss, name, mode, requires_grad
):
    monkeypatch.setenv("WXENT_KERNELS", mode)  # triton: the kernels would take float32 inputs
    data = _data()
    v = torch.randn(
        data[name].shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    if name == "t":  # probability labels: a tangent that keeps the rows summing to 1
        v = v - v.mean(dim=-1, keepdim=True)
    expected = _reverse(loss, data, name, v)
    for dtype, rtol in ((torch.float64, 1e-9), (torch.float32, 2e-4)):
        value, tangent = _forward(loss, data, name, v, dtype, requires_grad)
        assert tangent.dtype == value.dtype == dtype
        assert_close(tangent.reshape(-1).numpy(), expected, rtol=rtol, atol=rtol)
        plain = loss({k: (t.to(dtype) if t.is_floating_point() else t) for k, t in data.items()})
        assert_close(value.numpy(), plain.detach().numpy(), rtol=rtol)


def test_kernels_are_not_launched_for_dual_tensors(monkeypatch):
    """With ``WXENT_KERNELS=triton`` the same float32 call launches a kernel unless dual."""
    monkeypatch.setenv("WXENT_KERNELS", "triton")
    d = _data()
    x, y = d["x"].float(), d["y"]
    before = sum(select.LAUNCHES.values())
    wxent.softmax_cross_entropy(x, y)
    assert sum(select.LAUNCHES.values()) > before  # the kernel runs on plain tensors
    before = sum(select.LAUNCHES.values())
    with fwd.dual_level():
        wxent.softmax_cross_entropy(fwd.make_dual(x, torch.ones_like(x)), y)
        wxent.sigmoid_focal_loss(fwd.make_dual(x, torch.ones_like(x)), d["z"].float())
    assert sum(select.LAUNCHES.values()) == before


def test_forward_ad_is_false_outside_a_dual_level():
    x = torch.ones(2)
    assert not select.forward_ad(x, None, 1.0)
    with fwd.dual_level():
        assert not select.forward_ad(x, None)
        assert select.forward_ad(x, fwd.make_dual(x, x))
