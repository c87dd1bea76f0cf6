"""PyTorch custom gradients of the focal and asymmetric losses (see :mod:`.focal`).

Each ``torch.autograd.Function`` computes the per-element (sigmoid family) or per-sample
(softmax focal) losses together with the derivative the backward pass needs, from one
set of intermediates, and keeps for backward only its inputs plus one per-element array
(the sigmoid family, dense softmax targets) or two per-row values (softmax focal with
class indices). The functions use the ``setup_context`` form with
``generate_vmap_rule`` so that ``torch.func`` transforms and ``torch.compile`` trace
them. A second derivative (``create_graph=True``) is taken by autograd through the
generic formulas, recomputed in the backward pass from the saved inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from wxent import _validation as v
from wxent._fastpaths import focal as shared
from wxent._fastpaths import select

Tensor = torch.Tensor


def _where_zero(coefficient: Tensor, product: Tensor, *, limit: bool = True) -> Tensor:
    """``coefficient * term`` already in ``product``, set to 0 where the coefficient is 0.

    The mask guards ``0 * inf`` at infinite logits only. ``limit=False`` leaves the
    product as it is (NaN there): for a caller that reads the result anyway and then
    recomputes exactly, sparing a selection by value that a CPU runs as a mispredicted
    branch per element.
    """
    return product.masked_fill_(coefficient == 0, 0.0) if limit else product


# ----------------------------------------------------------------------------- sigmoid


def _sigmoid_parts(x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``p, 1 - p, softplus(x), softplus(-x)`` in four new buffers, without a branch.

    ``softplus(+-x) = max(+-x, 0) + log1p(exp(-|x|))`` and ``1 - p = sigmoid(-x)``
    (exact at small ``1 - p``). Written with in-place operations on fresh buffers: on
    the CPU every new full-size tensor costs a page-faulting allocation, and a selection
    by the sign of ``x`` a mispredicted branch per element, each more than the arithmetic.
    """
    log_term = x.abs().neg_().exp_().log1p_()
    p = torch.sigmoid(x)
    sp_pos = x.clamp(min=0.0).add_(log_term)
    lower = x.clamp(max=0.0)
    sp_neg = log_term.sub_(lower)
    q = lower.copy_(x).neg_().sigmoid_()
    return p, q, sp_pos, sp_neg


def _focal_term(
    p: Tensor, q: Tensor, sp_pos: Tensor, sp_neg: Tensor, gamma: float, *, slope: bool
) -> tuple[Tensor, Tensor | None]:
    """``A = -(1-p)**gamma log p`` and ``dA/dx`` (``B(x) = A(-x)``: swap the arguments).

    ``dA/dx = -(1-p)**gamma * ((1-p) + gamma * p * (-log p))``; ``p * (-log p)`` is
    computed with ``-log p`` capped at 1000 (where ``p`` is exactly 0 beyond), so the
    derivative is finite at ``x = -inf``: ``-1``. ``A`` may be ``sp_neg`` itself.
    """
    if gamma == 0.0:
        return sp_neg, q.neg() if slope else None
    # (1-p)**gamma: whole powers by products (cheaper, and exact to an ulp where
    # exp(-gamma softplus(x)) carries the rounding of its argument).
    small = gamma in (1.0, 2.0, 3.0)
    factor = torch.pow(q, gamma) if small else sp_pos.mul(-gamma).exp_()
    derivative = None
    if slope:
        derivative = sp_neg.clamp(max=shared.FAR).mul_(p).mul_(gamma).add_(q)
        derivative = derivative.mul_(factor).neg_()
    return factor.mul_(sp_neg), derivative


def _clipped_negative(
    p: Tensor, q: Tensor, gamma: float, clip: float, *, slope: bool
) -> tuple[Tensor, Tensor | None]:
    """``N = -p_m**gamma log(1 - p_m)``, ``p_m = max(p - clip, 0)``, and ``dN/dx``.

    Branch-free: ``p_m = max((1 - clip) - q, 0)`` where ``clip >= 1/2`` (no
    cancellation; ``-log(1 - p_m)`` then by ``log1p``), ``1 - p_m = min(q + clip, 1)``;
    ``p_m**gamma = exp(gamma log p_m)`` is 0 where inactive (``p <= clip``), and so are
    ``N`` and ``dN/dx``. With ``gamma = 0`` the indicator ``sign(p_m)`` zeroes them; in
    the division of ``dN/dx`` the inactive ``p_m`` are taken as 1, so no ``0 / 0``
    arises. NaN logits stay NaN.
    """
    high = clip >= 0.5  # (1 - clip) - q: see wxent._core.sigmoid.clipped_probability
    p_m = (q.neg().add_(1.0 - clip) if high else torch.sub(p, clip)).clamp_(min=0.0)
    active = torch.sign(p_m)
    one_minus = torch.add(q, clip).clamp_(max=1.0)
    # -log(1 - p_m), 0 where inactive: log1p(-p_m) where p_m <= 1/2
    minus_log = p_m.neg().log1p_().neg_() if high else torch.log(one_minus).neg_()
    derivative = None
    if gamma == 0.0:
        if slope:
            derivative = one_minus.reciprocal_().mul_(active)
        minus_log = minus_log.mul_(active)
    else:
        power = torch.log(p_m).mul_(gamma).exp_()
        if slope:
            safe = p_m.add_(active.neg_().add_(1.0))  # p_m where active, 1 elsewhere
            derivative = torch.mul(minus_log, gamma).div_(safe)
            derivative = derivative.add_(one_minus.reciprocal_()).mul_(power)
        minus_log = minus_log.mul_(power)
    if derivative is not None:
        derivative = derivative.mul_(p).mul_(q)
    return minus_log, derivative


def _sigmoid_family(
    x: Tensor, cp: Tensor, cn: Tensor, opts: tuple[float, ...], *, slope: bool, limit: bool
) -> tuple[Tensor, Tensor | None]:
    """Per-element loss ``cp*A + cn*N`` and its derivative (or ``None``).

    ``limit=False``: a zero coefficient times an infinite term stays NaN (see
    :func:`_where_zero`); every other value is the same.
    """
    gamma_pos, gamma_neg, clip = opts[:3]
    p, q, sp_pos, sp_neg = _sigmoid_parts(x)
    pos, d_pos = _focal_term(p, q, sp_pos, sp_neg, gamma_pos, slope=slope)
    if clip == 0.0:
        neg, d_neg = _focal_term(q, p, sp_neg, sp_pos, gamma_neg, slope=slope)  # A(-x)
        d_neg = None if d_neg is None else d_neg.neg_()
    else:
        neg, d_neg = _clipped_negative(p, q, gamma_neg, clip, slope=slope)
    derivative = None
    if d_pos is not None and d_neg is not None:  # both fresh buffers
        derivative = d_pos.mul_(cp).add_(d_neg.mul_(cn))
    # Last uses of the parts: the terms (possibly the parts themselves) are scaled in place.
    loss = _where_zero(cp, pos.mul_(cp), limit=limit)
    return loss.add_(_where_zero(cn, neg.mul_(cn), limit=limit)), derivative


def _coefficients(
    z: Tensor, q: Tensor | None, r: Tensor | None, eps: float
) -> tuple[Tensor, Tensor]:
    """``q * t`` and ``r * (1 - t)`` of the smoothed labels ``t = z (1 - eps) + eps / 2``."""
    t = z * (1.0 - eps) + 0.5 * eps if eps else z
    cp = t if q is None else t * q
    cn = torch.sub(1.0, t)
    if r is not None:
        cn = cn.mul_(r) if torch.broadcast_shapes(cn.shape, r.shape) == cn.shape else cn * r
    return cp, cn


class SigmoidFamily(torch.autograd.Function):
    """Per-element ``q t A(x) + r (1 - t) N(x)`` keeping one derivative for backward.

    Inputs: logits, unsmoothed labels, ``q`` and ``r`` (broadcastable or ``None``) and
    ``(gamma_pos, gamma_neg, clip, eps)``. Gradients other than the logits' (of labels
    or weights that require them) and second derivatives are taken by autograd through
    the generic formula, recomputed from the saved inputs.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(
        x: Tensor,
        z: Tensor,
        q: Tensor | None,
        r: Tensor | None,
        opts: tuple[float, ...],
        limit: bool,
    ) -> Any:
        cp, cn = _coefficients(z, q, r, opts[3])
        loss, derivative = _sigmoid_family(x, cp, cn, opts, slope=True, limit=limit)
        return loss, derivative

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        x, z, q, r, opts, _ = inputs
        ctx.mark_non_differentiable(output[1])
        ctx.save_for_backward(x, z, q, r, output[1])
        ctx.opts = opts

    @staticmethod
    def backward(ctx: Any, grad: Tensor, _unused: Any) -> Any:
        x, z, q, r, derivative = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if torch.is_grad_enabled() or any(needs[1:4]):
            opts = ctx.opts
            grads = _by_autograd(
                lambda a, b, c, d: shared.sigmoid_family_generic(a, b, c, d, opts),
                (x, z, q, r),
                needs,
                grad,
            )
            return (*grads, None, None)
        return grad * derivative, None, None, None, None, None

    @staticmethod
    def jvp(ctx: Any, *tangents: Any) -> Any:
        raise v.forward_mode_error("the sigmoid focal and asymmetric losses")


def _by_autograd(
    generic: Callable[..., Tensor],
    inputs: tuple[Tensor | None, ...],
    needs: tuple[bool, ...],
    grad: Tensor,
) -> tuple[Tensor | None, ...]:
    """The backward pass by autograd of the generic formula (differentiable if grad is on).

    Each input that needs a gradient enters through an alias of itself, so that a
    gradient counts only the paths through that input (``1 - alpha`` and ``alpha`` both
    enter the focal loss) and stays connected to the input's history for double backward.
    """
    create_graph = torch.is_grad_enabled()
    wanted = [need and t is not None for t, need in zip(inputs, needs, strict=False)]
    with torch.enable_grad():
        aliases = tuple(
            t.view_as(t) if want and t is not None else t
            for t, want in zip(inputs, wanted, strict=False)
        )
        out = generic(*aliases)
        targets = [a for a, want in zip(aliases, wanted, strict=False) if want and a is not None]
        grads = iter(torch.autograd.grad(out, targets, grad, create_graph=create_graph))
    return tuple(next(grads) if want else None for want in wanted)


# ----------------------------------------------------------------------------- softmax


def _limited(x: Tensor, limit: bool) -> tuple[Tensor, Tensor | None, Tensor]:
    """Rows holding ``+inf`` at their limit, the mask ``(N, 1)`` of those rows, and the max.

    As :func:`wxent._core.numerics.limit_logits`: 0 at the ``+inf`` entries, ``-inf``
    elsewhere in the row; other rows unchanged. The gradient in such a row is 0. The
    row maxima ``(N, 1)`` are those of the returned logits. ``limit=False`` leaves the
    logits as they are (a ``+inf`` row then gives a NaN loss, which the caller's one
    read answers by recomputing exactly) and returns no mask.
    """
    m = x.amax(dim=1, keepdim=True)
    if not limit:
        return x, None, m
    rows = m == math.inf
    return torch.where(rows, torch.where(x == math.inf, 0.0, -math.inf), x), rows, m


def _zero_rows(t: Tensor, rows: Tensor | None) -> Tensor:
    """``t`` with the rows ``rows`` (``(N, 1)`` bool) set to 0: the gradient of +inf rows."""
    return t if rows is None else torch.where(rows, 0.0, t)


def _row_stats(x: Tensor, m: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Shift ``m`` (0 where the row's max is ``-inf``), ``exp(x - m)`` and its row sums.

    ``m`` is the row maxima ``(N, 1)`` of ``x``. A row whose max is ``+inf`` (not taken
    to its limit) or NaN keeps it: its every value is then NaN, never a finite or
    infinite loss with a NaN gradient.
    """
    m = torch.where(m == -math.inf, 0.0, m)
    e = (x - m).exp_()
    return m, e, e.sum(dim=1)


def _sparse(
    x: Tensor, y: Tensor, gamma: float, limit: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-row ``F_y``, shift ``m``, ``total`` and ``k_y``: ``dF_y/dx_j = (delta_yj - p_j) k_y``.

    ``p = exp(x - m) / total``: in the shifted logits, never ``exp(x - lse)``, whose
    ``lse = m + log(total)`` rounds ``log(total)`` away at large ``|x|``. In a row holding
    ``+inf`` (the loss of its limit, gradient 0) and in a row of only ``-inf``, ``total``
    is 0 (and ``k_y`` 0 in the former): the backward pass zeroes such rows.
    """
    x, infinite, m = _limited(x, limit)
    m, e, total = _row_stats(x, m)
    index = y.unsqueeze(1)
    log_total = torch.log(total)
    minus_log_p = log_total - (x.gather(1, index) - m).squeeze(1)
    if gamma == 0.0:
        loss, k = minus_log_p, torch.full_like(log_total, -1.0)
    else:
        others = e.scatter(1, index, torch.zeros_like(minus_log_p).unsqueeze(1)).sum(dim=1)
        log1m = torch.where(  # log(1 - p_y): log1p for p_y <= 1/2, the sums (exact) above
            minus_log_p >= math.log(2.0),
            torch.log1p(-torch.exp(-minus_log_p)),
            torch.log(others) - torch.log(total),
        )
        loss, k = shared.focal_and_slope(torch, minus_log_p, log1m, gamma)
    m = m.squeeze(1)
    if infinite is None:
        return loss, m, total, k
    return loss, m, total, k.masked_fill_(infinite.squeeze(1), 0.0)


class SoftmaxSparse(torch.autograd.Function):
    """Per-sample ``F_y = -(1 - p_y)**gamma log p_y`` for class indices ``y``."""

    generate_vmap_rule = True

    @staticmethod
    def jvp(ctx: Any, *tangents: Any) -> Any:
        raise v.forward_mode_error("the softmax focal loss")

    @staticmethod
    def forward(x: Tensor, y: Tensor, gamma: float, limit: bool) -> Any:
        return _sparse(x, y, gamma, limit)

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        x, y, gamma, limit = inputs
        ctx.mark_non_differentiable(output[1], output[2], output[3])
        ctx.save_for_backward(x, y, output[1], output[2], output[3])
        ctx.gamma, ctx.limit = gamma, limit

    @staticmethod
    def backward(ctx: Any, grad: Tensor, _m: Any, _total: Any, _k: Any) -> Any:
        x, y, m, total, k = ctx.saved_tensors
        if torch.is_grad_enabled() or select.batched(grad):  # (create_graph, vmap)
            gamma = ctx.gamma
            grads = _by_autograd(
                lambda a, b: shared.softmax_sparse_generic(a, b, gamma),
                (x, y),
                (True, False),
                grad,
            )
            return (*grads, None, None)
        scale = (grad * k).unsqueeze(1)
        gx = (x - m.unsqueeze(1)).exp_().mul_(scale.neg() / total.unsqueeze(1))  # -p * scale
        gx = gx.scatter_add_(1, y.unsqueeze(1), scale)
        # Rows holding +inf and rows of only -inf: total = 0 (and their gradient 0).
        rows = (total == 0.0).unsqueeze(1) if ctx.limit else None
        return _zero_rows(gx, rows), None, None, None


def _dense(
    x: Tensor, t: Tensor, gamma: float, *, slope: bool, limit: bool
) -> tuple[Tensor, Tensor | None, Tensor]:
    """Per-row ``sum_c t_c F_c``, the gradient of it (or ``None``), and ``F``.

    Rows holding ``+inf`` take their limit, with gradient 0.
    """
    x, infinite, m = _limited(x, limit)
    m = torch.where(m == -math.inf, 0.0, m)  # as _row_stats, keeping z = x - m
    z = x - m
    e = torch.exp(z)
    total = e.sum(dim=1)
    # -log p = log(total) - z in the shifted logits (lse - x cancels at large |x|).
    minus_log_p = torch.log(total).unsqueeze(1) - z
    del z
    p = e.div_(total.unsqueeze(1))
    if gamma == 0.0:
        terms = minus_log_p
        k = torch.full_like(x, -1.0)
    else:
        is_max = x == m
        count = is_max.sum(dim=1, dtype=x.dtype)
        rest = torch.where(is_max, 0.0, p).sum(dim=1) + (count - 1.0) / total
        log1m = torch.where(is_max, torch.log(rest).unsqueeze(1), torch.log1p(-p))
        terms, k = shared.focal_and_slope(torch, minus_log_p, log1m, gamma)
    loss = _where_zero(t, t * terms).sum(dim=1)
    if not slope:
        return loss, None, terms
    tk = t * k
    derivative = tk - p * tk.sum(dim=1, keepdim=True)
    return loss, _zero_rows(derivative, infinite), terms


def _targets(rows: Tensor, labels: Tensor, eps: float) -> Tensor:
    """Smoothed targets ``(N, C)`` of class indices ``(N,)`` or probabilities ``(N, C)``."""
    num_classes = rows.shape[1]
    if labels.dim() == 2:
        return labels * (1.0 - eps) + eps / num_classes if eps else labels
    targets = torch.full_like(rows, eps / num_classes)
    peak = torch.full((rows.shape[0], 1), 1.0 - eps, dtype=rows.dtype, device=rows.device)
    return targets.scatter_add(1, labels.unsqueeze(1), peak)


class SoftmaxDense(torch.autograd.Function):
    """Per-sample ``sum_c t_c F_c`` for smoothed class indices or probability labels.

    Inputs: logits ``(N, C)``, labels (indices ``(N,)`` or probabilities ``(N, C)``),
    ``eps`` and ``gamma``; the smoothed targets are rebuilt where needed, not kept.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, labels: Tensor, eps: float, gamma: float, limit: bool) -> Any:
        targets = _targets(x, labels, eps)
        loss, derivative, _ = _dense(x, targets, gamma, slope=True, limit=limit)
        return loss, derivative

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        x, labels, eps, gamma, _ = inputs
        ctx.mark_non_differentiable(output[1])
        ctx.save_for_backward(x, labels, output[1])
        ctx.opts = (eps, gamma)

    @staticmethod
    def backward(ctx: Any, grad: Tensor, _unused: Any) -> Any:
        x, labels, derivative = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if torch.is_grad_enabled() or needs[1]:
            eps, gamma = ctx.opts
            grads = _by_autograd(
                lambda a, b: shared.softmax_dense_generic(a, b, eps, gamma),
                (x, labels),
                needs[:2],
                grad,
            )
            return (*grads, None, None, None)
        return grad.unsqueeze(1) * derivative, None, None, None, None

    @staticmethod
    def jvp(ctx: Any, *tangents: Any) -> Any:
        raise v.forward_mode_error("the softmax focal loss")


def _recording(*tensors: Tensor | None) -> bool:
    """Whether autograd records an operation on ``tensors`` (else: forward only)."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def softmax_sparse(rows: Tensor, labels: Tensor, gamma: float, *, limit: bool = True) -> Tensor:
    """Per-row focal loss of class indices (``rows`` is ``(N, C)``).

    ``limit=False`` skips the pass that takes ``+inf`` rows to their limit: they then give
    a NaN loss, for a caller that reads the result anyway and recomputes exactly.
    """
    if not _recording(rows):
        return _sparse(rows, labels, gamma, limit)[0]
    return SoftmaxSparse.apply(rows, labels, gamma, limit)[0]


def softmax_dense(
    rows: Tensor, labels: Tensor, eps: float, gamma: float, *, limit: bool = True
) -> Tensor:
    """Per-row focal loss of smoothed indices ``(N,)`` or probabilities ``(N, C)``."""
    if not _recording(rows, labels):
        targets = _targets(rows, labels, eps)
        return _dense(rows, targets, gamma, slope=False, limit=limit)[0]
    return SoftmaxDense.apply(rows, labels, eps, gamma, limit)[0]


def sigmoid_family(
    x: Tensor,
    z: Tensor,
    q: Tensor | None,
    r: Tensor | None,
    opts: tuple[float, ...],
    *,
    limit: bool = True,
) -> Tensor:
    """Per-element losses of :class:`SigmoidFamily` (forward only when nothing records).

    ``limit=False`` skips the masks that take a zero coefficient times an infinite term
    to 0: such an element is then NaN, for a caller that reads the result anyway and
    recomputes exactly. On the host this makes the call branch-free.
    """
    if not _recording(x, z, q, r):
        cp, cn = _coefficients(z, q, r, opts[3])
        return _sigmoid_family(x, cp, cn, opts, slope=False, limit=limit)[0]
    return SigmoidFamily.apply(x, z, q, r, opts, limit)[0]
