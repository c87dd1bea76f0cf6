"""PyTorch softmax cross-entropy with probability labels: native kernels, fewer passes.

``F.cross_entropy`` with probability targets computes ``log_softmax(x)``, multiplies it
by the targets into a new ``(N, C)`` array and sums that over the classes: on the CPU
each of those is a pass over memory. :class:`SoftTargetCE` takes the row sums
``-sum_c t_c log_softmax(x)_c`` as one batched dot product of the two arrays (read
once, nothing written) and its backward is the native one (``t * -g`` into the
log-softmax backward kernel): what the labels' value check costs is saved here. Values
equal the native op's up to the order of the summation.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from wxent._fastpaths.focal_torch import _by_autograd
from wxent._namespace import no_autocast

Tensor = torch.Tensor


class SoftTargetCE(torch.autograd.Function):
    """Per-row ``-sum_c t'_c log_softmax(x)_c`` with ``t' = t (1 - eps) + eps / C``.

    Inputs: ``(N, C)`` logits, ``(N, C)`` probability labels that need no gradient, and
    ``eps``. Keeps the log-softmax (as the native op does) and the targets for backward;
    a second derivative (``create_graph=True``) is taken by autograd through
    ``F.cross_entropy``, recomputed from the saved inputs.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, t: Tensor, eps: float) -> Tensor:
        log_p = torch.log_softmax(x, dim=1)
        target = t * (1.0 - eps) + eps / x.shape[1] if eps else t
        with no_autocast(x):  # (autocast would round the dot products to 16 bits)
            losses = torch.bmm(target.unsqueeze(1), log_p.unsqueeze(2)).reshape(-1).neg_()
        ctx.save_for_backward(x, t, log_p, target)
        ctx.eps = eps
        return losses

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Any:
        x, t, log_p, target = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: differentiable through the native op
            eps = ctx.eps
            (gx,) = _by_autograd(
                lambda a: F.cross_entropy(a, t, reduction="none", label_smoothing=eps),
                (x,),
                (True,),
                grad,
            )
            return gx, None, None
        # d/dx of -sum t' log_softmax(x), times g: the log-softmax backward of -g t'.
        upstream = target * grad.neg().unsqueeze(1)
        return torch._log_softmax_backward_data(upstream, log_p, 1, log_p.dtype), None, None


def soft_target_losses(x: Tensor, t: Tensor, eps: float) -> Tensor:
    """Per-row losses of ``(N, C)`` logits and probability labels (``F.cross_entropy``'s).

    Labels that require a gradient, and forward-mode dual tensors, take
    ``F.cross_entropy`` itself (:class:`SoftTargetCE` has no forward-mode rule).
    """
    from wxent._fastpaths import select

    if t.requires_grad or select.forward_ad(x, t):
        return F.cross_entropy(x, t, reduction="none", label_smoothing=eps)
    out: Tensor = SoftTargetCE.apply(x, t, eps)
    return out
