"""The chunk step of the linear cross-entropy on the softmax kernels (torch tensors).

:func:`wxent._fastpaths.linear_torch` computes each chunk of logits with a matmul and
hands it here: the forward kernel of :mod:`wxent._fastpaths.triton_softmax` gives the
per-row losses and its backward kernel overwrites the chunk with the gradient, in place.
Rows holding ``+inf`` take the limits of the unfused loss there (gradient 0), rows of
coefficient 0 get gradient 0 whatever their logits.
"""

from __future__ import annotations

import torch

from wxent._fastpaths import triton_common as common
from wxent._fastpaths.select import LAUNCHES
from wxent._fastpaths.triton_softmax import _backward, _forward
from wxent._types import Array


def linear_chunk_step(logits: Array, labels: Array, coef: Array | None, eps: float) -> Array:
    """The chunk step of the linear cross-entropy: per-row losses, gradient in place.

    Args:
        logits: contiguous ``(R, V)`` chunk of logits (bias included); overwritten with
            ``coef * (softmax - t)`` in its own dtype when ``coef`` is given.
        labels: ``(R,)`` integer class indices in ``[0, V)``, any layout.
        coef: ``(R,)`` float32 coefficients of the gradient, any layout, or ``None`` for
            no gradient.
        eps: label smoothing.

    Returns:
        The unweighted per-row losses, float32.
    """
    LAUNCHES["linear_cross_entropy"] += 1
    # The kernels index labels and coefficients by row: strided labels (unchecked calls
    # keep the caller's), or an upstream gradient of stride 0 (the backward pass of
    # `loss.sum()` with reduction="none") were read as contiguous, past their values.
    labels = common.plain(labels).contiguous()
    coef = None if coef is None else common.plain(coef).contiguous()
    n = logits.shape[0]
    lse = None if coef is None else torch.empty((2, n), dtype=torch.float32, device=logits.device)
    out = _forward(logits, labels, None, None, None, eps, 0, lse)
    if coef is not None:  # coef as the rows' weight: 0 gives gradient 0, even at NaN logits
        saved = (logits, labels, None, None, coef, lse, None)
        _backward(saved, eps, None, logits)
    return out[0]
