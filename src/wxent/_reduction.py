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

import contextlib
import inspect
import numbers
import threading
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from wxent import _fx
from wxent import _namespace as ns
from wxent import _validation as v
from wxent._core.numerics import divide
from wxent._types import Array


class LossTerms(NamedTuple):
    """A reduced loss as ``numerator / denominator`` (see :func:`wxent.loss_terms`).

    Attributes:
        numerator: ``sum(w * l)`` over the valid elements, a 0-d array in the logits'
            compute dtype (float32 for float16 and bfloat16 logits).
        denominator: what the reduction divides by (the count of valid elements for
            ``"mean"``, ``sum(w)`` over valid elements for ``"weighted_mean"``), a 0-d
            array of the same dtype. Sum both over ranks, then :func:`safe_divide`.
    """

    numerator: Array
    denominator: Array


class _Requests(threading.local):
    """A thread's stack of :func:`loss_terms` requests (``requests``)."""

    def __init__(self) -> None:
        # Made on a thread's first access, before any loss reads it: a compiled loss
        # guards on the stack's length only (an attribute made by the first call would
        # fail the first compilation's guard: a second compilation of every loss).
        self.requests: list[bool] = []


#: Per thread, pushed by :func:`loss_terms` while it calls a loss: the loss's :func:`reduce`
#: then returns the numerator and the denominator instead of their quotient. An internal
#: entry beside the public ``reduction`` argument, which keeps its four documented values.
#: Per thread, so that a loss called on another thread meanwhile (data-loader threads,
#: replicas of ``torch.nn.DataParallel``) returns its reduced loss, not terms. (A
#: ``threading.local``, which ``torch.compile`` traces; context variables it cannot.)
_TERMS = _Requests()


def _requests() -> list[bool]:
    """This thread's stack of :func:`loss_terms` requests."""
    return _TERMS.requests


def terms_pending() -> bool:
    """Whether :func:`loss_terms` asks the loss now running for its terms (not cleared)."""
    requests = _requests()
    return bool(requests) and requests[-1]


@contextlib.contextmanager
def terms_requested() -> Iterator[None]:
    """Ask the loss called inside, on this thread, for its terms (:func:`loss_terms`)."""
    requests = _requests()
    requests.append(True)
    try:
        yield
    finally:
        requests.pop()


def take_terms_request() -> bool:
    """Whether the loss now finishing was called by :func:`loss_terms` (clears the request).

    Cleared at the first read, so that only the outermost loss returns its terms.
    """
    requests = _requests()
    if not requests or not requests[-1]:
        return False
    requests[-1] = False
    return True


@_fx.leaf
def safe_divide(numerator: Array, denominator: Array) -> Array:
    """``numerator / denominator``, and 0 (with a zero gradient) where the denominator is 0.

    Args:
        numerator: the summed weighted loss (any framework's array, or a number).
        denominator: the matching denominator, same framework (or a number).

    Returns:
        The quotient; 0 where ``denominator == 0``. A number with an array is taken in the
        array's framework, device and floating dtype; two numbers (terms summed on the
        host) give a NumPy ``float64``.

    Raises:
        TypeError: for arrays of two frameworks, or an argument that is neither an array
            nor a real number.
        ValueError: for shapes that do not broadcast together.

    Example:
        >>> import numpy as np
        >>> float(safe_divide(np.float32(3.0), np.float32(0.0)))
        0.0
        >>> float(safe_divide(6.0, 4))
        1.5
    """

    def framework(x: Any) -> str | None:
        return "numpy" if isinstance(x, np.generic) else ns.framework(x)

    def number(x: Any) -> bool:
        return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.generic))

    for name, value in (("numerator", numerator), ("denominator", denominator)):
        v.check_plain_array(name, value)
        if not (ns.is_array(value) or isinstance(value, np.generic) or number(value)):
            raise v.type_error(
                name, "an array or a real number", f"{name} of type {type(value).__name__}"
            )
        if isinstance(value, (np.bool_, np.complexfloating)):
            raise v.type_error(name, "an array or a real number", f"{name}={value!r}")
    if len({framework(numerator), framework(denominator)} - {None}) > 1:
        raise v.type_error(
            "denominator",
            f"an array of the numerator's framework ({framework(numerator)})",
            f"denominator of type {type(denominator).__name__}",
        )
    arrays = [x for x in (numerator, denominator) if not number(x)]
    if not arrays:  # per-rank terms summed on the host as Python numbers
        return _safe_divide(np, np.asarray(numerator, np.float64), np.float64(denominator))
    like = arrays[0]
    xp = ns.namespace(like)
    dtype = like.dtype if v.is_floating(xp, like.dtype) else None

    def own(x: Any) -> Any:  # a number as an array of the other argument's framework
        if not number(x):
            return x
        kind = dtype if dtype is not None or not isinstance(x, numbers.Integral) else like.dtype
        if isinstance(like, np.generic):
            return np.asarray(x, dtype=kind)
        return ns.to_device(xp, np.asarray(x), like, dtype=kind)

    numerator, denominator = own(numerator), own(denominator)
    _check_broadcast(numerator, denominator)
    if ns.is_tf_namespace(xp):  # TensorFlow mixes no dtypes: integers divide in floats
        floats = [x.dtype for x in (numerator, denominator) if v.is_floating(xp, x.dtype)]
        target = floats[0] if floats else xp.float64  # (tf.math.truediv's int32 result)
        numerator, denominator = (
            x if x.dtype == target else xp.astype(x, target) for x in (numerator, denominator)
        )
    return _safe_divide(ns.namespace(numerator, denominator), numerator, denominator)


def _check_broadcast(numerator: Array, denominator: Array) -> None:
    """Shapes that broadcast together (known sizes only: symbolic ones stay unread)."""
    shapes = [tuple(v.static_shape(x)) for x in (numerator, denominator)]
    known = [tuple(d for d in shape if type(d) is int) for shape in shapes]
    if [len(k) for k in known] != [len(s) for s in shapes]:
        return
    try:
        np.broadcast_shapes(*known)
    except ValueError:
        raise v.value_error(
            "denominator",
            f"a shape that broadcasts with the numerator's {v.shape_str(shapes[0])}",
            f"denominator of shape {v.shape_str(shapes[1])}",
        ) from None


def _safe_divide(xp: Any, numerator: Array, denominator: Array) -> Array:
    zero = denominator == 0
    torch = ns.torch_of(xp)
    if torch is not None and numerator.dtype == denominator.dtype:  # (see ns.torch_of)
        # (masked_fill: the values and gradients of a where with a number, without the
        # number's 0-d tensor made on every call)
        return (numerator / denominator.masked_fill(zero, 1.0)).masked_fill(zero, 0.0)
    safe = xp.where(zero, xp.ones_like(denominator), denominator)
    if isinstance(numerator, (np.ndarray, np.generic)):  # a quotient beyond the range: inf,
        with np.errstate(over="ignore"):  # as on every framework (NumPy alone warns)
            quotient = divide(numerator, safe, xp=xp)
    else:
        quotient = divide(numerator, safe, xp=xp)
    return xp.where(zero, xp.zeros_like(numerator), quotient)


def scale_free(
    xp: Any, weights: list[Array | None], valid: Array | None, reduction: Any
) -> list[Array | None]:
    """The weights of a ``"weighted_mean"``, brought near 1 by one common power of two.

    ``sum(w * l) / sum(w)`` does not change when every weight is multiplied by the same
    number, but its float evaluation does: subnormal weights lose their digits in
    ``w * l`` and their ``1 / sum(w)`` overflows in the gradient (inf, then NaN at a zero
    weight), and huge ones overflow ``sum(w)``. Multiplying ``weights`` (factors of one
    product, such as ``q`` and ``r`` of the sigmoid family, or one array) by ``2**-e``,
    where ``2**e`` is about a quarter of their largest counted entry, keeps the result (bit for bit
    in the normal range: a power of two scales exactly) and makes it exact at the
    extremes. Other reductions, a :func:`loss_terms` request (ranks must share one
    scale) and empty arrays are left as they are. Where the platform flushes subnormal
    numbers to zero (XLA and TensorFlow on CPUs), subnormal weights read as 0 before
    any scaling: they then count nothing, as zero weights do.
    """
    present = [w for w in weights if w is not None]
    if reduction != "weighted_mean" or terms_pending() or not present:
        return weights
    if any(d == 0 for w in present for d in v.static_shape(w)):
        return weights  # (an unknown size may be 0: the max of nothing is -inf, no scale)
    masks = valid is not None and any(tuple(w.shape) == tuple(valid.shape) for w in present)
    torch = ns.torch_of(xp)
    if torch is not None and not masks:  # kernels' path: one launch (Triton)
        from wxent._fastpaths import select

        scaled = select.scale_weights(present, joint=True)
        if scaled is not None:
            return [None if w is None else scaled.pop(0) for w in weights]
    if torch is not None and len({w.dtype for w in present}) == 1:
        return _scale_free_torch(torch, weights, valid)
    # masked arrays: the weights of elements that do not count are 0 (scaled, they
    # might overflow: their maximum did not set the scale); kept by position (``id`` of a
    # tensor breaks torch 2.11's graph)
    masked: list[Array | None] = []
    for w in weights:
        if w is not None and valid is not None and tuple(w.shape) == tuple(valid.shape):
            w = xp.where(valid, w, xp.zeros_like(w))
        masked.append(w)
    maxima = [xp.max(w) for w in masked if w is not None]
    largest = maxima[0]
    for m in maxima[1:]:
        largest = xp.maximum(largest, m)
    usable = xp.logical_and(largest > 0, largest < float("inf"))
    # the largest weight lands in [4, 8): 2**-e is a normal float up to the largest
    # weights (a compiler may fold the two factors into one)
    e = xp.floor(xp.log2(xp.where(usable, largest, xp.full_like(largest, 4.0)))) - 2.0
    half = xp.floor(e / 2)  # two factors: 2**1076 itself is not a float64
    two, power = xp.full_like(largest, 2.0), xp.pow
    if ns.is_jax_namespace(xp):  # jnp.power first tries int(exponent): a host read
        import jax

        power = jax.lax.pow
    first, second = power(two, -half), power(two, half - e)
    return [None if w is None else (w * first) * second for w in masked]


def _scale_free_torch(torch: Any, weights: list[Array | None], valid: Array | None) -> list:
    """:func:`scale_free` in direct ``torch`` calls: the same factors, in fewer operations.

    The factors are those of :func:`scale_free` bit for bit, from fewer small launches
    (each a few microseconds of host time on 0-d tensors): the exponent is taken from the
    detached maximum (its gradient is 0 either way: a ``floor``), and ``nan_to_num`` sets
    it to 0 where the maximum is not a positive finite number (``log2`` of 0, of a
    negative or non-finite number is not finite), in place of the comparisons and the
    ``where`` that gave ``log2(4) - 2`` there. (array-api-compat's wrappers cast 0-d
    operands and fill constants: a dozen small launches more per call.)
    """
    masked: list[Array | None] = []  # (by position, as in scale_free)
    for w in weights:
        if w is not None and valid is not None and tuple(w.shape) == tuple(valid.shape):
            w = torch.where(valid, w, 0.0)
        masked.append(w)
    maxima = [torch.amax(w.detach()) for w in masked if w is not None]
    largest = maxima[0]
    for m in maxima[1:]:
        largest = torch.maximum(largest, m)
    e = torch.nan_to_num(torch.floor(torch.log2(largest)) - 2.0, nan=0.0, posinf=0.0, neginf=0.0)
    half = torch.div(e, 2, rounding_mode="floor")
    first, second = torch.pow(2.0, -half), torch.pow(2.0, half - e)
    return [None if w is None else (w * first) * second for w in masked]


def _count(xp: Any, values: Array, valid: Array | None) -> Array:
    if valid is not None:
        return xp.sum(xp.astype(valid, values.dtype))
    n = _static_count(values)
    if n is not None and not ns.torch_is_compiling():  # (float() would fix a symbolic size)
        return ns.to_device(xp, np.asarray(float(n)), values, dtype=values.dtype)
    return xp.sum(xp.ones_like(values))


def _static_count(values: Array) -> int | None:
    """The number of elements of ``values``, ``None`` when a dimension is unknown."""
    dims = v.static_shape(values)  # None: unknown (TensorFlow, jax.export)
    if any(d is None for d in dims):
        return None
    n = 1
    for d in dims:
        n *= d or 0
    return n


def reduce(
    xp: Any,
    values: Array,
    weights: Array | None,
    valid: Array | None,
    reduction: str,
    *,
    terms: bool = False,
    numerators: list[Array] | None = None,
) -> Array | LossTerms:
    """Reduce weighted per-element losses.

    Args:
        xp: the array namespace.
        values: ``w * l`` per element, already 0 where not valid.
        weights: the effective weight of every element, broadcastable to ``values``,
            or ``None`` when every weight is 1.
        valid: boolean mask of valid elements broadcastable to ``values``, or ``None``.
        reduction: a name from the table above.
        terms: return :class:`LossTerms` (numerator and denominator) instead.
        numerators: a list that receives the numerator of a ``"weighted_mean"`` with
            ``weights`` (its division by a zero sum of weights gives 0, whatever the
            numerator: a caller whose values may hold a NaN to answer reads it there).

    Returns:
        The per-element array for ``"none"``, a 0-d array otherwise, or
        :class:`LossTerms` when ``terms`` is set.
    """
    name = reduction
    if name == "none":
        if ns.torch_of(xp) is not None:  # torch's -log p of a sure class is -0.0 (and so
            return values + 0.0  # its weighted loss): +0.0, as on the other frameworks
        return values
    torch = ns.torch_of(xp)  # (direct torch sums: array-api-compat's wrappers cost host time)
    numerator = xp.sum(values) if torch is None else torch.sum(values)
    if isinstance(numerator, np.generic):  # NumPy sums give scalars: a 0-d array, as the others
        numerator = np.asarray(numerator)
    if (name == "mean" or (name == "weighted_mean" and weights is None)) and not terms:
        n = _static_count(values) if valid is None else None
        if n and torch is not None:  # a known count: a division by a number
            if torch._C._are_functorch_transforms_active():
                # torch.func.jvp gives a 0-d tensor divided by a Python number a float64
                # tangent (float32 loss): a divisor of the loss's dtype keeps the tangent's
                divisor = torch.full((), float(n), dtype=numerator.dtype, device=numerator.device)
                return numerator / divisor
            return numerator / (n if isinstance(n, torch.SymInt) else float(n))  # (symbolic)
        if n and (ns.is_jax_namespace(xp) or ns.is_tf_namespace(xp)):
            # A division by the number, rounded to the loss's dtype as the count array
            # would be: eagerly, the count's array and the safe division were six
            # dispatched operations more.
            return divide(numerator, float(n), xp=xp)
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
                if torch is not None:
                    w = torch.where(valid, w, 0.0)
                else:
                    w = xp.where(valid, w, xp.zeros_like(w))
            denominator = xp.sum(w) if torch is None else torch.sum(w)
            if numerators is not None:
                numerators.append(numerator)
    if terms:
        if isinstance(denominator, np.generic):  # (NumPy sums give scalars, as above)
            denominator = np.asarray(denominator)
        return LossTerms(numerator, denominator)
    if name == "sum":
        return numerator
    return _safe_divide(xp, numerator, denominator)


@_fx.leaf
def loss_terms(
    loss: Callable[..., Any], logits: Array, labels: Array, *args: Any, **options: Any
) -> LossTerms:
    """The numerator and denominator of a reduced loss, for data-parallel training.

    ``loss(logits, labels, **options)`` equals
    ``safe_divide(*loss_terms(loss, logits, labels, **options))``. Each rank computes
    its terms on its shard; summing numerators and denominators over ranks (an
    all-reduce) and dividing gives the loss of the whole batch — for ``"mean"`` and
    ``"weighted_mean"`` alike, with ignored elements and class weights — not a mean of
    per-rank means.

    Args:
        loss: a wxent loss function, such as :func:`wxent.softmax_cross_entropy`.
        logits: as for ``loss``.
        labels: as for ``loss``.
        *args: further positional arguments of ``loss`` (costs, priors).
        **options: the loss's options; ``reduction`` is ``"mean"`` (default) or
            ``"weighted_mean"`` (a ``"sum"`` needs no denominator: sum the losses).

    Returns:
        ``LossTerms(numerator, denominator)``, two 0-d arrays, in the caller's scale of
        the weights (ranks add them; the reduced loss itself rescales its weights first,
        so weights below the float's normal range lose digits here only), in the
        logits' compute dtype: float32 for float16 and bfloat16 logits (a float16
        count overflows at 65520 elements, a bfloat16 one rounds 70000 to 70144), so
        their quotient is a float32 loss there.

    Raises:
        ValueError: for a ``reduction`` other than ``"mean"`` or ``"weighted_mean"``.
        TypeError: if ``loss`` is not a wxent loss.

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.array([[2.0, 0.0], [0.0, 1.0]], dtype=np.float32)
        >>> num, den = wxent.loss_terms(wxent.softmax_cross_entropy, logits, np.array([0, 1]),
        ...                             class_weight=[1.0, 3.0], reduction="weighted_mean")
        >>> float(den)
        4.0
    """
    reduction = options.pop("reduction", "mean")
    v.check_terms_reduction(reduction)
    try:
        parameters = inspect.signature(loss).parameters.values()
    except (TypeError, ValueError):  # not introspectable: the result decides below
        parameters = None
    if parameters is not None and not any(
        p.name == "reduction" or p.kind is p.VAR_KEYWORD for p in parameters
    ):  # a function without a reduction (bayes_decision, a metric) is not a loss
        raise v.type_error(
            "loss", "a wxent loss function", f"loss={getattr(loss, '__name__', loss)!r}"
        )
    with terms_requested():
        terms = loss(logits, labels, *args, reduction=reduction, **options)
    if not isinstance(terms, LossTerms):
        raise v.type_error(
            "loss", "a wxent loss function", f"loss={getattr(loss, '__name__', loss)!r}"
        )
    return terms
