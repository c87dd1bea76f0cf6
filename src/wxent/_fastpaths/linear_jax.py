"""The JAX kernels of :func:`wxent.linear_cross_entropy` (see :mod:`wxent._fastpaths.linear`).

Imported only for JAX arrays; the same under ``jit``: bf16 ``dot_general`` with float32
accumulation, the gradient in the forward rule of a ``custom_vjp``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from wxent._types import Array


def _jax_dot(a: Array, b: Array, contract: tuple[int, int], dtype: Any) -> Array:
    """``a`` times ``b`` over the given axes, operands in their dtype, accumulated in ``dtype``."""
    dims = (((contract[0],), (contract[1],)), ((), ()))
    return lax.dot_general(a, b, dims, preferred_element_type=dtype)


def chunk_step(
    xc: Array, w: Array, b: Array | None, y: Array, coef: Array | None, eps: float, dtype: Any
) -> tuple[Array, Array | None]:
    """Loss of one chunk and, given ``coef``, ``d(sum coef*l) / d logits`` (compute dtype)."""
    z = _jax_dot(xc, w, (1, 1), dtype)
    if b is not None:
        z = z + b
    lse = jax.nn.logsumexp(z, axis=1)
    loss = lse - jnp.take_along_axis(z, y[:, None], axis=1)[:, 0]
    if eps:
        loss = (1.0 - eps) * loss + eps * (lse - jnp.mean(z, axis=1))
    if coef is None:
        return loss, None
    hit = lax.broadcasted_iota(y.dtype, z.shape, 1) == y[:, None]
    target = jnp.where(hit, 1.0 - eps + eps / z.shape[1], eps / z.shape[1]).astype(dtype)
    return loss, coef[:, None] * (jnp.exp(z - lse[:, None]) - target)


def sweep(
    x: Array, w: Array, b: Array | None, y: Array, coef: Array | None, eps: float, chunk: int
) -> tuple[Array, Array | None, Array | None, Array | None]:
    """Per-row losses and, given ``coef``, the gradients of ``sum(coef * l)``.

    Full chunks run in a ``fori_loop`` over dynamic slices (no padded copy of ``x``),
    the remaining rows in one more step; ``grad_w`` is accumulated in the compute dtype.
    """
    n, d = x.shape
    num_classes = w.shape[0]
    dtype = x.dtype if x.dtype in (jnp.float32, jnp.float64) else jnp.float32
    grads = coef is not None
    state: dict[str, Any] = {"loss": jnp.zeros((n,), dtype)}
    if grads:
        state["gx"] = jnp.zeros_like(x)
        state["gw"] = jnp.zeros((num_classes, d), dtype)
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
        st["gw"] = st["gw"] + _jax_dot(g, xc, (0, 0), dtype)
        if b is not None:
            st["gb"] = st["gb"] + jnp.sum(grad, axis=0)
        return st

    full, tail = divmod(n, chunk)
    if full == 1:
        state = step(0, chunk, state)
    elif full:
        state = lax.fori_loop(0, full, lambda i, st: step(i * chunk, chunk, st), state)
    if tail:
        state = step(full * chunk, tail, state)
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
    out, losses = _total(x, w, b, y, coef, eps, chunk)
    return out, lax.stop_gradient(losses)


def rows(x: Array, w: Array, b: Array | None, y: Array, eps: float, chunk: int) -> Array:
    """Per-row losses; the backward pass recomputes the chunks' logits."""
    return _rows(x, w, b, y, eps, chunk)


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
