"""Triton kernel of the softmax focal loss with integer labels (torch tensors).

Per row, with ``p = softmax(x)``, ``d_c = lse - x_c = -log p_c``, ``L_c = log(1 - p_c)``
and the smoothed target ``t = (1 - eps) * onehot(y) + eps / C``::

    F_c = d_c * exp(gamma * L_c)                       # -(1 - p_c)**gamma * log(p_c)
    l   = sum_c t_c F_c
    B_c = -gamma * exp((gamma - 1) * L_c - d_c + log d_c) - exp(gamma * L_c)
    dl/dx_j = t_j B_j - p_j * sum_c t_c B_c

(``B_c = p_c dF_c/dp_c``). ``L_c`` is ``log1p(-p_c)`` except for the classes at the row
maximum, where ``1 - p_c`` may round to 0: there it is ``log(S_others) - log(S)`` with
the sums of ``exp(x - max)`` over the whole row and over the row without one
maximum, both accumulated in the first pass (per lane: the running maximum and the
sum of the *other* elements, so no ``S - 1`` cancellation). As in the generic path
(:func:`wxent._core_imbalance.log1m_softmax`), the loss and the gradient are finite
for every ``gamma >= 0`` and any finite logits; the products ``p * log p`` and
``(1 - p)**(gamma - 1) * p * log p`` take their limits 0 at ``p = 0`` and ``p = 1``. A
row holding ``+inf`` is read as its limit (0 at the ``+inf`` entries, ``-inf`` elsewhere,
as :func:`wxent._core.numerics.limit_logits`) with a zero gradient, and a row of weight 0
counts nothing even where its loss is infinite.

Passes over each row: 1. the log-sum-exp and the sum without the maximum; 2. (label
smoothing only) ``sum_c F_c`` and ``sum_c B_c``; 3. (when the logits need a gradient)
the gradient, already divided by the reduction's denominator. Weights, the validity
mask and the denominator come from :func:`row_weights`.
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

from wxent._fastpaths import triton_common as common
from wxent._fastpaths.select import LAUNCHES
from wxent._types import Array

#: Largest block of classes per loop iteration (per-lane state: 8192 fits the registers).
MAX_BLOCK = 8192


@triton.jit
def _log1p(u):
    v = 1.0 + u
    d = v - 1.0
    return tl.where(d == 0.0, u, tl.log(v) * (u / tl.where(d == 0.0, 1.0, d)))


@triton.jit
def _terms(x, lse, m, log_others, log_total, gamma, MODULATE: tl.constexpr):
    # F_c and B_c of the module docstring, element-wise.
    dist = lse - x
    p = tl.exp(-dist)
    if MODULATE:
        top = x == m
        log1m = tl.where(top, log_others - log_total, _log1p(-tl.where(top, 0.0, p)))
        f = tl.exp(gamma * log1m)
        focal = dist * f
        edge = (p == 0.0) | (dist == 0.0)
        safe_dist = tl.where(edge, 1.0, dist)
        inner = (gamma - 1.0) * tl.where(edge, 0.0, log1m) - safe_dist + tl.log(safe_dist)
        b = -tl.where(edge, 0.0, gamma * tl.exp(inner)) - f
    else:
        focal = dist
        b = tl.zeros_like(x) - 1.0
    return focal, b, p


@triton.jit
def _limit(x, in_limit):
    # The limit of a row holding +inf: 0 at the +inf entries, -inf elsewhere.
    return tl.where(in_limit, tl.where(x == float("inf"), 0.0, float("-inf")), x)


@triton.jit
def _pass_one(x_row, n_cols, lane, m_vec, r_vec, in_limit, BLOCK: tl.constexpr):
    for start in range(0, n_cols, BLOCK):
        cols = start + lane
        x = tl.load(x_row + cols, mask=cols < n_cols, other=float("-inf")).to(tl.float32)
        x = _limit(x, in_limit)
        up = x > m_vec
        # (Both branches are evaluated: each is kept free of inf - inf.)
        grown = (r_vec + 1.0) * tl.exp(tl.where(up, m_vec, 0.0) - tl.where(up, x, 0.0))
        m_fin = tl.where(m_vec == float("-inf"), 0.0, m_vec)
        added = r_vec + tl.exp(tl.minimum(x - m_fin, 0.0))
        r_vec = tl.where(up, grown, added)
        m_vec = tl.maximum(m_vec, x)
    return m_vec, r_vec


@triton.jit
def _softmax_focal_kernel(
    x_ptr,
    x_row_stride,
    grad_ptr,
    labels_ptr,
    valid_ptr,
    w_ptr,
    loss_ptr,
    inv_denom_ptr,
    n_cols,
    eps,
    gamma,
    HAS_VALID: tl.constexpr,
    HAS_W: tl.constexpr,
    HAS_SMOOTH: tl.constexpr,
    MODULATE: tl.constexpr,
    COMPUTE_GRAD: tl.constexpr,
    HAS_DENOM: tl.constexpr,
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

    # Pass 1: per lane, the running maximum and the sum of exp(x - max) over the others.
    # A row holding +inf is read as its limit (0 at the +inf entries, -inf elsewhere): the
    # pass runs again on that limit, and the row's gradient is 0.
    lane = tl.arange(0, BLOCK)
    m_vec = tl.full([BLOCK], float("-inf"), dtype=tl.float32)
    r_vec = tl.zeros([BLOCK], dtype=tl.float32)
    m_vec, r_vec = _pass_one(x_row, n_cols, lane, m_vec, r_vec, False, BLOCK)
    m = tl.max(m_vec, axis=0)
    limit = m == float("inf")
    if limit:
        m_vec = tl.full([BLOCK], float("-inf"), dtype=tl.float32)
        r_vec = tl.zeros([BLOCK], dtype=tl.float32)
        m_vec, r_vec = _pass_one(x_row, n_cols, lane, m_vec, r_vec, True, BLOCK)
        m = tl.max(m_vec, axis=0)
        x_y = _limit(x_y, True)
    lane_live = m_vec > float("-inf")
    scale = tl.exp(tl.where(lane_live, m_vec, m) - m)
    others = tl.sum(tl.where(lane_live, r_vec * scale, 0.0), axis=0)
    others += tl.sum(tl.where(lane_live & (m_vec < m), scale, 0.0), axis=0)
    others += tl.sum(tl.where(m_vec == m, 1.0, 0.0), axis=0) - 1.0
    log_total = tl.log(others + 1.0)
    log_others = tl.where(others > 0.0, tl.log(tl.where(others > 0.0, others, 1.0)), float("-inf"))
    lse = m + log_total

    focal_y, b_y, _unused = _terms(x_y, lse, m, log_others, log_total, gamma, MODULATE)
    loss = focal_y
    sum_b = b_y
    if HAS_SMOOTH:
        # Pass 2: sum_c F_c and sum_c B_c.
        f_vec = tl.zeros([BLOCK], dtype=tl.float32)
        b_vec = tl.zeros([BLOCK], dtype=tl.float32)
        for start in range(0, n_cols, BLOCK):
            cols = start + lane
            mask = cols < n_cols
            x = tl.load(x_row + cols, mask=mask, other=0.0).to(tl.float32)
            focal, b, p = _terms(_limit(x, limit), lse, m, log_others, log_total, gamma, MODULATE)
            f_vec += tl.where(mask, focal, 0.0)
            b_vec += tl.where(mask, b, 0.0)
        loss = (1.0 - eps) * focal_y + eps * tl.sum(f_vec, axis=0) / n_cols
        sum_b = (1.0 - eps) * b_y + eps * tl.sum(b_vec, axis=0) / n_cols
    keep = valid & (w != 0.0)  # a zero weight counts nothing, also against an inf loss
    loss = w * tl.where(keep, loss, 0.0)
    tl.store(loss_ptr + row, loss)

    if COMPUTE_GRAD:
        # Pass 3: coef * (t_j B_j - p_j * sum_c t_c B_c).
        coef = w
        if HAS_DENOM:
            coef = coef * tl.load(inv_denom_ptr).to(tl.float32)
        g_row = grad_ptr + row * n_cols
        on_target = 1.0
        spread = 0.0
        if HAS_SMOOTH:
            on_target = 1.0 - eps
            spread = eps / n_cols
        for start in range(0, n_cols, BLOCK):
            cols = start + lane
            mask = cols < n_cols
            x = tl.load(x_row + cols, mask=mask, other=0.0).to(tl.float32)
            focal, b, p = _terms(_limit(x, limit), lse, m, log_others, log_total, gamma, MODULATE)
            t = tl.where(cols == y, on_target, 0.0) + spread
            own = tl.where(t == 0.0, 0.0, t * b)
            g = tl.where(keep & (limit == 0), coef * (own - p * sum_b), 0.0)
            tl.store(g_row + cols, g.to(grad_ptr.dtype.element_ty), mask=mask)


class _SoftmaxFocal(torch.autograd.Function):
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
        gamma: float,
        reduction: str,
    ) -> Any:
        num_classes = logits.shape[-1]
        rows = logits.reshape(-1, num_classes)
        if rows.stride(-1) != 1:
            rows = rows.contiguous()
        n = rows.shape[0]
        grad = torch.empty_like(rows) if ctx.needs_input_grad[0] else None
        inv_denom = None if denominator is None else common.safe_inverse(denominator)
        block = min(common.next_power_of_2(num_classes), MAX_BLOCK)
        loss = torch.empty(n, dtype=torch.float32, device=rows.device)
        LAUNCHES["softmax_focal_loss"] += 1
        _softmax_focal_kernel[(n,)](
            rows,
            rows.stride(0),
            loss if grad is None else grad,
            labels,
            loss if valid is None else valid,
            loss if w is None else w,
            loss,
            loss if inv_denom is None else inv_denom,
            num_classes,
            float(eps),
            float(gamma),
            HAS_VALID=valid is not None,
            HAS_W=w is not None,
            HAS_SMOOTH=eps != 0.0,
            MODULATE=gamma != 0.0,
            COMPUTE_GRAD=grad is not None,
            HAS_DENOM=inv_denom is not None,
            BLOCK=block,
            num_warps=common.warps_for(block),
        )
        return common.finish_rows(ctx, loss, grad, logits, reduction, denominator)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: Any) -> Any:
        return common.row_gradient(ctx, g, 8)


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
            denominator = torch.full((), float(n), dtype=torch.float32, device=logits.device)
        else:
            denominator = flat_valid.sum(dtype=torch.float32)
    elif reduction == "weighted_mean":
        weights = torch.ones(n, dtype=torch.float32, device=logits.device) if w is None else w
        if flat_valid is not None:
            weights = torch.where(flat_valid, weights, 0.0)
        denominator = weights.sum()
    valid_u8 = None if flat_valid is None else flat_valid.contiguous().view(torch.uint8)
    return flat_labels.contiguous(), valid_u8, w, denominator


def softmax_focal_loss(
    logits: Array,
    labels: Array,
    *,
    gamma: float,
    class_weight: Array | None,
    sample_weight: Array | None,
    valid: Array | None,
    label_smoothing: float,
    reduction: str,
) -> Array:
    """The reduced (or per-sample) softmax focal loss, SPEC semantics.

    Args:
        logits: ``(..., C)`` float16/bfloat16/float32 torch tensor.
        labels: integer class indices, the logits' shape without the last axis.
        gamma: the focusing parameter ``>= 0``.
        class_weight: ``(C,)`` or 0-d float32 tensor, or ``None``.
        sample_weight: 0-d or the labels' shape, float32, or ``None``.
        valid: boolean mask of the labels' shape, or ``None`` (all valid).
        label_smoothing: ``eps`` in ``[0, 1]``.
        reduction: ``"none"``, ``"sum"``, ``"mean"`` or ``"weighted_mean"``.

    Returns:
        The loss in the logits' dtype.
    """
    flat_labels, valid_u8, w, denominator = row_weights(
        logits, labels, class_weight, sample_weight, valid, reduction
    )
    return _SoftmaxFocal.apply(
        logits,
        flat_labels,
        valid_u8,
        w,
        denominator,
        float(label_smoothing),
        float(gamma),
        reduction,
    )
