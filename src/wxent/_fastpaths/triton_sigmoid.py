"""Triton kernel of the sigmoid family: cross-entropy, focal and asymmetric losses.

One element-wise kernel over ``(N, C)`` tiles (classes on the last axis) computes, per
element with ``t`` the (smoothed) label::

    l = s * [q * t * P(x) + r * (1 - t) * Q(x)]
    P = softplus(-x) * exp(-gamma_pos * softplus(x))            # -(1 - p)**gp * log(p)
    Q = softplus(x) * exp(-gamma_neg * softplus(-x))            # -p**gn * log(1 - p)
    Q = -log(1 - p_m) * p_m**gamma_neg, p_m = max(p - clip, 0)  # with clip > 0

which is sigmoid cross-entropy (``gamma = clip = 0``), the focal loss (``gamma_pos =
gamma_neg = gamma``, ``alpha`` folded into ``q`` and ``r``) and the asymmetric loss, with
the gradient in the same pass. ``softplus(x) = max(x, 0) + log1p(exp(-|x|))`` and the
sigmoid share one ``exp``; a term whose label weight is 0 contributes 0 to the loss and
the gradient even at an infinite logit, and the products ``sigmoid(x) * softplus(-x)``
of the modulated gradients take their limit 0 where the sigmoid is 0, so a logit of
``+inf`` on a positive (``-inf`` on a negative) costs 0 with a zero gradient.

The loss comes as one partial sum per tile, with the labels' value check (outside
``[0, 1]`` or NaN, not ignored) done on the labels as they are read. A call that needs
the gradient, checked or not, computes loss and gradient in one pass over the logits,
the gradient already divided: the reduction's denominator (the count of valid elements,
or the sum of the effective weights ``s * (q * z + r * (1 - z))`` with the unsmoothed
label) comes first, from the labels and weights alone (phase 0 of the kernel, no read of
the logits). A checked call's one host read then waits for that pass: a second pass
queued behind the read (as the softmax kernels do, whose gradient needs a second read of
the logits anyway) would read the logits and labels again for nothing. Without a
gradient the loss pass writes each tile's share of the denominator, which the reduction
(:func:`wxent._fastpaths.triton_checks.settle`) sums with the loss.
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

from wxent import _validation as v
from wxent._fastpaths import triton_checks
from wxent._fastpaths import triton_common as common
from wxent._fastpaths.select import LAUNCHES
from wxent._types import Array

#: Elements per tile, and the widest tile (classes), both powers of two (an H200 sweep
#: at 16384 x 8192, ``benchmarks/gpu_probe.py``: 2048-element tiles with 8 warps).
TILE_ELEMENTS = 2048
MAX_BLOCK_C = 1024


@triton.jit
def _sigmoid_kernel(
    x_ptr,
    z_ptr,
    q_ptr,
    r_ptr,
    s_ptr,
    out_ptr,
    grad_ptr,
    denom_ptr,
    status_ptr,
    n_rows,
    n_cols,
    q_stride,
    r_stride,
    ignore,
    eps,
    gamma_pos,
    gamma_neg,
    clip,
    keep,
    inv_const,
    alpha_pos,
    alpha_neg,
    PHASE: tl.constexpr,
    SHARE: tl.constexpr,
    PER_ELEMENT: tl.constexpr,
    HAS_Q: tl.constexpr,
    HAS_R: tl.constexpr,
    HAS_ALPHA: tl.constexpr,
    SW_MODE: tl.constexpr,
    HAS_IGNORE: tl.constexpr,
    HAS_SMOOTH: tl.constexpr,
    MOD_POS: tl.constexpr,
    MOD_NEG: tl.constexpr,
    CLIP: tl.constexpr,
    COMPUTE_GRAD: tl.constexpr,
    DENOM: tl.constexpr,
    CHECK: tl.constexpr,
    CHECK_SW: tl.constexpr,
    STORE_LOSS: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    pid_r = tl.program_id(0)
    pid_c = tl.program_id(1)
    rows = pid_r.to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    mask = (rows < n_rows)[:, None] & (cols < n_cols)[None, :]
    offs = rows[:, None] * n_cols + cols[None, :]
    z = tl.load(z_ptr + offs, mask=mask, other=0).to(tl.float32)
    valid = mask
    if HAS_IGNORE:
        valid = valid & (z != ignore)
        z = tl.where(valid, z, 0.0)
    # CHECK: the labels' value check (outside [0, 1] or NaN, and not ignored)
    bad = valid & ~((z >= 0.0) & (z <= 1.0))
    q = 1.0
    r = 1.0
    if HAS_Q:
        q = tl.load(q_ptr + cols * q_stride, mask=cols < n_cols, other=0.0).to(tl.float32)[None, :]
    if HAS_R:
        r = tl.load(r_ptr + cols * r_stride, mask=cols < n_cols, other=0.0).to(tl.float32)[None, :]
    if HAS_ALPHA:  # a number alpha: q * alpha and r * (1 - alpha), as the generic path
        q = q * alpha_pos
        r = r * alpha_neg
    s = 1.0
    if SW_MODE == 1:
        s = tl.load(s_ptr).to(tl.float32)
    elif SW_MODE == 2:
        s = tl.load(s_ptr + rows, mask=rows < n_rows, other=0.0).to(tl.float32)[:, None]
    elif SW_MODE == 3:
        s = tl.load(s_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    if CHECK_SW:  # the sample weights' own check (finite, non-negative), where read
        bad = bad | (mask & (tl.where((s >= 0.0) & (s < float("inf")), 0, 1) != 0))
    pid = pid_r.to(tl.int64) * tl.num_programs(1) + pid_c

    if SHARE != 0:  # the tile's share of the denominator: valid elements (1), weights (2)
        w = 1.0
        if SHARE == 2:
            w = s * (q * z + r * (1.0 - z))
        tl.store(denom_ptr + pid, tl.sum(tl.sum(tl.where(valid, w, 0.0), axis=1), axis=0))
    if PHASE == 1:  # (phase 0: the share alone)
        t = z
        if HAS_SMOOTH:
            t = z * (1.0 - eps) + 0.5 * eps
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        e = tl.exp(-tl.abs(x))
        log_term = common.log1p(e)
        sp_neg = tl.maximum(x, 0.0) + log_term  # softplus(x) = -log(1 - p)
        sp_pos = tl.maximum(-x, 0.0) + log_term  # softplus(-x) = -log(p)
        big = 1.0 / (1.0 + e)
        small = e / (1.0 + e)
        p = tl.where(x >= 0, big, small)  # sigmoid(x)
        p_neg = tl.where(x >= 0, small, big)  # sigmoid(-x)

        # Positive term P and dP/dx.
        pos = sp_pos
        d_pos = -p_neg
        if MOD_POS:
            f = tl.exp(-gamma_pos * sp_neg)
            pos = sp_pos * f
            prod = p * tl.where(p == 0.0, 0.0, sp_pos)
            d_pos = -f * (p_neg + gamma_pos * prod)
        # Negative term Q and dQ/dx.
        if CLIP:
            # p - clip cancels where clip >= 1/2: (1 - clip) - (1 - p) there, and
            # -log(1 - p_m) as -log1p(-p_m) (see wxent._core.sigmoid.clipped_probability)
            high = clip >= 0.5
            shifted = tl.where(high, keep - p_neg, p - clip)  # (keep = 1 - clip)
            active = (shifted > 0.0) | (p != p)  # a NaN logit stays NaN (an error)
            p_m = tl.where(active, shifted, 1.0)
            one_m = tl.where(active, p_neg + clip, 1.0)
            minus_log = tl.where(
                high, -common.log1p(-tl.where(active, shifted, 0.0)), -tl.log(one_m)
            )
            dp = p * p_neg
            if MOD_NEG:
                f = tl.exp(gamma_neg * tl.log(p_m))
                neg = minus_log * f
                d_neg = dp * (f / one_m + minus_log * gamma_neg * f / p_m)
            else:
                neg = minus_log
                d_neg = dp / one_m
            neg = tl.where(active, neg, 0.0)
            d_neg = tl.where(active, d_neg, 0.0)
        else:
            neg = sp_neg
            d_neg = p
            if MOD_NEG:
                f = tl.exp(-gamma_neg * sp_pos)
                neg = sp_neg * f
                prod = p_neg * tl.where(p_neg == 0.0, 0.0, sp_neg)
                d_neg = f * (p + gamma_neg * prod)

        one_t = 1.0 - t
        # 0 * inf = 0: a term whose label or weight is 0 is 0, an element of weight 0 too.
        pos = tl.where(q * t == 0.0, 0.0, pos)
        neg = tl.where(r * one_t == 0.0, 0.0, neg)
        loss = q * (t * pos) + r * (one_t * neg)
        loss = tl.where(valid, loss, 0.0)
        if SW_MODE != 0:
            loss = tl.where(s == 0.0, 0.0, s * loss)
        if CHECK:  # status[tile] = 1: a bad label or sample weight, or a NaN loss
            bad = bad | (loss != loss)
            tl.store(status_ptr + pid, tl.max(tl.max(tl.where(bad, 1, 0), axis=1), axis=0))
        if STORE_LOSS:
            if PER_ELEMENT:
                tl.store(out_ptr + offs, loss.to(out_ptr.dtype.element_ty), mask=mask)
            else:
                tl.store(out_ptr + pid, tl.sum(tl.sum(loss, axis=1), axis=0))
        if COMPUTE_GRAD:
            # as the loss: a term of label or weight 0 has gradient 0, also at a NaN logit
            d_pos = tl.where(q * t == 0.0, 0.0, d_pos)
            d_neg = tl.where(r * one_t == 0.0, 0.0, d_neg)
            d = q * (t * d_pos) + r * (one_t * d_neg)
            coef = s
            if DENOM == 1:  # divided by the reduction's denominator, known on the host
                coef = coef * inv_const
            elif DENOM == 2:  # ...or computed first (0 where that is 0)
                den = tl.load(denom_ptr).to(tl.float32)
                coef = coef * tl.where(den == 0.0, 0.0, 1.0 / tl.where(den == 0.0, 1.0, den))
            d = tl.where(valid, coef * d, 0.0)
            if SW_MODE != 0:  # weight 0 counts nothing: gradient 0, also at a NaN logit
                d = tl.where(s == 0.0, 0.0, d)
            tl.store(grad_ptr + offs, d.to(grad_ptr.dtype.element_ty), mask=mask)


class _Config:
    """Everything about one call but the tensors (hashable options of the kernel)."""

    def __init__(self, n_rows: int, n_cols: int, options: dict[str, Any]) -> None:
        self.n_rows, self.n_cols = n_rows, n_cols
        self.block_c = min(common.next_power_of_2(n_cols), MAX_BLOCK_C, TILE_ELEMENTS)
        self.block_r = max(1, TILE_ELEMENTS // self.block_c)
        self.grid = (common.cdiv(n_rows, self.block_r), common.cdiv(n_cols, self.block_c))
        self.options = options


def _launch(cfg: _Config, tensors: dict[str, Any], phase: int, **flags: Any) -> None:
    o = cfg.options
    dummy = tensors["z"]
    LAUNCHES["sigmoid_denominator" if phase == 0 else "sigmoid_family"] += 1
    _sigmoid_kernel[cfg.grid](
        tensors.get("x", dummy),
        tensors["z"],
        dummy if tensors["q"] is None else tensors["q"],
        dummy if tensors["r"] is None else tensors["r"],
        dummy if tensors["s"] is None else tensors["s"],
        tensors.get("out", dummy),
        tensors.get("grad") if tensors.get("grad") is not None else dummy,
        tensors.get("denom") if tensors.get("denom") is not None else dummy,
        tensors.get("status") if tensors.get("status") is not None else dummy,
        cfg.n_rows,
        cfg.n_cols,
        0 if tensors["q"] is None or tensors["q"].numel() == 1 else 1,
        0 if tensors["r"] is None or tensors["r"].numel() == 1 else 1,
        o["ignore"],
        o["eps"],
        o["gamma_pos"],
        o["gamma_neg"],
        o["clip"],
        1.0 - o["clip"],  # (in float64: 1 - clip rounded once)
        o.get("inv_const", 1.0),
        *(o["alpha"] or (1.0, 1.0)),
        PHASE=phase,
        HAS_Q=tensors["q"] is not None,
        HAS_R=tensors["r"] is not None,
        HAS_ALPHA=o["alpha"] is not None,
        SW_MODE=o["sw_mode"],
        HAS_IGNORE=o["has_ignore"],
        HAS_SMOOTH=o["eps"] != 0.0,
        MOD_POS=o["gamma_pos"] != 0.0,
        MOD_NEG=o["gamma_neg"] != 0.0,
        CLIP=o["clip"] != 0.0,
        BLOCK_R=cfg.block_r,
        BLOCK_C=cfg.block_c,
        num_warps=common.warps_for(cfg.block_r * cfg.block_c),
        **flags,
    )


def _denominator(cfg: _Config, reduction: str) -> tuple[int, float]:
    """``(share, n_const)``: what the denominator of the reduction sums on the device.

    ``share`` 0: nothing, the denominator is ``n_const`` (known on the host); 1: the
    count of valid elements; 2: the sum of their effective weights.
    """
    if reduction == "sum" or reduction == "none":
        return 0, 1.0
    if reduction == "mean" and not cfg.options["has_ignore"]:
        return 0, float(cfg.n_rows * cfg.n_cols)
    return (2 if reduction == "weighted_mean" else 1), 1.0


class _SigmoidFamily(torch.autograd.Function):
    """Forward computes the loss and (when needed) the gradient; backward scales it."""

    @staticmethod
    def forward(
        ctx: Any,
        logits: Any,
        z: Any,
        q: Any,
        r: Any,
        s: Any,
        reduction: str,
        options: dict[str, Any],
    ) -> Any:
        n_cols = logits.shape[-1]
        x = common.plain(logits).contiguous()
        cfg = _Config(x.numel() // n_cols, n_cols, options)
        plan = options["plan"]
        tiles = cfg.grid[0] * cfg.grid[1]
        tensors = {"x": x, "z": z, "q": q, "r": r, "s": s}
        if plan is not None:
            tensors["status"] = plan.status_buffer(tiles, x.device)
        share, n_const = _denominator(cfg, reduction)
        options["inv_const"] = 1.0 / n_const
        grad = torch.empty_like(x) if ctx.needs_input_grad[0] and options["grad"] else None
        per_element = reduction == "none"
        if per_element:
            out = torch.empty_like(x)
        else:  # the tiles' loss (and denominator) shares
            out = torch.empty((2 if share else 1, tiles), dtype=torch.float32, device=x.device)
        flags: dict[str, Any] = {"PER_ELEMENT": per_element}
        flags["DENOM"] = 1 if n_const != 1.0 else 0
        launch = {**tensors, "out": out[0] if share else out, "grad": grad}
        denominator, loss_share = None, 0
        if share and grad is not None:
            # The gradient is written in the loss pass, already divided: the denominator
            # comes first, from the labels and weights alone (no read of the logits).
            denominator = out[1]
            _launch(cfg, {**launch, "denom": denominator}, 0, SHARE=share, COMPUTE_GRAD=False,
                    CHECK=False, CHECK_SW=False, STORE_LOSS=False, **flags)  # fmt: skip
            launch["denom"] = denominator = denominator.sum()
            flags["DENOM"] = 2
        elif share:  # the loss pass also writes its denominator shares
            denominator = launch["denom"] = out[1]
            loss_share = share
        _launch(
            cfg,
            launch,
            1,
            SHARE=loss_share,
            COMPUTE_GRAD=grad is not None,
            CHECK=plan is not None,
            CHECK_SW=plan is not None and plan.claim(s),
            STORE_LOSS=True,
            **flags,
        )
        ctx.grad = grad
        ctx.shape = logits.shape
        if grad is not None:
            common.keep_logits(ctx, logits, options["rerun"])
        if per_element:
            if plan is not None:
                triton_checks.settle(plan)
            result = out.view(logits.shape)
        else:  # the sum of the tiles, its division and a checked call's checks: one launch
            result, _ = triton_checks.settle(plan, out[0], denominator, n_const, logits.dtype)
        return result

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        if common.must_rerun(ctx, g):  # create_graph, or a second backward pass
            return common.rerun_gradient(ctx, g, 7)
        grad = ctx.grad
        if grad is None:  # pragma: no cover - autograd asks only when the logits need it
            return (None,) * 7
        ctx.grad = None  # the buffer is scaled in place: a second backward reruns
        ctx.spent = True
        common.scale_(grad, g.contiguous())
        return (grad.view(ctx.shape), None, None, None, None, None, None)


def _flat(weight: Any) -> Any:
    if weight is None:
        return None
    weight = common.plain(weight).float()
    return weight.reshape(-1).contiguous() if weight.numel() > 1 else weight


def sigmoid_family(
    logits: Array,
    labels: Array,
    *,
    pos_weight: Array | None,
    neg_weight: Array | None,
    sample_weight: Array | None,
    ignore_label: float | None,
    label_smoothing: float,
    reduction: str,
    gamma_pos: float = 0.0,
    gamma_neg: float = 0.0,
    clip: float = 0.0,
    alpha: tuple[float, float] | None = None,
    plan: Any = None,
    rerun: Any = None,
) -> Array:
    """The reduced (or per-element) loss of the sigmoid family, SPEC semantics.

    Args:
        logits: ``(..., C)`` float16/bfloat16/float32 torch tensor.
        labels: the logits' shape, any real or boolean dtype (raw: ignored entries hold
            ``ignore_label``).
        pos_weight: ``q``, 0-d or ``(C,)`` (``alpha`` already folded in), or ``None``.
        neg_weight: ``r``, 0-d or ``(C,)``, or ``None``.
        sample_weight: 0-d, one per sample (``(..., 1)``) or one per element, or ``None``.
        ignore_label: the label value to ignore, or ``None``.
        label_smoothing: ``eps``; targets ``z * (1 - eps) + eps / 2``.
        reduction: ``"none"``, ``"sum"``, ``"mean"`` or ``"weighted_mean"``.
        gamma_pos: modulation of the positive term (focal, asymmetric), ``>= 0``.
        gamma_neg: modulation of the negative term, ``>= 0``.
        clip: the probability margin of the asymmetric loss, in ``[0, 1]``.
        alpha: ``(alpha, 1 - alpha)`` of the focal loss as numbers (float32 values),
            multiplying ``q`` and ``r`` in the kernel, or ``None``.
        plan: a checked call's :class:`~wxent._fastpaths.triton_checks.Plan`: the
            kernel checks the labels it reads (outside ``[0, 1]`` or NaN, and not
            ignored), the sample weights it claims and the NaN of the losses, and the
            call's checks are folded into its flag word.
        rerun: the same call on other logits ``x`` (``rerun(x)``), for a backward pass
            that must rerun the generic path (``create_graph=True``, or a second
            backward pass through a retained graph).

    Returns:
        The loss in the logits' dtype.
    """
    z = common.plain(labels).contiguous()
    if z.dtype == torch.bool:
        z = z.view(torch.uint8)
    s = _flat(sample_weight)
    sw_mode = 0
    if s is not None:
        sw_mode = 1 if s.numel() == 1 else (3 if s.numel() == logits.numel() else 2)
        if s.numel() == 1:
            s = s.reshape(())
    options = {
        # the marker as the labels hold it (-0.1 in float16), compared after the float32 load
        "ignore": 0.0 if ignore_label is None else float(v.label_marker(ignore_label, z.dtype)),
        "has_ignore": ignore_label is not None,
        "eps": float(label_smoothing),
        "gamma_pos": float(gamma_pos),
        "gamma_neg": float(gamma_neg),
        "clip": float(clip),
        "alpha": alpha,
        "sw_mode": sw_mode,
        "plan": plan,
        "rerun": rerun,
        "grad": common.records_gradient(logits),
    }
    return _SigmoidFamily.apply(
        logits, z, _flat(pos_weight), _flat(neg_weight), s, reduction, options
    )
