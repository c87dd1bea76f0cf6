"""Adversarial inputs for the CPU fast paths, against the generic path and float64 references.

The paths under test: the branch-free PyTorch host focal/asymmetric rules (inexact at
infinite logits, recomputed by the call's one read), the PyTorch expected-cost autograd
function, the blocked NumPy focal/asymmetric kernel, the compiled eager JAX sigmoid rule
and the TensorFlow sigmoid/focal rules compiled as ``tf.function`` graphs. Each case
compares values and gradients with the generic path (``wxent._fastpaths.ENABLED =
False``) or a float64 reference, or checks that bad input raises wxent's own error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import wxent
from wxent import _fastpaths

nan, inf = float("nan"), float("inf")
COSTS = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]], np.float32)


def _torch_value_grad(
    loss: Callable[..., Any], x: np.ndarray, *args: Any, generic: bool = False, **kw: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The loss and its gradient with respect to the logits (PyTorch, CPU)."""
    saved = _fastpaths.ENABLED
    _fastpaths.ENABLED = not generic
    try:
        xt = torch.tensor(x, requires_grad=True)
        value = loss(xt, *args, **kw)
        value.sum().backward()
        assert xt.grad is not None
        return value.detach().numpy(), xt.grad.numpy()
    finally:
        _fastpaths.ENABLED = saved


# ---------------------------------------------------------------- weighted_mean, zero weights

SOFTMAX_LOSSES: dict[str, Callable[..., Any]] = {
    "softmax_ce": wxent.softmax_cross_entropy,
    "softmax_ce_smooth": lambda x, y, **k: wxent.softmax_cross_entropy(
        x, y, label_smoothing=0.1, **k
    ),
    "softmax_focal": wxent.softmax_focal_loss,
    "expected_cost": lambda x, y, **k: wxent.expected_cost_loss(x, y, COSTS, **k),
    "cost_ce": lambda x, y, **k: wxent.cost_sensitive_cross_entropy(x, y, COSTS, **k),
}
SIGMOID_LOSSES: dict[str, Callable[..., Any]] = {
    "sigmoid_ce": wxent.sigmoid_cross_entropy,
    "sigmoid_ce_pos": lambda x, z, **k: wxent.sigmoid_cross_entropy(x, z, pos_weight=3.0, **k),
    "focal": wxent.sigmoid_focal_loss,
    "focal_alpha": lambda x, z, **k: wxent.sigmoid_focal_loss(x, z, alpha=0.25, **k),
    "asymmetric": wxent.asymmetric_loss,
}
BAD_ROWS = [[nan, 0.0, 1.0], [inf, 0.0, 1.0], [inf, inf, 0.0], [-inf, -inf, -inf]]


@pytest.mark.parametrize("row", BAD_ROWS, ids=["nan", "inf", "two_inf", "all_-inf"])
@pytest.mark.parametrize("weight", ["sample_weight", "class_weight"])
@pytest.mark.parametrize("name", sorted(SOFTMAX_LOSSES))
def test_softmax_weighted_mean_of_zero_weights_has_zero_gradient(
    name: str, weight: str, row: list[float]
) -> None:
    # All weights 0: the inexact host path's NaN at the bad row was hidden by the
    # division by a zero sum of weights (the result 0, its gradient NaN).
    x = np.array([row, [0.0, 1.0, 2.0]], np.float32)
    y = torch.tensor([0, 0])
    kw = (
        {"sample_weight": np.zeros(2, np.float32)}
        if weight == "sample_weight"
        else {"class_weight": np.array([0.0, 1.0, 1.0], np.float32)}
    )
    loss = SOFTMAX_LOSSES[name]
    value, grad = _torch_value_grad(loss, x, y, reduction="weighted_mean", **kw)
    g_value, g_grad = _torch_value_grad(loss, x, y, reduction="weighted_mean", generic=True, **kw)
    assert float(value) == 0.0 == float(g_value)
    np.testing.assert_array_equal(grad, np.zeros_like(x))
    np.testing.assert_array_equal(g_grad, np.zeros_like(x))


@pytest.mark.parametrize("first", [[nan, 1.0], [inf, -inf], [-inf, inf]], ids=str)
@pytest.mark.parametrize("name", sorted(SIGMOID_LOSSES))
def test_sigmoid_weighted_mean_of_zero_weights_has_zero_gradient(
    name: str, first: list[float]
) -> None:
    x = np.array([first, [0.0, 1.0]], np.float32)
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    loss = SIGMOID_LOSSES[name]
    kw = {"sample_weight": np.zeros(2, np.float32), "reduction": "weighted_mean"}
    value, grad = _torch_value_grad(loss, x, z, **kw)
    assert float(value) == 0.0
    np.testing.assert_array_equal(grad, np.zeros_like(x))
