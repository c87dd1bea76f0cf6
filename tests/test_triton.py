"""The Triton kernels, run by Triton's interpreter on CPU tensors (``TRITON_INTERPRET=1``).

``WXENT_KERNELS=triton`` forces the kernels; every value and gradient is compared with
the generic path (``WXENT_KERNELS=off``) on the same input and with the generic path in
float64, and the launch counter proves that the kernel ran. Sizes are small (the
interpreter runs every program in Python); ``MAX_BLOCK`` is lowered so that the loops
over the classes take several blocks.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import triton  # (a missing triton is a failure, not a skip)

import wxent
from device_ops import DeviceOps
from focal_cases import clip_case
from wxent._fastpaths import (
    select,
    triton_common,
    triton_sigmoid,
    triton_softmax,
    triton_softmax_focal,
)

ROOT = Path(__file__).resolve().parents[1]
REDUCTIONS = ["none", "sum", "mean", "weighted_mean"]


@pytest.fixture(autouse=True)
def _interpreter(monkeypatch):
    assert os.environ.get("TRITON_INTERPRET") == "1", "tests/conftest.py sets it"
    monkeypatch.setenv("WXENT_KERNELS", "triton")
    monkeypatch.setattr(triton_softmax, "MAX_BLOCK", 16)
    monkeypatch.setattr(triton_softmax, "ROW_TILE", 32)  # two rows per program
    monkeypatch.setattr(triton_softmax, "BACKWARD_BLOCK", 16)
    monkeypatch.setattr(triton_softmax_focal, "MAX_BLOCK", 16)
    monkeypatch.setattr(triton_common, "ELEMENT_BLOCK", 64)
    monkeypatch.setattr(triton_common, "SCALE_PROGRAMS", 2)  # loops over several blocks
    monkeypatch.setattr(triton_sigmoid, "TILE_ELEMENTS", 64)
    select.LAUNCHES.clear()


def run(loss, x, *args, mode="triton", upstream=None, dtype=None, **kw):
    """Value and gradient of ``loss`` at ``x`` under ``WXENT_KERNELS=mode``."""
    old = os.environ["WXENT_KERNELS"]
    os.environ["WXENT_KERNELS"] = mode
    try:
        xt = torch.tensor(x, dtype=dtype or torch.float32).requires_grad_(True)
        out = loss(xt, *args, **kw)
        g = torch.ones_like(out) if upstream is None else upstream(out)
        (grad,) = torch.autograd.grad(out, xt, g)
    finally:
        os.environ["WXENT_KERNELS"] = old
    return out.detach().double().numpy(), grad.double().numpy()


def check(loss, x, *args, bf16=False, **kw):
    """Triton == generic (same dtype) and ~ float64; returns the Triton result."""
    before = sum(select.LAUNCHES.values())
    dtype = torch.bfloat16 if bf16 else torch.float32
    fast = run(loss, x, *args, dtype=dtype, **kw)
    assert sum(select.LAUNCHES.values()) > before, "the kernel did not run"
    generic = run(loss, x, *args, mode="off", dtype=dtype, **kw)
    exact = run(loss, x, *args, mode="off", dtype=torch.float64, **kw)
    tol = {"rtol": 2e-2, "atol": 2e-2} if bf16 else {"rtol": 2e-5, "atol": 2e-6}
    for a, b in zip(fast, generic, strict=True):
        np.testing.assert_allclose(a, b, **tol)
    if not bf16:
        for a, b in zip(fast, exact, strict=True):
            np.testing.assert_allclose(a, b, **tol)
    return fast


def softmax_data(shape=(5, 37), seed=0):
    rng = np.random.default_rng(seed)
    x = 3 * rng.normal(size=shape)
    y = rng.integers(0, shape[-1], shape[:-1])
    y.reshape(-1)[1] = -100
    return x, torch.tensor(y), rng.uniform(0.2, 3.0, shape[-1]), rng.uniform(0, 2, shape[:-1])


# ----------------------------------------------------------------------------- softmax CE


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("weights", ["none", "both"])
@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_softmax_ce_every_option(reduction, eps, weights, bf16):
    x, y, cw, sw = softmax_data()
    kw = {"reduction": reduction, "label_smoothing": eps, "ignore_index": -100}
    if weights in ("class", "both"):
        kw["class_weight"] = cw
    if weights in ("sample", "both"):
        kw["sample_weight"] = torch.tensor(sw, dtype=torch.float32)
    check(wxent.softmax_cross_entropy, x, y, bf16=bf16, **kw)
    assert select.LAUNCHES["softmax_cross_entropy"] == 1


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_softmax_ce_row_of_only_negative_infinity_is_nan_as_on_the_generic_path(eps):
    # Unchecked, a row without a finite logit has no softmax: loss and gradient NaN, as
    # on the generic path (the kernel formed inf - inf there, which the interpreter's
    # warning turned into a failure that set the kernel aside).
    x, y, _, _ = softmax_data(seed=11)
    x[2, :] = -np.inf
    kw = {"ignore_index": -100, "label_smoothing": eps, "reduction": "none", "validate": False}
    value, grad = run(wxent.softmax_cross_entropy, x, y, **kw)
    generic = run(wxent.softmax_cross_entropy, x, y, mode="off", **kw)
    assert select.LAUNCHES["softmax_cross_entropy"] == 1
    assert np.isnan(value[2]) and np.isnan(grad[2]).all()
    np.testing.assert_array_equal(np.isnan(value), np.isnan(generic[0]))
    np.testing.assert_array_equal(np.isnan(grad), np.isnan(generic[1]))
    rest = np.arange(len(value)) != 2
    np.testing.assert_allclose(value[rest], generic[0][rest], rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(grad[rest], generic[1][rest], rtol=2e-5, atol=2e-6)


def test_softmax_ce_without_ignore_and_one_kind_of_weight():
    x, y, cw, sw = softmax_data(shape=(2, 3, 21), seed=1)
    y = torch.where(y < 0, 0, y)
    for reduction in REDUCTIONS:
        for weights in ({"class_weight": 2.0, "sample_weight": 0.5}, {"class_weight": cw}):
            check(wxent.softmax_cross_entropy, x, y, reduction=reduction, **weights)
        check(wxent.softmax_cross_entropy, x, y, reduction=reduction, sample_weight=sw)


@pytest.mark.parametrize("validate", [True, False], ids=["eager-gradient", "backward-pass"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_softmax_ce_upstream_gradient(reduction, validate):
    x, y, cw, _ = softmax_data(seed=2)

    def upstream(out):
        if out.ndim == 0:
            return torch.tensor(-2.5, dtype=out.dtype)
        return torch.linspace(-1.0, 3.0, out.numel(), dtype=out.dtype).reshape(out.shape)

    check(
        wxent.softmax_cross_entropy,
        x,
        y,
        class_weight=cw,
        ignore_index=-100,
        reduction=reduction,
        upstream=upstream,
        validate=validate,
    )
    assert select.LAUNCHES["softmax_cross_entropy_backward"] == 1
    # A checked call computes the gradient in its forward pass and rescales it after.
    assert select.LAUNCHES["scale"] == int(validate)


def test_softmax_ce_infinite_logits_on_the_wrong_side_cost_nothing():
    x, y, _, _ = softmax_data(seed=3)
    y = torch.where(y < 0, 0, y)
    x[np.arange(5), (y.numpy() + 1) % 37] = -np.inf
    for eps in (0.0, 0.3):
        value, grad = check(wxent.softmax_cross_entropy, x, y, label_smoothing=eps)
        assert np.isfinite(grad).all()
        assert np.isfinite(value).all() == (eps == 0.0)


@pytest.mark.parametrize("lanes", [True, False], ids=["per-lane", "per-row"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_softmax_ce_both_online_sums(monkeypatch, lanes, reduction, bf16):
    monkeypatch.setattr(triton_softmax, "LANES", lanes)
    x, y, cw, sw = softmax_data(shape=(7, 45), seed=12)
    x[2] -= 500.0  # a row far below 0: its running sum must not overflow
    kw = {"class_weight": cw, "sample_weight": torch.tensor(sw, dtype=torch.float32)}
    check(wxent.softmax_cross_entropy, x, y, ignore_index=-100, reduction=reduction,
          label_smoothing=0.1, bf16=bf16, **kw)  # fmt: skip


@pytest.mark.parametrize("lanes", [True, False], ids=["per-lane", "per-row"])
@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_softmax_ce_rows_holding_inf_take_their_limit(monkeypatch, lanes, eps):
    monkeypatch.setattr(triton_softmax, "LANES", lanes)
    x, y, cw, _ = softmax_data(seed=11)
    y = torch.where(y < 0, 0, y)
    yy = y.numpy()
    x[0, yy[0]] = np.inf  # on the target: loss 0 (without smoothing), gradient 0
    x[1, (yy[1] + 1) % 37] = np.inf  # elsewhere: an infinite loss, gradient 0
    x[2, [yy[2], (yy[2] + 1) % 37]] = np.inf  # the target among two: log 2
    x[3, :5] = -np.inf
    with np.errstate(all="ignore"):  # the interpreter's NumPy meets inf - inf
        value, grad = check(
            wxent.softmax_cross_entropy, x, y, class_weight=cw, label_smoothing=eps,
            reduction="none",
        )  # fmt: skip
    assert np.all(grad[:3] == 0.0) and np.isfinite(grad).all()
    if eps == 0.0:
        np.testing.assert_allclose(value[[0, 2]], [0.0, cw[yy[2]] * np.log(2.0)], rtol=1e-6)
    assert value[1] == np.inf


def test_softmax_ce_zero_weight_on_an_infinite_loss_counts_nothing():
    x, y, _, _ = softmax_data(seed=13)
    y = torch.where(y < 0, 0, y)
    yy = y.numpy()
    x[0, yy[0]] = -np.inf  # an infinite loss ...
    sw = np.ones(5, dtype=np.float32)
    sw[0] = 0.0  # ... that does not count
    for reduction in REDUCTIONS:
        value, grad = run(
            wxent.softmax_cross_entropy, x, y, sample_weight=torch.tensor(sw),
            reduction=reduction,
        )  # fmt: skip
        assert np.isfinite(value).all() and np.isfinite(grad).all()
        assert np.all(grad[0] == 0.0)


def test_softmax_ce_a_row_of_only_minus_inf_is_an_error():
    x, y, _, _ = softmax_data(seed=14)
    y = torch.where(y < 0, 0, y)
    x[1] = -np.inf
    with np.errstate(all="ignore"), pytest.raises(ValueError, match="logits"):
        wxent.softmax_cross_entropy(torch.tensor(x, dtype=torch.float32), y)
    assert select.LAUNCHES["softmax_cross_entropy"] == 1


def test_softmax_ce_nothing_valid_is_zero():
    x, _, cw, _ = softmax_data(seed=4)
    y = torch.full((5,), -1)
    for reduction in ("mean", "weighted_mean"):
        value, grad = check(
            wxent.softmax_cross_entropy,
            x,
            y,
            class_weight=cw,
            ignore_index=-1,
            reduction=reduction,
        )
        assert value == 0.0 and not grad.any()


def test_softmax_ce_nan_logits_give_nan_and_bad_labels_stay_in_bounds():
    x, y, _, _ = softmax_data(seed=5)
    y = torch.where(y < 0, 0, y)
    x[0, 3] = np.nan
    value, _ = run(wxent.softmax_cross_entropy, x, y, validate=False)
    assert np.isnan(value)
    x[0, 3] = 0.0
    bad = y.clone()
    bad[0], bad[1] = 10**9, -(10**9)  # clamped inside the kernel: no read outside the row
    value, grad = run(wxent.softmax_cross_entropy, x, bad, validate=False, reduction="none")
    assert np.isnan(value[:2]).all() and np.isfinite(value[2:]).all()  # NaN, never a
    assert np.isfinite(grad).all()  # gathered neighbour: the generic path's result


@pytest.mark.parametrize(
    "loss",
    [
        wxent.softmax_cross_entropy,
        wxent.softmax_focal_loss,
        lambda x, y, **kw: wxent.expected_cost_loss(x, y, 1 - torch.eye(37), **kw),
        lambda x, y, **kw: wxent.cost_sensitive_cross_entropy(x, y, 1 - torch.eye(37), **kw),
    ],
    ids=["softmax_ce", "softmax_focal", "expected_cost", "cost_sensitive"],
)
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_unchecked_labels_outside_the_classes_give_nan_as_on_the_generic_path(loss, reduction):
    # validate=False: nothing raises; a label -1 or C makes its loss NaN (its gradient 0)
    # on the kernels as on the generic path, never the loss of a clamped class
    x, y, _, _ = softmax_data(seed=6)
    y = torch.where(y < 0, 0, y)
    y[1], y[3] = -1, 37
    before = sum(select.LAUNCHES.values())
    fast = run(loss, x, y, validate=False, reduction=reduction)
    assert sum(select.LAUNCHES.values()) > before, "the kernel did not run"
    generic = run(loss, x, y, mode="off", validate=False, reduction=reduction)
    assert np.isnan(fast[0]).any()
    for a, b in zip(fast, generic, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)  # NaN where NaN
    if reduction == "none":
        assert np.isnan(fast[0][[1, 3]]).all() and np.isfinite(np.delete(fast[0], [1, 3])).all()
        assert (fast[1][[1, 3]] == 0).all()


def test_softmax_ce_noncontiguous_and_3d_logits():
    x, y, cw, _ = softmax_data(shape=(4, 3, 19), seed=6)

    def loss(t, labels, **kw):
        return wxent.softmax_cross_entropy(t.transpose(0, 1), labels.transpose(0, 1), **kw)

    check(loss, x, y, class_weight=cw, ignore_index=-100, reduction="weighted_mean")


def test_softmax_ce_inplace_backward_writes_the_gradient_into_the_logits():
    x, y, cw, _ = softmax_data(seed=7)
    kw = {"class_weight": cw, "ignore_index": -100, "reduction": "weighted_mean"}
    expected_value, expected_grad = run(wxent.softmax_cross_entropy, x, y, mode="off", **kw)
    leaf = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    logits = leaf * 1.0  # a layer's output, not a leaf
    loss = wxent.softmax_cross_entropy(logits, y, inplace_backward=True, **kw)
    np.testing.assert_allclose(loss.item(), expected_value, rtol=1e-6)
    # The forward pass leaves the logits as they are; the backward pass writes the
    # gradient over them: no buffer beyond them.
    np.testing.assert_array_equal(logits.detach().numpy(), np.float32(x))
    loss.backward()
    np.testing.assert_allclose(logits.detach().numpy(), expected_grad, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(leaf.grad.numpy(), expected_grad, rtol=1e-5, atol=1e-7)
    # A leaf is never overwritten: the option then uses a separate buffer.
    leaf2 = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    wxent.softmax_cross_entropy(leaf2, y, inplace_backward=True, **kw).backward()
    np.testing.assert_array_equal(leaf2.detach().numpy(), np.float32(x))
    np.testing.assert_allclose(leaf2.grad.numpy(), expected_grad, rtol=1e-5, atol=1e-7)
    with pytest.raises(TypeError, match="inplace_backward"):
        wxent.softmax_cross_entropy(leaf2, y, inplace_backward="yes", ignore_index=-100)


def test_softmax_ce_no_grad_skips_the_gradient_pass():
    x, y, _, _ = softmax_data(seed=8)
    y = torch.where(y < 0, 0, y)
    with torch.no_grad():
        value = wxent.softmax_cross_entropy(torch.tensor(x, dtype=torch.float32), y)
    os.environ["WXENT_KERNELS"] = "off"
    expected = wxent.softmax_cross_entropy(torch.tensor(x, dtype=torch.float32), y)
    np.testing.assert_allclose(value.numpy(), expected.numpy(), rtol=1e-6)


# ----------------------------------------------------------------------------- softmax focal


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_softmax_focal_every_option(reduction, gamma, eps):
    x, y, cw, sw = softmax_data(seed=11)
    check(
        wxent.softmax_focal_loss,
        x,
        y,
        gamma=gamma,
        class_weight=cw,
        sample_weight=torch.tensor(sw, dtype=torch.float32),
        label_smoothing=eps,
        ignore_index=-100,
        reduction=reduction,
    )
    assert select.LAUNCHES["softmax_focal_loss"] == 1


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
@pytest.mark.parametrize("validate", [True, False], ids=["checked", "unchecked"])
def test_softmax_focal_denominator_shares_are_summed_by_the_kernels(monkeypatch, validate, bf16):
    # The denominator pass writes one share per block of rows; the loss kernel and the
    # reduction sum them (several blocks and several loops of shares here): no torch sum.
    monkeypatch.setattr(triton_softmax_focal, "DENOMINATOR_ROWS", 2)
    monkeypatch.setattr(triton_softmax_focal, "DENOMINATOR_SHARES", 2)
    x, y, cw, sw = softmax_data(shape=(11, 19), seed=13)
    for reduction in ("mean", "weighted_mean"):
        check(
            wxent.softmax_focal_loss,
            x,
            y,
            gamma=2.0,
            class_weight=cw,
            sample_weight=torch.tensor(sw, dtype=torch.float32),
            ignore_index=-100,
            reduction=reduction,
            validate=validate,
            bf16=bf16,
        )
    xt = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    with DeviceOps() as ops:
        wxent.softmax_focal_loss(xt, y, ignore_index=-100, validate=validate).backward()
    assert ops.kernels["_denominator_kernel"] == 1 and "sum" not in ops.ops, ops.report()


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_softmax_focal_bf16_and_upstream_gradient(gamma):
    x, y, cw, _ = softmax_data(shape=(2, 3, 21), seed=12)
    y = torch.where(y < 0, 0, y)

    def upstream(out):
        return torch.linspace(-1.0, 3.0, out.numel(), dtype=out.dtype).reshape(out.shape)

    check(wxent.softmax_focal_loss, x, y, gamma=gamma, class_weight=cw, bf16=True)
    check(wxent.softmax_focal_loss, x, y, gamma=gamma, reduction="none", upstream=upstream)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_softmax_focal_extreme_logits_stay_finite(gamma):
    x, y, _, _ = softmax_data(seed=13)
    y = torch.where(y < 0, 0, y)
    yn = y.numpy()
    x[0, yn[0]] = 200.0  # p_y rounds to 1: log(1 - p_y) from the other classes
    x[1] = -np.inf  # a single finite logit: p_y = 1 exactly
    x[1, yn[1]] = 1.0
    x[2, (yn[2] + 1) % 37] = -np.inf  # a class with probability 0
    x[3, (yn[3] + 1) % 37] = x[3, yn[3]] = 5.0  # tied maxima
    value, grad = run(wxent.softmax_focal_loss, x, y, gamma=gamma, reduction="none")
    assert np.isfinite(value).all() and np.isfinite(grad).all()
    assert value[1] == 0.0 and not grad[1].any()
    generic, generic_grad = run(
        wxent.softmax_focal_loss, x, y, gamma=gamma, reduction="none", mode="off"
    )
    np.testing.assert_allclose(value, generic, rtol=2e-5, atol=1e-30)
    rows = np.isfinite(generic_grad).all(axis=1)  # (the generic autodiff is NaN in row 1)
    np.testing.assert_allclose(grad[rows], generic_grad[rows], rtol=2e-5, atol=2e-6)
    smoothed, _ = run(wxent.softmax_focal_loss, x, y, gamma=gamma, label_smoothing=0.1)
    assert smoothed == np.inf  # -inf logits cost inf under smoothing, as on the generic path


# ----------------------------------------------------------------------------- sigmoid family

SIGMOID_LOSSES = {
    "ce": (wxent.sigmoid_cross_entropy, {}),
    "focal": (wxent.sigmoid_focal_loss, {"alpha": 0.25}),
    "focal-gamma-0.5": (wxent.sigmoid_focal_loss, {"gamma": 0.5, "alpha": "per-class"}),
    "asymmetric": (wxent.asymmetric_loss, {}),
    "asymmetric-no-clip": (wxent.asymmetric_loss, {"gamma_pos": 1.0, "clip": 0.0}),
    "asymmetric-gamma-0.5": (wxent.asymmetric_loss, {"gamma_neg": 0.5, "clip": 0.2}),
}


def sigmoid_data(shape=(6, 11), seed=0):
    rng = np.random.default_rng(seed)
    x = 3 * rng.normal(size=shape)
    z = (rng.uniform(size=shape) < 0.3).astype(np.float32)
    z[0, :3] = -1.0
    per_class = rng.uniform(0.2, 3.0, shape[-1])
    return x, torch.tensor(z), per_class, rng.uniform(0, 2, shape[:-1])


def sigmoid_options(name, per_class):
    loss, options = SIGMOID_LOSSES[name]
    options = dict(options)
    if options.get("alpha") == "per-class":
        options["alpha"] = per_class / per_class.max()
    return loss, options


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", list(SIGMOID_LOSSES))
@pytest.mark.parametrize("validate", [True, False], ids=["checked", "unchecked"])
def test_sigmoid_family_every_option(name, reduction, validate):
    x, z, per_class, sw = sigmoid_data()
    loss, options = sigmoid_options(name, per_class)
    weights = {"pos_weight": per_class, "neg_weight": per_class[::-1].copy()}
    check(
        loss,
        x,
        z,
        sample_weight=torch.tensor(sw, dtype=torch.float32),
        label_smoothing=0.1,
        ignore_label=-1.0,
        reduction=reduction,
        validate=validate,
        **weights,
        **options,
    )
    # Checked or not, a call writes its gradient in the loss pass, already divided: one
    # read of the logits, its denominator first (from the labels and weights alone).
    assert select.LAUNCHES["sigmoid_family"] == 1
    divides = reduction in ("mean", "weighted_mean")
    assert select.LAUNCHES["sigmoid_denominator"] == divides


@pytest.mark.parametrize("name", list(SIGMOID_LOSSES))
@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_sigmoid_family_without_smoothing_and_ignore(name, bf16):
    x, z, per_class, _ = sigmoid_data(shape=(2, 3, 7), seed=1)
    z = torch.where(z < 0, 0.0, z)
    loss, options = sigmoid_options(name, per_class[:7])
    sw = np.random.default_rng(2).uniform(0, 2, (2, 3, 7))
    for reduction in ("none", "weighted_mean"):
        check(
            loss,
            x,
            z,
            pos_weight=2.0,
            sample_weight=torch.tensor(sw, dtype=torch.float32),
            reduction=reduction,
            bf16=bf16,
            **options,
        )


@pytest.mark.parametrize("alpha", [0.25, 0.1, 0, 1])
@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_sigmoid_focal_number_alpha_is_a_kernel_argument(alpha, bf16):
    # A Python-number alpha reaches the kernel as two scalars (no tensor is built): the
    # values and gradients stay the generic path's, with and without the class weights.
    x, z, per_class, sw = sigmoid_data(seed=6)
    weights = [{}, {"pos_weight": per_class}, {"neg_weight": 2.0}]
    for reduction, kw in itertools.product(REDUCTIONS, weights):
        check(
            wxent.sigmoid_focal_loss,
            x,
            z,
            alpha=alpha,
            ignore_label=-1.0,
            sample_weight=torch.tensor(sw, dtype=torch.float32),
            reduction=reduction,
            bf16=bf16,
            **kw,
        )


@pytest.mark.parametrize("validate", [True, False], ids=["checked", "unchecked"])
def test_sigmoid_family_denominator_shares_come_with_the_loss_pass(validate):
    # Without a gradient (forward only) the denominator's shares are written by the loss
    # pass and summed by the reduction: no denominator pass.
    x, z, per_class, sw = sigmoid_data(seed=7)
    kw = {"pos_weight": per_class, "sample_weight": torch.tensor(sw, dtype=torch.float32)}
    kw.update(ignore_label=-1.0, validate=validate)
    for reduction in ("mean", "weighted_mean"):
        values = {}
        for mode in ("triton", "off"):
            os.environ["WXENT_KERNELS"] = mode
            with torch.no_grad():
                xt = torch.tensor(x, dtype=torch.float32)
                out = wxent.sigmoid_focal_loss(xt, z, reduction=reduction, **kw)
            values[mode] = out.double().numpy()
        os.environ["WXENT_KERNELS"] = "triton"
        np.testing.assert_allclose(values["triton"], values["off"], rtol=2e-5, atol=2e-6)
    assert select.LAUNCHES["sigmoid_family"] == 2
    assert select.LAUNCHES["sigmoid_denominator"] == 0
    # Every label ignored: the loss 0 / 0 is 0, and so is its gradient.
    ignored = torch.full_like(z, -1.0)
    for reduction in ("mean", "weighted_mean"):
        kw = {"ignore_label": -1.0, "reduction": reduction, "validate": validate}
        value, grad = run(wxent.sigmoid_cross_entropy, x, ignored, **kw)
        assert value == 0.0 and not grad.any()
        generic = run(wxent.sigmoid_cross_entropy, x, ignored, mode="off", **kw)
        assert generic[0] == 0.0 and not generic[1].any()


def test_sigmoid_family_label_dtypes_and_upstream_gradient():
    x, z, _, _ = sigmoid_data(seed=3)
    hard = torch.where(z < 0, 0.0, z)

    def upstream(out):
        if out.ndim == 0:
            return torch.tensor(0.5, dtype=out.dtype)
        return torch.linspace(-1.0, 3.0, out.numel(), dtype=out.dtype).reshape(out.shape)

    for labels in (hard.bool(), hard.to(torch.int32), hard.double()):
        for reduction in ("none", "mean"):
            check(
                wxent.sigmoid_focal_loss,
                x,
                labels,
                sample_weight=0.5,
                reduction=reduction,
                upstream=upstream,
            )
    assert select.LAUNCHES["scale"] == 6


@pytest.mark.parametrize("name", list(SIGMOID_LOSSES))
def test_sigmoid_family_infinite_logits_on_the_target_side_cost_nothing(name):
    x, z, per_class, _ = sigmoid_data(seed=4)
    z = torch.where(z < 0, 0.0, z)
    x = np.where(z.numpy() == 1, np.inf, -np.inf)
    loss, options = sigmoid_options(name, per_class)
    kw = {"reduction": "none", "pos_weight": per_class, **options}
    value, grad = run(loss, x, z, **kw)
    assert select.LAUNCHES["sigmoid_family"] == 1  # loss and gradient in one pass
    # The exact limits: no cost, and a zero gradient (the generic path's autodiff of the
    # modulated losses gives NaN gradients there; the kernel's are the limits).
    assert not value.any() and not grad.any()
    np.testing.assert_array_equal(value, run(loss, x, z, mode="off", **kw)[0])


def test_sigmoid_family_nan_logits_give_nan():
    x, z, _, _ = sigmoid_data(seed=5)
    x[2, 2] = np.nan
    for name, (loss, options) in SIGMOID_LOSSES.items():
        options = {k: val for k, val in options.items() if k != "alpha"}
        value, _ = run(loss, x, z, ignore_label=-1.0, validate=False, **options)
        generic, _ = run(loss, x, z, ignore_label=-1.0, validate=False, mode="off", **options)
        # As on the generic path (the asymmetric loss's clip drops a NaN negative).
        assert np.isnan(value) == np.isnan(generic)
        assert np.isnan(value) or name.startswith("asymmetric")


# ----------------------------------------------------------------------------- selection


def test_selection_modes(monkeypatch):
    x, y, _, _ = softmax_data(seed=9)
    xt = torch.tensor(x, dtype=torch.float32)
    y = torch.where(y < 0, 0, y)
    for mode_name in ("off", "auto"):  # auto: CPU tensors never take the kernels
        monkeypatch.setenv("WXENT_KERNELS", mode_name)
        wxent.softmax_cross_entropy(xt, y)
    assert not select.LAUNCHES
    monkeypatch.setenv("WXENT_KERNELS", "triton")
    wxent.softmax_cross_entropy(xt.double(), y)  # float64: the generic path
    wxent.softmax_cross_entropy(xt.T, y, class_axis=0)  # classes not on the last axis
    assert not select.LAUNCHES
    monkeypatch.setenv("TRITON_INTERPRET", "0")  # a CPU tensor needs the interpreter
    wxent.softmax_cross_entropy(xt, y)
    assert not select.LAUNCHES
    monkeypatch.setenv("WXENT_KERNELS", "fast")
    with pytest.raises(ValueError, match="WXENT_KERNELS"):
        wxent.softmax_cross_entropy(xt, y)


def test_compiled_losses_never_take_the_kernels():
    x, y, cw, _ = softmax_data(seed=10)
    y = torch.where(y < 0, 0, y)
    xt = torch.tensor(x, dtype=torch.float32, requires_grad=True)

    def f(t):
        return wxent.softmax_cross_entropy(t, y, class_weight=cw, label_smoothing=0.1)

    torch._dynamo.reset()
    compiled = torch.compile(f, fullgraph=True, backend="eager")
    value = compiled(xt)
    value.backward()
    assert not select.LAUNCHES
    os.environ["WXENT_KERNELS"] = "off"
    np.testing.assert_allclose(value.item(), f(xt).item(), rtol=1e-6)


def test_a_kernel_triton_cannot_run_leaves_the_call_to_the_generic_path(monkeypatch):
    class CompileFailure(Exception):
        pass

    CompileFailure.__module__ = "triton.compiler.errors"

    def broken(*args, **kwargs):
        raise CompileFailure("no such instruction on this GPU")

    monkeypatch.setattr(select, "_BROKEN", set())
    monkeypatch.setattr(triton_softmax, "_forward", broken)
    x, y, cw, _ = softmax_data(seed=14)
    y = torch.where(y < 0, 0, y)
    with pytest.warns(RuntimeWarning, match="softmax_cross_entropy"):
        value, grad = run(wxent.softmax_cross_entropy, x, y, class_weight=cw)
    expected = run(wxent.softmax_cross_entropy, x, y, class_weight=cw, mode="off")
    np.testing.assert_allclose(value, expected[0], rtol=1e-6)
    np.testing.assert_allclose(grad, expected[1], rtol=1e-6)
    run(wxent.softmax_cross_entropy, x, y)  # no second warning: the kernel is known broken

    # Triton's compiler passes raise a plain RuntimeError from Triton's own code (seen on
    # an H100 with Triton 3.6: "PassManager::run failed"): Triton's too.
    namespace: dict = {}
    where = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "compiler.py")
    code = "def make_ttgir(*args, **kwargs):\n    raise RuntimeError('PassManager::run failed')"
    exec(compile(code, where, "exec"), namespace)
    monkeypatch.setattr(select, "_BROKEN", set())
    monkeypatch.setattr(triton_softmax, "_forward", namespace["make_ttgir"])
    with pytest.warns(RuntimeWarning, match="PassManager"):
        value, grad = run(wxent.softmax_cross_entropy, x, y, class_weight=cw)
    np.testing.assert_allclose(value, expected[0], rtol=1e-6)
    np.testing.assert_allclose(grad, expected[1], rtol=1e-6)

    def failing(*args, **kwargs):
        raise MemoryError("out of memory")  # not Triton's: propagates

    monkeypatch.setattr(select, "_BROKEN", set())
    monkeypatch.setattr(triton_softmax, "_forward", failing)
    with pytest.raises(MemoryError):
        run(wxent.softmax_cross_entropy, x, y)

    def wrong(*args, **kwargs):
        raise RuntimeError("a bug of wxent's own")  # raised outside Triton: propagates

    monkeypatch.setattr(select, "_BROKEN", set())
    monkeypatch.setattr(triton_softmax, "_forward", wrong)
    with pytest.raises(RuntimeError, match="own"):
        run(wxent.softmax_cross_entropy, x, y)


#: Triton 3.6 beside the installed one (``make test`` puts it there): the version torch
#: 2.11's CUDA builds ship, which GPU machines run. Its compiler failed a kernel that
#: later versions compile (BENCHMARKS.md, GPU).
TRITON_36 = ROOT / ".venv" / "triton-3.6"


@pytest.mark.parametrize("which", ["installed", "3.6"])
def test_kernels_compile_for_a_hopper_gpu(which):
    # The interpreter runs the kernels' Python; this compiles them to sm_90 machine code
    # (no GPU needed), which catches what only the compiler checks (types across
    # branches, loop-carried values, block shapes, passes that fail on a kernel). In a
    # process of its own: the kernel modules here were imported for the interpreter.
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_DEFAULT_FP_FUSION"] = "1"  # triton 3.9 warns when unset
    paths = [str(ROOT / "src"), env.get("PYTHONPATH", "")]
    if which == "3.6":
        assert (TRITON_36 / "triton" / "__init__.py").exists(), "make test installs it"
        paths.insert(0, str(TRITON_36))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    script = ROOT / "tests" / "triton_aot.py"
    # Each kernel with every feature on; with Triton 3.6 also each switch flipped in the
    # softmax family's forward kernels, where its compiler failed one (triton_aot.py).
    plain = ["--plain"] if which == "installed" else []
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script), *plain],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["compiled"] * (22 if plain else 149)
    if which == "3.6":  # (the version that ran is the one asked for)
        version = subprocess.run(
            [sys.executable, "-c", "import triton; print(triton.__version__)"],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert version.stdout.strip() == "3.6.0"


def test_sigmoid_kernel_checks_the_labels_itself():
    from torch.utils._python_dispatch import TorchDispatchMode

    rng = np.random.default_rng(21)
    x = torch.tensor(rng.normal(size=(6, 40)), dtype=torch.float32, requires_grad=True)
    z = torch.tensor(rng.random((6, 40)) < 0.3, dtype=torch.float32)
    big = []

    class LabelSized(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            on_z = any(isinstance(a, torch.Tensor) and a.data_ptr() == z.data_ptr() for a in args)
            if on_z and ("min" in str(func) or "max" in str(func)):
                big.append(str(func))
            return func(*args, **(kwargs or {}))

    with LabelSized():
        wxent.sigmoid_cross_entropy(x, z, pos_weight=2.0).backward()
    assert big == []  # no reduction over the labels outside the kernel
    assert select.LAUNCHES["sigmoid_family"] == 1  # loss and gradient in one pass
    for value in (2.0, -0.5, np.nan):
        bad = z.clone()
        bad[3, 7] = value
        with pytest.raises(ValueError, match="labels"):
            wxent.sigmoid_cross_entropy(x, bad)
        with pytest.raises(ValueError, match="labels"):
            wxent.sigmoid_focal_loss(x, bad, reduction="none")
    ignored = z.clone()
    ignored[0, :3] = -1.0
    check(wxent.sigmoid_cross_entropy, x.detach().numpy(), ignored, ignore_label=-1.0)
    assert np.isfinite(wxent.sigmoid_cross_entropy(x, ignored, validate=False).item())


def test_a_checked_call_queues_its_gradient_pass_at_its_flag_read():
    x, y, cw, _ = softmax_data(seed=15)
    xt = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    loss = wxent.softmax_cross_entropy(xt, y, class_weight=cw, ignore_index=-100)
    assert select.LAUNCHES["softmax_cross_entropy_backward"] == 1  # before backward
    loss.backward()
    assert select.LAUNCHES["softmax_cross_entropy_backward"] == 1
    expected = run(wxent.softmax_cross_entropy, x, y, class_weight=cw, ignore_index=-100,
                   mode="off")  # fmt: skip
    np.testing.assert_allclose(xt.grad.numpy(), expected[1], rtol=1e-5, atol=1e-7)
    # A queued pass that no flag read ran is run by the backward pass itself.
    launches: list = []
    xt.grad = None
    loss = triton_softmax.softmax_cross_entropy(
        xt, y, class_weight=torch.tensor(cw, dtype=torch.float32),
        sample_weight=None, ignore_index=-100, label_smoothing=0.0, reduction="mean",
        eager_gradient=launches,
    )  # fmt: skip
    assert len(launches) == 1
    loss.backward()
    np.testing.assert_allclose(xt.grad.numpy(), expected[1], rtol=1e-5, atol=1e-7)
    launches[0]()  # running it again later changes nothing
    np.testing.assert_allclose(xt.grad.numpy(), expected[1], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", list(SIGMOID_LOSSES))
@pytest.mark.parametrize("weight", ["sample", "pos", "neg"])
def test_sigmoid_family_zero_weights_on_infinite_losses_count_nothing(name, weight):
    x, z, per_class, sw = sigmoid_data(seed=9)
    z = torch.where(z < 0, 0.0, z)
    zz = z.numpy()
    x[1] = np.where(zz[1] == 1, -np.inf, np.inf)  # every element of row 1: an infinite loss
    loss, options = sigmoid_options(name, per_class)
    kw = dict(options)
    if weight == "sample":
        sw = np.ones(6, dtype=np.float32)
        sw[1] = 0.0
        kw["sample_weight"] = torch.tensor(sw)
    else:  # a zero weight on every class of the term that is infinite in row 1
        kw["pos_weight" if weight == "pos" else "neg_weight"] = np.zeros(11)
        x[1] = -np.inf if weight == "pos" else np.inf
        x[1, zz[1] == (0 if weight == "pos" else 1)] = 0.0
    for reduction in REDUCTIONS:
        with np.errstate(all="ignore"):
            value, grad = check(loss, x, z, reduction=reduction, **kw)
        assert np.isfinite(value).all() and np.isfinite(grad).all()


@pytest.mark.parametrize("gamma", [0.0, 2.0])
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_softmax_focal_rows_holding_inf_take_their_limit(gamma, eps):
    x, y, cw, _ = softmax_data(seed=16)
    y = torch.where(y < 0, 0, y)
    yy = y.numpy()
    x[0, yy[0]] = np.inf
    x[1, (yy[1] + 1) % 37] = np.inf
    x[2, [yy[2], (yy[2] + 1) % 37]] = np.inf
    x[3, (yy[3] + 1) % 37] = -np.inf
    sw = np.ones(5, dtype=np.float32)
    sw[1] = 0.0  # row 1's infinite loss does not count
    kw = {"gamma": gamma, "label_smoothing": eps, "class_weight": cw}
    for reduction in REDUCTIONS:
        with np.errstate(all="ignore"):
            value, grad = check(wxent.softmax_focal_loss, x, y, reduction=reduction,
                                sample_weight=torch.tensor(sw), **kw)  # fmt: skip
        assert np.all(grad[:3] == 0.0) and np.isfinite(grad).all()
        if reduction != "none":
            assert np.isfinite(value).all() == (eps == 0.0)


@pytest.mark.parametrize("gamma", [0.0, 4.0])
@pytest.mark.parametrize("clip", [0.999, 0.9])
def test_asymmetric_clip_near_one_keeps_its_digits(gamma, clip):
    """float32 against float64 (as tests/test_fastpaths_focal.py): the kernel takes
    ``1 - clip`` rounded once from the host's double, ``(1 - clip) - sigmoid(-x)`` and
    ``log1p``, not ``p - clip`` and ``log(q + clip)`` near 1."""
    x, z, loss, grad = clip_case(clip, gamma)
    before = sum(select.LAUNCHES.values())
    kw = {"gamma_pos": 0.0, "gamma_neg": gamma, "clip": clip, "reduction": "none"}
    value, got_grad = run(wxent.asymmetric_loss, x, torch.tensor(z), **kw)
    assert sum(select.LAUNCHES.values()) > before, "the kernel did not run"
    np.testing.assert_allclose(value, loss, rtol=1e-5, atol=0)
    np.testing.assert_allclose(got_grad, grad, rtol=1e-5, atol=0)
