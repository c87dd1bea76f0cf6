"""TensorFlow custom gradient of the expected cost (and of cross-entropy plus cost).

The generic formulas (:func:`wxent._core.cost.expected_cost`) take a ``log_softmax``,
its ``exp``, the gathered cost rows and their product, and TensorFlow's autodiff of
them keeps each intermediate and walks them back: about two dozen passes over the
``(N, C)`` logits for a forward and backward pass. Here, per row with integer labels
``y`` (as :mod:`.cost_torch` for PyTorch)::

    p = softmax(x),  e = sum_j costs[y, j] p_j,  de/dx_j = p_j (costs[y, j] - e)

and, for :func:`wxent.cost_sensitive_cross_entropy`, ``l = ce + w * e`` with the
(smoothed) cross-entropy ``ce`` in the shifted logits and its gradient ``p - t``. The
forward pass keeps ``p`` and ``e``; the backward pass gathers the cost rows again.

Where a tape records (a training step; Keras ``fit``) it is a ``tf.custom_gradient``;
the loss alone (a graph's forward, Keras ``evaluate``) runs the same forward pass, with
the one fused softmax for the expected cost alone. A traced cost matrix is checked on
the ``N`` rows it gathers (``check_rows``). Limits: eagerly, a row holding ``+inf`` or of
only ``-inf`` gives NaN and the call's one read recomputes exactly (``inp.inexact``; only
where that read costs no extra sync, :meth:`Inputs.may_fall_back`); traced, rows
holding ``+inf`` take their limits first, in a ``tf.cond`` branch taken only when some
row holds one (gradient 0 there, as on the generic path), and a row of only ``-inf`` is
NaN, as on the generic path. Second derivatives (a tape recording the backward pass,
also TensorFlow's forward-mode JVPs of the rule) differentiate the generic formulas; a
cost matrix that a tape watches (its gradient wanted) takes the generic path.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import tensorflow as tf
from tensorflow.python.eager import record

from wxent import _namespace as ns
from wxent._config import poisoned
from wxent._core import cost as core_cost
from wxent._core import softmax as core_softmax
from wxent._core.numerics import limit_logits
from wxent._fastpaths import select
from wxent._fastpaths.focal_tf import _by_tape, _tensor, _watched

Tensor = Any

#: Uses of the rule (tests read it to prove the rule ran).
CALLS: Counter[str] = Counter()


def _forward(
    x: Tensor, y: Tensor, costs: Tensor, weight: float, eps: float, ce: bool, check: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-row loss, ``p`` and ``e`` (``x`` is ``(N, C)``, ``y`` ``(N,)``).

    In the shifted logits ``z = x - max(x)``: ``-log p_y`` is ``log(total) - z_y``,
    never ``lse - x_y``, which cancels at large ``|x|``. ``check``: a traced matrix is
    checked on the rows gathered: ``e`` is NaN where a row holds a negative or NaN cost
    (its sum is NaN already where the row holds NaN), and with ``e`` the row's loss and
    gradient. That is what the checked matrix gives (NaN where the check fails), in one
    reduction of the ``N x C`` rows instead of passes over the ``C x C`` matrix.
    """
    rows = tf.gather(costs, y)
    if not ce:  # (one fused softmax: the cross-entropy's log of the total is not needed)
        p = tf.nn.softmax(x, axis=1)
        e = _checked(tf.reduce_sum(rows * p, axis=1), rows, check)
        return e, p, e
    z = x - tf.reduce_max(x, axis=1, keepdims=True)
    p = tf.exp(z)
    total = tf.reduce_sum(p, axis=1, keepdims=True)
    p = p / total
    e = _checked(tf.reduce_sum(rows * p, axis=1), rows, check)
    log_total = tf.math.log(total[:, 0])
    loss = log_total - tf.gather(z, y, axis=1, batch_dims=1)
    if eps == 1.0:  # the target's term has weight 0 (also where it is inf: not NaN)
        loss = log_total - tf.reduce_mean(z, axis=1)
    elif eps:
        loss = loss * (1.0 - eps) + (log_total - tf.reduce_mean(z, axis=1)) * eps
    return (loss + weight * e if weight else loss), p, e


def _checked(e: Tensor, rows: Tensor, check: bool) -> Tensor:
    """``e`` NaN where ``rows`` holds a negative cost or NaN (the minimum is NaN then)."""
    if not check:
        return e
    return tf.where(tf.reduce_min(rows, axis=1) >= 0, e, tf.constant(math.nan, e.dtype))


def _gradient(
    y: Tensor, costs: Tensor, p: Tensor, e: Tensor, weight: float, eps: float, ce: bool
) -> Tensor:
    """``dl/dx`` per row: ``p (costs[y] - e)``, times ``w`` plus ``p - t`` with ``ce``."""
    g = p * (tf.gather(costs, y) - e[:, None])
    if not ce:
        return g
    g = g * weight + p if weight else p
    if eps:
        g = g - eps / p.shape[1]
    rows = tf.range(tf.shape(y, out_type=y.dtype)[0], dtype=y.dtype)
    where = tf.stack([rows, y], axis=1)
    return tf.tensor_scatter_nd_add(g, where, tf.fill(tf.shape(y), tf.constant(eps - 1.0, p.dtype)))


def _generic(
    x: Tensor, y: Tensor, costs: Tensor, weight: float, eps: float, ce: bool, check: bool
) -> Tensor:
    """The generic per-row formula (second derivatives, forward-mode JVPs)."""
    xp = ns.namespace(x)
    if check:
        costs = poisoned(xp, costs)
    cost = core_cost.expected_cost(x, y, costs, indices=True, axis=1, xp=xp)
    if not ce:
        return cost
    loss = core_softmax.softmax_cross_entropy_indices(x, y, axis=1, label_smoothing=eps, xp=xp)
    return loss + weight * cost if weight else loss


def losses(
    inp: Any,
    costs: Any,
    *,
    weight: float = 0.0,
    label_smoothing: float = 0.0,
    ce: bool,
    check_rows: bool = False,
) -> Tensor | None:
    """Per-sample expected cost (``ce=False``) or ``ce + weight * cost``, or ``None``.

    For TensorFlow logits of float32/float64 compute with integer labels, the classes on
    the last axis (a known number of them; leading dimensions may be unknown), unless a
    forward accumulator or a tape on the cost matrix asks for other derivatives. Where a
    tape records the logits it is the custom gradient; otherwise the loss alone, in the
    same passes. Eagerly it sets ``inp.inexact`` (see the module). ``check_rows``: a
    traced ``costs`` not yet checked, whose gathered rows are (see :func:`_forward`).
    """
    if not select.custom_gradients() or type(weight) not in (int, float):
        return None  # (a traced cost_weight: the generic formulas)
    x = _tensor(inp.logits)  # (a tf.Variable is read: the read is recorded)
    num_classes = x.shape[-1]
    if (
        not inp.indices
        or x.dtype not in (tf.float32, tf.float64)
        or len(x.shape) == 0
        or inp.axis != len(x.shape) - 1
        or num_classes in (0, None)
        or not math.isfinite(weight)
    ):
        return None
    costs = _tensor(costs)
    if _watched([costs]) or select.tf_forward_ad(x, costs):
        return None
    eager = tf.executing_eagerly()
    if eager and not inp.may_fall_back():  # eager, unchecked, on an accelerator
        return None
    rows = tf.reshape(x, (-1, num_classes))
    if eager:
        inp.inexact = True  # a row holding +inf or of only -inf gives NaN: recomputed
    labels = tf.reshape(inp.labels, (-1,))
    opts = (float(weight), float(label_smoothing), ce)

    def forward(x: Tensor) -> tuple[tuple[Tensor, Tensor, Tensor], Tensor | None]:
        """``_forward`` of ``x`` and, traced, the rows free of ``+inf`` (else ``None``)."""
        if eager:
            return _forward(x, labels, costs, *opts, check_rows), None
        # Traced: rows holding +inf take their limits, in a branch taken only then
        # (inside the rule's forward pass: a tf.cond on a differentiated path fails
        # under tf.vectorized_map and vectorized Jacobians).
        finite = tf.reduce_max(x, axis=1) != math.inf
        limited = tf.cond(
            tf.reduce_all(finite), lambda: x, lambda: limit_logits(x, axis=1, xp=inp.xp)
        )
        return _forward(limited, labels, costs, *opts, check_rows), finite

    if not _watched([x]):  # the loss alone: no gradient to keep anything for
        CALLS["expected_cost_forward"] += 1
        return tf.reshape(forward(rows)[0][0], tf.shape(x)[:-1])
    CALLS["expected_cost"] += 1

    @tf.custom_gradient
    def rule(x: Tensor) -> Any:
        with record.stop_recording():
            (loss, p, e), finite = forward(x)

        def backward(upstream: Tensor) -> Any:
            if record.could_possibly_record():  # a second derivative: the generic autodiff
                generic = lambda a: _generic(a, labels, costs, *opts, check_rows)  # noqa: E731
                return _by_tape(generic, [x], [True], upstream)[0]
            if finite is not None:  # rows that held +inf: gradient 0
                upstream = tf.where(finite, upstream, tf.zeros_like(upstream))
            return upstream[:, None] * _gradient(labels, costs, p, e, *opts)

        return loss, backward

    return tf.reshape(rule(rows), tf.shape(x)[:-1])
