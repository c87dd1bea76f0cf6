"""The sigmoid family's math: cross-entropy, focal loss, asymmetric loss.

Per-element losses of independent binary labels (binary and multi-label data).

Modulating factors such as ``(1 - p)**gamma`` are computed in log space,
``exp(gamma * log(1 - p))``, with ``log(1 - p)`` taken from log-sigmoid or from a
log-sum-exp over the other classes, never as ``1 - p``: the loss and its gradient stay
finite for every ``gamma >= 0`` (also ``gamma < 1``, where ``d/dp (1 - p)**gamma`` is
infinite at ``p = 1``) and any finite logits.
"""

from __future__ import annotations

from typing import Any

from wxent._core.numerics import modulate, safe_mul, softplus
from wxent._types import Array


def sigmoid_cross_entropy(
    logits: Array,
    labels: Array,
    *,
    pos_weight: Array | None = None,
    neg_weight: Array | None = None,
    xp: Any,
) -> Array:
    """Per-element sigmoid cross-entropy with positive and negative weights.

    ``l = -[q * z * log(sigmoid(x)) + r * (1 - z) * log(1 - sigmoid(x))]``
    ``  = q * z * softplus(-x) + r * (1 - z) * softplus(x)``

    With ``r = 1`` this equals the classic
    ``(1 - z) * x + (1 + (q - 1) * z) * (log1p(exp(-|x|)) + max(-x, 0))``.
    A term whose label weight is 0 contributes exactly 0, even for infinite logits.

    Args:
        logits: ``x``, any shape, floating.
        labels: ``z``, same shape, in ``[0, 1]``.
        pos_weight: ``q``, broadcastable to ``logits``, or ``None`` for 1.
        neg_weight: ``r``, broadcastable to ``logits``, or ``None`` for 1.
        xp: the array namespace.

    Returns:
        The per-element loss, shape of ``logits``.
    """
    positive = safe_mul(labels, softplus(-logits, xp=xp), xp=xp)
    negative = safe_mul(1 - labels, softplus(logits, xp=xp), xp=xp)
    if pos_weight is not None:
        positive = positive * pos_weight
    if neg_weight is not None:
        negative = negative * neg_weight
    return positive + negative


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
    pos = modulate(minus_log_p, -minus_log_q, gamma, xp=xp)
    neg = modulate(minus_log_q, -minus_log_p, gamma, xp=xp)
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
    pos = modulate(minus_log_p, -minus_log_q, gamma_pos, xp=xp)
    if clip == 0.0:
        neg = modulate(minus_log_q, -minus_log_p, gamma_neg, xp=xp)
    else:
        p = xp.exp(-minus_log_p)
        q = xp.exp(-minus_log_q)
        shifted = p - clip
        active = shifted > 0
        ones = xp.ones_like(shifted)
        # Double where: the inactive branch never sees log(0) or a zero base.
        p_m = xp.where(active, shifted, ones)
        one_minus_p_m = xp.where(active, q + clip, ones)
        term = modulate(-xp.log(one_minus_p_m), xp.log(p_m), gamma_neg, xp=xp)
        neg = xp.where(active, term, xp.zeros_like(term))
    positive = safe_mul(labels, pos, xp=xp)
    negative = safe_mul(1 - labels, neg, xp=xp)
    if pos_weight is not None:
        positive = positive * pos_weight
    if neg_weight is not None:
        negative = negative * neg_weight
    return positive + negative
