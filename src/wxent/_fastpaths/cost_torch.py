"""PyTorch custom gradient of the expected cost (and of cross-entropy plus cost) on the host.

The generic formulas (:func:`wxent._core.cost.expected_cost`) take the row limits of
``+inf`` logits, a ``log_softmax``, its ``exp``, the gathered cost rows and their product:
about a dozen passes over the ``(N, C)`` logits forward, as many backward, and autograd
keeps each intermediate. Here, per row with integer labels ``y``::

    p = softmax(x),  e = sum_j costs[y, j] p_j,  de/dx_j = p_j (costs[y, j] - e)

and, for :func:`wxent.cost_sensitive_cross_entropy`, ``l = ce + w * e`` with the
(smoothed) cross-entropy ``ce`` and its gradient ``p - t``. The forward pass is a row
maximum, one ``exp``, a row sum, the gathered cost rows and a row-wise dot product; it
keeps ``p`` (one logits' worth) and ``e`` for the backward pass, which gathers the cost
rows again.

Inexact, like the native cross-entropy kernels: a row holding ``+inf`` (whose limit the
generic path takes) and a row of only ``-inf`` give NaN. It runs only where the call's
one read sees that NaN without a device sync (on the host, :meth:`Inputs.may_fall_back`)
and then recomputes exactly on the generic path. Second derivatives, ``vmap``-batched
gradients and gradients of the cost matrix take autograd through the generic formulas.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from wxent import _namespace as ns
from wxent import _validation as v
from wxent._core import cost as core_cost
from wxent._core import softmax as core_softmax
from wxent._fastpaths import focal_torch, select

Tensor = torch.Tensor


def _forward(
    x: Tensor, y: Tensor, costs: Tensor, weight: float, eps: float, ce: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-row loss, ``p`` and ``e`` (``x`` is ``(N, C)``, ``y`` ``(N,)``).

    In the shifted logits ``z = x - max(x)``, as the generic formulas: ``-log p_y`` is
    ``log(total) - z_y``, never ``lse - x_y``, which cancels at large ``|x|``.
    """
    m = x.amax(dim=1, keepdim=True)
    p = torch.sub(x, m)
    mean_z = p.mean(dim=1) if ce and eps else None
    p = p.exp_()
    total = p.sum(dim=1, keepdim=True)
    p = p.div_(total)
    rows = costs.index_select(0, y)
    with ns.no_autocast(x):  # (a dot product autocast would take in 16 bits)
        e = torch.linalg.vecdot(rows, p)
    if not ce:
        return e, p, e.clone()  # (a distinct tensor: the loss stays differentiable)
    log_total = torch.log(total).squeeze(1)
    z_y = x.gather(1, y.unsqueeze(1)).squeeze(1).sub_(m.squeeze(1))
    loss = log_total - z_y
    if mean_z is not None:
        loss = loss.mul_(1.0 - eps).add_(log_total.sub_(mean_z).mul_(eps))
    return loss.add_(e, alpha=weight) if weight else loss, p, e


def _generic(x: Tensor, y: Tensor, costs: Tensor, weight: float, eps: float, ce: bool) -> Tensor:
    """The generic per-row formula (for second derivatives and batched gradients)."""
    xp = ns.namespace(x)
    cost = core_cost.expected_cost(x, y, costs, indices=True, axis=1, xp=xp)
    if not ce:
        return cost
    loss = core_softmax.softmax_cross_entropy_indices(x, y, axis=1, label_smoothing=eps, xp=xp)
    return loss + weight * cost if weight else loss


class ExpectedCost(torch.autograd.Function):
    """Per-row ``e`` (``ce=False``) or ``ce + weight * e`` keeping ``p`` and ``e``."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, y: Tensor, costs: Tensor, weight: float, eps: float, ce: bool) -> Any:
        return _forward(x, y, costs, weight, eps, ce)

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        x, y, costs, weight, eps, ce = inputs
        ctx.mark_non_differentiable(output[1], output[2])
        ctx.save_for_backward(x, y, costs, output[1], output[2])
        ctx.opts = (weight, eps, ce)

    @staticmethod
    def backward(ctx: Any, grad: Tensor, _p: Any, _e: Any) -> Any:
        x, y, costs, p, e = ctx.saved_tensors
        weight, eps, ce = ctx.opts
        if torch.is_grad_enabled() or select.batched(grad) or ctx.needs_input_grad[2]:
            grads = focal_torch._by_autograd(
                lambda a, b, c: _generic(a, b, c, weight, eps, ce),
                (x, y, costs),
                ctx.needs_input_grad[:3],
                grad,
            )
            return (*grads, None, None, None)
        g = grad.unsqueeze(1)
        # de/dx = p * (costs[y] - e)
        gx = costs.index_select(0, y).sub_(e.unsqueeze(1)).mul_(p)
        if ce:  # w * de/dx + p - t,  t = (1 - eps) onehot(y) + eps / C
            gx = gx.mul_(weight).add_(p)
            if eps:
                gx = gx.sub_(eps / x.shape[1])
            gx = gx.scatter_add_(1, y.unsqueeze(1), torch.full_like(p[:, :1], eps - 1.0))
        return gx.mul_(g), None, None, None, None, None

    @staticmethod
    def jvp(ctx: Any, *tangents: Any) -> Any:
        raise v.forward_mode_error("the expected-cost losses")


def losses(
    inp: Any, costs: Any, *, weight: float = 0.0, label_smoothing: float = 0.0, ce: bool
) -> Tensor | None:
    """Per-sample expected cost (``ce=False``) or ``ce + weight * cost``, or ``None``.

    ``weight`` is not 0 with ``ce`` (the cross-entropy alone has its own fast paths).

    For PyTorch logits on the host, eager (no ``torch.compile``, ``torch.func`` transform
    or forward-mode tangent), float32/float64 compute, integer labels, classes on the
    last axis and a cost matrix that needs no gradient. Sets ``inp.inexact``: a row
    holding ``+inf`` or of only ``-inf`` gives NaN, which the call's one read answers
    by recomputing exactly.
    """
    if not select.custom_gradients() or not ns.is_torch_namespace(inp.xp):
        return None
    x = inp.logits
    if (
        not inp.indices
        or not inp.may_fall_back()
        or not ns.on_host(inp.raw_logits)
        or x.dtype not in (torch.float32, torch.float64)
        or x.ndim == 0
        or inp.axis != x.ndim - 1
        or x.shape[-1] == 0
        or x.numel() == 0
        or costs.requires_grad
        or ns.torch_is_compiling()
        or select._transforms_active()
        or select.forward_ad(x, costs)
    ):
        return None
    num_classes = x.shape[-1]
    rows = x.reshape(-1, num_classes)
    labels = inp.labels.reshape(-1)
    if not math.isfinite(weight):
        return None
    inp.inexact = True
    out = ExpectedCost.apply(rows, labels, costs, float(weight), float(label_smoothing), ce)[0]
    return out.reshape(x.shape[:-1])
