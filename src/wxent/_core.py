"""The math of the cross-entropy family, written once against the Array API.

Pure functions ``f(..., *, xp)`` returning *per-element* losses: no validation, no
reduction, no in-place writes, every axis passed explicitly. The delegation layer
(:mod:`wxent._losses`) validates, moves configuration onto the logits' framework,
calls these, and reduces with :mod:`wxent._reduction`.
"""

from __future__ import annotations

from typing import Any

from wxent._numerics import log_softmax, logsumexp, safe_mul, softplus

Array = Any


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


def softmax_cross_entropy_indices(
    logits: Array, labels: Array, *, axis: int, label_smoothing: float, xp: Any
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
        label_smoothing: ``eps`` in ``[0, 1]``.
        xp: the array namespace.

    Returns:
        The per-sample loss, shape of ``labels``.
    """
    lse = logsumexp(logits, axis=axis, xp=xp)
    index = xp.expand_dims(labels, axis=axis)
    target = xp.take_along_axis(logits, index, axis=axis)
    nll = xp.squeeze(lse - target, axis=axis)
    if label_smoothing == 0.0:
        return nll
    smooth = xp.squeeze(lse, axis=axis) - xp.mean(logits, axis=axis)
    return (1.0 - label_smoothing) * nll + label_smoothing * smooth


def smooth_probabilities(labels: Array, *, axis: int, label_smoothing: float, xp: Any) -> Array:
    """``t = y * (1 - eps) + eps / C`` along ``axis``."""
    if label_smoothing == 0.0:
        return labels
    num_classes = labels.shape[axis]
    return labels * (1.0 - label_smoothing) + label_smoothing / num_classes


def softmax_cross_entropy_probabilities(
    logits: Array, labels: Array, *, axis: int, label_smoothing: float, xp: Any
) -> Array:
    """Per-sample softmax cross-entropy with probability labels.

    ``l = -sum_c t_c * log_softmax(x)_c`` with ``t = y * (1 - eps) + eps / C``; a class
    with target 0 contributes 0 even where its logit is ``-inf``.

    Args:
        logits: ``x``, floating, classes along ``axis``.
        labels: ``y``, same shape, non-negative.
        axis: the class axis (non-negative).
        label_smoothing: ``eps`` in ``[0, 1]``.
        xp: the array namespace.

    Returns:
        The per-sample loss, shape of ``logits`` without ``axis``.
    """
    log_p = log_softmax(logits, axis=axis, xp=xp)
    target = smooth_probabilities(labels, axis=axis, label_smoothing=label_smoothing, xp=xp)
    return -xp.sum(safe_mul(target, log_p, xp=xp), axis=axis)


def take_classes(vector: Array, indices: Array, *, xp: Any) -> Array:
    """``vector[indices]`` for a 1-D per-class vector and integer indices of any shape."""
    if len(indices.shape) == 1:
        return xp.take(vector, indices, axis=0)
    flat = xp.reshape(indices, (-1,))
    return xp.reshape(xp.take(vector, flat, axis=0), indices.shape)


def class_weight_of_probabilities(
    class_weight: Array, labels: Array, *, axis: int, xp: Any
) -> Array:
    """``sum_c class_weight[c] * labels[c]`` along ``axis`` (``class_weight`` broadcast)."""
    return xp.sum(class_weight * labels, axis=axis)
