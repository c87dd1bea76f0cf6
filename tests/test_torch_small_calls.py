"""Small eager PyTorch CPU calls with default options: their ATen operations, counted.

At 64 x 10 a call's time is host time, a few microseconds for every small operation it
dispatches and the Python around it (``benchmarks/bench_torch_small.py`` times them).
These tests pin the number of ATen operations (as ``tests/device_ops.py`` counts them:
views and allocations left out) of the forward and backward passes of the default calls,
without timing anything: the weights' power-of-two scale of a ``"weighted_mean"``
(:func:`wxent._reduction.scale_free`), its safe division and the result's NaN flag in
particular, and that the scaled weights stay those of the Array API code bit for bit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import wxent
from device_ops import FREE, READS
from wxent import _namespace as ns
from wxent import _reduction

XP = ns.namespace(torch.zeros(1))


class _AtenOps(TorchDispatchMode):
    """ATen operations that run a kernel (not views, allocations or host reads), by name."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: Counter[str] = Counter()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = func.overloadpacket.__name__
        if name not in FREE and name not in READS and not func.is_view:
            self.ops[name] += 1
        return func(*args, **(kwargs or {}))


def _count(call: Callable[[], Any]) -> Counter[str]:
    call()  # (warm: first-call caches)
    with _AtenOps() as mode:
        call()
    return mode.ops


def _data() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "x": torch.randn(64, 10, generator=g),
        "y": torch.randint(0, 10, (64,), generator=g),
        "z": (torch.rand(64, 10, generator=g) < 0.3).float(),
        "cw": torch.rand(10, generator=g) + 0.5,
        "sw": torch.rand(64, generator=g) + 0.5,
        "pw": torch.rand(10, generator=g) * 3 + 0.5,
    }


#: name -> (call of the logits, forward budget, backward budget). Before: 11, 14, 39, 39,
#: 38, 13, 48 and 42 operations forward, the weighted means 8 (sigmoid 13) backward. The
#: weighted means' scale and safe division now take fewer (the scale's ``amax``
#: detached: no backward through it), and the NaN flag of a 0-d result (``isnan``; the
#: sigmoid fast path's ``isfinite``, five operations) is judged on the host from the
#: result itself, read with the call's other numbers (not where a weighted mean's
#: numerator adds its own NaN flag: OR-ed on the device, the read keeps its size).
CALLS: dict[str, tuple[Callable[[dict[str, Any], torch.Tensor], Any], int, int]] = {
    "softmax CE": (lambda d, x: wxent.softmax_cross_entropy(x, d["y"]), 10, 4),
    "softmax CE, class_weight": (
        lambda d, x: wxent.softmax_cross_entropy(x, d["y"], class_weight=d["cw"]), 13, 6
    ),
    "softmax CE, class_weight, weighted_mean": (
        lambda d, x: wxent.softmax_cross_entropy(
            x, d["y"], class_weight=d["cw"], reduction="weighted_mean"
        ),
        32,
        7,
    ),
    "softmax CE, class_weight list, weighted_mean": (
        lambda d, x: wxent.softmax_cross_entropy(
            x, d["y"], class_weight=d["cw"].tolist(), reduction="weighted_mean"
        ),
        32,
        7,
    ),
    "softmax CE, sample_weight, weighted_mean": (
        lambda d, x: wxent.softmax_cross_entropy(
            x, d["y"], sample_weight=d["sw"], reduction="weighted_mean"
        ),
        31,
        7,
    ),
    "sigmoid CE, pos_weight": (
        lambda d, x: wxent.sigmoid_cross_entropy(x, d["z"], pos_weight=d["pw"]), 7, 10
    ),
    "sigmoid CE, pos_weight, weighted_mean": (
        lambda d, x: wxent.sigmoid_cross_entropy(
            x, d["z"], pos_weight=d["pw"], reduction="weighted_mean"
        ),
        36,
        12,
    ),
    "sigmoid_focal_loss": (lambda d, x: wxent.sigmoid_focal_loss(x, d["z"]), 41, 5),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CALLS))
def test_default_call_forward_and_backward_operation_budget(name):
    call, forward, backward = CALLS[name]
    d = _data()
    x = d["x"].clone().requires_grad_(True)
    ops = _count(lambda: call(d, x))
    assert sum(ops.values()) <= forward, ops
    loss = call(d, x)
    with _AtenOps() as mode:
        loss.backward()
    assert sum(mode.ops.values()) <= backward, mode.ops


def test_weighted_mean_scale_is_a_dozen_operations():
    g = torch.Generator().manual_seed(1)
    w = torch.rand(64, generator=g) + 0.5
    q = torch.rand(10, generator=g) * 3
    valid = torch.rand(64, generator=g) < 0.8
    one = _count(lambda: _reduction.scale_free(XP, [w], None, "weighted_mean"))
    assert sum(one.values()) <= 12, one  # 19 before, 3 of them 0-d tensors of numbers
    masked = _count(lambda: _reduction.scale_free(XP, [w], valid, "weighted_mean"))
    assert sum(masked.values()) <= 14, masked
    pair = _count(lambda: _reduction.scale_free(XP, [q, q], None, "weighted_mean"))
    assert sum(pair.values()) <= 16, pair


@pytest.mark.parametrize("scale", [1.0, 3.9999998, 4.0, 1e-40, 1e-44, 2.0**-149, 1e37, 0.0])
def test_fewer_scale_operations_give_the_array_api_factors_bit_for_bit(scale):
    """Also at a largest weight of 0, just below a power of two, subnormal or huge."""
    g = torch.Generator().manual_seed(2)
    w = torch.rand(9, generator=g, dtype=torch.float64) * scale
    w[0] = scale
    cases = [w.float(), w]
    cases.append(torch.tensor([float("inf"), 1.0, 2.0]))  # (validate=False: left as given)
    cases.append(torch.tensor([float("nan"), 1.0, 2.0]))
    cases.append(torch.tensor([-3.0, -1.0]))
    for weights in cases:
        direct = _reduction.scale_free(XP, [weights], None, "weighted_mean")[0]
        original = ns.torch_of
        try:
            ns.torch_of = lambda xp: None  # type: ignore[assignment]
            generic = _reduction.scale_free(XP, [weights], None, "weighted_mean")[0]
        finally:
            ns.torch_of = original  # type: ignore[assignment]
        assert direct.dtype == generic.dtype
        assert torch.equal(direct, generic) or (
            torch.equal(direct.isnan(), generic.isnan())
            and torch.equal(direct[~direct.isnan()], generic[~generic.isnan()])
        ), (weights, direct, generic)


def test_weighted_mean_gradient_of_the_weights_unchanged_by_the_detached_scale():
    d = _data()
    cw = d["cw"].clone().requires_grad_(True)
    x = d["x"].clone().requires_grad_(True)
    loss = wxent.softmax_cross_entropy(x, d["y"], class_weight=cw, reduction="weighted_mean")
    loss.backward()
    w = cw.detach()[d["y"]]
    losses = torch.nn.functional.cross_entropy(d["x"], d["y"], reduction="none")
    expected = torch.zeros(10).index_add_(
        0, d["y"], (losses - (w * losses).sum() / w.sum()) / w.sum()
    )
    torch.testing.assert_close(cw.grad, expected, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(
        loss, torch.nn.functional.cross_entropy(d["x"], d["y"], weight=cw.detach())
    )
