"""A default call reads once on the host, a few values, and never a large array.

Value checks run in the arrays' own framework; the loss reads one folded flag (PyTorch:
its flags and the probability look's four numbers, stacked into one small vector read
in one transfer). These tests count every way a PyTorch tensor or a JAX array can reach
the host (``item``, ``tolist``, ``numpy``, ``cpu``, ``bool``, ``float``, ``int``,
``np.asarray``) during one call with default options, and check the size of what was
read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import wxent

N, C, D = 6, 4, 3
#: The most values the one read of a call may hold: a few flags and four numbers of the
#: probability look, whatever the size of the arrays (see tests/test_host_time.py).
READ_SIZE = 16


def _cases(asarray: Callable[..., Any], cost: np.ndarray) -> dict[str, Callable[[], Any]]:
    rng = np.random.default_rng(0)
    x = asarray(rng.normal(size=(N, C)).astype(np.float32))
    y = asarray(np.array([0, 1, 2, 3, -100, 1]))
    y_ok = asarray(np.array([0, 1, 2, 3, 0, 1]))
    soft = asarray(np.full((N, C), 1.0 / C, np.float32))
    z = asarray((rng.uniform(size=(N, C)) < 0.3).astype(np.float32))
    cw = asarray(np.array([1.0, 2.0, 0.5, 1.0], np.float32))
    sw = asarray(np.linspace(0.5, 1.5, N).astype(np.float32))
    h = asarray(rng.normal(size=(N, D)).astype(np.float32))
    w = asarray(rng.normal(size=(C, D)).astype(np.float32))
    return {
        "softmax_indices": lambda: wxent.softmax_cross_entropy(
            x, y, class_weight=cw, sample_weight=sw, ignore_index=-100, reduction="weighted_mean"
        ),
        "softmax_probabilities": lambda: wxent.softmax_cross_entropy(
            x, soft, class_weight=[1.0, 2.0, 0.5, 1.0], label_smoothing=0.1
        ),
        "softmax_none": lambda: wxent.softmax_cross_entropy(x, y_ok, reduction="none"),
        "sigmoid": lambda: wxent.sigmoid_cross_entropy(
            x, z, pos_weight=cw, neg_weight=[1.0, 1.0, 2.0, 1.0], sample_weight=sw
        ),
        "sigmoid_none": lambda: wxent.sigmoid_cross_entropy(x, z, reduction="none"),
        "sigmoid_focal": lambda: wxent.sigmoid_focal_loss(x, z, alpha=0.25),
        "asymmetric": lambda: wxent.asymmetric_loss(x, z, pos_weight=cw),
        "softmax_focal": lambda: wxent.softmax_focal_loss(x, y, class_weight=cw, ignore_index=-100),
        "logit_adjusted": lambda: wxent.logit_adjusted_cross_entropy(x, y_ok, [0.4, 0.3, 0.2, 0.1]),
        "expected_cost": lambda: wxent.expected_cost_loss(x, y_ok, cost),
        "cost_sensitive": lambda: wxent.cost_sensitive_cross_entropy(x, y_ok, cost),
        "confusion_weighted": lambda: wxent.confusion_weighted_cross_entropy(x, y_ok, 1.0 + cost),
        "linear": lambda: wxent.linear_cross_entropy(h, w, y, ignore_index=-100),
    }


COST = (1.0 - np.eye(C)).astype(np.float32)


@contextlib.contextmanager
def _count_torch_reads() -> Iterator[list[int]]:
    reads: list[int] = []
    names = ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__", "__index__")
    originals = {name: getattr(torch.Tensor, name) for name in names}

    def counting(name: str) -> Callable[..., Any]:
        original = originals[name]

        def read(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            reads.append(self.numel())
            return original(self, *args, **kwargs)

        return read

    try:
        for name in names:
            setattr(torch.Tensor, name, counting(name))
        yield reads
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


@contextlib.contextmanager
def _count_jax_reads() -> Iterator[list[int]]:
    reads: list[int] = []
    array_type = type(jnp.zeros(1))
    names = ("__array__", "__bool__", "__float__", "__int__", "__index__", "tolist", "item")
    originals = {name: getattr(array_type, name) for name in names}

    def counting(name: str) -> Callable[..., Any]:
        original = originals[name]

        def read(self: Any, *args: Any, **kwargs: Any) -> Any:
            reads.append(int(np.prod(self.shape)))
            return original(self, *args, **kwargs)

        return read

    try:
        for name in names:
            setattr(array_type, name, counting(name))
        yield reads
    finally:
        for name, original in originals.items():
            setattr(array_type, name, original)


CASES = sorted(_cases(np.asarray, COST))


@pytest.mark.parametrize("case", CASES)
def test_torch_default_call_reads_one_scalar(case):
    call = _cases(torch.as_tensor, COST)[case]
    call()  # warm-up: first calls may import and cache
    with _count_torch_reads() as reads:
        loss = call()
    assert len(reads) <= 1, reads
    assert all(size <= READ_SIZE for size in reads), reads
    loss.sum().backward() if loss.requires_grad else None


@pytest.mark.parametrize("case", CASES)
def test_jax_default_call_reads_one_scalar(case):
    call = _cases(jnp.asarray, COST)[case]
    call()
    with _count_jax_reads() as reads:
        call()
    assert len(reads) <= 1, reads
    assert all(size <= C for size in reads), reads


@pytest.mark.parametrize("case", ["softmax_indices", "sigmoid", "softmax_focal", "linear"])
def test_torch_gradients_read_nothing_more(case):
    """The backward pass reads nothing on the host either."""
    x = torch.randn(N, C, requires_grad=True)
    y = torch.tensor([0, 1, 2, 3, -100, 1])
    z = (torch.rand(N, C) < 0.3).float()
    calls = {
        "softmax_indices": lambda: wxent.softmax_cross_entropy(x, y, ignore_index=-100),
        "sigmoid": lambda: wxent.sigmoid_cross_entropy(x, z, pos_weight=[1.0, 2.0, 3.0, 4.0]),
        "softmax_focal": lambda: wxent.softmax_focal_loss(x, y, ignore_index=-100),
        "linear": lambda: wxent.linear_cross_entropy(
            x, torch.randn(5, C), y.clamp(min=0), ignore_index=-100
        ),
    }
    loss = calls[case]()
    with _count_torch_reads() as reads:
        loss.backward()
    assert reads == []


def test_bad_labels_still_raise_the_same_message_with_one_flag():
    x = torch.zeros(3, C)
    with pytest.raises(ValueError, match=r"class indices in \[0, 4\).*label value 7"):
        wxent.softmax_cross_entropy(x, torch.tensor([0, 7, 1]))
    with pytest.raises(ValueError, match=r"finite non-negative values"):
        wxent.softmax_cross_entropy(
            x, torch.tensor([0, 1, 1]), class_weight=torch.tensor([1.0, -1.0, 1.0, 1.0])
        )
    with pytest.raises(ValueError, match=r"NaN value"):
        wxent.sigmoid_cross_entropy(torch.full((2, C), float("nan")), torch.zeros(2, C))


def test_out_of_range_labels_are_clamped_before_the_gather():
    """A huge label never indexes memory: the check raises after a clamped gather."""
    x = jnp.zeros((2, C))
    with pytest.raises(ValueError, match="label value 1000000"):
        wxent.softmax_cross_entropy(x, jnp.array([0, 1_000_000]))
    with pytest.raises(ValueError, match="label value -5"):
        wxent.softmax_focal_loss(torch.zeros(2, C), torch.tensor([-5, 0]))


def test_validate_false_reads_nothing_on_the_device_paths():
    """``validate=False`` reads no flag where the fast path is exact (JAX)."""
    x = jnp.asarray(np.random.default_rng(1).normal(size=(N, C)).astype(np.float32))
    y = jnp.array([0, 1, 2, 3, 0, 1])
    wxent.softmax_cross_entropy(x, y, validate=False)
    with _count_jax_reads() as reads:
        wxent.softmax_cross_entropy(x, y, validate=False)
    assert reads == []


def test_jit_traces_read_nothing():
    x = jnp.zeros((N, C))
    y = jnp.zeros(N, dtype=jnp.int32)
    f = jax.jit(lambda a, b: wxent.softmax_cross_entropy(a, b, class_weight=[1.0, 2, 3, 4]))
    f(x, y)
    with _count_jax_reads() as reads:
        f(x, y + 1)
    assert reads == []
