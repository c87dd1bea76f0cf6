"""Triton kernels of the softmax cross-entropy with integer labels (torch tensors).

* forward (:func:`_forward_kernel`): one read of the logits. Per row, an online
  log-sum-exp (the shift is the running maximum, or 0 where that is infinite, so
  ``-inf`` logits contribute ``exp(-inf) = 0``), the target logit, and with label
  smoothing the sum of the logits; the label (``ignore_index`` handled here) and the
  row's weight ``w = sample_weight * class_weight[y]`` are read in the kernel. It
  writes the weighted loss and the denominator's share of each row, keeps the
  log-sum-exp (one float per row) for the backward pass and, in a checked call, one
  status per program: a label outside ``[0, C)`` and not ignored, a bad sample weight,
  a NaN loss in a counted row (:mod:`wxent._fastpaths.triton_checks`);
* the reduction: a one-program kernel (:func:`wxent._fastpaths.triton_checks.settle`)
  that sums those per-row values, divides (0 where the denominator is 0), keeps the
  inverse of the denominator on the device and runs a checked call's checks;
* backward (:func:`_backward_kernel`): one read of the logits and one write of the
  gradient ``g * w / denominator * (softmax(x) - t)``, with the smoothed target
  ``t = (1 - eps) * onehot(y) + eps / C``; the upstream gradient ``g`` is read on the
  device. With ``inplace_backward`` the gradient is written over the logits.

The cost losses run the same two kernels (``COST``): ``expected_cost_loss`` with the loss
``sum_j costs[y, j] * softmax(x)_j`` (a second running sum in the forward loop, each
label's row of the cost matrix read beside its logits), ``cost_sensitive_cross_entropy``
with the cross-entropy plus ``cost_weight`` times it; the backward pass adds the
gradient ``p_j * (costs[y, j] - expected)``.

Nothing of the logits' size is kept between forward and backward (the memory beyond the
logits is the gradient alone, none with ``inplace_backward``); the logits cross the
memory bus three times in all (read, read, write).

The math is the generic path's (:func:`wxent._core.softmax.softmax_cross_entropy_indices`):
a row holding ``+inf`` takes its limit (loss ``log k`` on a target among ``k`` infinite
logits, ``inf`` otherwise; gradient 0), NaN logits give a NaN loss, a row of only
``-inf`` gives NaN (reported by the checks), and 16-bit logits are read in their dtype
and computed in float32. Labels are clamped into ``[0, C)`` before the gather, so an
out-of-range label never reads outside the row (the check reports it).
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

from wxent._fastpaths import triton_checks
from wxent._fastpaths import triton_common as common
from wxent._fastpaths.select import LAUNCHES
from wxent._types import Array

#: Largest block of classes per loop iteration of the forward pass (a power of two).
MAX_BLOCK = 16384
#: Largest block of classes per loop iteration of the backward pass.
BACKWARD_BLOCK = 8192
#: Classes per program at most when several rows share a program (small ``C``).
ROW_TILE = 2048


@triton.jit
def _row_weight(
    labels_ptr,
    cw_ptr,
    sw_ptr,
    rows,
    rmask,
    n_cols,
    ignore,
    HAS_IGNORE: tl.constexpr,
    CW_MODE: tl.constexpr,
    SW_MODE: tl.constexpr,
    CHECK_SW: tl.constexpr,
):
    # The row's label (clamped into the row), weight (0 on ignored and padding rows),
    # validity, and 1 where the label or the sample weight fails its check.
    raw = tl.load(labels_ptr + rows, mask=rmask, other=0).to(tl.int64)
    valid = rmask
    if HAS_IGNORE:
        valid = valid & (raw != ignore)
        raw = tl.where(valid, raw, 0)
    bad = (raw < 0) | (raw >= n_cols)  # not ignored and outside [0, C)
    y = tl.minimum(tl.maximum(raw, 0), n_cols - 1)
    w = tl.where(rmask, 1.0, 0.0)
    if CW_MODE == 1:
        w = w * tl.load(cw_ptr).to(tl.float32)
    elif CW_MODE == 2:
        w = w * tl.load(cw_ptr + y, mask=rmask, other=0.0).to(tl.float32)
    s = 1.0
    if SW_MODE == 1:
        s = tl.load(sw_ptr).to(tl.float32)
    elif SW_MODE == 2:
        s = tl.load(sw_ptr + rows, mask=rmask, other=0.0).to(tl.float32)
    w = w * s
    if CHECK_SW:  # the sample weights' own check (finite, non-negative), where read
        bad = bad | (tl.where((s >= 0.0) & (s < float("inf")), 0, 1) != 0)
    return y, w, valid, bad & rmask


@triton.jit
def _forward_kernel(
    x_ptr,
    x_row_stride,
    labels_ptr,
    cw_ptr,
    sw_ptr,
    out_ptr,
    lse_ptr,
    status_ptr,
    costs_ptr,
    n_rows,
    n_cols,
    eps,
    ignore,
    cost_weight,
    HAS_IGNORE: tl.constexpr,
    CW_MODE: tl.constexpr,
    SW_MODE: tl.constexpr,
    HAS_SMOOTH: tl.constexpr,
    DENOM: tl.constexpr,
    STORE_LSE: tl.constexpr,
    CHECK: tl.constexpr,
    CHECK_SW: tl.constexpr,
    COST: tl.constexpr,
    LANES: tl.constexpr,
    ROWS: tl.constexpr,
    BLOCK: tl.constexpr,
):
    # out[0, row] = weighted loss; out[1, row] = the row's share of the denominator
    # (DENOM 1: 1 if valid, DENOM 2: its weight); lse[0, row] = the row's shift (+inf
    # marks a row in its +inf limit, whose gradient is 0), lse[1, row] = log of its sum
    # of exp(x - shift) (never their sum: it rounds the log away at large |x|); CHECK:
    # status[program] = 1 when a label or sample weight fails its check or a counted loss
    # is NaN. COST 1: the loss is the expected cost sum_j costs[y, j] * softmax(x)_j (a
    # running sum of costs[y, j] * exp(x_j - shift) beside the row's sum; no smoothing,
    # one running maximum per row), kept unweighted in lse[2, row] for the backward pass;
    # COST 2: the (smoothed) cross-entropy plus cost_weight times the expected cost.
    rows, rmask = common.program_rows(n_rows, ROWS)
    y, w, valid, bad = _row_weight(
        labels_ptr, cw_ptr, sw_ptr, rows, rmask, n_cols, ignore, HAS_IGNORE, CW_MODE,
        SW_MODE, CHECK_SW,
    )  # fmt: skip
    # Padding rows of the last program read the last row (never stored): no -inf rows.
    x_rows = x_ptr + tl.minimum(rows, n_rows - 1) * x_row_stride
    x_y = tl.load(x_rows + y).to(tl.float32)
    # The smoothing's sum is of x - r (r = x_y where finite): a sum of the logits
    # themselves rounds to its own ulp (units at 1e8) and overflows near -3.4e38.
    r = common.finite_or_zero(x_y)

    lane = tl.arange(0, BLOCK)
    tl.static_assert(not (COST and LANES), "the expected cost runs one maximum per row")
    if LANES:  # per-lane running maximum and sum, reduced once at the end
        m_vec = tl.full([ROWS, BLOCK], float("-inf"), dtype=tl.float32)
        s_vec = tl.zeros([ROWS, BLOCK], dtype=tl.float32)
        sx_vec = tl.zeros([ROWS, BLOCK], dtype=tl.float32)
        for start in range(0, n_cols, BLOCK):
            cols = start + lane
            mask = (cols < n_cols)[None, :]
            x = tl.load(x_rows[:, None] + cols[None, :], mask=mask, other=float("-inf"))
            x = x.to(tl.float32)
            m_new = tl.maximum(m_vec, x)
            shift_new = common.finite_or_zero(m_new)
            s_vec = s_vec * common.rescale(m_vec, shift_new) + tl.exp(x - shift_new)
            m_vec = m_new
            if HAS_SMOOTH:
                sx_vec += tl.where(mask, x - r[:, None], 0.0)
        m = tl.max(m_vec, axis=1)
        shift = common.finite_or_zero(m)
        s = tl.sum(s_vec * common.rescale(m_vec, shift[:, None]), axis=1)
        sx = tl.sum(sx_vec, axis=1)
    else:  # a running maximum and sum per row, updated once per block
        m = tl.full([ROWS], float("-inf"), dtype=tl.float32)
        s = tl.zeros([ROWS], dtype=tl.float32)
        sx = tl.zeros([ROWS], dtype=tl.float32)
        cost_sum = tl.zeros([ROWS], dtype=tl.float32)
        cost_rows = costs_ptr + y * n_cols
        for start in range(0, n_cols, BLOCK):
            cols = start + lane
            mask = (cols < n_cols)[None, :]
            x = tl.load(x_rows[:, None] + cols[None, :], mask=mask, other=float("-inf"))
            x = x.to(tl.float32)
            if COST:  # both running sums rescale by the same factor
                m_new = tl.maximum(m, tl.max(x, axis=1))
                shift_new = common.finite_or_zero(m_new)
                factor = common.rescale(m, shift_new)
                e = tl.exp(x - shift_new[:, None])
                c = tl.load(cost_rows[:, None] + cols[None, :], mask=mask, other=0.0)
                s = s * factor + tl.sum(e, axis=1)
                # A row reaching +inf takes its limit below: its cost sum stays 0 (no
                # 0 * inf on the way).
                finite = m_new < float("inf")
                factor = tl.where(finite, factor, 0.0)
                e = tl.where(finite[:, None], e, 0.0)
                cost_sum = cost_sum * factor + tl.sum(c.to(tl.float32) * e, axis=1)
                m = m_new
            else:
                m, s = common.online_step(m, s, x)
            if HAS_SMOOTH:
                sx += tl.sum(tl.where(mask, x - r[:, None], 0.0), axis=1)
        shift = common.finite_or_zero(m)
    # In the shifted logits z = x - shift: -log p_y = log_total - z_y, the smoothing's
    # mean of z is (r - shift) + mean(x - r).
    # A row of only -inf (s = 0) has no softmax: its log-sum is NaN, so that its loss
    # and gradient are NaN (the generic path's) without an inf - inf on the way.
    log_total = tl.where(s == 0.0, float("nan"), common.log_total(s))
    z_y = x_y - shift
    mean_z = (r - shift) + sx / n_cols

    # Rows holding +inf take their limit: logits 0 at the +inf entries, -inf elsewhere.
    limit = m == float("inf")
    if COST:  # (costs are finite: a row's expected cost is NaN only through its logits)
        expected = tl.where(s == 0.0, float("nan"), cost_sum / tl.where(s == 0.0, 1.0, s))
    if tl.max(tl.where(limit, 1, 0), axis=0) > 0:
        k = tl.zeros([ROWS], dtype=tl.float32)
        limit_cost = tl.zeros([ROWS], dtype=tl.float32)
        for start in range(0, n_cols, BLOCK):
            cols = start + lane
            mask = (cols < n_cols)[None, :]
            x = tl.load(x_rows[:, None] + cols[None, :], mask=mask, other=0.0).to(tl.float32)
            k += tl.sum(tl.where(x == float("inf"), 1.0, 0.0), axis=1)
            if COST:  # the softmax's limit: uniform over the +inf entries
                c = tl.load(cost_rows[:, None] + cols[None, :], mask=mask, other=0.0)
                limit_cost += tl.sum(tl.where(x == float("inf"), c.to(tl.float32), 0.0), axis=1)
        log_total = tl.where(limit, tl.log(tl.maximum(k, 1.0)), log_total)
        z_y = tl.where(limit, tl.where(x_y == float("inf"), 0.0, float("-inf")), z_y)
        mean_z = tl.where(limit, tl.where(k == n_cols, 0.0, float("-inf")), mean_z)
        if COST:
            expected = tl.where(limit, limit_cost / tl.maximum(k, 1.0), expected)

    if COST == 1:  # noqa: SIM108  (a static branch: `expected` exists only under COST)
        loss = expected
    else:
        loss = log_total - z_y
    if HAS_SMOOTH:
        # (at eps = 1 the target's share is 0, also against an inf: no 0 * inf)
        loss = tl.where(eps == 1.0, 0.0, loss) * (1.0 - eps) + eps * (log_total - mean_z)
    if COST == 2:  # (the cost term takes the true label, unsmoothed)
        loss = loss + cost_weight * expected
    keep = valid & (w != 0.0)  # a zero weight counts nothing, also against an inf loss
    value = w * tl.where(keep, loss, 0.0)
    if not CHECK:  # unchecked: a label outside [0, C) gives a NaN loss, as on the generic path
        value = tl.where(bad, float("nan"), value)
    tl.store(out_ptr + rows, value, mask=rmask)
    if CHECK:
        bad = bad | (rmask & (value != value))
        tl.store(status_ptr + tl.program_id(0), tl.max(tl.where(bad, 1, 0), axis=0))
    if DENOM == 1:
        tl.store(out_ptr + n_rows + rows, tl.where(valid, 1.0, 0.0), mask=rmask)
    elif DENOM == 2:
        tl.store(out_ptr + n_rows + rows, tl.where(valid, w, 0.0), mask=rmask)
    if STORE_LSE:
        tl.store(lse_ptr + rows, tl.where(limit, float("inf"), shift), mask=rmask)
        tl.store(lse_ptr + n_rows + rows, log_total, mask=rmask)
        if COST:
            tl.store(lse_ptr + 2 * n_rows + rows, expected, mask=rmask)


@triton.jit
def _backward_kernel(
    x_ptr,
    x_row_stride,
    grad_ptr,
    grad_row_stride,
    labels_ptr,
    cw_ptr,
    sw_ptr,
    lse_ptr,
    g_ptr,
    inv_ptr,
    costs_ptr,
    n_rows,
    n_cols,
    eps,
    ignore,
    cost_weight,
    HAS_IGNORE: tl.constexpr,
    CW_MODE: tl.constexpr,
    SW_MODE: tl.constexpr,
    HAS_SMOOTH: tl.constexpr,
    G_MODE: tl.constexpr,
    COST: tl.constexpr,
    ROWS: tl.constexpr,
    BLOCK: tl.constexpr,
):
    rows, rmask = common.program_rows(n_rows, ROWS)
    y, w, valid, bad = _row_weight(
        labels_ptr, cw_ptr, sw_ptr, rows, rmask, n_cols, ignore, HAS_IGNORE, CW_MODE,
        SW_MODE, False,
    )  # fmt: skip
    shift = tl.load(lse_ptr + rows, mask=rmask, other=0.0)
    log_total = tl.load(lse_ptr + n_rows + rows, mask=rmask, other=0.0)
    g = common.upstream(g_ptr, inv_ptr, rows, rmask, G_MODE)
    # (a label outside [0, C), unchecked: gradient 0, as on the generic path)
    keep = valid & (w != 0.0) & (shift != float("inf")) & (bad == 0)
    coef = tl.where(keep, g * w, 0.0)
    shift = tl.where(keep, shift, 0.0)
    log_total = tl.where(keep, log_total, 0.0)
    on_target = 1.0
    spread = 0.0
    if HAS_SMOOTH:
        on_target = 1.0 - eps
        spread = eps / n_cols
    if COST:  # d expected / dx_j = p_j * (costs[y, j] - expected)
        expected = tl.load(lse_ptr + 2 * n_rows + rows, mask=rmask, other=0.0)
        expected = tl.where(keep, expected, 0.0)
        cost_rows = costs_ptr + y * n_cols
    x_rows = x_ptr + tl.minimum(rows, n_rows - 1) * x_row_stride
    g_rows = grad_ptr + rows * grad_row_stride
    lane = tl.arange(0, BLOCK)
    for start in range(0, n_cols, BLOCK):
        cols = start + lane
        mask = rmask[:, None] & (cols < n_cols)[None, :]
        x = tl.load(x_rows[:, None] + cols[None, :], mask=mask, other=float("-inf"))
        p = tl.exp((x.to(tl.float32) - shift[:, None]) - log_total[:, None])
        # Rows not kept (their coef is 0) hold p = inf at +inf logits: never multiplied.
        p = tl.where(keep[:, None], p, 0.0)
        if COST == 1:
            c = tl.load(cost_rows[:, None] + cols[None, :], mask=mask, other=0.0)
            d = coef[:, None] * (p * (c.to(tl.float32) - expected[:, None]))
        elif COST == 2:  # cross-entropy's p - t, plus the cost term's
            c = tl.load(cost_rows[:, None] + cols[None, :], mask=mask, other=0.0)
            t = tl.where(cols[None, :] == y[:, None], on_target, 0.0) + spread
            cost_term = p * (c.to(tl.float32) - expected[:, None])
            d = coef[:, None] * ((p - t) + cost_weight * cost_term)
        else:
            t = tl.where(cols[None, :] == y[:, None], on_target, 0.0) + spread
            d = tl.where(keep[:, None], coef[:, None] * (p - t), 0.0)
        tl.store(g_rows[:, None] + cols[None, :], d.to(grad_ptr.dtype.element_ty), mask=mask)


def config(num_classes: int, backward: bool = False) -> tuple[int, int, int]:
    """``(rows per program, classes per block, warps)`` for ``C`` classes.

    Measured on an H200 at 8192 x 131072 (``benchmarks/gpu_probe.py``, BENCHMARKS.md):
    the forward pass streams best in blocks of 16384 classes with 8 warps and one
    running maximum per row; the backward pass in blocks of 8192 with 32 warps. Small
    ``C`` puts several rows in one program (at least ``ROW_TILE`` elements each).
    """
    cap = BACKWARD_BLOCK if backward else MAX_BLOCK
    block = min(common.next_power_of_2(num_classes), cap)
    rows = max(1, min(64, ROW_TILE // block)) if block < ROW_TILE else 1
    elements = rows * block
    if backward:
        warps = 32 if elements >= 8192 else (16 if elements >= 4096 else 8)
    else:
        warps = 8 if elements >= 2048 else 4
    return rows, block, warps


#: The online log-sum-exp of the forward pass: per lane (True) or per row (False).
LANES = False


def _cost_mode(costs: Any, cost_weight: float | None) -> int:
    """The kernels' ``COST``: 0 cross-entropy, 1 expected cost, 2 both (``cost_weight``)."""
    return 0 if costs is None else (1 if cost_weight is None else 2)


def _name(costs: Any, cost_weight: float | None) -> str:
    """The loss a launch computes, for :data:`LAUNCHES`."""
    return ("softmax_cross_entropy", "expected_cost_loss", "cost_sensitive_cross_entropy")[
        _cost_mode(costs, cost_weight)
    ]


def _mode(tensor: Any) -> int:
    return 0 if tensor is None else (1 if tensor.numel() == 1 and tensor.ndim == 0 else 2)


def _forward(
    rows: Any, labels: Any, ignore: int | None, cw: Any, sw: Any, eps: float, denom: int,
    lse: Any, plan: Any = None, cfg: tuple[int, int, int] | None = None, costs: Any = None,
    cost_weight: float | None = None,
) -> Any:  # fmt: skip
    """Launch the forward kernel; returns the ``(2, N)`` per-row buffer.

    ``plan``: a checked call's :class:`~wxent._fastpaths.triton_checks.Plan`: the kernel
    checks the labels (and the sample weights it claims) and writes its statuses there.
    ``costs``: a contiguous float32 ``(C, C)`` cost matrix: the loss is the expected
    cost (``lse`` then has a third row, the per-row expected cost), or with
    ``cost_weight`` the cross-entropy plus ``cost_weight`` times it; or ``None``.
    """
    n, num_classes = rows.shape
    per_program, block, warps = cfg or config(num_classes)
    grid = common.cdiv(n, per_program)
    out = torch.empty((2 if denom else 1, n), dtype=torch.float32, device=rows.device)
    status = out if plan is None else plan.status_buffer(grid, rows.device)
    LAUNCHES[_name(costs, cost_weight)] += 1
    _forward_kernel[(grid,)](
        rows, rows.stride(0), labels,
        out if cw is None else cw,
        out if sw is None else sw,
        out,
        out if lse is None else lse,
        status,
        out if costs is None else costs,
        n, num_classes, float(eps), 0 if ignore is None else int(ignore),
        float(cost_weight or 0.0),
        HAS_IGNORE=ignore is not None, CW_MODE=_mode(cw), SW_MODE=_mode(sw),
        HAS_SMOOTH=eps != 0.0, DENOM=denom, STORE_LSE=lse is not None,
        CHECK=plan is not None, CHECK_SW=plan is not None and plan.claim(sw),
        COST=_cost_mode(costs, cost_weight), LANES=LANES and costs is None,
        ROWS=per_program, BLOCK=block, num_warps=warps,
    )  # fmt: skip
    return out


def _backward(
    saved: tuple,
    eps: float,
    g: Any,
    grad: Any,
    per_row: bool = False,
    cfg: tuple[int, int, int] | None = None,
    costs: Any = None,
    cost_weight: float | None = None,
) -> None:
    """Launch the backward kernel: ``grad = g * w / denominator * (softmax(x) - t)``.

    ``g``: the upstream gradient (per row when ``per_row``), or ``None`` for 1.
    ``costs``: the expected cost's matrix (``grad = g * w / denominator * p * (costs[y]
    - expected)``; with ``cost_weight``, that times it plus the cross-entropy's), or
    ``None``.
    """
    rows, labels, ignore, cw, sw, lse, inv = saved
    n, num_classes = rows.shape
    per_program, block, warps = cfg or config(num_classes, backward=True)
    g, g_mode = common.upstream_mode(g, inv, per_row)
    LAUNCHES[_name(costs, cost_weight) + "_backward"] += 1
    _backward_kernel[(common.cdiv(n, per_program),)](
        rows, rows.stride(0), grad, grad.stride(0), labels,
        lse if cw is None else cw,
        lse if sw is None else sw,
        lse, lse if g is None else g, lse if inv is None else inv,
        lse if costs is None else costs,
        n, num_classes, float(eps), 0 if ignore is None else int(ignore),
        float(cost_weight or 0.0),
        HAS_IGNORE=ignore is not None, CW_MODE=_mode(cw), SW_MODE=_mode(sw),
        HAS_SMOOTH=eps != 0.0, G_MODE=g_mode, COST=_cost_mode(costs, cost_weight),
        ROWS=per_program, BLOCK=block, num_warps=warps,
    )  # fmt: skip


class _SoftmaxCrossEntropy(torch.autograd.Function):
    """Forward: loss and per-row log-sum-exp; backward: one pass writing the gradient."""

    @staticmethod
    def forward(
        ctx: Any,
        logits: Any,
        labels: Any,
        cw: Any,
        sw: Any,
        eps: float,
        reduction: str,
        inplace: bool,
        options: dict[str, Any],
    ) -> Any:
        rows = common.rows_of(logits)
        n = rows.shape[0]
        ignore, eager, plan = options["ignore"], options["eager"], options["plan"]
        costs = ctx.costs = options.get("costs")
        lam = ctx.cost_weight = options.get("cost_weight")
        needs_grad = ctx.needs_input_grad[0] and options["grad"]
        lse = None
        if needs_grad:  # (shift, log-sum, and the expected cost of a cost matrix)
            lse = torch.empty(
                (2 if costs is None else 3, n), dtype=torch.float32, device=rows.device
            )
        denom = {"none": 0, "sum": 0, "mean": 1, "weighted_mean": 2}[reduction]
        if denom == 1 and ignore is None:
            denom = 0  # the count is n, known on the host
        out = _forward(
            rows, labels, ignore, cw, sw, eps, denom, lse, plan, costs=costs, cost_weight=lam
        )
        # the sum and its division (and a checked call's checks): one launch
        n_const = float(n) if reduction == "mean" and ignore is None else 1.0
        den = out[1] if denom else None
        result, inv = triton_checks.finish_rows(plan, out[0], den, n_const, logits, reduction)
        ctx.grad = None
        if needs_grad:
            saved = (rows, labels, ignore, cw, sw, lse, inv)
            ctx.eps, ctx.reduction, ctx.shape = eps, reduction, logits.shape
            ctx.inplace = in_place = common.writes_into(logits, rows, inplace)
            ctx.ignore = ignore
            if eager is not None and not in_place:  # queued behind a checked call's read
                common.defer_gradient(
                    ctx,
                    eager,
                    rows,
                    lambda g: _backward(saved, eps, None, g, costs=costs, cost_weight=lam),
                )
                common.keep_logits(ctx, logits, options["rerun"])
            else:
                common.keep_logits(ctx, logits, options["rerun"], rows, labels, cw, sw, lse, inv)
        return result

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        if common.must_rerun(ctx, g):  # create_graph, or a second backward pass
            return common.rerun_gradient(ctx, g, 8)
        early = common.early_gradient(ctx, g, 8)
        if early is not None:
            return early
        rows, labels, cw, sw, lse, inv, _logits = ctx.saved_tensors
        saved = (rows, labels, ctx.ignore, cw, sw, lse, inv)
        grad = rows.detach() if ctx.inplace else torch.empty_like(rows)
        _backward(
            saved,
            ctx.eps,
            g,
            grad,
            per_row=ctx.reduction == "none",
            costs=ctx.costs,
            cost_weight=ctx.cost_weight,
        )
        if ctx.inplace:
            common.wrote_into(grad)
            ctx.spent = True  # the logits hold the gradient now: no second pass
        return (grad.view(ctx.shape),) + (None,) * 7


def softmax_cross_entropy(
    logits: Array,
    labels: Array,
    *,
    class_weight: Array | None,
    sample_weight: Array | None,
    ignore_index: int | None,
    label_smoothing: float,
    reduction: str,
    inplace_backward: bool = False,
    eager_gradient: list | None = None,
    plan: Any = None,
    rerun: Any = None,
) -> Array:
    """The reduced (or per-sample) weighted softmax cross-entropy, SPEC semantics.

    Args:
        logits: ``(..., C)`` float16/bfloat16/float32 torch tensor.
        labels: integer class indices of the logits' shape without the last axis, the
            caller's (any integer dtype; entries equal to ``ignore_index`` are ignored).
        class_weight: ``(C,)`` or 0-d float32 tensor, or ``None``.
        sample_weight: 0-d or the labels' shape, float32, or ``None``.
        ignore_index: the label to ignore (one the labels' dtype can hold), or ``None``.
        label_smoothing: ``eps`` in ``[0, 1]``.
        reduction: ``"none"``, ``"sum"``, ``"mean"`` or ``"weighted_mean"``.
        inplace_backward: write the gradient into the logits' storage (when the logits
            are contiguous and not a leaf).
        eager_gradient: for a checked call, the list of launches that its one flag read
            queues behind the flag (``Inputs.launches``): the gradient pass (for an
            upstream gradient of 1; backward rescales it) is added there, so the device
            computes it while the host reads the flag and returns. ``None``: the
            backward pass computes the gradient, and nothing of the logits' size is kept
            in between.
        plan: a checked call's :class:`~wxent._fastpaths.triton_checks.Plan`: the kernel
            checks the labels (and the sample weights it claims) and fills its statuses.
        rerun: the same call on other logits ``x`` (``rerun(x)``), for a backward pass
            that must rerun the generic path (``create_graph=True``, or a second
            backward pass through a retained graph); ``None``: such a pass raises.

    Returns:
        The loss in the logits' dtype.
    """
    flat_labels, cw, sw = common.row_inputs(labels, class_weight, sample_weight)
    inplace = bool(inplace_backward) and not logits.is_leaf
    options = {"ignore": ignore_index, "eager": eager_gradient, "plan": plan, "rerun": rerun}
    options["grad"] = common.records_gradient(logits)
    return _SoftmaxCrossEntropy.apply(
        logits, flat_labels, cw, sw, float(label_smoothing), reduction, inplace, options
    )


def expected_cost_loss(
    logits: Array,
    labels: Array,
    *,
    costs: Array,
    class_weight: Array | None,
    sample_weight: Array | None,
    ignore_index: int | None,
    reduction: str,
    eager_gradient: list | None = None,
    plan: Any = None,
    rerun: Any = None,
) -> Array:
    """The reduced (or per-sample) weighted expected cost, SPEC semantics (integer labels).

    The softmax cross-entropy's kernels with the cost matrix read in their loops: the
    loss of a row is ``sum_j costs[y, j] * softmax(x)_j`` (at a row holding ``+inf``, the
    mean cost over its ``+inf`` entries, with gradient 0), its gradient
    ``p_j * (costs[y, j] - loss)``. ``costs``: the ``(C, C)`` matrix on the logits'
    device (any floating dtype; read as float32). The other arguments are
    :func:`softmax_cross_entropy`'s.
    """
    return _with_costs(
        logits, labels, costs, None, class_weight, sample_weight, ignore_index, 0.0,
        reduction, eager_gradient, plan, rerun,
    )  # fmt: skip


def cost_sensitive_cross_entropy(
    logits: Array,
    labels: Array,
    *,
    costs: Array,
    cost_weight: float,
    class_weight: Array | None,
    sample_weight: Array | None,
    ignore_index: int | None,
    label_smoothing: float,
    reduction: str,
    eager_gradient: list | None = None,
    plan: Any = None,
    rerun: Any = None,
) -> Array:
    """Cross-entropy plus ``cost_weight`` times the expected cost, SPEC semantics.

    As :func:`expected_cost_loss`, the softmax kernels with the cost matrix read in their
    loops: a row's loss is its (smoothed) cross-entropy plus ``cost_weight`` times its
    expected cost (of the true label), the gradient the sum of both terms' (``p - t``
    and ``cost_weight * p_j * (costs[y, j] - expected)``); both are 0 at a row's ``+inf``
    limit. ``cost_weight``: a Python number ``> 0``.
    """
    return _with_costs(
        logits, labels, costs, float(cost_weight), class_weight, sample_weight, ignore_index,
        float(label_smoothing), reduction, eager_gradient, plan, rerun,
    )  # fmt: skip


def _with_costs(
    logits: Array, labels: Array, costs: Array, cost_weight: float | None,
    class_weight: Array | None, sample_weight: Array | None, ignore_index: int | None,
    eps: float, reduction: str, eager: list | None, plan: Any, rerun: Any,
) -> Array:  # fmt: skip
    """The softmax kernels' call with a cost matrix (see the two public entries)."""
    flat_labels, cw, sw = common.row_inputs(labels, class_weight, sample_weight)
    matrix = common.plain(costs).to(torch.float32).contiguous()
    options = {"ignore": ignore_index, "eager": eager, "plan": plan, "rerun": rerun}
    options["grad"] = common.records_gradient(logits)
    options.update(costs=matrix, cost_weight=cost_weight)
    return _SoftmaxCrossEntropy.apply(logits, flat_labels, cw, sw, eps, reduction, False, options)
