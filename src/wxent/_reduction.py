"""The one place where denominators are decided.

Every loss hands this module three things: the weighted per-element losses ``w*l``
(already 0 where ignored), the effective weights ``w`` and the mask of valid elements.

=================  ===========================  =========================================
``reduction``      numerator                    denominator
=================  ===========================  =========================================
``"none"``         (per element, ``w*l``)       (none)
``"sum"``          ``sum(w*l)``                 ``1``
``"mean"``         ``sum(w*l)``                 number of valid elements
``"weighted_mean"``  ``sum(w*l)``               ``sum(w)`` over valid elements
=================  ===========================  =========================================

A zero denominator gives a loss of 0 with a zero gradient, never NaN.

For data-parallel training the numerator and the denominator are returned separately
by :func:`wxent.loss_terms`; ranks all-reduce (sum) both and divide with
:func:`wxent.safe_divide`, which gives the global loss, not a mean of per-rank means.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from wxent import _namespace as ns

Array = Any


class LossTerms(NamedTuple):
    """A reduced loss as ``numerator / denominator`` (see :func:`wxent.loss_terms`).

    Attributes:
        numerator: ``sum(w * l)`` over the valid elements, a 0-d array.
        denominator: what the reduction divides by (the count of valid elements for
            ``"mean"``, ``sum(w)`` over valid elements for ``"weighted_mean"``), a 0-d
            array of the same dtype. Sum both over ranks, then :func:`safe_divide`.
    """

    numerator: Array
    denominator: Array


class Terms:
    """A request, passed as ``reduction``, for the numerator and denominator separately."""

    __slots__ = ("reduction",)

    def __init__(self, reduction: str) -> None:
        self.reduction = reduction

    def __repr__(self) -> str:
        return f"Terms({self.reduction!r})"


def safe_divide(numerator: Array, denominator: Array) -> Array:
    """``numerator / denominator``, and 0 (with a zero gradient) where the denominator is 0.

    Args:
        numerator: the summed weighted loss (any framework's array).
        denominator: the matching denominator, same framework.

    Returns:
        The quotient; 0 where ``denominator == 0``.

    Example:
        >>> import numpy as np
        >>> float(safe_divide(np.float32(3.0), np.float32(0.0)))
        0.0
    """
    xp = ns.namespace(numerator, denominator)
    zero = denominator == 0
    safe = xp.where(zero, xp.ones_like(denominator), denominator)
    return xp.where(zero, xp.zeros_like(numerator), numerator / safe)


def _count(xp: Any, values: Array, valid: Array | None) -> Array:
    if valid is not None:
        return xp.sum(xp.astype(valid, values.dtype))
    shape = values.shape
    dims = shape.as_list() if hasattr(shape, "as_list") else list(shape)
    if all(d is not None for d in dims):
        n = 1
        for d in dims:
            n *= int(d)
        return xp.asarray(float(n), dtype=values.dtype, device=ns.device(values))
    return xp.sum(xp.ones_like(values))


def reduce(
    xp: Any,
    values: Array,
    weights: Array | None,
    valid: Array | None,
    reduction: str | Terms,
) -> Array | LossTerms:
    """Reduce weighted per-element losses.

    Args:
        xp: the array namespace.
        values: ``w * l`` per element, already 0 where not valid.
        weights: the effective weight of every element, broadcastable to ``values``,
            or ``None`` when every weight is 1.
        valid: boolean mask of valid elements broadcastable to ``values``, or ``None``.
        reduction: a name from the table above, or :class:`Terms`.

    Returns:
        The per-element array for ``"none"``, a 0-d array otherwise, or
        :class:`LossTerms` when ``reduction`` is a :class:`Terms` request.
    """
    name = reduction.reduction if isinstance(reduction, Terms) else reduction
    if name == "none":
        return values
    numerator = xp.sum(values)
    if name == "sum":
        denominator = xp.ones_like(numerator)
    elif name == "mean":
        denominator = _count(xp, values, valid)
    else:  # weighted_mean
        if weights is None:
            denominator = _count(xp, values, valid)
        else:
            w = (
                weights * xp.ones_like(values)
                if tuple(weights.shape) != tuple(values.shape)
                else weights
            )
            if valid is not None:
                w = xp.where(valid, w, xp.zeros_like(w))
            denominator = xp.sum(w)
    if isinstance(reduction, Terms):
        return LossTerms(numerator, denominator)
    if name == "sum":
        return numerator
    return safe_divide(numerator, denominator)
