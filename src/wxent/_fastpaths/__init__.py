"""Fast paths beside the generic Array API path, each justified by a benchmark.

The generic core (:mod:`wxent._core`) builds the softmax cross-entropy out of standard
array operations; every one of them is a full pass over the ``(N, C)`` logits, and
autodiff keeps several ``(N, C)`` intermediates alive for the backward pass. For the
hot case — integer labels, classes on the last axis — this module computes the same
*unweighted per-sample* losses

    ``l = (1 - eps) * (lse(x) - x[y]) + eps * (lse(x) - mean_c x_c)``

faster and leaner; weights, masks and reductions stay in the generic code, so the
semantics cannot drift. The JAX rule is a ``custom_jvp``: forward mode and higher
orders keep working. ``softmax_losses`` returns ``None`` where no fast path applies
and the caller falls back to the generic core. Parity with the generic path is tested
in ``tests/test_fastpaths.py``; the measurements are in BENCHMARKS.md.

Which path runs is decided by dtype, device and static facts, never by reading values.
The native PyTorch kernels and the NumPy kernels are not exact at infinite logits (they
give NaN where the limit is 0 or ``inf``): they set ``inp.inexact`` and run only where
:func:`wxent._prepare.finish` can read the result's NaN flag without a device sync (see
:meth:`wxent._prepare.Inputs.may_fall_back`), which then recomputes on the exact path.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from wxent import _namespace as ns
from wxent._fastpaths import select
from wxent._fastpaths.jax import jax_softmax_function, jax_softmax_probability_function
from wxent._fastpaths.numpy import (
    numpy_sigmoid_family_losses,
    numpy_sigmoid_losses,
    numpy_softmax_losses,
    numpy_softmax_probability_losses,
)
from wxent._fastpaths.tf import tf_softmax_losses
from wxent._fastpaths.tf_sigmoid import tf_sigmoid_values as _tf_sigmoid_values
from wxent._types import Array

#: Set to ``False`` to force the generic path everywhere (benchmarks and tests).
ENABLED = True


def softmax_losses(inp: Any, label_smoothing: float) -> Array | None:
    """Unweighted per-sample softmax CE for prepared integer-label inputs, or ``None``.

    Applies to classes on the last axis and a float32/float64 compute dtype. Integer
    labels: NumPy (blocked kernel), PyTorch (the native
    ``F.cross_entropy(reduction="none")``), JAX (a ``custom_jvp``) and TensorFlow (its
    fused kernel under a custom gradient). Probability
    labels: NumPy (blocked kernel) and PyTorch on finite logits (native kernel).
    """
    if not ENABLED:
        return None
    if not inp.indices:
        return _softmax_probability_losses(inp, label_smoothing)
    ndim = inp.ndim
    xp = inp.xp
    if ndim == 0 or inp.axis != ndim - 1:
        return None
    if ns.is_tf_namespace(xp):  # leading dimensions may be unknown
        if not select.custom_gradients() or select.tf_forward_ad(inp.logits):
            return None
        return tf_softmax_losses(inp, label_smoothing)
    if any(d is None for d in inp.shape):
        return None
    if ns.is_jax_namespace(xp):
        return _jax_softmax_losses(inp, label_smoothing)
    x = inp.logits
    if ns.is_numpy_namespace(xp) and isinstance(x, np.ndarray):
        if x.dtype not in (np.float32, np.float64):
            return None
        inp.inexact = True  # a +inf logit gives NaN here: finish recomputes exactly
        flat = x.reshape(-1, x.shape[-1])
        per_row = numpy_softmax_losses(flat, np.asarray(inp.labels).reshape(-1), label_smoothing)
        return per_row.reshape(x.shape[:-1])
    if ns.is_torch_namespace(xp):
        import torch
        import torch.nn.functional as F

        if (
            x.dtype not in (torch.float32, torch.float64)
            or x.shape[-1] == 0
            or not inp.may_fall_back()
        ):
            return None
        inp.inexact = True  # a +inf logit gives NaN here: finish recomputes exactly
        # torch's native kernel, unweighted and per sample, is exactly these losses
        # (with weights torch's smoothing term differs, so weights stay outside).
        if ndim == 2:  # rows already (no reshapes: three fewer calls)
            return F.cross_entropy(x, inp.labels, reduction="none", label_smoothing=label_smoothing)
        rows = x.reshape(-1, x.shape[-1])
        losses = F.cross_entropy(
            rows, inp.labels.reshape(-1), reduction="none", label_smoothing=label_smoothing
        )
        return losses.reshape(x.shape[:-1])
    return None


def _jax_softmax_losses(
    inp: Any, label_smoothing: float, *, probabilities: bool = False
) -> Array | None:
    """JAX: the ``custom_jvp`` rule, exact at ``+inf`` by construction (no flag is read).

    The rows that do not count are masked inside the rule (see ``Inputs.kept``), not
    zeroed ahead of it: that ``where`` was a full pass XLA did not fuse.
    """
    import jax.numpy as jnp

    if inp.dtype not in (jnp.float32, jnp.float64) or inp.shape[-1] == 0:
        return None
    if not select.custom_gradients():  # WXENT_KERNELS=off
        return None
    x, keep = inp.unshielded(), inp.kept
    if keep is not None and inp.weighed:  # rows of weight 0 count in the rule
        keep = inp.valid
    keep = jnp.ones((), bool) if keep is None else keep
    keep = jnp.reshape(jnp.broadcast_to(keep, x.shape[:-1]), (-1,))
    rows = jnp.reshape(x, (-1, x.shape[-1]))
    if probabilities:
        labels = jnp.reshape(inp.labels, rows.shape)
        rule = jax_softmax_probability_function()
    else:
        labels, rule = jnp.reshape(inp.labels, (-1,)), jax_softmax_function()
    losses = rule(rows, labels, keep, label_smoothing)
    return jnp.reshape(losses, x.shape[:-1])


def _softmax_probability_losses(inp: Any, label_smoothing: float) -> Array | None:
    """Probability labels: NumPy blocked kernel; torch's native kernels on finite logits.

    JAX: a ``custom_jvp`` rule, exact at ``+inf`` (as for integer labels).
    """
    ndim = inp.ndim
    if ndim == 0 or inp.axis != ndim - 1 or any(d is None for d in inp.shape):
        return None
    xp = inp.xp
    if ns.is_jax_namespace(xp):
        return _jax_softmax_losses(inp, label_smoothing, probabilities=True)
    x = inp.logits
    if ns.is_numpy_namespace(xp) and isinstance(x, np.ndarray):
        if x.dtype not in (np.float32, np.float64):
            return None
        inp.inexact = True
        rows = x.reshape(-1, x.shape[-1])
        t = np.asarray(inp.labels, dtype=x.dtype).reshape(rows.shape)
        return numpy_softmax_probability_losses(rows, t, label_smoothing).reshape(x.shape[:-1])
    if ns.is_torch_namespace(xp) and _torch_float(x) and inp.may_fall_back():
        from wxent._fastpaths.soft_torch import soft_target_losses

        # torch's native kernels (log-softmax and its backward), the row sums as one
        # batched dot product: identical to ours for finite logits (0 * log 0 is NaN at
        # -inf logits, so finish recomputes exactly when the result holds a NaN).
        inp.inexact = True
        rows = x.reshape(-1, x.shape[-1])
        t = inp.labels.reshape(rows.shape)
        return soft_target_losses(rows, t, label_smoothing).reshape(x.shape[:-1])
    return None


def sigmoid_losses(
    inp: Any, label_smoothing: float, pos_weight: Array | None, neg_weight: Array | None
) -> Array | None:
    """Per-element sigmoid CE ``q*t*softplus(-x) + r*(1-t)*softplus(x)``, or ``None``.

    Inexact at infinite logits (NaN where the limit is 0 or inf): used where ``finish``
    can read the result's NaN flag and recompute on the exact path. PyTorch:
    the native ``binary_cross_entropy_with_logits(pos_weight=q)``, which is this formula
    without ``neg_weight`` (or, for the scaled implicit ``r`` of a ``"weighted_mean"``,
    ``Inputs.unit_neg``, with ``pos_weight=q/r`` and ``weight=r``: an element loss the
    caller's ``pos_weight`` makes overflow gives an infinite mean, which ``finish`` also
    recomputes exactly). NumPy: a row-blocked kernel. The smoothed target is
    ``z*(1-eps) + eps/2``.
    """
    if not ENABLED:
        return None
    x = inp.logits
    if isinstance(x, np.ndarray) and ns.is_numpy_namespace(inp.xp):
        return _numpy_sigmoid(inp, label_smoothing, pos_weight, neg_weight)
    unit = neg_weight is not None and inp.unit_neg and pos_weight is not None
    if (
        (neg_weight is not None and not unit)
        or not ns.is_torch_namespace(inp.xp)
        or not _torch_float(x)
        or not inp.may_fall_back()
        or (pos_weight is not None and pos_weight.requires_grad)  # no gradient for it there
        or select.forward_ad(pos_weight, neg_weight)  # nor a tangent: it would be dropped
    ):
        return None
    import torch.nn.functional as F

    inp.inexact = True  # NaN at infinite logits: finish recomputes exactly
    # (1 + (q - 1) t) * softplus(-x) may overflow at |x| near the float's largest where
    # the loss itself is finite: finish recomputes an infinite result too.
    inp.overflows = pos_weight is not None

    t = inp.labels
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    # A per-class ``pos_weight`` stays as given ((C,), or (C, 1, ...) along the class
    # axis): the kernel broadcasts it, so ``pos_weight - 1`` is C values, not N * C.
    if (
        unit and pos_weight is not None
    ):  # r: the implicit 1 scaled by a power of two, q / r the caller's pos_weight
        return F.binary_cross_entropy_with_logits(
            x, t, pos_weight=pos_weight / neg_weight, weight=neg_weight, reduction="none"
        )
    return F.binary_cross_entropy_with_logits(x, t, pos_weight=pos_weight, reduction="none")


def jax_sigmoid_losses(
    inp: Any, label_smoothing: float, pos_weight: Array | None, neg_weight: Array | None
) -> Array | None:
    """JAX: per-element sigmoid CE from one compiled ``custom_jvp`` rule, or ``None``.

    The rule of the focal and asymmetric losses (:mod:`wxent._fastpaths.focal_jax`) with
    ``gamma_pos = gamma_neg = clip = 0``: the generic formulas' values
    (``q*t*softplus(-x) + r*(1-t)*softplus(x)``, each term 0 where its coefficient is 0,
    the same softplus pair) and their derivatives, exact at infinite logits (no
    fallback). Eagerly the generic formulas were about twenty dispatched operations, each
    a pass over the logits; here they are one compiled call (XLA fuses them). Like the
    generic path it reads ``inp.logits``, shielded in traced calls (``_inputs.shield``).
    float32/float64 compute dtype (16-bit logits compute in float32).
    """
    if not ENABLED or not ns.is_jax_namespace(inp.xp) or not select.custom_gradients():
        return None
    if ns.float_dtype_name(inp.xp, inp.dtype) not in ("float32", "float64"):
        return None
    from wxent._fastpaths import focal_jax

    opts = (0.0, 0.0, 0.0, float(label_smoothing))
    return focal_jax.sigmoid_family(inp.logits, inp.labels, pos_weight, neg_weight, opts)


def tf_sigmoid_values(
    inp: Any, label_smoothing: float, pos_weight: Any, neg_weight: Any, sample_weight: Any
) -> Array | None:
    """TensorFlow: the weighted sigmoid CE ``s * l`` under a custom gradient, or ``None``.

    Exact at every logit (no fallback, no ``shield``): see :mod:`wxent._fastpaths.tf_sigmoid`.
    """
    if not ns.is_tf_namespace(inp.xp) or not select.custom_gradients():
        return None
    if select.tf_forward_ad(inp.logits, inp.labels, pos_weight, neg_weight, sample_weight):
        return None
    return _tf_sigmoid_values(inp, label_smoothing, pos_weight, neg_weight, sample_weight)


def _numpy_sigmoid(
    inp: Any, label_smoothing: float, q: Array | None, r: Array | None
) -> Array | None:
    x = inp.logits
    ndim = x.ndim
    if x.dtype not in (np.float32, np.float64) or ndim == 0 or 0 in x.shape:
        return None
    for w in (q, r):  # per-class vectors must lie on the last axis
        if w is not None and np.ndim(w) not in (0, 1):
            return None
    if inp.axis != ndim - 1 and any(w is not None and np.ndim(w) == 1 for w in (q, r)):
        return None
    inp.inexact = True  # NaN at infinite logits: finish recomputes exactly
    t = np.asarray(inp.labels, dtype=x.dtype)
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    rows = x.reshape(-1, x.shape[-1])
    out = numpy_sigmoid_losses(rows, t.reshape(rows.shape), q, r)
    return out.reshape(x.shape)


def sigmoid_family_losses(
    inp: Any,
    label_smoothing: float,
    pos_weight: Array | None,
    neg_weight: Array | None,
    *,
    gamma_pos: float,
    gamma_neg: float,
    clip: float,
) -> Array | None:
    """NumPy: per-element focal/asymmetric losses ``q*t*A(x) + r*(1-t)*N(x)``, or ``None``.

    The blocked, branch-free kernel :func:`~wxent._fastpaths.numpy.numpy_sigmoid_family_losses`
    for float32/float64 NumPy logits (PyTorch, JAX and TensorFlow take the custom
    gradients of :mod:`wxent._fastpaths.focal`). Equal to the generic formulas at finite
    logits; NaN where a zero coefficient meets an infinite term, so ``inp.inexact`` is
    set and :func:`wxent._prepare.finish` recomputes such calls exactly. Per-class
    weights along any axis; the smoothed target is ``z*(1-eps) + eps/2``.
    """
    if not ENABLED:
        return None
    x = inp.logits
    if not (isinstance(x, np.ndarray) and ns.is_numpy_namespace(inp.xp)):
        return None
    if x.dtype not in (np.float32, np.float64) or x.ndim == 0 or x.size == 0:
        return None
    weights = [pos_weight, neg_weight]
    if any(not isinstance(w, (np.ndarray, np.generic)) for w in weights if w is not None):
        return None
    weights = [None if w is None else np.asarray(w) for w in weights]  # (1 - alpha: a scalar)
    if any(w is not None and w.dtype != x.dtype for w in weights):
        return None
    rows: np.ndarray
    if all(w is None or w.ndim == 0 for w in weights):
        rows = x.reshape(-1)  # scalar weights: blocks of elements
    else:
        # Per-class weights lie along the class axis ((C,), or (1, C, 1, ...)): rows of
        # everything from the class axis on, each weight one row's worth of values.
        inner = x.shape[inp.axis :]
        rows = x.reshape(-1, math.prod(inner))
        for i, w in enumerate(weights):
            if w is None or w.ndim == 0:
                continue
            lead = w.shape[: max(0, w.ndim - len(inner))]
            if any(d != 1 for d in lead):
                return None
            w = w.reshape(w.shape[len(lead) :])
            weights[i] = np.broadcast_to(w, inner).reshape(-1)
    t = np.asarray(inp.labels, dtype=x.dtype)
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    inp.inexact = True  # NaN where 0 meets an infinite term: finish recomputes exactly
    out = numpy_sigmoid_family_losses(
        rows,
        t.reshape(rows.shape),
        weights[0],
        weights[1],
        gamma_pos=float(gamma_pos),
        gamma_neg=float(gamma_neg),
        clip=float(clip),
    )
    return out.reshape(x.shape)


def _torch_float(x: Array) -> bool:
    """float32/64 torch logits (decided by dtype, never by reading values)."""
    import torch

    return x.dtype in (torch.float32, torch.float64)
