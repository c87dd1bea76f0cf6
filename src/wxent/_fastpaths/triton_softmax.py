"""Triton kernel of the softmax cross-entropy with integer labels (torch tensors).

One program per row of the ``(N, C)`` logits. The first pass over the row keeps, per
lane, a running maximum and the sum of ``exp(x - max)`` (an online log-sum-exp) and,
with label smoothing, the sum of the logits; the second pass, only when the logits
require a gradient, writes ``coef * (softmax(x) - t)`` with the smoothed target
``t = (1 - eps) * onehot(y) + eps / C`` and ``coef = w / denominator``. The loss and
the gradient thus come from one read of the logits in the forward pass (two passes
over each row, the second mostly from cache); the backward pass only multiplies by the
upstream gradient (:func:`wxent._fastpaths.triton_common.scale_`).

The math is the generic path's (:func:`wxent._core.softmax_cross_entropy_indices`):
the shift of the log-sum-exp is the row maximum, or 0 where that is infinite, so
``-inf`` logits contribute ``exp(-inf) = 0``, NaN logits give a NaN loss (the NaN
check on the result still fires), and 16-bit logits are read in their dtype and
computed in float32. Labels are clamped into ``[0, C)`` before the gather, so an
out-of-range label never reads outside the row (the value check reports it).
Weights and the denominator of the reduction are per-row vectors prepared with torch
(``N`` values, no host read).
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

from wxent._fastpaths import triton_common as common
from wxent._fastpaths.select import LAUNCHES
from wxent._types import Array

#: Largest block of classes per loop iteration (a power of two).
MAX_BLOCK = 8192


@triton.jit
def _finite_or_zero(m):
    return tl.where(tl.abs(m) < float("inf"), m, 0.0)


@triton.jit
def _softmax_ce_kernel(
    x_ptr,
    x_row_stride,
    grad_ptr,
    grad_row_stride,
    labels_ptr,
    valid_ptr,
    w_ptr,
    loss_ptr,
    inv_denom_ptr,
    gcoef_ptr,
    n_cols,
    eps,
    HAS_VALID: tl.constexpr,
    HAS_W: tl.constexpr,
    HAS_SMOOTH: tl.constexpr,
    COMPUTE_GRAD: tl.constexpr,
    HAS_DENOM: tl.constexpr,
    HAS_GCOEF: tl.constexpr,
    BLOCK: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * x_row_stride
    y = tl.load(labels_ptr + row).to(tl.int64)
    y = tl.minimum(tl.maximum(y, 0), n_cols - 1)  # memory-safe gather on bad labels
    x_y = tl.load(x_row + y).to(tl.float32)
    w = 1.0
    if HAS_W:
        w = tl.load(w_ptr + row).to(tl.float32)
    valid = True
    if HAS_VALID:
        valid = tl.load(valid_ptr + row) != 0

    # Pass 1: per-lane online log-sum-exp (shift = lane max, or 0 where not finite).
    lane = tl.arange(0, BLOCK)
    m_vec = tl.full([BLOCK], float("-inf"), dtype=tl.float32)
    s_vec = tl.zeros([BLOCK], dtype=tl.float32)
    sx_vec = tl.zeros([BLOCK], dtype=tl.float32)
    for start in range(0, n_cols, BLOCK):
        cols = start + lane
        mask = cols < n_cols
        x = tl.load(x_row + cols, mask=mask, other=float("-inf")).to(tl.float32)
        m_new = tl.maximum(m_vec, x)
        shift_old = _finite_or_zero(m_vec)
        shift_new = _finite_or_zero(m_new)
        s_vec = s_vec * tl.exp(shift_old - shift_new) + tl.exp(x - shift_new)
        m_vec = m_new
        if HAS_SMOOTH:
            sx_vec += tl.where(mask, x, 0.0)
    m = tl.max(m_vec, axis=0)
    shift = _finite_or_zero(m)
    lanes = tl.where(s_vec == 0.0, 0.0, s_vec * tl.exp(_finite_or_zero(m_vec) - shift))
    lse = shift + tl.log(tl.sum(lanes, axis=0))

    loss = lse - x_y
    if HAS_SMOOTH:
        smooth = lse - tl.sum(sx_vec, axis=0) / n_cols
        loss = (1.0 - eps) * loss + eps * smooth
    loss = tl.where(valid, w * loss, 0.0)
    tl.store(loss_ptr + row, loss)

    # Pass 2: the gradient coef * (softmax(x) - t), 0 on ignored rows.
    if COMPUTE_GRAD:
        coef = w
        if HAS_GCOEF:  # a per-row coefficient of the gradient of its own
            coef = tl.load(gcoef_ptr + row).to(tl.float32)
        if HAS_DENOM:
            coef = coef * tl.load(inv_denom_ptr).to(tl.float32)
        g_row = grad_ptr + row * grad_row_stride
        on_target = 1.0
        spread = 0.0
        if HAS_SMOOTH:
            on_target = 1.0 - eps
            spread = eps / n_cols
        for start in range(0, n_cols, BLOCK):
            cols = start + lane
            mask = cols < n_cols
            x = tl.load(x_row + cols, mask=mask, other=0.0).to(tl.float32)
            p = tl.exp(x - lse)
            g = p - tl.where(cols == y, on_target, 0.0) - spread
            g = tl.where(valid, coef * g, 0.0)
            tl.store(g_row + cols, g.to(grad_ptr.dtype.element_ty), mask=mask)


def _launch(
    rows: Any,
    labels: Any,
    valid: Any,
    w: Any,
    inv_denom: Any,
    grad: Any,
    eps: float,
    gcoef: Any = None,
    name: str = "softmax_cross_entropy",
) -> Any:
    n, num_classes = rows.shape
    block = min(common.next_power_of_2(num_classes), MAX_BLOCK)
    loss = torch.empty(n, dtype=torch.float32, device=rows.device)
    dummy = loss
    LAUNCHES[name] += 1
    _softmax_ce_kernel[(n,)](
        rows,
        rows.stride(0),
        dummy if grad is None else grad,
        0 if grad is None else grad.stride(0),
        labels,
        dummy if valid is None else valid,
        dummy if w is None else w,
        loss,
        dummy if inv_denom is None else inv_denom,
        dummy if gcoef is None else gcoef,
        num_classes,
        float(eps),
        HAS_VALID=valid is not None,
        HAS_W=w is not None,
        HAS_SMOOTH=eps != 0.0,
        COMPUTE_GRAD=grad is not None,
        HAS_DENOM=inv_denom is not None,
        HAS_GCOEF=gcoef is not None,
        BLOCK=block,
        num_warps=common.warps_for(block),
    )
    return loss


class _SoftmaxCrossEntropy(torch.autograd.Function):
    """Forward computes the loss and (when needed) the gradient; backward scales it."""

    @staticmethod
    def forward(
        ctx: Any,
        logits: Any,
        labels: Any,
        valid: Any,
        w: Any,
        denominator: Any,
        eps: float,
        reduction: str,
        inplace: bool,
    ) -> Any:
        num_classes = logits.shape[-1]
        rows = logits.reshape(-1, num_classes)
        if rows.stride(-1) != 1:
            rows = rows.contiguous()
        grad = None
        inv_denom = None if denominator is None else common.safe_inverse(denominator)
        if ctx.needs_input_grad[0]:
            in_place = inplace and rows.data_ptr() == logits.data_ptr() and logits.is_contiguous()
            grad = rows.detach() if in_place else torch.empty_like(rows)
        loss = _launch(rows, labels, valid, w, inv_denom, grad, eps)
        return common.finish_rows(ctx, loss, grad, logits, reduction, denominator)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: Any) -> Any:
        return common.row_gradient(ctx, g, 8)


def linear_chunk_step(logits: Array, labels: Array, coef: Array | None, eps: float) -> Array:
    """The chunk step of the linear cross-entropy: per-row losses, gradient in place.

    Args:
        logits: contiguous ``(R, V)`` chunk of logits (bias included); overwritten with
            ``coef * (softmax - t)`` in its own dtype when ``coef`` is given.
        labels: ``(R,)`` integer class indices in ``[0, V)``.
        coef: ``(R,)`` float32 coefficients of the gradient, or ``None`` for no gradient.
        eps: label smoothing.

    Returns:
        The unweighted per-row losses, float32.
    """
    grad = None if coef is None else logits
    return _launch(logits, labels, None, None, None, grad, eps, coef, "linear_cross_entropy")


def row_weights(
    logits: Array,
    labels: Array,
    class_weight: Array | None,
    sample_weight: Array | None,
    valid: Array | None,
    reduction: str,
) -> tuple[Array, Array | None, Array | None, Array | None]:
    """Per-row inputs of the softmax kernels, prepared with ``N``-element torch ops.

    Returns:
        ``(labels, valid, w, denominator)``: flat contiguous labels; the validity mask
        as ``uint8`` (or ``None``); the effective weight ``sample_weight *
        class_weight[y]`` per row (or ``None`` for 1); the reduction's denominator as a
        0-d float32 tensor (``None`` for ``"none"`` and ``"sum"``).
    """
    n = labels.numel()
    flat_labels = labels.reshape(-1)
    flat_valid = None if valid is None else valid.reshape(-1)
    w = None
    if class_weight is not None:
        if class_weight.ndim == 1:
            safe = flat_labels.clamp(0, class_weight.shape[0] - 1)
            w = class_weight.float()[safe]
        else:
            w = class_weight.float().expand(n)
    if sample_weight is not None:
        s = sample_weight.float().reshape(-1) if sample_weight.ndim else sample_weight.float()
        w = s.expand(n) if w is None else w * s
    if w is not None:
        w = w.contiguous()
    denominator = None
    if reduction == "mean":
        if flat_valid is None:
            denominator = torch.tensor(float(n), dtype=torch.float32, device=logits.device)
        else:
            denominator = flat_valid.sum(dtype=torch.float32)
    elif reduction == "weighted_mean":
        weights = torch.ones(n, dtype=torch.float32, device=logits.device) if w is None else w
        if flat_valid is not None:
            weights = torch.where(flat_valid, weights, 0.0)
        denominator = weights.sum()
    valid_u8 = None if flat_valid is None else flat_valid.contiguous().view(torch.uint8)
    return flat_labels.contiguous(), valid_u8, w, denominator


def softmax_cross_entropy(
    logits: Array,
    labels: Array,
    *,
    class_weight: Array | None,
    sample_weight: Array | None,
    valid: Array | None,
    label_smoothing: float,
    reduction: str,
    inplace_backward: bool = False,
) -> Array:
    """The reduced (or per-sample) weighted softmax cross-entropy, SPEC semantics.

    Args:
        logits: ``(..., C)`` float16/bfloat16/float32 torch tensor.
        labels: integer class indices of the logits' shape without the last axis
            (ignored entries may hold anything: ``valid`` masks them).
        class_weight: ``(C,)`` or 0-d float32 tensor, or ``None``.
        sample_weight: 0-d or the labels' shape, float32, or ``None``.
        valid: boolean mask of the labels' shape, or ``None`` (all valid).
        label_smoothing: ``eps`` in ``[0, 1]``.
        reduction: ``"none"``, ``"sum"``, ``"mean"`` or ``"weighted_mean"``.
        inplace_backward: write the gradient into the logits' storage (when the logits
            are contiguous and not a leaf).

    Returns:
        The loss in the logits' dtype.
    """
    flat_labels, valid_u8, w, denominator = row_weights(
        logits, labels, class_weight, sample_weight, valid, reduction
    )
    inplace = bool(inplace_backward) and not logits.is_leaf
    return _SoftmaxCrossEntropy.apply(
        logits,
        flat_labels,
        valid_u8,
        w,
        denominator,
        float(label_smoothing),
        reduction,
        inplace,
    )
