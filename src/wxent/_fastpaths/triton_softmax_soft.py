"""Triton kernels of the softmax cross-entropy with probability labels (torch tensors).

The per-row loss with the smoothed target ``t = y * (1 - eps) + eps / C`` is

    ``l = -sum_c t_c * log_softmax(x)_c = T * log_total - sum_c t_c * z_c``,  ``T = sum_c t_c``,

in the shifted logits ``z = x - shift`` (``shift`` the row maximum, ``log_total`` the log of
the sum of ``exp(z)``; ``T * lse(x) - sum_c t_c x_c`` would cancel at large ``|x|``),

a class with ``t_c = 0`` counting nothing even where ``x_c = -inf``; its gradient is
``T * softmax(x) - t``. Two launches per forward + backward, each one pass:

* forward (:func:`_forward_kernel`): one read of the logits and the labels, each in its
  own dtype (float32 math). Per row, an online log-sum-exp (as the integer-label kernel,
  :mod:`wxent._fastpaths.triton_softmax`), ``sum t_c z_c`` (moved along with the running
  shift), ``sum y_c`` and, with a per-class ``class_weight``, the row's class weight
  ``sum_c class_weight[c] * y_c`` (from the labels before smoothing). It writes the
  weighted loss and the denominator's share of each row, and keeps four floats per row for
  the backward pass (shift, weight, ``T``, ``log_total``). The labels' value check
  (finite, non-negative, rows summing to 1 within
  :func:`wxent._value_checks.probability_sum_tolerance`) is done on the labels as they are
  read: it sets a device flag that replaces the generic path's extra passes over the
  ``(N, C)`` labels, and the error messages stay those of the generic path;
* the reduction: :func:`wxent._fastpaths.triton_checks.settle` (the sum, the division
  and a checked call's checks, one launch);
* backward (:func:`_backward_kernel`): one read of the logits and the labels and one write
  of ``g * w / denominator * (T * softmax(x) - t)`` (over the logits with
  ``inplace_backward``). A checked call queues it behind its one host read, as the
  integer-label kernel does.

The math is the generic path's (:func:`wxent._core.softmax.softmax_cross_entropy_probabilities`):
a row holding ``+inf`` takes its limit (``T * log k`` when the target lies on the ``k``
infinite logits, ``inf`` otherwise; gradient 0), a target on a ``-inf`` logit costs
``inf``, a zero weight counts nothing (also against an infinite loss), NaN logits give a
NaN loss and a row of only ``-inf`` gives NaN (both reported by the call's checks).
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

from wxent._fastpaths import triton_checks
from wxent._fastpaths import triton_common as common
from wxent._fastpaths import triton_softmax as base
from wxent._fastpaths.select import LAUNCHES
from wxent._types import Array


@triton.jit
def _targets(y, mask, eps, n_cols, HAS_SMOOTH: tl.constexpr):
    # The smoothed targets of a block of labels, 0 outside the row.
    if HAS_SMOOTH:
        y = y * (1.0 - eps) + eps / n_cols
    return tl.where(mask, y, 0.0)


@triton.jit
def _forward_kernel(
    x_ptr,
    x_row_stride,
    y_ptr,
    y_row_stride,
    cw_ptr,
    sw_ptr,
    out_ptr,
    stats_ptr,
    bad_ptr,
    n_rows,
    n_cols,
    eps,
    tol,
    CW_MODE: tl.constexpr,
    SW_MODE: tl.constexpr,
    HAS_SMOOTH: tl.constexpr,
    DENOM: tl.constexpr,
    STORE_STATS: tl.constexpr,
    CHECK: tl.constexpr,
    ROWS: tl.constexpr,
    BLOCK: tl.constexpr,
):
    # out[0, row] = weighted loss; out[1, row] = its weight (DENOM); stats[:, row] =
    # (the shift, +inf in the +inf limit; the weight, 0 where it counts nothing; T;
    # log_total).
    rows, rmask = common.program_rows(n_rows, ROWS)
    # Padding rows of the last program read the last row (never stored).
    safe_rows = tl.minimum(rows, n_rows - 1)
    x_rows = x_ptr + safe_rows * x_row_stride
    y_rows = y_ptr + safe_rows * y_row_stride
    lane = tl.arange(0, BLOCK)
    m = tl.full([ROWS], float("-inf"), dtype=tl.float32)
    s = tl.zeros([ROWS], dtype=tl.float32)
    tz = tl.zeros([ROWS], dtype=tl.float32)  # sum of t * (x - shift) where t != 0
    t_seen = tl.zeros([ROWS], dtype=tl.float32)  # sum of t so far
    # Sums the loop does not read are kept per lane and reduced after it (a loop result
    # of a per-block reduction read more than once after the loop fails Triton 3.6's
    # TritonGPUOptimizeThreadLocality pass; per-lane sums also save the shuffles).
    ysum_lanes = tl.zeros([ROWS, BLOCK], dtype=tl.float32)
    wc_lanes = tl.zeros([ROWS, BLOCK], dtype=tl.float32)  # class_weight * y
    wrong_lanes = tl.zeros([ROWS, BLOCK], dtype=tl.int32)  # labels < 0, infinite or NaN
    for start in range(0, n_cols, BLOCK):
        cols = start + lane
        cmask = cols < n_cols
        mask = cmask[None, :]
        offs = cols[None, :]
        x = tl.load(x_rows[:, None] + offs, mask=mask, other=float("-inf")).to(tl.float32)
        y = tl.load(y_rows[:, None] + offs, mask=mask, other=0.0).to(tl.float32)
        shift_old = common.finite_or_zero(m)
        m, s = common.online_step(m, s, x)
        shift = common.finite_or_zero(m)
        t = _targets(y, mask, eps, n_cols, HAS_SMOOTH)
        # The sum so far moves to the new shift (the targets seen times its change).
        moved = tl.where(t_seen == 0.0, 0.0, t_seen * (shift_old - shift))
        z = tl.where(t != 0.0, x - shift[:, None], 0.0)  # 0 * -inf counts 0
        tz += moved + tl.sum(t * z, axis=1)
        t_seen += tl.sum(t, axis=1)
        ysum_lanes += y
        if CW_MODE == 2:
            cw = tl.load(cw_ptr + cols, mask=cmask, other=0.0).to(tl.float32)
            wc_lanes += y * cw[None, :]
        if CHECK:
            wrong_lanes += tl.where((y >= 0.0) & (y < float("inf")), 0, 1)
    ysum = tl.sum(ysum_lanes, axis=1)
    wc = tl.sum(wc_lanes, axis=1)
    wrong = tl.sum(wrong_lanes, axis=1)
    log_total = common.log_total(s)
    total = ysum
    if HAS_SMOOTH:
        total = ysum * (1.0 - eps) + eps
    loss = total * tl.where(total == 0.0, 0.0, log_total) - tz

    # Rows holding +inf take their limit: logits 0 at the +inf entries, -inf elsewhere:
    # T * log k when every target lies on the k infinite entries, inf otherwise.
    limit = m == float("inf")
    if tl.max(tl.where(limit, 1, 0), axis=0) > 0:
        k = tl.zeros([ROWS], dtype=tl.float32)
        off = tl.zeros([ROWS], dtype=tl.float32)
        for start in range(0, n_cols, BLOCK):
            cols = start + lane
            mask = (cols < n_cols)[None, :]
            offs = cols[None, :]
            x = tl.load(x_rows[:, None] + offs, mask=mask, other=0.0).to(tl.float32)
            y = tl.load(y_rows[:, None] + offs, mask=mask, other=0.0).to(tl.float32)
            t = _targets(y, mask, eps, n_cols, HAS_SMOOTH)
            on_inf = x == float("inf")
            k += tl.sum(tl.where(on_inf, 1.0, 0.0), axis=1)
            off += tl.sum(tl.where((t != 0.0) & ~on_inf, 1.0, 0.0), axis=1)
        at_limit = total * tl.log(tl.maximum(k, 1.0))
        at_limit = tl.where(off > 0.0, float("inf"), at_limit)
        loss = tl.where(limit, tl.where(s != s, float("nan"), at_limit), loss)

    w = tl.where(rmask, 1.0, 0.0)
    if CW_MODE == 1:
        w = w * tl.load(cw_ptr).to(tl.float32)
    elif CW_MODE == 2:
        w = w * wc
    if SW_MODE == 1:
        w = w * tl.load(sw_ptr).to(tl.float32)
    elif SW_MODE == 2:
        w = w * tl.load(sw_ptr + rows, mask=rmask, other=0.0).to(tl.float32)
    keep = rmask & (w != 0.0)  # a zero weight counts nothing, also against an inf loss
    tl.store(out_ptr + rows, w * tl.where(keep, loss, 0.0), mask=rmask)
    if DENOM == 2:
        tl.store(out_ptr + n_rows + rows, w, mask=rmask)
    if STORE_STATS:
        shift = common.finite_or_zero(m)
        tl.store(stats_ptr + rows, tl.where(limit, float("inf"), shift), mask=rmask)
        tl.store(stats_ptr + n_rows + rows, tl.where(keep, w, 0.0), mask=rmask)
        tl.store(stats_ptr + 2 * n_rows + rows, total, mask=rmask)
        tl.store(stats_ptr + 3 * n_rows + rows, log_total, mask=rmask)
    if CHECK:  # the labels' value check, on the labels as they were read; a NaN loss
        value = w * tl.where(keep, loss, 0.0)
        bad = rmask & ((wrong > 0) | ~(tl.abs(ysum - 1.0) <= tol) | (value != value))
        tl.store(bad_ptr + tl.program_id(0), tl.max(tl.where(bad, 1, 0), axis=0))


@triton.jit
def _backward_kernel(
    x_ptr,
    x_row_stride,
    y_ptr,
    y_row_stride,
    grad_ptr,
    grad_row_stride,
    stats_ptr,
    g_ptr,
    inv_ptr,
    n_rows,
    n_cols,
    eps,
    HAS_SMOOTH: tl.constexpr,
    G_MODE: tl.constexpr,
    ROWS: tl.constexpr,
    BLOCK: tl.constexpr,
):
    rows, rmask = common.program_rows(n_rows, ROWS)
    shift = tl.load(stats_ptr + rows, mask=rmask, other=0.0)
    w = tl.load(stats_ptr + n_rows + rows, mask=rmask, other=0.0)
    total = tl.load(stats_ptr + 2 * n_rows + rows, mask=rmask, other=0.0)
    log_total = tl.load(stats_ptr + 3 * n_rows + rows, mask=rmask, other=0.0)
    g = common.upstream(g_ptr, inv_ptr, rows, rmask, G_MODE)
    keep = rmask & (w != 0.0) & (shift != float("inf"))  # a +inf row's gradient is 0
    coef = tl.where(keep, g * w, 0.0)
    shift = tl.where(keep, shift, 0.0)
    log_total = tl.where(keep, log_total, 0.0)
    safe_rows = tl.minimum(rows, n_rows - 1)
    x_rows = x_ptr + safe_rows * x_row_stride
    y_rows = y_ptr + safe_rows * y_row_stride
    g_rows = grad_ptr + rows * grad_row_stride
    lane = tl.arange(0, BLOCK)
    for start in range(0, n_cols, BLOCK):
        cols = start + lane
        cmask = (cols < n_cols)[None, :]
        offs = cols[None, :]
        x = tl.load(x_rows[:, None] + offs, mask=cmask, other=float("-inf")).to(tl.float32)
        y = tl.load(y_rows[:, None] + offs, mask=cmask, other=0.0).to(tl.float32)
        t = _targets(y, cmask, eps, n_cols, HAS_SMOOTH)
        p = tl.exp((x - shift[:, None]) - log_total[:, None])
        d = tl.where(keep[:, None], coef[:, None] * (total[:, None] * p - t), 0.0)
        mask = rmask[:, None] & cmask
        tl.store(g_rows[:, None] + offs, d.to(grad_ptr.dtype.element_ty), mask=mask)


def config(num_classes: int, backward: bool = False) -> tuple[int, int, int]:
    """``(rows per program, classes per block, warps)`` for ``C`` classes.

    The backward pass takes the integer-label kernel's configuration. The forward pass
    streams two arrays (logits and labels) and keeps four running sums per row: blocks of
    at most ``triton_softmax.BACKWARD_BLOCK`` classes (8192), 16 warps for the largest.
    On an H100 (BENCHMARKS.md, GPU) blocks of 16384 with 32 warps ran the forward
    kernel 7 % faster alone; these stay until a second run settles it.
    """
    if backward:
        return base.config(num_classes, backward=True)
    block = min(common.next_power_of_2(num_classes), base.BACKWARD_BLOCK)
    rows = max(1, min(64, base.ROW_TILE // block)) if block < base.ROW_TILE else 1
    elements = rows * block
    warps = 16 if elements >= 8192 else (8 if elements >= 2048 else 4)
    return rows, block, warps


def _forward(
    rows: Any,
    labels: Any,
    cw: Any,
    sw: Any,
    eps: float,
    tol: float,
    denom: int,
    stats: Any,
    plan: Any,
    cfg: tuple[int, int, int] | None = None,
) -> Any:
    """Launch the forward kernel; returns the ``(1 or 2, N)`` per-row buffer.

    ``plan``: a checked call's :class:`~wxent._fastpaths.triton_checks.Plan`: one status
    per program (a bad label row or a NaN loss) goes there.
    """
    n, num_classes = rows.shape
    per_program, block, warps = cfg or config(num_classes)
    grid = common.cdiv(n, per_program)
    out = torch.empty((2 if denom else 1, n), dtype=torch.float32, device=rows.device)
    bad = None if plan is None else plan.status_buffer(grid, rows.device)
    LAUNCHES["softmax_cross_entropy_soft"] += 1
    _forward_kernel[(grid,)](
        rows, rows.stride(0), labels, labels.stride(0),
        out if cw is None else cw,
        out if sw is None else sw,
        out,
        out if stats is None else stats,
        out if bad is None else bad,
        n, num_classes, float(eps), float(tol),
        CW_MODE=base._mode(cw), SW_MODE=base._mode(sw), HAS_SMOOTH=eps != 0.0,
        DENOM=denom, STORE_STATS=stats is not None, CHECK=bad is not None,
        ROWS=per_program, BLOCK=block, num_warps=warps,
    )  # fmt: skip
    return out


def _backward(
    saved: tuple,
    eps: float,
    per_row: bool,
    g: Any,
    grad: Any,
    cfg: tuple[int, int, int] | None = None,
) -> None:
    """Launch the backward kernel: ``grad = g * w / denominator * (T * softmax(x) - t)``.

    ``g``: the upstream gradient (per row when ``per_row``), or ``None`` for 1.
    """
    rows, labels, stats, inv = saved
    n, num_classes = rows.shape
    per_program, block, warps = cfg or config(num_classes, backward=True)
    g, g_mode = common.upstream_mode(g, inv, per_row)
    LAUNCHES["softmax_cross_entropy_soft_backward"] += 1
    _backward_kernel[(common.cdiv(n, per_program),)](
        rows, rows.stride(0), labels, labels.stride(0), grad, grad.stride(0), stats,
        stats if g is None else g, stats if inv is None else inv,
        n, num_classes, float(eps),
        HAS_SMOOTH=eps != 0.0, G_MODE=g_mode,
        ROWS=per_program, BLOCK=block, num_warps=warps,
    )  # fmt: skip


class _SoftLabelCrossEntropy(torch.autograd.Function):
    """Forward: loss and four floats per row; backward: one pass writing the gradient."""

    @staticmethod
    def forward(
        ctx: Any,
        logits: Any,
        labels: Any,
        cw: Any,
        sw: Any,
        eps: float,
        reduction: str,
        options: dict,
    ) -> Any:
        rows = common.rows_of(logits)
        n = rows.shape[0]
        needs_grad = ctx.needs_input_grad[0] and options["grad"]
        stats = None
        if needs_grad:
            stats = torch.empty((4, n), dtype=torch.float32, device=rows.device)
        denom = 2 if reduction == "weighted_mean" and (cw is not None or sw is not None) else 0
        plan = options["plan"]
        out = _forward(rows, labels, cw, sw, eps, options["tol"], denom, stats, plan)
        # the sum, its division and a checked call's checks: one launch. A mean (and a
        # weighted mean without weights) divides by n, known here.
        n_const = 1.0 if reduction == "sum" or denom else float(n)
        den = out[1] if denom else None
        result, inv = triton_checks.finish_rows(plan, out[0], den, n_const, logits, reduction)
        ctx.grad = None
        if needs_grad:
            saved = (rows, labels, stats, inv)
            ctx.eps, ctx.reduction, ctx.shape = eps, reduction, logits.shape
            ctx.inplace = in_place = common.writes_into(logits, rows, options["inplace"])
            eager = options["eager"]
            if eager is not None and not in_place:  # as the integer-label kernel
                common.defer_gradient(
                    ctx, eager, rows, lambda g: _backward(saved, eps, False, None, g)
                )
                common.keep_logits(ctx, logits, options["rerun"])
            else:
                common.keep_logits(ctx, logits, options["rerun"], *saved)
        return result

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        if common.must_rerun(ctx, g):  # create_graph, or a second backward pass
            return common.rerun_gradient(ctx, g, 7)
        early = common.early_gradient(ctx, g, 7)
        if early is not None:
            return early
        saved = ctx.saved_tensors[:-1]
        rows = saved[0]
        grad = rows.detach() if ctx.inplace else torch.empty_like(rows)
        _backward(saved, ctx.eps, ctx.reduction == "none", g, grad)
        if ctx.inplace:
            common.wrote_into(grad)
            ctx.spent = True  # the logits hold the gradient now: no second pass
        return (grad.view(ctx.shape),) + (None,) * 6


def softmax_cross_entropy(
    logits: Array,
    labels: Array,
    *,
    class_weight: Array | None,
    sample_weight: Array | None,
    label_smoothing: float,
    reduction: str,
    tolerance: float,
    inplace_backward: bool = False,
    plan: Any = None,
    eager_gradient: list | None = None,
    rerun: Any = None,
) -> Array:
    """The reduced (or per-sample) weighted softmax cross-entropy of probability labels.

    Args:
        logits: ``(..., C)`` float16/bfloat16/float32 torch tensor.
        labels: floating probabilities of the logits' shape, any floating dtype.
        class_weight: ``(C,)`` or 0-d float tensor, or ``None``; a per-class vector gives
            a sample the weight ``sum_c class_weight[c] * labels[c]``.
        sample_weight: 0-d or the loss shape (the logits' without the last axis), or
            ``None``.
        label_smoothing: ``eps`` in ``[0, 1]``.
        reduction: ``"none"``, ``"sum"``, ``"mean"`` or ``"weighted_mean"``.
        tolerance: how far a row of labels may sum from 1 (the value check).
        inplace_backward: write the gradient into the logits' storage (when the logits
            are contiguous and not a leaf).
        plan: a checked call's :class:`~wxent._fastpaths.triton_checks.Plan`: the kernel
            reports a label that is negative, infinite or NaN, a row whose sum lies
            farther than ``tolerance`` from 1 or a NaN loss, and the call's checks are
            folded into its flag word.
        eager_gradient: for a checked call, the launches its one flag read queues behind
            the flag (``Inputs.launches``); see
            :func:`wxent._fastpaths.triton_softmax.softmax_cross_entropy`.
        rerun: the same call on other logits, as there.

    Returns:
        The loss in the logits' dtype.
    """
    y = common.rows_of(labels)
    cw, sw = common.row_weights(class_weight, sample_weight, y.shape[0])
    options = {
        "tol": float(tolerance),
        "plan": plan,
        "inplace": bool(inplace_backward) and not logits.is_leaf,
        "eager": eager_gradient,
        "rerun": rerun,
        "grad": common.records_gradient(logits),
    }
    return _SoftLabelCrossEntropy.apply(
        logits, y, cw, sw, float(label_smoothing), reduction, options
    )
