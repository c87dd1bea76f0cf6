"""NumPy kernels: row-blocked softmax and sigmoid cross-entropy, focal and asymmetric losses.

The straightforward NumPy versions make several passes over freshly allocated ``(N, C)``
arrays; these kernels shift, exponentiate and sum each block of rows while it is in
cache, in one scratch buffer (measured in BENCHMARKS.md). The sigmoid kernels are
arithmetic only, with clamps for ``max(x, 0)``: a ``where``, masked copy or boolean index
over a mask that follows the logits' signs costs a branch misprediction per few elements
on CPUs (``np.where`` on such a mask took about 25 times as long as a product there),
which made the generic formulas' softplus pair most of the focal loss's time.
"""

from __future__ import annotations

import numpy as np

from wxent._core.numerics import smoothed
from wxent._types import Array

#: Rows per block: about 2**16 logits (256 KiB in float32), which keeps a block in the L2
#: cache while it is shifted, exponentiated and summed.
BLOCK_ELEMENTS = 2**16


def _block_rows(num_classes: int, elements: int | None = None) -> int:
    budget = BLOCK_ELEMENTS if elements is None else elements
    return max(1, budget // max(1, num_classes))


def numpy_softmax_losses(x: np.ndarray, labels: np.ndarray, label_smoothing: float) -> np.ndarray:
    """Row-blocked softmax CE on NumPy: one ``exp`` per logit, in place within a block.

    The straightforward version makes four passes over freshly allocated ``(N, C)``
    arrays (``x - max``, ``exp``, ``sum``, gather); here each block of rows is
    shifted, exponentiated and summed while it is in cache, in one scratch buffer.
    """
    n, num_classes = x.shape
    out = np.empty(n, dtype=x.dtype)
    rows = _block_rows(num_classes)
    buf = np.empty((min(rows, n), num_classes), dtype=x.dtype)
    ones = np.ones(num_classes, dtype=x.dtype)  # row sums as a BLAS mat-vec: faster than sum
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            block = x[start:stop]
            scratch = buf[: stop - start]
            m = block.max(axis=1)
            m[~np.isfinite(m)] = 0.0
            np.subtract(block, m[:, None], out=scratch)
            # In the shifted logits z = x - m: -log p_y = log_total - z_y (never lse - x_y,
            # which cancels at large |x|), and the mean of z, not of x, for the smoothing.
            target = scratch[np.arange(stop - start), labels[start:stop]]
            mean = (scratch @ ones) / num_classes if label_smoothing else None
            np.exp(scratch, out=scratch)
            log_total = np.log(scratch @ ones)
            loss = log_total - target
            if mean is not None:
                loss = smoothed(loss, log_total - mean, label_smoothing)
            out[start:stop] = loss
    return out


def numpy_softmax_probability_losses(
    x: np.ndarray, t: np.ndarray, label_smoothing: float
) -> np.ndarray:
    """Row-blocked ``-sum_c t'_c log_softmax(x)_c`` with ``t' = t (1 - eps) + eps / C``.

    Uses ``-sum t' (z - log_total) = log_total * sum(t') - sum(t' z)`` in the shifted
    logits ``z = x - max(x)`` (accurate at large ``|x|``, where ``lse(x)`` would round
    ``log_total`` away): one ``exp`` per logit, and ``t * z`` is 0 where ``t == 0`` (also at
    ``z = -inf``).
    """
    n, num_classes = x.shape
    out = np.empty(n, dtype=x.dtype)
    rows = _block_rows(num_classes)
    buf = np.empty((min(rows, n), num_classes), dtype=x.dtype)
    products = np.empty_like(buf)
    ones = np.ones(num_classes, dtype=x.dtype)
    eps = label_smoothing
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            block, tb = x[start:stop], t[start:stop]
            scratch = buf[: stop - start]
            m = block.max(axis=1)
            m[~np.isfinite(m)] = 0.0
            np.subtract(block, m[:, None], out=scratch)
            tz = products[: stop - start]
            np.multiply(tb, scratch, out=tz)
            np.copyto(tz, 0.0, where=tb == 0)
            t_sum, tz_sum = tb @ ones, tz @ ones
            if eps:
                t_sum = (1.0 - eps) * t_sum + eps
                tz_sum = (1.0 - eps) * tz_sum + (eps / num_classes) * (scratch @ ones)
            np.exp(scratch, out=scratch)
            out[start:stop] = np.log(scratch @ ones) * t_sum - tz_sum
    return out


def numpy_sigmoid_losses(
    x: np.ndarray, t: np.ndarray, q: Array | None, r: Array | None
) -> np.ndarray:
    """Row-blocked ``q*t*softplus(-x) + r*(1-t)*softplus(x)`` (NaN at infinite ``x``).

    With ``l = log1p(exp(-|x|))`` (one ``exp`` per logit), ``softplus(x) = relu(x) + l``
    and ``softplus(-x) = (relu(x) - x) + l``, computed block by block in the output
    buffer. ``l`` is added last: ``relu(x) - x`` is exactly ``relu(-x)``, so a small loss
    far on its label's side keeps its digits (``softplus(x) - x`` rounded the loss of
    label 1 at logit 17 to 0).
    """
    n, num_classes = x.shape
    out = np.empty_like(x)
    rows = _block_rows(num_classes)
    scratch = np.empty((min(rows, n), num_classes), dtype=x.dtype)
    # Infinite logits give NaN here (inf - inf); the caller recomputes those exactly.
    with np.errstate(invalid="ignore", over="ignore"):
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            xb, tb, ob = x[start:stop], t[start:stop], out[start:stop]
            np.abs(xb, out=ob)
            np.negative(ob, out=ob)
            np.exp(ob, out=ob)
            np.log1p(ob, out=ob)  # ob = l
            # relu(x) as a clamp into scratch: np.maximum(x, 0.0) took about 3 times
            # as long on random signs (BENCHMARKS.md), and allocated.
            relu = np.clip(xb, 0.0, np.inf, out=scratch[: stop - start])
            if q is None and r is None:
                relu -= tb * xb  # t*relu(-x) + (1-t)*relu(x): exact for labels 0 and 1
                ob += relu
                continue
            pos = tb * ((relu - xb) + ob)  # t * softplus(-x)
            if q is not None:
                pos *= q
            ob += relu  # softplus(x)
            ob *= 1.0 - tb
            if r is not None:
                ob *= r
            ob += pos
    return out


def numpy_sigmoid_family_losses(
    x: np.ndarray,
    t: np.ndarray,
    q: np.ndarray | None,
    r: np.ndarray | None,
    *,
    gamma_pos: float,
    gamma_neg: float,
    clip: float,
) -> np.ndarray:
    """Blocked ``q*t*A(x) + r*(1-t)*N(x)`` of the focal and asymmetric losses (see below).

    ``A = -(1 - p)**gamma_pos * log(p)`` and ``N = -p_m**gamma_neg * log(1 - p_m)``
    with ``p_m = max(p - clip, 0)``: the terms of
    :func:`wxent._core.sigmoid.binary_terms`, by the same formulas in the same order, so
    that the losses equal the generic path's at every finite logit (``|x| > FAR``
    included: there the softplus pair is ``(x, 0)`` or ``(0, -x)`` and the factors
    exactly 1 or 0, the generic path's far branches). Only where a term's coefficient is
    0 and the term infinite (an infinite logit on its label's side, or a zero weight)
    is the loss NaN here (``0 * inf``), not 0: the caller sets ``inp.inexact`` and
    :func:`wxent._prepare.finish` recomputes those calls on the exact path.

    Branch-free: on CPUs a ``where`` or a comparison over a mask that follows the
    signs of the logits costs a branch misprediction per few elements (about 25 times
    an arithmetic pass); here the softplus pair is ``max(x, 0) + l`` and ``l - min(x,
    0)`` with ``l = log1p(exp(-|x|))`` (clamps, which are vectorised), the factors
    ``exp(-gamma * softplus)``, and the clip's inactive negatives are 0 through
    ``p_m = 0`` (``0**gamma_neg`` as ``exp(gamma_neg * log 0) = 0``; a comparison and a
    product where ``gamma_neg`` is 0). Each block of about :data:`BLOCK_ELEMENTS`
    values is computed in scratch buffers while it is in cache.

    Args:
        x: the logits, float32 or float64, 1-D or 2-D ``(rows, K)``.
        t: the (smoothed) labels, the logits' shape and dtype.
        q: ``pos_weight``: ``None``, a scalar, or ``(K,)`` (2-D logits), the logits' dtype.
        r: ``neg_weight``, as ``q``.
        gamma_pos: focusing parameter of the positive term, ``>= 0``.
        gamma_neg: focusing parameter of the negative term, ``>= 0``.
        clip: the probability margin in ``[0, 1]`` (0 for the focal loss).

    Returns:
        The per-element losses, the logits' shape.
    """
    out = np.empty_like(x)
    if x.ndim == 1:
        step = BLOCK_ELEMENTS
        size = x.shape[0]
    else:
        step = _block_rows(x.shape[1])
        size = x.shape[0]
    block_shape = (min(step, size), *x.shape[1:])
    u, sp, smx, f, g = (np.empty(block_shape, dtype=x.dtype) for _ in range(5))
    mask = np.empty(block_shape, dtype=bool) if clip and not gamma_neg else None
    inf = np.inf
    # exp(-gamma * inf) and log(0) are the limits 0 and -inf; 0 * inf is NaN, on purpose.
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        for start in range(0, size, step):
            stop = min(start + step, size)
            n = stop - start
            xb, tb, ob = x[start:stop], t[start:stop], out[start:stop]
            ub, spb, smb, fb, gb = u[:n], sp[:n], smx[:n], f[:n], g[:n]
            # l = log1p(exp(-|x|)); softplus(x) = max(x, 0) + l, softplus(-x) = l - min(x, 0)
            np.clip(xb, 0.0, inf, out=spb)
            np.clip(xb, -inf, 0.0, out=smb)
            np.subtract(smb, spb, out=ub)  # -|x|, exactly
            np.exp(ub, out=ub)
            np.log1p(ub, out=ub)
            spb += ub
            np.subtract(ub, smb, out=smb)
            # The negative term N, in gb (or spb itself).
            if clip:
                if clip >= 0.5:  # (see wxent._core.sigmoid.clipped_probability)
                    np.negative(spb, out=fb)
                    np.exp(fb, out=fb)  # 1 - p
                    np.subtract(1.0 - clip, fb, out=fb)  # p - clip, without cancellation
                    np.negative(fb, out=gb)
                    np.log1p(gb, out=gb)
                else:
                    np.negative(smb, out=fb)
                    np.exp(fb, out=fb)  # p
                    fb -= clip  # p - clip (NaN stays NaN)
                    np.negative(spb, out=gb)
                    np.exp(gb, out=gb)  # 1 - p
                    gb += clip
                    np.log(gb, out=gb)
                np.negative(gb, out=gb)  # -log(1 - p_m) where p > clip, finite elsewhere
                if gamma_neg:
                    np.clip(fb, 0.0, inf, out=fb)  # p_m, 0 where p <= clip
                    np.log(fb, out=fb)
                    fb *= gamma_neg
                    np.exp(fb, out=fb)  # p_m**gamma_neg: exactly 0 where p <= clip
                    gb *= fb
                else:
                    assert mask is not None
                    np.greater(fb, 0.0, out=mask[:n])
                    gb *= mask[:n]
                neg = gb
            elif gamma_neg:
                np.multiply(smb, -gamma_neg, out=gb)
                np.exp(gb, out=gb)  # p**gamma_neg
                gb *= spb
                neg = gb
            else:
                neg = spb
            # The positive term A, in ub (or smb itself).
            if gamma_pos:
                np.multiply(spb, -gamma_pos, out=ub)
                np.exp(ub, out=ub)  # (1 - p)**gamma_pos
                np.multiply(smb, ub, out=ub)
                pos = ub
            else:
                pos = smb
            # q * t * A + r * (1 - t) * N, the coefficients formed first (as the core does).
            if q is None:
                np.multiply(tb, pos, out=ob)
            else:
                np.multiply(tb, q, out=ob)
                ob *= pos
            np.subtract(1.0, tb, out=fb)
            if r is not None:
                fb *= r
            fb *= neg
            ob += fb
    return out
