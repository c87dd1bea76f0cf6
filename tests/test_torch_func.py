"""``torch.func`` transforms (grad, hessian, vmap, per-sample gradients) on every loss.

Inside these transforms tensors are wrapped and hold no readable storage: wxent treats
them as not concrete (as under ``torch.compile``) and reads nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import wxent

C = 3
COSTS = 1.0 - torch.eye(C)


def _losses() -> dict[str, Callable[[Any, Any], Any]]:
    return {
        "softmax": lambda a, y: wxent.softmax_cross_entropy(a, y, class_weight=[1.0, 2.0, 3.0]),
        "softmax_focal": lambda a, y: wxent.softmax_focal_loss(a, y, gamma=2.0),
        "logit_adjusted": lambda a, y: wxent.logit_adjusted_cross_entropy(a, y, [0.5, 0.3, 0.2]),
        "expected_cost": lambda a, y: wxent.expected_cost_loss(a, y, COSTS),
        "cost_sensitive": lambda a, y: wxent.cost_sensitive_cross_entropy(a, y, COSTS),
        "confusion_weighted": lambda a, y: wxent.confusion_weighted_cross_entropy(
            a, y, 1.0 + COSTS
        ),
        "sigmoid": lambda a, y: wxent.sigmoid_cross_entropy(
            a, torch.nn.functional.one_hot(y, C).to(a.dtype), pos_weight=[1.0, 2.0, 3.0]
        ),
        "sigmoid_focal": lambda a, y: wxent.sigmoid_focal_loss(
            a, torch.nn.functional.one_hot(y, C).to(a.dtype), alpha=0.25
        ),
        "asymmetric": lambda a, y: wxent.asymmetric_loss(
            a, torch.nn.functional.one_hot(y, C).to(a.dtype)
        ),
    }


# Forward-mode AD (inside hessian) loads torch's own scripted decompositions.
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("name", sorted(_losses()))
def test_grad_hessian_vmap(name):
    loss = _losses()[name]
    x = torch.randn(5, C, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1, 0])
    g = torch.func.grad(loss)(x, y)
    x_ref = x.clone().requires_grad_(True)
    (g_ref,) = torch.autograd.grad(loss(x_ref, y), x_ref)
    torch.testing.assert_close(g, g_ref)
    h = torch.func.hessian(loss)(x, y)
    assert h.shape == (5, C, 5, C) and torch.isfinite(h).all()
    per_row = torch.func.vmap(lambda a, b: loss(a[None], b[None]))(x, y)
    expected = torch.stack([loss(x[i : i + 1], y[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(per_row, expected)


def test_per_sample_gradients_with_functional_call():
    model = torch.nn.Linear(4, C)
    params = {k: v.detach() for k, v in model.named_parameters()}
    inputs, labels = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])

    def loss_of(p: dict[str, Any], a: Any, b: Any) -> Any:
        out = torch.func.functional_call(model, p, (a[None],))
        return wxent.softmax_cross_entropy(out, b[None], class_weight=[1.0, 2.0, 0.5])

    grads = torch.func.vmap(torch.func.grad(loss_of), in_dims=(None, 0, 0))(params, inputs, labels)
    for i in range(6):
        model.zero_grad()
        loss_of(dict(model.named_parameters()), inputs[i], labels[i]).backward()
        torch.testing.assert_close(grads["weight"][i], model.weight.grad)


# Forward-mode AD loads torch's own scripted decompositions.
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("name", sorted(_losses()))
def test_jvp_tangent_has_the_loss_dtype(name, dtype):
    # torch.func.jvp gave a 0-d tensor divided by a Python number (a "mean" over a known
    # count) a float64 tangent: float32 and bfloat16 losses had float64 derivatives
    loss = _losses()[name]
    x = torch.randn(5, C, dtype=torch.float64).to(dtype)
    y = torch.tensor([0, 1, 2, 1, 0])
    direction = torch.randn(5, C, dtype=torch.float64).to(dtype)
    value, tangent = torch.func.jvp(lambda a: loss(a, y), (x,), (direction,))
    assert value.dtype == dtype and tangent.dtype == dtype
    x_ref = x.clone().requires_grad_(True)
    (g_ref,) = torch.autograd.grad(loss(x_ref, y), x_ref)
    expected = (g_ref.double() * direction.double()).sum()
    tolerance = 2e-2 if dtype == torch.bfloat16 else 1e-5
    torch.testing.assert_close(tangent.double(), expected, rtol=tolerance, atol=tolerance)
