"""Stable building blocks: softplus, log-sum-exp, and products where ``0 * inf = 0``.

Every function takes ``xp`` and uses only standard Array API names.
"""

from __future__ import annotations

from typing import Any

from wxent import _namespace as ns
from wxent._types import Array

#: Where ``-log p`` exceeds this, ``p = exp(-1000)`` is 0 in float32 and float64 alike: a
#: modulating factor ``(1 - p)**gamma`` is exactly 1 and a focal term exactly ``-log p``.
#: The focal losses take that branch as such, so their product branch never sees an
#: infinite (or overflowing) ``-log p``.
FAR = 1000.0


def smoothing_is(eps: Any, value: float) -> bool:
    """Whether the label smoothing ``eps`` is known to be ``value`` (0 or 1).

    ``eps`` is a Python number, or a float64 0-d array: the value of a compiled eager call
    (TensorFlow's, whose smoothing is an argument so that a schedule compiles nothing
    new), which is never 0 or 1 (those are compiled apart).
    """
    return not ns.is_array(eps) and eps == value


def smoothing_factors(eps: Any, like: Array, *, xp: Any) -> tuple[Any, Any]:
    """``(1 - eps, eps)`` for arrays of ``like``'s dtype.

    A float64 array ``eps`` (see :func:`smoothing_is`) gives the two factors rounded once
    to the dtype, as the Python number's would be.
    """
    if not ns.is_array(eps):
        return 1.0 - eps, eps
    return xp.astype(1.0 - eps, like.dtype), xp.astype(eps, like.dtype)


def smoothed(target: Any, spread: Any, eps: Any, *, xp: Any = None) -> Any:
    """``(1 - eps) * target + eps * spread``: the loss of the smoothed target.

    At ``eps = 1`` the spread alone: the target's weight is 0, also where its loss is
    ``inf`` (the label's logit at ``-inf``, or a row holding ``+inf`` elsewhere), where
    ``0 * inf`` would make the loss NaN. ``xp``: the namespace of the generic core's
    callers (TensorFlow scales with :func:`scale`); the fast paths' kernels leave it out.
    ``eps``: a number, or a float64 0-d array (:func:`smoothing_is`, with ``xp``).
    """
    if smoothing_is(eps, 1.0):
        return spread
    if xp is not None and ns.is_array(eps):
        keep, eps = smoothing_factors(eps, target, xp=xp)
        return scale(target, keep, xp=xp) + scale(spread, eps, xp=xp)
    if xp is not None and ns.is_tf_namespace(xp):
        return scale(target, 1.0 - eps, xp=xp) + scale(spread, eps, xp=xp)
    return (1.0 - eps) * target + eps * spread


def scale(x: Array, factor: Any, *, xp: Any) -> Array:
    """``x * factor``, for an ``x`` that may be infinite (a loss) and a finite ``factor``.

    TensorFlow multiplies with :func:`wxent._tf_namespace.multiply`, whose tangent under
    a forward accumulator is finite where ``x`` is infinite (a plain product's is NaN
    there: the factor's zero tangent times ``x``); every other framework multiplies.
    """
    if ns.is_tf_namespace(xp):
        return xp.multiply(x, factor)
    return x * factor


def divide(x: Array, divisor: Any, *, xp: Any) -> Array:
    """``x / divisor``, for an ``x`` that may be infinite: :func:`scale`'s division."""
    if ns.is_tf_namespace(xp):
        return xp.divide(x, divisor)
    return x / divisor


def take_along_axis(x: Array, index: Array, *, axis: int, xp: Any) -> Array:
    """``xp.take_along_axis(x, index, axis=axis)`` for valid, non-negative ``index``.

    PyTorch gathers (``torch.gather``): its ``take_along_dim`` fixes symbolic sizes to
    the example's under ``torch.compile`` with dynamic shapes and ``torch.export``, so
    every new batch size compiled the loss again.
    """
    torch = ns.torch_of(xp)
    if torch is not None:
        return torch.gather(x, axis, index)
    return xp.take_along_axis(x, index, axis=axis)


def softplus(x: Array, *, xp: Any) -> Array:
    """``log(1 + exp(x))``, stable for all ``x``; gradient ``sigmoid(x)`` (exactly 0.5 at 0).

    Computed as ``x + log1p(exp(-x))`` for ``x > 0`` and ``log1p(exp(x))`` otherwise,
    from one ``exp`` and one ``log1p`` of ``where(x > 0, -x, x)`` (the first element of
    :func:`softplus_pair`, bit for bit).
    """
    positive = x > 0
    shared = xp.log1p(xp.exp(xp.where(positive, -x, x)))
    return xp.where(positive, x + shared, shared)


def softplus_pair(x: Array, *, xp: Any) -> tuple[Array, Array]:
    """``(softplus(x), softplus(-x))`` from one ``exp`` and one ``log1p``, as :func:`softplus`.

    Both share ``l = log1p(exp(-|x|))``: ``softplus(x)`` is ``x + l`` for ``x > 0`` and ``l``
    otherwise, ``softplus(-x)`` is ``l`` for ``x > 0`` and ``l - x`` otherwise; the values
    are :func:`softplus`'s bit for bit, with 9 elementwise operations instead of 22. The
    exponent is ``where(x > 0, -x, x)`` (not ``-abs(x)``), so the gradients at ``x = 0``
    are ``0.5`` and ``-0.5``; they are finite at infinite ``x`` (only additions meet the
    infinite branch).
    """
    positive = x > 0
    shared = xp.log1p(xp.exp(xp.where(positive, -x, x)))
    return xp.where(positive, x + shared, shared), xp.where(positive, shared, shared - x)


def logsumexp(x: Array, *, axis: int, xp: Any, shift: Array | None = None) -> Array:
    """``log(sum(exp(x), axis))`` with the axis kept (size 1), stable for large ``|x|``.

    Rows whose maximum is infinite use 0 as the shift, so ``-inf`` entries contribute
    ``exp(-inf) = 0`` and never produce ``inf - inf``. ``shift`` is that row shift when
    the caller has it (:func:`limit_rows`), which saves a pass over ``x``.
    """
    if shift is None:
        m = constant(xp.max(x, axis=axis, keepdims=True), xp=xp)
        shift = xp.where(xp.isfinite(m), m, 0.0)
    return shift + shifted_log_total(x, shift, axis=axis, xp=xp)[1]


def shifted_log_total(x: Array, shift: Array, *, axis: int, xp: Any) -> tuple[Array, Array]:
    """``(z, log(sum(exp(z), axis)))`` of the shifted logits ``z = x - shift`` (axis kept).

    ``logsumexp(x) = shift + log_total``, but a loss or a probability must not be formed
    from that sum: at large ``|x|`` (``1e4`` and beyond in float32) ``shift + log_total``
    rounds ``log_total`` away, and ``lse - x_c`` or ``exp(x - lse)`` cancel
    catastrophically. In the shifted logits, ``log p = z - log_total``, ``-log p_y =
    log_total - z_y`` and ``p = exp(z - log_total)`` are as accurate as the logits allow,
    at the same cost (the subtraction ``x - shift`` is the log-sum-exp's own).
    """
    z = x - shift
    return z, xp.log(xp.sum(xp.exp(z), axis=axis, keepdims=True))


def constant(x: Array, *, xp: Any) -> Array:
    """``x`` as a constant of differentiation (the framework's stop-gradient).

    For a quantity the result does not depend on, such as the shift of a log-sum-exp:
    its gradient is 0 in exact arithmetic, and autodiff would spend passes over the
    logits on a rounding error (the ``max``'s backward). Arrays of other namespaces
    (NumPy, array-api-strict) carry no gradient and are returned as they are.
    """
    if ns.is_torch_namespace(xp):
        return x.detach()
    if ns.is_jax_namespace(xp):
        import jax

        return jax.lax.stop_gradient(x)
    if ns.is_tf_namespace(xp):
        import tensorflow as tf

        return tf.stop_gradient(x)
    return x


def limit_rows(x: Array, *, axis: int, xp: Any) -> tuple[Array, Array]:
    """:func:`limit_logits` and the row shift of :func:`logsumexp` of the result.

    The row maximum is computed once, for both: a finite row keeps its logits and its
    maximum as the shift; a row holding ``+inf`` becomes its limit (0 at the ``+inf``
    entries, ``-inf`` elsewhere, from constants: gradient 0) with shift 0; a row of only
    ``-inf`` keeps its logits with shift 0. Three elementwise passes over ``x`` (one
    comparison, two ``where`` with a scalar or a per-row constant: no constant of the
    logits' size; none on the host when no row holds ``+inf``), one ``where`` in the
    backward pass; the values are
    :func:`limit_logits`'s and :func:`logsumexp`'s bit for bit. The shift is a
    :func:`constant` (the log-sum-exp does not depend on it).

    Returns:
        ``(limited, shift)``: the limited logits, shape of ``x``, and the shift, shape of
        ``x`` with ``axis`` of size 1.
    """
    m = constant(xp.max(x, axis=axis, keepdims=True), xp=xp)
    row_inf = m == float("inf")
    if _readable_on_host(x) and not bool(xp.any(row_inf)):
        # host logits without +inf (the usual case): nothing to limit, and reading the
        # flag costs no transfer; two passes and two logits-size temporaries saved
        return x, xp.where(xp.isfinite(m), m, 0.0)

    def limited() -> Array:
        minus_inf = xp.full_like(m, -float("inf"))  # per row: no gradient, nothing full-size
        limit = xp.where(x == float("inf"), 0.0, minus_inf)  # no gradient: 1 where backward
        return xp.where(row_inf, limit, x)

    shift = xp.where(xp.isfinite(m), m, 0.0)
    if ns.is_tf_namespace(xp) and not ns.is_concrete(x):
        # A TensorFlow graph runs each op as its own pass (no fusion without XLA): the
        # three passes run in a branch taken only when some row holds +inf.
        import tensorflow as tf

        return tf.cond(tf.reduce_any(row_inf), limited, lambda: x), shift
    return limited(), shift


def _readable_on_host(x: Array) -> bool:
    """Whether a flag of ``x`` is read at no cost: concrete values in host memory.

    NumPy, and eager TensorFlow tensors on a CPU; never a traced value (``tf.function``,
    ``jax.jit``), whose branches must not depend on values, nor an accelerator's, whose
    read would wait for it. PyTorch keeps the branch-free limits: its calls read one
    scalar each, the checks' (its CPU fast paths take the limits themselves).
    """
    return not ns.is_torch(x) and ns.on_host(x) and ns.is_concrete(x)


def shifted_logits(x: Array, *, axis: int, xp: Any) -> Array:
    """The shifted logits ``x - max(x)`` along ``axis``, for adding per-class offsets.

    Softmax and argmax are shift-invariant, and in the shifted logits, whose row maximum
    is 0, an offset (a decision offset, a log prior) counts at any magnitude, where
    ``x + b`` rounds ``b`` away (float32 logits ``1e8`` are 8 apart). Rows whose maximum
    is not finite (``+inf``, only ``-inf``, NaN) keep their logits, so ``+inf`` entries
    stay ``+inf`` after an offset. The result is a ``where``, not a subtraction:
    TensorFlow's graph optimizer rewrites a constant added to a difference,
    ``(x - s) + c``, as ``x + (c - s)``, which rounds ``c`` away again.
    """
    m = constant(xp.max(x, axis=axis, keepdims=True), xp=xp)
    finite = xp.isfinite(m)
    return xp.where(finite, x - xp.where(finite, m, 0.0), x)


def offset_argmax(
    x: Array, b: Any, *, axis: int, xp: Any, lowest: float | None, mark_nan: bool
) -> Array:
    """``argmax(x + b)`` along ``axis``, defined at infinite logits and offsets.

    ``b``: a Python number (the same for every class: it decides nothing) or offsets of
    ``x``'s framework that broadcast along ``axis``. The classes of a row are ranked by,
    in this order:

    1. their offset's infinity: ``-inf`` below every finite offset, ``+inf`` above;
    2. their logit's infinity, likewise;
    3. the finite rest: the logit, shifted by the row's largest finite logit (so that an
       offset counts at any magnitude, as in :func:`shifted_logits`), plus the offset,
       each counted 0 where infinite (the rest of ``+inf + 3`` is 3).

    The first index wins a tie. So an offset ``-inf`` never chooses its class while a
    class of a larger offset is in the row, an offset ``+inf`` always does (among several,
    the logits decide), a ``+inf`` logit beats the finite ones of the same offset class,
    and among several ``+inf`` logits the largest offset wins. No ``inf - inf``: no NaN
    decides. ``lowest``: where the finite rest saturates, above the most negative finite
    value of ``x``'s dtype (a shifted logit ``-3e38 - 3e38`` is not ``-inf``, which would
    tie with the classes ranked out, nor that value, which TensorFlow's argmax never
    picks: it starts from it and takes only larger entries). ``mark_nan``: a row holding
    a NaN logit, and every row when an offset is NaN, decides ``-1`` (traced calls,
    where no check can raise).
    """
    inf = float("inf")
    finite = xp.isfinite(x)
    level = xp.where(finite, 0.0, xp.sign(x))
    scalar = isinstance(b, (int, float))
    if not scalar:
        finite_b = xp.isfinite(b)
        level = level + xp.where(finite_b, 0.0, 3.0 * xp.sign(b))
    m = xp.max(xp.where(finite, x, -inf), axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0.0)
    rest = xp.where(finite, x - m, 0.0)  # (a where: no rewrite of (x - m) + b, see above)
    if not scalar:
        rest = rest + xp.where(finite_b, b, 0.0)
    if lowest is not None:
        rest = xp.clip(rest, min=lowest)
    top = xp.max(level, axis=axis, keepdims=True)
    decision = xp.argmax(xp.where(level == top, rest, -inf), axis=axis)
    if mark_nan:
        bad = xp.any(xp.isnan(x), axis=axis)
        if not scalar:
            bad = xp.logical_or(bad, xp.any(xp.isnan(b)))
        decision = xp.where(bad, -1, decision)
    return decision


def limit_logits(x: Array, *, axis: int, xp: Any) -> Array:
    """Rows holding ``+inf`` replaced by their limit: 0 at the ``+inf`` entries, ``-inf`` elsewhere.

    Softmax is shift-invariant, so shifting such a row by its infinite maximum gives the
    limit of the softmax (uniform over the ``+inf`` entries) and of the cross-entropy
    (``log k`` for a target among ``k`` infinite entries, ``inf`` otherwise) without
    ``inf - inf``. Finite rows are unchanged; the gradient in a ``+inf`` row is 0.
    """
    return limit_rows(x, axis=axis, xp=xp)[0]


def log_softmax(x: Array, *, axis: int, xp: Any) -> Array:
    """``x - logsumexp(x)`` along ``axis``, exact in rows holding ``+inf`` (their limit).

    Computed as ``(x - shift) - log_total`` (:func:`shifted_log_total`), accurate at any
    finite magnitude of the logits.
    """
    x, shift = limit_rows(x, axis=axis, xp=xp)
    z, log_total = shifted_log_total(x, shift, axis=axis, xp=xp)
    return z - log_total


def safe_mul(t: Array, v: Array, *, xp: Any) -> Array:
    """``t * v`` with ``0 * v = 0`` even where ``v`` is infinite or NaN (``0 * log 0 = 0``).

    ``t * where(t == 0, 0, v)``: no ``0 * inf`` in the value nor in either gradient; the
    gradient of ``v`` is ``t`` (0 where ``t`` is 0). Where ``t`` (labels, weights) may
    be differentiated (:func:`may_differentiate`), the mask is ``t == 0`` and ``v`` not
    finite: the gradient of ``t`` is then ``v`` also at ``t = 0`` (a hard label 0 or 1:
    the loss is linear in it), and 0 only where ``v`` is infinite or NaN. Elsewhere the
    plain mask saves two passes (labels are seldom differentiated).
    """
    if may_differentiate(t):
        hidden = xp.logical_and(t == 0, xp.logical_not(xp.isfinite(v)))
    else:
        hidden = t == 0
    return scale(xp.where(hidden, 0.0, v), t, xp=xp)


def may_differentiate(t: Array) -> bool:
    """Whether a gradient with respect to ``t`` may be asked for.

    PyTorch: ``t`` requires a gradient, or is traced (``torch.compile``, ``torch.func``);
    JAX: a tracer (``jax.grad``, ``jit``, ``vmap``); TensorFlow: inside ``tf.function``,
    or eagerly where a tape watches ``t`` or ``t`` carries a forward accumulator's
    tangent. Never for NumPy and other arrays.
    """
    if ns.is_torch(t):
        return bool(t.requires_grad) or not ns.is_concrete(t)
    if ns.is_tensorflow(t):
        import tensorflow as tf
        from tensorflow.python.eager import forwardprop_util, record

        if not tf.executing_eagerly():
            return True
        if not record.could_possibly_record():
            return False
        t = tf.convert_to_tensor(t)
        return bool(record.should_record_backprop([t])) or any(
            forwardprop_util.pack_tangents([t]).indices
        )
    return not ns.is_concrete(t)


def modulate(loss: Array, log_base: Array, gamma: float, *, xp: Any) -> Array:
    """``loss * exp(gamma * log_base)``; ``gamma = 0`` leaves ``loss`` untouched."""
    if gamma == 0.0:
        return loss
    return loss * xp.exp(gamma * log_base)


def has_unknown_dims(x: Array) -> bool:
    """Whether some dimension of ``x`` is unknown (TensorFlow graphs with ``None`` dims)."""
    return any(d is None for d in tuple(x.shape))


def class_count(x: Array, *, axis: int, xp: Any) -> Any:
    """The number of classes along ``axis``: an int, or a 0-d array when it is unknown."""
    count = x.shape[axis]
    if count is not None:
        return count
    first = xp.sum(xp.ones_like(x), axis=axis, keepdims=True)  # unknown C: count it
    return first


def two_sum(a: Array, b: Array) -> tuple[Array, Array]:
    """``(s, e)`` with ``s = fl(a + b)`` and ``s + e == a + b`` exactly (finite values).

    Knuth's branch-free two-sum, six elementwise operations in the arrays' dtype, on their
    device: the running sums of the metrics keep ``e`` to stay exact past ``2**24`` in
    float32. A compiler that reassociated floating-point additions would lose ``e``
    (eager frameworks and XLA do not).
    """
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def fold_error(total: Array, error: Array | None, *, xp: Any) -> Array:
    """A running sum plus the rounding errors :func:`two_sum` kept beside it.

    No error past an overflow of ``total`` to ``inf`` (where ``error`` is ``inf - inf``).
    """
    if error is None:
        return total
    return total + xp.where(xp.isfinite(error), error, xp.zeros_like(error))
