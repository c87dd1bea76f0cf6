"""TensorFlow custom gradients of the focal and asymmetric losses (see :mod:`.focal`).

Why: TensorFlow runs each operation of the generic formulas as its own pass over the
logits, and autodiff keeps most of their outputs for the backward pass (about 40 passes
and 20 full-size intermediates for ``sigmoid_focal_loss``). Here each loss is a
``tf.custom_gradient`` whose forward pass computes the loss and its derivative from one
set of intermediates, with the tapes paused (nothing of it is recorded), and whose
backward pass keeps the logits plus one per-element derivative (sigmoid family, dense
softmax targets) or two per-row values (``lse`` and ``k_y`` of the softmax focal loss
with class indices; the gradient is ``(onehot(y) - softmax(x)) * k_y``). The formulas
are those of :mod:`.focal_torch`, with the same limits at infinite logits.

Every product with the upstream gradient is a ``multiply_no_nan``: an element (row)
that does not count has gradient exactly 0, also at a NaN logit.

Other derivatives are taken by autodiff of the generic formulas, recomputed in the
backward pass from the kept inputs under a nested ``tf.GradientTape``:

* the gradient of the labels, ``pos_weight`` or ``neg_weight``: eagerly where a tape
  watches them; in a traced function always (a tape outside the function may ask for it
  later), and TensorFlow prunes it where nothing reads it;
* second derivatives: when a tape records the backward pass itself (a nested tape, a
  Hessian-vector product), the gradient is the generic formulas' autodiff, recorded, so
  the outer tape differentiates it exactly. A function traced without a tape and
  differentiated twice later differentiates the kept derivative through the forward
  operations that made it (TensorFlow's symbolic gradients), exact as well for finite
  logits.

Eagerly, where no tape watches the inputs (evaluation), the loss alone is computed. In a
traced function the derivative is computed beside the loss; TensorFlow prunes it when
no gradient reads it. Unknown leading dimensions are fine (``tf.function`` with ``None``
dimensions); the softmax rules need a known number of classes. :data:`CALLS` counts the
rules' uses by name (eagerly per call, traced per trace).

Eagerly each TensorFlow operation is a dispatch and a pass of its own (the focal loss's
forward pass is about thirty of them, the asymmetric loss's about forty); there the
rules run as ``tf.function`` graphs (:func:`compiled`; the same operations and kernels,
so the same values bit for bit, limits included): the loss alone where no tape watches
the inputs, else the custom gradient's forward pass (tapes paused) and, for class
indices, its backward pass. The backward passes that are one or two operations stay
eager, as do those a tape records (second derivatives) and the labels' and weights'
gradients (the generic formulas' autodiff, which a graph orders differently). Traces
are keyed on the options and the layout of the ``None`` weights (at most
:data:`MAX_KEYS` option keys per function; further ones run operation by operation),
and ``reduce_retracing`` bounds them per key whatever the shapes. Inside a traced
function (a user's ``tf.function``, Keras' compiled steps) the operations are traced
inline, as before.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import tensorflow as tf
from tensorflow.python.eager import record

from wxent._fastpaths import focal as shared

Tensor = Any

#: Uses of the rules by name (tests read it to prove a rule ran).
CALLS: Counter[str] = Counter()

_mul = tf.math.multiply_no_nan  # _mul(v, c) = v * c, and 0 where c is 0 (v inf or NaN)
_INF = math.inf


def _tensor(a: Any) -> Any:
    """``a`` as a tensor (a ``tf.Variable`` is read: the read is recorded where watched)."""
    return None if a is None else tf.convert_to_tensor(a)


def _watched(tensors: list[Any]) -> bool:
    """Whether a tape watches one of ``tensors`` (now, eagerly or while tracing)."""
    tensors = [t for t in tensors if t is not None and t.dtype.is_floating]
    return bool(tensors) and bool(record.should_record_backprop(tensors))


def _by_tape(
    generic: Callable[..., Tensor], inputs: list[Tensor], wanted: list[bool], upstream: Tensor
) -> list[Tensor | None]:
    """Gradients of ``sum(upstream * generic(*inputs))`` for the ``wanted`` inputs.

    By autodiff of the generic formula under a nested tape: differentiable again where an
    outer tape records this computation.
    """
    targets = [t for t, want in zip(inputs, wanted, strict=True) if want]
    with tf.GradientTape() as tape:
        tape.watch(targets)
        out = generic(*inputs)
    grads = iter(
        tape.gradient(out, targets, output_gradients=upstream, unconnected_gradients="zero")
    )
    return [next(grads) if want else None for want in wanted]


# ----------------------------------------------------------------------------- sigmoid


def _sigmoid_parts(x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``p, 1 - p, softplus(x), softplus(-x)`` from one ``exp`` and one ``log1p``.

    The softplus pair is the generic one (:func:`wxent._core.numerics.softplus_pair`)
    bit for bit.
    """
    e = tf.exp(-tf.abs(x))
    log_term = tf.math.log1p(e)
    r = tf.math.reciprocal(e + 1.0)
    er = e * r
    nonneg = x >= 0
    return (
        tf.where(nonneg, r, er),
        tf.where(nonneg, er, r),
        tf.nn.relu(x) + log_term,
        tf.nn.relu(-x) + log_term,
    )


# The compiled eager functions take the options as values of the call, not as parts of
# their keys, so that a schedule (a new gamma, clip or smoothing each step) traces nothing
# new: the keys hold what the formulas branch on (``_kinds``), the values come as float64
# tensors (:func:`option_values`), from which every number is formed in float64 and then
# rounded once to the logits' dtype (``_num``), as a Python number's constant is.


def option_values(opts: tuple[float, ...]) -> Tensor:
    """The options ``opts`` as one float64 vector, an argument of a compiled function."""
    return tf.constant(opts, tf.float64)


def _options(opts: Any) -> tuple[Any, ...]:
    """``opts`` entry by entry: Python numbers, or the float64 0-d tensors of a vector."""
    return tuple(tf.unstack(opts)) if isinstance(opts, tf.Tensor) else tuple(opts)


def _num(value: Any, dtype: Any) -> Any:
    """A Python number as it is; a float64 option tensor rounded once to ``dtype``."""
    return tf.cast(value, dtype) if isinstance(value, tf.Tensor) else value


def _kinds(opts: tuple[float, ...]) -> tuple[bool, bool, int, bool]:
    """What the sigmoid family's formulas branch on: gammas 0, the clip's form, smoothing."""
    gamma_pos, gamma_neg, clip, eps = opts
    clip_kind = 0 if clip == 0.0 else 2 if clip >= 0.5 else 1  # see clipped_probability
    return gamma_pos == 0.0, gamma_neg == 0.0, clip_kind, eps != 0.0


def _focal_term(
    p: Tensor, q: Tensor, sp_pos: Tensor, sp_neg: Tensor, gamma: Any, zero: bool, slope: bool
) -> tuple[Tensor, Tensor | None]:
    """``A = -(1-p)**gamma log p`` and ``dA/dx`` (see :func:`.focal_torch._focal_term`)."""
    if zero:
        return sp_neg, (-q if slope else None)
    gamma = _num(gamma, p.dtype)
    factor = tf.exp(sp_pos * -gamma)
    derivative = None
    if slope:
        derivative = -factor * (q + gamma * p * tf.minimum(sp_neg, shared.FAR))
    return sp_neg * factor, derivative


def _clipped_negative(
    p: Tensor, q: Tensor, gamma: Any, zero: bool, clip: Any, high: bool, slope: bool
) -> tuple[Tensor, Tensor | None]:
    """``N = -p_m**gamma log(1 - p_m)``, ``p_m = max(p - clip, 0)``, and ``dN/dx``.

    ``high``: ``clip >= 1/2`` (the forms of :func:`wxent._core.sigmoid.clipped_probability`).
    """
    shifted = _num(1.0 - clip, p.dtype) - q if high else p - _num(clip, p.dtype)
    # NaN stays active (a NaN logit is an error). Not logical_not(shifted <= 0): in a
    # graph TensorFlow's optimizer rewrites that as shifted > 0, false for NaN.
    active = tf.logical_or(shifted > 0, tf.math.is_nan(shifted))
    p_m = tf.where(active, shifted, 1.0)
    one_minus = tf.where(active, q + _num(clip, p.dtype), 1.0)
    # (-log1p(-p_m) where p_m <= 1/2: see clipped_probability)
    minus_log = -tf.math.log1p(-tf.where(active, shifted, 0.0)) if high else -tf.math.log(one_minus)
    d_pm = tf.math.reciprocal(one_minus) if slope else None
    if not zero:
        gamma = _num(gamma, p.dtype)
        power = tf.exp(gamma * tf.math.log(p_m))
        if slope:
            d_pm = (d_pm + gamma * minus_log / p_m) * power
        minus_log = minus_log * power
    derivative = tf.where(active, d_pm * p * q, 0.0) if slope else None
    return tf.where(active, minus_log, 0.0), derivative


def _sigmoid_values(
    x: Tensor, cp: Tensor, cn: Tensor, opts: Any, kinds: Any, slope: bool
) -> tuple[Tensor, Tensor | None]:
    """Per-element ``cp*A + cn*N`` (0 where a coefficient is 0) and its derivative."""
    gamma_pos, gamma_neg, clip = _options(opts)[:3]
    pos_zero, neg_zero, clip_kind = kinds[:3]
    p, q, sp_pos, sp_neg = _sigmoid_parts(x)
    pos, d_pos = _focal_term(p, q, sp_pos, sp_neg, gamma_pos, pos_zero, slope)
    if clip_kind == 0:
        neg, d_neg = _focal_term(q, p, sp_neg, sp_pos, gamma_neg, neg_zero, slope)  # A(-x)
        d_neg = None if d_neg is None else -d_neg
    else:
        neg, d_neg = _clipped_negative(p, q, gamma_neg, neg_zero, clip, clip_kind == 2, slope)
    loss = _mul(pos, cp) + _mul(neg, cn)
    if not slope:
        return loss, None
    return loss, cp * d_pos + cn * d_neg


def scalar_argument(value: float) -> Any:
    """An option as the compiled eager functions take it: a value of the call, not of the key.

    A float64 0-d tensor (a schedule, a new value per call, traces nothing new; float64
    keeps the roundings of the Python number, see :func:`_num`); ``0.0`` (no smoothing, a
    gamma of 0) stays a constant of its own trace, as the formulas branch on it.
    """
    return tf.constant(value, tf.float64) if value else 0.0


def _zero(value: Any) -> bool:
    """Whether an option (a number or a :func:`scalar_argument`) is known to be 0."""
    return not isinstance(value, tf.Tensor) and value == 0.0


def smooth_binary(z: Tensor, eps: Any) -> Tensor:
    """``t = z (1 - eps) + eps / 2``; ``eps`` a number or a :func:`scalar_argument`."""
    if isinstance(eps, tf.Tensor):  # each factor rounded once to the dtype, as a number's
        return z * tf.cast(1.0 - eps, z.dtype) + tf.cast(0.5 * eps, z.dtype)
    return z * (1.0 - eps) + 0.5 * eps if eps else z


def _coefficients(z: Tensor, q: Tensor | None, r: Tensor | None, eps: Any) -> Any:
    """``q * t`` and ``r * (1 - t)`` of the smoothed labels ``t = z (1 - eps) + eps / 2``."""
    t = smooth_binary(z, eps)
    cp = t if q is None else t * q
    cn = 1.0 - t if r is None else (1.0 - t) * r
    return cp, cn


def _sigmoid_loss(x: Tensor, z: Tensor, q: Any, r: Any, opts: Any, kinds: Any) -> Tensor:
    """The loss alone (no derivative) of :func:`sigmoid_family`'s inputs.

    ``opts``: ``(gamma_pos, gamma_neg, clip, eps)``, numbers or :func:`option_values`.
    """
    eps = _options(opts)[3] if kinds[3] else 0.0
    cp, cn = _coefficients(z, q, r, eps)
    return _sigmoid_values(x, cp, cn, opts, kinds, slope=False)[0]


def _sigmoid_forward(
    x: Tensor, z: Tensor, q: Any, r: Any, opts: Any, kinds: Any
) -> tuple[Tensor, Tensor]:
    """The loss and its derivative with respect to the logits (the custom gradient's forward)."""
    eps = _options(opts)[3] if kinds[3] else 0.0
    cp, cn = _coefficients(z, q, r, eps)
    loss, derivative = _sigmoid_values(x, cp, cn, opts, kinds, slope=True)
    return loss, derivative


def sigmoid_family(
    x: Tensor, z: Tensor, q: Tensor | None, r: Tensor | None, opts: tuple[float, ...]
) -> Tensor:
    """Per-element ``q t A(x) + r (1 - t) N(x)``, ``t = z (1 - eps) + eps / 2``.

    ``opts`` is ``(gamma_pos, gamma_neg, clip, eps)``; ``q`` and ``r`` broadcast against
    ``x`` (or are ``None``).
    """
    CALLS["sigmoid_family"] += 1
    x, z, q, r = _tensor(x), _tensor(z), _tensor(q), _tensor(r)
    eager = tf.executing_eagerly()
    kinds = _kinds(opts)  # (the compiled functions' key; the values are an argument)
    if eager and not _watched([x, z, q, r]):  # the loss alone
        loss = _compiled("sigmoid_loss", kinds)
        if loss is None:
            return _sigmoid_loss(x, z, q, r, opts, kinds)
        return loss(x, z, q, r, option_values(opts), kinds)
    weights = [w for w in (q, r) if w is not None]
    # The labels' and weights' gradient: eagerly where watched; traced, always (a tape
    # outside the function differentiates it later, and TensorFlow prunes what is unread).
    others = not eager or _watched([z, *weights])
    forward = _compiled("sigmoid_forward", kinds) if eager else None
    values = opts if forward is None else option_values(opts)

    def unpack(z: Tensor, weights: tuple) -> tuple[Tensor, Any, Any]:
        it = iter(weights)
        return z, (None if q is None else next(it)), (None if r is None else next(it))

    def generic(x: Tensor, z: Tensor, *weights: Tensor) -> Tensor:
        return shared.sigmoid_family_generic(x, *unpack(z, weights), opts)

    @tf.custom_gradient
    def rule(x: Tensor, z: Tensor, *weights: Tensor) -> Any:
        with record.stop_recording():
            loss, derivative = (forward or _sigmoid_forward)(x, *unpack(z, weights), values, kinds)

        def backward(upstream: Tensor) -> Any:
            inputs = [x, z, *weights]
            if record.could_possibly_record():  # a second derivative: the generic autodiff
                return _by_tape(generic, inputs, [True] + [others] * (1 + len(weights)), upstream)
            dx = _mul(derivative, upstream)
            if not others:
                return [dx] + [None] * (1 + len(weights))
            return [
                dx,
                *_by_tape(generic, inputs, [False] + [True] * (1 + len(weights)), upstream)[1:],
            ]

        return loss, backward

    return rule(x, z, *weights)


# ----------------------------------------------------------------------------- softmax


def _branch_on_host(x: Tensor) -> bool:
    """Whether a ``tf.cond`` may choose a branch: traced, or eagerly on a CPU."""
    return not tf.executing_eagerly() or "CPU" in (x.device or "CPU")


def _row_stats(x: Tensor, on_host: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Limited logits, rows holding ``+inf`` ``(N, 1)``, shift ``(N, 1)``, ``exp``, sums.

    Rows holding ``+inf`` take their limit (:func:`wxent._core.numerics.limit_logits`: 0
    at the ``+inf`` entries, ``-inf`` elsewhere), in a branch taken only when some row
    holds one. The shift is the row's maximum (0 where it is ``-inf``); a NaN row keeps
    NaN everywhere. Eagerly on an accelerator (``on_host`` false, see
    :func:`_branch_on_host`) the ``where`` runs unconditionally: an eager ``tf.cond``
    reads its predicate on the host, a wait for the device on every call.
    """
    m = tf.reduce_max(x, axis=1, keepdims=True)
    infinite = m == _INF

    def limited() -> Tensor:
        return tf.where(infinite, tf.where(x == _INF, tf.zeros_like(x), -_INF), x)

    x = tf.cond(tf.reduce_any(infinite), limited, lambda: x) if on_host else limited()
    m = tf.where(infinite | (m == -_INF), tf.zeros_like(m), m)
    e = tf.exp(x - m)
    return x, infinite, m, e, tf.reduce_sum(e, axis=1)


def _label_positions(y: Tensor) -> Tensor:
    """``(N, 2)`` int32 indices ``[i, y_i]`` for the scatter of the per-row terms.

    int32 whatever the labels' dtype: ``tf.vectorized_map`` (and a ``jacobian`` that
    vectorizes) batches a scatter by joining its int32 loop index to the indices, which
    failed for int64 labels (``ConcatV2`` of int32 and int64). Labels beyond int32 are
    clipped to -1 or int32's largest value first, so an unchecked label outside the
    classes stays outside them (no wrap-around onto a real class).
    """
    if y.dtype == tf.int64:
        y = tf.clip_by_value(y, tf.constant(-1, y.dtype), tf.constant(2**31 - 1, y.dtype))
    y = tf.cast(y, tf.int32)
    rows = tf.range(tf.shape(y)[0], dtype=tf.int32)
    return tf.stack([rows, y], axis=1)


def _sparse_values(
    x: Tensor, y: Tensor, gamma: Any, on_host: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-row ``F_y``, shift ``m`` (``inf`` in rows holding ``+inf``), ``log_total`` and ``k_y``.

    ``k_y`` is 0 in rows holding ``+inf``; ``dF_y/dx_j = (delta_yj - p_j) * k_y`` with
    ``p = exp((x - m) - log_total)`` (see :func:`.focal_torch._sparse`): in the shifted
    logits, never ``exp(x - lse)``, whose ``lse = m + log_total`` rounds ``log_total``
    away at large ``|x|``.
    """
    x, infinite, m, e, total = _row_stats(x, on_host)
    infinite = infinite[:, 0]
    log_total = tf.math.log(total)
    minus_log_p = log_total - (tf.gather(x, y, axis=1, batch_dims=1) - m[:, 0])
    if _zero(gamma):
        loss = minus_log_p
        k = tf.fill(tf.shape(log_total), tf.constant(-1.0, log_total.dtype))
    else:
        zeros = tf.zeros_like(minus_log_p)
        others = tf.reduce_sum(tf.tensor_scatter_nd_update(e, _label_positions(y), zeros), 1)
        log1m = tf.where(  # log(1 - p_y): log1p for p_y <= 1/2, the sums (exact) above
            minus_log_p >= math.log(2.0),
            tf.math.log1p(-tf.exp(-minus_log_p)),
            tf.math.log(others) - log_total,
        )
        loss, k = shared.focal_and_slope(tf, minus_log_p, log1m, _num(gamma, x.dtype))
    shift = tf.where(infinite, tf.fill(tf.shape(m[:, 0]), tf.constant(_INF, m.dtype)), m[:, 0])
    return loss, shift, log_total, tf.where(infinite, tf.zeros_like(k), k)


def _sparse_loss(x: Tensor, y: Tensor, gamma: Any, on_host: bool) -> Tensor:
    """The per-row loss alone of :func:`_sparse_values`."""
    return _sparse_values(x, y, gamma, on_host)[0]


def _sparse_gradient(
    x: Tensor, y: Tensor, m: Tensor, log_total: Tensor, k: Tensor, upstream: Tensor
) -> Tensor:
    """``(onehot(y) - softmax(x)) * k_y * upstream``, 0 in rows that do not count."""
    scale = _mul(k, upstream)  # 0 in rows that do not count and in +inf rows
    p = tf.exp((x - m[:, None]) - log_total[:, None])  # (NaN in +inf rows: scale 0)
    grad = _mul(p, -scale[:, None])
    return tf.tensor_scatter_nd_add(grad, _label_positions(y), scale)


def _sparse(x: Tensor, y: Tensor, gamma: float) -> Tensor:
    """Per-row focal loss of class indices (``x`` is ``(N, C)``)."""
    CALLS["softmax_sparse"] += 1
    eager = tf.executing_eagerly()
    on_host = _branch_on_host(x)
    key = (gamma == 0.0, on_host)  # (gamma itself is an argument: scalar_argument)
    if eager and not _watched([x]):
        loss = _compiled("sparse_loss", key)
        if loss is None:
            return _sparse_loss(x, y, gamma, on_host)
        return loss(x, y, scalar_argument(gamma), on_host)
    compiled_forward = eager and _compiled("sparse_forward", key)
    forward = compiled_forward or _sparse_values
    forward_gamma = scalar_argument(gamma) if compiled_forward else gamma
    gradient = (eager and _compiled("sparse_gradient", ())) or _sparse_gradient

    @tf.custom_gradient
    def rule(x: Tensor) -> Any:
        with record.stop_recording():
            loss, m, log_total, k = forward(x, y, forward_gamma, on_host)

        def backward(upstream: Tensor) -> Any:
            if record.could_possibly_record():  # a second derivative: the generic autodiff
                generic = lambda a: shared.softmax_sparse_generic(a, y, gamma)  # noqa: E731
                return _by_tape(generic, [x], [True], upstream)[0]
            return gradient(x, y, m, log_total, k, upstream)

        return loss, backward

    return rule(x)


def _dense_values(
    x: Tensor, t: Tensor, gamma: Any, slope: bool, on_host: bool
) -> tuple[Tensor, Tensor | None]:
    """Per-row ``sum_c t_c F_c`` and its gradient (0 in rows holding ``+inf``)."""
    x, infinite, m, e, total = _row_stats(x, on_host)
    minus_log_p = tf.math.log(total)[:, None] - (x - m)  # shifted logits: no cancellation
    p = e / total[:, None]
    if _zero(gamma):
        terms, k = minus_log_p, -1.0
    else:
        is_max = x == m
        count = tf.reduce_sum(tf.cast(is_max, x.dtype), axis=1)
        rest = tf.reduce_sum(tf.where(is_max, tf.zeros_like(p), p), axis=1) + (count - 1.0) / total
        log1m = tf.where(is_max & (p > 0.5), tf.math.log(rest)[:, None], tf.math.log1p(-p))
        terms, k = shared.focal_and_slope(tf, minus_log_p, log1m, _num(gamma, x.dtype))
    loss = tf.reduce_sum(_mul(terms, t), axis=1)
    if not slope:
        return loss, None
    tk = t * k
    derivative = tk - p * tf.reduce_sum(tk, axis=1, keepdims=True)
    return loss, tf.where(infinite, tf.zeros_like(derivative), derivative)


def _targets(x: Tensor, labels: Tensor, eps: Any) -> Tensor:
    """Smoothed targets ``(N, C)`` of class indices ``(N,)`` or probabilities ``(N, C)``.

    The number of classes is known where the rule is chosen; a compiled function traced
    for several shapes may have lost it (unknown dimensions): then it is read from the
    shape, and ``eps / C`` is the same float64 quotient rounded to the dtype. ``eps``: a
    Python number or a float64 0-d tensor (:func:`scalar_argument`), whose factors
    are rounded once to the dtype, as the number's are.
    """
    tensor = isinstance(eps, tf.Tensor)
    num_classes = x.shape[1]
    if num_classes is None:
        num_classes = tf.shape(x)[1]
        share = tf.cast(eps / tf.cast(num_classes, tf.float64), x.dtype)
    else:
        share = tf.cast(eps / num_classes, x.dtype) if tensor else eps / num_classes
    keep = tf.cast(1.0 - eps, x.dtype) if tensor else 1.0 - eps
    if len(labels.shape) == 2:
        return labels * keep + share if tensor or eps else labels
    return tf.one_hot(labels, num_classes, dtype=x.dtype) * keep + share


def _dense_loss(x: Tensor, labels: Tensor, eps: Any, gamma: Any, on_host: bool) -> Tensor:
    """The per-row loss alone of :func:`_dense`."""
    return _dense_values(x, _targets(x, labels, eps), gamma, False, on_host)[0]


def _dense_forward(
    x: Tensor, labels: Tensor, eps: Any, gamma: Any, on_host: bool
) -> tuple[Tensor, Tensor]:
    """The per-row loss and its gradient (the custom gradient's forward pass)."""
    loss, derivative = _dense_values(x, _targets(x, labels, eps), gamma, True, on_host)
    return loss, derivative


def _dense(x: Tensor, labels: Tensor, eps: float, gamma: float) -> Tensor:
    """Per-row focal loss of smoothed indices ``(N,)`` or probabilities ``(N, C)``."""
    CALLS["softmax_dense"] += 1
    probabilities = len(labels.shape) == 2
    eager = tf.executing_eagerly()
    on_host = _branch_on_host(x)
    key = (eps != 0.0, gamma == 0.0, on_host)  # (their values are arguments)
    if eager and not _watched([x, labels]):
        loss = _compiled("dense_loss", key)
        if loss is None:
            return _dense_loss(x, labels, eps, gamma, on_host)
        return loss(x, labels, scalar_argument(eps), scalar_argument(gamma), on_host)
    compiled_forward = eager and _compiled("dense_forward", key)
    forward = compiled_forward or _dense_forward
    eps_value, gamma_value = (eps, gamma)
    if compiled_forward:
        eps_value, gamma_value = scalar_argument(eps), scalar_argument(gamma)

    def generic(a: Tensor, b: Tensor) -> Tensor:
        return shared.softmax_dense_generic(a, b, eps, gamma)

    others = probabilities and (not eager or _watched([labels]))

    @tf.custom_gradient
    def rule(x: Tensor, labels: Tensor) -> Any:
        with record.stop_recording():
            loss, derivative = forward(x, labels, eps_value, gamma_value, on_host)

        def backward(upstream: Tensor) -> Any:
            if record.could_possibly_record():  # a second derivative: the generic autodiff
                return _by_tape(generic, [x, labels], [True, others], upstream)
            dx = _mul(derivative, upstream[:, None])
            if not others:
                return dx, None
            return dx, _by_tape(generic, [x, labels], [False, True], upstream)[1]

        return loss, backward

    return rule(x, labels)


def softmax_focal(inp: Any, gamma: float, eps: float) -> Tensor | None:
    """Per-sample softmax focal loss of prepared TensorFlow inputs, or ``None``.

    Classes on the last axis and a known number of them; other dimensions may be unknown.
    """
    raw = inp.raw_logits
    ndim = len(raw.shape)
    num_classes = raw.shape[-1] if ndim else None
    if ndim == 0 or inp.axis != ndim - 1 or num_classes in (0, None):
        return None
    x = _tensor(inp.logits)
    labels = _tensor(inp.labels)
    if ndim == 2 and tf.executing_eagerly():  # rows already: no reshapes (eagerly, five
        # operations and their gradients; traced, the graph is as it was)
        if not inp.indices:
            return _dense(x, labels, eps, gamma)
        return _sparse(x, labels, gamma) if eps == 0.0 else _dense(x, labels, eps, gamma)
    rows = tf.reshape(x, (-1, num_classes))
    if inp.indices:
        labels = tf.reshape(labels, (-1,))
        losses = _sparse(rows, labels, gamma) if eps == 0.0 else _dense(rows, labels, eps, gamma)
    else:
        losses = _dense(rows, tf.reshape(labels, (-1, num_classes)), eps, gamma)
    return tf.reshape(losses, tf.shape(x)[:-1])


#: The most option keys compiled per function: each key is a trace of its own. The keys
#: hold only what the formulas branch on (a gamma of 0 or not, the clip's form, whether
#: there is smoothing, where a branch is taken), a few per function; the options' values
#: are arguments. Keys beyond it run eagerly, operation by operation (the same values).
MAX_KEYS = 32


@functools.cache
def compiled() -> dict[str, Any]:
    """The eager calls' ``tf.function`` graphs of the rules, by name, made once.

    Eagerly each TensorFlow operation is a dispatch and a pass over the logits of its
    own; these run the same operations as one graph each (one call, no Python between
    the operations: the same kernels, so the same values bit for bit). Where no tape
    watches the inputs, the loss alone (``*_loss``); under a tape the custom gradient's
    forward pass (``*_forward``, called with the tapes paused) and, for class indices,
    its backward pass (``sparse_gradient``; the others' backward pass is one or two
    operations). Where a tape records the backward pass (second derivatives) and for the
    gradients of labels and weights (the generic formulas' autodiff, whose graph orders
    some products differently from eager autodiff) the backward pass stays eager.

    What the formulas branch on (a gamma of 0, the clip's form, whether there is
    smoothing, ``on_host``) is part of a trace's key (at most :data:`MAX_KEYS` keys per
    function, see :func:`_compiled`), as are the layout of the ``None`` weights and the
    tensors' dtypes and ranks; the options' values are float64 arguments
    (:func:`option_values`, :func:`scalar_argument`), so a schedule of gamma, clip or
    smoothing traces nothing new.
    ``reduce_retracing`` relaxes a dimension that changes between calls to an unknown
    one, so a key has at most ``rank + 1`` traces whatever the shapes, and a repeated
    call traces nothing.
    """
    rules = {
        "sigmoid_loss": _sigmoid_loss,
        "sigmoid_forward": _sigmoid_forward,
        "sparse_loss": _sparse_loss,
        "sparse_forward": _sparse_values,
        "sparse_gradient": _sparse_gradient,
        "dense_loss": _dense_loss,
        "dense_forward": _dense_forward,
    }
    return {name: graph_function(rule) for name, rule in rules.items()}


def graph_function(rule: Any) -> Any:
    """``rule`` as a ``tf.function`` whose traces are bounded by design.

    A rule traces once per option key (at most :data:`MAX_KEYS`) and per shape layout;
    a user alternating option sets (with and without ``pos_weight``, say) retraces on
    purpose, never without bound, so TensorFlow's "triggered tf.function retracing"
    notice, meant for functions made anew in a loop, is turned off for these functions
    (the flag TensorFlow's own loaded functions set; a version without it just logs).
    """
    function = tf.function(rule, autograph=False, reduce_retracing=True)
    if hasattr(function, "_omit_frequent_tracing_warning"):
        function._omit_frequent_tracing_warning = True
    return function


_KEYS: dict[str, set[Any]] = {}


def _compiled(name: str, key: Any) -> Any:
    """The compiled function ``name`` for the options ``key``, or ``None`` past :data:`MAX_KEYS`."""
    keys = _KEYS.setdefault(name, set())
    if key not in keys:
        if len(keys) >= MAX_KEYS:
            return None
        keys.add(key)
    return compiled()[name]
