"""The math of the class-weight schemes, in two forms: direct and in logarithms.

:func:`wxent.class_weights` uses the direct formulas when every count lies in
``DIRECT`` (no intermediate can overflow or underflow there), and the logarithmic form
otherwise: counts from the smallest subnormal to the largest float64 give the exact
weights in logs, and only a weight that float64 itself cannot hold is refused.
"""

from __future__ import annotations

import numpy as np

# Counts in this range give weights that the direct formulas compute without overflow
# or underflow; outside it the weights are computed in logs.
DIRECT = (1e-100, 1e100)


def lse(x: np.ndarray) -> float:
    """``log(sum(exp(x)))`` without overflow (``x`` finite, non-empty)."""
    m = float(x.max())
    return m + float(np.log(np.exp(x - m).sum()))


def _log1mexp(a: np.ndarray, log_a: np.ndarray) -> np.ndarray:
    """``log(1 - exp(-a))`` for ``a >= 0``, from ``a`` and ``log(a)``."""
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        tiny = log_a - a / 2.0  # log(a) + log(1 - a/2 + ...), exact to float64 for a < 1e-8
        small = np.log(-np.expm1(-a))
        large = np.log1p(-np.exp(-a))
    return np.where(a < 1e-8, tiny, np.where(a < np.log(2.0), small, large))


def log_scheme(n_c: np.ndarray, missing: np.ndarray, scheme: str, beta: float) -> np.ndarray:
    """The logarithm of the scheme's weights (entries of missing classes unused)."""
    log_n = np.log(np.where(missing, 1.0, n_c))
    present = log_n[~missing]
    if scheme == "balanced":
        return lse(present) - np.log(n_c.size) - log_n
    if scheme == "inverse":
        return -log_n
    if scheme == "inverse_sqrt":
        return -0.5 * log_n
    if scheme == "effective_number":
        if beta == 0:
            return np.zeros(n_c.size)
        rate = -np.log(beta)
        log_a = log_n + np.log(rate)
        with np.errstate(over="ignore"):
            a = np.exp(log_a)
        return np.log1p(-beta) - _log1mexp(a, log_a)
    # median_frequency: median_c(n_c) / n_c, the median taken in logs as np.median does
    s = np.sort(present)
    k = s.size
    log_median = s[k // 2] if k % 2 else np.logaddexp(s[k // 2 - 1], s[k // 2]) - np.log(2.0)
    return log_median - log_n


def direct_scheme(n_c: np.ndarray, missing: np.ndarray, scheme: str, beta: float) -> np.ndarray:
    """The scheme's weights, for counts within ``DIRECT``."""
    safe = np.where(missing, 1.0, n_c)
    total = float(n_c.sum())
    if scheme == "balanced":
        return total / (n_c.size * safe)
    if scheme == "inverse":
        return 1.0 / safe
    if scheme == "inverse_sqrt":
        return 1.0 / np.sqrt(safe)
    if scheme == "effective_number":
        if beta == 0:
            return np.ones(n_c.size)
        return (1.0 - beta) / -np.expm1(safe * np.log(beta))
    freq = safe / total
    return float(np.median(freq[~missing])) / freq
