"""What a repeated call of the Triton path remembers, and when it forgets.

A call with the same class or label weight tensor as an earlier one skips the host
checks of its type, dtype, shape and device (``wxent._config._VALIDATED``). The values
are never taken on trust: their check runs in every call (folded into its one read), and
the weighted mean's scaling of class weights runs in every call too, so an in-place
change (also through ``.data``, which leaves the version counter alone), a replaced
tensor or other logits give what a fresh call gives, and errors stay errors. Run by Triton's
interpreter on CPU tensors, as tests/test_triton.py.
"""

from __future__ import annotations

import gc
import os
import weakref

import numpy as np
import pytest
import torch
import triton  # noqa: F401  (a missing triton is a failure, not a skip)

import wxent
from device_ops import DeviceOps
from wxent import _config
from wxent._fastpaths import select

C = 6


@pytest.fixture(autouse=True)
def _interpreter(monkeypatch):
    assert os.environ.get("TRITON_INTERPRET") == "1", "tests/conftest.py sets it"
    monkeypatch.setenv("WXENT_KERNELS", "triton")
    monkeypatch.setattr(_config, "_VALIDATED", {})
    select.LAUNCHES.clear()


def data(seed=0, n=8, c=C):
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.normal(size=(n, c)), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, c, n))
    y[1] = -100
    cw = torch.tensor(rng.uniform(0.5, 2.0, c), dtype=torch.float32)
    return x, y, cw


def softmax(x, y, cw, mode="triton", **kw):
    """Value and gradient of the weighted-mean softmax CE under ``WXENT_KERNELS=mode``."""
    old = os.environ["WXENT_KERNELS"]
    os.environ["WXENT_KERNELS"] = mode
    try:
        xt = x.clone().requires_grad_(True)
        options = {"ignore_index": -100, "reduction": "weighted_mean", **kw}
        loss = wxent.softmax_cross_entropy(xt, y, class_weight=cw, **options)
        loss.backward()
    finally:
        os.environ["WXENT_KERNELS"] = old
    return loss.detach().float().numpy(), xt.grad.float().numpy()


def assert_same(a, b):
    for u, w in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, w)


def test_a_repeated_call_gives_the_same_result_and_scales_again():
    x, y, cw = data()
    first = softmax(x, y, cw)
    assert select.LAUNCHES["weight_scale"] == 1 and len(_config._VALIDATED) == 1
    second = softmax(x, y, cw)
    assert_same(first, second)
    assert select.LAUNCHES["weight_scale"] == 2  # the values are scaled in every call
    assert_same(first, softmax(x, y, cw.clone()))
    assert select.LAUNCHES["weight_scale"] == 3
    generic = softmax(x, y, cw, mode="off")
    for u, w in zip(first, generic, strict=True):
        np.testing.assert_allclose(u, w, rtol=2e-5, atol=2e-6)


def test_an_in_place_change_of_the_weights_is_seen():
    x, y, cw = data(seed=1)
    before = softmax(x, y, cw)
    with torch.no_grad():
        cw[int(y[0])] = 50.0
    after = softmax(x, y, cw)
    assert not np.array_equal(before[0], after[0])
    assert_same(after, softmax(x, y, cw.clone()))
    cw.mul_(4.0)  # a power of two: the same weighted mean
    assert_same(after, softmax(x, y, cw))


def test_an_in_place_change_through_data_is_seen():
    # `.data` shares the storage but not the version counter: only scaling in every call
    # sees such a write.
    x, y, cw = data(seed=1)
    before = softmax(x, y, cw)
    version = cw._version
    cw.data[int(y[0])] = 50.0
    assert cw._version == version
    after = softmax(x, y, cw)
    assert not np.array_equal(before[0], after[0])
    assert_same(after, softmax(x, y, cw.clone()))


def test_weights_swapped_through_data_are_seen():
    x, y, cw = data(seed=2)
    before = softmax(x, y, cw)
    other = torch.rand(C, generator=torch.Generator().manual_seed(3)) + 0.5
    cw.data = other.clone()  # no version bump: the storage differs
    after = softmax(x, y, cw)
    assert not np.array_equal(before[0], after[0])
    assert_same(after, softmax(x, y, other))


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_the_values_are_checked_in_every_call(bad):
    x, y, cw = data(seed=4)
    softmax(x, y, cw)
    softmax(x, y, cw)  # remembered
    with torch.no_grad():
        cw[2] = bad
    with pytest.raises(ValueError, match="class_weight"):
        softmax(x, y, cw)
    for reduction in ("mean", "sum"):  # the host checks remembered, the values not
        with pytest.raises(ValueError, match="class_weight"):
            softmax(x, y, cw, reduction=reduction)


def test_the_host_checks_follow_the_logits():
    x, y, cw = data(seed=5)
    softmax(x, y, cw)
    wider, _, _ = data(seed=5, c=C + 1)
    with pytest.raises(ValueError, match="class_weight"):
        softmax(wider, y, cw)  # C + 1 classes: the same tensor is the wrong shape now
    halves = softmax(x.bfloat16(), y, cw)  # another logits dtype: the same compute dtype
    for u, w in zip(halves, softmax(x.bfloat16(), y, cw, mode="off"), strict=True):
        np.testing.assert_allclose(u, w, rtol=2e-2, atol=2e-2)
    doubles = softmax(x, y, cw.double())  # cast per call, not remembered as a float32
    for u, w in zip(doubles, softmax(x, y, cw), strict=True):
        np.testing.assert_allclose(u, w, rtol=1e-6)
    with pytest.raises(TypeError, match="class_weight"):
        softmax(x, y, cw.to(torch.complex64))


def test_a_repeated_call_issues_no_more_device_operations():
    x, y, cw = data(seed=6)
    xt = x.clone().requires_grad_(True)

    def call():
        xt.grad = None  # (no accumulation into an earlier gradient)
        return wxent.softmax_cross_entropy(
            xt, y, class_weight=cw, ignore_index=-100, reduction="weighted_mean"
        )

    with DeviceOps() as first:
        call().backward()
    with DeviceOps() as again:
        call().backward()
    assert again.reads == first.reads == 1
    assert again.ops == first.ops, (first.report(), again.report())
    assert again.kernels == first.kernels, (first.report(), again.report())
    with torch.no_grad():
        cw.add_(1.0)
    with DeviceOps() as changed:
        call().backward()
    assert changed.kernels == first.kernels and changed.ops == first.ops


def test_sigmoid_pos_weight_is_checked_in_every_call():
    rng = np.random.default_rng(7)
    x = torch.tensor(rng.normal(size=(4, C)), dtype=torch.float32, requires_grad=True)
    z = torch.tensor(rng.uniform(size=(4, C)) < 0.5, dtype=torch.float32)
    pw = torch.tensor(rng.uniform(0.5, 4.0, C), dtype=torch.float32)
    first = wxent.sigmoid_cross_entropy(x, z, pos_weight=pw)
    assert len(_config._VALIDATED) == 1
    again = wxent.sigmoid_cross_entropy(x, z, pos_weight=pw)
    assert first.item() == again.item()
    with torch.no_grad():
        pw[0] = 3.0 * pw[0]
    changed = wxent.sigmoid_cross_entropy(x, z, pos_weight=pw)
    assert changed.item() == wxent.sigmoid_cross_entropy(x, z, pos_weight=pw.clone()).item()
    assert changed.item() != first.item()
    with torch.no_grad():
        pw[1] = -1.0
    with pytest.raises(ValueError, match="pos_weight"):
        wxent.sigmoid_cross_entropy(x, z, pos_weight=pw)


def test_the_caches_keep_no_weight_alive():
    x, y, cw = data(seed=8)
    softmax(x, y, cw)
    softmax(x, y, cw)
    ref = weakref.ref(cw)
    del cw
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize(
    "loss",
    [
        lambda x, y, cw, **kw: wxent.softmax_focal_loss(x, y, class_weight=cw, **kw),
        lambda x, y, cw, **kw: wxent.expected_cost_loss(
            x, y, torch.ones(C, C) - torch.eye(C), class_weight=cw, **kw
        ),
    ],
    ids=["softmax_focal_loss", "expected_cost_loss"],
)
@pytest.mark.parametrize("validate", [True, False])
def test_the_other_softmax_kernels_remember_alike(loss, validate):
    x, y, cw = data(seed=9)
    kw = {"ignore_index": -100, "reduction": "weighted_mean", "validate": validate}

    def run(weights):
        xt = x.clone().requires_grad_(True)
        value = loss(xt, y, weights, **kw)
        value.backward()
        return value.detach().numpy(), xt.grad.numpy()

    first = run(cw)
    again = run(cw)
    assert_same(first, again)
    assert select.LAUNCHES["weight_scale"] == 2
    with torch.no_grad():
        cw[int(y[0])] = 40.0
    changed = run(cw)
    assert_same(changed, run(cw.clone()))
    assert not np.array_equal(first[0], changed[0])


def test_a_full_cache_starts_over(monkeypatch):
    monkeypatch.setattr(_config, "_VALIDATED_SIZE", 2)
    x, y, _ = data(seed=10)
    weights = [data(seed=11 + i)[2] for i in range(3)]
    results = [softmax(x, y, w) for w in weights]
    assert len(_config._VALIDATED) == 1  # the third one
    for w, expected in zip(weights, results, strict=True):
        assert_same(softmax(x, y, w), expected)


def test_a_weight_along_another_class_axis_is_broadcast_again(monkeypatch):
    # per_class's cache serves every PyTorch path: here the generic one, class_axis=1
    monkeypatch.setenv("WXENT_KERNELS", "off")
    rng = np.random.default_rng(12)
    x = torch.tensor(rng.normal(size=(2, C, 3)), dtype=torch.float32)
    z = torch.tensor(rng.uniform(size=(2, C, 3)) < 0.5, dtype=torch.float32)
    pw = torch.tensor(rng.uniform(0.5, 4.0, C), dtype=torch.float32)

    def run(weights):
        return wxent.sigmoid_cross_entropy(x, z, pos_weight=weights, class_axis=1).item()

    first = run(pw)
    assert len(_config._VALIDATED) == 1
    assert run(pw) == first == run(pw.clone())
    flat = torch.tensor(rng.normal(size=(2, 3, C)), dtype=torch.float32)
    last = wxent.sigmoid_cross_entropy(flat, z.transpose(1, 2), pos_weight=pw).item()
    moved = wxent.sigmoid_cross_entropy(flat.transpose(1, 2), z, pos_weight=pw, class_axis=1)
    assert moved.item() == pytest.approx(last, rel=1e-6)
