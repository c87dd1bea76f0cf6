"""The math of the losses for imbalanced classes, written once against the Array API.

Pure functions ``f(..., *, xp)`` returning per-element (sigmoid family) or per-sample
(softmax family) losses, like :mod:`wxent._core`: no validation, no reduction, no
in-place writes, axes explicit, only standard names on ``xp``.

Modulating factors such as ``(1 - p)**gamma`` are computed in log space,
``exp(gamma * log(1 - p))``, with ``log(1 - p)`` taken from log-sigmoid or from a
log-sum-exp over the other classes, never as ``1 - p``: the loss and its gradient stay
finite for every ``gamma >= 0`` (also ``gamma < 1``, where ``d/dp (1 - p)**gamma`` is
infinite at ``p = 1``) and any finite logits.
"""

from __future__ import annotations

import math
from typing import Any

from wxent._numerics import logsumexp, safe_mul, softplus

Array = Any


def _modulate(loss: Array, log_base: Array, gamma: float, *, xp: Any) -> Array:
    """``loss * exp(gamma * log_base)``; ``gamma = 0`` leaves ``loss`` untouched."""
    if gamma == 0.0:
        return loss
    return loss * xp.exp(gamma * log_base)


def sigmoid_focal_loss(
    logits: Array,
    labels: Array,
    *,
    gamma: float,
    pos_weight: Array | None = None,
    neg_weight: Array | None = None,
    xp: Any,
) -> Array:
    """Per-element sigmoid focal loss.

    ``l = -q * z * (1 - p)**gamma * log(p) - r * (1 - z) * p**gamma * log(1 - p)`` with
    ``p = sigmoid(x)``; computed as ``q * z * exp(-gamma * softplus(x)) * softplus(-x)
    + r * (1 - z) * exp(-gamma * softplus(-x)) * softplus(x)``. For hard labels this is
    Lin et al.'s ``-(1 - p_t)**gamma * log(p_t)``.

    Args:
        logits: ``x``, floating.
        labels: ``z`` (possibly smoothed), same shape, in ``[0, 1]``.
        gamma: the focusing parameter ``>= 0``.
        pos_weight: ``q`` (``alpha`` times ``pos_weight``), broadcastable, or ``None``.
        neg_weight: ``r`` (``1 - alpha`` times ``neg_weight``), broadcastable, or ``None``.
        xp: the array namespace.

    Returns:
        The per-element loss, shape of ``logits``.
    """
    minus_log_p = softplus(-logits, xp=xp)
    minus_log_q = softplus(logits, xp=xp)
    pos = _modulate(minus_log_p, -minus_log_q, gamma, xp=xp)
    neg = _modulate(minus_log_q, -minus_log_p, gamma, xp=xp)
    positive = safe_mul(labels, pos, xp=xp)
    negative = safe_mul(1 - labels, neg, xp=xp)
    if pos_weight is not None:
        positive = positive * pos_weight
    if neg_weight is not None:
        negative = negative * neg_weight
    return positive + negative


def asymmetric_loss(
    logits: Array,
    labels: Array,
    *,
    gamma_pos: float,
    gamma_neg: float,
    clip: float,
    pos_weight: Array | None = None,
    neg_weight: Array | None = None,
    xp: Any,
) -> Array:
    """Per-element asymmetric loss (ASL, Ridnik et al. 2021).

    ``l = -q * z * (1 - p)**gamma_pos * log(p) - r * (1 - z) * p_m**gamma_neg * log(1 - p_m)``
    with ``p = sigmoid(x)`` and the shifted probability ``p_m = max(p - clip, 0)``.
    ``1 - p_m = sigmoid(-x) + clip`` where ``p > clip``; a negative with ``p <= clip``
    costs exactly 0. With ``clip = 0`` the negative term is ``p**gamma_neg *
    softplus(x)``, in log space.

    Args:
        logits: ``x``, floating.
        labels: ``z`` (possibly smoothed), same shape, in ``[0, 1]``.
        gamma_pos: focusing parameter of the positives, ``>= 0``.
        gamma_neg: focusing parameter of the negatives, ``>= 0``.
        clip: the probability margin ``m`` in ``[0, 1]``.
        pos_weight: ``q``, broadcastable, or ``None``.
        neg_weight: ``r``, broadcastable, or ``None``.
        xp: the array namespace.

    Returns:
        The per-element loss, shape of ``logits``.
    """
    minus_log_p = softplus(-logits, xp=xp)
    minus_log_q = softplus(logits, xp=xp)
    pos = _modulate(minus_log_p, -minus_log_q, gamma_pos, xp=xp)
    if clip == 0.0:
        neg = _modulate(minus_log_q, -minus_log_p, gamma_neg, xp=xp)
    else:
        p = xp.exp(-minus_log_p)
        q = xp.exp(-minus_log_q)
        shifted = p - clip
        active = shifted > 0
        ones = xp.ones_like(shifted)
        # Double where: the inactive branch never sees log(0) or a zero base.
        p_m = xp.where(active, shifted, ones)
        one_minus_p_m = xp.where(active, q + clip, ones)
        term = _modulate(-xp.log(one_minus_p_m), xp.log(p_m), gamma_neg, xp=xp)
        neg = xp.where(active, term, xp.zeros_like(term))
    positive = safe_mul(labels, pos, xp=xp)
    negative = safe_mul(1 - labels, neg, xp=xp)
    if pos_weight is not None:
        positive = positive * pos_weight
    if neg_weight is not None:
        negative = negative * neg_weight
    return positive + negative


def log1m_softmax(logits: Array, *, axis: int, xp: Any) -> Array:
    """``log(1 - softmax(x))`` along ``axis``, accurate even where ``softmax(x) -> 1``.

    For every class but the row's unique largest, ``p_c <= 1/2`` and ``log1p(-p_c)``
    is accurate. For the unique largest class, ``1 - p_c`` may round to 0 (logits
    ``1e4`` apart), so it is computed as ``logsumexp(x_j, j != c) - logsumexp(x)``. A
    row with a single finite logit gives ``-inf`` there, with finite gradients.

    Args:
        logits: ``x``, floating, classes along ``axis`` (non-negative).
        axis: the class axis.
        xp: the array namespace.

    Returns:
        ``log(1 - p)``, the shape of ``logits``.
    """
    lse = logsumexp(logits, axis=axis, xp=xp)
    log_p = logits - lse
    # The unique maximum of the row; with tied maxima every p_c <= 1/2 and log1p is exact.
    is_max = logits == xp.max(logits, axis=axis, keepdims=True)
    n_max = xp.sum(xp.astype(is_max, logits.dtype), axis=axis, keepdims=True)
    is_top = xp.logical_and(is_max, n_max == 1)
    safe_log_p = xp.where(is_top, xp.full_like(log_p, -1.0), log_p)
    rest = xp.log1p(-xp.exp(safe_log_p))
    others = xp.where(is_top, xp.full_like(logits, -math.inf), logits)
    m = xp.max(others, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    total = xp.sum(xp.exp(others - m), axis=axis, keepdims=True)
    some = total > 0
    log_total = xp.log(xp.where(some, total, xp.ones_like(total)))
    lse_others = xp.where(some, m + log_total, xp.full_like(total, -math.inf))
    return xp.where(is_top, lse_others - lse, rest)


def softmax_focal_terms(logits: Array, *, axis: int, gamma: float, xp: Any) -> Array:
    """``F_c = -(1 - p_c)**gamma * log(p_c)`` for every class, ``p = softmax(x)``.

    Args:
        logits: ``x``, floating, classes along ``axis`` (non-negative).
        axis: the class axis.
        gamma: the focusing parameter ``>= 0``.
        xp: the array namespace.

    Returns:
        ``F``, the shape of ``logits``.
    """
    minus_log_p = logsumexp(logits, axis=axis, xp=xp) - logits
    if gamma == 0.0:
        return minus_log_p
    return _modulate(minus_log_p, log1m_softmax(logits, axis=axis, xp=xp), gamma, xp=xp)


def softmax_focal_loss_indices(
    logits: Array, labels: Array, *, axis: int, gamma: float, label_smoothing: float, xp: Any
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
        label_smoothing: ``eps`` in ``[0, 1]``.
        xp: the array namespace.

    Returns:
        The per-sample loss, shape of ``labels``.
    """
    terms = softmax_focal_terms(logits, axis=axis, gamma=gamma, xp=xp)
    index = xp.expand_dims(labels, axis=axis)
    target = xp.squeeze(xp.take_along_axis(terms, index, axis=axis), axis=axis)
    if label_smoothing == 0.0:
        return target
    num_classes = logits.shape[axis]
    spread = xp.sum(terms, axis=axis) / num_classes
    return (1.0 - label_smoothing) * target + label_smoothing * spread


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
