"""The softmax family's math: cross-entropy, focal loss, logit adjustment.

Per-sample losses of one class per sample (integer indices or probabilities).

Modulating factors such as ``(1 - p)**gamma`` are computed in log space,
``exp(gamma * log(1 - p))``, with ``log(1 - p)`` taken from log-sigmoid or from a
log-sum-exp over the other classes, never as ``1 - p``: the loss and its gradient stay
finite for every ``gamma >= 0`` (also ``gamma < 1``, where ``d/dp (1 - p)**gamma`` is
infinite at ``p = 1``) and any finite logits. A class whose ``-log p`` exceeds ``FAR``
(a masked ``-inf`` logit) has focal term ``-log p`` exactly: gradient 0 for it, and the
rest of the row as without it, never ``inf * 0`` in either pass.
"""

from __future__ import annotations

import math
from typing import Any

from wxent import _namespace as ns
from wxent._core.numerics import (
    FAR,
    class_count,
    constant,
    divide,
    has_unknown_dims,
    limit_rows,
    log_softmax,
    logsumexp,
    safe_mul,
    scale,
    shifted_log_total,
    smoothed,
    smoothing_is,
    take_along_axis,
)
from wxent._types import Array


def softmax_cross_entropy_indices(
    logits: Array, labels: Array, *, axis: int, label_smoothing: Any, xp: Any
) -> Array:
    """Per-sample softmax cross-entropy with class-index labels.

    ``l = (1 - eps) * (lse(x) - x[y]) + eps * (lse(x) - mean_c x[c])``, which equals
    ``-sum_c t_c * log_softmax(x)_c`` for the smoothed one-hot target
    ``t = (1 - eps) * onehot(y) + eps / C``, without building the one-hot array.

    Args:
        logits: ``x``, floating, classes along ``axis``.
        labels: integer class indices, the shape of ``logits`` without ``axis``, every
            entry a valid index (the caller replaces ignored ones).
        axis: the class axis (non-negative).
        label_smoothing: ``eps`` in ``[0, 1]`` (a number, or a float64 0-d array: see
            :func:`wxent._core.numerics.smoothing_is`).
        xp: the array namespace.

    Returns:
        The per-sample loss, shape of ``labels``.
    """
    # In the shifted logits z = x - shift (shift the row maximum): -log p_y is
    # log_total - z_y, never lse - x_y, which cancels at large |x| (see shifted_log_total).
    logits, shift = limit_rows(logits, axis=axis, xp=xp)
    z, log_total = shifted_log_total(logits, shift, axis=axis, xp=xp)
    index = xp.expand_dims(labels, axis=axis)
    target = take_along_axis(z, index, axis=axis, xp=xp)
    nll = xp.squeeze(log_total - target, axis=axis)
    if smoothing_is(label_smoothing, 0.0):
        return nll
    smooth = xp.squeeze(log_total, axis=axis) - xp.mean(z, axis=axis)
    return smoothed(nll, smooth, label_smoothing, xp=xp)


def smooth_probabilities(labels: Array, *, axis: int, label_smoothing: Any, xp: Any) -> Array:
    """``t = y * (1 - eps) + eps / C`` along ``axis``."""
    if smoothing_is(label_smoothing, 0.0):
        return labels
    num_classes = class_count(labels, axis=axis, xp=xp)
    if ns.is_array(label_smoothing):  # (float64, see smoothing_is): rounded once, as a number
        if not isinstance(num_classes, int):
            num_classes = xp.astype(num_classes, label_smoothing.dtype)
        keep = xp.astype(1.0 - label_smoothing, labels.dtype)
        return labels * keep + xp.astype(label_smoothing / num_classes, labels.dtype)
    return labels * (1.0 - label_smoothing) + label_smoothing / num_classes


def softmax_cross_entropy_probabilities(
    logits: Array, labels: Array, *, axis: int, label_smoothing: Any, xp: Any
) -> Array:
    """Per-sample softmax cross-entropy with probability labels.

    ``l = -sum_c t_c * log_softmax(x)_c`` with ``t = y * (1 - eps) + eps / C``; a class
    with target 0 contributes 0 even where its logit is ``-inf``.

    Args:
        logits: ``x``, floating, classes along ``axis``.
        labels: ``y``, same shape, non-negative.
        axis: the class axis (non-negative).
        label_smoothing: ``eps`` in ``[0, 1]`` (a number, or a float64 0-d array: see
            :func:`wxent._core.numerics.smoothing_is`).
        xp: the array namespace.

    Returns:
        The per-sample loss, shape of ``logits`` without ``axis``.
    """
    log_p = log_softmax(logits, axis=axis, xp=xp)
    target = smooth_probabilities(labels, axis=axis, label_smoothing=label_smoothing, xp=xp)
    return -xp.sum(safe_mul(target, log_p, xp=xp), axis=axis)


def take_classes(vector: Array, indices: Array, *, xp: Any) -> Array:
    """``vector[indices]`` for a 1-D per-class vector and integer indices of any shape."""
    if len(indices.shape) == 1 or has_unknown_dims(indices):
        # N-D indices with unknown dimensions exist only in TensorFlow graphs, whose
        # take (a gather) accepts them as they are: no reshape to an unknown shape.
        return xp.take(vector, indices, axis=0)
    flat = xp.reshape(indices, (-1,))
    return xp.reshape(xp.take(vector, flat, axis=0), indices.shape)


def class_weight_of_probabilities(
    class_weight: Array, labels: Array, *, axis: int, xp: Any
) -> Array:
    """``sum_c class_weight[c] * labels[c]`` along ``axis`` (``class_weight`` broadcast)."""
    return xp.sum(class_weight * labels, axis=axis)


def log1m_softmax(
    logits: Array, *, axis: int, xp: Any, lse: Array | None = None, top: Array | None = None
) -> Array:
    """``log(1 - softmax(x))`` along ``axis``, accurate even where ``softmax(x) -> 1``.

    Where ``p_c <= 1/2`` (every class but the row's unique largest, and that one too in
    a row of many similar classes), ``log1p(-p_c)`` is accurate. Where ``p_c > 1/2``,
    ``1 - p_c`` may round to 0 (logits ``1e4`` apart), so it is computed as
    ``logsumexp(x_j, j != c) - logsumexp(x)``; that difference would cancel for a small
    ``p_c`` (``-log p_c`` beyond float32's precision gave ``log(1 - p) = 0``, a focal
    factor of 1 instead of ``exp(-gamma p)``). A row with a single finite logit gives
    ``-inf`` there, with finite gradients.

    Args:
        logits: ``x``, floating, classes along ``axis`` (non-negative).
        axis: the class axis.
        xp: the array namespace.
        lse: ``logsumexp(x)`` along ``axis`` (kept), when the caller has it.
        top: the row maximum of ``x`` (kept) when the caller has it; in a row whose
            every ``p`` is NaN (a NaN logit, or only ``-inf``) any value will do.

    Returns:
        ``log(1 - p)``, the shape of ``logits``.
    """
    if lse is None:
        lse = logsumexp(logits, axis=axis, xp=xp)
    if top is None:
        top = xp.max(logits, axis=axis, keepdims=True)
    # Shifted logits (their row maximum 0) keep log_p = logits - lse accurate at any
    # magnitude; the callers pass them, with lse their log_total.
    log_p = logits - lse
    # The unique maximum of the row; with tied maxima every p_c <= 1/2 and log1p is exact.
    is_max = logits == top
    n_max = xp.sum(xp.astype(is_max, logits.dtype), axis=axis, keepdims=True)
    is_top = xp.logical_and(xp.logical_and(is_max, n_max == 1), log_p > -math.log(2.0))
    safe_log_p = xp.where(is_top, -1.0, log_p)
    rest = xp.log1p(-xp.exp(safe_log_p))
    others = xp.where(is_top, -math.inf, logits)
    m = constant(xp.max(others, axis=axis, keepdims=True), xp=xp)  # a shift: no gradient
    m = xp.where(xp.isfinite(m), m, 0.0)
    total = xp.sum(xp.exp(others - m), axis=axis, keepdims=True)
    some = total > 0
    log_total = xp.log(xp.where(some, total, 1.0))
    lse_others = xp.where(some, m + log_total, -math.inf)
    return xp.where(is_top, lse_others - lse, rest)


def softmax_focal_terms(logits: Array, *, axis: int, gamma: float, xp: Any) -> Array:
    """``F_c = -(1 - p_c)**gamma * log(p_c)`` for every class, ``p = softmax(x)``.

    Exact in rows holding ``+inf`` (their limit, see :func:`limit_logits`): ``F`` is 0 at
    a single ``+inf`` entry, ``(1 - 1/k)**gamma * log k`` at each of ``k`` tied ones,
    ``inf`` elsewhere, and the gradient in such a row is 0.

    Args:
        logits: ``x``, floating, classes along ``axis`` (non-negative).
        axis: the class axis.
        gamma: the focusing parameter ``>= 0``.
        xp: the array namespace.

    Returns:
        ``F``, the shape of ``logits``.
    """
    # Rows holding +inf take their limit first, as in the cross-entropy: p is uniform over
    # the +inf entries (F = 0 there for a single one) and 0 elsewhere (F = inf).
    logits, shift = limit_rows(logits, axis=axis, xp=xp)
    # In the shifted logits z = x - shift: -log p = log_total - z, accurate at large |x|.
    z, log_total = shifted_log_total(logits, shift, axis=axis, xp=xp)
    minus_log_p = log_total - z
    if gamma == 0.0:
        return minus_log_p
    # A class with p_c = 0 (a masked -inf logit, or one 1000 below the row's top) has
    # F_c = -log p_c exactly; the product branch only sees finite -log p.
    far = minus_log_p > FAR
    safe = xp.where(far, 0.0, minus_log_p)
    # The row maximum of z is 0 (also in rows holding +inf: their limit's maximum is 0),
    # except in rows of only -inf, whose every p is NaN.
    log1m = log1m_softmax(z, axis=axis, xp=xp, lse=log_total, top=shift * 0.0)
    near = safe * xp.exp(scale(log1m, gamma, xp=xp))
    return xp.where(far, minus_log_p, near)


def softmax_focal_loss_indices(
    logits: Array, labels: Array, *, axis: int, gamma: float, label_smoothing: Any, xp: Any
) -> Array:
    """Per-sample softmax focal loss with class-index labels.

    ``l = (1 - eps) * F_y + (eps / C) * sum_c F_c`` with ``F`` from
    :func:`softmax_focal_terms`: the focal loss ``-sum_c t_c (1 - p_c)**gamma log p_c``
    of the smoothed one-hot target ``t = (1 - eps) * onehot(y) + eps / C``.

    Args:
        logits: ``x``, floating, classes along ``axis``.
        labels: integer class indices, the shape of ``logits`` without ``axis``, valid.
        axis: the class axis (non-negative).
        gamma: the focusing parameter ``>= 0``.
        label_smoothing: ``eps`` in ``[0, 1]`` (a number, or a float64 0-d array: see
            :func:`wxent._core.numerics.smoothing_is`).
        xp: the array namespace.

    Returns:
        The per-sample loss, shape of ``labels``.
    """
    terms = softmax_focal_terms(logits, axis=axis, gamma=gamma, xp=xp)
    index = xp.expand_dims(labels, axis=axis)
    target = xp.squeeze(take_along_axis(terms, index, axis=axis, xp=xp), axis=axis)
    if smoothing_is(label_smoothing, 0.0):
        return target
    num_classes = class_count(logits, axis=axis, xp=xp)
    if not isinstance(num_classes, int):
        num_classes = xp.squeeze(num_classes, axis=axis)
    spread = divide(xp.sum(terms, axis=axis), num_classes, xp=xp)
    return smoothed(target, spread, label_smoothing, xp=xp)


def softmax_focal_loss_probabilities(
    logits: Array, targets: Array, *, axis: int, gamma: float, xp: Any
) -> Array:
    """Per-sample softmax focal loss ``-sum_c t_c (1 - p_c)**gamma log p_c``.

    Args:
        logits: ``x``, floating, classes along ``axis``.
        targets: ``t`` (already smoothed), same shape, non-negative; a class with
            target 0 contributes 0 even where its logit is ``-inf``.
        axis: the class axis (non-negative).
        gamma: the focusing parameter ``>= 0``.
        xp: the array namespace.

    Returns:
        The per-sample loss, shape of ``logits`` without ``axis``.
    """
    terms = softmax_focal_terms(logits, axis=axis, gamma=gamma, xp=xp)
    return xp.sum(safe_mul(targets, terms, xp=xp), axis=axis)


def adjust_logits(logits: Array, log_prior: Array, *, tau: float) -> Array:
    """``logits + tau * log_prior`` (``log_prior`` broadcast along the class axis)."""
    if tau == 0.0:
        return logits
    return logits + tau * log_prior
