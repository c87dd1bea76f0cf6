"""The generic path on PyTorch: few full-size passes, one graph under torch.compile, exact.

With the fast paths off (``WXENT_KERNELS=off`` and ``wxent._fastpaths.ENABLED = False``)
every loss runs the Array API core (as a loss without a fast path always does). Eagerly,
each elementwise operation over the ``(N, C)`` logits is a pass over memory, and autograd
keeps its output: a ``TorchDispatchMode`` counts the operations whose output has the
logits' shape, forward and backward, against bounds (the row maximum is taken once, the
infinite-logit limits and masks are ``where``s with scalars, the sigmoid family builds on
one softplus pair), and checks that nothing of that size is materialised as a constant.
Under ``torch.compile(fullgraph=True)`` every loss is one graph. Values and gradients
equal the float64 references, also at infinite logits (the limit tests of
``test_focal_limits`` and ``test_softmax_limits``, run here on the generic path).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import reference as ref
import reference_cost as ref_cost
import reference_imbalance as ref_imb
import test_focal_limits as focal_limits
import test_softmax_limits as softmax_limits
import wxent
from conftest import TorchBackend, assert_close
from wxent import _fastpaths

N, C = 6, 40  # the logits' shape; no other array of the calls has it
INF = math.inf

#: Operations that move no data (views, autograd's saved-output aliases).
_FREE = {
    "detach", "expand", "view", "alias", "_unsafe_view", "t", "transpose", "unsqueeze",
    "squeeze", "as_strided", "slice", "select", "permute", "_reshape_alias", "reshape",
    "lift_fresh",
}  # fmt: skip
#: Constant arrays: the scalar operand of a ``where`` needs none.
_CONSTANTS = {"zeros_like", "ones_like", "full_like", "full", "zeros", "ones", "empty_like"}


class FullSizeOps(TorchDispatchMode):
    """Counts the operations whose output has the logits' shape ``(N, C)``."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: Counter[str] = Counter()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        outs = out if isinstance(out, (tuple, list)) else [out]
        if name not in _FREE and any(
            isinstance(o, torch.Tensor) and tuple(o.shape) == (N, C) for o in outs
        ):
            self.ops[name] += 1
        return out


@pytest.fixture(autouse=True)
def generic_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WXENT_KERNELS", "off")
    monkeypatch.setattr(_fastpaths, "ENABLED", False)


def _data(n: int = N, c: int = C, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, size=n)
    y[1] = -100
    p = rng.random((n, c))
    return {
        "x": (2 * rng.standard_normal((n, c))).astype(np.float32),
        "y": y,
        "p": (p / p.sum(axis=1, keepdims=True)).astype(np.float32),
        "z": (rng.random((n, c)) < 0.3).astype(np.float32),
        "w": (0.5 + rng.random(c)).astype(np.float32),
        "costs": (1 - np.eye(c) + rng.random((c, c))).astype(np.float32),
    }


def _losses(d: dict[str, Any]) -> dict[str, Callable[[Any], Any]]:
    """Every loss of the benchmark (``benchmarks/bench_torch_generic.py``), on tensors."""
    t = {k: torch.from_numpy(v) for k, v in d.items()}
    y, p, z, w, costs = t["y"], t["p"], t["z"], t["w"], t["costs"]
    valid_y = torch.where(y < 0, 0, y)
    return {
        "softmax_ce": lambda a: wxent.softmax_cross_entropy(
            a, y, class_weight=w, ignore_index=-100, label_smoothing=0.1
        ),
        "softmax_ce_prob": lambda a: wxent.softmax_cross_entropy(a, p),
        "sigmoid_ce": lambda a: wxent.sigmoid_cross_entropy(a, z, pos_weight=w),
        "sigmoid_focal": lambda a: wxent.sigmoid_focal_loss(a, z, gamma=2.0, alpha=0.25),
        "asymmetric": lambda a: wxent.asymmetric_loss(a, z),
        "asymmetric_clip0": lambda a: wxent.asymmetric_loss(a, z, gamma_pos=1.0, clip=0.0),
        "softmax_focal": lambda a: wxent.softmax_focal_loss(a, y, gamma=2.0, ignore_index=-100),
        "expected_cost": lambda a: wxent.expected_cost_loss(a, valid_y, costs),
    }


#: (forward, backward) bounds on the full-size operations of each loss, eagerly. Before
#: the passes were cut (one row maximum, scalar ``where``s, one softplus pair, the
#: log-sum-exp shift a constant), the same counts were: softmax_ce (8, 11),
#: softmax_ce_prob (13, 10), sigmoid_ce (20, 21), sigmoid_focal (79, 80), asymmetric
#: (64, 61), asymmetric_clip0 (73, 80), softmax_focal (34, 40), expected_cost (12, 10).
BOUNDS = {
    "softmax_ce": (5, 7),
    "softmax_ce_prob": (9, 6),
    "sigmoid_ce": (18, 21),
    "sigmoid_focal": (31, 42),
    "asymmetric": (38, 44),
    "asymmetric_clip0": (29, 42),
    "softmax_focal": (26, 26),
    "expected_cost": (9, 6),
}


def _count(loss: Callable[[Any], Any], x: np.ndarray) -> tuple[Counter[str], Counter[str]]:
    a = torch.from_numpy(x).requires_grad_(True)
    with FullSizeOps() as forward:
        value = loss(a)
    with FullSizeOps() as backward:
        value.backward()
    return forward.ops, backward.ops


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_full_size_operations_are_bounded(name):
    d = _data()
    forward, backward = _count(_losses(d)[name], d["x"])
    fwd_bound, bwd_bound = BOUNDS[name]
    assert sum(forward.values()) <= fwd_bound, forward
    assert sum(backward.values()) <= bwd_bound, backward
    # No constant of the logits' size: a where's other operand is a scalar.
    assert not _CONSTANTS & set(forward), forward


def test_the_counter_sees_full_size_operations():
    # The counter is not blind: a zeros_like where and its pass are counted.
    x = torch.zeros(N, C)
    with FullSizeOps() as mode:
        torch.where(x > 0, x, torch.zeros_like(x))
    assert mode.ops == Counter({"gt": 1, "zeros_like": 1, "where": 1})


def test_the_row_maximum_is_taken_once():
    d = _data()
    a = torch.from_numpy(d["x"]).requires_grad_(True)
    reductions: Counter[str] = Counter()

    class Reductions(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.overloadpacket.__name__
            if name in ("max", "amax") and tuple(args[0].shape) == (N, C):
                reductions[name] += 1
            return func(*args, **(kwargs or {}))

    with Reductions():
        _losses(d)["softmax_ce"](a).backward()
    assert sum(reductions.values()) == 1, reductions


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_every_loss_compiles_to_one_graph_with_the_eager_values(name):
    """``fullgraph=True`` raises at a graph break; values and gradients as eagerly.

    The logits hold ``+inf`` and ``-inf`` entries: the limits, the shield of traced calls
    and the masks are in the graph too.
    """
    torch._dynamo.reset()
    d = _data()
    x = d["x"].copy()
    x[0, 3], x[2, 5], x[3, 0], x[4, 7] = INF, -INF, INF, -INF
    if name.startswith("softmax") or name == "expected_cost":
        x[3, 1] = INF  # two tied +inf in a row
    loss = _losses(d)[name]
    a = torch.from_numpy(x).requires_grad_(True)
    expected = loss(a)
    (expected_grad,) = torch.autograd.grad(expected, a)
    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    b = torch.from_numpy(x).requires_grad_(True)
    value = compiled(b)
    (grad,) = torch.autograd.grad(value, b)
    np.testing.assert_allclose(value.detach().numpy(), expected.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(grad.numpy(), expected_grad.numpy(), rtol=1e-5, atol=1e-7)
    assert np.isfinite(grad.numpy()).all()


def _references(d: dict[str, Any]) -> dict[str, Callable[[np.ndarray], float]]:
    """The float64 oracles of :func:`_losses`, as functions of the logits."""
    y, p, z, w, costs = d["y"], d["p"], d["z"], d["w"], d["costs"]
    valid_y = np.where(y < 0, 0, y)
    return {
        "softmax_ce": lambda a: ref.softmax_ce(
            a, y, class_weight=w, ignore_index=-100, label_smoothing=0.1
        ),
        "softmax_ce_prob": lambda a: ref.softmax_ce(a, p),
        "sigmoid_ce": lambda a: ref.sigmoid_ce(a, z, pos_weight=w),
        "sigmoid_focal": lambda a: ref_imb.sigmoid_focal(a, z, gamma=2.0, alpha=0.25),
        "asymmetric": lambda a: ref_imb.asymmetric(a, z),
        "asymmetric_clip0": lambda a: ref_imb.asymmetric(a, z, gamma_pos=1.0, clip=0.0),
        "softmax_focal": lambda a: ref_imb.softmax_focal(a, y, gamma=2.0, ignore_index=-100),
        "expected_cost": lambda a: ref_cost.cost_family(a, valid_y, costs, kind="expected_cost"),
    }


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_values_and_gradients_equal_the_float64_references(name):
    d = _data(4, 6, seed=1)
    loss, oracle = _losses(d)[name], _references(d)[name]
    a = torch.from_numpy(d["x"]).requires_grad_(True)
    value = loss(a)
    (grad,) = torch.autograd.grad(value, a)
    x64 = d["x"].astype(np.float64)
    assert_close(float(value.detach()), oracle(x64), rtol=1e-5, atol=1e-6)
    assert_close(grad.numpy(), ref.numeric_grad(oracle, x64), rtol=1e-4, atol=1e-6)


# The limit tests of the focal and softmax families, on the generic path (the fixture).
TORCH = TorchBackend()


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("case", list(focal_limits.SIGMOID_CASES), ids=str)
def test_sigmoid_family_limits(case, label_smoothing):
    focal_limits.test_sigmoid_family_limits(TORCH, case, label_smoothing)


@pytest.mark.parametrize("loss", ["focal", "asl", "asl-clip0"])
def test_sigmoid_family_reproducers_have_zero_gradient(loss):
    focal_limits.test_issue_reproducers_have_zero_gradient(TORCH, loss)


@pytest.mark.parametrize("gamma", [0.0, 2.0])
@pytest.mark.parametrize("labels", ["indices", "probabilities"])
def test_softmax_focal_limits_at_plus_inf(gamma, labels):
    softmax_limits.test_softmax_focal_values_at_plus_inf(TORCH, gamma, 0.1, labels)
    softmax_limits.test_softmax_focal_gradient_is_zero_in_plus_inf_rows(TORCH, gamma, 0.1, labels)


@pytest.mark.parametrize("labels", ["indices", "probabilities"])
def test_softmax_cross_entropy_limits_at_plus_inf(labels):
    softmax_limits.test_focal_with_gamma_0_is_the_cross_entropy_at_plus_inf(TORCH, labels)


@pytest.mark.parametrize("name", sorted(softmax_limits.LOSSES))
def test_every_softmax_loss_is_exact_at_plus_inf(name):
    softmax_limits.test_every_softmax_loss_is_exact_at_plus_inf(TORCH, name)


@pytest.mark.parametrize("name", sorted(softmax_limits.LOSSES))
def test_a_row_of_only_minus_inf_is_still_an_error(name):
    softmax_limits.test_a_row_of_only_minus_inf_is_an_error(TORCH, name)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_tf_where_takes_a_scalar_in_the_other_operands_dtype(dtype):
    import tensorflow as tf

    from wxent import _tf_namespace as tfx

    x = tf.constant([1, -2, 3], dtype=dtype)
    for got in (tfx.where(x > 0, x, 0), tfx.where(x > 0, 0, x)):
        assert got.dtype == x.dtype
    assert tfx.where(x > 0, x, 0).numpy().tolist() == [1, 0, 3]
    assert tfx.where(x > 0, 0, x).numpy().tolist() == [0, -2, 0]
