"""Softmax-family losses at large logits: ``1e4``, ``1e6``, ``1e8`` and ``-3.4e38`` in float32.

The log-sum-exp ``lse = shift + log(total)`` rounds ``log(total)`` away at such
magnitudes, so ``lse - x_y`` and ``exp(x - lse)`` cancel catastrophically (a row
``[1e4, 1e4 - 8, ...]`` of loss ``3.35e-4`` gave 0, three equal logits ``1e8`` gave 0
instead of ``log 3``, the expected cost's probabilities summed to 2). Every loss must
work in the shifted logits ``z = x - max(x)``: here each value and gradient is compared
with a float64 reference computed on the shifted logits, on every backend, with the fast
paths on and off, and under the Triton kernels (interpreted) for PyTorch float32.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

import wxent
from conftest import Backend, TorchBackend
from wxent import _fastpaths
from wxent._fastpaths import select

C = 4
_BIG = np.float32(3.4e38)


def _rows() -> tuple[np.ndarray, np.ndarray]:
    rows, labels = [], []
    for m in (1e4, 1e6, 1e8):
        for s in (1.0, -1.0):
            top = s * m
            rows.append([top] * C)
            labels.append(2)
            gap = [top, top - 8.0, top - 16.0, top]  # gaps exact in float32
            rows += [gap, gap]
            labels += [0, 1]
        rows.append([m, m - 8.0, 0.0, m - 16.0])  # a class 1e4..1e8 below the rest
        labels.append(0)
    rows += [[-_BIG] * C, [-_BIG, -_BIG, np.float32(-3.3e38), -_BIG]]
    labels += [1, 0]
    return np.asarray(rows, dtype=np.float32), np.asarray(labels)


X, Y = _rows()
N = X.shape[0]
COSTS = np.array(
    [[0, 1, 2, 3], [1, 0, 1, 2], [2, 1, 0, 1], [3, 2, 1, 0]], dtype=np.float32
)  # fmt: skip
CLASS_WEIGHT = np.array([1.0, 2.0, 0.5, 3.0], dtype=np.float32)
SOFT = np.random.default_rng(0).dirichlet(np.ones(C), size=N).astype(np.float32)


# ---------------------------------------------------------------- float64 references


def _shifted() -> np.ndarray:
    """The shifted logits ``z = x - max(x)`` in float64 (exact: float32 inputs)."""
    x = X.astype(np.float64)
    return x - x.max(axis=1, keepdims=True)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _onehot(y: np.ndarray) -> np.ndarray:
    return np.eye(C)[y]


def _ce(targets: np.ndarray, eps: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-row ``-sum t' log p`` and its gradient ``S p - t'`` (``t' = t(1-eps) + eps/C``)."""
    t = targets * (1.0 - eps) + eps / C
    log_p = _log_softmax(_shifted())
    p = np.exp(log_p)
    loss = -np.sum(np.where(t == 0, 0.0, t * log_p), axis=1)
    return loss, t.sum(axis=1, keepdims=True) * p - t


def _focal(y: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-row ``-(1 - p_y)**gamma log p_y`` and its gradient (float64, shifted logits)."""
    z = _shifted()
    log_p = _log_softmax(z)
    p = np.exp(log_p)
    rows = np.arange(N)
    others = np.where(_onehot(y) == 1, -np.inf, z)
    om = others.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    log1m = om[:, 0] + np.log(np.exp(others - om).sum(axis=1)) - lse  # log(1 - p_y)
    lp = log_p[rows, y]
    q = np.exp(gamma * log1m)  # (1 - p_y)**gamma
    loss = -q * lp
    # dF/dz_j = (delta_yj - p_j) * k with k = -q + gamma (1 - p_y)**(gamma-1) p_y log p_y
    k = -q + gamma * np.exp((gamma - 1.0) * log1m) * p[rows, y] * lp
    return loss, (_onehot(y) - p) * k[:, None]


def _expected_cost(costs_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row ``sum_j c_j p_j`` and its gradient ``p * (c - sum_j c_j p_j)``."""
    p = np.exp(_log_softmax(_shifted()))
    value = np.sum(costs_rows * p, axis=1)
    return value, p * (costs_rows - value[:, None])


# ---------------------------------------------------------------- the losses


def _softmax_ce_case(labels: np.ndarray, reference_labels: np.ndarray, eps: float = 0.0) -> Any:
    def loss(x: Any, y: Any) -> Any:
        return wxent.softmax_cross_entropy(x, y, label_smoothing=eps, reduction="none")

    return loss, (labels,), *_ce(reference_labels, eps)


def _focal_case(gamma: float) -> Any:
    def loss(x: Any, y: Any) -> Any:
        return wxent.softmax_focal_loss(x, y, gamma=gamma, reduction="none")

    return loss, (Y,), *_focal(Y, gamma)


def _case(name: str) -> tuple[Any, tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
    """``(loss(x, *rest), rest, per-row reference, per-row gradient reference)``."""
    onehot = _onehot(Y)
    soft = SOFT.astype(np.float64)
    plain = {
        "ce": lambda: _softmax_ce_case(Y, onehot),
        "ce-smooth": lambda: _softmax_ce_case(Y, onehot, 0.2),
        "ce-soft": lambda: _softmax_ce_case(SOFT, soft),
        "ce-soft-smooth": lambda: _softmax_ce_case(SOFT, soft, 0.2),
        "focal": lambda: _focal_case(2.0),
        "focal-gamma0.5": lambda: _focal_case(0.5),
    }
    if name in plain:
        return plain[name]()
    if name == "ce-weighted":
        w = CLASS_WEIGHT[Y].astype(np.float64)[:, None]
        loss, grad = _ce(onehot)
        return (
            (lambda x, y, cw: wxent.softmax_cross_entropy(x, y, class_weight=cw, reduction="none")),
            (Y, CLASS_WEIGHT),
            loss * w[:, 0],
            grad * w,
        )
    if name == "expected-cost":
        return (
            (lambda x, y, c: wxent.expected_cost_loss(x, y, c, reduction="none")),
            (Y, COSTS),
            *_expected_cost(COSTS[Y].astype(np.float64)),
        )
    if name == "cost-sensitive-ce":
        ce, ce_grad = _ce(onehot)
        ec, ec_grad = _expected_cost(COSTS[Y].astype(np.float64))
        return (
            (
                lambda x, y, c: wxent.cost_sensitive_cross_entropy(
                    x, y, c, cost_weight=0.5, reduction="none"
                )
            ),
            (Y, COSTS),
            ce + 0.5 * ec,
            ce_grad + 0.5 * ec_grad,
        )
    if name == "confusion-weighted-ce":
        ce, ce_grad = _ce(onehot)
        w = COSTS[Y, np.argmax(X, axis=1)].astype(np.float64) + 1.0
        return (
            (lambda x, y, c: wxent.confusion_weighted_cross_entropy(x, y, c, reduction="none")),
            (Y, COSTS + 1),
            ce * w,
            ce_grad * w[:, None],
        )
    if name == "logit-adjusted-ce":
        # A uniform prior shifts every logit of a row by one constant: the same rounding
        # for the entries 8 and 16 apart (one binade), the loss the plain cross-entropy's.
        prior = np.full(C, 0.25, dtype=np.float32)
        return (
            (lambda x, y, pr: wxent.logit_adjusted_cross_entropy(x, y, pr, reduction="none")),
            (Y, prior),
            *_ce(onehot),
        )
    raise AssertionError(name)


CASES = [
    "ce", "ce-smooth", "ce-weighted", "ce-soft", "ce-soft-smooth", "focal", "focal-gamma0.5",
    "expected-cost", "cost-sensitive-ce", "confusion-weighted-ce", "logit-adjusted-ce",
]  # fmt: skip


@pytest.fixture(params=["fast", "generic"])
def paths(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "generic":
        monkeypatch.setenv("WXENT_KERNELS", "off")
        monkeypatch.setattr(_fastpaths, "ENABLED", False)
    return str(request.param)


def _check(values: np.ndarray, grad: np.ndarray | None, ref: np.ndarray, ref_grad: Any) -> None:
    np.testing.assert_allclose(values.astype(np.float64), ref, rtol=1e-3, atol=1e-6)
    if grad is None:
        return
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad.astype(np.float64), ref_grad, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(grad.astype(np.float64).sum(axis=1), 0.0, atol=1e-5)


def _sum(f: Any) -> Any:
    def total(x: Any, *rest: Any) -> Any:
        out = f(x, *rest)
        return out.sum() if hasattr(out, "sum") else out

    return total


@pytest.mark.filterwarnings("ignore::wxent.LogitsWarning")
@pytest.mark.parametrize("name", CASES)
def test_large_logits(name: str, backend: Backend, paths: str) -> None:
    f, rest, ref, ref_grad = _case(name)
    values = backend.call(f, X, *rest)
    grad = None
    if backend.autodiff:
        total, grad = backend.value_and_grad(_sum(f), X, *rest)
        np.testing.assert_allclose(float(np.sum(total)), ref.sum(), rtol=1e-3)
    _check(values, grad, ref, ref_grad)


@pytest.mark.filterwarnings("ignore::wxent.LogitsWarning")
@pytest.mark.parametrize("name", ["ce", "ce-smooth", "ce-weighted"])
def test_linear_large_logits(name: str, ad_backend: Backend, paths: str) -> None:
    """``linear_cross_entropy`` of one-hot inputs: its logits are the weight's rows exactly."""
    eps = 0.2 if name == "ce-smooth" else 0.0
    cw = CLASS_WEIGHT if name == "ce-weighted" else None
    inputs = np.eye(N, dtype=np.float32)
    weight = np.ascontiguousarray(X.T)  # (C, N): logits = inputs @ weight.T = X

    def f(w: Any, a: Any, y: Any) -> Any:
        return wxent.linear_cross_entropy(
            a, w, y, class_weight=cw, label_smoothing=eps,
            reduction="sum",
        )  # fmt: skip

    loss, grad = _ce(_onehot(Y), eps)
    if cw is not None:
        loss, grad = loss * cw[Y], grad * cw[Y][:, None]
    total, grad_w = ad_backend.value_and_grad(f, weight, inputs, Y)
    np.testing.assert_allclose(float(total), loss.sum(), rtol=1e-3)
    _check(np.asarray(loss), grad_w.T, loss, grad)


@pytest.mark.filterwarnings("ignore::wxent.LogitsWarning")
@pytest.mark.parametrize("name", ["ce", "ce-smooth", "ce-weighted", "ce-soft", "focal"])
def test_triton_large_logits(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Triton kernels (interpreted on CPU) on PyTorch float32."""
    import triton  # noqa: F401  (the kernels need it)

    assert os.environ.get("TRITON_INTERPRET") == "1"
    monkeypatch.setenv("WXENT_KERNELS", "triton")
    f, rest, ref, ref_grad = _case(name)
    backend = TorchBackend()
    # The interpreter runs the kernels in NumPy, which warns where a float32 sum of
    # logits near -3.4e38 overflows (the value checks' row sums, compared with [0, 1]:
    # harmless on a device); pytest would turn the warning into a kernel failure.
    select.LAUNCHES.clear()
    with np.errstate(over="ignore"):
        values = backend.call(f, X, *rest)
        _, grad = backend.value_and_grad(_sum(f), X, *rest)
    kernel = {"ce-soft": "softmax_cross_entropy_soft", "focal": "softmax_focal_loss"}
    name = kernel.get(name, "softmax_cross_entropy")
    assert select.LAUNCHES[name] == 2, "the kernel did not run"
    if name != "softmax_focal_loss":  # (its one kernel writes the gradient too)
        assert select.LAUNCHES[name + "_backward"] == 1
    _check(values, grad, ref, ref_grad)


@pytest.mark.filterwarnings("ignore::wxent.LogitsWarning")
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_triton_linear_large_logits(eps: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chunk step of ``linear_cross_entropy`` on the Triton kernels (interpreted)."""
    import triton  # noqa: F401  (the kernels need it)

    monkeypatch.setenv("WXENT_KERNELS", "triton")
    import torch

    weight = torch.from_numpy(np.ascontiguousarray(X.T)).requires_grad_(True)
    inputs = torch.eye(N)
    select.LAUNCHES.clear()
    with np.errstate(over="ignore"):
        total = wxent.linear_cross_entropy(
            inputs, weight, torch.from_numpy(Y), label_smoothing=eps, reduction="sum"
        )
        total.backward()
    assert select.LAUNCHES["linear_cross_entropy"] >= 1, "the kernel did not run"
    loss, grad = _ce(_onehot(Y), eps)
    np.testing.assert_allclose(float(total.detach()), loss.sum(), rtol=1e-3)
    assert weight.grad is not None
    _check(loss, weight.grad.numpy().T, loss, grad)
