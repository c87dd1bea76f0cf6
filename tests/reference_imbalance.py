"""Slow float64 oracles for the imbalance losses and the weights computed from data.

Loops over elements transcribing the formulas of the papers (Lin et al. 2017, Ridnik et
al. 2021, Menon et al. 2021, Cui et al. 2019) with Python's ``math``; the reduction table
of SPEC §2 is written out again here. Nothing is shared with the library.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from reference import log_sigmoid, reduce


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _per_class(value: Any, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(1.0 if value is None else value, float), (n,))


def _binary(
    term: Any,
    logits: np.ndarray,
    labels: np.ndarray,
    *,
    pos_weight: Any,
    neg_weight: Any,
    sample_weight: Any,
    label_smoothing: float,
    ignore_label: float | None,
    class_axis: int,
    reduction: str,
) -> Any:
    """Shared loop of the sigmoid family: ``term(x, t) -> (positive, negative)`` losses."""
    x = np.asarray(logits, dtype=np.float64)
    z_all = np.asarray(labels, dtype=np.float64)
    axis = class_axis % x.ndim
    n = x.shape[axis]
    q = _per_class(pos_weight, n)
    r = _per_class(neg_weight, n)
    s = np.ones_like(x)
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=np.float64)
        if sw.ndim == x.ndim - 1 and sw.ndim > 0:
            sw = np.expand_dims(sw, axis)
        s = np.broadcast_to(sw, x.shape)
    values = np.zeros_like(x)
    weights = np.zeros_like(x)
    valid = np.ones(x.shape, dtype=bool)
    for idx in np.ndindex(x.shape):
        z = z_all[idx]
        if ignore_label is not None and z == ignore_label:
            valid[idx] = False
            continue
        c = idx[axis]
        t = z * (1 - label_smoothing) + label_smoothing / 2
        pos, neg = term(float(x[idx]))
        loss = (0.0 if t == 0 else t * q[c] * pos) + (0.0 if t == 1 else (1 - t) * r[c] * neg)
        values[idx] = s[idx] * loss
        weights[idx] = s[idx] * (q[c] * z + r[c] * (1 - z))
    return reduce(values, weights, valid, reduction)


def sigmoid_focal(
    logits: np.ndarray,
    labels: np.ndarray,
    *,
    gamma: float = 2.0,
    alpha: Any = None,
    pos_weight: Any = None,
    neg_weight: Any = None,
    sample_weight: Any = None,
    label_smoothing: float = 0.0,
    ignore_label: float | None = None,
    class_axis: int = -1,
    reduction: str = "mean",
) -> Any:
    """``-alpha (1-p)^g log p`` for the positive, ``-(1-alpha) p^g log(1-p)`` for the negative."""
    x = np.asarray(logits)
    n = x.shape[class_axis % x.ndim]
    a = None if alpha is None else _per_class(alpha, n)
    q = _per_class(pos_weight, n) * (1.0 if a is None else a)
    r = _per_class(neg_weight, n) * (1.0 if a is None else 1.0 - a)

    def term(xi: float) -> tuple[float, float]:
        p = sigmoid(xi)
        return (1 - p) ** gamma * -log_sigmoid(xi), p**gamma * -log_sigmoid(-xi)

    return _binary(
        term,
        logits,
        labels,
        pos_weight=q,
        neg_weight=r,
        sample_weight=sample_weight,
        label_smoothing=label_smoothing,
        ignore_label=ignore_label,
        class_axis=class_axis,
        reduction=reduction,
    )


def asymmetric(
    logits: np.ndarray,
    labels: np.ndarray,
    *,
    gamma_pos: float = 0.0,
    gamma_neg: float = 4.0,
    clip: float = 0.05,
    pos_weight: Any = None,
    neg_weight: Any = None,
    sample_weight: Any = None,
    label_smoothing: float = 0.0,
    ignore_label: float | None = None,
    class_axis: int = -1,
    reduction: str = "mean",
) -> Any:
    """ASL: ``-(1-p)^g+ log p`` and ``-p_m^g- log(1-p_m)``, ``p_m = max(p - clip, 0)``."""

    def term(xi: float) -> tuple[float, float]:
        p = sigmoid(xi)
        pos = (1 - p) ** gamma_pos * -log_sigmoid(xi)
        if clip == 0:
            neg = p**gamma_neg * -log_sigmoid(-xi)
        else:
            p_m = max(p - clip, 0.0)
            neg = 0.0 if p_m == 0 else p_m**gamma_neg * -math.log(1.0 - p_m)
        return pos, neg

    return _binary(
        term,
        logits,
        labels,
        pos_weight=pos_weight,
        neg_weight=neg_weight,
        sample_weight=sample_weight,
        label_smoothing=label_smoothing,
        ignore_label=ignore_label,
        class_axis=class_axis,
        reduction=reduction,
    )


def _softmax(
    row_loss: Any,
    logits: np.ndarray,
    labels: np.ndarray,
    *,
    class_weight: Any,
    sample_weight: Any,
    label_smoothing: float,
    ignore_index: int | None,
    class_axis: int,
    reduction: str,
) -> Any:
    """Shared loop of the softmax family: ``row_loss(row, target) -> loss``."""
    x = np.moveaxis(np.asarray(logits, dtype=np.float64), class_axis, -1)
    n = x.shape[-1]
    integer = np.issubdtype(np.asarray(labels).dtype, np.integer)
    y = np.asarray(labels) if integer else np.moveaxis(np.asarray(labels, float), class_axis, -1)
    cw = _per_class(class_weight, n)
    shape = x.shape[:-1]
    s = np.broadcast_to(np.asarray(1.0 if sample_weight is None else sample_weight, float), shape)
    values = np.zeros(shape)
    weights = np.zeros(shape)
    valid = np.ones(shape, dtype=bool)
    for idx in np.ndindex(shape):
        if integer:
            label = int(y[idx])
            if ignore_index is not None and label == ignore_index:
                valid[idx] = False
                continue
            target = np.eye(n)[label]
        else:
            target = y[idx]
        w = s[idx] * float(np.dot(cw, target))
        t = target * (1 - label_smoothing) + label_smoothing / n
        values[idx] = w * row_loss(x[idx], t)
        weights[idx] = w
    return reduce(values, weights, valid, reduction)


def _log_softmax(row: np.ndarray) -> list[float]:
    m = max(row)
    lse = m + math.log(sum(math.exp(v - m) for v in row))
    return [v - lse for v in row]


def softmax_focal(
    logits: np.ndarray,
    labels: np.ndarray,
    *,
    gamma: float = 2.0,
    class_weight: Any = None,
    sample_weight: Any = None,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
    class_axis: int = -1,
    reduction: str = "mean",
) -> Any:
    """``-sum_c t_c (1 - p_c)^gamma log p_c``, ``1 - p_c`` as the sum of the other ``p``."""

    def row_loss(row: np.ndarray, t: np.ndarray) -> float:
        log_p = _log_softmax(row)
        total = 0.0
        for c in range(len(row)):
            if t[c] == 0:
                continue
            others = sum(math.exp(log_p[j]) for j in range(len(row)) if j != c)
            total += t[c] * others**gamma * -log_p[c]
        return total

    return _softmax(
        row_loss,
        logits,
        labels,
        class_weight=class_weight,
        sample_weight=sample_weight,
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
        class_axis=class_axis,
        reduction=reduction,
    )


def logit_adjusted(
    logits: np.ndarray,
    labels: np.ndarray,
    class_prior: Any,
    *,
    tau: float = 1.0,
    class_weight: Any = None,
    sample_weight: Any = None,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
    class_axis: int = -1,
    reduction: str = "mean",
) -> Any:
    """Softmax cross-entropy of ``x_c + tau * log(prior_c)``."""
    prior = [float(p) for p in np.asarray(class_prior, dtype=np.float64)]

    def row_loss(row: np.ndarray, t: np.ndarray) -> float:
        adjusted = np.array([row[c] + tau * math.log(prior[c]) for c in range(len(row))])
        log_p = _log_softmax(adjusted)
        return -sum(t[c] * log_p[c] for c in range(len(row)) if t[c] != 0)

    return _softmax(
        row_loss,
        logits,
        labels,
        class_weight=class_weight,
        sample_weight=sample_weight,
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
        class_axis=class_axis,
        reduction=reduction,
    )


# ----------------------------------------------------------------------------- weights


def counts(labels: Any, num_classes: int, sample_weight: Any = None) -> list[float]:
    """Class counts by a loop over the samples."""
    flat = np.asarray(labels).ravel().tolist()
    sw = [1.0] * len(flat) if sample_weight is None else np.ravel(sample_weight).tolist()
    out = [0.0] * num_classes
    for label, w in zip(flat, sw, strict=True):
        out[int(label)] += float(w)
    return out


def multi_hot_counts(labels: Any) -> list[list[float]]:
    """Per label (column): the number of 0s and of 1s."""
    rows = np.asarray(labels).tolist()
    width = len(rows[0])
    neg = [0.0] * width
    pos = [0.0] * width
    for row in rows:
        for j, value in enumerate(row):
            if value == 0:
                neg[j] += 1
            elif value == 1:
                pos[j] += 1
    return [neg, pos]


def scheme_weights(n: list[float], scheme: str, beta: float = 0.999) -> list[float]:
    """The class-weight schemes of SPEC §4, one class at a time (all counts > 0)."""
    total = sum(n)
    size = len(n)
    if scheme == "balanced":
        return [total / (size * c) for c in n]
    if scheme == "inverse":
        return [1.0 / c for c in n]
    if scheme == "inverse_sqrt":
        return [1.0 / math.sqrt(c) for c in n]
    if scheme == "effective_number":
        return [(1.0 - beta) / (1.0 - beta**c) for c in n]
    freq = [c / total for c in n]
    median = float(np.median(freq))
    return [median / f for f in freq]


def normalized(w: list[float], normalize: str | None) -> list[float]:
    if normalize is None:
        return w
    total = sum(w)
    if normalize == "sum":
        return [x / total for x in w]
    return [x * len(w) / total for x in w]
