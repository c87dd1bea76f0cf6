"""Cost-sensitive softmax losses: expected cost, cross-entropy plus cost, confusion weights.

Each public function follows the five steps of :mod:`wxent._losses`: prepare logits and
labels (:func:`wxent._prepare.softmax_inputs`), move the cost matrix and the weights onto
the logits' framework, call the core (:mod:`wxent._core.cost`), reduce through
:func:`wxent._prepare.finish` (so :func:`wxent.loss_terms` works with every loss here).

Cost and weight matrices are ``[true, predicted]``: row ``i`` is the true class.
"""

from __future__ import annotations

from typing import Any

from wxent import _fx
from wxent import _namespace as ns
from wxent import _prepare as prep
from wxent import _validation as v
from wxent._core import cost as core_cost
from wxent._fastpaths import select
from wxent._softmax import softmax_losses, softmax_sample_weight
from wxent._types import Array
from wxent.cost_matrix import matrix_for


@_fx.leaf
def expected_cost_loss(
    logits: Array,
    labels: Array,
    costs: Any,
    *,
    class_weight: Any = None,
    sample_weight: Any = None,
    ignore_index: int | None = None,
    class_axis: int = -1,
    reduction: str = "mean",
    validate: bool = True,
) -> Array:
    """The expected misclassification cost under ``softmax(logits)``, differentiable.

    Per sample, with ``p = softmax(x)`` and ``w = sample_weight * class_weight[y]``::

        l = w * sum_j costs[y, j] * p_j                      (integer labels)
        l = w * sum_c y_c * sum_j costs[c, j] * p_j           (probability labels)

    With ``costs = 1 - I`` this is ``1 - p_y``, the expected 0-1 error. The loss is
    bounded (by the largest cost), so on its own it gives weak gradients to badly wrong
    samples; :func:`cost_sensitive_cross_entropy` adds cross-entropy for that.
    Label smoothing is not offered: on an expected cost it only rescales the gradient.

    Args:
        logits: floating array, classes along ``class_axis``.
        labels: integer class indices (the logits' shape without ``class_axis``) or
            floating probabilities (the logits' shape).
        costs: the ``(C, C)`` cost matrix ``costs[true, predicted]``: finite and
            non-negative; a number list, a NumPy array or an array of the logits'
            framework (see :func:`wxent.cost_matrix`).
        class_weight: one non-negative weight per class ``(C,)`` (or a scalar).
        sample_weight: a scalar or one weight per sample (the loss shape).
        ignore_index: an integer label to ignore: ignored samples contribute 0 and are
            not counted in any denominator.
        class_axis: the class axis.
        reduction: ``"none"``, ``"sum"``, ``"mean"`` or ``"weighted_mean"``.
        validate: check label, weight and cost values on concrete data (a
            :class:`~wxent.CostMatrixWarning` is issued for dominated columns of a cost
            matrix given as numbers or NumPy; one of the logits' framework is not read).

    Returns:
        The loss in the logits' framework and dtype: 0-d, or per sample for
        ``reduction="none"``.

    Raises:
        TypeError: for wrong types or dtypes.
        ValueError: for wrong shapes or values (a cost matrix that is not ``C x C``,
            negative or non-finite costs).

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=np.float32)
        >>> labels = np.array([0, 1])
        >>> costs = 1.0 - np.eye(3)
        >>> loss = wxent.expected_cost_loss(logits, labels, costs, reduction="none")
        >>> [round(float(value), 4) for value in loss]  # 1 - p_true
        [0.213, 0.6667]
    """
    rerun = select.rerun(
        expected_cost_loss,
        labels,
        costs=costs,
        class_weight=class_weight,
        sample_weight=sample_weight,
        ignore_index=ignore_index,
        class_axis=class_axis,
        reduction=reduction,
    )
    inp = _inputs(logits, labels, ignore_index, 0.0, class_axis, reduction, validate)
    c, check_rows = _cost_rows_matrix(costs, inp)
    fused = prep.fused(
        inp,
        select.expected_cost_loss,
        logits,
        costs=c,
        class_weight=class_weight,
        sample_weight=sample_weight,
        reduction=reduction,
        rerun=rerun,
    )
    if fused is not None:  # the fused kernel (CUDA; see _fastpaths.select)
        return fused
    weights = softmax_sample_weight(inp, class_weight, sample_weight, reduction)
    prep.shield(inp, weights)

    def values(fast: bool) -> Array:
        losses = None
        if fast and torch_host:
            from wxent._fastpaths import cost_torch

            losses = cost_torch.losses(inp, c, ce=False)
        elif fast and ns.is_tf_namespace(inp.xp):
            from wxent._fastpaths import cost_tf

            losses = cost_tf.losses(inp, c, ce=False, check_rows=check_rows)
        if losses is None:
            checked = prep.poisoned(inp.xp, c) if check_rows else c
            losses = prep.quietly(
                inp,
                lambda: core_cost.expected_cost(
                    inp.logits, inp.labels, checked, indices=inp.indices, axis=inp.axis, xp=inp.xp
                ),
            )
        return prep.weigh(inp, weights, losses)

    torch_host = ns.is_torch(logits) and ns.on_host(logits)
    return prep.finish(inp, values(True), weights, reduction, exact=lambda: values(False))


@_fx.leaf
def cost_sensitive_cross_entropy(
    logits: Array,
    labels: Array,
    costs: Any,
    *,
    cost_weight: float = 1.0,
    class_weight: Any = None,
    sample_weight: Any = None,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
    class_axis: int = -1,
    reduction: str = "mean",
    validate: bool = True,
) -> Array:
    """Softmax cross-entropy plus ``cost_weight`` times the expected cost.

    Per sample, with ``t`` the (smoothed) target and ``w = sample_weight * class_weight[y]``::

        l = w * (-sum_c t_c log softmax(x)_c + cost_weight * sum_j costs[y, j] softmax(x)_j)

    Cross-entropy keeps the probabilities calibrated and its gradient strong for badly
    wrong samples; the expected-cost term moves probability away from the expensive
    mistakes. ``cost_weight=0`` is :func:`wxent.softmax_cross_entropy`. Label smoothing
    applies to the cross-entropy term only; the cost term uses the true labels (for
    probability labels, ``sum_c y_c sum_j costs[c, j] p_j``).

    Args:
        logits: floating array, classes along ``class_axis``.
        labels: integer class indices or floating probabilities, as for
            :func:`wxent.softmax_cross_entropy`.
        costs: the ``(C, C)`` cost matrix ``costs[true, predicted]``.
        cost_weight: finite, ``>= 0``: the weight of the expected-cost term; its product
            with the largest cost must fit in the compute dtype (checked with the values).
        class_weight: one non-negative weight per class ``(C,)`` (or a scalar).
        sample_weight: a scalar or one weight per sample (the loss shape).
        label_smoothing: ``eps`` in ``[0, 1]`` for the cross-entropy term.
        ignore_index: an integer label to ignore.
        class_axis: the class axis.
        reduction: ``"none"``, ``"sum"``, ``"mean"`` or ``"weighted_mean"``.
        validate: check label, weight and cost values on concrete data.

    Returns:
        The loss in the logits' framework and dtype.

    Raises:
        TypeError: for wrong types or dtypes.
        ValueError: for wrong shapes or values.

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.array([[2.0, 0.5, -1.0]], dtype=np.float32)
        >>> labels = np.array([0])
        >>> costs = wxent.cost_matrix(3, costs={(0, 1): 5.0})
        >>> ce = wxent.softmax_cross_entropy(logits, labels)
        >>> ec = wxent.expected_cost_loss(logits, labels, costs)
        >>> total = wxent.cost_sensitive_cross_entropy(logits, labels, costs, cost_weight=0.5)
        >>> bool(np.isclose(total, ce + 0.5 * ec))
        True
    """
    rerun = select.rerun(
        cost_sensitive_cross_entropy,
        labels,
        costs=costs,
        cost_weight=cost_weight,
        class_weight=class_weight,
        sample_weight=sample_weight,
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
        class_axis=class_axis,
        reduction=reduction,
    )
    cost_weight = v.check_nonnegative_number("cost_weight", cost_weight)  # traceable
    inp = _inputs(logits, labels, ignore_index, label_smoothing, class_axis, reduction, validate)
    v.check_scalar_fits("cost_weight", cost_weight, inp.xp, inp.dtype)
    c, check_rows = _cost_rows_matrix(costs, inp)
    if cost_weight != 0.0:
        _check_cost_scale(cost_weight, costs, c, inp)
    fused = prep.fused(
        inp,
        select.cost_sensitive_cross_entropy,
        logits,
        costs=c,
        cost_weight=cost_weight,
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

    def values(fast: bool) -> Array:
        if fast and cost_weight != 0.0 and ns.is_torch(logits) and ns.on_host(logits):
            from wxent._fastpaths import cost_torch

            losses = cost_torch.losses(inp, c, weight=cost_weight, label_smoothing=eps, ce=True)
            if losses is not None:
                return prep.weigh(inp, weights, losses)
        elif fast and cost_weight != 0.0 and ns.is_tf_namespace(inp.xp):
            from wxent._fastpaths import cost_tf

            losses = cost_tf.losses(
                inp, c, weight=cost_weight, label_smoothing=eps, ce=True, check_rows=check_rows
            )
            if losses is not None:
                return prep.weigh(inp, weights, losses)
        losses = softmax_losses(inp, eps, fast=fast)
        if cost_weight != 0.0:
            checked = prep.poisoned(inp.xp, c) if check_rows else c
            cost = prep.quietly(
                inp,
                lambda: (
                    cost_weight
                    * core_cost.expected_cost(
                        inp.logits,
                        inp.labels,
                        checked,
                        indices=inp.indices,
                        axis=inp.axis,
                        xp=inp.xp,
                    )
                ),
            )
            losses = losses + cost
        return prep.weigh(inp, weights, losses)

    return prep.finish(inp, values(True), weights, reduction, exact=lambda: values(False))


def _cost_rows_matrix(costs: Any, inp: prep.Inputs) -> tuple[Array, bool]:
    """The cost matrix on the logits, and whether its gathered rows still need the check.

    A traced TensorFlow matrix with integer labels comes back unchecked (``True``): the
    loss checks the ``N`` rows it gathers (:func:`wxent._config.poisoned`, the same
    values), not the ``C x C`` matrix, which TensorFlow graphs ran as passes of their own
    (40 ms a call at 8192 classes on a CPU). XLA and Inductor fuse the check into its use.
    """
    rows = ns.is_tf_namespace(inp.xp) and inp.indices
    c = matrix_for("costs", costs, inp, traced_check=not rows)
    return c, rows and prep.traced(costs, inp)


def _check_cost_scale(cost_weight: float, costs: Any, c: Array, inp: prep.Inputs) -> None:
    """``cost_weight * costs`` fits in the compute dtype (else inf - inf: NaN gradients).

    Host matrices (numbers, lists, NumPy) are checked on the host whenever configuration
    is; a matrix of the logits' framework by a flag folded into the call's read.
    """
    import math

    import numpy as np

    from wxent import _host_checks as host
    from wxent import _namespace as ns

    dtype = ns.float_dtype_name(inp.xp, inp.dtype)
    top = host.float_max(inp.xp, inp.dtype)
    if top is None:
        return

    def refuse(largest: float) -> None:
        if cost_weight * largest > top:
            raise v.value_error(
                "cost_weight",
                f"a weight whose product with the largest cost ({largest:.8g}) fits in the "
                f"logits' compute dtype ({dtype}, at most {top:.8g})",
                f"cost_weight={cost_weight!r}",
            )

    if not ns.is_array(costs) or isinstance(costs, np.ndarray):
        if inp.check_config and not ns.torch_is_compiling():
            # a NumPy matrix's maximum in its own dtype: no float64 copy per call
            host_costs = (
                costs if isinstance(costs, np.ndarray) else np.asarray(costs, dtype=np.float64)
            )
            refuse(float(np.max(host_costs)) if host_costs.size else 0.0)
    elif inp.validate:
        xp = inp.xp
        # The largest product is the largest cost's (costs are >= 0; rounding is
        # monotonic): one reduction, no product of the matrix's size.
        inp.add_check(
            prep.quietly(inp, lambda: xp.max(c) * cost_weight == math.inf),
            lambda: refuse(float(np.max(ns.to_numpy(c).astype(np.float64)))),
        )


@_fx.leaf
def confusion_weighted_cross_entropy(
    logits: Array,
    labels: Array,
    weights: Any,
    *,
    class_weight: Any = None,
    sample_weight: Any = None,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
    class_axis: int = -1,
    reduction: str = "mean",
    validate: bool = True,
) -> Array:
    """Cross-entropy of each sample times ``weights[true, argmax(logits)]``.

    The widely copied Keras recipe, with the orientation made explicit (rows are true
    classes, columns predicted classes) and the weight treated as a constant::

        l = w * weights[y, argmax(x)] * -sum_c t_c log softmax(x)_c

    (``sum_c y_c weights[c, argmax(x)]`` for probability labels), with
    ``w = sample_weight * class_weight[y]``. The argmax is piecewise constant and returns
    integers, so no gradient flows through it in any framework: the gradient is the
    cross-entropy's gradient scaled by the weight, on every backend, without a
    framework-specific ``stop_gradient``. On an exact tie the first maximal class is
    used by NumPy, PyTorch and JAX; TensorFlow does not document its tie rule.

    The weight only changes how hard a sample pushes, after the model already made the
    mistake; it does not make the model's decisions cost-aware. Prefer
    :func:`cost_sensitive_cross_entropy` with :func:`wxent.bayes_decision`.

    The effective weight (the ``"weighted_mean"`` denominator) includes the confusion
    weight: ``w * weights[y, argmax(x)]``.

    Args:
        logits: floating array, classes along ``class_axis``.
        labels: integer class indices or floating probabilities.
        weights: the ``(C, C)`` matrix ``weights[true, predicted]``, finite and
            non-negative (typically 1 on the diagonal and more for expensive mistakes).
        class_weight: one non-negative weight per class ``(C,)`` (or a scalar).
        sample_weight: a scalar or one weight per sample (the loss shape).
        label_smoothing: ``eps`` in ``[0, 1]``.
        ignore_index: an integer label to ignore.
        class_axis: the class axis.
        reduction: ``"none"``, ``"sum"``, ``"mean"`` or ``"weighted_mean"``.
        validate: check label and weight values on concrete data.

    Returns:
        The loss in the logits' framework and dtype.

    Raises:
        TypeError: for wrong types or dtypes.
        ValueError: for wrong shapes or values.

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.array([[2.0, 0.0], [2.0, 0.0]], dtype=np.float32)
        >>> labels = np.array([0, 1])
        >>> weights = [[1.0, 1.0], [3.0, 1.0]]  # true 1 predicted 0 weighs 3
        >>> ce = wxent.softmax_cross_entropy(logits, labels, reduction="none")
        >>> cw = wxent.confusion_weighted_cross_entropy(logits, labels, weights, reduction="none")
        >>> np.allclose(cw, ce * np.array([1.0, 3.0]))
        True
    """
    inp = _inputs(logits, labels, ignore_index, label_smoothing, class_axis, reduction, validate)
    # Integer labels read one entry of the weights per sample: a traced matrix's check
    # runs on those entries (N values, not C x C), with the same values.
    m = matrix_for("weights", weights, inp, warn=False, traced_check=not inp.indices)
    eps = float(label_smoothing)
    confusion = core_cost.confusion_weight(
        inp.logits, inp.labels, m, indices=inp.indices, axis=inp.axis, xp=inp.xp
    )
    if inp.indices and prep.traced(weights, inp):
        confusion = prep.poisoned(inp.xp, confusion)
    sample = prep.multiply(
        softmax_sample_weight(inp, class_weight, sample_weight, reduction), confusion
    )
    prep.shield(inp, sample)
    return prep.finish(
        inp,
        prep.weigh(inp, sample, softmax_losses(inp, eps)),
        sample,
        reduction,
        exact=lambda: prep.weigh(inp, sample, softmax_losses(inp, eps, fast=False)),
    )


def _inputs(
    logits: Array,
    labels: Array,
    ignore_index: Any,
    label_smoothing: Any,
    class_axis: Any,
    reduction: Any,
    validate: Any,
) -> prep.Inputs:
    return prep.softmax_inputs(
        logits,
        labels,
        class_axis=class_axis,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
        validate=validate,
    )
