"""Stable building blocks the Array API standard lacks: softplus, log-sigmoid, logsumexp.

Every function takes ``xp`` as a required keyword and uses only standard names, so it
runs on NumPy, PyTorch, JAX, array-api-strict and wxent's TensorFlow shim. Branches are
written with the "double where" so that the branch not taken never sees an input that
overflows: values *and* gradients stay finite for every finite input, and infinite
inputs give the limits (``softplus(-inf) = 0``, ``softplus(inf) = inf``).
"""

from __future__ import annotations

from typing import Any

Array = Any


def softplus(x: Array, *, xp: Any) -> Array:
    """``log(1 + exp(x))``, stable for all ``x``; gradient ``sigmoid(x)`` (exactly 0.5 at 0).

    Computed as ``x + log1p(exp(-x))`` for ``x > 0`` and ``log1p(exp(x))`` otherwise.
    """
    positive = x > 0
    zeros = xp.zeros_like(x)
    x_pos = xp.where(positive, x, zeros)
    x_neg = xp.where(positive, zeros, x)
    return xp.where(positive, x_pos + xp.log1p(xp.exp(-x_pos)), xp.log1p(xp.exp(x_neg)))


def log_sigmoid(x: Array, *, xp: Any) -> Array:
    """``log(sigmoid(x)) = -softplus(-x)``."""
    return -softplus(-x, xp=xp)


def logsumexp(x: Array, *, axis: int, xp: Any) -> Array:
    """``log(sum(exp(x), axis))`` with the axis kept (size 1), stable for large ``|x|``.

    Rows whose maximum is infinite use 0 as the shift, so ``-inf`` entries contribute
    ``exp(-inf) = 0`` and never produce ``inf - inf``.
    """
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    return m + xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True))


def log_softmax(x: Array, *, axis: int, xp: Any) -> Array:
    """``x - logsumexp(x)`` along ``axis``."""
    return x - logsumexp(x, axis=axis, xp=xp)


def safe_mul(t: Array, v: Array, *, xp: Any) -> Array:
    """``t * v`` with ``0 * v = 0`` even where ``v`` is infinite (``0 * log 0 = 0``)."""
    zero = t == 0
    safe = xp.where(zero, xp.zeros_like(v), v)
    return xp.where(zero, xp.zeros_like(v), t * safe)
