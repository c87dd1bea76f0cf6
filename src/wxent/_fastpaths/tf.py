"""TensorFlow rule for softmax cross-entropy with integer labels.

TensorFlow's fused kernel (``SparseSoftmaxCrossEntropyWithLogits``) returns the losses and
their gradient ``softmax(x) - onehot(y)`` from one pass over the logits; the gradient is
kept for the backward pass, which then only scales it by the upstream gradient. Built
from separate operations (the generic path), the same loss and its autodiff take about a
dozen passes and keep more intermediates.

Higher orders stay exact: the kept gradient is itself differentiable, its derivative being
the softmax's Jacobian (``s * v - s * sum(s * v)``), so a nested ``tf.GradientTape`` (a
Hessian-vector product) gives the generic path's value and not the derivative of a
constant.

It runs where a ``tf.GradientTape`` records (a training step; Keras ``fit``): the loss
alone (evaluation) takes the generic path, which writes no gradient.

Like the other native kernels this one is not exact at ``+inf`` logits (a NaN where the
limit is ``log k`` or ``inf``): eagerly, the call's one read sends such a call to the exact
path (``inp.inexact``); traced (``tf.function``), rows holding ``+inf`` are replaced by
their limits in a ``tf.cond`` branch taken only when some row holds one (one read of the
logits for their maximum), inside the custom gradient's forward pass: no ``tf.cond`` lies
on a differentiated path (``tf.vectorized_map`` and vectorized Jacobians cannot
differentiate one), and such rows get gradient 0 from a per-row mask of the upstream
gradient.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def tf_softmax_function() -> Any:
    """``losses(rows, labels, eps)``: per-row losses of ``(N, C)`` rows and ``(N,)`` labels."""
    import tensorflow as tf

    def fused(x: Any, labels: Any, eps: float) -> tuple[Any, Any]:
        loss, grad = tf.raw_ops.SparseSoftmaxCrossEntropyWithLogits(features=x, labels=labels)
        if eps:
            # (1 - eps) * (lse - x_y) + eps * (lse - mean x) = CE + eps * (x_y - mean x)
            # (CE itself where x_y = -inf: inf, or NaN in a row of only -inf); gradient
            # softmax - (1 - eps) * onehot - eps / C.
            picked = tf.gather(x, labels, axis=1, batch_dims=1)
            smoothed = loss - eps * _mean_above(x, picked, loss)
            loss = tf.where(picked == float("-inf"), loss, smoothed)
            classes = tf.cast(tf.shape(x)[1], x.dtype)
            rows = tf.range(tf.shape(x, out_type=labels.dtype)[0], dtype=labels.dtype)
            where = tf.stack([rows, labels], axis=1)
            grad = tf.tensor_scatter_nd_add(
                grad - eps / classes, where, tf.fill(tf.shape(labels), tf.constant(eps, x.dtype))
            )
        return loss, grad

    def kept_gradient(x: Any, grad: Any, limit: Any) -> Any:
        """``grad`` (the gradient kept by the forward pass), differentiable in ``x``.

        ``grad`` is a constant of the forward pass (a ``stop_gradient``: no second-order
        path back through the forward graph). ``limit`` (traced calls) limits rows
        holding ``+inf`` for the softmax of the second derivative, whose upstream is 0
        in those rows.
        """

        @tf.custom_gradient
        def kept(x: Any) -> Any:
            x = tf.identity(x)  # of this graph (a tf.function's backward graph)

            def softmax_jacobian(v: Any) -> Any:
                s = tf.nn.softmax(x if limit is None else limit(x), axis=1)
                return s * v - s * tf.reduce_sum(s * v, axis=1, keepdims=True)

            return tf.identity(grad), softmax_jacobian

        return kept(x)

    def losses(x: Any, labels: Any, eps: float, limit: Any = None) -> Any:
        """Per-row losses; ``limit`` (traced calls): rows holding ``+inf`` take their limits.

        The limits are taken inside the custom gradient's forward pass, in a ``tf.cond``
        taken only when some row holds ``+inf``, and such rows get gradient 0 from a
        per-row mask of the upstream gradient: no ``tf.cond`` lies on a differentiated
        path (its gradient, a cond of its own, failed under ``tf.vectorized_map`` and a
        vectorized ``jacobian``, as in per-sample gradients and Hessians).
        """

        @tf.custom_gradient
        def cross_entropy(x: Any) -> Any:
            rows, finite = x, None
            if limit is not None:
                finite = tf.reduce_max(x, axis=1) != float("inf")
                rows = tf.cond(tf.reduce_all(finite), lambda: x, lambda: limit(x))
            loss, grad = fused(rows, labels, eps)
            grad = tf.stop_gradient(grad)

            def backward(upstream: Any) -> Any:
                if finite is not None:
                    upstream = tf.where(finite, upstream, tf.zeros_like(upstream))
                return upstream[:, None] * kept_gradient(x, grad, limit)

            return loss, backward

        return cross_entropy(x)

    return losses


# While every row's |log-sum-exp| is at most this, the row sums of the logits themselves
# give mean(x) - x_y to float32 rounding: the row maximum is then within
# 16 + log C of 0 (as in the JAX rule, whose bound is on the maximum itself).
_PLAIN_SUM_BOUND = 16.0


@functools.cache
def _cpus_only() -> bool:
    """Whether TensorFlow sees no accelerator (the rule's CPU form of the smoothing term)."""
    import tensorflow as tf

    return not any(tf.config.list_logical_devices(kind) for kind in ("GPU", "TPU"))


def _xla_compiles() -> bool:
    """Whether the function being traced is compiled by XLA (``jit_compile=True``)."""
    import tensorflow as tf

    if tf.executing_eagerly():
        return False
    try:
        from tensorflow.python.framework import ops
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # pragma: no cover - a TensorFlow without the modules: assume XLA
        return True
    return bool(control_flow_util.GraphOrParentsInXlaContext(ops.get_default_graph()))


def _mean_above(x: Any, picked: Any, loss: Any) -> Any:
    """``mean(x - x_y)`` per row, ``loss`` being the rows' ``lse - x_y``.

    ``mean(x) - x_y`` rounds to the ulp of the row sum at large ``|x|``, where the two
    cancel (several units at logits 1e8 in float32), so the mean is taken of
    ``x - x_y``. On CPUs that subtraction, a pass of its own there, costs 3x the plain
    row mean (2048 x 32768 float32: 27 ms against 9 ms); there, while every row's
    ``|lse|`` is at most :data:`_PLAIN_SUM_BOUND`, the rule takes ``mean(x) - x_y`` (a
    ``tf.cond``; on a machine with an accelerator the accurate form always, without a
    branch on the device's values). The plain mean is TensorFlow's own row reduction,
    accurate at any number of classes (a relative error of 8e-8 of the row sum at 131072
    classes); XLA's CPU reduction and TensorFlow's CPU matrix-vector product are not
    (5e-5 and 1.4e-4 there), so under XLA (``jit_compile=True``, Keras' default) the
    accurate form is kept.
    """
    import tensorflow as tf

    def accurate() -> Any:
        return tf.reduce_mean(x - picked[:, None], axis=1)

    if not _cpus_only() or _xla_compiles():
        return accurate()

    def plain() -> Any:
        return tf.reduce_mean(x, axis=1) - picked

    lse = loss + picked
    size = tf.where(tf.math.is_finite(lse), tf.abs(lse), tf.zeros_like(lse))
    return tf.cond(tf.reduce_all(size <= _PLAIN_SUM_BOUND), plain, accurate)


def tf_softmax_losses(inp: Any, label_smoothing: float) -> Any:
    """Per-sample losses of prepared TensorFlow inputs, or ``None`` where the rule does not apply.

    Classes on the last axis, a known number of them, float32/float64; the leading
    dimensions may be unknown (``tf.function`` with ``None`` dimensions).
    """
    import tensorflow as tf

    from wxent._core.numerics import limit_logits

    x = inp.logits
    if x.dtype not in (tf.float32, tf.float64) or x.shape[-1] in (0, None):
        return None
    if inp.concrete and not inp.may_fall_back():  # eager, unchecked, on an accelerator
        return None
    if not _tape_records():  # the loss alone: the generic path writes no gradient
        return None
    limit = None
    if inp.concrete:
        inp.inexact = True  # a +inf logit gives NaN here: finish recomputes exactly
        if len(x.shape) == 2:  # rows already: no reshapes (eagerly, six operations)
            return tf_softmax_function()(x, inp.labels, label_smoothing, None)
    else:  # traced: rows holding +inf take their limits, in a branch taken only then
        limit = functools.partial(limit_logits, axis=1, xp=inp.xp)
    rows = tf.reshape(x, (-1, x.shape[-1]))
    labels = tf.reshape(inp.labels, (-1,))
    out = tf_softmax_function()(rows, labels, label_smoothing, limit)
    return tf.reshape(out, tf.shape(x)[:-1])


def _tape_records() -> bool:
    """Whether a ``tf.GradientTape`` records now (eagerly, or while a function is traced).

    Without one the fused kernel would write a gradient nobody reads. Choosing by it is
    safe: a function traced without a tape and differentiated later differentiates the
    generic path's graph, which is exact as well.
    """
    try:
        from tensorflow.python.eager import record
    except ImportError:  # pragma: no cover - a TensorFlow without the module: assume one
        return True
    return bool(record.could_possibly_record())


def _generic_losses(options: tuple[int, float | None, bool], x: Any, labels: Any, *eps: Any) -> Any:
    """The generic softmax cross-entropy's per-sample losses (traced by :func:`concrete`).

    ``options[1]``: the label smoothing when it is 0 or 1, else ``None`` and the smoothing
    is the float64 0-d argument ``eps`` (a value of the call: a new one traces nothing).
    """
    from wxent import _tf_namespace as xp
    from wxent._core import softmax as core

    axis, known, indices = options
    rule = (
        core.softmax_cross_entropy_indices if indices else core.softmax_cross_entropy_probabilities
    )
    smoothing: Any = eps[0] if eps else known
    return rule(x, labels, axis=axis, label_smoothing=smoothing, xp=xp)


def eager_softmax_losses(inp: Any, label_smoothing: float) -> Any:
    """The generic path's per-sample losses of eager TensorFlow inputs, as one graph call.

    ``None`` where the operations must run one by one: a traced call (they are traced
    inline), a tape or forward accumulator that may record them (their gradients), or
    past :data:`wxent._tf_checks.MAX_PLANS` traced functions. Eagerly each operation is a
    dispatch of its own (about fifteen for class indices: the row maximum and the
    limits of rows holding ``+inf``, the shift, the log-sum-exp, the gather); the graph
    runs the same operations and kernels (the limits in a branch taken when a row holds
    ``+inf``, as traced calls take them), the classes' count known: the same values bit
    for bit.
    """
    from tensorflow.python.eager import record

    from wxent._tf_checks import concrete

    if not inp.concrete or record.could_possibly_record():
        return None
    import tensorflow as tf

    eps = float(label_smoothing)
    known = eps if eps in (0.0, 1.0) else None  # (0 and 1 take their own forms)
    options = (int(inp.axis), known, bool(inp.indices))
    arrays: tuple[Any, ...] = (inp.logits, inp.labels)
    if known is None:
        arrays = (*arrays, tf.constant(eps, tf.float64))
    function = concrete("softmax_losses", options, _generic_losses, arrays, keep=options[0])
    return None if function is None else function(*arrays)
