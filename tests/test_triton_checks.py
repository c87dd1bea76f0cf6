"""The value checks of checked Triton calls: folded into one word, none of them lost.

A checked call (``validate=True``, the default) on the Triton path checks the labels,
sample weights and NaN losses in its loss kernel and the rest (class weights,
``pos_weight``..., the probability look) in one small check kernel, then reads one word
(``wxent._fastpaths.triton_checks``). These tests run the kernels under Triton's
interpreter on CPU tensors: every check still fires with the generic path's exact
message, and the device operations of a checked call stay within a budget
(``tests/device_ops.py`` counts what a CUDA run would launch).
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import wxent
from device_ops import DeviceOps, cases, count
from wxent._fastpaths import select, triton_checks, triton_softmax

#: Device operations of each checked call at most: the loss kernel, the one-program kernel
#: that sums, divides and checks, the one read, the softmax kernels' gradient pass queued
#: behind it (and the denominator pass of a softmax focal loss with ignored labels). The
#: sigmoid family writes its gradient in the loss pass (one read of the logits): a
#: divided gradient needs its denominator first, a pass over the labels and weights and
#: the sum of its tiles. A number ``alpha`` of the focal loss is a scalar argument of the
#: kernel: no device operation.
BUDGET = {
    "softmax CE": 4,
    "softmax CE, class_weight + ignore_index + smoothing 0.1": 4,
    "softmax CE, + sample_weight, weighted_mean": 5,  # and the one launch scaling the weights
    "softmax CE, probability labels, class_weight + smoothing 0.1": 4,
    "sigmoid CE, pos_weight": 4,
    "sigmoid CE, ignore_label, weighted_mean": 5,  # the denominator pass and its sum
    "sigmoid focal, alpha 0.25": 4,
    "asymmetric": 4,
    "softmax focal, class_weight + ignore_index": 4,
    "expected cost, class_weight + ignore_index": 4,
    # and the check that cost_weight times the largest cost is finite (a matrix of the
    # logits' framework): its maximum, the product, the comparison, the OR into the word
    "cost-sensitive CE, smoothing 0.1": 8,
}
#: What a check (or the preparation of labels) costs on the generic path: none of it may
#: run on the kernel path.
CHECK_OPS = {"aminmax", "isnan", "any", "stack", "logical_and", "logical_or", "logical_not"}
CHECK_OPS |= {"ne", "where", "zeros_like", "clamp", "index", "ge", "le", "bitwise_and"}


@pytest.fixture(autouse=True)
def _interpreter(monkeypatch):
    assert os.environ.get("TRITON_INTERPRET") == "1", "tests/conftest.py sets it"
    monkeypatch.setenv("WXENT_KERNELS", "triton")
    monkeypatch.setattr(triton_softmax, "MAX_BLOCK", 16)
    monkeypatch.setattr(triton_softmax, "ROW_TILE", 32)
    monkeypatch.setattr(triton_checks, "BLOCK", 16)  # the check loops take several blocks
    select.LAUNCHES.clear()


def outcome(call: Callable[[], Any], mode: str) -> tuple[str | None, list[str]]:
    """The error message (or ``None``) and the LogitsWarnings of ``call()`` in ``mode``."""
    old = os.environ["WXENT_KERNELS"]
    os.environ["WXENT_KERNELS"] = mode
    try:
        # (np.errstate: the interpreter computes in NumPy, which warns at inf * 0)
        with warnings.catch_warnings(record=True) as record, np.errstate(all="ignore"):
            warnings.simplefilter("always")
            try:
                call()
                error = None
            except (ValueError, TypeError) as exc:
                error = f"{type(exc).__name__}: {exc}"
    finally:
        os.environ["WXENT_KERNELS"] = old
    others = [w for w in record if w.category is not wxent.LogitsWarning]
    assert not others, others[0].message  # e.g. a kernel that failed (and fell back)
    return error, [str(w.message) for w in record if w.category is wxent.LogitsWarning]


def same_as_generic(call: Callable[[], Any], kernel: str) -> tuple[str | None, list[str]]:
    """``call``'s outcome on the kernel path, asserted equal to the generic path's."""
    before = select.LAUNCHES[kernel]
    fused = outcome(call, "triton")
    assert select.LAUNCHES[kernel] > before, f"{kernel} did not run"
    assert fused == outcome(call, "off")
    return fused


def data(n: int = 7, c: int = 37, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    y = torch.tensor(rng.integers(0, c, n))
    y[1] = -100
    return {
        "x": torch.tensor(3 * rng.normal(size=(n, c)), dtype=torch.float32),
        "y": y,
        "cw": torch.tensor(rng.uniform(0.5, 2.0, c), dtype=torch.float32),
        "sw": torch.tensor(rng.uniform(0.5, 2.0, n), dtype=torch.float32),
        "z": torch.tensor(rng.uniform(size=(n, c)) < 0.2, dtype=torch.float32),
        "pw": torch.tensor(rng.uniform(0.5, 4.0, c), dtype=torch.float32),
    }


REDUCTIONS = ["none", "sum", "mean", "weighted_mean"]
SOFTMAX = [
    (wxent.softmax_cross_entropy, "softmax_cross_entropy"),
    (wxent.softmax_focal_loss, "softmax_focal_loss"),
]


# ------------------------------------------------------------------------------ the budget


@pytest.mark.parametrize("name", list(BUDGET))
def test_checked_calls_stay_within_their_device_op_budget(name):
    checked = count(cases(n=8, c=40)[name])
    unchecked = count(cases(n=8, c=40, validate=False)[name])
    assert checked.total <= BUDGET[name], checked.report()
    assert checked.reads == 1 and unchecked.reads == 0
    assert not CHECK_OPS & set(checked.ops), checked.report()
    assert not CHECK_OPS & set(unchecked.ops), unchecked.report()
    assert checked.kernels["_settle_kernel"] == unchecked.kernels["_settle_kernel"] == 1
    # the read and the gradient pass queued behind it (and the cost-weight check above)
    extra = 4 if name.startswith("cost-sensitive") else 0
    assert checked.total - unchecked.total <= 2 + extra, (checked.report(), unchecked.report())


def test_the_counter_counts_launches_not_views_nor_the_interpreter():
    x = torch.arange(12.0).reshape(3, 4)
    with DeviceOps() as ops:
        y = x.t().reshape(-1)[2:].detach()  # views and a copy (reshape of transposed data)
        torch.empty(5)
        bool((y + 1).sum() > 0)  # add, sum, gt, the read
    assert dict(ops.ops) == {"clone": 1, "add": 1, "sum": 1, "gt": 1} and ops.reads == 1
    d = data()
    y = d["y"].clamp(0)
    with DeviceOps() as ops:
        wxent.softmax_cross_entropy(d["x"], y, validate=False)
    assert ops.kernels["_forward_kernel"] == 1 and ops.total == 2, ops.report()


# ------------------------------------------------------------------------------ the checks


@pytest.mark.parametrize("bad", [37, -1, -100, 1000])
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8])
def test_softmax_labels_outside_the_classes_raise_the_generic_message(bad, dtype):
    d = data()
    y = d["y"].clamp(0)
    if dtype == torch.uint8 and not 0 <= bad < 256:
        bad = 255  # -100 cannot be a uint8 label, nor ignore one: 255 is out of range
    y[3] = bad
    for loss, kernel in SOFTMAX:
        for kw in ({}, {"ignore_index": -100}, {"ignore_index": 5, "class_weight": d["cw"]}):
            error, _ = same_as_generic(
                lambda loss=loss, kw=kw: loss(d["x"], y.to(dtype), **kw), kernel
            )
            ignored = bad == kw.get("ignore_index") and dtype != torch.uint8
            assert (error is None) == ignored, error
            if error is not None:
                assert "class indices" in error, error


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nan_logits_raise_in_counted_rows_only(reduction):
    d = data()
    x, y, sw = d["x"].clone(), d["y"], d["sw"].clone()
    x[1, 4] = np.nan  # row 1 is ignored
    x[2, 5] = np.nan
    sw[2] = 0.0  # row 2 counts nothing
    kw = {"ignore_index": -100, "sample_weight": sw, "reduction": reduction}
    for loss, kernel in SOFTMAX:
        error, _ = same_as_generic(lambda loss=loss: loss(x, y, **kw), kernel)
        assert error is None
    x[4, 0] = np.nan
    for loss, kernel in SOFTMAX:
        error, _ = same_as_generic(lambda loss=loss: loss(x, y, **kw), kernel)
        assert error is not None and "NaN" in error, error
        # unchecked: the NaN row's loss is NaN, as on the generic path
        values = loss(x, y, ignore_index=-100, validate=False, reduction="none")
        assert values.isnan().tolist() == [False, False, True, False, True, False, False]
    z = d["z"].clone()
    z[0, 3] = -1.0
    xs = d["x"].clone()
    xs[0, 3] = np.nan  # ignored
    for ignore, expect in ((-1.0, None), (None, "labels")):
        error, _ = same_as_generic(
            lambda ignore=ignore: wxent.sigmoid_cross_entropy(
                xs, z, ignore_label=ignore, reduction=reduction
            ),
            "sigmoid_family",
        )
        assert (error is None) if expect is None else (expect in error), error
    xs[5, 6] = np.nan
    error, _ = same_as_generic(
        lambda: wxent.sigmoid_focal_loss(xs, z, ignore_label=-1.0, reduction=reduction),
        "sigmoid_family",
    )
    assert error is not None and "NaN" in error, error


@pytest.mark.parametrize("value", [-1.0, np.nan, np.inf])
def test_bad_weights_raise_the_generic_message(value):
    d = data()
    x, y, z = d["x"], d["y"], d["z"]

    def spoil(name: str) -> torch.Tensor:
        w = d[name].clone()
        w.view(-1)[3] = value
        return w

    softmax = [
        {"class_weight": spoil("cw")},
        {"sample_weight": spoil("sw")},
        {"class_weight": d["cw"], "sample_weight": spoil("sw"), "reduction": "none"},
        {"sample_weight": torch.tensor(value)},
    ]
    for (loss, kernel), kw in itertools.product(SOFTMAX, softmax):
        error, _ = same_as_generic(
            lambda loss=loss, kw=kw: loss(x, y, ignore_index=-100, **kw), kernel
        )
        assert error is not None and "weight" in error, (kw, error)
    per_element = d["z"].clone() + 0.5
    per_element[2, 2] = value
    sigmoid = [
        (wxent.sigmoid_cross_entropy, {"pos_weight": spoil("pw")}),
        (wxent.sigmoid_cross_entropy, {"neg_weight": spoil("pw"), "pos_weight": d["pw"]}),
        (wxent.sigmoid_cross_entropy, {"sample_weight": spoil("sw")}),  # one per sample
        (wxent.sigmoid_cross_entropy, {"sample_weight": per_element, "reduction": "none"}),
        (wxent.sigmoid_focal_loss, {"alpha": spoil("pw") / 10, "pos_weight": d["pw"]}),
        (wxent.asymmetric_loss, {"sample_weight": torch.tensor(value)}),
    ]
    for loss, kw in sigmoid:
        error, _ = same_as_generic(lambda loss=loss, kw=kw: loss(x, z, **kw), "sigmoid_family")
        assert error is not None and ("weight" in error or "alpha" in error), (kw, error)


def test_alpha_above_one_and_the_generic_flags_beyond_the_kernels_arrays(monkeypatch):
    d = data()
    alpha = torch.full((37,), 0.25)
    alpha[7] = 1.5
    call = lambda: wxent.sigmoid_focal_loss(d["x"], d["z"], alpha=alpha)  # noqa: E731
    error, _ = same_as_generic(call, "sigmoid_family")
    assert error is not None and "alpha" in error
    # More arrays than the check kernel takes: they keep their generic flags.
    monkeypatch.setattr(triton_checks, "MAX_ARRAYS", 1)
    error, _ = same_as_generic(call, "sigmoid_family")
    assert error is not None and "alpha" in error
    neg = d["pw"].clone()
    neg[0] = -1.0
    error, _ = same_as_generic(
        lambda: wxent.sigmoid_focal_loss(d["x"], d["z"], alpha=alpha.clamp(0, 1), neg_weight=neg),
        "sigmoid_family",
    )
    assert error is not None and "neg_weight" in error
    with DeviceOps() as ops:
        wxent.sigmoid_focal_loss(d["x"], d["z"], alpha=alpha.clamp(0, 1), neg_weight=d["pw"])
    assert ops.reads == 1 and ops.ops["aminmax"] == 2, ops.report()


@pytest.mark.parametrize("alpha", [1.5, -0.25, np.nan, np.inf, 1e50, True, 0.25])
def test_number_alpha_is_checked_on_the_host_with_the_generic_message(alpha):
    d = data()
    good = alpha == 0.25
    for kw in ({}, {"pos_weight": d["pw"], "reduction": "weighted_mean"}, {"reduction": "none"}):
        call = lambda kw=kw: wxent.sigmoid_focal_loss(d["x"], d["z"], alpha=alpha, **kw)  # noqa: E731
        if good:
            assert same_as_generic(call, "sigmoid_family") == (None, [])
            continue
        error, _ = outcome(call, "triton")  # raised before any kernel, as generically
        assert error is not None and "alpha" in error, error
        assert (error, []) == outcome(call, "off")
    unchecked = lambda: wxent.sigmoid_focal_loss(d["x"], d["z"], alpha=alpha, validate=False)  # noqa: E731
    expected = (None, []) if alpha is not True else outcome(unchecked, "off")  # a type error
    assert outcome(unchecked, "triton") == outcome(unchecked, "off") == expected
    with DeviceOps() as ops:  # neither a fill nor 1 - alpha: two scalars of the kernel
        wxent.sigmoid_focal_loss(d["x"], d["z"], alpha=0.25, reduction="weighted_mean")
    assert not {"fill", "full", "rsub", "sub", "_to_copy", "clone"} & set(ops.ops), ops.report()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("reduction", ["mean", "weighted_mean"])
def test_sigmoid_denominator_shares_keep_the_generic_outcome(dtype, reduction):
    # The loss pass writes the denominator's shares (checked, ignore_label): the errors
    # and LogitsWarnings stay the generic path's.
    d = data(n=12, c=9)
    z = d["z"].clone()
    z[0, :4] = -1.0
    kw = {"ignore_label": -1.0, "reduction": reduction, "pos_weight": d["pw"][:9]}
    calls = {
        "fine": lambda: wxent.sigmoid_focal_loss(d["x"].to(dtype), z, alpha=0.25, **kw),
        "probabilities": lambda: wxent.sigmoid_cross_entropy(
            torch.sigmoid(d["x"]).to(dtype), z, **kw
        ),
    }
    bad = z.clone()
    bad[3, 3] = 2.0
    calls["bad label"] = lambda: wxent.asymmetric_loss(d["x"].to(dtype), bad, **kw)
    outcomes = {name: same_as_generic(call, "sigmoid_family") for name, call in calls.items()}
    assert outcomes["fine"] == (None, [])
    assert outcomes["probabilities"][0] is None and len(outcomes["probabilities"][1]) == 1
    assert "labels" in (outcomes["bad label"][0] or ""), outcomes["bad label"]
    assert select.LAUNCHES["sigmoid_denominator"] == 0


def softmax_rows(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x.double(), dim=-1).to(x.dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_probability_looking_logits_warn_on_the_kernel_path(dtype):
    d = data(n=12, c=5)
    x = d["x"].to(dtype)
    y = d["y"].clamp(0)
    z = d["z"]
    calls = {
        "softmax_cross_entropy": lambda x: wxent.softmax_cross_entropy(x, y, class_weight=d["cw"]),
        "softmax_focal_loss": lambda x: wxent.softmax_focal_loss(x, y, reduction="none"),
        "sigmoid_family": lambda x: wxent.sigmoid_cross_entropy(x, z, pos_weight=d["pw"]),
    }
    probabilities = {"sigmoid_family": torch.sigmoid(x)}
    probabilities["softmax_cross_entropy"] = probabilities["softmax_focal_loss"] = softmax_rows(x)
    for kernel, call in calls.items():
        error, found = same_as_generic(lambda call=call, p=probabilities[kernel]: call(p), kernel)
        assert error is None and len(found) == 1, found
        error, found = same_as_generic(lambda call=call: call(x), kernel)
        assert error is None and found == []
        zeros = torch.zeros_like(x)  # a fresh model's logits, all equal
        assert same_as_generic(lambda call=call, zeros=zeros: call(zeros), kernel) == (None, [])
    # softmax: rows must sum to 1 (sigmoid outputs do not)
    sig = torch.sigmoid(x)
    error, found = same_as_generic(
        lambda: calls["softmax_cross_entropy"](sig), "softmax_cross_entropy"
    )
    assert found == []
    # a bad label is an error, not a warning
    bad = y.clone()
    bad[0] = 5
    error, found = same_as_generic(
        lambda: wxent.softmax_cross_entropy(probabilities["softmax_cross_entropy"], bad),
        "softmax_cross_entropy",
    )
    assert error is not None and found == []


def test_probability_look_of_wide_rows_strided_and_3d_logits():
    rng = np.random.default_rng(4)
    wide = softmax_rows(torch.tensor(rng.normal(size=(3, 70)), dtype=torch.float32))
    y = torch.tensor([1, 2, 3])
    _, found = same_as_generic(
        lambda: wxent.softmax_cross_entropy(wide, y), "softmax_cross_entropy"
    )
    assert len(found) == 1
    seq = softmax_rows(torch.tensor(rng.normal(size=(2, 9, 6)), dtype=torch.float32))
    labels = torch.tensor(rng.integers(0, 6, (2, 9)))
    _, found = same_as_generic(
        lambda: wxent.softmax_cross_entropy(seq, labels), "softmax_cross_entropy"
    )
    assert len(found) == 1
    # rows of a strided view; and logits whose classes are not contiguous (generic look)
    padded = torch.zeros(18, 10)
    padded[:, :6] = seq.reshape(18, 6)
    for logits in (padded[:, :6], seq.reshape(18, 6).t().contiguous().t()):
        _, found = same_as_generic(
            lambda logits=logits: wxent.softmax_cross_entropy(logits, labels.reshape(-1)),
            "softmax_cross_entropy",
        )
        assert len(found) == 1
    # sigmoid: the probe is the first 4096 elements, a prefix that cuts a row
    big = torch.tensor(rng.normal(size=(3, 5000)), dtype=torch.float32)
    z = (big > 0).float()
    mixed = big.clone()
    mixed[0] = torch.sigmoid(big[0])
    _, found = same_as_generic(lambda: wxent.sigmoid_cross_entropy(mixed, z), "sigmoid_family")
    assert len(found) == 1
    mixed[0, 4095] = 2.0  # inside the probe
    _, found = same_as_generic(lambda: wxent.sigmoid_cross_entropy(mixed, z), "sigmoid_family")
    assert found == []
    mixed[0, 4095], mixed[0, 4096] = 0.5, 2.0  # after the probe
    _, found = same_as_generic(lambda: wxent.sigmoid_cross_entropy(mixed, z), "sigmoid_family")
    assert len(found) == 1


def test_many_statuses_and_long_sums_take_several_programs(monkeypatch):
    monkeypatch.setattr(triton_checks, "STATUS_PER_PROGRAM", 4)  # several programs, one word
    monkeypatch.setattr(triton_checks, "MAX_SUM", 4)  # a torch sum first
    d = data(n=23)
    y, z = d["y"], d["z"]
    for loss, kernel in SOFTMAX:
        for reduction in ("sum", "weighted_mean"):  # one long sum; two (numerator, weights)
            kw = {"ignore_index": -100, "sample_weight": d["sw"], "reduction": reduction}
            with DeviceOps() as ops:
                value = loss(d["x"], y, **kw)
            assert ops.kernels["_settle_kernel"] == 1 and ops.reads == 1, ops.report()
            os.environ["WXENT_KERNELS"] = "off"
            try:
                generic = loss(d["x"], y, **kw)
            finally:
                os.environ["WXENT_KERNELS"] = "triton"
            np.testing.assert_allclose(value.numpy(), generic.numpy(), rtol=2e-5, atol=1e-6)
        bad = y.clone()
        bad[20] = 99
        error, _ = same_as_generic(lambda loss=loss, bad=bad: loss(d["x"], bad), kernel)
        assert error is not None and "class indices" in error
        x = d["x"].clone()
        x[22, 0] = np.nan
        error, _ = same_as_generic(lambda loss=loss, x=x: loss(x, y, ignore_index=-100), kernel)
        assert error is not None and "NaN" in error
    probs = softmax_rows(d["x"])
    _, found = same_as_generic(
        lambda: wxent.softmax_cross_entropy(probs, y.clamp(0), reduction="none"),
        "softmax_cross_entropy",
    )
    assert len(found) == 1
    bad_z = z.clone()
    bad_z[21, 3] = 2.0
    error, found = same_as_generic(
        lambda: wxent.sigmoid_cross_entropy(torch.sigmoid(d["x"]), bad_z, reduction="none"),
        "sigmoid_family",
    )
    assert error is not None and "labels" in error and found == []
