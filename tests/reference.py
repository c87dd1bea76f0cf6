"""Slow, obviously-correct float64 oracles: loops over elements transcribing the formulas.

Each oracle takes NumPy inputs, computes in float64 with Python's ``math`` where it can,
and applies the same reduction rules as SPEC §2 (written out again here on purpose:
the oracle must not share code with the library). Gradients are taken by central
finite differences of the oracle in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np


def log_sigmoid(x: float) -> float:
    """``log(1 / (1 + exp(-x)))`` in float64, stable for any finite x."""
    if x >= 0:
        return -math.log1p(math.exp(-x))
    return x - math.log1p(math.exp(x))


def reduce(values: np.ndarray, weights: np.ndarray, valid: np.ndarray, reduction: str) -> Any:
    """The SPEC §2 reduction table, spelled out."""
    values = np.where(valid, values, 0.0)
    if reduction == "none":
        return values
    total = float(values.sum())
    if reduction == "sum":
        return total
    if reduction == "mean":
        n = int(valid.sum())
        return 0.0 if n == 0 else total / n
    w = float(np.where(valid, weights, 0.0).sum())
    return 0.0 if w == 0 else total / w


def sigmoid_ce(
    logits: np.ndarray,
    labels: np.ndarray,
    *,
    pos_weight: Any = None,
    neg_weight: Any = None,
    sample_weight: Any = None,
    label_smoothing: float = 0.0,
    ignore_label: float | None = None,
    class_axis: int = -1,
    reduction: str = "mean",
) -> Any:
    """Sigmoid cross-entropy, one element at a time."""
    x = np.asarray(logits, dtype=np.float64)
    z_all = np.asarray(labels, dtype=np.float64)
    axis = class_axis % x.ndim
    n_classes = x.shape[axis]
    q = np.broadcast_to(np.asarray(1.0 if pos_weight is None else pos_weight, float), (n_classes,))
    r = np.broadcast_to(np.asarray(1.0 if neg_weight is None else neg_weight, float), (n_classes,))
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
        xi = x[idx]
        pos = 0.0 if t == 0 else -t * log_sigmoid(xi)
        neg = 0.0 if t == 1 else -(1 - t) * log_sigmoid(-xi)
        values[idx] = s[idx] * (q[c] * pos + r[c] * neg)
        weights[idx] = s[idx] * (q[c] * z + r[c] * (1 - z))
    return reduce(values, weights, valid, reduction)


def softmax_ce(
    logits: np.ndarray,
    labels: np.ndarray,
    *,
    class_weight: Any = None,
    sample_weight: Any = None,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
    class_axis: int = -1,
    reduction: str = "mean",
) -> Any:
    """Softmax cross-entropy, one sample at a time."""
    x = np.moveaxis(np.asarray(logits, dtype=np.float64), class_axis, -1)
    n_classes = x.shape[-1]
    integer = np.issubdtype(np.asarray(labels).dtype, np.integer)
    y = np.asarray(labels) if integer else np.moveaxis(np.asarray(labels, float), class_axis, -1)
    cw = np.broadcast_to(
        np.asarray(1.0 if class_weight is None else class_weight, float), (n_classes,)
    )
    sample_shape = x.shape[:-1]
    s = np.broadcast_to(
        np.asarray(1.0 if sample_weight is None else sample_weight, float), sample_shape
    )
    values = np.zeros(sample_shape)
    weights = np.zeros(sample_shape)
    valid = np.ones(sample_shape, dtype=bool)
    for idx in np.ndindex(sample_shape):
        row = x[idx]
        m = max(row)
        lse = m + math.log(sum(math.exp(v - m) for v in row))
        if integer:
            label = int(y[idx])
            if ignore_index is not None and label == ignore_index:
                valid[idx] = False
                continue
            target = np.eye(n_classes)[label]
        else:
            target = y[idx]
        w = s[idx] * float(np.dot(cw, target))
        t = target * (1 - label_smoothing) + label_smoothing / n_classes
        loss = -sum(t[c] * (row[c] - lse) for c in range(n_classes) if t[c] != 0)
        values[idx] = w * loss
        weights[idx] = w
    return reduce(values, weights, valid, reduction)


def numeric_grad(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite differences of a scalar float64 function."""
    x = np.asarray(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        plus = x.copy()
        minus = x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        grad[idx] = (f(plus) - f(minus)) / (2 * eps)
    return grad
