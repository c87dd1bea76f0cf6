"""NumPy kernels: row-blocked softmax and sigmoid cross-entropy.

The straightforward NumPy versions make several passes over freshly allocated ``(N, C)``
arrays; these kernels shift, exponentiate and sum each block of rows while it is in
cache, in one scratch buffer (measured in BENCHMARKS.md).
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

    With ``sp = softplus(x) = max(x, 0) + log1p(exp(-|x|))`` (one ``exp`` per logit) and
    ``softplus(-x) = sp - x``, computed block by block in the output buffer.
    """
    n, num_classes = x.shape
    out = np.empty_like(x)
    rows = _block_rows(num_classes)
    # Infinite logits give NaN here (inf - inf); the caller recomputes those exactly.
    with np.errstate(invalid="ignore", over="ignore"):
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            xb, tb, ob = x[start:stop], t[start:stop], out[start:stop]
            np.abs(xb, out=ob)
            np.negative(ob, out=ob)
            np.exp(ob, out=ob)
            np.log1p(ob, out=ob)
            ob += np.maximum(xb, 0.0)  # ob = softplus(x)
            if q is None and r is None:
                ob -= tb * xb  # t * (sp - x) + (1 - t) * sp
                continue
            pos = tb * (ob - xb)
            if q is not None:
                pos *= q
            ob *= 1.0 - tb
            if r is not None:
                ob *= r
            ob += pos
    return out
