"""JAX custom derivatives of the focal and asymmetric losses (see :mod:`.focal`).

Each function is a ``jax.custom_jvp`` whose rule computes the loss and its derivative
from one set of intermediates; the tangent is linear in the input tangents, so reverse
mode keeps only the derivative (one per-element array) as its residual, and forward mode,
``vmap`` and Hessians work (the rule itself is differentiable JAX code). Tangents of
labels and weights are used only when they are not symbolic zeros. The computations are
``jax.jit``-compiled, so they run as fused kernels also when called eagerly.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

from wxent._fastpaths import focal as shared

Array = Any


def _is_zero(tangent: Any) -> bool:
    return isinstance(tangent, SymbolicZero)


def _where_zero(coefficient: Array, product: Array) -> Array:
    return jnp.where(coefficient == 0, 0.0, product)


def _linear(*pairs: tuple[Any, Any, Any], like: Array) -> Array:
    """``sum(mask_i(slope_i * tangent_i))`` over the non-zero tangents.

    A coefficient's slope is its term: where the coefficient is 0 and the term infinite
    (the limit ``0 * log 0 = 0``) the slope is 0; a finite term is the slope also at a
    coefficient 0 (a hard label), as the generic path's ``safe_mul`` gives. The slope is
    masked, not the product: reverse mode transposes ``slope * tangent`` into
    ``slope * cotangent``, where a masked product would leave ``inf * 0``.
    """
    out = None
    for slope, tangent, coefficient in pairs:
        if _is_zero(tangent):
            continue
        if coefficient is not None:
            slope = jnp.where((coefficient == 0) & ~jnp.isfinite(slope), 0.0, slope)
        term = slope * tangent
        out = term if out is None else out + term
    return jnp.zeros_like(like) if out is None else out


# ----------------------------------------------------------------------------- sigmoid


def _sigmoid_parts(x: Array) -> tuple[Array, Array, Array, Array]:
    """``p, 1 - p, softplus(x), softplus(-x)`` from one ``exp`` and one ``log1p``."""
    e = jnp.exp(-jnp.abs(x))
    log_term = jnp.log1p(e)
    r = 1.0 / (1.0 + e)
    er = e * r
    nonneg = x >= 0
    return (
        jnp.where(nonneg, r, er),
        jnp.where(nonneg, er, r),
        jnp.maximum(x, 0.0) + log_term,
        log_term - jnp.minimum(x, 0.0),
    )


# The options are values of the compiled calls, not part of their keys, so that a schedule
# (a new gamma, clip or smoothing each step) compiles nothing new: the keys hold only what
# the formulas branch on (``_kinds``), the values come as ``_values``: numbers the
# formulas use, each computed in float64 on the host (``1 - clip``: as a constant would be).


def _kinds(opts: tuple[float, ...]) -> tuple[bool, bool, int, bool]:
    """What the sigmoid family's formulas branch on: gammas 0, the clip's form, smoothing."""
    gamma_pos, gamma_neg, clip, eps = opts
    clip_kind = 0 if clip == 0.0 else 2 if clip >= 0.5 else 1  # see clipped_probability
    return gamma_pos == 0.0, gamma_neg == 0.0, clip_kind, eps != 0.0


def _values(opts: tuple[float, ...]) -> tuple[float, ...]:
    """The numbers of the sigmoid family's formulas (:func:`_kinds`)."""
    gamma_pos, gamma_neg, clip, eps = opts
    return gamma_pos, gamma_neg, clip, 1.0 - clip, 1.0 - eps, 0.5 * eps


def _focal_term(p: Array, q: Array, sp_pos: Array, sp_neg: Array, gamma: Any, zero: bool) -> Any:
    """``A = -(1-p)**gamma log p`` and ``dA/dx`` (see :mod:`.focal_torch`)."""
    if zero:
        return sp_neg, -q
    factor = jnp.exp(-gamma * sp_pos)
    slope = -factor * (q + gamma * p * jnp.minimum(sp_neg, shared.FAR))
    return sp_neg * factor, slope


def _clipped_negative(
    p: Array, q: Array, gamma: Any, zero: bool, clip: Any, keep: Any, high: bool
) -> Any:
    """``N = -p_m**gamma log(1 - p_m)``, ``p_m = max(p - clip, 0)``, and ``dN/dx``.

    ``keep``: ``1 - clip``; ``high``: ``clip >= 1/2`` (the forms of
    :func:`wxent._core.sigmoid.clipped_probability`).
    """
    shifted = keep - q if high else p - clip
    active = ~(shifted <= 0)  # NaN stays: a NaN logit is an error
    p_m = jnp.where(active, shifted, 1.0)
    one_minus = jnp.where(active, q + clip, 1.0)
    # (-log1p(-p_m) where p_m <= 1/2: see clipped_probability)
    minus_log = -jnp.log1p(-jnp.where(active, shifted, 0.0)) if high else -jnp.log(one_minus)
    d_pm = 1.0 / one_minus
    if not zero:
        power = jnp.exp(gamma * jnp.log(p_m))
        d_pm = (d_pm + gamma * minus_log / p_m) * power
        minus_log = minus_log * power
    return jnp.where(active, minus_log, 0.0), jnp.where(active, d_pm * p * q, 0.0)


def _sigmoid_family(x: Array, cp: Array, cn: Array, values: Any, kinds: Any) -> Any:
    gamma_pos, gamma_neg, clip, keep = values[:4]
    pos_zero, neg_zero, clip_kind = kinds[:3]
    p, q, sp_pos, sp_neg = _sigmoid_parts(x)
    pos, d_pos = _focal_term(p, q, sp_pos, sp_neg, gamma_pos, pos_zero)
    if clip_kind == 0:
        neg, d_neg = _focal_term(q, p, sp_neg, sp_pos, gamma_neg, neg_zero)  # B(x) = A(-x)
        d_neg = -d_neg
    else:
        neg, d_neg = _clipped_negative(p, q, gamma_neg, neg_zero, clip, keep, clip_kind == 2)
    loss = _where_zero(cp, cp * pos) + _where_zero(cn, cn * neg)
    return loss, cp * d_pos + cn * d_neg, pos, neg


@functools.partial(jax.custom_jvp, nondiff_argnums=(4,))
def _sigmoid_rule(x: Array, cp: Array, cn: Array, values: Any, kinds: Any) -> Array:
    return _sigmoid_family(x, cp, cn, values, kinds)[0]


def _sigmoid_jvp(kinds: Any, primals: Any, tangents: Any) -> Any:
    x, cp, cn, values = primals  # (the options' values are checked numbers: no tangent)
    loss, derivative, pos, neg = _sigmoid_family(x, cp, cn, values, kinds)
    x_dot, cp_dot, cn_dot, _ = tangents
    tangent = _linear((derivative, x_dot, None), (pos, cp_dot, cp), (neg, cn_dot, cn), like=loss)
    return loss, tangent


_sigmoid_rule.defjvp(_sigmoid_jvp, symbolic_zeros=True)


def _sigmoid_call(
    x: Array, z: Array, q: Array | None, r: Array | None, values: Any, kinds: Any
) -> Array:
    keep_label, half_eps = values[4:]
    t = z * keep_label + half_eps if kinds[3] else z
    cp = t if q is None else t * q
    cn = 1.0 - t if r is None else (1.0 - t) * r
    cp, cn = jnp.broadcast_to(cp, x.shape), jnp.broadcast_to(cn, x.shape)
    return _sigmoid_rule(x, cp, cn, values[:4], kinds[:3])


# The coefficients are made inside the compiled function too: called eagerly, their five
# full-size operations (smoothing, the two products, the two broadcasts) would each be a
# dispatch and a pass of their own. Compiled once per option kinds (:func:`_kinds`), shape
# and dtype, and whether ``q`` and ``r`` are given (``None`` is an empty argument).
_sigmoid_jit = jax.jit(_sigmoid_call, static_argnums=(5,))


def sigmoid_family(
    x: Array, z: Array, q: Array | None, r: Array | None, opts: tuple[float, ...]
) -> Array:
    """Per-element ``q t A(x) + r (1 - t) N(x)``, ``t = z (1 - eps) + eps / 2``.

    ``opts`` is ``(gamma_pos, gamma_neg, clip, eps)``; with ``(0, 0, 0, eps)`` this is
    the sigmoid cross-entropy (:func:`wxent._fastpaths.jax_sigmoid_losses`). One compiled
    call, also eagerly.
    """
    opts = tuple(float(o) for o in opts)
    return _sigmoid_jit(x, z, q, r, _values(opts), _kinds(opts))


# ----------------------------------------------------------------------------- softmax


def _limited(x: Array) -> tuple[Array, Array]:
    """Rows holding ``+inf`` at their limit (see :func:`.focal_torch._limited`), and which."""
    rows = jnp.max(x, axis=1, keepdims=True) == jnp.inf
    return jnp.where(rows, jnp.where(x == jnp.inf, 0.0, -jnp.inf), x), rows


def _row_stats(x: Array) -> tuple[Array, Array, Array]:
    m = jnp.max(x, axis=1, keepdims=True)
    m = jax.lax.stop_gradient(jnp.where(jnp.isfinite(m), m, 0.0))
    e = jnp.exp(x - m)
    return m, e, jnp.sum(e, axis=1)


def _sparse(x: Array, y: Array, gamma: Any, zero: bool) -> Any:
    """``F_y``, ``p`` and ``k_y`` (see :func:`.focal_torch._sparse`).

    ``k_y`` is 0 in rows holding ``+inf`` (their limit, gradient 0).
    """
    x, infinite = _limited(x)
    m, e, total = _row_stats(x)
    # In the shifted logits z = x - m: -log p_y = log_total - z_y and p = exp(z - log_total)
    # (lse = m + log_total rounds log_total away at large |x|).
    log_total = jnp.log(total)
    minus_log_p = log_total - (jnp.take_along_axis(x, y[:, None], axis=1)[:, 0] - m[:, 0])
    p = jnp.exp((x - m) - log_total[:, None])
    if zero:
        return minus_log_p, p, jnp.where(infinite[:, 0], 0.0, -1.0).astype(log_total.dtype)
    is_label = jnp.arange(x.shape[1])[None, :] == y[:, None]
    others = jnp.sum(jnp.where(is_label, 0.0, e), axis=1)
    log1m = jnp.where(  # log(1 - p_y): log1p for p_y <= 1/2, the sums (exact) above
        minus_log_p >= math.log(2.0),
        jnp.log1p(-jnp.exp(-minus_log_p)),
        jnp.log(others) - jnp.log(total),
    )
    loss, k = shared.focal_and_slope(jnp, minus_log_p, log1m, gamma)
    return loss, p, jnp.where(infinite[:, 0], 0.0, k)


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _sparse_rule(x: Array, y: Array, gamma: Any, zero: bool) -> Array:
    return _sparse(x, y, gamma, zero)[0]


@_sparse_rule.defjvp
def _sparse_jvp(zero: bool, primals: Any, tangents: Any) -> Any:
    x, y, gamma = primals  # (gamma is a checked number: no tangent)
    x_dot = tangents[0]
    loss, p, k = _sparse(x, y, gamma, zero)
    at_label = jnp.take_along_axis(x_dot, y[:, None], axis=1)[:, 0]
    return loss, k * (at_label - jnp.sum(p * x_dot, axis=1))


# (gamma a value of the call, whether it is 0 the key: a gamma schedule compiles once)
_sparse_jit = jax.jit(_sparse_rule, static_argnums=(3,))


def softmax_sparse(rows: Array, labels: Array, gamma: float) -> Array:
    """Per-row focal loss of class indices (``rows`` is ``(N, C)``)."""
    return _sparse_jit(rows, labels, gamma, gamma == 0.0)


def _dense(x: Array, t: Array, gamma: Any, zero: bool) -> Any:
    """Per-row ``sum_c t_c F_c``, its gradient (0 in rows holding ``+inf``), and ``F``."""
    x, infinite = _limited(x)
    m, e, total = _row_stats(x)
    minus_log_p = jnp.log(total)[:, None] - (x - m)  # in the shifted logits: no cancellation
    p = e / total[:, None]
    if zero:
        terms, k = minus_log_p, jnp.full_like(x, -1.0)
    else:
        is_max = x == m
        count = jnp.sum(is_max, axis=1).astype(x.dtype)
        rest = jnp.sum(jnp.where(is_max, 0.0, p), axis=1) + (count - 1.0) / total
        log1m = jnp.where(is_max & (p > 0.5), jnp.log(rest)[:, None], jnp.log1p(-p))
        terms, k = shared.focal_and_slope(jnp, minus_log_p, log1m, gamma)
    loss = jnp.sum(_where_zero(t, t * terms), axis=1)
    tk = t * k
    derivative = tk - p * jnp.sum(tk, axis=1, keepdims=True)
    return loss, jnp.where(infinite, 0.0, derivative), terms


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _dense_rule(x: Array, t: Array, gamma: Any, zero: bool) -> Array:
    return _dense(x, t, gamma, zero)[0]


def _dense_jvp(zero: bool, primals: Any, tangents: Any) -> Any:
    x, t, gamma = primals  # (gamma is a checked number: no tangent)
    loss, derivative, terms = _dense(x, t, gamma, zero)
    x_dot, t_dot, _ = tangents
    per_element = _linear((derivative, x_dot, None), (terms, t_dot, t), like=x)
    return loss, jnp.sum(per_element, axis=1)


_dense_rule.defjvp(_dense_jvp, symbolic_zeros=True)
_dense_jit = jax.jit(_dense_rule, static_argnums=(3,))


def softmax_dense(rows: Array, labels: Array, eps: float, gamma: float) -> Array:
    """Per-row focal loss of smoothed indices ``(N,)`` or probabilities ``(N, C)``."""
    num_classes = rows.shape[1]
    if labels.ndim == 1:
        labels = jax.nn.one_hot(labels, num_classes, dtype=rows.dtype)
    targets = labels * (1.0 - eps) + eps / num_classes if eps else labels
    return _dense_jit(rows, targets, gamma, gamma == 0.0)
