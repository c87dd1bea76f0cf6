"""The losses built for imbalanced classes (the delegation layer).

Focal losses (Lin et al. 2017), the asymmetric loss (Ridnik et al. 2021) and logit
adjustment (Menon et al. 2021). Each runs the five steps of :mod:`wxent._losses`:
prepare the inputs, move the weights, call the core (:mod:`wxent._core_imbalance`),
reduce. All share the semantics of the cross-entropies: class axis, weights,
smoothing, ignoring, reductions, validation, four frameworks.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from wxent import _core
from wxent import _core_imbalance as core
from wxent import _namespace as ns
from wxent import _prepare as prep
from wxent import _validation as v
from wxent._fastpaths import select
from wxent._losses import binary_element_weight, softmax_losses, softmax_sample_weight

Array = Any


def _alpha(alpha: Any, inp: prep.Inputs) -> tuple[Array | None, Array | None]:
    """``alpha`` (scalar or per class) and ``1 - alpha`` on the logits, or ``(None, None)``."""
    if alpha is None:
        return None, None
    on_host = isinstance(alpha, np.ndarray) or not ns.is_array(alpha)
    if on_host and inp.check_config and not ns.torch_is_compiling():
        try:
            host = np.asarray(alpha, dtype=np.float64)
        except (TypeError, ValueError):
            host = None
        if host is not None:
            v.check_finite_nonnegative("alpha", host)
            v.check_at_most_one("alpha", host)
    elif not on_host and inp.validate and ns.is_concrete(alpha):
        v.check_at_most_one("alpha", ns.to_numpy(alpha).astype(np.float64))
    a = prep.per_class("alpha", alpha, inp)
    if a is None:  # pragma: no cover - per_class returns an array for a non-None value
        return None, None
    return a, 1.0 - a


def sigmoid_focal_loss(
    logits: Array,
    labels: Array,
    *,
    gamma: float = 2.0,
    alpha: Any = None,
    pos_weight: Any = None,
    neg_weight: Any = None,
    sample_weight: Any = None,
    label_smoothing: float = 0.0,
    ignore_label: float | None = None,
    class_axis: int = -1,
    reduction: str = "mean",
    validate: bool = True,
) -> Array:
    """Sigmoid focal loss (Lin et al. 2017) from logits, for binary and multi-label data.

    Per element, with ``p = sigmoid(x)``, label ``z``, ``a = alpha``::

        l = s * [a * q * z * -(1 - p)**gamma * log(p)
                 + (1 - a) * r * (1 - z) * -p**gamma * log(1 - p)]

    For hard labels this is ``-alpha_t * (1 - p_t)**gamma * log(p_t)``, the loss of
    torchvision's and Optax's ``sigmoid_focal_loss``. The modulating factors are computed
    in log space (``(1 - p)**gamma = exp(-gamma * softplus(x))``), without clipping: the
    loss and gradient are finite for every ``gamma >= 0`` (also ``gamma < 1``) and any
    finite logits, and a positive at logit ``-100`` costs ``alpha * 100``.
    ``gamma = 0`` gives :func:`wxent.sigmoid_cross_entropy` with
    ``pos_weight=alpha * q``, ``neg_weight=(1 - alpha) * r``. Soft (or smoothed) labels
    weigh the two terms, each with its own factor (Optax instead multiplies the whole
    cross-entropy by ``(1 - p_t)**gamma``; the two agree on hard labels).

    The effective weight of an element (``"weighted_mean"``) is
    ``s * (a * q * z + (1 - a) * r * (1 - z))`` with the unsmoothed label.

    Args:
        logits: floating array of any framework; labels along ``class_axis``.
        labels: the logits' shape, values in ``[0, 1]`` or ``ignore_label``.
        gamma: the focusing parameter ``>= 0`` (2 in the paper; 0 is cross-entropy).
        alpha: ``None`` (weigh neither term), or a scalar or one value per class in
            ``[0, 1]`` weighing the positive term, ``1 - alpha`` the negative term
            (0.25 in the paper).
        pos_weight: extra weight of the positive term, scalar or per class.
        neg_weight: extra weight of the negative term, scalar or per class.
        sample_weight: a scalar, the logits' shape, or one weight per sample.
        label_smoothing: ``eps`` in ``[0, 1]``; targets ``z * (1 - eps) + eps / 2``.
        ignore_label: a label value outside ``[0, 1]`` (e.g. ``-1``) to ignore.
        class_axis: the axis of the labels.
        reduction: ``"none"``, ``"sum"``, ``"mean"`` or ``"weighted_mean"``.
        validate: check label and weight values on concrete arrays.

    Returns:
        The loss in the logits' framework and dtype (0-d, or the logits' shape for
        ``reduction="none"``).

    Raises:
        TypeError: for wrong types or dtypes.
        ValueError: for wrong shapes or values.

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.array([[-100.0, 3.0]], dtype=np.float32)
        >>> labels = np.array([[1.0, 0.0]], dtype=np.float32)
        >>> wxent.sigmoid_focal_loss(logits, labels, alpha=0.25, reduction="none").round(2)
        array([[25.  ,  2.07]], dtype=float32)
    """
    gamma = v.check_nonnegative_number("gamma", gamma)
    inp = prep.sigmoid_inputs(
        logits,
        labels,
        class_axis=class_axis,
        ignore_label=ignore_label,
        label_smoothing=label_smoothing,
        reduction=reduction,
        validate=validate,
    )
    a, one_minus_a = _alpha(alpha, inp)
    q = prep.multiply(a, prep.per_class("pos_weight", pos_weight, inp))
    r = prep.multiply(one_minus_a, prep.per_class("neg_weight", neg_weight, inp))
    s = prep.sample_weight(sample_weight, inp, per_sample=True)
    fused = select.sigmoid_family(
        logits,
        labels,
        inp,
        pos_weight=q,
        neg_weight=r,
        sample_weight=s,
        ignore_label=ignore_label,
        label_smoothing=float(label_smoothing),
        reduction=reduction,
        gamma_pos=gamma,
        gamma_neg=gamma,
    )
    if fused is not None:
        return fused
    z = inp.labels
    losses = core.sigmoid_focal_loss(
        inp.logits,
        prep.smooth_binary(z, float(label_smoothing)),
        gamma=gamma,
        pos_weight=q,
        neg_weight=r,
        xp=inp.xp,
    )
    values = prep.multiply(s, losses)
    return prep.finish(inp, values, binary_element_weight(z, q, r, s), reduction)


def asymmetric_loss(
    logits: Array,
    labels: Array,
    *,
    gamma_pos: float = 0.0,
    gamma_neg: float = 4.0,
    clip: float = 0.05,
    pos_weight: Any = None,
    neg_weight: Any = None,
    sample_weight: Any = None,
    label_smoothing: float = 0.0,
    ignore_label: float | None = None,
    class_axis: int = -1,
    reduction: str = "mean",
    validate: bool = True,
) -> Array:
    """Asymmetric loss (ASL, Ridnik et al. 2021) for multi-label data with few positives.

    Per element, with ``p = sigmoid(x)`` and the shifted probability
    ``p_m = max(p - clip, 0)``::

        l = s * [q * z * -(1 - p)**gamma_pos * log(p)
                 + r * (1 - z) * -p_m**gamma_neg * log(1 - p_m)]

    Easy negatives are down-weighted by ``p_m**gamma_neg`` and negatives with
    ``p <= clip`` cost nothing (which also discards likely mislabelled negatives). The
    paper's defaults are ``gamma_pos=0, gamma_neg=4, clip=0.05``. ``gamma_pos =
    gamma_neg = clip = 0`` gives :func:`wxent.sigmoid_cross_entropy`. Computed in log
    space without clipping the probabilities elsewhere; reduced like every other loss
    (the reference implementation returns the sum: use ``reduction="sum"``).

    Args:
        logits: floating array of any framework; labels along ``class_axis``.
        labels: the logits' shape, values in ``[0, 1]`` or ``ignore_label``.
        gamma_pos: focusing parameter of the positive term, ``>= 0``.
        gamma_neg: focusing parameter of the negative term, ``>= 0``.
        clip: the probability margin in ``[0, 1]``.
        pos_weight: weight of the positive term, scalar or per class.
        neg_weight: weight of the negative term, scalar or per class.
        sample_weight: a scalar, the logits' shape, or one weight per sample.
        label_smoothing: ``eps`` in ``[0, 1]``; targets ``z * (1 - eps) + eps / 2``.
        ignore_label: a label value outside ``[0, 1]`` (e.g. ``-1``) to ignore.
        class_axis: the axis of the labels.
        reduction: ``"none"``, ``"sum"``, ``"mean"`` or ``"weighted_mean"``.
        validate: check label and weight values on concrete arrays.

    Returns:
        The loss in the logits' framework and dtype.

    Raises:
        TypeError: for wrong types or dtypes.
        ValueError: for wrong shapes or values.

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.array([[2.0, -3.0, -1.0]], dtype=np.float32)
        >>> labels = np.array([[1.0, 0.0, 0.0]], dtype=np.float32)
        >>> wxent.asymmetric_loss(logits, labels, reduction="none").round(4)
        array([[0.1269, 0.    , 0.0006]], dtype=float32)
    """
    gamma_pos = v.check_nonnegative_number("gamma_pos", gamma_pos)
    gamma_neg = v.check_nonnegative_number("gamma_neg", gamma_neg)
    clip = v.check_fraction("clip", clip)
    inp = prep.sigmoid_inputs(
        logits,
        labels,
        class_axis=class_axis,
        ignore_label=ignore_label,
        label_smoothing=label_smoothing,
        reduction=reduction,
        validate=validate,
    )
    q = prep.per_class("pos_weight", pos_weight, inp)
    r = prep.per_class("neg_weight", neg_weight, inp)
    s = prep.sample_weight(sample_weight, inp, per_sample=True)
    fused = select.sigmoid_family(
        logits,
        labels,
        inp,
        pos_weight=q,
        neg_weight=r,
        sample_weight=s,
        ignore_label=ignore_label,
        label_smoothing=float(label_smoothing),
        reduction=reduction,
        gamma_pos=gamma_pos,
        gamma_neg=gamma_neg,
        clip=clip,
    )
    if fused is not None:
        return fused
    z = inp.labels
    losses = core.asymmetric_loss(
        inp.logits,
        prep.smooth_binary(z, float(label_smoothing)),
        gamma_pos=gamma_pos,
        gamma_neg=gamma_neg,
        clip=clip,
        pos_weight=q,
        neg_weight=r,
        xp=inp.xp,
    )
    values = prep.multiply(s, losses)
    return prep.finish(inp, values, binary_element_weight(z, q, r, s), reduction)


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
        ignore_index: an integer label to ignore (integer labels only).
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
    fused = select.softmax_focal_loss(
        logits,
        inp,
        gamma=gamma,
        class_weight=class_weight,
        sample_weight=sample_weight,
        label_smoothing=float(label_smoothing),
        reduction=reduction,
    )
    if fused is not None:
        return fused
    eps = float(label_smoothing)
    if inp.indices:
        losses = core.softmax_focal_loss_indices(
            inp.logits, inp.labels, axis=inp.axis, gamma=gamma, label_smoothing=eps, xp=inp.xp
        )
    else:
        targets = _core.smooth_probabilities(
            inp.labels, axis=inp.axis, label_smoothing=eps, xp=inp.xp
        )
        losses = core.softmax_focal_loss_probabilities(
            inp.logits, targets, axis=inp.axis, gamma=gamma, xp=inp.xp
        )
    weights = softmax_sample_weight(inp, class_weight, sample_weight)
    values = prep.multiply(weights, losses)
    return prep.finish(inp, values, weights, reduction)


def _log_prior(class_prior: Any, inp: prep.Inputs) -> Array:
    """``log(class_prior)`` along the class axis, after checking the prior is positive."""
    if class_prior is None:
        raise v.type_error(
            "class_prior", "one positive value per class, e.g. wxent.class_prior(labels)", "None"
        )
    if ns.is_array(class_prior) and not isinstance(class_prior, np.ndarray):
        if inp.validate and ns.is_concrete(class_prior):
            v.check_positive_values("class_prior", ns.to_numpy(class_prior).astype(np.float64))
    elif inp.check_config and not ns.torch_is_compiling() and not isinstance(class_prior, bool):
        try:
            host = np.asarray(class_prior, dtype=np.float64)
        except (TypeError, ValueError):
            host = None
        if host is not None:
            v.check_positive_values("class_prior", host)
    prior = prep.per_class("class_prior", class_prior, inp)
    return inp.xp.log(prior)


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
        ignore_index: an integer label to ignore (integer labels only).
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
    log_prior = _log_prior(class_prior, inp)
    adjusted = dataclasses.replace(inp, logits=core.adjust_logits(inp.logits, log_prior, tau=tau))
    losses = softmax_losses(adjusted, float(label_smoothing))
    weights = softmax_sample_weight(inp, class_weight, sample_weight)
    values = prep.multiply(weights, losses)
    return prep.finish(inp, values, weights, reduction)


def adjust_logits(
    logits: Array, class_prior: Any, *, tau: float = 1.0, class_axis: int = -1
) -> Array:
    """Post-hoc logit adjustment for decisions: ``logits - tau * log(class_prior)``.

    For a model trained with plain cross-entropy on long-tailed data, the argmax of the
    adjusted logits is the Bayes decision for the *balanced* error (every class equally
    important), Menon et al. 2021. Not needed after training with
    :func:`logit_adjusted_cross_entropy`, whose plain logits are already balanced.

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
    xp = v.check_logits(logits)
    axis = v.check_class_axis(class_axis, len(logits.shape))
    shape = v.static_shape(logits)
    dtype = logits.dtype
    name = ns.float_dtype_name(xp, dtype)
    x = logits if name in ("float32", "float64") else xp.astype(logits, xp.float32)
    inp = prep.Inputs(
        xp=xp,
        logits=x,
        out_dtype=dtype,
        axis=axis,
        num_classes=shape[axis],
        validate=ns.is_concrete(logits),
        labels=None,
        valid=None,
        indices=False,
        loss_shape=shape,
    )
    out = x - tau * _log_prior(class_prior, inp)
    return out if out.dtype == dtype else xp.astype(out, dtype)
