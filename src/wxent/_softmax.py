"""The softmax family: one class per sample (integer indices or probabilities).

``softmax_cross_entropy``, ``softmax_focal_loss`` (Lin et al. 2017),
``logit_adjusted_cross_entropy`` and ``adjust_logits`` (Menon et al. 2021). Each public
function runs the same steps: prepare and check logits and labels (:mod:`wxent._prepare`),
move weights onto the logits' framework, call the core (:mod:`wxent.core.softmax`),
reduce and settle the value checks (:func:`wxent._prepare.finish`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from wxent import _fastpaths, _fx, _reduction
from wxent import _namespace as ns
from wxent import _prepare as prep
from wxent import _validation as v
from wxent._core import numerics
from wxent._core import softmax as core
from wxent._fastpaths import focal as custom_grad
from wxent._fastpaths import select
from wxent._types import Array


@_fx.leaf
def softmax_cross_entropy(
    logits: Array,
    labels: Array,
    *,
    class_weight: Any = None,
    sample_weight: Any = None,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
    class_axis: int = -1,
    reduction: str = "mean",
    validate: bool = True,
    inplace_backward: bool = False,
) -> Array:
    """Softmax (multi-class) cross-entropy from logits, with integer or probability labels.

    Per sample, with the smoothed target ``t = y * (1 - eps) + eps / C``::

        l = w * -sum_c t_c * log_softmax(x)_c

    where ``w = sample_weight * class_weight[y]`` for integer labels and
    ``w = sample_weight * sum_c class_weight[c] * y_c`` for probability labels (the
    class weight comes from the labels before smoothing). Integer, one-hot and soft
    labels that carry the same information give the same loss and gradient.

    Args:
        logits: floating array, classes along ``class_axis``.
        labels: integer class indices with the logits' shape without ``class_axis``,
            or floating probabilities with the logits' shape.
        class_weight: one non-negative weight per class ``(C,)`` (or a scalar).
        sample_weight: a scalar or one weight per sample (the loss shape).
        label_smoothing: ``eps`` in ``[0, 1]``.
        ignore_index: an integer label to ignore (integer labels only): ignored samples
            contribute 0 and are not counted in any denominator. With probability
            labels it has no effect (a criterion built with it serves both forms).
        class_axis: the class axis (``1`` for channels-first ``(N, C, H, W)`` data).
        reduction: ``"none"``, ``"sum"``, ``"mean"`` (``sum(w*l) / n_valid``) or
            ``"weighted_mean"`` (``sum(w*l) / sum(w)``, torch's weighted ``mean``).
        validate: check label and weight values on concrete arrays.
        inplace_backward: let the fused kernel (PyTorch logits on a CUDA device, classes
            on the last axis; see ``WXENT_KERNELS`` in the README) write the gradient into the
            logits' own storage, so that forward and backward need no memory beyond the
            logits. The backward pass overwrites the logits' values with their gradient:
            use it only for logits straight out of a linear layer or matmul (whose
            backward does not read its output; not after ``tanh``, ``softcap`` or the
            like, nor a leaf tensor), read nowhere after the backward pass, and call
            ``backward`` once. Elsewhere the option has no effect (also for logits that
            are a view of a leaf, or of a larger tensor's storage); a backward step that
            reads the overwritten logits raises PyTorch's error of a tensor modified in
            place.

    Returns:
        The loss in the logits' framework and dtype: 0-d, or per sample for
        ``reduction="none"``.

    Raises:
        TypeError: for wrong types or dtypes.
        ValueError: for wrong shapes or values.

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], dtype=np.float32)
        >>> labels = np.array([0, 2])
        >>> round(float(wxent.softmax_cross_entropy(logits, labels)), 4)
        0.1755
        >>> one_hot = np.eye(3, dtype=np.float32)[labels]
        >>> round(float(wxent.softmax_cross_entropy(logits, one_hot)), 4)
        0.1755
    """
    rerun = select.rerun(
        softmax_cross_entropy,
        labels,
        class_weight=class_weight,
        sample_weight=sample_weight,
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
        class_axis=class_axis,
        reduction=reduction,
    )
    inp = prep.softmax_inputs(
        logits,
        labels,
        class_axis=class_axis,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
        validate=validate,
    )
    inplace = v.check_bool("inplace_backward", inplace_backward)
    fused = prep.fused(
        inp,
        select.softmax_cross_entropy,
        logits,
        class_weight=class_weight,
        sample_weight=sample_weight,
        label_smoothing=float(label_smoothing),
        reduction=reduction,
        inplace_backward=inplace,
        rerun=rerun,
    )
    if fused is not None:  # the fused kernel (CUDA; see _fastpaths.select)
        return fused
    eps = float(label_smoothing)
    weights = softmax_sample_weight(inp, class_weight, sample_weight, reduction)
    prep.shield(inp, weights)
    values = prep.weigh(inp, weights, softmax_losses(inp, eps))
    return prep.finish(
        inp,
        values,
        weights,
        reduction,
        exact=lambda: prep.weigh(inp, weights, softmax_losses(inp, eps, fast=False)),
    )


def softmax_losses(inp: prep.Inputs, label_smoothing: float, *, fast: bool = True) -> Array:
    """Unweighted per-sample softmax cross-entropy for prepared inputs.

    ``fast=False`` skips the fast paths (the exact recomputation of :func:`prep.finish`).
    """
    # Fast path (see _fastpaths and BENCHMARKS.md): same per-sample losses, faster.
    losses = _fastpaths.softmax_losses(inp, label_smoothing) if fast else None
    if losses is not None:
        return losses
    if ns.is_tf_namespace(inp.xp):  # eager: the same operations as one graph call
        losses = _fastpaths.tf.eager_softmax_losses(inp, label_smoothing)
        if losses is not None:
            return losses
    core_losses = (
        core.softmax_cross_entropy_indices
        if inp.indices
        else core.softmax_cross_entropy_probabilities
    )
    return prep.quietly(
        inp,
        lambda: core_losses(
            inp.logits, inp.labels, axis=inp.axis, label_smoothing=label_smoothing, xp=inp.xp
        ),
    )


def softmax_sample_weight(
    inp: prep.Inputs, class_weight: Any, sample_weight: Any, reduction: Any
) -> Array | None:
    """The effective per-sample weight ``sample_weight * class_weight[y]`` (or ``None``).

    For ``"weighted_mean"`` scaled by a power of two (:func:`_reduction.scale_free`).
    """
    cw = prep.per_class("class_weight", class_weight, inp, broadcast=False)
    if cw is not None and len(cw.shape) == 1:
        if inp.indices:
            taken = inp.take(cw) if isinstance(inp, prep.IndexInputs) else None  # a gather
            cw = core.take_classes(cw, inp.labels, xp=inp.xp) if taken is None else taken
        else:
            ndim = inp.ndim
            if inp.axis != ndim - 1:
                shape = [1] * ndim
                shape[inp.axis] = -1
                cw = inp.xp.reshape(cw, tuple(shape))
            cw = core.class_weight_of_probabilities(cw, inp.labels, axis=inp.axis, xp=inp.xp)
    s = prep.sample_weight(sample_weight, inp, per_sample=False)
    if s is None or cw is None:
        (weights,) = _reduction.scale_free(inp.xp, [prep.multiply(s, cw)], inp.valid, reduction)
        return weights
    return effective_weight(inp, s, cw, reduction)


def effective_weight(inp: prep.Inputs, s: Array, cw: Array, reduction: Any) -> Array:
    """``s * cw`` per sample (the loss shape), never an overflowed product.

    For ``"weighted_mean"`` each factor is first brought near 1 by its own power of two
    (exact in the normal range), so that factors whose product is beyond the compute
    dtype (1e30 each in float32) give the weighted mean of their ratios, then the product
    is scaled as one weight (:func:`_reduction.scale_free`). Elsewhere an infinite
    product would be the weight of a counted element: NaN in the gradient (``inf * 0``);
    when validating concrete arrays it is an error (a flag folded into the call's read).
    """
    xp = inp.xp
    if reduction == "weighted_mean" and not _reduction.terms_pending():
        (s,) = _reduction.scale_free(xp, [s], inp.valid, reduction)
        (cw,) = _reduction.scale_free(xp, [cw], inp.valid, reduction)
        (weights,) = _reduction.scale_free(xp, [_product(xp, s, cw)], inp.valid, reduction)
        return weights
    weights = prep.quietly(inp, lambda: s * cw)
    if inp.validate:  # (concrete arrays)
        check_product(inp, weights, s, cw, inp.valid, reduction)
    return weights


def _product(xp: Any, a: Array, b: Array) -> Array:
    """``a * b`` as one operation of its own.

    TensorFlow's graph optimizer reorders chains of multiplications (fewest broadcasts
    first): ``(s * 2**-i) * (cw * 2**-j)`` became ``(s * cw) * ...``, which overflows
    (NaN in ``tf.function``). ``multiply_no_nan`` (``a * b``, 0 where ``b`` is 0: the
    same for these finite, non-negative weights) is not part of such a chain.
    """
    from wxent import _namespace as ns

    if ns.is_tf_namespace(xp):
        import tensorflow as tf

        return tf.math.multiply_no_nan(a, b)
    return a * b


def check_product(
    inp: prep.Inputs, weights: Array, s: Array, cw: Array, valid: Array | None, reduction: Any
) -> None:
    """Record the check that no counted ``weights = s * cw`` overflowed (a folded flag)."""
    xp = inp.xp
    counted = weights if valid is None else xp.where(valid, weights, xp.zeros_like(weights))

    def diagnose() -> None:
        _refuse_product(inp, s, cw, counted, reduction)

    inp.add_check(xp.any(counted == math.inf), diagnose)


def _refuse_product(inp: prep.Inputs, s: Array, cw: Array, counted: Array, reduction: Any) -> None:
    """Raise where a counted element's ``sample_weight * class_weight`` overflowed."""
    import numpy as np

    from wxent import _namespace as ns

    if not np.isinf(ns.to_numpy(counted)).any():
        return
    largest = [float(np.max(ns.to_numpy(w))) for w in (s, cw)]
    dtype = ns.float_dtype_name(inp.xp, inp.dtype)
    raise v.value_error(
        "sample_weight",
        f"weights whose products with `class_weight` fit in the logits' compute dtype "
        f"({dtype}) for reduction={reduction!r} (reduction='weighted_mean' takes any "
        "finite weights: only their ratios count)",
        f"sample_weight up to {largest[0]:.8g} and class_weight[label] up to {largest[1]:.8g}",
    )


@_fx.leaf
def softmax_focal_loss(
    logits: Array,
    labels: Array,
    *,
    gamma: float = 2.0,
    class_weight: Any = None,
    sample_weight: Any = None,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
    class_axis: int = -1,
    reduction: str = "mean",
    validate: bool = True,
) -> Array:
    """Softmax (multi-class) focal loss from logits, integer or probability labels.

    Per sample, with ``p = softmax(x)`` and the smoothed target
    ``t = y * (1 - eps) + eps / C``::

        l = w * -sum_c t_c * (1 - p_c)**gamma * log(p_c)

    which for an integer label without smoothing is ``-w * (1 - p_y)**gamma *
    log(p_y)``. ``w = sample_weight * class_weight[y]`` (for probability labels
    ``sum_c class_weight[c] * y_c``), from the labels before smoothing, as in
    :func:`wxent.softmax_cross_entropy`; ``gamma = 0`` gives that loss. Integer, one-hot
    and soft labels carrying the same information give the same loss and gradient.
    ``(1 - p_c)**gamma`` is computed as ``exp(gamma * log(1 - p_c))`` with
    ``log(1 - p_c)`` from a log-sum-exp over the other classes, so the loss and
    gradient are finite for every ``gamma >= 0`` and any finite logits.

    Args:
        logits: floating array of any framework, classes along ``class_axis``.
        labels: integer class indices (the logits' shape without ``class_axis``) or
            floating probabilities (the logits' shape).
        gamma: the focusing parameter ``>= 0``.
        class_weight: one non-negative weight per class ``(C,)`` (or a scalar).
        sample_weight: a scalar or one weight per sample.
        label_smoothing: ``eps`` in ``[0, 1]``.
        ignore_index: an integer label to ignore (integer labels only; no effect on
            probability labels).
        class_axis: the class axis.
        reduction: ``"none"``, ``"sum"``, ``"mean"`` or ``"weighted_mean"``.
        validate: check label and weight values on concrete arrays.

    Returns:
        The loss in the logits' framework and dtype (0-d, or per sample for
        ``reduction="none"``).

    Raises:
        TypeError: for wrong types or dtypes.
        ValueError: for wrong shapes or values.

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 2.0]], dtype=np.float32)
        >>> labels = np.array([0, 1])
        >>> wxent.softmax_focal_loss(logits, labels, reduction="none").round(4)
        array([0.0109, 1.7879], dtype=float32)
    """
    rerun = select.rerun(
        softmax_focal_loss,
        labels,
        gamma=gamma,
        class_weight=class_weight,
        sample_weight=sample_weight,
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
        class_axis=class_axis,
        reduction=reduction,
    )
    gamma = v.check_nonnegative_number("gamma", gamma)
    inp = prep.softmax_inputs(
        logits,
        labels,
        class_axis=class_axis,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
        validate=validate,
    )
    v.check_scalar_fits("gamma", gamma, inp.xp, inp.dtype)
    fused = prep.fused(
        inp,
        select.softmax_focal_loss,
        logits,
        gamma=gamma,
        class_weight=class_weight,
        sample_weight=sample_weight,
        label_smoothing=float(label_smoothing),
        reduction=reduction,
        rerun=rerun,
    )
    if fused is not None:  # the fused kernel (CUDA; see _fastpaths.select)
        return fused
    eps = float(label_smoothing)
    weights = softmax_sample_weight(inp, class_weight, sample_weight, reduction)
    prep.shield(inp, weights)
    # The custom gradient (PyTorch off CUDA kernels, JAX, TensorFlow), else the generic formulas.
    losses = custom_grad.softmax_focal(inp, gamma=gamma, label_smoothing=eps)
    if losses is None:
        losses = prep.quietly(inp, lambda: _softmax_focal_losses(inp, gamma, eps))
    values = prep.weigh(inp, weights, losses)
    return prep.finish(
        inp,
        values,
        weights,
        reduction,
        exact=lambda: prep.weigh(
            inp, weights, prep.quietly(inp, lambda: _softmax_focal_losses(inp, gamma, eps))
        ),
    )


def _softmax_focal_losses(inp: prep.Inputs, gamma: float, eps: float) -> Array:
    """The generic per-sample softmax focal loss of prepared inputs."""
    if inp.indices:
        return core.softmax_focal_loss_indices(
            inp.logits, inp.labels, axis=inp.axis, gamma=gamma, label_smoothing=eps, xp=inp.xp
        )
    targets = core.smooth_probabilities(inp.labels, axis=inp.axis, label_smoothing=eps, xp=inp.xp)
    return core.softmax_focal_loss_probabilities(
        inp.logits, targets, axis=inp.axis, gamma=gamma, xp=inp.xp
    )


def _log_prior(class_prior: Any, inp: prep.Inputs) -> Array:
    """``log(class_prior)`` along the class axis, after checking the prior is positive."""
    if class_prior is None:
        raise v.type_error(
            "class_prior", "one positive value per class, e.g. wxent.class_prior(labels)", "None"
        )
    prior = prep.per_class("class_prior", class_prior, inp, positive=True)
    return prep.quietly(inp, lambda: inp.xp.log(prior))  # a zero prior: its check raises


@_fx.leaf
def logit_adjusted_cross_entropy(
    logits: Array,
    labels: Array,
    class_prior: Any,
    *,
    tau: float = 1.0,
    class_weight: Any = None,
    sample_weight: Any = None,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
    class_axis: int = -1,
    reduction: str = "mean",
    validate: bool = True,
) -> Array:
    """Logit-adjusted softmax cross-entropy (Menon et al. 2021) for long-tailed classes.

    Softmax cross-entropy on ``logits + tau * log(class_prior)``::

        l = w * -sum_c t_c * log_softmax(x + tau * log(pi))_c

    Adding the log prior during training makes the model learn the *balanced* logits:
    at test time, the plain ``logits`` (no adjustment) then favour rare classes as a
    balanced-error classifier should. A constant factor in the prior changes nothing
    (softmax is shift-invariant). Weights, smoothing, ignoring and reductions as in
    :func:`wxent.softmax_cross_entropy`; ``tau = 0`` gives that loss.

    The adjustment is added to the shifted logits ``x - max(x)`` of each row, with the
    largest prior's log taken as 0 (the same loss in exact arithmetic): it counts at any
    magnitude of the logits (float32 logits ``1e8`` equal in a row give ``-log pi_y`` for
    a normalised prior, not ``log C``), and a large ``tau`` overflows no class but those
    whose adjusted probability is 0. A row holding ``+inf`` keeps it: its limit is
    uniform over its ``+inf`` entries, as in :func:`wxent.softmax_cross_entropy`.

    Args:
        logits: floating array of any framework, classes along ``class_axis``.
        labels: integer class indices or floating probabilities.
        class_prior: positive class frequencies ``(C,)``, e.g.
            :func:`wxent.class_prior` of the training labels (a zero would be
            ``log 0 = -inf``: it is an error).
        tau: the adjustment strength ``>= 0`` (1 in the paper).
        class_weight: one non-negative weight per class ``(C,)``.
        sample_weight: a scalar or one weight per sample.
        label_smoothing: ``eps`` in ``[0, 1]``.
        ignore_index: an integer label to ignore (integer labels only; no effect on
            probability labels).
        class_axis: the class axis.
        reduction: ``"none"``, ``"sum"``, ``"mean"`` or ``"weighted_mean"``.
        validate: check label, weight and prior values on concrete arrays.

    Returns:
        The loss in the logits' framework and dtype.

    Raises:
        TypeError: for wrong types or dtypes.
        ValueError: for wrong shapes or values (a prior that is not positive).

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.zeros((1, 2), dtype=np.float32)
        >>> prior = [0.9, 0.1]
        >>> float(wxent.logit_adjusted_cross_entropy(logits, np.array([1]), prior)) > float(
        ...     wxent.logit_adjusted_cross_entropy(logits, np.array([0]), prior))
        True
    """
    tau = v.check_nonnegative_number("tau", tau)
    inp = prep.softmax_inputs(
        logits,
        labels,
        class_axis=class_axis,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
        validate=validate,
    )
    v.check_scalar_fits("tau", tau, inp.xp, inp.dtype)
    log_prior = _log_prior(class_prior, inp)
    if tau != 0.0:  # softmax is shift-invariant: the largest prior's log becomes 0, so
        # tau * log(prior) overflows only where a class's adjusted logit really is -inf
        log_prior = log_prior - inp.xp.max(log_prior)

    def adjusted() -> prep.Inputs:  # of inp.logits as they are now (see Inputs.exclude)
        inp.labels  # noqa: B018 - made once, with their out-of-range mask, for both
        x = inp.logits
        if tau != 0.0:
            # The adjustment is added to the shifted logits x - max(x), not to x: added to
            # large logits (1e6 in float32) it rounds away.
            x = prep.quietly(inp, lambda: numerics.shifted_logits(x, axis=inp.axis, xp=inp.xp))
        return dataclasses.replace(inp, raw_logits=core.adjust_logits(x, log_prior, tau=tau))

    eps = float(label_smoothing)
    weights = softmax_sample_weight(inp, class_weight, sample_weight, reduction)
    prep.shield(inp, weights)
    shifted = adjusted()
    losses = softmax_losses(shifted, eps)
    inp.inexact = shifted.inexact  # finish recomputes exactly if the fast path gave NaN
    values = prep.weigh(inp, weights, losses)
    return prep.finish(
        inp,
        values,
        weights,
        reduction,
        exact=lambda: prep.weigh(inp, weights, softmax_losses(adjusted(), eps, fast=False)),
    )


@_fx.leaf
def adjust_logits(
    logits: Array, class_prior: Any, *, tau: float = 1.0, class_axis: int = -1
) -> Array:
    """Post-hoc logit adjustment for decisions: ``logits - tau * log(class_prior)``.

    For a model trained with plain cross-entropy on long-tailed data, the argmax of the
    adjusted logits is the Bayes decision for the *balanced* error (every class equally
    important), Menon et al. 2021. Not needed after training with
    :func:`logit_adjusted_cross_entropy`, whose plain logits are already balanced.

    The result is computed in the logits' dtype (float32 for 16-bit logits, then cast
    back): where the logits are so large that ``tau * log(class_prior)`` is below their
    resolution (float32 logits beyond about ``1e7``, whose spacing is 1 or more) the
    adjustment rounds away, and adjusted logits beyond the dtype's range are ``±inf``.
    For decisions at any magnitude use ``wxent.predict(logits, offsets=-tau *
    np.log(class_prior))``, which adds the offsets to the shifted logits.

    Args:
        logits: floating array of any framework, classes along ``class_axis``.
        class_prior: positive class frequencies ``(C,)`` (a zero is an error).
        tau: the adjustment strength ``>= 0``.
        class_axis: the class axis.

    Returns:
        The adjusted logits, the logits' framework, shape and dtype.

    Raises:
        TypeError: for wrong types or dtypes.
        ValueError: for wrong shapes or values.

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.array([[1.0, 0.0]], dtype=np.float32)
        >>> wxent.adjust_logits(logits, [0.9, 0.1]).argmax(axis=-1)
        array([1])
    """
    tau = v.check_nonnegative_number("tau", tau)
    inp = prep.logits_inputs(logits, class_axis=class_axis)
    v.check_scalar_fits("tau", tau, inp.xp, inp.dtype)
    out = prep.quietly(inp, lambda: inp.logits - tau * _log_prior(class_prior, inp))
    out = prep.settle(inp, out)  # NaN logits are an error here too
    return prep.cast(inp.xp, out, inp.out_dtype)  # (beyond a 16-bit range: inf, quietly)
