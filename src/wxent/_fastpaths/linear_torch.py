"""The PyTorch kernels of :func:`wxent.linear_cross_entropy` (see :mod:`wxent._fastpaths.linear`).

Imported only for torch tensors. The autograd functions are defined at import, not inside
a traced call, so ``torch.compile`` traces the loss without a graph break.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import torch

from wxent import _namespace as ns
from wxent._core import softmax as core_softmax
from wxent._core.numerics import smoothed
from wxent._fastpaths import select
from wxent._types import Array

#: Logits whose float32 softmax the torch chunk step computes at once: a chunk with more
#: is processed in blocks of rows (on accelerators, where chunks are large), so that its
#: float32 temporaries stay near 2**25 elements (128 MiB) whatever the chunk's size.
STEP_ELEMENTS = 2**25


def chunk_step(
    logits: Array, y: Array, coef: Array | None, eps: float, dtype: Any
) -> tuple[Array, Array | None]:
    """Loss of one chunk of logits and, given ``coef``, ``d(sum coef*l) / d logits``.

    The one place a fused kernel replaces: the Triton kernel where
    :func:`wxent._fastpaths.select.use_triton` allows it (one read of the logits for the
    loss, one more to write the gradient over them), else torch operations on blocks of
    at most :data:`STEP_ELEMENTS` logits.

    Args:
        logits: ``(R, V)`` logits of the chunk (bias included) in the matmul's dtype; a
            buffer this function overwrites with the gradient.
        y: ``(R,)`` int64 class indices (all valid).
        coef: ``(R,)`` coefficients in the compute dtype, or ``None`` for no gradient.
        eps: label smoothing.
        dtype: the compute dtype (float32 for 16-bit logits).

    Returns:
        The per-row losses in ``dtype`` and the gradient of the logits in the logits'
        dtype (in the logits' buffer; ``None`` without ``coef``).
    """
    from wxent._fastpaths import select

    fused = select.linear_chunk_step(logits, y, coef, eps) if dtype == torch.float32 else None
    if fused is not None:
        return fused, None if coef is None else logits
    rows, num_classes = logits.shape
    step = max(1, STEP_ELEMENTS // max(1, num_classes))
    if step >= rows:
        return _torch_step(logits, y, coef, eps, dtype)
    losses = torch.empty(rows, dtype=dtype, device=logits.device)
    for s in range(0, rows, step):
        e = min(s + step, rows)
        cc = None if coef is None else coef[s:e]
        losses[s:e] = _torch_step(logits[s:e], y[s:e], cc, eps, dtype)[0]
    return losses, None if coef is None else logits


def _torch_step(
    logits: Array, y: Array, coef: Array | None, eps: float, dtype: Any
) -> tuple[Array, Array | None]:
    """:func:`chunk_step` with torch operations on one block of rows.

    A few passes over the block; the softmax and the loss in ``dtype`` whatever the
    logits' dtype (no upcast copy of them). Rows holding ``+inf`` take the limits of the
    unfused loss (:func:`wxent._core.numerics.limit_rows`): the logits 0 at the ``+inf``
    entries and ``-inf`` elsewhere, gradient 0; rows holding NaN give NaN (a NaN
    gradient too, except in rows of coefficient 0).
    """
    limit, nan_row = _limit_rows(logits)
    # log_softmax (read from the 16-bit logits) is (x - max) - log(total): accurate at any
    # magnitude, where lse(x) - x_y rounds log(total) away (at logits 1e4 in float32).
    log_p = torch.log_softmax(logits, dim=1, dtype=dtype)
    loss = log_p.gather(1, y[:, None]).squeeze(1).neg()
    if eps:  # lse - mean(x) = -mean(log p)
        loss = smoothed(loss, -log_p.mean(dim=1), eps)
    loss = torch.where(nan_row.squeeze(1), math.nan, loss)
    if coef is None:
        return loss, None
    p = log_p.exp_()
    c = coef[:, None]
    # the limit's gradient: 0; NaN logits: NaN, but 0 where nothing counts (coef 0)
    c = torch.where(limit, 0.0, torch.where(nan_row & (c != 0), math.nan, c))
    p.scatter_add_(1, y[:, None], torch.full_like(c, eps - 1.0))  # p - (1 - eps) * onehot
    if eps:  # c * (p - t) written in the logits' dtype, one pass
        torch.addcmul(c * (-eps / logits.shape[1]), p, c, out=logits)
    else:
        torch.mul(p, c, out=logits)
    return loss, logits


def _limit_rows(logits: Array) -> tuple[Array, Array]:
    """Rows holding ``+inf`` replaced in place by their limit; ``(limit, nan_row)`` ``(R, 1)``.

    One read of the logits for the row maxima, then two elementwise passes in place:
    shifted by ``+inf``, a limit row is NaN at its ``+inf`` entries (set to 0) and
    ``-inf`` elsewhere; other rows are shifted by 0. NaN logits become 0 there too: the
    rows holding them (a NaN maximum) are marked, for a NaN loss and gradient.
    """
    m = logits.amax(dim=1, keepdim=True)
    limit = m == math.inf
    logits.sub_(torch.where(limit, math.inf, 0.0).to(logits.dtype))
    logits.nan_to_num_(nan=0.0, posinf=math.inf, neginf=-math.inf)
    return limit, torch.isnan(m)


def sweep(
    x: Array,
    w: Array,
    b: Array | None,
    y: Array,
    coef: Array | None,
    eps: float,
    chunk: int,
    needs: tuple[bool, bool, bool] = (False, False, False),
) -> tuple[Array, Array | None, Array | None, Array | None]:
    """:func:`_sweep` with ``torch.autocast`` off: every matmul in the dtype chosen here.

    While ``torch.compile`` traces, the sweep is one operator of the graph
    (:func:`_sweep_op`): traced, its loop over the row chunks would be unrolled, and the
    graph would guard on the number of chunks, so that every batch size with another
    count compiled the loss (and a whole compiled training step around it) again, until
    the recompile limit left the step to run eagerly.
    """
    if ns.torch_is_compiling():
        need_x, need_w, need_b = needs
        losses, gx, gw, gb = _sweep_op(x, w, b, y, coef, eps, chunk, need_x, need_w, need_b)
        given = coef is not None
        return (
            losses,
            gx if given and need_x else None,
            gw if given and need_w else None,
            gb if given and need_b else None,
        )
    return _sweep_eager(x, w, b, y, coef, eps, chunk, needs)


def _sweep_eager(*args: Any) -> tuple[Array, Array | None, Array | None, Array | None]:
    from wxent._namespace import no_autocast

    with no_autocast(args[0]):
        return _sweep(*args)


@torch.library.custom_op("wxent::linear_sweep", mutates_args=())
def _sweep_op(
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor | None,
    y: torch.Tensor,
    coef: torch.Tensor | None,
    eps: float,
    chunk: int,
    need_x: bool,
    need_w: bool,
    need_b: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`sweep` as one graph operator; gradients not asked for are empty tensors."""
    losses, gx, gw, gb = _sweep_eager(x, w, b, y, coef, eps, chunk, (need_x, need_w, need_b))
    empty = x.new_empty(0)
    return (
        losses,
        empty if gx is None else gx,
        empty.clone() if gw is None else gw,
        empty.clone() if gb is None else gb,
    )


@_sweep_op.register_fake
def _sweep_op_fake(
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor | None,
    y: torch.Tensor,
    coef: torch.Tensor | None,
    eps: float,
    chunk: int,
    need_x: bool,
    need_w: bool,
    need_b: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    dtype = coef.dtype if coef is not None else (b.dtype if b is not None else _compute(x))
    given = coef is not None
    empty = x.new_empty(0)
    return (
        x.new_empty(x.shape[0], dtype=dtype),
        torch.empty_like(x) if given and need_x else empty,
        torch.empty_like(w) if given and need_w else empty.clone(),
        w.new_empty(w.shape[0], dtype=dtype) if given and need_b else empty.clone(),
    )


def _sweep(
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
    n, num_classes = x.shape[0], w.shape[0]
    dtype = coef.dtype if coef is not None else (b.dtype if b is not None else _compute(x))
    losses = torch.empty(n, dtype=dtype, device=x.device)
    need_x, need_w, need_b = needs if coef is not None else (False, False, False)
    gx = torch.empty_like(x) if need_x else None
    gw: Any = None
    gb = torch.zeros(num_classes, dtype=dtype, device=x.device) if need_b else None
    wide = x.dtype == dtype  # float32/float64: accumulate grad_w in place
    bias = None if b is None else b.to(x.dtype)  # the GEMM adds it (16-bit: one rounding)
    wt = w.t()
    # By the count of chunks: under torch.compile a symbolic n then guards on that count
    # only (one graph for every batch of as many chunks), where range(0, n, chunk) fixed n.
    for i in range(-(-n // chunk)):
        s = i * chunk
        e = min(s + chunk, n)
        xc = x[s:e]
        logits = xc @ wt if bias is None else torch.addmm(bias, xc, wt)
        cc = None if coef is None or not (need_x or need_w or need_b) else coef[s:e]
        losses[s:e], g = chunk_step(logits, y[s:e], cc, eps, dtype)
        if g is None:
            continue
        if gb is not None:
            gb.add_(g.sum(dim=0, dtype=dtype))
        if gx is not None:
            torch.mm(g, w, out=gx[s:e])
        if need_w:
            if gw is None and e == n:  # one chunk: grad_w in one GEMM
                gw = g.t() @ xc
            elif wide:
                gw = g.t() @ xc if gw is None else gw.addmm_(g.t(), xc)
            else:
                gw = _accumulate_16bit(gw, g.t(), xc, dtype)
    logits = g = None  # the last chunk's buffers, before grad_w's final copy
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
    if a.is_cuda and _cuda_out_dtype():
        if acc is None:
            return torch.mm(a, b, out_dtype=dtype)
        if _cuda_addmm_into():  # into the accumulator: no second (V, D) buffer per chunk
            return torch.addmm(acc, a, b, out_dtype=dtype, out=acc)
        return torch.addmm(acc, a, b, out_dtype=dtype)
    part = (a @ b).to(dtype)
    return part if acc is None else acc.add_(part)


@functools.cache
def _cuda_out_dtype() -> bool:
    """Whether this PyTorch's CUDA GEMMs take ``out_dtype`` (16-bit in, float32 out)."""
    try:
        a = torch.ones(8, 8, device="cuda", dtype=torch.bfloat16)
        acc = torch.zeros(8, 8, device="cuda")
        out = torch.addmm(acc, a, a, out_dtype=torch.float32)
        return bool(out.dtype == torch.float32)
    except (TypeError, RuntimeError, NotImplementedError):
        return False


@functools.cache
def _cuda_addmm_into() -> bool:
    """Whether a 16-bit GEMM adds into its float32 accumulator in place, correctly."""
    try:
        a = torch.arange(64, device="cuda", dtype=torch.float32).reshape(8, 8) / 64
        a = a.to(torch.bfloat16)
        acc = torch.ones(8, 8, device="cuda")
        expected = torch.addmm(acc, a, a, out_dtype=torch.float32)
        out = torch.addmm(acc, a, a, out_dtype=torch.float32, out=acc)
        return bool(out.data_ptr() == acc.data_ptr() and torch.equal(out, expected))
    except (TypeError, RuntimeError, NotImplementedError):
        return False


def _compute(x: Array) -> Any:
    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32


def total(
    x: Array, w: Array, b: Array | None, y: Array, coef: Array, eps: float, chunk: int
) -> tuple[Array, Array]:
    """``(sum(coef * l), l)``; gradients computed in the forward pass when needed."""
    tensors = (x, w, b, coef)
    if not (torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)):
        losses = sweep(x, w, b, y, None, eps, chunk)[0]
        return _weighted_sum(coef, losses), losses
    needs = (x.requires_grad, w.requires_grad, b is not None and b.requires_grad)
    out, losses, *_ = LinearCrossEntropyTotal.apply(x, w, b, y, coef, eps, chunk, needs)
    return out, losses


def rows(x: Array, w: Array, b: Array | None, y: Array, eps: float, chunk: int) -> Array:
    """Per-row losses; the backward pass recomputes the chunks' logits."""
    tensors = (x, w, b)
    if not (torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)):
        return sweep(x, w, b, y, None, eps, chunk)[0]
    return LinearCrossEntropyRows.apply(x, w, b, y, eps, chunk)


def _weighted_sum(coef: Array, losses: Array) -> Array:
    """``sum(coef * l)`` with rows of coefficient 0 left out (even at ``l = inf``)."""
    return torch.where(coef != 0, coef * losses, 0.0).sum()


def _graph_grads(
    tensors: tuple[Any, Any, Any, Any], needs: tuple[bool, ...], y: Array, eps: float, g: Array
) -> list[Any]:
    """Gradients with a graph of their own, for double backward (``create_graph=True``).

    Also the gradients for a batched upstream gradient ``g`` (``vmap``), without a graph
    then.

    Recomputes the loss from the materialised logits with differentiable operations
    (memory of the full ``(N, V)`` logits, on this rarely used path only); ``coef`` given:
    the gradient of ``sum(coef * l)``, else of ``l`` against the upstream vector ``g``.
    """
    x, w, b, coef = tensors
    wrt = [t for t, need in zip(tensors, needs, strict=True) if need]
    if not wrt:
        return [None] * 4
    create_graph = torch.is_grad_enabled()  # (else a batched upstream gradient: vmap)
    with torch.enable_grad():
        logits = (x @ w.t()).to(g.dtype)
        if b is not None:
            logits = logits + b
        losses = core_softmax.softmax_cross_entropy_indices(
            logits, y, axis=1, label_smoothing=eps, xp=ns.namespace(logits)
        )  # (the limits at +inf logits, as in the forward pass)
        out = losses if coef is None else _weighted_sum(coef, losses)
        grads = iter(torch.autograd.grad(out, wrt, grad_outputs=g, create_graph=create_graph))
    return [next(grads) if need else None for need in needs]


class LinearCrossEntropyTotal(torch.autograd.Function):
    """``sum(coef * l)``: gradients in the forward pass, scaled in the backward pass."""

    @staticmethod
    def forward(
        x: Any, w: Any, b: Any, y: Any, coef: Any, eps: float, chunk: int, needs: Any
    ) -> Any:
        losses, gx, gw, gb = sweep(x, w, b, y, coef, eps, chunk, needs)
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
        if torch.is_grad_enabled() or select.batched(g):  # create_graph, vmap: recompute
            grads = _graph_grads((x, w, b, coef), (need_x, need_w, need_b, need_c), y, ctx.eps, g)
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
        return sweep(x, w, b, y, None, eps, chunk)[0]

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        x, w, b, y, eps, chunk = inputs
        ctx.save_for_backward(x, w, b, y)
        ctx.eps, ctx.chunk = eps, chunk

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        x, w, b, y = ctx.saved_tensors
        needs = (ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2])
        if torch.is_grad_enabled() or select.batched(g):  # create_graph, vmap: recompute
            grads = _graph_grads((x, w, b, None), (*needs, False), y, ctx.eps, g)
            return (*grads[:3], None, None, None)
        _, gx, gw, gb = sweep(x, w, b, y, g, ctx.eps, ctx.chunk, needs)
        return gx, gw, gb, None, None, None
