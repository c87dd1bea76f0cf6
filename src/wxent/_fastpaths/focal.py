"""Custom gradients for the focal and asymmetric losses on PyTorch, JAX and TensorFlow.

Why: autodiff of the generic formulas (:mod:`wxent._core.sigmoid`,
:mod:`wxent._core.softmax`) keeps 17 to 24 full-size intermediates of the logits alive
for the backward pass (each ``exp``, ``softplus``, ``where`` and product of the
modulating factors). Here the loss and its
derivative are computed together from one set of intermediates, and the backward pass
keeps only the inputs plus one per-element derivative (sigmoid family, dense softmax
targets) or two per-row values (softmax focal with class indices: the gradient is
``(onehot(y) - softmax(x)) * k_y`` with one scalar ``k_y`` per row).

The formulas are the generic ones, written as closed-form derivatives with the same
where-safe limits: a class whose ``-log p`` exceeds :data:`FAR` has the factor exactly
1, the derivative of ``-(1 - p)**gamma log p`` uses ``p * (-log p)`` with ``-log p``
capped at :data:`FAR` (``p`` is exactly 0 beyond), and ``log(1 - p)`` of the most likely
class is a log-sum-exp over the other classes. So the values and gradients equal the
generic path's at every logit, infinite ones included, and the choice depends on the
framework, dtype and layout only, never on values.

PyTorch: ``torch.autograd.Function`` in :mod:`.focal_torch`; JAX: ``custom_jvp`` in
:mod:`.focal_jax` (a JVP rule keeps forward mode and Hessians working, and reverse mode
saves the same residuals as a VJP would); TensorFlow: ``tf.custom_gradient`` in
:mod:`.focal_tf` (also under Keras 3's TensorFlow backend; eager calls run it as
``tf.function`` graphs). Each entry point returns ``None`` where no custom gradient
applies, and the caller falls back to the generic core. Parity with the generic path
is tested in ``tests/test_fastpaths_focal.py`` and ``tests/test_fastpaths_tf_focal.py``.
NumPy has no gradient: its values come from the blocked kernel
:func:`wxent._fastpaths.numpy.numpy_sigmoid_family_losses`
(:func:`wxent._fastpaths.sigmoid_family_losses`).
"""

from __future__ import annotations

import sys
from typing import Any

from wxent import _namespace as ns
from wxent._core import sigmoid as core_sigmoid
from wxent._core import softmax as core_softmax
from wxent._core.numerics import FAR, safe_mul

Array = Any

__all__ = ["FAR", "sigmoid_family", "softmax_focal"]

#: Beyond ``1 - p < exp(-30)`` the ratio ``-p log p / (1 - p)`` is 1 to within float64.
_TOP = -30.0


def enabled() -> bool:
    """Whether custom gradients may be used (``WXENT_KERNELS=off`` disables them)."""
    from wxent._fastpaths import select

    return select.custom_gradients()


def _functorch_active() -> bool:
    torch = sys.modules.get("torch")
    check = getattr(getattr(torch, "_C", None), "_are_functorch_transforms_active", None)
    return bool(check is not None and check())


def _framework(inp: Any, *weights: Any) -> str | None:
    """``"torch"``, ``"jax"`` or ``"tf"`` for a float32/float64 compute dtype, else ``None``.

    (16-bit logits compute in float32: the rules run on their float32 copy.)
    ``weights``: further inputs of the rule (forward-mode tangents are looked for on them,
    the logits and the labels).
    """
    if not enabled():
        return None
    name = ns.float_dtype_name(inp.xp, inp.dtype)
    if name not in ("float32", "float64"):
        return None
    if ns.is_torch_namespace(inp.xp):
        # Under torch.compile the generic formulas are traced and fused by the compiler
        # (which keeps fewer intermediates than eager autograd); Dynamo in current
        # PyTorch also warns when it traces an autograd.Function.
        # torch.func transforms (grad, vmap, hessian) and forward-mode dual tensors
        # differentiate the generic formulas (forward mode included).
        if ns.torch_is_compiling() or _functorch_active():
            return None
        from wxent._fastpaths import select

        return None if select.forward_ad(inp.logits, inp.labels, *weights) else "torch"
    if ns.is_jax_namespace(inp.xp):
        return "jax"
    if ns.is_tf_namespace(inp.xp):
        from wxent._fastpaths import select

        return None if select.tf_forward_ad(inp.logits, inp.labels, *weights) else "tf"
    return None


def sigmoid_family(
    inp: Any,
    pos_weight: Array | None,
    neg_weight: Array | None,
    *,
    gamma_pos: float,
    gamma_neg: float,
    clip: float,
    label_smoothing: float,
    exact: bool = False,
) -> Array | None:
    """Per-element ``q*t*A(x) + r*(1-t)*N(x)`` of the focal/asymmetric losses, or ``None``.

    ``t = z (1 - eps) + eps / 2`` of the prepared labels ``z``.

    Args:
        inp: the prepared inputs (:class:`wxent._prepare.Inputs`).
        pos_weight: ``q``, broadcastable, or ``None``.
        neg_weight: ``r``, broadcastable, or ``None``.
        gamma_pos: focusing parameter of the positive term.
        gamma_neg: focusing parameter of the negative term.
        clip: the probability margin of the negative term (0 for the focal loss).
        label_smoothing: ``eps``.
        exact: take a zero coefficient times an infinite term to 0 on the host too (the
            recomputation after an inexact result).

    Returns:
        The per-element losses, or ``None`` where no custom gradient applies.
    """
    framework = _framework(inp, pos_weight, neg_weight)
    if framework is None:
        return None
    opts = (float(gamma_pos), float(gamma_neg), float(clip), float(label_smoothing))
    if framework == "torch":
        from wxent._fastpaths import focal_torch as impl

        if not exact and inp.may_fall_back() and ns.on_host(inp.raw_logits):
            # On the host the masks of 0 * inf at infinite logits are mispredicted
            # branches, costlier than the arithmetic: the term stays NaN there, and
            # the call's one read answers it by recomputing exactly.
            inp.inexact = True
            return impl.sigmoid_family(
                inp.logits, inp.labels, pos_weight, neg_weight, opts, limit=False
            )
    elif framework == "tf":
        from wxent._fastpaths import focal_tf as impl  # type: ignore[no-redef]
    else:
        from wxent._fastpaths import focal_jax as impl  # type: ignore[no-redef]
    return impl.sigmoid_family(inp.logits, inp.labels, pos_weight, neg_weight, opts)


def softmax_focal(inp: Any, *, gamma: float, label_smoothing: float) -> Array | None:
    """Per-sample softmax focal loss for classes on the last axis, or ``None``.

    Class indices without smoothing take the per-row rule; smoothed indices and
    probability labels the dense one with the smoothed targets.

    Args:
        inp: the prepared inputs (:class:`wxent._prepare.Inputs`).
        gamma: the focusing parameter.
        label_smoothing: ``eps``.

    Returns:
        The per-sample losses, or ``None`` where no custom gradient applies.
    """
    framework = _framework(inp)
    if framework == "tf":  # (unknown dimensions allowed but the classes')
        from wxent._fastpaths import focal_tf

        return focal_tf.softmax_focal(inp, float(gamma), float(label_smoothing))
    x = inp.logits
    ndim = len(x.shape)
    if framework is None or ndim == 0 or inp.axis != ndim - 1 or x.shape[-1] == 0:
        return None
    num_classes = x.shape[-1]
    gamma = float(gamma)
    eps = float(label_smoothing)
    options: dict[str, bool] = {}
    if framework == "torch":
        from wxent._fastpaths import focal_torch as impl

        if inp.may_fall_back() and ns.on_host(inp.raw_logits):
            # On the host a +inf row gives a NaN loss, which the call's one read answers
            # by recomputing exactly: no pass over the logits for a rare case.
            inp.inexact = True
            options["limit"] = False
    else:
        from wxent._fastpaths import focal_jax as impl  # type: ignore[no-redef]
    rows = inp.xp.reshape(x, (-1, num_classes))
    if inp.indices:
        labels = inp.xp.reshape(inp.labels, (-1,))
        if eps == 0.0:
            losses = impl.softmax_sparse(rows, labels, gamma, **options)
        else:
            losses = impl.softmax_dense(rows, labels, eps, gamma, **options)
    else:
        labels = inp.xp.reshape(inp.labels, rows.shape)
        losses = impl.softmax_dense(rows, labels, eps, gamma, **options)
    return inp.xp.reshape(losses, tuple(x.shape[:-1]))


# ----------------------------------------------------------------------------- shared math


def focal_and_slope(xp: Any, minus_log_p: Array, log1m: Array, gamma: float) -> tuple[Any, Any]:
    """``F = -(1 - p)**gamma log p`` and ``k`` with ``dF/dx_j = (delta_cj - p_j) * k``.

    ``k = -(1 - p)**gamma * (1 + gamma * ratio)``, ``ratio = -p log p / (1 - p)``: 0 at
    ``p = 0`` and 1 as ``p -> 1``. Elementwise over any shape; ``xp`` is ``torch`` or
    ``jax.numpy``.

    Args:
        xp: the framework's module.
        minus_log_p: ``-log p`` (``inf`` for a masked class).
        log1m: ``log(1 - p)``, accurate also near ``p = 1`` (``-inf`` at ``p = 1``).
        gamma: the focusing parameter ``> 0``.

    Returns:
        ``F`` and ``k``, each the shape of the inputs.
    """
    far = minus_log_p > FAR
    safe = xp.where(far, xp.zeros_like(minus_log_p), minus_log_p)  # tensor first: TF graphs
    factor = xp.exp(log1m * gamma)
    loss = xp.where(far, minus_log_p, safe * factor)
    near_one = log1m > _TOP
    ratio = xp.where(near_one, xp.exp(-(safe + xp.where(near_one, log1m, 0.0))) * safe, 1.0)
    return loss, -factor * (1.0 + gamma * ratio)


def sigmoid_family_generic(
    x: Array, z: Array, q: Array | None, r: Array | None, opts: tuple[float, ...]
) -> Any:
    """The generic formula of :func:`sigmoid_family` (for the rarer derivatives)."""
    xp = ns.namespace(x)
    gamma_pos, gamma_neg, clip, eps = opts
    t = z * (1.0 - eps) + 0.5 * eps if eps else z
    cp = t if q is None else t * q
    cn = 1 - t if r is None else (1 - t) * r
    pos, neg = core_sigmoid.binary_terms(
        x, gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip, xp=xp
    )
    return safe_mul(cp, pos, xp=xp) + safe_mul(cn, neg, xp=xp)


def softmax_sparse_generic(x: Array, labels: Array, gamma: float) -> Any:
    """The generic per-sample focal loss of class indices (for second derivatives)."""
    xp = ns.namespace(x)
    return core_softmax.softmax_focal_loss_indices(
        x, labels, axis=1, gamma=gamma, label_smoothing=0.0, xp=xp
    )


def softmax_dense_generic(x: Array, labels: Array, eps: float, gamma: float) -> Any:
    """The generic focal loss of smoothed indices or probabilities (rarer derivatives)."""
    xp = ns.namespace(x)
    if len(labels.shape) == 1:
        return core_softmax.softmax_focal_loss_indices(
            x, labels, axis=1, gamma=gamma, label_smoothing=eps, xp=xp
        )
    targets = core_softmax.smooth_probabilities(labels, axis=1, label_smoothing=eps, xp=xp)
    return core_softmax.softmax_focal_loss_probabilities(x, targets, axis=1, gamma=gamma, xp=xp)
