"""The linear cross-entropy kernels of PyTorch and JAX: chunked, gradient in the forward pass.

``inputs (N, D) @ weight.T (V, D) + bias`` is never held in full: rows are processed
``chunk`` at a time. Each chunk's matmuls run in the inputs' own dtype (bf16/fp16 operands,
fp32 accumulation inside the GEMM); the chunk's logits are upcast to float32 for the
softmax and the loss (:func:`torch_chunk_step`, the one place a fused kernel can replace).

Two differentiable entries per framework:

* ``total(x, w, b, y, coef)``: ``sum_i coef_i * l_i`` (0 where ``coef_i == 0``) and the
  per-row losses ``l``. When a gradient is needed, the gradient of the total with respect
  to ``x``, ``w`` and ``b`` is computed during the forward pass (three GEMMs per chunk in
  all: logits, ``grad_x``, ``grad_w``), and the backward pass only scales it by the
  upstream scalar. The gradient with respect to ``coef`` is ``l``.
* ``rows(x, w, b, y)``: the per-row losses (``reduction="none"``); the backward pass
  recomputes each chunk's logits (the upstream gradient is a vector known only then).

Weights, masks and the reduction are decided by the caller (``wxent._projection``); the
coefficient vector carries them in.
"""

from __future__ import annotations

import functools
from typing import Any

Array = Any

#: Default chunk on CPUs: about 2**23 logits (32 MiB of float32) per chunk.
CPU_CHUNK_ELEMENTS = 2**23

#: Default chunk on accelerators: rows whose float32 logits take about 1 GiB, rounded
#: down to a multiple of 256 rows (large GEMM tiles), at least 256 rows.
ACCELERATOR_CHUNK_BYTES = 2**30


def default_chunk(num_classes: int, num_rows: int, *, accelerator: bool) -> int:
    """Rows per chunk: by bytes of float32 logits and the kind of device."""
    v = max(1, int(num_classes))
    if accelerator:
        rows = ACCELERATOR_CHUNK_BYTES // (4 * v) // 256 * 256
        rows = max(256, rows)
    else:
        rows = max(1, CPU_CHUNK_ELEMENTS // v)
    return max(1, min(rows, int(num_rows)))


# ----------------------------------------------------------------------------- PyTorch


def torch_chunk_step(
    logits: Array, bias: Array | None, y: Array, coef: Array | None, eps: float, dtype: Any
) -> tuple[Array, Array | None]:
    """Loss of one chunk of logits and, given ``coef``, ``d(sum coef*l) / d logits``.

    Args:
        logits: ``(R, V)`` logits of the chunk in the matmul's dtype (a buffer this
            function may overwrite).
        bias: ``(V,)`` bias in the compute dtype, or ``None``.
        y: ``(R,)`` int64 class indices (all valid).
        coef: ``(R,)`` coefficients in the compute dtype, or ``None`` for no gradient.
        eps: label smoothing.
        dtype: the compute dtype (float32 for 16-bit logits).

    Returns:
        The per-row losses in ``dtype`` and the gradient of the logits in the logits'
        dtype (``None`` without ``coef``).
    """
    z = logits if logits.dtype == dtype else logits.to(dtype)
    if bias is not None:
        z.add_(bias)
    lse = z.logsumexp(dim=1)
    loss = lse - z.gather(1, y[:, None]).squeeze(1)
    if eps:
        loss = (1.0 - eps) * loss + eps * (lse - z.mean(dim=1))
    if coef is None:
        return loss, None
    p = z.sub_(lse[:, None]).exp_()  # softmax, in place: one exp per logit
    c = coef[:, None]
    p.mul_(c)
    p.scatter_add_(1, y[:, None], c * -(1.0 - eps))
    if eps:
        p.sub_(c * (eps / z.shape[1]))
    return loss, p


def torch_sweep(
    x: Array,
    w: Array,
    b: Array | None,
    y: Array,
    coef: Array | None,
    eps: float,
    chunk: int,
    needs: tuple[bool, bool, bool] = (False, False, False),
) -> tuple[Array, Array | None, Array | None, Array | None]:
    """Per-row losses and the gradients of ``sum(coef * l)`` that ``needs`` asks for.

    ``b``, ``coef`` and the losses are in the compute dtype; ``x`` and ``w`` stay in their
    own dtype and every matmul runs in it (float32 accumulation for 16-bit dtypes;
    ``grad_w`` of a multi-chunk 16-bit pass is accumulated in float32).
    """
    import torch

    n, num_classes = x.shape[0], w.shape[0]
    dtype = coef.dtype if coef is not None else (b.dtype if b is not None else _compute(x))
    losses = torch.empty(n, dtype=dtype, device=x.device)
    need_x, need_w, need_b = needs if coef is not None else (False, False, False)
    gx = torch.empty_like(x) if need_x else None
    gw: Any = None
    gb = torch.zeros(num_classes, dtype=dtype, device=x.device) if need_b else None
    wide = x.dtype == dtype  # float32/float64: accumulate grad_w in place
    wt = w.t()
    for s in range(0, n, chunk):
        e = min(s + chunk, n)
        xc = x[s:e]
        if wide and b is not None:
            logits, bias = torch.addmm(b, xc, wt), None
        else:
            logits, bias = xc @ wt, b
        cc = None if coef is None or not (need_x or need_w or need_b) else coef[s:e]
        losses[s:e], grad = torch_chunk_step(logits, bias, y[s:e], cc, eps, dtype)
        if grad is None:
            continue
        if gb is not None:
            gb.add_(grad.sum(dim=0))
        g = grad if wide else grad.to(x.dtype)
        del grad
        if gx is not None:
            torch.mm(g, w, out=gx[s:e])
        if need_w:
            if gw is None and e == n:  # one chunk: grad_w in one GEMM
                gw = g.t() @ xc
            elif wide:
                gw = g.t() @ xc if gw is None else gw.addmm_(g.t(), xc)
            else:
                gw = _accumulate_16bit(gw, g.t(), xc, dtype)
    if need_w and gw is None:  # no rows
        gw = torch.zeros_like(w)
    if gw is not None and gw.dtype != w.dtype:
        gw = gw.to(w.dtype)
    return losses, gx, gw, gb


def _accumulate_16bit(acc: Array | None, a: Array, b: Array, dtype: Any) -> Array:
    """``acc + a @ b`` in ``dtype`` (float32) for 16-bit ``a`` and ``b``.

    On CUDA the GEMM writes float32 itself (``out_dtype``): one rounding in all. Where a
    16-bit GEMM can only write 16 bits (CPU), each part is rounded once before the sum.
    """
    import torch

    if a.is_cuda and _cuda_out_dtype():
        if acc is None:
            return torch.mm(a, b, out_dtype=dtype)
        return torch.addmm(acc, a, b, out_dtype=dtype)
    part = (a @ b).to(dtype)
    return part if acc is None else acc.add_(part)


@functools.cache
def _cuda_out_dtype() -> bool:
    """Whether this PyTorch's CUDA GEMMs take ``out_dtype`` (16-bit in, float32 out)."""
    import torch

    try:
        a = torch.ones(8, 8, device="cuda", dtype=torch.bfloat16)
        acc = torch.zeros(8, 8, device="cuda")
        out = torch.addmm(acc, a, a, out_dtype=torch.float32)
        return bool(out.dtype == torch.float32)
    except (TypeError, RuntimeError, NotImplementedError):
        return False


def _compute(x: Array) -> Any:
    import torch

    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32


def torch_total(
    x: Array, w: Array, b: Array | None, y: Array, coef: Array, eps: float, chunk: int
) -> tuple[Array, Array]:
    """``(sum(coef * l), l)``; gradients computed in the forward pass when needed."""
    import torch

    tensors = (x, w, b, coef)
    if not (torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)):
        losses = torch_sweep(x, w, b, y, None, eps, chunk)[0]
        return _weighted_sum(coef, losses), losses
    needs = (x.requires_grad, w.requires_grad, b is not None and b.requires_grad)
    total, losses, *_ = _torch_functions()[0].apply(x, w, b, y, coef, eps, chunk, needs)
    return total, losses


def torch_rows(x: Array, w: Array, b: Array | None, y: Array, eps: float, chunk: int) -> Array:
    """Per-row losses; the backward pass recomputes the chunks' logits."""
    import torch

    tensors = (x, w, b)
    if not (torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)):
        return torch_sweep(x, w, b, y, None, eps, chunk)[0]
    return _torch_functions()[1].apply(x, w, b, y, eps, chunk)


def _weighted_sum(coef: Array, losses: Array) -> Array:
    """``sum(coef * l)`` with rows of coefficient 0 left out (even at ``l = inf``)."""
    import torch

    return torch.where(coef != 0, coef * losses, 0.0).sum()


def _torch_graph_grads(
    tensors: tuple[Any, Any, Any, Any], needs: tuple[bool, ...], y: Array, eps: float, g: Array
) -> list[Any]:
    """Gradients with a graph of their own, for double backward (``create_graph=True``).

    Recomputes the loss from the materialised logits with differentiable operations
    (memory of the full ``(N, V)`` logits, on this rarely used path only); ``coef`` given:
    the gradient of ``sum(coef * l)``, else of ``l`` against the upstream vector ``g``.
    """
    import torch
    import torch.nn.functional as F

    x, w, b, coef = tensors
    wrt = [t for t, need in zip(tensors, needs, strict=True) if need]
    if not wrt:
        return [None] * 4
    with torch.enable_grad():
        logits = (x @ w.t()).to(g.dtype)
        if b is not None:
            logits = logits + b
        losses = F.cross_entropy(logits, y, reduction="none", label_smoothing=eps)
        out = losses if coef is None else _weighted_sum(coef, losses)
        grads = iter(torch.autograd.grad(out, wrt, grad_outputs=g, create_graph=True))
    return [next(grads) if need else None for need in needs]


@functools.cache
def _torch_functions() -> tuple[Any, Any]:
    import torch

    class LinearCrossEntropyTotal(torch.autograd.Function):
        """``sum(coef * l)``: gradients in the forward pass, scaled in the backward pass."""

        @staticmethod
        def forward(
            x: Any, w: Any, b: Any, y: Any, coef: Any, eps: float, chunk: int, needs: Any
        ) -> Any:
            losses, gx, gw, gb = torch_sweep(x, w, b, y, coef, eps, chunk, needs)
            return _weighted_sum(coef, losses), losses, gx, gw, gb

        @staticmethod
        def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
            _, losses, gx, gw, gb = output
            x, w, b, y, coef, eps, _, _ = inputs
            ctx.mark_non_differentiable(*(t for t in (losses, gx, gw, gb) if t is not None))
            ctx.save_for_backward(losses, gx, gw, gb, x, w, b, y, coef)
            ctx.eps = eps

        @staticmethod
        def backward(ctx: Any, g: Any, *_: Any) -> Any:
            losses, gx, gw, gb, x, w, b, y, coef = ctx.saved_tensors
            need = ctx.needs_input_grad  # x, w, b, y, coef, eps, chunk, needs
            need_x, need_w, need_b, need_c = need[0], need[1], need[2], need[4]
            if torch.is_grad_enabled():  # create_graph=True: a differentiable recomputation
                grads = _torch_graph_grads(
                    (x, w, b, coef), (need_x, need_w, need_b, need_c), y, ctx.eps, g
                )
                return (*grads[:3], None, grads[3], None, None, None)
            return (
                gx * g.to(gx.dtype) if need_x and gx is not None else None,
                gw * g.to(gw.dtype) if need_w and gw is not None else None,
                gb * g if need_b and gb is not None else None,
                None,
                losses * g if need_c else None,
                None,
                None,
                None,
            )

    class LinearCrossEntropyRows(torch.autograd.Function):
        """Per-row losses; the backward pass recomputes each chunk's logits."""

        @staticmethod
        def forward(x: Any, w: Any, b: Any, y: Any, eps: float, chunk: int) -> Any:
            return torch_sweep(x, w, b, y, None, eps, chunk)[0]

        @staticmethod
        def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
            x, w, b, y, eps, chunk = inputs
            ctx.save_for_backward(x, w, b, y)
            ctx.eps, ctx.chunk = eps, chunk

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            x, w, b, y = ctx.saved_tensors
            needs = (ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2])
            if torch.is_grad_enabled():  # create_graph=True: a differentiable recomputation
                grads = _torch_graph_grads((x, w, b, None), (*needs, False), y, ctx.eps, g)
                return (*grads[:3], None, None, None)
            _, gx, gw, gb = torch_sweep(x, w, b, y, g, ctx.eps, ctx.chunk, needs)
            return gx, gw, gb, None, None, None

    return LinearCrossEntropyTotal, LinearCrossEntropyRows


# ----------------------------------------------------------------------------- JAX


def _jax_dot(a: Array, b: Array, contract: tuple[int, int], dtype: Any) -> Array:
    """``a`` times ``b`` over the given axes, operands in their dtype, accumulated in ``dtype``."""
    from jax import lax

    dims = (((contract[0],), (contract[1],)), ((), ()))
    return lax.dot_general(a, b, dims, preferred_element_type=dtype)


def jax_chunk_step(
    xc: Array, w: Array, b: Array | None, y: Array, coef: Array | None, eps: float, dtype: Any
) -> tuple[Array, Array | None]:
    """Loss of one chunk and, given ``coef``, ``d(sum coef*l) / d logits`` (compute dtype)."""
    import jax
    import jax.numpy as jnp
    from jax import lax

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


def jax_sweep(
    x: Array, w: Array, b: Array | None, y: Array, coef: Array | None, eps: float, chunk: int
) -> tuple[Array, Array | None, Array | None, Array | None]:
    """Per-row losses and, given ``coef``, the gradients of ``sum(coef * l)``.

    Full chunks run in a ``fori_loop`` over dynamic slices (no padded copy of ``x``),
    the remaining rows in one more step; ``grad_w`` is accumulated in the compute dtype.
    """
    import jax.numpy as jnp
    from jax import lax

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
        loss, grad = jax_chunk_step(xc, w, b, yc, cc, eps, dtype)
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


def jax_total(
    x: Array, w: Array, b: Array | None, y: Array, coef: Array, eps: float, chunk: int
) -> tuple[Array, Array]:
    """``(sum(coef * l), l)``; under differentiation the gradient is computed in the forward pass.

    ``l`` is returned for value checks only: it carries no gradient.
    """
    from jax import lax

    total, losses = _jax_functions()[0](x, w, b, y, coef, eps, chunk)
    return total, lax.stop_gradient(losses)


def jax_rows(x: Array, w: Array, b: Array | None, y: Array, eps: float, chunk: int) -> Array:
    """Per-row losses; the backward pass recomputes the chunks' logits."""
    return _jax_functions()[1](x, w, b, y, eps, chunk)


@functools.cache
def _jax_functions() -> tuple[Any, Any]:
    import jax
    import jax.numpy as jnp

    def weighted_sum(coef: Any, losses: Any) -> Any:
        return jnp.sum(jnp.where(coef != 0, coef * losses, 0.0))

    @functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6))
    def total(x: Any, w: Any, b: Any, y: Any, coef: Any, eps: float, chunk: int) -> Any:
        losses = jax_sweep(x, w, b, y, None, eps, chunk)[0]
        return weighted_sum(coef, losses), losses

    def total_fwd(x: Any, w: Any, b: Any, y: Any, coef: Any, eps: float, chunk: int) -> Any:
        losses, gx, gw, gb = jax_sweep(x, w, b, y, coef, eps, chunk)
        return (weighted_sum(coef, losses), losses), (losses, gx, gw, gb)

    def total_bwd(eps: float, chunk: int, res: Any, cotangents: Any) -> Any:
        losses, gx, gw, gb = res
        g = cotangents[0]  # the losses output is for checks only (stop_gradient)
        return (
            (g * gx).astype(gx.dtype),
            (g * gw).astype(gw.dtype),
            None if gb is None else g * gb,
            None,
            g * losses,
        )

    total.defvjp(total_fwd, total_bwd)

    @functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
    def rows(x: Any, w: Any, b: Any, y: Any, eps: float, chunk: int) -> Any:
        return jax_sweep(x, w, b, y, None, eps, chunk)[0]

    def rows_fwd(x: Any, w: Any, b: Any, y: Any, eps: float, chunk: int) -> Any:
        return jax_sweep(x, w, b, y, None, eps, chunk)[0], (x, w, b, y)

    def rows_bwd(eps: float, chunk: int, res: Any, g: Any) -> Any:
        x, w, b, y = res
        _, gx, gw, gb = jax_sweep(x, w, b, y, g, eps, chunk)
        return gx, gw, gb, None

    rows.defvjp(rows_fwd, rows_bwd)
    return total, rows
