"""The public cross-entropy losses (the delegation layer).

Each function runs the same steps: validate and prepare logits and labels
(:mod:`wxent._prepare`), move weights onto the logits' framework, call the core
(:mod:`wxent._core`), reduce (:mod:`wxent._reduction`).
"""

from __future__ import annotations

from typing import Any

from wxent import _core, _fastpaths
from wxent import _prepare as prep
from wxent import _validation as v
from wxent._fastpaths import select
from wxent._reduction import LossTerms, Terms

Array = Any


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
        logits: floating array (NumPy, PyTorch, JAX or TensorFlow), any shape; classes
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
    )
    if fused is not None:
        return fused
    z = inp.labels
    # Fast path (see _fastpaths and BENCHMARKS.md): same per-element losses, faster.
    losses = _fastpaths.sigmoid_losses(inp, float(label_smoothing), q, r)
    if losses is None:
        losses = _core.sigmoid_cross_entropy(
            inp.logits,
            prep.smooth_binary(z, float(label_smoothing)),
            pos_weight=q,
            neg_weight=r,
            xp=inp.xp,
        )
    values = prep.multiply(s, losses)
    # The element weights are only the denominator of "weighted_mean": skip them otherwise.
    weights = binary_element_weight(z, q, r, s) if prep.needs_weights(reduction) else None
    return prep.finish(inp, values, weights, reduction)


def binary_element_weight(
    z: Array, q: Array | None, r: Array | None, s: Array | None
) -> Array | None:
    """The effective weight ``s * (q * z + r * (1 - z))`` of a sigmoid-family element."""
    if q is None and r is None:
        return s
    label_weight = (1.0 if q is None else q) * z + (1.0 if r is None else r) * (1 - z)
    return prep.multiply(s, label_weight)


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
            contribute 0 and are not counted in any denominator.
        class_axis: the class axis (``1`` for channels-first ``(N, C, H, W)`` data).
        reduction: ``"none"``, ``"sum"``, ``"mean"`` (``sum(w*l) / n_valid``) or
            ``"weighted_mean"`` (``sum(w*l) / sum(w)``, torch's weighted ``mean``).
        validate: check label and weight values on concrete arrays.
        inplace_backward: let the fused kernel (PyTorch logits on a CUDA device, integer
            labels; see ``WXENT_KERNELS`` in the README) write the gradient into the
            logits' own storage, so that forward and backward need no memory beyond the
            logits. The logits' values are overwritten by the call: use it only for
            logits straight out of a linear layer or matmul (whose backward does not read
            its output; not after ``tanh``, ``softcap`` or the like, nor a leaf tensor),
            read nowhere else after the loss, and call ``backward`` once. Elsewhere the
            option has no effect.

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
    inp = prep.softmax_inputs(
        logits,
        labels,
        class_axis=class_axis,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
        validate=validate,
    )
    fused = select.softmax_cross_entropy(
        logits,
        inp,
        class_weight=class_weight,
        sample_weight=sample_weight,
        label_smoothing=float(label_smoothing),
        reduction=reduction,
        inplace_backward=v.check_bool("inplace_backward", inplace_backward),
    )
    if fused is not None:
        return fused
    losses = softmax_losses(inp, float(label_smoothing))
    weights = softmax_sample_weight(inp, class_weight, sample_weight)
    values = prep.multiply(weights, losses)
    return prep.finish(inp, values, weights, reduction)


def softmax_losses(inp: prep.Inputs, label_smoothing: float) -> Array:
    """Unweighted per-sample softmax cross-entropy for prepared inputs."""
    # Fast path (see _fastpaths and BENCHMARKS.md): same per-sample losses, faster.
    fast = _fastpaths.softmax_losses(inp, label_smoothing)
    if fast is not None:
        return fast
    if inp.indices:
        return _core.softmax_cross_entropy_indices(
            inp.logits, inp.labels, axis=inp.axis, label_smoothing=label_smoothing, xp=inp.xp
        )
    return _core.softmax_cross_entropy_probabilities(
        inp.logits, inp.labels, axis=inp.axis, label_smoothing=label_smoothing, xp=inp.xp
    )


def softmax_sample_weight(inp: prep.Inputs, class_weight: Any, sample_weight: Any) -> Array | None:
    """The effective per-sample weight ``sample_weight * class_weight[y]`` (or ``None``)."""
    cw = prep.per_class("class_weight", class_weight, inp, broadcast=False)
    if cw is not None and len(cw.shape) == 1:
        if inp.indices:
            cw = _core.take_classes(cw, inp.labels, xp=inp.xp)
        else:
            ndim = len(inp.logits.shape)
            if inp.axis != ndim - 1:
                shape = [1] * ndim
                shape[inp.axis] = -1
                cw = inp.xp.reshape(cw, tuple(shape))
            cw = _core.class_weight_of_probabilities(cw, inp.labels, axis=inp.axis, xp=inp.xp)
    s = prep.sample_weight(sample_weight, inp, per_sample=False)
    return prep.multiply(s, cw)


def loss_terms(loss: Any, logits: Array, labels: Array, *args: Any, **options: Any) -> LossTerms:
    """The numerator and denominator of a reduced loss, for data-parallel training.

    ``loss(logits, labels, **options)`` equals
    ``safe_divide(*loss_terms(loss, logits, labels, **options))``. Each rank computes
    its terms on its shard; summing numerators and denominators over ranks (an
    all-reduce) and dividing gives the loss of the whole batch — for ``"mean"`` and
    ``"weighted_mean"`` alike, with ignored elements and class weights — not a mean of
    per-rank means.

    Args:
        loss: a wxent loss function, such as :func:`wxent.softmax_cross_entropy`.
        logits: as for ``loss``.
        labels: as for ``loss``.
        *args: further positional arguments of ``loss`` (costs, priors).
        **options: the loss's options; ``reduction`` is ``"mean"`` (default) or
            ``"weighted_mean"`` (a ``"sum"`` needs no denominator: sum the losses).

    Returns:
        ``LossTerms(numerator, denominator)``, two 0-d arrays.

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.array([[2.0, 0.0], [0.0, 1.0]], dtype=np.float32)
        >>> num, den = wxent.loss_terms(wxent.softmax_cross_entropy, logits, np.array([0, 1]),
        ...                             class_weight=[1.0, 3.0], reduction="weighted_mean")
        >>> float(den)
        4.0
    """
    reduction = options.pop("reduction", "mean")
    terms = loss(logits, labels, *args, reduction=Terms(reduction), **options)
    if not isinstance(terms, LossTerms):  # pragma: no cover - every wxent loss supports it
        raise TypeError(f"{getattr(loss, '__name__', loss)!r} does not return loss terms")
    return terms
