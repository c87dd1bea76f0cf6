"""Fast paths: the same losses and gradients as the generic Array API path."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import wxent
from conftest import assert_close
from reference import softmax_ce
from wxent import _fastpaths
from wxent._fastpaths import numpy as numpy_kernels

CASES = [
    {"reduction": "mean"},
    {"class_weight": "cw", "ignore_index": -1, "reduction": "weighted_mean"},
    {"class_weight": "cw", "label_smoothing": 0.2, "ignore_index": -1, "reduction": "mean"},
    {"sample_weight": "sw", "label_smoothing": 0.1, "reduction": "sum"},
    {"label_smoothing": 1.0, "ignore_index": -1, "reduction": "none"},
]


def _data(shape=(6, 9), seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = (3 * rng.normal(size=shape)).astype(dtype)
    y = rng.integers(0, shape[-1], shape[:-1])
    y.reshape(-1)[1] = -1
    cw = rng.uniform(0.2, 3.0, shape[-1])
    sw = rng.uniform(0.0, 2.0, shape[:-1])
    return x, y, cw, sw


def _kw(case, cw, sw):
    out = dict(case)
    if out.get("class_weight") == "cw":
        out["class_weight"] = cw
    if out.get("sample_weight") == "sw":
        out["sample_weight"] = sw
    return out


def _labels(y, case):
    return y if "ignore_index" in case else np.where(y < 0, 0, y)


def _both(monkeypatch, fn):
    """``fn()`` with the fast paths on, then with them off."""
    fast = fn()
    monkeypatch.setattr(_fastpaths, "ENABLED", False)
    generic = fn()
    monkeypatch.setattr(_fastpaths, "ENABLED", True)
    return fast, generic


@pytest.mark.parametrize("shape", [(6, 9), (2, 3, 7)])
@pytest.mark.parametrize("case", CASES)
def test_numpy_blocked_kernel_matches_generic(monkeypatch, case, shape):
    x, y, cw, sw = _data(shape)
    y = _labels(y, case)
    kw = _kw(case, cw, sw)
    monkeypatch.setattr(numpy_kernels, "BLOCK_ELEMENTS", 20)  # several blocks, a ragged last one
    fast, generic = _both(monkeypatch, lambda: wxent.softmax_cross_entropy(x, y, **kw))
    assert_close(fast, generic, rtol=1e-6, atol=1e-6)
    assert_close(fast, softmax_ce(x, y, **kw), rtol=1e-5, atol=1e-5)


def test_numpy_kernel_one_exp_per_logit(monkeypatch):
    x, y, *_ = _data((5, 8))
    y = np.where(y < 0, 0, y)
    calls = []
    real_exp = np.exp

    def counting_exp(a, *args, **kwargs):
        calls.append(np.size(a))
        return real_exp(a, *args, **kwargs)

    monkeypatch.setattr(numpy_kernels.np, "exp", counting_exp)
    numpy_kernels.numpy_softmax_losses(x, y, 0.1)
    assert sum(calls) == x.size


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_torch_native_kernel_matches_generic(monkeypatch, case, dtype):
    x, y, cw, sw = _data((6, 9), seed=1, dtype=dtype)
    y = _labels(y, case)
    kw = _kw(case, cw, sw)

    def run():
        xt = torch.tensor(x, requires_grad=True)
        out = wxent.softmax_cross_entropy(xt, torch.tensor(y), **kw)
        (out.sum() if out.ndim else out).backward()
        return out.detach().numpy(), xt.grad.numpy(), out.grad_fn

    (fv, fg, fn), (gv, gg, gn) = _both(monkeypatch, run)
    assert_close(fv, gv, rtol=1e-6, atol=1e-6)
    assert_close(fg, gg, rtol=1e-5, atol=1e-7)
    assert fn is not None and gn is not None


def _graph_names(out):
    names, stack = [], [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None:
            names.append(type(node).__name__)
            stack.extend(n for n, _ in node.next_functions)
    return names


def test_torch_native_kernel_is_used(monkeypatch):
    x, y, *_ = _data((4, 5), seed=2)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.tensor(np.abs(y))
    fast, generic = _both(
        monkeypatch, lambda: _graph_names(wxent.softmax_cross_entropy(xt, yt, reduction="none"))
    )
    assert any("NllLoss" in n for n in fast)
    assert not any("NllLoss" in n for n in generic)


def test_torch_matches_native_cross_entropy_where_semantics_coincide():
    x, y, cw, _ = _data((8, 6), seed=3)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.tensor(y)
    ours = wxent.softmax_cross_entropy(
        xt, yt, class_weight=cw, ignore_index=-1, reduction="weighted_mean"
    )
    ours.backward()
    xn = torch.tensor(x, requires_grad=True)
    native = torch.nn.functional.cross_entropy(
        xn, yt, weight=torch.tensor(cw, dtype=torch.float32), ignore_index=-1
    )
    native.backward()
    assert_close(ours.detach(), native.detach(), rtol=1e-6)
    assert_close(xt.grad, xn.grad, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("case", CASES[1:4])
def test_jax_custom_vjp_matches_generic(monkeypatch, case, jit):
    x, y, cw, sw = _data((6, 9), seed=4)
    y = _labels(y, case)
    kw = _kw(case, cw, sw)

    def run():
        def f(a):
            return wxent.softmax_cross_entropy(a, jnp.asarray(y, dtype=jnp.int32), **kw)

        g = jax.value_and_grad(f)
        return (jax.jit(g) if jit else g)(jnp.asarray(x))

    (fv, fg), (gv, gg) = _both(monkeypatch, run)
    assert_close(fv, gv, rtol=1e-6, atol=1e-6)
    assert_close(fg, gg, rtol=1e-5, atol=1e-7)


def test_negative_infinite_logits_stay_finite_on_every_fast_path():
    x = np.array([[-np.inf, 1.0, 2.0], [0.5, -np.inf, 0.0]], dtype=np.float32)
    y = np.array([2, 0])
    expected = softmax_ce(np.where(np.isinf(x), -1e30, x), y, reduction="sum")
    assert_close(wxent.softmax_cross_entropy(x, y, reduction="sum"), expected)
    xt = torch.tensor(x, requires_grad=True)
    out = wxent.softmax_cross_entropy(xt, torch.tensor(y), reduction="sum")
    out.backward()
    assert_close(out.detach(), expected)
    assert xt.grad[0, 0] == 0 and torch.isfinite(xt.grad).all()
    value, grad = jax.value_and_grad(
        lambda a: wxent.softmax_cross_entropy(a, jnp.asarray(y), reduction="sum")
    )(jnp.asarray(x))
    assert_close(value, expected)
    assert float(grad[0, 0]) == 0.0 and bool(jnp.isfinite(grad).all())


def test_generic_path_is_kept_for_other_layouts(monkeypatch):
    # class_axis=1 on 3-D logits and probability labels do not take a fast path.
    seen = []
    real = _fastpaths.numpy_softmax_losses
    monkeypatch.setattr(_fastpaths, "numpy_softmax_losses", lambda *a: seen.append(1) or real(*a))
    x = _data((2, 4, 3))[0]
    wxent.softmax_cross_entropy(x, np.zeros((2, 3), np.int64), class_axis=1)
    wxent.softmax_cross_entropy(x, np.full(x.shape, 1 / 3, np.float32))
    assert seen == []
    wxent.softmax_cross_entropy(x, np.zeros((2, 4), np.int64))
    assert seen == [1]


def test_jax_rule_supports_forward_mode_and_hessians(monkeypatch):
    x, y, cw, _ = _data((3, 4), seed=5)
    y = np.where(y < 0, 0, y)

    def f(a):
        return wxent.softmax_cross_entropy(a, jnp.asarray(y), class_weight=cw, label_smoothing=0.1)

    (fh, fj), (gh, gj) = _both(
        monkeypatch, lambda: (jax.hessian(f)(jnp.asarray(x)), jax.jacfwd(f)(jnp.asarray(x)))
    )
    assert_close(fh, gh, rtol=1e-5, atol=1e-6)
    assert_close(fj, gj, rtol=1e-5, atol=1e-7)


def _soft(shape, seed):
    rng = np.random.default_rng(seed)
    t = rng.uniform(size=shape) ** 3
    t[..., 0] = 0.0  # zero targets, where 0 * log p must be 0
    return (t / t.sum(axis=-1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("eps", [0.0, 0.3])
@pytest.mark.parametrize("shape", [(6, 9), (2, 3, 7)])
def test_numpy_probability_kernel_matches_generic(monkeypatch, shape, eps):
    x = _data(shape, seed=6)[0]
    x.reshape(-1, shape[-1])[2, 0] = -np.inf  # zero target at -inf: costs nothing
    t = _soft(shape, 7)
    cw = np.linspace(0.5, 2.0, shape[-1])
    monkeypatch.setattr(numpy_kernels, "BLOCK_ELEMENTS", 20)
    kw = {"class_weight": cw, "label_smoothing": eps, "reduction": "none"}
    fast, generic = _both(monkeypatch, lambda: wxent.softmax_cross_entropy(x, t, **kw))
    assert_close(fast, generic, rtol=1e-5, atol=1e-6)
    finite = np.where(np.isinf(x), -1e30, x)
    if eps == 0.0:
        assert_close(fast, softmax_ce(finite, t, **kw), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_torch_probability_labels_match_generic(monkeypatch, eps):
    x = _data((6, 9), seed=8)[0]
    t = _soft((6, 9), 9)
    kw = {"class_weight": np.linspace(0.5, 2.0, 9), "label_smoothing": eps}

    def run():
        xt = torch.tensor(x, requires_grad=True)
        out = wxent.softmax_cross_entropy(xt, torch.tensor(t), **kw)
        out.backward()
        return out.detach().numpy(), xt.grad.numpy(), _graph_names(out)

    (fv, fg, fn), (gv, gg, gn) = _both(monkeypatch, run)
    assert_close(fv, gv, rtol=1e-6, atol=1e-6)
    assert_close(fg, gg, rtol=1e-5, atol=1e-7)
    assert any("SoftTargetCE" in n for n in fn) and not any("SoftTargetCE" in n for n in gn)


SIGMOID_CASES = [
    ({"pos_weight": "q"}, -1),
    ({"pos_weight": "q", "label_smoothing": 0.2, "reduction": "weighted_mean"}, -1),
    ({"pos_weight": 3.0, "sample_weight": "s", "ignore_label": -1.0, "reduction": "sum"}, -1),
    ({"pos_weight": "q", "ignore_label": -1.0, "reduction": "none"}, 1),
    ({}, -1),
]


@pytest.mark.parametrize(("case", "axis"), SIGMOID_CASES)
def test_torch_sigmoid_native_kernel_matches_generic(monkeypatch, case, axis):
    rng = np.random.default_rng(10)
    shape = (4, 5) if axis == -1 else (3, 5, 2, 2)
    x = (3 * rng.normal(size=shape)).astype(np.float32)
    z = (rng.uniform(size=shape) < 0.3).astype(np.float32)
    if "ignore_label" in case:
        z.reshape(-1)[[1, 6]] = -1.0
    kw = dict(case, class_axis=axis)
    if kw.get("pos_weight") == "q":
        kw["pos_weight"] = rng.uniform(1.0, 5.0, 5)
    if kw.get("sample_weight") == "s":
        kw["sample_weight"] = rng.uniform(0.0, 2.0, shape)

    def run():
        xt = torch.tensor(x, requires_grad=True)
        out = wxent.sigmoid_cross_entropy(xt, torch.tensor(z), **kw)
        out.sum().backward()
        return out.detach().numpy(), xt.grad.numpy(), _graph_names(out)

    (fv, fg, fn), (gv, gg, _) = _both(monkeypatch, run)
    assert_close(fv, gv, rtol=1e-6, atol=1e-6)
    assert_close(fg, gg, rtol=1e-5, atol=1e-7)
    assert any("BinaryCrossEntropyWithLogits" in n for n in fn)


def test_torch_sigmoid_falls_back_for_infinite_logits_and_neg_weight():
    x = torch.tensor([[-np.inf, np.inf, 0.5]], requires_grad=True)
    z = torch.tensor([[0.0, 1.0, 1.0]])
    out = wxent.sigmoid_cross_entropy(x, z, pos_weight=2.0, reduction="sum")
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(x.grad).all()
    assert not any("BinaryCrossEntropyWithLogits" in n for n in _graph_names(out))
    finite = torch.tensor([[0.2, 1.0, 0.5]], requires_grad=True)
    out = wxent.sigmoid_cross_entropy(finite, z, neg_weight=2.0)
    assert not any("BinaryCrossEntropyWithLogits" in n for n in _graph_names(out))


@pytest.mark.parametrize(
    ("case", "axis"),
    [*SIGMOID_CASES, ({"pos_weight": "q", "neg_weight": 0.5, "label_smoothing": 0.1}, -1)],
)
def test_numpy_sigmoid_kernel_matches_generic(monkeypatch, case, axis):
    rng = np.random.default_rng(11)
    shape = (7, 5) if axis == -1 else (3, 5, 2, 2)
    x = (3 * rng.normal(size=shape)).astype(np.float32)
    z = (rng.uniform(size=shape) < 0.3).astype(np.float32)
    if "ignore_label" in case:
        z.reshape(-1)[[1, 6]] = -1.0
    kw = dict(case, class_axis=axis)
    if kw.get("pos_weight") == "q":
        kw["pos_weight"] = rng.uniform(1.0, 5.0, 5)
    if kw.get("sample_weight") == "s":
        kw["sample_weight"] = rng.uniform(0.0, 2.0, shape)
    monkeypatch.setattr(numpy_kernels, "BLOCK_ELEMENTS", 12)
    fast, generic = _both(monkeypatch, lambda: wxent.sigmoid_cross_entropy(x, z, **kw))
    assert_close(fast, generic, rtol=1e-6, atol=1e-6)


def test_numpy_sigmoid_kernel_one_exp_per_logit_and_infinite_fallback(monkeypatch):
    x = np.array([[-np.inf, np.inf, 0.5]], dtype=np.float32)
    z = np.array([[0.0, 1.0, 1.0]], dtype=np.float32)
    assert float(wxent.sigmoid_cross_entropy(x[:, :2], z[:, :2], pos_weight=2.0)) == 0.0
    calls = []
    real_exp = np.exp

    def counting_exp(a, *args, **kwargs):
        calls.append(np.size(a))
        return real_exp(a, *args, **kwargs)

    monkeypatch.setattr(numpy_kernels.np, "exp", counting_exp)
    finite = np.ones((4, 6), np.float32)
    numpy_kernels.numpy_sigmoid_losses(finite, np.zeros_like(finite), None, None)
    assert sum(calls) == finite.size
