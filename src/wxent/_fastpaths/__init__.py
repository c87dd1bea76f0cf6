"""Fast paths beside the generic Array API path, each justified by a benchmark.

The generic core (:mod:`wxent._core`) builds the softmax cross-entropy out of standard
array operations; every one of them is a full pass over the ``(N, C)`` logits, and
autodiff keeps several ``(N, C)`` intermediates alive for the backward pass. For the
hot case — integer labels, classes on the last axis — this module computes the same
*unweighted per-sample* losses

    ``l = (1 - eps) * (lse(x) - x[y]) + eps * (lse(x) - mean_c x_c)``

faster and leaner; weights, masks and reductions stay in the generic code, so the
semantics cannot drift. The JAX rule is a ``custom_jvp``: forward mode and higher
orders keep working. ``softmax_losses`` returns ``None`` where no fast path applies
and the caller falls back to the generic core. Parity with the generic path is tested
in ``tests/test_fastpaths.py``; the measurements are in BENCHMARKS.md.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from wxent import _namespace as ns

Array = Any

#: Rows per block of the NumPy kernel: about 2**16 logits (256 KiB in float32), which
#: keeps a block in the L2 cache while it is shifted, exponentiated and summed.
BLOCK_ELEMENTS = 2**16

#: Set to ``False`` to force the generic path everywhere (benchmarks and tests).
ENABLED = True


def softmax_losses(inp: Any, label_smoothing: float) -> Array | None:
    """Unweighted per-sample softmax CE for prepared integer-label inputs, or ``None``.

    Applies to classes on the last axis and a float32/float64 compute dtype. Integer
    labels: NumPy (blocked kernel), PyTorch (the native
    ``F.cross_entropy(reduction="none")``) and JAX (a ``custom_jvp``). Probability
    labels: NumPy (blocked kernel) and PyTorch on finite logits (native kernel).
    """
    if not ENABLED:
        return None
    if not inp.indices:
        return _softmax_probability_losses(inp, label_smoothing)
    x = inp.logits
    ndim = len(x.shape)
    if ndim == 0 or inp.axis != ndim - 1 or any(d is None for d in x.shape):
        return None
    xp = inp.xp
    if ns.is_numpy_namespace(xp) and isinstance(x, np.ndarray):
        if x.dtype not in (np.float32, np.float64):
            return None
        flat = x.reshape(-1, x.shape[-1])
        per_row = numpy_softmax_losses(flat, np.asarray(inp.labels).reshape(-1), label_smoothing)
        return per_row.reshape(x.shape[:-1])
    if ns.is_torch_namespace(xp):
        import torch
        import torch.nn.functional as F

        if x.dtype not in (torch.float32, torch.float64) or x.shape[-1] == 0:
            return None
        # torch's native kernel, unweighted and per sample, is exactly these losses
        # (with weights torch's smoothing term differs, so weights stay outside).
        rows = x.reshape(-1, x.shape[-1])
        losses = F.cross_entropy(
            rows, inp.labels.reshape(-1), reduction="none", label_smoothing=label_smoothing
        )
        return losses.reshape(x.shape[:-1])
    if ns.is_jax_namespace(xp):
        import jax.numpy as jnp

        if x.dtype not in (jnp.float32, jnp.float64) or x.shape[-1] == 0:
            return None
        rows = jnp.reshape(x, (-1, x.shape[-1]))
        losses = _jax_softmax_function()(rows, jnp.reshape(inp.labels, (-1,)), label_smoothing)
        return jnp.reshape(losses, x.shape[:-1])
    return None


def _softmax_probability_losses(inp: Any, label_smoothing: float) -> Array | None:
    """Probability labels: NumPy blocked kernel; torch's native kernel on finite logits."""
    x = inp.logits
    ndim = len(x.shape)
    if ndim == 0 or inp.axis != ndim - 1 or any(d is None for d in x.shape):
        return None
    xp = inp.xp
    if ns.is_numpy_namespace(xp) and isinstance(x, np.ndarray):
        if x.dtype not in (np.float32, np.float64):
            return None
        rows = x.reshape(-1, x.shape[-1])
        t = np.asarray(inp.labels, dtype=x.dtype).reshape(rows.shape)
        return numpy_softmax_probability_losses(rows, t, label_smoothing).reshape(x.shape[:-1])
    if ns.is_torch_namespace(xp) and _torch_finite(x):
        import torch.nn.functional as F

        # Identical to ours for finite logits (torch's 0 * log 0 is NaN at -inf logits).
        rows = x.reshape(-1, x.shape[-1])
        t = inp.labels.reshape(rows.shape)
        losses = F.cross_entropy(rows, t, reduction="none", label_smoothing=label_smoothing)
        return losses.reshape(x.shape[:-1])
    return None


def sigmoid_losses(
    inp: Any, label_smoothing: float, pos_weight: Array | None, neg_weight: Array | None
) -> Array | None:
    """Per-element sigmoid CE ``q*t*softplus(-x) + r*(1-t)*softplus(x)``, or ``None``.

    On finite logits only (at infinite ones the generic path gives the limits). PyTorch:
    the native ``binary_cross_entropy_with_logits(pos_weight=q)``, which is this formula
    without ``neg_weight``. NumPy: a row-blocked kernel. The smoothed target is
    ``z*(1-eps) + eps/2``.
    """
    if not ENABLED:
        return None
    x = inp.logits
    if isinstance(x, np.ndarray) and ns.is_numpy_namespace(inp.xp):
        return _numpy_sigmoid(inp, label_smoothing, pos_weight, neg_weight)
    if neg_weight is not None or not ns.is_torch_namespace(inp.xp) or not _torch_finite(x):
        return None
    import torch.nn.functional as F

    t = inp.labels
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if pos_weight is not None and tuple(pos_weight.shape) != tuple(x.shape):
        pos_weight = pos_weight.expand(x.shape) if pos_weight.ndim else pos_weight
    return F.binary_cross_entropy_with_logits(x, t, pos_weight=pos_weight, reduction="none")


def _numpy_sigmoid(
    inp: Any, label_smoothing: float, q: Array | None, r: Array | None
) -> Array | None:
    x = inp.logits
    ndim = x.ndim
    if x.dtype not in (np.float32, np.float64) or ndim == 0 or 0 in x.shape:
        return None
    for w in (q, r):  # per-class vectors must lie on the last axis
        if w is not None and np.ndim(w) not in (0, 1):
            return None
    if inp.axis != ndim - 1 and any(w is not None and np.ndim(w) == 1 for w in (q, r)):
        return None
    if not np.isfinite(x).all():
        return None  # the generic path gives the limits at infinite logits
    t = np.asarray(inp.labels, dtype=x.dtype)
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    rows = x.reshape(-1, x.shape[-1])
    out = numpy_sigmoid_losses(rows, t.reshape(rows.shape), q, r)
    return out.reshape(x.shape)


def numpy_sigmoid_losses(
    x: np.ndarray, t: np.ndarray, q: Array | None, r: Array | None
) -> np.ndarray:
    """Row-blocked ``q*t*softplus(-x) + r*(1-t)*softplus(x)`` for finite ``x``.

    With ``sp = softplus(x) = max(x, 0) + log1p(exp(-|x|))`` (one ``exp`` per logit) and
    ``softplus(-x) = sp - x``, computed block by block in the output buffer.
    """
    n, num_classes = x.shape
    out = np.empty_like(x)
    rows = _block_rows(num_classes)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        xb, tb, ob = x[start:stop], t[start:stop], out[start:stop]
        np.abs(xb, out=ob)
        np.negative(ob, out=ob)
        np.exp(ob, out=ob)
        np.log1p(ob, out=ob)
        ob += np.maximum(xb, 0.0)  # ob = softplus(x)
        if q is None and r is None:
            ob -= tb * xb  # t * (sp - x) + (1 - t) * sp
            continue
        pos = tb * (ob - xb)
        if q is not None:
            pos *= q
        ob *= 1.0 - tb
        if r is not None:
            ob *= r
        ob += pos
    return out


def _torch_finite(x: Array) -> bool:
    """float32/64 torch logits whose values are all finite (read now: not under compile)."""
    import torch

    if x.dtype not in (torch.float32, torch.float64) or not ns.is_concrete(x):
        return False
    return bool(torch.isfinite(x).all())


def _block_rows(num_classes: int, elements: int | None = None) -> int:
    budget = BLOCK_ELEMENTS if elements is None else elements
    return max(1, budget // max(1, num_classes))


# ----------------------------------------------------------------------------- NumPy


def numpy_softmax_losses(x: np.ndarray, labels: np.ndarray, label_smoothing: float) -> np.ndarray:
    """Row-blocked softmax CE on NumPy: one ``exp`` per logit, in place within a block.

    The straightforward version makes four passes over freshly allocated ``(N, C)``
    arrays (``x - max``, ``exp``, ``sum``, gather); here each block of rows is
    shifted, exponentiated and summed while it is in cache, in one scratch buffer.
    """
    n, num_classes = x.shape
    out = np.empty(n, dtype=x.dtype)
    rows = _block_rows(num_classes)
    buf = np.empty((min(rows, n), num_classes), dtype=x.dtype)
    ones = np.ones(num_classes, dtype=x.dtype)  # row sums as a BLAS mat-vec: faster than sum
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            block = x[start:stop]
            scratch = buf[: stop - start]
            m = block.max(axis=1)
            m[~np.isfinite(m)] = 0.0
            np.subtract(block, m[:, None], out=scratch)
            np.exp(scratch, out=scratch)
            lse = np.log(scratch @ ones) + m
            target = block[np.arange(stop - start), labels[start:stop]]
            loss = lse - target
            if label_smoothing:
                loss = (1.0 - label_smoothing) * loss + label_smoothing * (
                    lse - (block @ ones) / num_classes
                )
            out[start:stop] = loss
    return out


def numpy_softmax_probability_losses(
    x: np.ndarray, t: np.ndarray, label_smoothing: float
) -> np.ndarray:
    """Row-blocked ``-sum_c t'_c log_softmax(x)_c`` with ``t' = t (1 - eps) + eps / C``.

    Uses ``-sum t' (x - lse) = lse * sum(t') - sum(t' x)``: one ``exp`` per logit, and
    ``t * x`` is 0 where ``t == 0`` (also at ``x = -inf``).
    """
    n, num_classes = x.shape
    out = np.empty(n, dtype=x.dtype)
    rows = _block_rows(num_classes)
    buf = np.empty((min(rows, n), num_classes), dtype=x.dtype)
    ones = np.ones(num_classes, dtype=x.dtype)
    eps = label_smoothing
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            block, tb = x[start:stop], t[start:stop]
            scratch = buf[: stop - start]
            m = block.max(axis=1)
            m[~np.isfinite(m)] = 0.0
            np.subtract(block, m[:, None], out=scratch)
            np.exp(scratch, out=scratch)
            lse = np.log(scratch @ ones) + m
            np.multiply(tb, block, out=scratch)
            np.copyto(scratch, 0.0, where=tb == 0)
            t_sum, tx_sum = tb @ ones, scratch @ ones
            if eps:
                t_sum = (1.0 - eps) * t_sum + eps
                tx_sum = (1.0 - eps) * tx_sum + (eps / num_classes) * (block @ ones)
            out[start:stop] = lse * t_sum - tx_sum
    return out


# ----------------------------------------------------------------------------- JAX


@functools.cache
def _jax_softmax_function() -> Any:
    import jax
    import jax.numpy as jnp

    def forward(x: Any, labels: Any, eps: float) -> tuple[Any, Any]:
        m = jnp.max(x, axis=1)
        m = jax.lax.stop_gradient(jnp.where(jnp.isfinite(m), m, 0.0))
        lse = jnp.log(jnp.sum(jnp.exp(x - m[:, None]), axis=1)) + m
        target = jnp.take_along_axis(x, labels[:, None], axis=1)[:, 0]
        loss = lse - target
        if eps:
            loss = (1.0 - eps) * loss + eps * (lse - jnp.mean(x, axis=1))
        return loss, lse

    # Autodiff of the generic path differentiates through the max, the where and the
    # exp separately; this rule gives the tangent from softmax = exp(x - lse) in one
    # fused pass. A custom_jvp (not a vjp) keeps forward mode and Hessians working;
    # reverse mode transposes the linear rule.
    @functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
    def softmax_ce(x: Any, labels: Any, eps: float) -> Any:
        return forward(x, labels, eps)[0]

    @softmax_ce.defjvp
    def jvp(eps: float, primals: Any, tangents: Any) -> Any:
        x, labels = primals
        x_dot = tangents[0]
        loss, lse = forward(x, labels, eps)
        # d loss = sum(softmax * dx) - (1 - eps) * dx[y] - eps * mean(dx); reverse mode
        # transposes the gather into a scatter of N values, as Optax's autodiff does.
        tangent = jnp.sum(jnp.exp(x - lse[:, None]) * x_dot, axis=1)
        tangent = tangent - (1.0 - eps) * jnp.take_along_axis(x_dot, labels[:, None], axis=1)[:, 0]
        if eps:
            tangent = tangent - eps * jnp.mean(x_dot, axis=1)
        return loss, tangent

    return softmax_ce
