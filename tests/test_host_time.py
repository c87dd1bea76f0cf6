"""The host side of a default PyTorch call stays lean: structure, not timings.

At training batch sizes a loss call is dominated by the Python around its kernels
(``benchmarks/bench_host.py`` times it). These tests pin what makes it lean without
timing anything: one host read of a few values whatever the array sizes, a bounded
number of torch operations per call, the native fast paths taken, the direct-torch
helpers equal to the Array API code they replace (bit for bit), and every check of the
default path still raising its message.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

import wxent
from test_host_reads import READ_SIZE, _count_torch_reads
from wxent import _fastpaths, _reduction
from wxent import _namespace as ns
from wxent import _value_checks as checks
from wxent._fastpaths import select

XP = ns.namespace(torch.zeros(1))


def _data(n: int, c: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, c, (n,), generator=g)
    y_ign = y.clone()
    y_ign[::7] = -100
    return {
        "x": torch.randn(n, c, generator=g),
        "y": y,
        "y_ign": y_ign,
        "cw": torch.rand(c, generator=g) + 0.5,
        "z": (torch.rand(n, c, generator=g) < 0.2).float(),
        "pw": torch.rand(c, generator=g) * 3 + 0.5,
    }


def _calls(d: dict[str, torch.Tensor], **kw: Any) -> dict[str, Callable[[torch.Tensor], Any]]:
    """The cases of benchmarks/bench_host.py (``kw``: e.g. ``validate=False``)."""
    return {
        "softmax_mean": lambda a: wxent.softmax_cross_entropy(a, d["y"], **kw),
        "softmax_weighted": lambda a: wxent.softmax_cross_entropy(
            a, d["y_ign"], class_weight=d["cw"], ignore_index=-100, reduction="weighted_mean",
            **kw,
        ),
        "softmax_smoothing": lambda a: wxent.softmax_cross_entropy(
            a, d["y"], label_smoothing=0.1, **kw
        ),
        "sigmoid_pos_weight": lambda a: wxent.sigmoid_cross_entropy(
            a, d["z"], pos_weight=d["pw"], **kw
        ),
        "sigmoid_focal": lambda a: wxent.sigmoid_focal_loss(a, d["z"], alpha=0.25, **kw),
        "softmax_focal": lambda a: wxent.softmax_focal_loss(a, d["y"], **kw),
    }  # fmt: skip


CASES = sorted(_calls(_data(4, 3)))


class _CountOps(TorchFunctionMode):
    """Counts torch calls by name (attribute reads such as ``.shape`` left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter[str] = collections.Counter()

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = getattr(func, "__name__", str(func))
        if name != "__get__":
            self.counts[name] += 1
        return func(*args, **(kwargs or {}))


def _ops(call: Callable[[], Any]) -> collections.Counter[str]:
    call()  # warm-up (imports, caches)
    with _CountOps() as mode:
        call()
    return mode.counts


# The torch operations of one default call (forward), counted at 64 x 10 (it does not
# depend on the size): the budget allows some slack over what the call issues now, and
# fails where a change brings back the dozens of small launches of a generic step.
BUDGET = {
    "softmax_mean": 16,
    "softmax_weighted": 52,
    "softmax_smoothing": 16,
    "sigmoid_pos_weight": 20,
    "sigmoid_focal": 60,
    "softmax_focal": 70,
}


@pytest.mark.parametrize("case", CASES)
def test_default_call_issues_a_bounded_number_of_torch_operations(case):
    d = _data(64, 10)
    counts = _ops(lambda: _calls(d)[case](d["x"]))
    assert sum(counts.values()) <= BUDGET[case], counts
    big = _data(256, 1000)  # the same operations (and the slice of the probed rows)
    assert sum(_ops(lambda: _calls(big)[case](big["x"])).values()) <= sum(counts.values()) + 1


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("size", [(6, 4), (64, 10), (256, 1000)])
def test_default_call_reads_once_a_few_values_whatever_the_size(case, size):
    d = _data(*size)
    x = d["x"].clone().requires_grad_(True)
    call = _calls(d)[case]
    call(x)
    with _count_torch_reads() as reads:
        loss = call(x)
    assert len(reads) == 1 and reads[0] <= READ_SIZE, reads
    with _count_torch_reads() as reads:
        loss.backward()
    assert reads == []


@pytest.mark.parametrize("case", CASES)
def test_validate_false_on_the_cpu_reads_at_most_once(case):
    """(Where the native kernels are inexact at infinite logits: a NaN flag or two.)"""
    d = _data(64, 10)
    call = _calls(d, validate=False)[case]
    call(d["x"])
    with _count_torch_reads() as reads:
        call(d["x"])
    assert len(reads) <= 1 and all(size <= 2 for size in reads), reads


def test_native_kernels_carry_the_default_calls():
    d = _data(64, 10)
    calls = _calls(d)
    assert _ops(lambda: calls["softmax_mean"](d["x"]))["cross_entropy"] == 1
    assert _ops(lambda: calls["softmax_weighted"](d["x"]))["cross_entropy"] == 1
    assert _ops(lambda: calls["softmax_smoothing"](d["x"]))["cross_entropy"] == 1
    counts = _ops(lambda: calls["sigmoid_pos_weight"](d["x"]))
    assert counts["binary_cross_entropy_with_logits"] == 1
    # nothing of the Triton path runs off CUDA
    before = dict(select.LAUNCHES)
    calls["softmax_weighted"](d["x"])
    assert dict(select.LAUNCHES) == before


def _reference(case: str, d: dict[str, torch.Tensor]) -> float:
    """The float64 value of a case, from the formulas."""
    x = d["x"].double()
    logp = torch.log_softmax(x, dim=-1)
    rows = torch.arange(len(x))
    if case == "softmax_mean":
        return float(-logp[rows, d["y"]].mean())
    if case == "softmax_weighted":
        keep = d["y_ign"] != -100
        y = d["y_ign"][keep]
        w = d["cw"].double()[y]
        return float((-logp[keep][torch.arange(len(y)), y] * w).sum() / w.sum())
    if case == "softmax_smoothing":
        return float((0.9 * -logp[rows, d["y"]] + 0.1 * -logp.mean(dim=-1)).mean())
    z = d["z"].double()
    sp_neg, sp_pos = torch.nn.functional.softplus(-x), torch.nn.functional.softplus(x)
    if case == "sigmoid_pos_weight":
        return float((d["pw"].double() * z * sp_neg + (1 - z) * sp_pos).mean())
    if case == "sigmoid_focal":
        p = torch.sigmoid(x)
        return float((0.25 * z * (1 - p) ** 2 * sp_neg + 0.75 * (1 - z) * p**2 * sp_pos).mean())
    py = logp[rows, d["y"]]
    return float((-((1 - py.exp()) ** 2) * py).mean())


@pytest.mark.parametrize("case", CASES)
def test_values_and_gradients_equal_the_generic_path_and_float64(case, monkeypatch):
    d = _data(64, 10, seed=3)
    results = []
    for enabled, kernels in ((True, "auto"), (False, "off")):
        monkeypatch.setattr(_fastpaths, "ENABLED", enabled)
        monkeypatch.setenv("WXENT_KERNELS", kernels)
        for validate in (True, False):
            x = d["x"].clone().requires_grad_(True)
            loss = _calls(d, validate=validate)[case](x)
            loss.backward()
            results.append((loss.detach(), x.grad))
    first = results[0]
    for loss, grad in results[1:]:
        torch.testing.assert_close(loss, first[0], rtol=2e-6, atol=0)
        torch.testing.assert_close(grad, first[1], rtol=2e-5, atol=1e-8)
    assert float(first[0]) == pytest.approx(_reference(case, d), rel=2e-6)


def _generic_scale_free(weights: list[Any], valid: Any) -> list[Any]:
    """``_reduction.scale_free`` through array-api-compat (the code the torch path replaces)."""
    original = ns.torch_of
    try:
        ns.torch_of = lambda xp: None  # type: ignore[assignment]
        return _reduction.scale_free(XP, weights, valid, "weighted_mean")
    finally:
        ns.torch_of = original  # type: ignore[assignment]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [1.0, 1e-40, 1e-310, 1e30, 1e300, 0.0])
def test_direct_weight_scaling_equals_the_array_api_code_bit_for_bit(dtype, scale):
    if dtype == torch.float32 and scale in (1e-310, 1e300):
        scale = {1e-310: 1e-44, 1e300: 1e37}[scale]
    g = torch.Generator().manual_seed(5)
    w = (torch.rand(12, generator=g, dtype=torch.float64) * scale).to(dtype)
    q = (torch.rand(12, generator=g, dtype=torch.float64) * 3).to(dtype)
    valid = torch.rand(12, generator=g) < 0.7
    for weights, mask in (([w], None), ([w], valid), ([w, q], None), ([None, w], valid)):
        direct = _reduction.scale_free(XP, weights, mask, "weighted_mean")
        generic = _generic_scale_free(weights, mask)
        for a, b in zip(direct, generic, strict=True):
            assert (a is None) == (b is None)
            if a is not None:
                assert a.dtype == b.dtype and torch.equal(a, b), (a, b)


def test_the_probability_look_judged_on_the_host_equals_the_device_flag():
    rng = np.random.default_rng(0)
    rows = rng.uniform(size=(40, 8)).astype(np.float32)
    probs = rows / rows.sum(axis=1, keepdims=True)
    cases = [
        (probs, True),
        (probs * np.float32(1 - 1e-3), True),  # row sums at the lower bound
        (probs * np.float32(1 - 1.01e-3), True),
        (probs * np.float32(1 + 1e-3), True),
        (probs * np.float32(1 + 0.99e-3), True),
        (rng.normal(size=(40, 8)).astype(np.float32), True),
        (np.full((40, 8), 0.125, np.float32), True),  # all equal: logits
        (rows, False),
        (rows * 2, False),
        (np.where(rows > 0.5, np.nan, rows).astype(np.float32), False),
    ]
    for values, softmax in cases:
        for dtype in (torch.float32, torch.float64, torch.bfloat16):
            x = torch.as_tensor(values).to(dtype)
            bits = 16 if dtype == torch.bfloat16 else 32
            probe = checks.Probe(XP, x, 1, softmax=softmax, bits=bits)
            stats = probe.stats()
            assert stats is not None
            host = probe.judge([float(s) for s in stats], stats[0].dtype)
            assert host == bool(probe()), (values[:2], softmax, dtype)


@pytest.mark.parametrize(
    "dtype", [torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64]
)
@pytest.mark.parametrize("high", [0, 1, 5, 127, 255, 1000])
def test_label_range_flag_by_dtype(dtype, high):
    info = torch.iinfo(dtype) if dtype != torch.bool else None
    low, top = (0, 1) if info is None else (info.min, info.max)  # the dtype's range
    for values in ([max(low, -3), min(top, high + 2)], [0, min(top, high)], [0, 0], [top, top]):
        x = torch.tensor(values).to(dtype)
        flag = checks.outside_flag(XP, x, 0, high)
        judged = checks.RangeCheck(XP, lambda x=x: x, 0, high)  # read with the call's flags
        stats = judged.stats()
        assert stats is not None
        if low >= 0 and top <= high:
            assert flag is None and stats == ()  # nothing of the dtype lies outside
        else:
            expected = any(not 0 <= int(v) <= high for v in x.tolist())
            assert bool(flag) == expected, (dtype, values, high)
            # the numbers as the one read gives them: promoted to float32 with others
            got = torch.stack([*stats, torch.tensor(0.5)]).tolist()[:-1]
            assert judged.wrong(got) == expected, (dtype, values, high)


@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("at_most_one", [False, True])
def test_weight_checks_judged_on_the_host_equal_the_device_flag(positive, at_most_one):
    inf, nan = float("inf"), float("nan")
    for values in ([0.5, 1.0], [0.0, 2.0], [-1e-45, 1.0], [1.0, inf], [nan, 1.0], [0.25, 0.75]):
        for dtype in (torch.float32, torch.float64):
            x = torch.tensor(values, dtype=dtype)
            check = checks.ConfigCheck(XP, x, positive=positive, at_most_one=at_most_one)
            flag = check()
            stats = check.stats()
            assert stats is not None
            assert check.wrong(torch.stack(stats).tolist()) == bool(flag), (values, dtype)


def test_uint8_labels_with_at_least_256_classes_need_no_range_check():
    x = torch.randn(4, 300)
    y = torch.tensor([0, 255, 3, 7], dtype=torch.uint8)
    counts = _ops(lambda: wxent.softmax_cross_entropy(x, y))
    expected = torch.nn.functional.cross_entropy(x, y.long())
    torch.testing.assert_close(wxent.softmax_cross_entropy(x, y), expected)
    small = torch.randn(4, 10)
    counts_small = _ops(lambda: wxent.softmax_cross_entropy(small, torch.tensor([0, 1, 2, 3])))
    assert counts["aminmax"] < counts_small["aminmax"]  # the labels' check is not there
    with pytest.raises(ValueError, match=r"class indices in \[0, 10\).*label value 200"):
        wxent.softmax_cross_entropy(small, torch.tensor([0, 200, 1, 2], dtype=torch.uint8))


BAD = {
    "label above C": (
        lambda d: wxent.softmax_cross_entropy(d["x"], torch.tensor([0, 10] + [1] * 62)),
        ValueError,
        r"class indices in \[0, 10\).*label value 10",
    ),
    "negative label": (
        lambda d: wxent.softmax_cross_entropy(
            d["x"], torch.tensor([-5] + [1] * 63), class_weight=d["cw"],
            reduction="weighted_mean",
        ),
        ValueError,
        r"label value -5",
    ),
    "ignored label beside a bad one": (
        lambda d: wxent.softmax_cross_entropy(
            d["x"], torch.tensor([-100, 12] + [1] * 62), ignore_index=-100
        ),
        ValueError,
        r"label value 12",
    ),
    "negative class weight": (
        lambda d: wxent.softmax_cross_entropy(
            d["x"], d["y"], class_weight=torch.tensor([1.0, -1.0] + [1.0] * 8)
        ),
        ValueError,
        r"finite non-negative values",
    ),
    "NaN class weight": (
        lambda d: wxent.softmax_cross_entropy(
            d["x"], d["y"], class_weight=torch.tensor([float("nan")] + [1.0] * 9),
            reduction="weighted_mean",
        ),
        ValueError,
        r"finite non-negative values",
    ),
    "NaN logits": (
        lambda d: wxent.softmax_cross_entropy(torch.full((64, 10), float("nan")), d["y"]),
        ValueError,
        r"NaN",
    ),
    "sigmoid label 2": (
        lambda d: wxent.sigmoid_cross_entropy(d["x"], d["z"] * 2, pos_weight=d["pw"]),
        ValueError,
        r"labels",
    ),
    "sigmoid NaN label": (
        lambda d: wxent.sigmoid_focal_loss(d["x"], torch.full((64, 10), float("nan"))),
        ValueError,
        r"labels",
    ),
    "negative pos_weight": (
        lambda d: wxent.sigmoid_cross_entropy(d["x"], d["z"], pos_weight=-d["pw"]),
        ValueError,
        r"finite non-negative values",
    ),
    "softmax focal label": (
        lambda d: wxent.softmax_focal_loss(d["x"], torch.tensor([0, 99] + [1] * 62)),
        ValueError,
        r"label value 99",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_still_raises_its_message_on_the_default_path(name):
    call, error, message = BAD[name]
    d = _data(64, 10)
    with pytest.raises(error, match=message):
        call(d)


def test_probabilities_still_warn_after_one_read():
    d = _data(64, 10)
    probs = torch.softmax(d["x"], dim=-1)
    with pytest.warns(wxent.LogitsWarning), _count_torch_reads() as reads:
        wxent.softmax_cross_entropy(probs, d["y"])
    assert len(reads) == 1
    with pytest.warns(wxent.LogitsWarning):
        wxent.sigmoid_cross_entropy(torch.sigmoid(d["x"]), d["z"])


@pytest.mark.parametrize("case", CASES)
def test_default_calls_compile_without_a_graph_break(case):
    d = _data(16, 5)
    call = _calls(d)[case]
    x = d["x"].clone().requires_grad_(True)
    compiled = torch.compile(call, backend="eager", fullgraph=True)
    loss = compiled(x)
    loss.backward()
    xe = d["x"].clone().requires_grad_(True)
    eager = call(xe)
    eager.backward()
    torch.testing.assert_close(loss.detach(), eager.detach(), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(x.grad, xe.grad, rtol=1e-5, atol=1e-7)
