"""The expected cost on the softmax kernels, run by Triton's interpreter on CPU tensors.

``expected_cost_loss`` with integer labels on CUDA (here: ``WXENT_KERNELS=triton`` with
``TRITON_INTERPRET=1``) runs the softmax cross-entropy's forward and backward kernels
with the cost matrix read in their loops. Every value and gradient is compared with the
generic path in the same dtype and in float64, the launch counter proves that the
kernel ran, and the messages of bad input are the generic path's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import wxent
from test_triton import REDUCTIONS, _interpreter, check, run, softmax_data  # noqa: F401
from wxent._fastpaths import select


def costs_for(c: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    costs = rng.uniform(0.0, 2.0, (c, c))
    np.fill_diagonal(costs, 0.0)
    return costs


def loss_with(costs: np.ndarray, dtype: torch.dtype = torch.float32):
    """``expected_cost_loss`` with ``costs`` as a torch tensor of ``dtype``."""
    matrix = torch.tensor(costs, dtype=dtype)

    def loss(x, y, **kw):
        return wxent.expected_cost_loss(x, y, matrix, **kw)

    return loss


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weights", ["none", "class", "sample", "both"])
@pytest.mark.parametrize("validate", [True, False], ids=["checked", "unchecked"])
@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_expected_cost_every_option(reduction, weights, validate, bf16):
    x, y, cw, sw = softmax_data()
    kw = {"reduction": reduction, "ignore_index": -100, "validate": validate}
    if weights in ("class", "both"):
        kw["class_weight"] = cw
    if weights in ("sample", "both"):
        kw["sample_weight"] = torch.tensor(sw, dtype=torch.float32)
    check(loss_with(costs_for(x.shape[-1])), x, y, bf16=bf16, **kw)
    assert select.LAUNCHES["expected_cost_loss"] == 1
    assert select.LAUNCHES["expected_cost_loss_backward"] == 1
    assert select.LAUNCHES["softmax_cross_entropy"] == 0


def test_expected_cost_without_ignore_in_three_dimensions_and_costs_of_other_dtypes():
    x, y, cw, sw = softmax_data(shape=(2, 3, 21), seed=1)
    y = torch.where(y < 0, 0, y)
    costs = costs_for(21, seed=4)
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        for reduction in REDUCTIONS:
            for class_weight in (2.0, cw):  # a scalar, and one per class
                check(loss_with(costs, dtype), x, y, reduction=reduction, class_weight=class_weight)
            check(loss_with(costs, dtype), x, y, reduction=reduction, sample_weight=sw)
    # 1 - I: the expected 0-1 error, 1 - p_y
    value, _ = check(loss_with(1.0 - np.eye(21)), x, y, reduction="none")
    p = torch.softmax(torch.tensor(x), -1).gather(-1, y[..., None])[..., 0]
    np.testing.assert_allclose(value, 1.0 - p.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_expected_cost_upstream_gradient(reduction):
    x, y, cw, _ = softmax_data(seed=2)
    costs = costs_for(x.shape[-1])

    def upstream(out):
        if out.ndim == 0:
            return torch.tensor(0.5)
        return torch.linspace(-1.0, 2.0, out.numel()).reshape(out.shape)

    kw = {"reduction": reduction, "ignore_index": -100, "class_weight": cw}
    check(loss_with(costs), x, y, upstream=upstream, **kw)


def test_expected_cost_at_infinite_logits_is_the_generic_limit():
    x, y, _, _ = softmax_data(seed=5)
    y = torch.where(y < 0, 0, y)
    x[0, [3, 8, 20]] = math.inf  # the limit: the mean cost over the +inf entries
    x[1, :] = -math.inf
    x[1, 4] = 2.0  # one finite logit: probability 1 there
    x[2, ::3] = -math.inf
    costs = costs_for(x.shape[-1])
    value, grad = run(loss_with(costs), x, y, reduction="none")
    generic = run(loss_with(costs), x, y, reduction="none", mode="off")
    np.testing.assert_allclose(value, generic[0], rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(grad, generic[1], rtol=2e-5, atol=2e-6)
    label = int(y[0])
    assert value[0] == pytest.approx(costs[label, [3, 8, 20]].mean(), rel=1e-6)
    assert not grad[0].any() and not grad[1].any()
    assert value[1] == pytest.approx(costs[int(y[1]), 4], rel=1e-6)
    assert select.LAUNCHES["expected_cost_loss"] == 1


def test_expected_cost_nan_and_empty_rows_as_the_generic_path():
    x, y, _, _ = softmax_data(seed=6)
    y = torch.where(y < 0, 0, y)
    x[1, :] = -math.inf  # no finite logit: NaN unchecked, an error checked
    x[3, 5] = math.nan
    costs = costs_for(x.shape[-1])
    value, _ = run(loss_with(costs), x, y, reduction="none", validate=False)
    generic, _ = run(loss_with(costs), x, y, reduction="none", validate=False, mode="off")
    np.testing.assert_array_equal(np.isnan(value), np.isnan(generic))
    assert np.isnan(value[[1, 3]]).all() and np.isfinite(np.delete(value, [1, 3])).all()
    np.testing.assert_allclose(np.delete(value, [1, 3]), np.delete(generic, [1, 3]), rtol=2e-5)


def _message(call, mode, monkeypatch):
    monkeypatch.setenv("WXENT_KERNELS", mode)
    with pytest.raises(ValueError) as err:
        call()
    return str(err.value)


def error_inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits (requiring a gradient), valid labels and a cost matrix, as torch tensors."""
    x, y, _, _ = softmax_data(seed=seed)
    xt = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    return xt, torch.where(y < 0, 0, y), torch.tensor(costs_for(x.shape[-1]), dtype=torch.float32)


def test_expected_cost_errors_are_the_generic_paths(monkeypatch):
    xt, y, costs = error_inputs(7)
    bad_labels = y.clone()
    bad_labels[2] = xt.shape[-1]
    nan_costs = costs.clone()
    nan_costs[1, 2] = math.nan
    empty_row = xt.detach().clone()
    empty_row[4] = -math.inf
    calls = {
        "labels": lambda: wxent.expected_cost_loss(xt, bad_labels, costs),
        "costs": lambda: wxent.expected_cost_loss(xt, y, -costs),
        "NaN costs": lambda: wxent.expected_cost_loss(xt, y, nan_costs),
        "sample_weight": lambda: wxent.expected_cost_loss(
            xt, y, costs, sample_weight=torch.tensor([1.0, -1.0, 1.0, 1.0, 1.0])
        ),
        "logits": lambda: wxent.expected_cost_loss(empty_row, y, costs),
    }
    for name, call in calls.items():
        select.LAUNCHES.clear()
        fast = _message(call, "triton", monkeypatch)
        assert select.LAUNCHES["expected_cost_loss"] == 1, name
        assert fast == _message(call, "off", monkeypatch), name


def test_expected_cost_second_order_reruns_the_generic_path():
    x, y, cw, _ = softmax_data(seed=8)
    costs = torch.tensor(costs_for(x.shape[-1]), dtype=torch.float64)
    grads = {}
    for mode in ("triton", "off"):
        import os

        os.environ["WXENT_KERNELS"] = mode
        try:
            xt = torch.tensor(x, dtype=torch.float32, requires_grad=True)
            loss = wxent.expected_cost_loss(xt, y, costs, ignore_index=-100, class_weight=cw)
            (g,) = torch.autograd.grad(loss, xt, create_graph=True)
            (gg,) = torch.autograd.grad((g * g).sum(), xt)
        finally:
            os.environ["WXENT_KERNELS"] = "triton"
        grads[mode] = (g.detach().double().numpy(), gg.double().numpy())
    for a, b in zip(grads["triton"], grads["off"], strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-7)
    assert select.LAUNCHES["expected_cost_loss"] == 1


def test_a_checked_expected_cost_queues_its_gradient_pass_at_its_flag_read():
    x, y, cw, _ = softmax_data(seed=9)
    costs = torch.tensor(costs_for(x.shape[-1]), dtype=torch.float32)
    xt = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    loss = wxent.expected_cost_loss(xt, y, costs, class_weight=cw, ignore_index=-100)
    assert select.LAUNCHES["expected_cost_loss_backward"] == 1  # before backward
    loss.backward()
    assert select.LAUNCHES["expected_cost_loss_backward"] == 1
    expected = run(loss_with(costs.numpy()), x, y, class_weight=cw, ignore_index=-100, mode="off")
    np.testing.assert_allclose(xt.grad.numpy(), expected[1], rtol=1e-5, atol=1e-7)


def test_probability_labels_and_other_class_axes_take_the_generic_path():
    x, y, _, _ = softmax_data(seed=10)
    y = torch.where(y < 0, 0, y)
    costs = torch.tensor(costs_for(x.shape[-1]), dtype=torch.float32)
    soft = torch.softmax(torch.tensor(x, dtype=torch.float32), -1)
    wxent.expected_cost_loss(torch.tensor(x, dtype=torch.float32), soft, costs)
    wxent.expected_cost_loss(torch.tensor(x.T.copy(), dtype=torch.float32), y, costs, class_axis=0)
    assert select.LAUNCHES["expected_cost_loss"] == 0


# --------------------------------------------------------------- cost-sensitive cross-entropy


def sensitive_with(costs: np.ndarray, cost_weight: float = 0.7):
    """``cost_sensitive_cross_entropy`` with ``costs`` (a torch tensor) and ``cost_weight``."""
    matrix = torch.tensor(costs, dtype=torch.float32)

    def loss(x, y, **kw):
        return wxent.cost_sensitive_cross_entropy(x, y, matrix, cost_weight=cost_weight, **kw)

    return loss


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("weights", ["none", "both"])
@pytest.mark.parametrize("validate", [True, False], ids=["checked", "unchecked"])
@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_cost_sensitive_every_option(reduction, eps, weights, validate, bf16):
    x, y, cw, sw = softmax_data(seed=12)
    kw = {"reduction": reduction, "ignore_index": -100, "label_smoothing": eps}
    kw["validate"] = validate
    if weights == "both":
        kw.update(class_weight=cw, sample_weight=torch.tensor(sw, dtype=torch.float32))
    check(sensitive_with(costs_for(x.shape[-1])), x, y, bf16=bf16, **kw)
    assert select.LAUNCHES["cost_sensitive_cross_entropy"] == 1
    assert select.LAUNCHES["cost_sensitive_cross_entropy_backward"] == 1


def test_cost_sensitive_is_the_sum_of_its_terms_and_its_limits_the_generic_ones():
    x, y, cw, _ = softmax_data(seed=13)
    y = torch.where(y < 0, 0, y)
    x[0, [2, 9]] = math.inf
    x[1, ::2] = -math.inf
    costs = costs_for(x.shape[-1])
    kw = {"reduction": "none", "class_weight": cw, "label_smoothing": 0.1}
    value, grad = check(sensitive_with(costs, 2.5), x, y, **kw)
    ce = run(wxent.softmax_cross_entropy, x, y, **kw)
    ec = run(loss_with(costs), x, y, reduction="none", class_weight=cw)
    np.testing.assert_allclose(value, ce[0] + 2.5 * ec[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, ce[1] + 2.5 * ec[1], rtol=1e-5, atol=1e-6)
    assert not grad[0].any()  # the +inf limit
    empty = x.copy()
    empty[3, :] = -math.inf
    unchecked = {**kw, "validate": False}
    value, grad = run(sensitive_with(costs), empty, y, **unchecked)
    generic = run(sensitive_with(costs), empty, y, mode="off", **unchecked)
    np.testing.assert_array_equal(np.isnan(value), np.isnan(generic[0]))
    np.testing.assert_array_equal(np.isnan(grad), np.isnan(generic[1]))
    assert np.isnan(value[3]) and not np.isnan(np.delete(value, 3)).any()
    np.testing.assert_allclose(np.delete(value, 3), np.delete(generic[0], 3), rtol=2e-5)


def test_cost_sensitive_with_cost_weight_zero_is_the_cross_entropy_kernel():
    x, y, _, _ = softmax_data(seed=14)
    value, _ = check(sensitive_with(costs_for(x.shape[-1]), 0.0), x, y, ignore_index=-100)
    assert select.LAUNCHES["softmax_cross_entropy"] == 1
    assert select.LAUNCHES["cost_sensitive_cross_entropy"] == 0
    ce, _ = run(wxent.softmax_cross_entropy, x, y, ignore_index=-100)
    np.testing.assert_array_equal(value, ce)


def test_cost_sensitive_errors_are_the_generic_paths(monkeypatch):
    xt, y, costs = error_inputs(15)
    bad_labels = y.clone()
    bad_labels[0] = -3
    nan_logit = xt.detach().clone()
    nan_logit[1, 3] = math.nan
    loss = wxent.cost_sensitive_cross_entropy
    calls = {
        "labels": lambda: loss(xt, bad_labels, costs),
        "costs": lambda: loss(xt, y, -costs),
        "NaN logit": lambda: loss(nan_logit, y, costs),
    }
    for name, call in calls.items():
        select.LAUNCHES.clear()
        fast = _message(call, "triton", monkeypatch)
        assert select.LAUNCHES["cost_sensitive_cross_entropy"] == 1, name
        assert fast == _message(call, "off", monkeypatch), name
