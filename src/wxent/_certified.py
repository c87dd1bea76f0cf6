"""Float64 Bayes decisions of float32 probabilities on the host, at float32 GEMM speed.

NumPy's metrics decide ``argmin_k sum_j p_j costs[j, k]`` with float32 (or 16-bit)
probabilities ``p`` and a float64 cost matrix, so the risks are one float64 matrix
product. :func:`bayes_decision_float64` gives the same decisions from a float32 product
and a certified bound on its error: a row whose best column beats every other column by
more than the bound is decided by the float32 risks; only the columns within the bound of
the best (usually one or two) are recomputed in float64, and the float64 values decide,
ties to the smallest index as before.

**The bound.** For ``n`` classes, exact risks ``S_k = sum_j p_j c_jk`` of non-negative
terms, unit roundoff ``u = 2**-24``: the float32 product of ``p`` and ``fl32(c)``
differs from ``S_k`` by at most ``(gamma_n (1 + u) + u) S_k`` for any order of summation
(Higham, *Accuracy and Stability of Numerical Algorithms*, 3.1), plus what underflow
(gradual or flushed to zero, inputs treated as zero) takes: below ``2**-126 (2 + max c)``
per term and per addition. The float64 product differs from ``S_k`` by at most
``gamma_n(2**-53) S_k`` and a negligible absolute term. ``rho = 2 (n + 2) u`` covers all
relative terms while ``n u <= 0.01`` (``n`` up to 167772); beyond that, or for costs above
``2**100`` (their float32 products could overflow), every row is decided in float64.
"""

from __future__ import annotations

import numpy as np

_U32 = 2.0**-24
_TINY32 = 2.0**-126
_MAX_COST = 2.0**100
_CHUNK_ELEMENTS = 2**21  # float64 elements of (pairs, C) recomputed at once (16 MiB)


def bayes_decision_float64(
    p: np.ndarray, costs: np.ndarray, costs32: np.ndarray | None = None
) -> np.ndarray:
    """``argmin(p.astype(float64) @ costs, axis=1)`` for float32/16-bit ``p`` ``(N, C)``.

    ``costs`` is the float64 ``(C, C)`` matrix, finite and non-negative (checked by the
    callers); ``costs32``, when given, is the float32 matrix it was converted from (used
    as it is: no float32 copy). Rows with NaN probabilities are decided as the float64
    product decides them.
    """
    n_rows, n = p.shape
    cmax = float(costs.max()) if costs.size else 0.0
    cmin = float(costs.min()) if costs.size else 0.0  # (negative: validate=False)
    rho = 2.0 * (n + 2) * _U32
    if n_rows == 0 or n < 2 or rho > 0.02 or not (cmin >= 0.0 and cmax <= _MAX_COST):
        return np.argmin(np.matmul(p.astype(np.float64), costs), axis=1)
    p32 = p.astype(np.float32, copy=False)
    r32 = np.matmul(p32, costs.astype(np.float32) if costs32 is None else costs32)
    decision = np.argmin(r32, axis=1)
    low = r32[np.arange(n_rows), decision].astype(np.float64)  # row minimum (NaN rows: NaN)
    rho = rho / (1.0 - rho)
    small = 4.0 * (n + 1) * _TINY32 * (2.0 + cmax)  # underflow, per risk
    # |r32_k - r64_k| <= bound(r32_k) = rho (r32_k + small) + small, increasing in r32_k:
    # a column can beat the best one only if r32_k - bound(r32_k) <= low + bound(low).
    top = low + rho * (low + small) + small
    limit = (top + (1.0 + rho) * small) / (1.0 - rho) * (1.0 + 2.0**-40)
    limit32 = np.nextafter(limit.astype(np.float32), np.float32(np.inf))
    close = r32 <= limit32[:, None]
    contested = np.flatnonzero((np.count_nonzero(close, axis=1) != 1) | np.isnan(low))
    if contested.size == 0:
        return decision
    nan = np.isnan(low[contested])
    if nan.any():  # decided by the float64 product, as before
        whole = contested[nan]
        decision[whole] = np.argmin(np.matmul(p[whole].astype(np.float64), costs), axis=1)
        contested = contested[~nan]
    rows, cols = np.nonzero(close[contested])
    if rows.size * 16 > contested.size * n:  # many close columns: whole rows in float64
        decision[contested] = np.argmin(np.matmul(p[contested].astype(np.float64), costs), axis=1)
        return decision
    rows = contested[rows]
    risks = np.empty(rows.size)
    chunk = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, rows.size, chunk):
        r, k = rows[start : start + chunk], cols[start : start + chunk]
        columns = np.ascontiguousarray(costs[:, k].T)  # (pairs, C), the sums along rows
        risks[start : start + chunk] = (p[r].astype(np.float64) * columns).sum(axis=1)
    # per row, the smallest float64 risk, the smallest column on ties
    order = np.lexsort((cols, risks, rows))
    first = np.ones(order.size, dtype=bool)
    first[1:] = rows[order][1:] != rows[order][:-1]
    best = order[first]
    decision[rows[best]] = cols[best]
    return decision
