"""TensorFlow rule for sigmoid cross-entropy: few fused operations and a lean gradient.

The per-element loss ``c1 * softplus(-x) + c2 * softplus(x)`` (``c1 = q * t``,
``c2 = r * (1 - t)`` with the smoothed label ``t``) is computed from one
``log1p(exp(-|x|))`` (which TensorFlow's graph optimizer fuses into one pass), two
``relu`` and two ``multiply_no_nan`` (``0 * inf = 0``: a term whose coefficient is 0
costs exactly 0, also at an infinite logit). The values are the generic formulas'
(:func:`wxent._core.numerics.softplus_pair` and ``safe_mul``) operation for operation;
the ``where`` chains that make those formulas' autodiff finite at every logit are not
needed here, as the gradient is written out instead:

``d/dx = c2 * sigmoid(x) - c1 * sigmoid(-x)``, ``d/dc1 = softplus(-x)``,
``d/dc2 = softplus(x)`` (0 where the coefficient is 0, as the generic path's).

The backward pass keeps the logits and the two coefficients, nothing else of the forward
pass, and computes the gradient with plain differentiable operations: a nested
``tf.GradientTape`` (a Hessian-vector product) differentiates it exactly. The gradient
with respect to the coefficients (labels, ``pos_weight``, ``neg_weight`` under a tape) is
computed eagerly only where a tape watches them, and in a traced function always (the
graph drops it when nothing reads it).

Every product with the upstream gradient is a ``multiply_no_nan``: an element that does
not count (ignored, or of weight 0) has gradient 0 also at a NaN logit, which the generic
path gets from a ``where`` on the logits (``_inputs.shield``) or a second, exact pass.
Exact at infinite logits (the limits, gradient ``c2`` or ``-c1``): it needs no fallback
and runs eagerly and traced, with or without a tape (the forward pass writes no
gradient).

Eagerly each TensorFlow operation is a dispatch and a pass of its own (the forward pass
was about fifteen of them); there the operations run as ``tf.function`` graphs
(:func:`compiled`: the same kernels, so the same values bit for bit): the whole
weighted loss where no tape watches the inputs, else the custom gradient's forward pass
and the logits' gradient of its backward pass. Inside a traced function the operations
are traced inline, as before.
"""

from __future__ import annotations

import functools
from typing import Any


def _mul(v: Any, c: Any) -> Any:
    """``v * c``, and 0 where ``c`` is 0 (``v`` infinite or NaN)."""
    import tensorflow as tf

    return tf.math.multiply_no_nan(v, c)


def _softplus_pair(x: Any) -> tuple[Any, Any]:
    import tensorflow as tf

    shared = tf.math.log1p(tf.exp(-tf.abs(x)))
    return tf.nn.relu(x) + shared, tf.nn.relu(-x) + shared


def _loss(x: Any, c1: Any, c2: Any) -> Any:
    plus, minus = _softplus_pair(x)
    return _mul(minus, c1) + _mul(plus, c2)


def _logits_gradient(x: Any, c1: Any, c2: Any, upstream: Any) -> Any:
    import tensorflow as tf

    return _mul(_mul(tf.sigmoid(x), c2) - _mul(tf.sigmoid(-x), c1), upstream)


def _weighted(x: Any, c1: Any, c2: Any, s: Any) -> Any:
    """``s * l`` (0 where ``s`` is 0, also for an infinite ``l``), or ``l`` for no ``s``."""
    import tensorflow as tf

    out = _loss(x, c1, c2)
    if s is None:
        return out
    hidden = tf.logical_and(s == 0, tf.logical_not(tf.math.is_finite(out)))
    return s * tf.where(hidden, tf.zeros_like(out), out)


def _coefficients(z: Any, q: Any, r: Any, eps: Any) -> tuple[Any, Any]:
    """``c1 = q * t`` and ``c2 = r * (1 - t)`` of the smoothed labels ``t``.

    ``eps``: a Python number, or a float64 0-d tensor (the compiled eager call's argument).
    """
    from wxent._fastpaths.focal_tf import smooth_binary  # (imports TensorFlow)

    t = smooth_binary(z, eps)
    return (t if q is None else q * t), (1 - t if r is None else r * (1 - t))


@functools.cache
def compiled() -> Any:
    """The eager calls' compiled functions: ``values``, ``loss`` and ``logits_gradient``.

    Eagerly each TensorFlow operation is a dispatch and a pass over the logits of its
    own; these run the same operations as one graph each (one call, no Python between
    the operations: the same kernels, so the same values bit for bit). ``values(x, z, q,
    r, s, eps)`` is a call no tape watches (the loss alone, coefficients and weights
    included); under a tape the custom gradient's forward pass calls ``loss`` (with the
    tapes paused) and its backward pass ``logits_gradient``, itself differentiable (a
    nested tape records the function call). Traced once per layout of the ``None``
    arguments, whether there is label smoothing, and dtype (the smoothing itself is a
    float64 argument, :func:`wxent._fastpaths.focal_tf.scalar_argument`: a smoothing
    schedule traces nothing new); ``reduce_retracing`` gives a second shape a trace
    with unknown dimensions that every further shape reuses.
    """

    def values(x: Any, z: Any, q: Any, r: Any, s: Any, eps: Any) -> Any:
        c1, c2 = _coefficients(z, q, r, eps)
        return _weighted(x, c1, c2, s)

    from wxent._fastpaths.focal_tf import graph_function  # (imports TensorFlow)

    return graph_function(values), graph_function(_loss), graph_function(_logits_gradient)


@functools.cache
def tf_sigmoid_function() -> Any:
    """``losses(x, c1, c2)``: per-element ``c1 * softplus(-x) + c2 * softplus(x)``."""
    import tensorflow as tf
    from tensorflow.python.eager import record

    mul = _mul  # mul(v, c) = v * c, and 0 where c is 0 (v inf or NaN)

    def coefficient_gradient(term: Any, c: Any, upstream: Any) -> Any:
        # The term where finite, also at c = 0 (a hard label): 0 only for 0 * inf.
        excluded = tf.logical_and(c == 0, tf.logical_not(tf.math.is_finite(term)))
        return mul(tf.where(excluded, tf.zeros_like(term), term), upstream)

    def losses(x: Any, c1: Any, c2: Any) -> Any:
        eager = tf.executing_eagerly()
        both = not eager or _records([c1, c2])
        _, loss, logits_gradient = compiled() if eager else (None, _loss, _logits_gradient)

        @tf.custom_gradient
        def cross_entropy(x: Any, c1: Any, c2: Any) -> Any:
            with record.stop_recording():  # (the custom gradient differentiates it)
                out = loss(x, c1, c2)

            def backward(upstream: Any) -> Any:
                dx = logits_gradient(x, c1, c2, upstream)
                if not both:
                    return dx, None, None
                plus, minus = _softplus_pair(x)
                dc1 = coefficient_gradient(minus, c1, upstream)
                return dx, dc1, coefficient_gradient(plus, c2, upstream)

            return out, backward

        return cross_entropy(x, c1, c2)

    return losses


def tf_sigmoid_values(inp: Any, label_smoothing: float, q: Any, r: Any, s: Any) -> Any:
    """Weighted per-element losses ``s * l`` of prepared TensorFlow inputs, or ``None``.

    float32/float64 compute dtype (16-bit logits are computed in float32), any layout,
    unknown dimensions included. ``s * l`` is 0 where ``s`` is 0 (gradient 0 with
    respect to the logits; with respect to ``s`` the loss where it is finite), as
    :func:`wxent._inputs.weigh` makes it.
    """
    import tensorflow as tf

    x = inp.logits
    if x.dtype not in (tf.float32, tf.float64):
        return None
    # A tf.Variable is read here (a read a tape records): the rules take tensors.
    x, z = tf.convert_to_tensor(x), tf.convert_to_tensor(inp.labels)
    q, r, s = (None if a is None else tf.convert_to_tensor(a) for a in (q, r, s))
    if tf.executing_eagerly() and not _records([x, z, q, r, s]):  # the loss alone
        from wxent._fastpaths.focal_tf import scalar_argument

        return compiled()[0](x, z, q, r, s, scalar_argument(float(label_smoothing)))
    c1, c2 = _coefficients(z, q, r, label_smoothing)
    out = tf_sigmoid_function()(x, c1, c2)
    if s is None:
        return out
    hidden = tf.logical_and(s == 0, tf.logical_not(tf.math.is_finite(out)))
    return s * tf.where(hidden, tf.zeros_like(out), out)


def _records(tensors: list[Any]) -> bool:
    """Whether a tape watches one of ``tensors`` (eagerly; ``None`` entries are skipped)."""
    try:
        from tensorflow.python.eager import record
    except ImportError:  # pragma: no cover - a TensorFlow without the module: assume so
        return True
    present = [t for t in tensors if t is not None]
    return bool(present) and bool(record.should_record_backprop(present))
