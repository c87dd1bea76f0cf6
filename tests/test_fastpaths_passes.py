"""The fast paths' passes over the logits' size, counted against their peers' (no timing).

A pass is an operation that reads or writes an array of the logits' size; on CPU each
costs about as much as the next, so wxent's count beside the native op's is what its
time ratio can be (BENCHMARKS.md, tables C and D).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import wxent
from device_ops import FREE


class FullSizeOps(TorchDispatchMode):
    """Count the ATen operations that read or write an array of at least ``size`` elements.

    ``ops``: such operations by name; ``transits``: the arrays of that size they read
    and write, all together (an expanded scalar is not one: its memory is one element).
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.ops: Counter[str] = Counter()
        self.transits = 0

    def _full(self, t: Any) -> bool:
        if not isinstance(t, torch.Tensor) or t.numel() < self.size:
            return False
        return bool(t.untyped_storage().nbytes() >= self.size * t.element_size())

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        if name not in FREE and not func.is_view:
            full = [t for t in tree_leaves((args, kwargs, out)) if self._full(t)]
            if full:
                self.ops[name] += 1
                self.transits += len(full)
        return out

    @property
    def total(self) -> int:
        return sum(self.ops.values())


def _passes(loss: Any, x: torch.Tensor, backward: bool) -> FullSizeOps:
    loss(x.clone().requires_grad_(backward))  # warm-up
    xg = x.clone().requires_grad_(backward)
    with torch.set_grad_enabled(backward), FullSizeOps(x.numel()) as ops:
        value = loss(xg)
        if backward:
            value.backward()
    return ops


def _sigmoid_data(n: int = 64, c: int = 100) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(n, c)), dtype=torch.float32)
    z = torch.tensor(rng.uniform(size=(n, c)) < 0.1, dtype=torch.float32)
    q = torch.tensor(rng.uniform(1.0, 4.0, c), dtype=torch.float32)
    return x, z, q


def test_torch_sigmoid_pos_weight_passes_match_the_native_op():
    """Beside the native op: the mean (the native op's own is inside it) and the labels'
    range check; no pass for NaN logits of weight 0 (the native loss is NaN there)."""
    x, z, q = _sigmoid_data()
    for backward in (False, True):
        ours = _passes(lambda a: wxent.sigmoid_cross_entropy(a, z, pos_weight=q), x, backward)
        peer = _passes(
            lambda a: F.binary_cross_entropy_with_logits(a, z, pos_weight=q), x, backward
        )
        assert ours.ops["binary_cross_entropy_with_logits"] == 1, ours.ops
        assert ours.ops["aminmax"] == 1 and ours.ops["sum"] == 1, ours.ops
        extra = ours.total - peer.total
        assert extra <= (2 if not backward else 1), (ours.ops, peer.ops)  # peer: div_ of mean


def test_torch_sigmoid_pos_weight_reaches_the_native_op_per_class(monkeypatch):
    """A per-class ``pos_weight`` is not expanded to the logits' shape (``pos_weight - 1``
    in the kernel is then C values, not N * C: no extra pass, no extra ``(N, C)`` array)."""
    seen = []
    native = F.binary_cross_entropy_with_logits

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("pos_weight"))
        return native(*args, **kwargs)

    monkeypatch.setattr(F, "binary_cross_entropy_with_logits", spy)
    x, z, q = _sigmoid_data()
    wxent.sigmoid_cross_entropy(x, z, pos_weight=q)
    x4 = x.reshape(4, 16, 100).permute(0, 2, 1).contiguous()
    wxent.sigmoid_cross_entropy(
        x4, z.reshape(4, 16, 100).permute(0, 2, 1), pos_weight=q, class_axis=1
    )
    assert [tuple(w.shape) for w in seen] == [(100,), (1, 100, 1)]
    assert all(w.numel() == 100 for w in seen)


def test_torch_sigmoid_nan_logit_of_weight_zero_still_gets_gradient_zero():
    """The guard of weight-0 elements moved onto the exact path: still gradient 0 there."""
    x = torch.tensor([[np.nan, 0.5, -1.0], [0.3, 2.0, -0.5]], requires_grad=True)
    z = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    out = wxent.sigmoid_cross_entropy(x, z, pos_weight=torch.tensor([0.0, 2.0, 3.0]))
    out.backward()
    assert torch.isfinite(out)
    assert x.grad[0, 0] == 0.0 and torch.isfinite(x.grad).all()
    ref = torch.tensor([[0.0, 0.5, -1.0], [0.3, 2.0, -0.5]], requires_grad=True)
    wxent.sigmoid_cross_entropy(ref, z, pos_weight=torch.tensor([0.0, 2.0, 3.0])).backward()
    torch.testing.assert_close(x.grad, ref.grad)


def _hlo_ops(fn: Any, x: Any, *more: Any) -> Counter[str]:
    """The operations of ``fn(x, *more)``'s compiled program on the logits' shape, by HLO name."""
    import re

    import jax

    text = jax.jit(fn).lower(x, *more).compile().as_text()
    shape = ",".join(str(d) for d in x.shape)
    ops: Counter[str] = Counter()
    for m in re.finditer(rf"= f32\[{shape}\]\{{[^}}]*\}} ([\w-]+)\(", text):
        ops[m.group(1)] += 1
    return ops


def _jax_sigmoid_case() -> tuple[Any, Any, Any, Any]:
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.normal(size=(32, 64)), dtype=jnp.float32)
    z = jnp.asarray(rng.uniform(size=(32, 64)) < 0.1, dtype=jnp.float32)
    q = rng.uniform(1.0, 4.0, 64)
    qj = jnp.asarray(q, dtype=jnp.float32)

    def ours(a: Any) -> Any:
        return wxent.sigmoid_cross_entropy(a, z, pos_weight=q)

    def peer(a: Any) -> Any:
        return jnp.mean(qj * z * jax.nn.softplus(-a) + (1 - z) * jax.nn.softplus(a))

    return x, ours, peer, (z, q)


def test_jax_sigmoid_one_exp_and_one_log1p_per_logit_under_jit():
    """Both softplus terms share one ``exp`` and one ``log1p`` (two ``where``
    softplus compile to four of each; the peer's formula to two), also with the gradient."""
    import jax

    x, ours, peer, _ = _jax_sigmoid_case()
    forward, both = _hlo_ops(ours, x), _hlo_ops(jax.value_and_grad(ours), x)
    assert forward["exponential"] == 1 and forward["log-plus-one"] == 1, forward
    assert both["exponential"] == 1 and both["log-plus-one"] == 1, both
    peer_both = _hlo_ops(jax.value_and_grad(peer), x)
    assert both["exponential"] + both["log-plus-one"] < (
        peer_both["exponential"] + peer_both["log-plus-one"]
    )


def test_jax_sigmoid_limits_gradient_and_curvature():
    """Limits at infinite logits, exact 1/2 and 1/4 at 0, forward mode and Hessians."""
    import jax
    import jax.numpy as jnp

    x = jnp.asarray([[-np.inf, np.inf, 0.0, 30.0, -30.0, 2.5]], dtype=jnp.float32)
    z = jnp.asarray([[0.0, 1.0, 1.0, 0.3, 1.0, 0.5]])
    q = jnp.linspace(0.5, 3.0, 6)

    def loss(a, reduction="none"):
        return wxent.sigmoid_cross_entropy(
            a, z, pos_weight=q, neg_weight=2.0, reduction=reduction, label_smoothing=0.1
        )

    values = np.asarray(jax.jit(loss)(x), dtype=np.float64)
    x64, t = np.asarray(x, np.float64), np.asarray(z, np.float64) * 0.9 + 0.05
    w_pos, w_neg = np.asarray(q, np.float64) * t, 2.0 * (1 - t)
    with np.errstate(invalid="ignore"):
        expected = w_pos * np.logaddexp(0, -x64) + w_neg * np.logaddexp(0, x64)
    np.testing.assert_allclose(values[:, 2:], expected[:, 2:], rtol=1e-6)
    assert np.isinf(values[0, 0]) and np.isinf(values[0, 1])  # smoothing: both terms count
    zeros = jnp.zeros((1, 6))
    grad = np.asarray(jax.grad(lambda a: loss(a, "sum"))(zeros))
    np.testing.assert_allclose(grad, (w_pos + w_neg) / 2 - w_pos, rtol=1e-6)
    hess = np.asarray(jax.hessian(lambda a: loss(a, "sum"))(zeros)).reshape(6, 6)
    np.testing.assert_allclose(hess.diagonal(), ((w_pos + w_neg) / 4)[0], rtol=1e-6)
    _, tangent = jax.jvp(lambda a: loss(a, "sum"), (zeros,), (jnp.ones_like(zeros),))
    np.testing.assert_allclose(float(tangent), grad.sum(), rtol=1e-6)


def test_jax_softmax_one_exp_per_logit_for_loss_and_gradient():
    """The softmax rules' gradient reuses the forward pass's exponentials ``exp(x - max)``
    and their row sums: one ``exp`` per logit under ``jit`` for the loss and its gradient
    (integer labels with weights, ``ignore_index`` and smoothing; probability labels, also
    with the labels' gradient), as many as the forward pass alone and as Optax's."""
    import jax
    import jax.numpy as jnp
    import optax

    rng = np.random.default_rng(4)
    n, c = 48, 80
    x = jnp.asarray(2 * rng.normal(size=(n, c)), dtype=jnp.float32)
    y = rng.integers(0, c, n)
    y[:5] = -1
    cw = rng.uniform(0.5, 2.0, c)
    p = rng.uniform(size=(n, c)) ** 4
    t = jnp.asarray(p / p.sum(axis=1, keepdims=True), dtype=jnp.float32)

    def sparse(eps: float) -> Any:
        def loss(a: Any) -> Any:
            return wxent.softmax_cross_entropy(
                a,
                jnp.asarray(y),
                class_weight=cw,
                ignore_index=-1,
                label_smoothing=eps,
                reduction="weighted_mean",
            )

        return loss

    def dense(a: Any, labels: Any = t) -> Any:
        return wxent.softmax_cross_entropy(a, labels, label_smoothing=0.1)

    for fn in (sparse(0.0), sparse(0.1), dense):
        forward, both = _hlo_ops(fn, x), _hlo_ops(jax.value_and_grad(fn), x)
        assert forward["exponential"] == 1, forward
        assert both["exponential"] == 1, both
    both = _hlo_ops(jax.value_and_grad(dense, argnums=(0, 1)), x, t)
    assert both["exponential"] == 1, both
    peer = _hlo_ops(jax.value_and_grad(lambda a: optax.softmax_cross_entropy(a, t).mean()), x)
    assert peer["exponential"] == 1, peer


def test_jax_softmax_rules_recompute_the_softmax_off_cpu(monkeypatch):
    """Off CPUs (accelerators) the rules keep no full-size exponentials for the gradient:
    the tangent recomputes ``exp(x - lse)`` (two per logit for loss and gradient), with
    the same values and gradients as the CPU rule that reuses them."""
    import jax
    import jax.numpy as jnp

    from wxent._fastpaths import jax as jax_rules

    rng = np.random.default_rng(6)
    x = jnp.asarray(2 * rng.normal(size=(32, 40)), dtype=jnp.float32)
    x = x.at[3, 7].set(jnp.inf).at[4, :].set(-jnp.inf).at[4, 2].set(1.0)
    y = jnp.asarray(rng.integers(0, 40, 32))
    p = rng.uniform(size=(32, 40)) ** 4
    t = jnp.asarray(p / p.sum(axis=1, keepdims=True), dtype=jnp.float32)

    def cases() -> list[Any]:
        return [
            lambda a: wxent.softmax_cross_entropy(a, y, label_smoothing=0.1),
            lambda a: wxent.softmax_cross_entropy(a, t, label_smoothing=0.1),
        ]

    reused = [jax.jit(jax.value_and_grad(f))(x) for f in cases()]
    monkeypatch.setattr(jax_rules, "reuse_exponentials", lambda: False)
    jax.clear_caches()  # the rules are compiled once per process: traced again, patched
    try:
        for f, (value, grad) in zip(cases(), reused, strict=True):
            assert _hlo_ops(jax.value_and_grad(f), x)["exponential"] == 2
            v2, g2 = jax.jit(jax.value_and_grad(f))(x)
            np.testing.assert_allclose(np.asarray(v2), np.asarray(value), rtol=1e-6)
            np.testing.assert_allclose(np.asarray(g2), np.asarray(grad), rtol=1e-5, atol=1e-7)
    finally:
        monkeypatch.undo()
        jax.clear_caches()  # (later calls trace the CPU form again)


def _soft_case(n: int = 256, c: int = 64, seed: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    x = torch.tensor(2 * rng.normal(size=(n, c)), dtype=torch.float32)
    p = rng.uniform(size=(n, c)) ** 4
    t = torch.tensor(p / p.sum(axis=1, keepdims=True), dtype=torch.float32)
    return x, t


def test_torch_probability_labels_passes_match_the_native_op():
    """The labels' value check (two reads of the labels) is paid for by the row sums:
    one batched dot product instead of the native op's product array and its sum."""
    x, t = _soft_case()
    for backward in (False, True):
        ours = _passes(lambda a: wxent.softmax_cross_entropy(a, t), x, backward)
        peer = _passes(lambda a: F.cross_entropy(a, t), x, backward)
        assert ours.ops["bmm"] == 1 and ours.ops["_log_softmax"] == 1, ours.ops
        assert ours.transits <= peer.transits, (ours.ops, peer.ops)


def test_torch_probability_labels_values_and_gradients_match_the_native_op():
    """Smoothing, label gradients (the native op), double backward, infinite logits."""
    x, t = _soft_case(6, 9, seed=2)
    for eps in (0.0, 0.3):
        a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        ours = wxent.softmax_cross_entropy(a, t, label_smoothing=eps, reduction="sum")
        peer = F.cross_entropy(b, t, label_smoothing=eps, reduction="sum")
        torch.testing.assert_close(ours, peer, rtol=1e-6, atol=1e-6)
        ga = torch.autograd.grad(ours, a, create_graph=True)[0]
        gb = torch.autograd.grad(peer, b, create_graph=True)[0]
        torch.testing.assert_close(ga, gb, rtol=1e-6, atol=1e-7)
        ha = torch.autograd.grad((ga * t).sum(), a)[0]
        hb = torch.autograd.grad((gb * t).sum(), b)[0]
        torch.testing.assert_close(ha, hb, rtol=1e-5, atol=1e-7)
    labels = t.clone().requires_grad_(True)
    wxent.softmax_cross_entropy(x, labels, reduction="sum").backward()
    expected = -torch.log_softmax(x, dim=1)
    torch.testing.assert_close(labels.grad, expected, rtol=1e-6, atol=1e-6)
    # -inf logits where the label is 0: the limit (0 * log 0 = 0), on the exact path.
    xi = x.clone()
    ti = t.clone()
    xi[0, 0], ti[0, 0] = -np.inf, 0.0
    ti[0] = ti[0] / ti[0].sum()
    xi.requires_grad_(True)
    out = wxent.softmax_cross_entropy(xi, ti, reduction="none")
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(xi.grad).all()
    assert xi.grad[0, 0] == 0.0
