"""The fits of :func:`wxent.calibrate`: damped Newton steps in float64 on the host.

Each fit is a convex problem in one or two parameters. The logits are first divided by a
power of two near their root mean square (:func:`unit_scale`), and the scale is given
back to the fitted parameter: the fit does not depend on the logits' magnitude.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def softplus(t: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, t)


def sigmoid(t: np.ndarray) -> np.ndarray:
    return np.exp(-softplus(-t))


# Newton stops once a step improves the objective (a weighted mean in nats, the weights
# summing to 1) by at most this: the step before it was quadratically close to the optimum,
# and on data without a finite optimum (Platt scaling of separable labels) nothing is gained
# by going on.
IMPROVEMENT = 1e-13

# -log(2**-53): a label's probability calibrated from a margin of this many nats (plus the
# log of its competitors) rounds to 1 in float64.
SATURATED = 37.0


def _newton(
    loss: Any, grad_hess: Any, start: np.ndarray, max_iter: int, lower: float | None
) -> np.ndarray:
    """Damped Newton steps with backtracking on a convex objective (1 or 2 parameters)."""
    p = start.astype(np.float64)
    f = loss(p)
    for _ in range(max_iter):
        g, h = grad_hess(p)
        top = float(np.abs(h).max())
        if top == 0.0 or not np.isfinite(top):  # a flat objective: nothing to fit
            break
        try:  # regularised relative to the curvature: a Newton step at any scale
            step = np.linalg.solve(h + 1e-12 * top * np.eye(p.size), g)
        except np.linalg.LinAlgError:
            step = g / top
        t = 1.0
        while t > 1e-10:
            trial = p - t * step
            if (lower is None or trial[0] > lower) and loss(trial) <= f:
                break
            t /= 2
        else:
            break
        p, f_new = trial, loss(trial)
        if f - f_new <= IMPROVEMENT * max(1.0, abs(f)):
            break
        f = f_new
    return p


def separable_bound(margins: np.ndarray, competitors: int) -> float | None:
    """The scale of logits whose labels are all on their side, or ``None`` if some are not.

    ``margins`` are the counted elements' margins (the true logit above the others, or
    a sigmoid logit on its label's side). When none is negative the objective only falls
    as the scale grows (no finite optimum): the fit is the bound beyond which no
    calibrated probability of these data changes in float64, the smallest positive
    margin calibrated to ``SATURATED + log(competitors)`` nats. Margins all 0 (or none):
    the objective is flat, scale 1.
    """
    if margins.size and float(margins.min()) < 0:
        return None
    positive = margins[margins > 0]
    if not positive.size:
        return 1.0
    return (SATURATED + math.log(max(competitors, 1))) / float(positive.min())


def unit_scale(x: np.ndarray) -> float:
    """A power of two near the logits' root mean square (1 for no or all-zero logits).

    The fits run on ``x / scale`` and give the scale back to the parameter, so that
    logits of any magnitude (``1e-12`` or ``1e6``) start near the optimum's order.
    """
    top = float(np.abs(x).max()) if x.size else 0.0
    if top == 0.0:
        return 1.0
    rms = top * float(np.sqrt(np.mean(np.square(x / top))))  # no overflow near 1e308
    # Within float64's powers of two: 2.0 ** 1024 overflows (logits near 1.8e308).
    return float(2.0 ** min(1023, max(-1074, round(math.log2(rms)))))


def unscale(a: float, scale: float) -> float:
    """``a / scale``, the fitted parameter for the logits themselves, kept finite.

    A scale below ``1 / 1.8e308`` (logits near ``1e-310``) would overflow to ``inf``,
    and ``inf * 0`` is NaN: the largest float64 is the limit there.
    """
    top = float(np.finfo(np.float64).max)
    return max(-top, min(top, a / scale))


def fit_sigmoid(
    x: np.ndarray, z: np.ndarray, w: np.ndarray, method: str, max_iter: int
) -> tuple[float, float]:
    """Weighted maximum likelihood of ``sigmoid(a x + b)`` (``b = 0`` for temperature)."""
    total = w.sum()
    if total == 0:
        return 1.0, 0.0
    w = w / total
    scale = unit_scale(x[w > 0])
    a, b = _fit_sigmoid_unit(x / scale, z, w, method, max_iter)
    return unscale(a, scale), b


def _fit_sigmoid_unit(
    x: np.ndarray, z: np.ndarray, w: np.ndarray, method: str, max_iter: int
) -> tuple[float, float]:

    def affine(p: np.ndarray) -> np.ndarray:
        return p[0] * x + (p[1] if p.size > 1 else 0.0)

    def loss(p: np.ndarray) -> float:
        t = affine(p)
        return float(np.sum(w * (softplus(t) - z * t)))

    def grad_hess(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = sigmoid(affine(p))
        r, c = w * (s - z), w * s * (1 - s)
        if p.size == 1:
            return np.array([np.sum(r * x)]), np.array([[np.sum(c * x * x)]])
        g = np.array([np.sum(r * x), np.sum(r)])
        h = np.array([[np.sum(c * x * x), np.sum(c * x)], [np.sum(c * x), np.sum(c)]])
        return g, h

    if method == "temperature" and np.all((z == 0) | (z == 1)):
        bound = separable_bound(np.where(z == 1, x, -x)[w > 0], 1)
        if bound is not None:
            return bound, 0.0
    start = np.array([1.0]) if method == "temperature" else np.array([1.0, 0.0])
    p = _newton(loss, grad_hess, start, max_iter, 0.0 if method == "temperature" else None)
    return float(p[0]), float(p[1]) if p.size > 1 else 0.0


def fit_temperature_softmax(x: np.ndarray, y: np.ndarray, w: np.ndarray, max_iter: int) -> float:
    """``a = 1 / T`` minimising the weighted NLL of ``softmax(a x)`` (``x``: ``(N, C)``)."""
    total = w.sum()
    if total == 0:
        return 1.0
    w = w / total
    # A row spanning more than float64's range (1e308 and -1e308) would overflow in its
    # shift: such logits are first divided by 4 (exact), given back with the scale.
    pre = 4.0 if x.size and float(np.abs(x).max()) > np.finfo(np.float64).max / 2 else 1.0
    x = x / pre
    x = x - x.max(axis=1, keepdims=True)  # a shift per row changes nothing
    scale = unit_scale(x[w > 0])
    x = x / scale
    xy = x[np.arange(x.shape[0]), y]
    if x.shape[1] > 1:
        others = np.where(np.arange(x.shape[1]) == y[:, None], -np.inf, x).max(axis=1)
        bound = separable_bound((xy - others)[w > 0], x.shape[1] - 1)
        if bound is not None:
            return bound / scale / pre

    def loss(p: np.ndarray) -> float:
        lse = np.log(np.exp(p[0] * x).sum(axis=1))
        return float(np.sum(w * (lse - p[0] * xy)))

    def grad_hess(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e = np.exp(p[0] * x)
        prob = e / e.sum(axis=1, keepdims=True)
        mean = (prob * x).sum(axis=1)
        var = (prob * x * x).sum(axis=1) - mean**2
        return np.array([np.sum(w * (mean - xy))]), np.array([[np.sum(w * var)]])

    a = float(_newton(loss, grad_hess, np.array([1.0]), max_iter, 0.0)[0])
    return unscale(unscale(a, scale), pre)
