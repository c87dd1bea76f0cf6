"""The PyTorch host path of the expected-cost losses against the generic formulas.

``expected_cost_loss`` and ``cost_sensitive_cross_entropy`` on CPU tensors run one
``torch.autograd.Function`` (:mod:`wxent._fastpaths.cost_torch`): values and gradients
equal the generic path's (``wxent._fastpaths.ENABLED = False``) for every option and
reduction, float32 and float64, at ``-inf`` and huge logits; rows holding ``+inf`` and
rows of only ``-inf`` or NaN reach the generic path's limits and errors through the
call's one read; the generic formulas serve second derivatives and ``torch.func``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

import wxent
from conftest import assert_close
from reference_cost import RULE_CASES, rule_case, spy_cost_paths
from wxent import _fastpaths
from wxent._fastpaths import cost_torch

REDUCTIONS = ["none", "sum", "mean", "weighted_mean"]
N, C = 9, 6


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """``"fast"`` per forward pass of the autograd function, ``"generic"`` per core call."""
    yield spy_cost_paths(monkeypatch, cost_torch)


def _data(dtype: torch.dtype, *, edges: bool = True) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(N, C, generator=g, dtype=torch.float64).mul_(3.0).to(dtype)
    if edges:
        x[0, 2] = -math.inf  # a masked class (not the label)
        x[1] = -1e30  # huge finite logits, one of them large
        x[1, 3] = 5.0
        x[2, 4] = 1e4
    y = torch.randint(0, C, (N,), generator=g)
    y[0] = 1
    y[5] = -100  # ignored
    costs = torch.rand(C, C, generator=g, dtype=torch.float64).to(dtype)
    costs.fill_diagonal_(0.0)
    cw = (torch.rand(C, generator=g, dtype=torch.float64) + 0.5).to(dtype)
    sw = torch.rand(N, generator=g, dtype=torch.float64).to(dtype)
    sw[3] = 0.0
    return x, y, costs, cw, sw


CASES = RULE_CASES


def _call(case: str, reduction: str, data: tuple[torch.Tensor, ...]) -> Any:
    _, y, costs, cw, sw = data
    fn, opts = rule_case(case, cw, sw)
    return lambda a: fn(a, y, costs, ignore_index=-100, reduction=reduction, **opts)


def _value_and_grad(f: Any, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    xg = x.clone().requires_grad_(True)
    out = f(xg)
    out.backward(torch.ones_like(out))
    return out.detach().double().numpy(), xg.grad.double().numpy()


def _generic(f: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as m:
        m.setattr(_fastpaths, "ENABLED", False)
        return f()


TOL = {torch.float32: 2e-6, torch.float64: 1e-12}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", list(CASES))
def test_matches_the_generic_path(monkeypatch, ran, case, reduction, dtype):
    data = _data(dtype)
    f = _call(case, reduction, data)
    value, grad = _value_and_grad(f, data[0])
    assert ran == ["fast"]
    ran.clear()
    ref_value, ref_grad = _generic(lambda: _value_and_grad(f, data[0]), monkeypatch)
    assert "fast" not in ran
    assert np.isfinite(grad).all()
    assert_close(value, ref_value, rtol=TOL[dtype], atol=TOL[dtype])
    assert_close(grad, ref_grad, rtol=TOL[dtype], atol=TOL[dtype])


def test_matches_float64_formula(ran):
    """``e = sum_j costs[y, j] p_j`` and ``de/dx = p (costs[y] - e)``, in float64."""
    x, y, costs, _, _ = _data(torch.float32, edges=False)
    y = y.clamp(min=0)
    value, grad = _value_and_grad(
        lambda a: wxent.expected_cost_loss(a, y, costs, reduction="none"), x
    )
    assert ran == ["fast"]
    p = torch.softmax(x.double(), dim=1)
    rows = costs.double()[y]
    e = (rows * p).sum(dim=1)
    assert_close(value, e.numpy(), rtol=1e-6, atol=1e-7)
    assert_close(grad, (p * (rows - e[:, None])).numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("case", ["expected", "sensitive-smooth-weights"])
def test_plus_inf_rows_take_their_limit(monkeypatch, ran, case):
    """A row holding ``+inf`` is NaN on the host path: the one read recomputes exactly."""
    data = _data(torch.float32)
    data[0][4, 1] = math.inf
    f = _call(case, "none", data)
    value, grad = _value_and_grad(f, data[0])
    assert ran[0] == "fast" and "generic" in ran  # the inexact result was recomputed
    ref_value, ref_grad = _generic(lambda: _value_and_grad(f, data[0]), monkeypatch)
    assert not np.isnan(value).any() and not np.isnan(grad).any()
    assert_close(value, ref_value, rtol=2e-6, atol=2e-6)
    assert_close(grad, ref_grad, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("bad", ["nan", "all -inf"])
def test_bad_rows_raise_the_generic_error(bad):
    x, y, costs, _, _ = _data(torch.float32)
    if bad == "nan":
        x[6, 2] = math.nan
    else:
        x[6] = -math.inf
    with pytest.raises(ValueError, match="logits"):
        wxent.expected_cost_loss(x.requires_grad_(True), y, costs, ignore_index=-100)
    unchecked = wxent.cost_sensitive_cross_entropy(
        x, y, costs, cost_weight=0.5, ignore_index=-100, reduction="none", validate=False
    )
    assert torch.isnan(unchecked[6]) and not torch.isnan(unchecked[:6]).any()


def test_ignored_nan_rows_get_gradient_zero(monkeypatch):
    """A NaN row that is ignored counts nothing: loss and gradient 0 there, as generically."""
    x, y, costs, _, _ = _data(torch.float32)
    x[5, 1] = math.nan  # row 5 is ignored
    f = _call("sensitive", "mean", (x, y, costs, None, None))
    value, grad = _value_and_grad(f, x)
    ref_value, ref_grad = _generic(lambda: _value_and_grad(f, x), monkeypatch)
    assert np.isfinite(value) and (grad[5] == 0).all()
    assert_close(value, ref_value, rtol=2e-6, atol=2e-6)
    assert_close(grad, ref_grad, rtol=2e-6, atol=2e-6)


def test_backward_keeps_one_logits_worth():
    """Beside the logits, the autograd graph keeps ``p``: one logits' worth, not a dozen."""
    x, y, costs, _, _ = _data(torch.float32, edges=False)
    x = x.requires_grad_(True)
    y = y.clamp(min=0)
    extra: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage().data_ptr()
        if storage != x.untyped_storage().data_ptr():
            extra[storage] = t.numel()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        wxent.cost_sensitive_cross_entropy(x, y, costs, cost_weight=1.0)
    assert sum(n for n in extra.values() if n >= x.numel()) == x.numel(), extra


@pytest.mark.parametrize("case", ["expected", "sensitive-smooth-weights"])
def test_double_backward_matches_generic(monkeypatch, case):
    x, y, costs, cw, sw = _data(torch.float64, edges=False)

    def hvp() -> np.ndarray:
        xg = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(_call(case, "mean", (x, y, costs, cw, sw))(xg), xg,
                                   create_graph=True)  # fmt: skip
        (h,) = torch.autograd.grad((g * torch.ones_like(g)).sum(), xg)
        return h.numpy()

    assert_close(hvp(), _generic(hvp, monkeypatch), rtol=1e-10, atol=1e-12)


def test_torch_func_and_cost_gradients_take_the_generic_formulas(ran):
    x, y, costs, _, _ = _data(torch.float64, edges=False)
    y = y.clamp(min=0)
    grad = torch.func.grad(lambda a: wxent.expected_cost_loss(a, y, costs))(x)
    assert "fast" not in ran and torch.isfinite(grad).all()
    c = costs.clone().requires_grad_(True)
    wxent.expected_cost_loss(x, y, c).backward()
    assert "fast" not in ran and c.grad is not None and torch.isfinite(c.grad).all()


def test_kernels_off_and_probability_labels_take_the_generic_formulas(monkeypatch, ran):
    x, y, costs, _, _ = _data(torch.float32, edges=False)
    t = torch.softmax(torch.randn(N, C, generator=torch.Generator().manual_seed(1)), dim=1)
    wxent.expected_cost_loss(x, t, costs)
    assert "fast" not in ran
    monkeypatch.setenv("WXENT_KERNELS", "off")
    wxent.expected_cost_loss(x, y.clamp(min=0), costs)
    assert "fast" not in ran
