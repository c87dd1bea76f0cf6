"""The sigmoid family's math: cross-entropy, focal loss, asymmetric loss.

Per-element losses of independent binary labels (binary and multi-label data).

Modulating factors such as ``(1 - p)**gamma`` are computed in log space,
``exp(gamma * log(1 - p))``, with ``log(1 - p)`` taken from log-sigmoid or from a
log-sum-exp over the other classes, never as ``1 - p``: the loss and its gradient stay
finite for every ``gamma >= 0`` (also ``gamma < 1``, where ``d/dp (1 - p)**gamma`` is
infinite at ``p = 1``) and any finite logits. The products ``-log p * (1 - p)**gamma``
are where-safe: where ``-log p > FAR`` the factor is exactly 1 and the term is ``-log p``
alone, so an infinite logit (``-inf`` with label 0) gives the loss's limit and a finite
gradient, never ``inf * 0`` in either pass.
"""

from __future__ import annotations

from typing import Any

from wxent import _namespace as ns
from wxent._core.numerics import FAR, safe_mul, softplus_pair
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
    A term whose coefficient (label times weight) is 0 contributes exactly 0, even for
    infinite logits.

    Args:
        logits: ``x``, any shape, floating.
        labels: ``z``, same shape, in ``[0, 1]``.
        pos_weight: ``q``, broadcastable to ``logits``, or ``None`` for 1.
        neg_weight: ``r``, broadcastable to ``logits``, or ``None`` for 1.
        xp: the array namespace.

    Returns:
        The per-element loss, shape of ``logits``.
    """
    softplus_x, softplus_minus_x = softplus_pair(logits, xp=xp)
    positive = _weighted(labels, pos_weight, softplus_minus_x, xp=xp)
    negative = _weighted(1 - labels, neg_weight, softplus_x, xp=xp)
    return positive + negative


def focal_term(logits: Array, gamma: float, *, xp: Any) -> Array:
    """``-log(p) * (1 - p)**gamma`` with ``p = sigmoid(x)``, where-safe at every ``x``.

    Computed as ``softplus(-x) * exp(-gamma * softplus(x))``. Below ``x = -1000`` the
    factor is exactly 1 and the term is ``-x``: an infinite logit gives ``inf`` with
    gradient ``-1`` (never ``inf * 0``), and a huge one never overflows in the backward
    pass. The negative term of the focal loss is ``focal_term(-x)``.

    Args:
        logits: ``x``, floating.
        gamma: the focusing parameter ``>= 0``.
        xp: the array namespace.

    Returns:
        The term, shape of ``logits``.
    """
    return binary_terms(logits, gamma_pos=gamma, gamma_neg=0.0, clip=0.0, xp=xp)[0]


def _weighted(labels: Array, weight: Array | None, term: Array, *, xp: Any) -> Array:
    """``labels * weight * term``, 0 wherever the coefficient is 0 (also for ``term = inf``)."""
    coefficient = labels if weight is None else labels * weight
    return safe_mul(coefficient, term, xp=xp)


def clipped_pair(logits: Array, *, xp: Any) -> tuple[Array, Array]:
    """``softplus_pair(clip(x, -FAR, FAR))``: the pair :func:`binary_terms` builds on.

    Within ``[-FAR, FAR]`` it is ``(softplus(x), softplus(-x))`` bit for bit; beyond,
    the terms take their far branch, so the clipped values only keep the discarded
    branch (and its gradient, 0 through the clip) finite at infinite ``x``.
    """
    torch = ns.torch_of(xp)  # (array-api-compat's clip tests its bounds with math.isnan,
    # which torch.compile(dynamic=True), where FAR is symbolic, cannot trace)
    far = torch.clamp(logits, -FAR, FAR) if torch is not None else xp.clip(logits, -FAR, FAR)
    return softplus_pair(far, xp=xp)


def binary_terms(
    logits: Array,
    *,
    gamma_pos: float,
    gamma_neg: float,
    clip: float,
    xp: Any,
    pair: tuple[Array, Array] | None = None,
) -> tuple[Array, Array]:
    """The two unweighted terms of the asymmetric (and, with ``clip = 0``, focal) loss.

    ``-(1 - p)**gamma_pos * log(p)`` and ``-p_m**gamma_neg * log(1 - p_m)`` with
    ``p_m = max(p - clip, 0)``; with ``clip = 0`` the second is ``focal_term(-x)``.

    Both come from one softplus pair ``(softplus(x), softplus(-x))`` (one ``exp``, one
    ``log1p``): ``-log p = softplus(-x)``, ``(1 - p)**gamma = exp(-gamma softplus(x))``,
    and alike for the negative term. Below ``x = -FAR`` the positive term is ``-x``
    exactly (its factor is 1), above ``x = FAR`` the negative one (``clip = 0``) is ``x``:
    an infinite logit gives ``inf`` with gradient ``-1`` or ``1``, never ``inf * 0``.

    Args:
        logits: ``x``, floating.
        gamma_pos: focusing parameter of the positive term, ``>= 0``.
        gamma_neg: focusing parameter of the negative term, ``>= 0``.
        clip: the probability margin in ``[0, 1]``.
        xp: the array namespace.
        pair: :func:`clipped_pair` of ``logits``, when the caller has it.

    Returns:
        The positive and the negative term, each the shape of ``logits``.
    """
    x = logits
    sp_x, sp_minus_x = clipped_pair(x, xp=xp) if pair is None else pair
    near = sp_minus_x if gamma_pos == 0.0 else sp_minus_x * xp.exp(-gamma_pos * sp_x)
    pos = xp.where(x < -FAR, -x, near)
    if clip == 0.0:
        near = sp_x if gamma_neg == 0.0 else sp_x * xp.exp(-gamma_neg * sp_minus_x)
        return pos, xp.where(x > FAR, x, near)
    # p and 1 - p are exact beyond the clip too (exp(-1000) is 0 in every float).
    p = xp.exp(-sp_minus_x)
    q = xp.exp(-sp_x)
    shifted = clipped_probability(p, q, clip)
    active = xp.logical_not(shifted <= 0)  # NaN stays: a NaN logit is an error
    # Double where: the inactive branch never sees log(0) or a zero base.
    if clip >= 0.5:  # -log(1 - p_m), p_m <= 1 - clip <= 1/2: log1p keeps its digits
        term = -xp.log1p(-xp.where(active, shifted, 0.0))
    else:
        term = -xp.log(xp.where(active, q + clip, 1.0))
    if gamma_neg != 0.0:
        p_m = xp.where(active, shifted, 1.0)
        term = term * xp.exp(gamma_neg * xp.log(p_m))
    return pos, xp.where(active, term, 0.0)


def clipped_probability(p: Array, q: Array, clip: float) -> Array:
    """``p - clip`` (``p = sigmoid(x)``, ``q = sigmoid(-x)``) without its cancellation.

    Where ``clip >= 1/2``, ``p - clip`` subtracts two numbers near 1: ``p``'s rounding
    (half an ulp of 1) is then a large part of a small difference (1.7e-4 in float32 at
    ``clip = 0.999``). ``(1 - clip) - q`` is the same difference of two small numbers,
    each to its own relative precision. Below ``clip = 1/2``, ``p - clip`` is the exact
    one near the threshold (``p`` small there), and stays.
    """
    return (1.0 - clip) - q if clip >= 0.5 else p - clip


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
    pos, neg = binary_terms(logits, gamma_pos=gamma, gamma_neg=gamma, clip=0.0, xp=xp)
    positive = _weighted(labels, pos_weight, pos, xp=xp)
    negative = _weighted(1 - labels, neg_weight, neg, xp=xp)
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
    pos, neg = binary_terms(logits, gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip, xp=xp)
    positive = _weighted(labels, pos_weight, pos, xp=xp)
    negative = _weighted(1 - labels, neg_weight, neg, xp=xp)
    return positive + negative
