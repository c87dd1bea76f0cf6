"""The Triton softmax cross-entropy of probability labels, under Triton's interpreter.

As ``tests/test_triton.py``: ``WXENT_KERNELS=triton`` forces the kernel on CPU tensors
(``TRITON_INTERPRET=1``), every value and gradient is compared with the generic path
(``WXENT_KERNELS=off``) on the same input and in float64, and the launch counter proves
that the kernel ran. Blocks are small so that the loops over the classes take several
blocks and several rows share a program.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import triton  # noqa: F401  (a missing triton is a failure, not a skip)
from torch.utils._python_dispatch import TorchDispatchMode

import wxent
from wxent._fastpaths import select, triton_common, triton_softmax

REDUCTIONS = ["none", "sum", "mean", "weighted_mean"]
KERNEL = "softmax_cross_entropy_soft"
BACKWARD = "softmax_cross_entropy_soft_backward"


@pytest.fixture(autouse=True)
def _interpreter(monkeypatch):
    assert os.environ.get("TRITON_INTERPRET") == "1", "tests/conftest.py sets it"
    monkeypatch.setenv("WXENT_KERNELS", "triton")
    monkeypatch.setattr(triton_softmax, "MAX_BLOCK", 16)
    monkeypatch.setattr(triton_softmax, "ROW_TILE", 32)  # two rows per program
    monkeypatch.setattr(triton_softmax, "BACKWARD_BLOCK", 16)
    monkeypatch.setattr(triton_common, "ELEMENT_BLOCK", 64)
    monkeypatch.setattr(triton_common, "SCALE_PROGRAMS", 2)
    select.LAUNCHES.clear()


def run(x, labels, *, mode="triton", dtype=None, upstream=None, loss=None, **kw):
    """Value and gradient of the loss at ``x`` under ``WXENT_KERNELS=mode``."""
    old = os.environ["WXENT_KERNELS"]
    os.environ["WXENT_KERNELS"] = mode
    try:
        xt = torch.tensor(x, dtype=dtype or torch.float32).requires_grad_(True)
        out = (loss or wxent.softmax_cross_entropy)(xt, labels, **kw)
        g = torch.ones_like(out) if upstream is None else upstream(out)
        (grad,) = torch.autograd.grad(out, xt, g)
    finally:
        os.environ["WXENT_KERNELS"] = old
    return out.detach().double().numpy(), grad.double().numpy()


def check(x, labels, *, bf16=False, **kw):
    """Triton == generic (same dtype) and ~ float64; returns the Triton result."""
    before = select.LAUNCHES[KERNEL]
    dtype = torch.bfloat16 if bf16 else torch.float32
    fast = run(x, labels, dtype=dtype, **kw)
    assert select.LAUNCHES[KERNEL] == before + 1, "the kernel did not run"
    generic = run(x, labels, mode="off", dtype=dtype, **kw)
    exact = run(x, labels, mode="off", dtype=torch.float64, **kw)  # labels cast to float64
    tol = {"rtol": 2e-2, "atol": 2e-2} if bf16 else {"rtol": 2e-5, "atol": 2e-6}
    for a, b in zip(fast, generic, strict=True):
        np.testing.assert_allclose(a, b, **tol)
    if not bf16:
        for a, b in zip(fast, exact, strict=True):
            np.testing.assert_allclose(a, b, **tol)
    return fast


def soft_data(shape=(5, 37), seed=0, concentration=0.3):
    rng = np.random.default_rng(seed)
    x = 3 * rng.normal(size=shape)
    y = rng.dirichlet(np.full(shape[-1], concentration), size=shape[:-1])
    y = torch.tensor(y, dtype=torch.float32)
    return x, y, rng.uniform(0.2, 3.0, shape[-1]), rng.uniform(0, 2, shape[:-1])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("weights", ["none", "class", "both", "scalars"])
@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_every_option(reduction, eps, weights, bf16):
    x, y, cw, sw = soft_data()
    kw = {"reduction": reduction, "label_smoothing": eps}
    if weights in ("class", "both"):
        kw["class_weight"] = cw
    if weights == "both":
        kw["sample_weight"] = torch.tensor(sw, dtype=torch.float32)
    if weights == "scalars":
        kw.update(class_weight=2.0, sample_weight=0.5)
    check(x, y, bf16=bf16, **kw)
    assert select.LAUNCHES[BACKWARD] == 1


@pytest.mark.parametrize("validate", [True, False], ids=["eager-gradient", "backward-pass"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_upstream_gradient(reduction, validate, bf16):
    x, y, cw, sw = soft_data(shape=(2, 3, 21), seed=2)

    def upstream(out):
        if out.ndim == 0:
            return torch.tensor(-2.5, dtype=out.dtype)
        return torch.linspace(-1.0, 3.0, out.numel(), dtype=out.dtype).reshape(out.shape)

    kw = {"class_weight": cw, "sample_weight": torch.tensor(sw, dtype=torch.float32)}
    check(x, y, reduction=reduction, upstream=upstream, validate=validate,
          label_smoothing=0.1, bf16=bf16, **kw)  # fmt: skip
    assert select.LAUNCHES[BACKWARD] == 1
    # A checked call computes the gradient in its forward pass and rescales it after.
    assert select.LAUNCHES["scale"] == int(validate)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_labels_are_read_in_their_own_dtype(dtype):
    x, y, cw, _ = soft_data(shape=(6, 9), seed=3)  # several rows per program, C < block
    labels = y.to(dtype)
    for reduction in ("none", "weighted_mean"):
        value, grad = run(x, labels, class_weight=cw, reduction=reduction)
        expected = run(x, labels, class_weight=cw, reduction=reduction, mode="off")
        np.testing.assert_allclose(value, expected[0], rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(grad, expected[1], rtol=2e-5, atol=2e-6)
    check(x, labels, bf16=True, label_smoothing=0.1)


def test_one_hot_labels_equal_integer_labels_through_the_kernels():
    x, _, cw, sw = soft_data(seed=4)
    index = torch.tensor(np.random.default_rng(4).integers(0, 37, 5))
    one_hot = torch.nn.functional.one_hot(index, 37).float()
    for reduction in REDUCTIONS:
        for eps in (0.0, 0.3):
            kw = {"class_weight": cw, "sample_weight": torch.tensor(sw, dtype=torch.float32)}
            kw.update(reduction=reduction, label_smoothing=eps)
            soft = run(x, one_hot, **kw)
            hard = run(x, index, **kw)
            np.testing.assert_allclose(soft[0], hard[0], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(soft[1], hard[1], rtol=1e-5, atol=1e-6)
    assert select.LAUNCHES[KERNEL] == select.LAUNCHES["softmax_cross_entropy"] == 8


BAD_LABELS = {
    "negative": lambda y: y.index_put_((torch.tensor([1]), torch.tensor([2])), torch.tensor(-0.5)),
    "nan": lambda y: y.index_put_((torch.tensor([2]), torch.tensor([30])), torch.tensor(np.nan)),
    "inf": lambda y: y.index_put_((torch.tensor([0]), torch.tensor([3])), torch.tensor(np.inf)),
    "sum-0.9": lambda y: y.mul_(0.9),
    "multi-hot": lambda y: y.zero_().index_fill_(1, torch.tensor([1, 20]), 1.0),
}


@pytest.mark.parametrize("case", list(BAD_LABELS))
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_bad_labels_raise_the_generic_paths_errors(case, reduction):
    x, y, _, _ = soft_data(seed=5)
    bad = BAD_LABELS[case](y.clone())
    messages = []
    for mode in ("triton", "off"):
        os.environ["WXENT_KERNELS"] = mode
        xt = torch.tensor(x, dtype=torch.float32, requires_grad=True)
        with np.errstate(all="ignore"), pytest.raises(ValueError, match="labels") as info:
            wxent.softmax_cross_entropy(xt, bad, reduction=reduction, label_smoothing=0.1)
        messages.append(str(info.value))
    os.environ["WXENT_KERNELS"] = "triton"
    assert messages[0] == messages[1]
    assert ("sigmoid_cross_entropy" in messages[0]) == (case in ("sum-0.9", "multi-hot"))
    assert select.LAUNCHES[KERNEL] == 1
    # Unchecked, the kernel computes what the generic path does with finite labels.
    if case == "nan":
        assert np.isnan(run(x, bad, reduction=reduction, validate=False)[0]).any()
    elif case != "inf":
        check(x, bad, reduction=reduction, validate=False, label_smoothing=0.1)


def test_the_kernel_checks_the_labels_itself():
    x, y, _, _ = soft_data(shape=(6, 40), seed=6)
    xt = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    seen = []

    class LabelSized(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if any(isinstance(a, torch.Tensor) and a.data_ptr() == y.data_ptr() for a in args):
                seen.append(str(func))
            return func(*args, **(kwargs or {}))

    with LabelSized():
        wxent.softmax_cross_entropy(xt, y, class_weight=np.ones(40)).backward()
    # No pass over the labels outside the kernel (no cast, no min/max, no row sums).
    assert not [f for f in seen if any(k in f for k in ("min", "max", "sum", "abs", "_to"))]
    assert select.LAUNCHES[KERNEL] == 1


@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_rows_holding_inf_take_their_limit(eps):
    x, y, cw, _ = soft_data(seed=7)
    y = torch.zeros(5, 37)
    y[0, 4] = 1.0  # the whole target on the one +inf entry: loss 0 (without smoothing)
    x[0, 4] = np.inf
    y[1, 5], y[1, 6] = 0.25, 0.75  # part of the target off the +inf entry: inf
    x[1, 5] = np.inf
    y[2, 7], y[2, 8] = 0.5, 0.5  # on two +inf entries: log 2
    x[2, [7, 8]] = np.inf
    y[3, 9], y[3, 10] = 0.5, 0.5  # -inf logits with no target cost nothing
    x[3, 20:30] = -np.inf
    y[4, 11] = 1.0
    with np.errstate(all="ignore"):  # the interpreter's NumPy meets inf - inf
        value, grad = check(x, y, class_weight=cw, label_smoothing=eps, reduction="none")
    assert np.all(grad[:3] == 0.0) and np.isfinite(grad).all()
    if eps == 0.0:
        np.testing.assert_allclose(value[[0, 2]], [0.0, 0.5 * (cw[7] + cw[8]) * np.log(2.0)],
                                   rtol=1e-6)  # fmt: skip
        assert np.isfinite(value[3])
    else:
        assert value[3] == np.inf  # smoothing puts a target on the -inf logits
    assert value[1] == np.inf


def test_a_target_on_a_minus_inf_logit_costs_inf_unless_its_weight_is_zero():
    x, y, _, _ = soft_data(seed=8)
    x[0, int(y[0].argmax())] = -np.inf  # an infinite loss ...
    value, grad = check(x, y, reduction="none")
    assert value[0] == np.inf and np.isfinite(grad).all()
    sw = np.ones(5, dtype=np.float32)
    sw[0] = 0.0  # ... that does not count
    for reduction in REDUCTIONS:
        value, grad = check(x, y, sample_weight=torch.tensor(sw), reduction=reduction)
        assert np.isfinite(value).all() and np.isfinite(grad).all()
        assert np.all(grad[0] == 0.0)


def test_nan_logits_and_rows_of_only_minus_inf():
    x, y, _, _ = soft_data(seed=9)
    x[1] = -np.inf
    with np.errstate(all="ignore"), pytest.raises(ValueError, match="only -inf"):
        wxent.softmax_cross_entropy(torch.tensor(x, dtype=torch.float32), y)
    x[1] = 0.0
    x[2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        wxent.softmax_cross_entropy(torch.tensor(x, dtype=torch.float32), y)
    value, _ = run(x, y, validate=False)
    assert np.isnan(value)
    # A NaN in a row that counts nothing costs nothing, and its gradient is 0, on the
    # generic path too (which zeroes such logits and recomputes: see Inputs.exclude).
    sw = torch.ones(5)
    sw[2] = 0.0
    value, grad = run(x, y, sample_weight=sw)
    generic, generic_grad = run(x, y, sample_weight=sw, mode="off")
    np.testing.assert_allclose(value, generic, rtol=2e-5)
    assert np.isfinite(value) and np.all(grad[2] == 0.0) and np.all(generic_grad[2] == 0.0)
    rows = [0, 1, 3, 4]
    np.testing.assert_allclose(grad[rows], generic_grad[rows], rtol=2e-5, atol=2e-6)
    assert select.LAUNCHES[KERNEL] == 4


def test_zero_weights_everywhere_give_zero():
    x, y, _, _ = soft_data(seed=10)
    for reduction in ("weighted_mean", "sum"):
        value, grad = check(x, y, class_weight=np.zeros(37), reduction=reduction)
        assert value == 0.0 and not grad.any()


def test_noncontiguous_logits_and_labels():
    x, y, cw, _ = soft_data(shape=(4, 3, 19), seed=11)

    def loss(t, labels, **kw):
        return wxent.softmax_cross_entropy(t.transpose(0, 1), labels.transpose(0, 1), **kw)

    check(x, y, loss=loss, class_weight=cw, reduction="weighted_mean")
    wide = torch.zeros(4, 3, 38)
    wide[..., ::2] = y  # labels with a class stride of 2
    check(x, wide[..., ::2], class_weight=cw, label_smoothing=0.2)


def test_inplace_backward_writes_the_gradient_into_the_logits():
    x, y, cw, _ = soft_data(seed=12)
    kw = {"class_weight": cw, "reduction": "weighted_mean", "label_smoothing": 0.1}
    expected_value, expected_grad = run(x, y, mode="off", **kw)
    leaf = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    logits = leaf * 1.0  # a layer's output, not a leaf
    loss = wxent.softmax_cross_entropy(logits, y, inplace_backward=True, **kw)
    np.testing.assert_allclose(loss.item(), expected_value, rtol=1e-6)
    np.testing.assert_array_equal(logits.detach().numpy(), np.float32(x))
    loss.backward()
    np.testing.assert_allclose(logits.detach().numpy(), expected_grad, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(leaf.grad.numpy(), expected_grad, rtol=1e-5, atol=1e-7)
    assert select.LAUNCHES[BACKWARD] == 1 and select.LAUNCHES["scale"] == 0


def test_no_grad_skips_the_gradient_pass_and_a_queued_pass_runs_once():
    x, y, cw, _ = soft_data(seed=13)
    xt = torch.tensor(x, dtype=torch.float32)
    with torch.no_grad():
        value = wxent.softmax_cross_entropy(xt, y, class_weight=cw)
    assert select.LAUNCHES[BACKWARD] == 0
    expected = run(x, y, class_weight=cw, mode="off")
    np.testing.assert_allclose(value.numpy(), expected[0], rtol=1e-6)
    xt.requires_grad_(True)
    loss = wxent.softmax_cross_entropy(xt, y, class_weight=cw)
    assert select.LAUNCHES[BACKWARD] == 1  # queued at the call's flag read
    loss.backward()
    assert select.LAUNCHES[BACKWARD] == 1
    np.testing.assert_allclose(xt.grad.numpy(), expected[1], rtol=1e-5, atol=1e-7)


def test_what_the_kernel_leaves_to_the_generic_path():
    x, y, _, _ = soft_data(seed=14)
    xt = torch.tensor(x, dtype=torch.float32)
    wxent.softmax_cross_entropy(xt.T, y.T, class_axis=0)  # classes not on the last axis
    wxent.softmax_cross_entropy(xt, y.clone().requires_grad_(True))  # labels needing grad
    wxent.softmax_cross_entropy(xt.double(), y)  # float64 logits
    assert not select.LAUNCHES
    for focal in (wxent.softmax_focal_loss, wxent.logit_adjusted_cross_entropy):
        args = (np.full(37, 1 / 37),) if focal is wxent.logit_adjusted_cross_entropy else ()
        value = focal(xt, y, *args)  # other losses of probability labels: generic
        assert np.isfinite(value.item())
    assert not select.LAUNCHES


def test_rows_within_the_tolerance_pass_and_beyond_it_fail():
    x, y, _, _ = soft_data(seed=15)
    for scale, ok in ((1.0 + 5e-4, True), (1.0 - 5e-4, True), (1.0 + 3e-3, False)):
        labels = y * scale  # float32, C = 37: the tolerance is 1e-3
        if ok:
            check(x, labels)
        else:
            for mode in ("triton", "off"):
                os.environ["WXENT_KERNELS"] = mode
                with pytest.raises(ValueError, match="sum to 1"):
                    wxent.softmax_cross_entropy(torch.tensor(x, dtype=torch.float32), labels)
            os.environ["WXENT_KERNELS"] = "triton"
    half = (y * (1.0 + 5e-3)).half()  # float16 labels: 4 * 2**-10 * 37 = 0.14
    check(x, half, validate=True)


def test_a_kernel_triton_cannot_run_leaves_the_check_to_the_generic_path(monkeypatch):
    from wxent._fastpaths import triton_softmax_soft

    class CompileFailure(Exception):
        pass

    CompileFailure.__module__ = "triton.compiler.errors"

    def broken(*args, **kwargs):
        raise CompileFailure("no such instruction on this GPU")

    monkeypatch.setattr(select, "_BROKEN", set())
    monkeypatch.setattr(triton_softmax_soft, "_forward", broken)
    x, y, cw, _ = soft_data(seed=16)
    with pytest.warns(RuntimeWarning, match=KERNEL):
        value, grad = run(x, y, class_weight=cw)
    expected = run(x, y, class_weight=cw, mode="off")
    np.testing.assert_allclose(value, expected[0], rtol=1e-6)
    np.testing.assert_allclose(grad, expected[1], rtol=1e-6)
    bad = y.clone()
    bad[0, 0] = -1.0
    with pytest.raises(ValueError, match="labels"):  # the generic flag was not replaced
        wxent.softmax_cross_entropy(torch.tensor(x, dtype=torch.float32), bad)


def test_float16_logits():
    x, y, cw, sw = soft_data(seed=17)
    kw = {"class_weight": cw, "sample_weight": torch.tensor(sw, dtype=torch.float32)}
    for reduction in REDUCTIONS:
        fast = run(x, y, dtype=torch.float16, reduction=reduction, label_smoothing=0.1, **kw)
        generic = run(x, y, dtype=torch.float16, reduction=reduction, label_smoothing=0.1,
                      mode="off", **kw)  # fmt: skip
        for a, b in zip(fast, generic, strict=True):
            np.testing.assert_allclose(a, b, rtol=5e-3, atol=5e-4)
    assert select.LAUNCHES[KERNEL] == 4
