"""Triton kernel of the softmax focal loss with integer labels (torch tensors).

Per row, with ``p = softmax(x)``, ``d_c = log_total - (x_c - max) = -log p_c`` (in the
shifted logits: ``lse - x_c`` rounds ``log_total`` away at large ``|x|``), ``L_c = log(1 - p_c)``
and the smoothed target ``t = (1 - eps) * onehot(y) + eps / C``::

    F_c = d_c * exp(gamma * L_c)                       # -(1 - p_c)**gamma * log(p_c)
    l   = sum_c t_c F_c
    B_c = -gamma * exp((gamma - 1) * L_c - d_c + log d_c) - exp(gamma * L_c)
    dl/dx_j = t_j B_j - p_j * sum_c t_c B_c

(``B_c = p_c dF_c/dp_c``). ``L_c`` is ``log1p(-p_c)`` except for the classes at the row
maximum with ``p_c > 1/2``, where ``1 - p_c`` may round to 0: there it is
``log(S_others) - log(S)`` (which would cancel for a small ``p_c``) with
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
the gradient, already divided by the reduction's denominator. The label
(``ignore_index`` handled in the kernel) and the weight ``sample_weight *
class_weight[y]`` are read per row, as in :mod:`wxent._fastpaths.triton_softmax`; the
denominator of ``"weighted_mean"`` (or of ``"mean"`` with ignored labels) comes first,
from the labels and weights alone (:func:`_denominator_kernel`: one share per block of
rows, which the loss kernel and the reduction sum). In a checked
call each row's program also writes its status: a bad label or sample weight, or a NaN
loss (:mod:`wxent._fastpaths.triton_checks`).
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

from wxent._fastpaths import triton_checks
from wxent._fastpaths import triton_common as common
from wxent._fastpaths.select import LAUNCHES
from wxent._fastpaths.triton_softmax import _mode as mode
from wxent._fastpaths.triton_softmax import _row_weight
from wxent._types import Array

#: Largest block of classes per loop iteration (per-lane state: 8192 fits the registers).
MAX_BLOCK = 8192


@triton.jit
def _terms(x, m, log_others, log_total, gamma, MODULATE: tl.constexpr):
    # F_c and B_c of the module docstring, element-wise (m: the row maximum).
    dist = log_total - (x - m)
    p = tl.exp(-dist)
    if MODULATE:
        top = (x == m) & (p > 0.5)  # below 1/2, log1p(-p) (the sums would cancel)
        log1m = tl.where(top, log_others - log_total, common.log1p(-tl.where(top, 0.0, p)))
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
def _pass_one(x_row, n_cols, lane, m_vec, r_vec, nan_vec, in_limit, BLOCK: tl.constexpr):
    # (nan_vec: the lanes that met a NaN, which the maximum and the minimum drop.)
    for start in range(0, n_cols, BLOCK):
        cols = start + lane
        x = tl.load(x_row + cols, mask=cols < n_cols, other=float("-inf")).to(tl.float32)
        nan_vec = tl.maximum(nan_vec, tl.where(x != x, 1.0, 0.0))
        x = _limit(x, in_limit)
        up = x > m_vec
        # (Both branches are evaluated: each is kept free of inf - inf.)
        grown = (r_vec + 1.0) * tl.exp(tl.where(up, m_vec, 0.0) - tl.where(up, x, 0.0))
        m_fin = tl.where(m_vec == float("-inf"), 0.0, m_vec)
        added = r_vec + tl.exp(tl.minimum(x - m_fin, 0.0))
        r_vec = tl.where(up, grown, added)
        m_vec = tl.maximum(m_vec, x)
    return m_vec, r_vec, nan_vec


@triton.jit
def _softmax_focal_kernel(
    x_ptr,
    x_row_stride,
    grad_ptr,
    labels_ptr,
    cw_ptr,
    sw_ptr,
    loss_ptr,
    denom_ptr,
    status_ptr,
    n_rows,
    n_cols,
    eps,
    gamma,
    ignore,
    inv_const,
    n_den,
    HAS_IGNORE: tl.constexpr,
    CW_MODE: tl.constexpr,
    SW_MODE: tl.constexpr,
    HAS_SMOOTH: tl.constexpr,
    MODULATE: tl.constexpr,
    COMPUTE_GRAD: tl.constexpr,
    DENOM: tl.constexpr,
    CHECK: tl.constexpr,
    CHECK_SW: tl.constexpr,
    DEN_BLOCK: tl.constexpr,
    BLOCK: tl.constexpr,
):
    # One program per row. DENOM 1: the gradient is divided by 1 / inv_const, 2: by the
    # sum of the shares denom[0:n_den] (0 where that is 0). CHECK: status[row] = 1 when
    # the label or sample weight fails its check or the counted loss is NaN.
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * x_row_stride
    one = row + tl.arange(0, 1)  # the row's label and weights (clamped label: memory-safe)
    y, w, valid, bad = _row_weight(
        labels_ptr, cw_ptr, sw_ptr, one, one < n_rows, n_cols, ignore, HAS_IGNORE, CW_MODE,
        SW_MODE, CHECK_SW,
    )  # fmt: skip
    y = tl.max(y, axis=0)
    w = tl.sum(w, axis=0)
    valid = tl.max(tl.where(valid, 1, 0), axis=0) != 0
    x_y = tl.load(x_row + y).to(tl.float32)

    # Pass 1: per lane, the running maximum and the sum of exp(x - max) over the others.
    # A row holding +inf is read as its limit (0 at the +inf entries, -inf elsewhere): the
    # pass runs again on that limit, and the row's gradient is 0.
    lane = tl.arange(0, BLOCK)
    m_vec = tl.full([BLOCK], float("-inf"), dtype=tl.float32)
    r_vec = tl.zeros([BLOCK], dtype=tl.float32)
    nan_vec = tl.zeros([BLOCK], dtype=tl.float32)
    m_vec, r_vec, nan_vec = _pass_one(x_row, n_cols, lane, m_vec, r_vec, nan_vec, False, BLOCK)
    m = tl.max(m_vec, axis=0)
    limit = m == float("inf")
    if limit:
        m_vec = tl.full([BLOCK], float("-inf"), dtype=tl.float32)
        r_vec = tl.zeros([BLOCK], dtype=tl.float32)
        m_vec, r_vec, nan_vec = _pass_one(x_row, n_cols, lane, m_vec, r_vec, nan_vec, True, BLOCK)
        m = tl.max(m_vec, axis=0)
        x_y = _limit(x_y, True)
    lane_live = m_vec > float("-inf")
    scale = tl.exp(tl.where(lane_live, m_vec, m) - m)
    others = tl.sum(tl.where(lane_live, r_vec * scale, 0.0), axis=0)
    others += tl.sum(tl.where(lane_live & (m_vec < m), scale, 0.0), axis=0)
    others += tl.sum(tl.where(m_vec == m, 1.0, 0.0), axis=0) - 1.0
    log_total = tl.log(others + 1.0)
    log_others = tl.where(others > 0.0, tl.log(tl.where(others > 0.0, others, 1.0)), float("-inf"))
    nan = tl.max(nan_vec, axis=0) > 0.0
    log_total = tl.where(nan, float("nan"), log_total)  # NaN logits: NaN loss

    focal_y, b_y, _unused = _terms(x_y, m, log_others, log_total, gamma, MODULATE)
    loss = focal_y
    sum_b = b_y
    if HAS_SMOOTH:
        # Pass 2: sum_c F_c and sum_c B_c.
        f_vec = tl.zeros([BLOCK], dtype=tl.float32)
        b_vec = tl.zeros([BLOCK], dtype=tl.float32)
        for start in range(0, n_cols, BLOCK):
            cols = start + lane
            mask = cols < n_cols
            # (-inf past the row: p = 0 there; a 0 above a negative row maximum gave
            # p > 1 and log1p(-p) of a negative number in the lanes the masks drop)
            x = tl.load(x_row + cols, mask=mask, other=float("-inf")).to(tl.float32)
            focal, b, p = _terms(_limit(x, limit), m, log_others, log_total, gamma, MODULATE)
            f_vec += tl.where(mask, focal, 0.0)
            b_vec += tl.where(mask, b, 0.0)
        on_y = tl.where(eps == 1.0, 0.0, focal_y) * (1.0 - eps)  # no 0 * inf at eps = 1
        loss = on_y + eps * tl.sum(f_vec, axis=0) / n_cols
        sum_b = (1.0 - eps) * b_y + eps * tl.sum(b_vec, axis=0) / n_cols
    keep = valid & (w != 0.0)  # a zero weight counts nothing, also against an inf loss
    loss = w * tl.where(keep, loss, 0.0)
    if not CHECK:  # unchecked: a label outside [0, C) gives a NaN loss and gradient 0,
        bad_row = tl.max(tl.where(bad, 1, 0), axis=0) != 0  # as on the generic path
        loss = tl.where(bad_row, float("nan"), loss)
        keep = keep & (bad_row == 0)
    tl.store(loss_ptr + row, loss)
    if CHECK:
        nan = tl.where(loss != loss, 1, 0)
        tl.store(status_ptr + row, tl.maximum(tl.max(tl.where(bad, 1, 0), axis=0), nan))

    if COMPUTE_GRAD:
        # Pass 3: coef * (t_j B_j - p_j * sum_c t_c B_c).
        coef = w
        if DENOM == 1:
            coef = coef * inv_const
        elif DENOM == 2:
            den = common.sum_values(denom_ptr, n_den, DEN_BLOCK)
            coef = coef * tl.where(den == 0.0, 0.0, 1.0 / tl.where(den == 0.0, 1.0, den))
        g_row = grad_ptr + row * n_cols
        on_target = 1.0
        spread = 0.0
        if HAS_SMOOTH:
            on_target = 1.0 - eps
            spread = eps / n_cols
        for start in range(0, n_cols, BLOCK):
            cols = start + lane
            mask = cols < n_cols
            # (-inf past the row: p = 0 there; a 0 above a negative row maximum gave
            # p > 1 and log1p(-p) of a negative number in the lanes the masks drop)
            x = tl.load(x_row + cols, mask=mask, other=float("-inf")).to(tl.float32)
            focal, b, p = _terms(_limit(x, limit), m, log_others, log_total, gamma, MODULATE)
            t = tl.where(cols == y, on_target, 0.0) + spread
            own = tl.where(t == 0.0, 0.0, t * b)
            g = tl.where(keep & (limit == 0), coef * (own - p * sum_b), 0.0)
            tl.store(g_row + cols, g.to(grad_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _denominator_kernel(
    labels_ptr,
    cw_ptr,
    sw_ptr,
    out_ptr,
    n_rows,
    n_cols,
    ignore,
    HAS_IGNORE: tl.constexpr,
    CW_MODE: tl.constexpr,
    SW_MODE: tl.constexpr,
    WEIGHTED: tl.constexpr,
    ROWS: tl.constexpr,
):
    # out[program] = the count of valid rows (WEIGHTED: the sum of their weights) here.
    rows, rmask = common.program_rows(n_rows, ROWS)
    _y, w, valid, _bad = _row_weight(
        labels_ptr, cw_ptr, sw_ptr, rows, rmask, n_cols, ignore, HAS_IGNORE, CW_MODE, SW_MODE,
        False,
    )  # fmt: skip
    share = tl.where(valid, w if WEIGHTED else 1.0, 0.0)
    tl.store(out_ptr + tl.program_id(0), tl.sum(share, axis=0))


#: Rows per program of the denominator kernel.
DENOMINATOR_ROWS = 1024
#: Shares of the denominator the loss kernel sums per block (a power of two).
DENOMINATOR_SHARES = 64


def _denominator(
    labels: Any, ignore: int | None, cw: Any, sw: Any, n_cols: int, weighted: bool
) -> Any:
    """The shares of the reduction's denominator: valid rows, or the sum of their weights.

    One float32 per program of :data:`DENOMINATOR_ROWS` rows; the loss kernel and the
    reduction each sum them (no separate sum).
    """
    n = labels.numel()
    grid = common.cdiv(n, DENOMINATOR_ROWS)
    out = torch.empty(grid, dtype=torch.float32, device=labels.device)
    LAUNCHES["softmax_focal_denominator"] += 1
    _denominator_kernel[(grid,)](
        labels, out if cw is None else cw, out if sw is None else sw, out,
        n, n_cols, 0 if ignore is None else int(ignore),
        HAS_IGNORE=ignore is not None, CW_MODE=mode(cw), SW_MODE=mode(sw), WEIGHTED=weighted,
        ROWS=DENOMINATOR_ROWS, num_warps=4,
    )  # fmt: skip
    return out


class _SoftmaxFocal(torch.autograd.Function):
    """Forward computes the loss and (when needed) the gradient; backward scales it."""

    @staticmethod
    def forward(
        ctx: Any,
        logits: Any,
        labels: Any,
        cw: Any,
        sw: Any,
        eps: float,
        gamma: float,
        reduction: str,
        options: dict[str, Any],
    ) -> Any:
        rows = common.rows_of(logits)
        n, num_classes = rows.shape
        ignore, plan = options["ignore"], options["plan"]
        grad = torch.empty_like(rows) if ctx.needs_input_grad[0] and options["grad"] else None
        denominator, n_const = None, 1.0
        if reduction == "weighted_mean" or (reduction == "mean" and ignore is not None):
            weighted = reduction == "weighted_mean"
            denominator = _denominator(labels, ignore, cw, sw, num_classes, weighted)
        elif reduction == "mean":
            n_const = float(n)
        block = min(common.next_power_of_2(num_classes), MAX_BLOCK)
        loss = torch.empty(n, dtype=torch.float32, device=rows.device)
        status = loss if plan is None else plan.status_buffer(n, rows.device)
        LAUNCHES["softmax_focal_loss"] += 1
        _softmax_focal_kernel[(n,)](
            rows, rows.stride(0), loss if grad is None else grad, labels,
            loss if cw is None else cw, loss if sw is None else sw, loss,
            loss if denominator is None else denominator, status,
            n, num_classes, float(eps), float(gamma), 0 if ignore is None else int(ignore),
            0.0 if n_const == 0.0 else 1.0 / n_const,
            0 if denominator is None else denominator.numel(),
            HAS_IGNORE=ignore is not None, CW_MODE=mode(cw), SW_MODE=mode(sw),
            HAS_SMOOTH=eps != 0.0, MODULATE=gamma != 0.0, COMPUTE_GRAD=grad is not None,
            DENOM=2 if denominator is not None else (1 if n_const != 1.0 else 0),
            CHECK=plan is not None, CHECK_SW=plan is not None and plan.claim(sw),
            DEN_BLOCK=DENOMINATOR_SHARES, BLOCK=block, num_warps=common.warps_for(block),
        )  # fmt: skip
        ctx.grad, ctx.shape, ctx.reduction = grad, logits.shape, reduction
        if grad is not None:
            common.keep_logits(ctx, logits, options["rerun"])
        return triton_checks.finish_rows(plan, loss, denominator, n_const, logits, reduction)[0]

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        return common.row_gradient(ctx, g, 8)


def softmax_focal_loss(
    logits: Array,
    labels: Array,
    *,
    gamma: float,
    class_weight: Array | None,
    sample_weight: Array | None,
    ignore_index: int | None,
    label_smoothing: float,
    reduction: str,
    plan: Any = None,
    rerun: Any = None,
) -> Array:
    """The reduced (or per-sample) softmax focal loss, SPEC semantics.

    Args:
        logits: ``(..., C)`` float16/bfloat16/float32 torch tensor.
        labels: integer class indices, the logits' shape without the last axis (the
            caller's, any integer dtype; entries equal to ``ignore_index`` are ignored).
        gamma: the focusing parameter ``>= 0``.
        class_weight: ``(C,)`` or 0-d float32 tensor, or ``None``.
        sample_weight: 0-d or the labels' shape, float32, or ``None``.
        ignore_index: the label to ignore (one the labels' dtype can hold), or ``None``.
        label_smoothing: ``eps`` in ``[0, 1]``.
        reduction: ``"none"``, ``"sum"``, ``"mean"`` or ``"weighted_mean"``.
        plan: a checked call's :class:`~wxent._fastpaths.triton_checks.Plan`: the kernel
            checks the labels (and the sample weights it claims) and fills its statuses.
        rerun: the same call on other logits ``x`` (``rerun(x)``), for a backward pass
            that must rerun the generic path (``create_graph=True``, or a second
            backward pass through a retained graph).

    Returns:
        The loss in the logits' dtype.
    """
    flat_labels, cw, sw = common.row_inputs(labels, class_weight, sample_weight)
    options = {"ignore": ignore_index, "plan": plan, "rerun": rerun}
    options["grad"] = common.records_gradient(logits)
    return _SoftmaxFocal.apply(
        logits, flat_labels, cw, sw, float(label_smoothing), float(gamma), reduction, options
    )
