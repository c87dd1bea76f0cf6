"""The math of cost-sensitive losses and decisions, written once against the Array API.

Pure functions ``f(..., *, xp)``: no validation, no reduction, no in-place writes, the
class axis passed explicitly. Cost matrices are ``costs[true, predicted]``, shape
``(C, C)``, already on the logits' framework, device and dtype.
"""

from __future__ import annotations

from typing import Any

from wxent._core.numerics import has_unknown_dims, log_softmax, take_along_axis
from wxent._core.softmax import take_classes
from wxent._namespace import moveaxis, no_autocast
from wxent._types import Array


def _to_last(x: Array, axis: int, *, xp: Any) -> Array:
    """Move ``axis`` to the end (a no-op when it is already last)."""
    ndim = len(x.shape)
    return x if axis == ndim - 1 else moveaxis(xp, x, axis, -1)


def softmax(logits: Array, *, axis: int, xp: Any) -> Array:
    """``exp(log_softmax(x))`` along ``axis``: exact zeros for ``-inf`` logits."""
    return xp.exp(log_softmax(logits, axis=axis, xp=xp))


def _rows_matmul(a: Array, matrix: Array, *, xp: Any) -> Array:
    """``a @ matrix`` for ``a`` of shape ``(..., C)`` and a ``(C, K)`` matrix.

    In ``a``'s dtype also inside ``torch.autocast`` (which would round it to 16 bits).
    """
    with no_autocast(a):
        if len(a.shape) == 2 or has_unknown_dims(a):
            return xp.matmul(a, matrix)  # (unknown dims: TensorFlow graphs, batched matmul)
        lead = a.shape[:-1]
        flat = xp.reshape(a, (-1, a.shape[-1]))
        return xp.reshape(xp.matmul(flat, matrix), (*lead, matrix.shape[-1]))


def label_cost_rows(labels: Array, costs: Array, *, indices: bool, axis: int, xp: Any) -> Array:
    """The cost of each prediction given the labels, shape ``(..., C)`` (classes last).

    Integer labels ``y``: ``costs[y, :]``. Probability labels ``y``:
    ``sum_c y_c * costs[c, :]``.
    """
    num_classes = costs.shape[0]
    if indices and has_unknown_dims(labels):
        return xp.take(costs, labels, axis=0)  # TensorFlow graphs: an N-D gather
    if indices:
        flat = xp.reshape(labels, (-1,))
        rows = xp.take(costs, flat, axis=0)
        return xp.reshape(rows, (*labels.shape, num_classes))
    return _rows_matmul(_to_last(labels, axis, xp=xp), costs, xp=xp)


def expected_cost(
    logits: Array, labels: Array, costs: Array, *, indices: bool, axis: int, xp: Any
) -> Array:
    """Per-sample expected cost under the softmax of the logits.

    ``l = sum_j costs[y, j] * softmax(x)_j`` for integer labels, and
    ``l = sum_c y_c * sum_j costs[c, j] * softmax(x)_j`` for probability labels.
    With ``costs = 1 - I`` and integer labels it equals ``1 - softmax(x)_y``.

    Args:
        logits: ``x``, floating, classes along ``axis``.
        labels: integer class indices (shape of ``logits`` without ``axis``, every entry
            valid) or probabilities (shape of ``logits``).
        costs: ``(C, C)``, ``costs[true, predicted]``.
        indices: whether ``labels`` are class indices.
        axis: the class axis (non-negative).
        xp: the array namespace.

    Returns:
        The per-sample expected cost, shape of ``logits`` without ``axis``.
    """
    p = _to_last(softmax(logits, axis=axis, xp=xp), axis, xp=xp)
    rows = label_cost_rows(labels, costs, indices=indices, axis=axis, xp=xp)
    return xp.sum(rows * p, axis=-1)


def prediction_risk(logits: Array, costs: Array, *, axis: int, xp: Any) -> Array:
    """The expected cost of predicting each class: ``r_k = sum_j softmax(x)_j costs[j, k]``.

    Args:
        logits: ``x``, floating, classes along ``axis``.
        costs: ``(C, C)``, ``costs[true, predicted]``.
        axis: the class axis (non-negative).
        xp: the array namespace.

    Returns:
        ``r``, shape of ``logits`` with the classes moved last.
    """
    p = _to_last(softmax(logits, axis=axis, xp=xp), axis, xp=xp)
    return _rows_matmul(p, costs, xp=xp)


def bayes_decision(
    logits: Array, costs: Array, *, axis: int, xp: Any, mark_nan: bool = False
) -> Array:
    """``argmin_k sum_j softmax(x)_j * costs[j, k]`` along ``axis`` (first index on ties).

    The argmin of the computed risks: columns whose computed risks are equal tie (also
    when the exact risks differ below their rounding or through probabilities that
    underflow to 0); see :func:`wxent.bayes_decision` for the limits. ``mark_nan``: a
    row whose risks hold NaN (a NaN logit, a row of only ``-inf``, a NaN cost) decides
    ``-1``, no class, where the framework's argmin would pick one of its own (calls that
    read no check: traced, or ``validate=False``), as :func:`wxent.predict` decides.
    """
    risk = prediction_risk(logits, costs, axis=axis, xp=xp)
    decision = xp.argmin(risk, axis=-1)
    if mark_nan:
        decision = xp.where(xp.any(xp.isnan(risk), axis=-1), -1, decision)
    return decision


def confusion_weight(
    logits: Array, labels: Array, weights: Array, *, indices: bool, axis: int, xp: Any
) -> Array:
    """``weights[y, argmax(x)]`` per sample (``sum_c y_c weights[c, argmax(x)]`` for soft y).

    ``argmax`` returns integers, which carry no gradient in any framework, so the result
    is a constant for autodiff with respect to ``logits`` (the Keras recipe's weight),
    without a framework-specific ``stop_gradient``.

    Args:
        logits: ``x``, floating, classes along ``axis``.
        labels: integer class indices or probabilities, as for :func:`expected_cost`.
        weights: ``(C, C)``, ``weights[true, predicted]``.
        indices: whether ``labels`` are class indices.
        axis: the class axis (non-negative).
        xp: the array namespace.

    Returns:
        The per-sample weight, shape of ``logits`` without ``axis``.
    """
    num_classes = weights.shape[0]
    predicted = xp.argmax(logits, axis=axis)
    if indices and num_classes is None:
        # A TensorFlow graph's matrix of unknown size (a TensorSpec of shape [None, None]):
        # no flat index without C, so row y (an N-D gather), then column argmax(x).
        rows = xp.take(weights, labels, axis=0)
        picked = take_along_axis(rows, xp.expand_dims(predicted, axis=-1), axis=-1, xp=xp)
        return xp.squeeze(picked, axis=-1)
    if indices:
        flat_index = xp.astype(labels, predicted.dtype) * num_classes + predicted
        return take_classes(xp.reshape(weights, (-1,)), flat_index, xp=xp)
    # Column argmax(x) of the weights for every sample, then dotted with the labels.
    columns = label_cost_rows(predicted, xp.matrix_transpose(weights), indices=True, axis=0, xp=xp)
    return xp.sum(_to_last(labels, axis, xp=xp) * columns, axis=-1)
