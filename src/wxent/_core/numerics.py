"""Stable building blocks: softplus, log-sum-exp, and products where ``0 * inf = 0``.

Every function takes ``xp`` and uses only standard Array API names.
"""

from __future__ import annotations

from typing import Any

from wxent._types import Array

#: Where ``-log p`` exceeds this, ``p = exp(-1000)`` is 0 in float32 and float64 alike: a
#: modulating factor ``(1 - p)**gamma`` is exactly 1 and a focal term exactly ``-log p``.
#: The focal losses take that branch as such, so their product branch never sees an
#: infinite (or overflowing) ``-log p``.
FAR = 1000.0


def softplus(x: Array, *, xp: Any) -> Array:
    """``log(1 + exp(x))``, stable for all ``x``; gradient ``sigmoid(x)`` (exactly 0.5 at 0).

    Computed as ``x + log1p(exp(-x))`` for ``x > 0`` and ``log1p(exp(x))`` otherwise.
    """
    positive = x > 0
    zeros = xp.zeros_like(x)
    x_pos = xp.where(positive, x, zeros)
    x_neg = xp.where(positive, zeros, x)
    return xp.where(positive, x_pos + xp.log1p(xp.exp(-x_pos)), xp.log1p(xp.exp(x_neg)))


def softplus_pair(x: Array, *, xp: Any) -> tuple[Array, Array]:
    """``(softplus(x), softplus(-x))`` from one ``exp`` and one ``log1p``, as :func:`softplus`.

    Both share ``l = log1p(exp(-|x|))``: ``softplus(x)`` is ``x + l`` for ``x > 0`` and ``l``
    otherwise, ``softplus(-x)`` is ``l`` for ``x > 0`` and ``l - x`` otherwise; the values
    are :func:`softplus`'s bit for bit, with 9 elementwise operations instead of 22. The
    exponent is ``where(x > 0, -x, x)`` (not ``-abs(x)``), so the gradients at ``x = 0``
    are ``0.5`` and ``-0.5``; they are finite at infinite ``x`` (only additions meet the
    infinite branch).
    """
    positive = x > 0
    shared = xp.log1p(xp.exp(xp.where(positive, -x, x)))
    return xp.where(positive, x + shared, shared), xp.where(positive, shared, shared - x)


def logsumexp(x: Array, *, axis: int, xp: Any) -> Array:
    """``log(sum(exp(x), axis))`` with the axis kept (size 1), stable for large ``|x|``.

    Rows whose maximum is infinite use 0 as the shift, so ``-inf`` entries contribute
    ``exp(-inf) = 0`` and never produce ``inf - inf``.
    """
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    return m + xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True))


def limit_logits(x: Array, *, axis: int, xp: Any) -> Array:
    """Rows holding ``+inf`` replaced by their limit: 0 at the ``+inf`` entries, ``-inf`` elsewhere.

    Softmax is shift-invariant, so shifting such a row by its infinite maximum gives the
    limit of the softmax (uniform over the ``+inf`` entries) and of the cross-entropy
    (``log k`` for a target among ``k`` infinite entries, ``inf`` otherwise) without
    ``inf - inf``. Finite rows are unchanged; the gradient in a ``+inf`` row is 0.
    """
    m = xp.max(x, axis=axis, keepdims=True)
    inf = xp.full_like(x, float("inf"))
    limit = xp.where(x == inf, xp.zeros_like(x), -inf)
    return xp.where(m == float("inf"), limit, x)


def log_softmax(x: Array, *, axis: int, xp: Any) -> Array:
    """``x - logsumexp(x)`` along ``axis``, exact in rows holding ``+inf`` (their limit)."""
    x = limit_logits(x, axis=axis, xp=xp)
    return x - logsumexp(x, axis=axis, xp=xp)


def safe_mul(t: Array, v: Array, *, xp: Any) -> Array:
    """``t * v`` with ``0 * v = 0`` even where ``v`` is infinite or NaN (``0 * log 0 = 0``).

    ``t * where(t == 0, 0, v)``: the gradients are ``0`` where ``t`` is 0 (no ``0 * inf``
    in either), with one ``where``.
    """
    return t * xp.where(t == 0, xp.zeros_like(v), v)


def modulate(loss: Array, log_base: Array, gamma: float, *, xp: Any) -> Array:
    """``loss * exp(gamma * log_base)``; ``gamma = 0`` leaves ``loss`` untouched."""
    if gamma == 0.0:
        return loss
    return loss * xp.exp(gamma * log_base)


def has_unknown_dims(x: Array) -> bool:
    """Whether some dimension of ``x`` is unknown (TensorFlow graphs with ``None`` dims)."""
    return any(d is None for d in tuple(x.shape))


def class_count(x: Array, *, axis: int, xp: Any) -> Any:
    """The number of classes along ``axis``: an int, or a 0-d array when it is unknown."""
    count = x.shape[axis]
    if count is not None:
        return count
    first = xp.sum(xp.ones_like(x), axis=axis, keepdims=True)  # unknown C: count it
    return first
