"""The sigmoid family: independent binary labels (binary and multi-label data).

``sigmoid_cross_entropy``, ``sigmoid_focal_loss`` (Lin et al. 2017) and
``asymmetric_loss`` (Ridnik et al. 2021). Each public function runs the same steps:
prepare and check logits and labels (:mod:`wxent._prepare`), move weights onto the
logits' framework, call the core (:mod:`wxent.core.sigmoid`), reduce and settle the
value checks (:func:`wxent._prepare.finish`).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from wxent import _fastpaths, _fx, _reduction
from wxent import _namespace as ns
from wxent import _prepare as prep
from wxent import _validation as v
from wxent._core import sigmoid as core
from wxent._fastpaths import focal as custom_grad
from wxent._fastpaths import select
from wxent._types import Array


@_fx.leaf
def sigmoid_cross_entropy(
    logits: Array,
    labels: Array,
    *,
    pos_weight: Any = None,
    neg_weight: Any = None,
    sample_weight: Any = None,
    label_smoothing: float = 0.0,
    ignore_label: float | None = None,
    class_axis: int = -1,
    reduction: str = "mean",
    validate: bool = True,
) -> Array:
    """Sigmoid (binary, multi-label) cross-entropy from logits, with per-class weights.

    Per element, with ``x`` the logit, ``z`` the label, ``q = pos_weight``,
    ``r = neg_weight`` and ``s = sample_weight``::

        l = s * [q * z * -log(sigmoid(x)) + r * (1 - z) * -log(1 - sigmoid(x))]

    computed stably as ``s * [q * z * softplus(-x) + r * (1 - z) * softplus(x)]``. With
    ``r = 1`` it equals ``(1 - z) * x + (1 + (q - 1) * z) * (log1p(exp(-|x|)) + max(-x, 0))``.
    ``q > 1`` trades precision for recall, ``q < 1`` the reverse.

    The effective weight of an element (the denominator of ``"weighted_mean"``) is
    ``s * (q * z + r * (1 - z))`` with the label before smoothing.

    Args:
        logits: floating array (NumPy, PyTorch, JAX or TensorFlow), any shape of at
            least one dimension (one binary logit is ``(1,)``; 0-d is an error); classes
            (labels) along ``class_axis``.
        labels: the logits' shape; values in ``[0, 1]`` (soft labels allowed) or equal to
            ``ignore_label``; any real or boolean dtype.
        pos_weight: weight of the positive term, a scalar or one per class ``(C,)``.
        neg_weight: weight of the negative term, a scalar or one per class ``(C,)``.
        sample_weight: a scalar, the logits' shape (one weight per element), or the
            logits' shape without ``class_axis`` (one weight per sample, for all its
            labels).
        label_smoothing: ``eps`` in ``[0, 1]``; targets become ``z * (1 - eps) + eps / 2``.
        ignore_label: a label value outside ``[0, 1]`` (e.g. ``-1``) marking unknown
            labels: they contribute 0 and are not counted in any denominator.
        class_axis: the axis of the classes; per-class vectors apply along it.
        reduction: ``"none"``, ``"sum"``, ``"mean"`` (``sum(w*l) / n_valid``) or
            ``"weighted_mean"`` (``sum(w*l) / sum(w)``).
        validate: check label and weight values (needs concrete arrays; skipped under
            ``jax.jit`` / ``tf.function``). Static checks always run.

    Returns:
        The loss in the logits' framework and dtype: a 0-d array, or the logits' shape
        for ``reduction="none"`` (0 where ignored).

    Raises:
        TypeError: for wrong types or dtypes.
        ValueError: for wrong shapes or values.

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.array([[0.0, 2.0], [-1.0, 0.5]], dtype=np.float32)
        >>> labels = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
        >>> round(float(wxent.sigmoid_cross_entropy(logits, labels, pos_weight=[3.0, 1.0])), 4)
        1.2484
    """
    rerun = select.rerun(
        sigmoid_cross_entropy,
        labels,
        pos_weight=pos_weight,
        neg_weight=neg_weight,
        sample_weight=sample_weight,
        label_smoothing=label_smoothing,
        ignore_label=ignore_label,
        class_axis=class_axis,
        reduction=reduction,
    )
    prepared = _family_inputs(
        logits,
        labels,
        pos_weight,
        neg_weight,
        sample_weight,
        None,
        class_axis=class_axis,
        ignore_label=ignore_label,
        label_smoothing=label_smoothing,
        reduction=reduction,
        validate=validate,
    )
    inp, q, r, s = prepared
    options = (ignore_label, label_smoothing, reduction)
    fused = _fused(logits, labels, prepared, options, rerun=rerun)
    if fused is not None:
        return fused
    z = inp.labels
    eps = float(label_smoothing)
    rule = _fastpaths.tf_sigmoid_values(inp, eps, q, r, s)  # exact: no guard, no fallback
    if rule is None and not inp.concrete:
        _guard(inp, z, q, r, s, eps)  # traced: the shield, before any formula

    def values(fast: bool) -> Array:
        if fast and rule is not None:
            return rule
        # Fast path (see _fastpaths and BENCHMARKS.md): same per-element losses, faster.
        losses = _fastpaths.sigmoid_losses(inp, eps, q, r) if fast else None
        if losses is None:
            if inp.concrete:  # the inexact fast paths need no watch: a NaN logit makes
                _guard(inp, z, q, r, s, eps)  # their loss NaN, which sends the call here
            # JAX: the generic formulas' values as one compiled rule (exact)
            losses = _fastpaths.jax_sigmoid_losses(inp, eps, q, r) if fast else None
        if losses is None:
            losses = core.sigmoid_cross_entropy(
                inp.logits, prep.smooth_binary(z, eps), pos_weight=q, neg_weight=r, xp=inp.xp
            )
        return prep.weigh(inp, s, losses)

    # The element weights are only the denominator of "weighted_mean": skip them otherwise.
    weights = binary_element_weight(z, q, r, s) if prep.needs_weights(reduction) else None
    return prep.finish(inp, values(True), weights, reduction, exact=lambda: values(False))


def _guard(inp: prep.Inputs, z: Array, q: Any, r: Any, s: Any, eps: float) -> None:
    """Elements of weight 0 keep gradient 0 at NaN logits (see ``_inputs.shield``).

    The weight of an element is ``s * (q * t + r * (1 - t))`` with the smoothed label
    ``t``; a ``q`` or ``r`` of 0 makes its loss 0 without a NaN for the losses' watch
    (``Inputs.watch_excluded``), so eager calls watch the logits then (one reduction).
    """
    if not inp.concrete:
        prep.shield(inp, binary_element_weight(prep.smooth_binary(z, eps), q, r, s))
    elif (q is not None or r is not None) and inp.watching():
        inp.watch_excluded(inp.logits)


def binary_element_weight(
    z: Array, q: Array | None, r: Array | None, s: Array | None
) -> Array | None:
    """The effective weight ``s * (q * z + r * (1 - z))`` of a sigmoid-family element."""
    if q is None and r is None:
        return s
    label_weight = (z if q is None else q * z) + ((1 - z) if r is None else r * (1 - z))
    return prep.multiply(s, label_weight)


def _alpha(alpha: Any, inp: prep.Inputs) -> tuple[Array | None, Array | None]:
    """``alpha`` (scalar or per class) and ``1 - alpha`` on the logits, or ``(None, None)``."""
    if alpha is None:
        return None, None
    a = prep.per_class("alpha", alpha, inp, at_most_one=True)
    if a is None:  # pragma: no cover - per_class returns an array for a non-None value
        return None, None
    return a, 1.0 - a


def _family_inputs(
    logits: Array,
    labels: Array,
    pos_weight: Any,
    neg_weight: Any,
    sample_weight: Any,
    alpha: Any,
    **options: Any,
) -> tuple[prep.Inputs, Array | None, Array | None, Array | None]:
    """The shared first steps of the family: inputs, then ``q``, ``r`` and ``s`` on the logits.

    ``alpha`` (focal) multiplies ``q`` and ``1 - alpha`` multiplies ``r``. A
    :class:`_Scalar` alpha is only checked here: see :func:`_scalar_alpha`.
    """
    inp = prep.sigmoid_inputs(logits, labels, **options)
    if isinstance(alpha, _Scalar):
        alpha.check(inp)
        alpha = None
    a, one_minus_a = _alpha(alpha, inp)
    q = prep.multiply(a, prep.per_class("pos_weight", pos_weight, inp))
    r = prep.multiply(one_minus_a, prep.per_class("neg_weight", neg_weight, inp))
    s = prep.sample_weight(sample_weight, inp, per_sample=True)
    if options.get("reduction") == "weighted_mean":
        q, r = _scale_pair(inp, q, r)
        if s is not None:
            (s,) = _reduction.scale_free(inp.xp, [s], inp.valid, "weighted_mean")
    return inp, q, r, s


def _scale_pair(inp: prep.Inputs, q: Array | None, r: Array | None) -> tuple[Any, Any]:
    """``q`` and ``r`` of a weighted mean, scaled by one power of two (their ratio counts).

    A missing ``q`` or ``r`` is an implicit 1 that must take the same factor: where only
    one is given, the other becomes ones of its shape before the scaling (a huge
    ``pos_weight`` alone would otherwise overflow the weighted sums into NaN).
    """
    if (q is None and r is None) or _reduction.terms_pending():
        return q, r  # (loss_terms keeps the caller's scale: nothing to scale with)
    one = inp.xp.ones_like(q if q is not None else r)
    inp.unit_neg = r is None
    q, r = _reduction.scale_free(
        inp.xp, [one if q is None else q, one if r is None else r], None, "weighted_mean"
    )
    return q, r


class _Scalar:
    """A Python-number ``alpha`` that the Triton kernel takes as two scalar arguments.

    ``alpha`` and ``1 - alpha`` in the compute dtype, as the generic path's
    ``1 - alpha`` of an ``alpha`` moved onto the logits rounds them (float32): no fill
    and no ``1 - alpha`` on the device. The generic path, when the kernel does not run,
    folds them into ``q`` and ``r`` as usual (:meth:`fold`).
    """

    def __init__(self, value: float) -> None:
        self.value = value
        with np.errstate(all="ignore"):  # (an unchecked huge alpha: inf, as on the device)
            a = np.float32(value)
            self.pair = (float(a), float(np.float32(1.0) - a))

    def check(self, inp: prep.Inputs) -> None:
        """The host check of ``alpha`` (in ``[0, 1]``), where the generic path checks it."""
        prep.host_number("alpha", self.value, inp, at_most_one=True)

    def fold(self, prepared: tuple, reduction: Any) -> tuple:
        """``prepared`` with ``alpha`` folded into ``q`` and ``1 - alpha`` into ``r``."""
        inp, q, r, s = prepared
        a = prep.config_array("alpha", self.value, inp, check_values=False)  # checked
        q, r = prep.multiply(a, q), prep.multiply(1.0 - a, r)
        if reduction == "weighted_mean":
            q, r = _scale_pair(inp, q, r)
        return inp, q, r, s


def _scalar_alpha(
    alpha: Any, logits: Array, pos_weight: Any, neg_weight: Any, reduction: Any
) -> Any:
    """``alpha`` as a :class:`_Scalar` where the Triton kernel may take it so, else as given.

    A Python number with PyTorch float32/16-bit logits, except for a weighted mean with
    ``pos_weight`` or ``neg_weight`` (their joint scale includes ``alpha``).
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        return alpha
    if not ns.is_torch(logits) or ns.torch_is_compiling():
        return alpha
    if reduction == "weighted_mean" and (pos_weight is not None or neg_weight is not None):
        return alpha
    return _Scalar(alpha)


def _fused(
    logits: Array,
    labels: Array,
    prepared: tuple[prep.Inputs, Array | None, Array | None, Array | None],
    options: tuple[Any, Any, Any],
    modulation: tuple[float, float, float] = (0.0, 0.0, 0.0),
    alpha: tuple[float, float] | None = None,
    rerun: Any = None,
) -> Array | None:
    """The fused kernel's result (CUDA; see :mod:`wxent._fastpaths.select`), or ``None``.

    ``options`` is ``(ignore_label, label_smoothing, reduction)``, ``modulation``
    ``(gamma_pos, gamma_neg, clip)``, ``alpha`` the pair of a :class:`_Scalar`,
    ``rerun`` the call again (:func:`wxent._fastpaths.select.rerun`).
    """
    if _reduction.terms_pending():
        return None
    inp, q, r, s = prepared
    ignore_label, label_smoothing, reduction = options
    gamma_pos, gamma_neg, clip = modulation
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
        alpha=alpha,
        rerun=rerun,
    )
    return None if fused is None else prep.settle(inp, fused)


@_fx.leaf
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
    rerun = select.rerun(
        sigmoid_focal_loss,
        labels,
        gamma=gamma,
        alpha=alpha,
        pos_weight=pos_weight,
        neg_weight=neg_weight,
        sample_weight=sample_weight,
        label_smoothing=label_smoothing,
        ignore_label=ignore_label,
        class_axis=class_axis,
        reduction=reduction,
    )
    gamma = v.check_nonnegative_number("gamma", gamma)
    alpha = _scalar_alpha(alpha, logits, pos_weight, neg_weight, reduction)
    prepared = _family_inputs(
        logits,
        labels,
        pos_weight,
        neg_weight,
        sample_weight,
        alpha,
        class_axis=class_axis,
        ignore_label=ignore_label,
        label_smoothing=label_smoothing,
        reduction=reduction,
        validate=validate,
    )
    v.check_scalar_fits("gamma", gamma, prepared[0].xp, prepared[0].dtype)
    options = (ignore_label, label_smoothing, reduction)
    scalar = alpha.pair if isinstance(alpha, _Scalar) else None
    fused = _fused(logits, labels, prepared, options, (gamma, gamma, 0.0), scalar, rerun)
    if fused is not None:
        return fused
    if isinstance(alpha, _Scalar):
        prepared = alpha.fold(prepared, reduction)
    inp, q, r, s = prepared
    z = inp.labels
    eps = float(label_smoothing)
    _guard(inp, z, q, r, s, eps)
    # The custom gradient (PyTorch off CUDA kernels, JAX, TensorFlow), the NumPy kernel,
    # else the generic formulas.
    family = functools.partial(
        custom_grad.sigmoid_family, inp, q, r,
        gamma_pos=gamma, gamma_neg=gamma, clip=0.0, label_smoothing=eps,
    )  # fmt: skip
    losses = family()
    inexact_rule = losses is not None and inp.inexact  # (PyTorch on the host)
    if losses is None:  # NumPy: the blocked kernel (NaN at infinite logits: exact below)
        losses = _fastpaths.sigmoid_family_losses(
            inp, eps, q, r, gamma_pos=gamma, gamma_neg=gamma, clip=0.0
        )

    def generic() -> Array:  # quietly: gamma * softplus may overflow to exp(-inf) = 0
        t = prep.smooth_binary(z, eps)
        return prep.quietly(
            inp,
            lambda: core.sigmoid_focal_loss(
                inp.logits, t, gamma=gamma, pos_weight=q, neg_weight=r, xp=inp.xp
            ),
        )

    def exact() -> Array:  # the custom gradient with its masks after its inexact result
        losses = family(exact=True) if inexact_rule else None
        return prep.weigh(inp, s, generic() if losses is None else losses)

    values = prep.weigh(inp, s, generic() if losses is None else losses)
    weights = binary_element_weight(z, q, r, s) if prep.needs_weights(reduction) else None
    return prep.finish(inp, values, weights, reduction, exact=exact)


@_fx.leaf
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
    rerun = select.rerun(
        asymmetric_loss,
        labels,
        gamma_pos=gamma_pos,
        gamma_neg=gamma_neg,
        clip=clip,
        pos_weight=pos_weight,
        neg_weight=neg_weight,
        sample_weight=sample_weight,
        label_smoothing=label_smoothing,
        ignore_label=ignore_label,
        class_axis=class_axis,
        reduction=reduction,
    )
    gamma_pos = v.check_nonnegative_number("gamma_pos", gamma_pos)
    gamma_neg = v.check_nonnegative_number("gamma_neg", gamma_neg)
    clip = v.check_fraction("clip", clip)
    prepared = _family_inputs(
        logits,
        labels,
        pos_weight,
        neg_weight,
        sample_weight,
        None,
        class_axis=class_axis,
        ignore_label=ignore_label,
        label_smoothing=label_smoothing,
        reduction=reduction,
        validate=validate,
    )
    inp, q, r, s = prepared
    v.check_scalar_fits("gamma_pos", gamma_pos, inp.xp, inp.dtype)
    v.check_scalar_fits("gamma_neg", gamma_neg, inp.xp, inp.dtype)
    options = (ignore_label, label_smoothing, reduction)
    fused = _fused(logits, labels, prepared, options, (gamma_pos, gamma_neg, clip), rerun=rerun)
    if fused is not None:
        return fused
    z = inp.labels
    eps = float(label_smoothing)
    _guard(inp, z, q, r, s, eps)
    family = functools.partial(
        custom_grad.sigmoid_family, inp, q, r,
        gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip, label_smoothing=eps,
    )  # fmt: skip
    losses = family()
    inexact_rule = losses is not None and inp.inexact  # (PyTorch on the host)
    if losses is None:  # NumPy: the blocked kernel (NaN at infinite logits: exact below)
        losses = _fastpaths.sigmoid_family_losses(
            inp, eps, q, r, gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip
        )

    def generic() -> Array:  # quietly: gamma * softplus may overflow to exp(-inf) = 0
        t = prep.smooth_binary(z, eps)
        return prep.quietly(
            inp,
            lambda: core.asymmetric_loss(
                inp.logits, t, gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip,
                pos_weight=q, neg_weight=r, xp=inp.xp,
            ),
        )  # fmt: skip

    def exact() -> Array:  # the custom gradient with its masks after its inexact result
        losses = family(exact=True) if inexact_rule else None
        return prep.weigh(inp, s, generic() if losses is None else losses)

    values = prep.weigh(inp, s, generic() if losses is None else losses)
    weights = binary_element_weight(z, q, r, s) if prep.needs_weights(reduction) else None
    return prep.finish(inp, values, weights, reduction, exact=exact)
