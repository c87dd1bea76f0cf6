"""The JAX kernels of :func:`wxent.linear_cross_entropy` (see :mod:`wxent._fastpaths.linear`).

Imported only for JAX arrays; the same under ``jit``: bf16 ``dot_general`` with float32
accumulation, the gradient in the forward rule of a ``custom_vjp``.

Memory under ``jit`` (what XLA's compiled memory analysis reports as temporary bytes):
one chunk's float32 logits, its gradient in the inputs' dtype, and one block of
``grad_weight``'s float32 GEMM result, no larger than a 16-bit chunk of logits. On
accelerators, 16-bit ``grad_weight`` is accumulated across chunks in its own dtype: each
chunk's float32 GEMM result is added in float32 and rounded once per chunk, instead of a
float32 accumulator of the whole ``(V, D)`` matrix (2 GiB at V=131072, D=4096: by itself
more than a quarter of what matmul + Optax holds for 8192 rows). That accumulator is
the output buffer itself. The price is accuracy: with ``k`` chunks the relative error of
``grad_weight`` is about ``sqrt(k / 2)`` times that of one rounding (2x at 8 chunks).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from wxent._core.numerics import smoothed
from wxent._types import Array


def _jax_dot(a: Array, b: Array, contract: tuple[int, int], dtype: Any) -> Array:
    """``a`` times ``b`` over the given axes, operands in their dtype, accumulated in ``dtype``."""
    dims = (((contract[0],), (contract[1],)), ((), ()))
    return lax.dot_general(a, b, dims, preferred_element_type=dtype)


def chunk_step(
    xc: Array, w: Array, b: Array | None, y: Array, coef: Array | None, eps: float, dtype: Any
) -> tuple[Array, Array | None]:
    """Loss of one chunk and, given ``coef``, ``d(sum coef*l) / d logits`` (compute dtype).

    Rows holding ``+inf`` take the limits of the unfused loss
    (:func:`wxent._core.numerics.limit_rows`): the logits 0 at the ``+inf`` entries and
    ``-inf`` elsewhere, from constants (gradient 0); elementwise selections that XLA
    fuses into the passes the softmax makes anyway. Rows of coefficient 0 get gradient 0
    whatever their logits (NaN ones too).
    """
    z = _jax_dot(xc, w, (1, 1), dtype)
    if b is not None:
        z = z + b
    # In the shifted logits zs = z - max: -log p_y = log_total - zs_y and p = exp(zs -
    # log_total) (lse - z_y and exp(z - lse) round log_total away at large |z|).
    m = lax.stop_gradient(jnp.max(z, axis=1, keepdims=True))
    limit = m == jnp.inf
    shifted = z - jnp.where(jnp.isfinite(m), m, 0.0)
    zs = jnp.where(limit, jnp.where(z == jnp.inf, 0.0, -jnp.inf).astype(dtype), shifted)
    log_total = jnp.log(jnp.sum(jnp.exp(zs), axis=1))
    loss = log_total - jnp.take_along_axis(zs, y[:, None], axis=1)[:, 0]
    if eps:
        loss = smoothed(loss, log_total - jnp.mean(zs, axis=1), eps)
    if coef is None:
        return loss, None
    hit = lax.broadcasted_iota(y.dtype, z.shape, 1) == y[:, None]
    target = jnp.where(hit, 1.0 - eps + eps / z.shape[1], eps / z.shape[1]).astype(dtype)
    # the limit's gradient: 0; rows where nothing counts (coef 0): 0, even at NaN logits
    zero = limit | (coef[:, None] == 0)
    return loss, jnp.where(zero, 0.0, coef[:, None] * (jnp.exp(zs - log_total[:, None]) - target))


def _blocks(n: int, size: int, step: Any, state: Any) -> Any:
    """``step(start, size, state)`` over ``[0, n)`` in blocks: a ``fori_loop``, then the tail."""
    full, tail = divmod(n, size)
    if full == 1:
        state = step(0, size, state)
    elif full:
        state = lax.fori_loop(0, full, lambda i, st: step(i * size, size, st), state)
    if tail:
        state = step(full * size, tail, state)
    return state


def grad_weight_block(num_classes: int, d: int, rows: int) -> int:
    """Rows of ``grad_weight`` per GEMM: a float32 result no larger than a 16-bit chunk."""
    return max(1, min(num_classes, rows * num_classes // max(1, 2 * d)))


def _add_grad_weight(acc: Array, g: Array, xc: Array, dtype: Any) -> Array:
    """``acc += g.T @ xc``, added in ``dtype``: at once, or for a narrower ``acc`` in blocks.

    A float32 accumulator takes the GEMM's result whole (on GPUs the GEMM adds into
    it); a 16-bit one is updated in blocks of rows, each added in float32 and rounded
    once, so that the float32 GEMM result never exceeds a 16-bit chunk of logits.
    """
    num_classes, d = acc.shape
    if acc.dtype == dtype:
        return acc + _jax_dot(g, xc, (0, 0), dtype)

    def step(start: Any, size: int, a: Array) -> Array:
        part = _jax_dot(lax.dynamic_slice_in_dim(g, start, size, axis=1), xc, (0, 0), dtype)
        old = lax.dynamic_slice_in_dim(a, start, size).astype(dtype)
        return lax.dynamic_update_slice_in_dim(a, (old + part).astype(a.dtype), start, 0)

    return _blocks(num_classes, grad_weight_block(num_classes, d, g.shape[0]), step, acc)


def narrow_grad_weight(x: Array) -> bool:
    """Whether 16-bit ``grad_weight`` is accumulated in 16 bits: on accelerators.

    There memory is scarce and chunks are large (few roundings: a relative error of
    about ``sqrt(chunks / 2)`` times one rounding's); CPUs, whose chunks are small,
    accumulate in float32.
    """
    if isinstance(x, jax.core.Tracer):
        return bool(jax.default_backend() != "cpu")
    return any(d.platform != "cpu" for d in x.devices())


def sweep(
    x: Array, w: Array, b: Array | None, y: Array, coef: Array | None, eps: float, chunk: int
) -> tuple[Array, Array | None, Array | None, Array | None]:
    """Per-row losses and, given ``coef``, the gradients of ``sum(coef * l)``.

    Full chunks run in a ``fori_loop`` over dynamic slices (no padded copy of ``x``),
    the remaining rows in one more step. ``grad_w`` is accumulated in the compute dtype,
    or in the weight's 16-bit dtype on accelerators (:func:`narrow_grad_weight`; see the
    module's notes).
    """
    n, d = x.shape
    num_classes = w.shape[0]
    dtype = x.dtype if x.dtype in (jnp.float32, jnp.float64) else jnp.float32
    narrow = jnp.dtype(w.dtype).itemsize == 2 and narrow_grad_weight(x)
    grads = coef is not None
    state: dict[str, Any] = {"loss": jnp.zeros((n,), dtype)}
    if grads:
        state["gx"] = jnp.zeros_like(x)
        state["gw"] = jnp.zeros((num_classes, d), w.dtype if narrow else dtype)
        if b is not None:
            state["gb"] = jnp.zeros((num_classes,), dtype)

    def step(start: Any, size: int, st: dict[str, Any]) -> dict[str, Any]:
        xc = lax.dynamic_slice_in_dim(x, start, size)
        yc = lax.dynamic_slice_in_dim(y, start, size)
        cc = None if coef is None else lax.dynamic_slice_in_dim(coef, start, size)
        loss, grad = chunk_step(xc, w, b, yc, cc, eps, dtype)
        st = dict(st, loss=lax.dynamic_update_slice_in_dim(st["loss"], loss, start, 0))
        if grad is None:
            return st
        g = grad.astype(x.dtype)
        gx = _jax_dot(g, w, (1, 0), dtype).astype(x.dtype)
        st["gx"] = lax.dynamic_update_slice_in_dim(st["gx"], gx, start, 0)
        st["gw"] = _add_grad_weight(st["gw"], g, xc, dtype)
        if b is not None:
            st["gb"] = st["gb"] + jnp.sum(grad, axis=0)
        return st

    state = _blocks(n, chunk, step, state)
    gw = state.get("gw")
    return (
        state["loss"],
        state.get("gx"),
        None if gw is None else gw.astype(w.dtype),
        state.get("gb"),
    )


def total(
    x: Array, w: Array, b: Array | None, y: Array, coef: Array, eps: float, chunk: int
) -> tuple[Array, Array]:
    """``(sum(coef * l), l)``; under differentiation the gradient is computed in the forward pass.

    ``l`` is returned for value checks only: it carries no gradient.
    """
    try:
        out, losses = _total(x, w, b, y, coef, eps, chunk)
    except TypeError as error:
        if not _forward_mode(error):
            raise
        losses = sweep(x, w, b, y, None, eps, chunk)[0]  # plain JAX: any mode
        out = _weighted_sum(coef, losses)
    return out, lax.stop_gradient(losses)


def rows(x: Array, w: Array, b: Array | None, y: Array, eps: float, chunk: int) -> Array:
    """Per-row losses; the backward pass recomputes the chunks' logits."""
    try:
        return _rows(x, w, b, y, eps, chunk)
    except TypeError as error:
        if not _forward_mode(error):
            raise
        return sweep(x, w, b, y, None, eps, chunk)[0]


def _forward_mode(error: TypeError) -> bool:
    """JAX's refusal to push tangents through a ``custom_vjp`` (``jacfwd``, ``hessian``).

    The kernels' forward pass is plain JAX: under forward mode it runs without the custom
    rule, differentiated by JAX as written (the memory saving is a reverse-mode one).
    """
    return "forward-mode" in str(error) and "custom_vjp" in str(error)


def _weighted_sum(coef: Any, losses: Any) -> Any:
    return jnp.sum(jnp.where(coef != 0, coef * losses, 0.0))


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6))
def _total(x: Any, w: Any, b: Any, y: Any, coef: Any, eps: float, chunk: int) -> Any:
    losses = sweep(x, w, b, y, None, eps, chunk)[0]
    return _weighted_sum(coef, losses), losses


def _total_fwd(x: Any, w: Any, b: Any, y: Any, coef: Any, eps: float, chunk: int) -> Any:
    losses, gx, gw, gb = sweep(x, w, b, y, coef, eps, chunk)
    return (_weighted_sum(coef, losses), losses), (losses, gx, gw, gb)


def _total_bwd(eps: float, chunk: int, res: Any, cotangents: Any) -> Any:
    losses, gx, gw, gb = res
    g = cotangents[0]  # the losses output is for checks only (stop_gradient)
    return (
        (g * gx).astype(gx.dtype),
        (g * gw).astype(gw.dtype),
        None if gb is None else g * gb,
        None,
        g * losses,
    )


_total.defvjp(_total_fwd, _total_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def _rows(x: Any, w: Any, b: Any, y: Any, eps: float, chunk: int) -> Any:
    return sweep(x, w, b, y, None, eps, chunk)[0]


def _rows_fwd(x: Any, w: Any, b: Any, y: Any, eps: float, chunk: int) -> Any:
    return sweep(x, w, b, y, None, eps, chunk)[0], (x, w, b, y)


def _rows_bwd(eps: float, chunk: int, res: Any, g: Any) -> Any:
    x, w, b, y = res
    _, gx, gw, gb = sweep(x, w, b, y, g, eps, chunk)
    return gx, gw, gb, None


_rows.defvjp(_rows_fwd, _rows_bwd)
