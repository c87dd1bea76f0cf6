"""Metrics of the decisions read from logits, in the logits' own framework.

**Which decision.** Labels with the logits' shape mean **sigmoid** logits (binary
``(N,)`` or multi-label along ``class_axis``; labels 0/1 of any real or boolean dtype):
positive where ``logits > threshold``, a *logit* (``0`` is probability 0.5;
:func:`~wxent.cost_threshold` gives the cost-optimal one), or one threshold per label.
Integer labels with the logits' shape without ``class_axis`` mean **softmax** logits: the
argmax, or :func:`~wxent.bayes_decision` with a cost matrix. (One-hot labels would read as
multi-label: pass ``argmax(one_hot)``.) NumPy metrics compute the expected costs of the
float32 (or 16-bit) probabilities in float64: a float32 product decides every row whose
best column wins by more than the product's certified error bound, and the few columns
within that bound of the best are recomputed in float64: the float64 product's decisions
wherever its rounding resolves them, ties to the smallest index, at about the cost of the
float32 product.

**Where it runs, what comes back.** Counting is sums and scatter-adds in the logits'
framework, on their device, eagerly and under ``jax.jit``, ``tf.function`` and
``torch.compile(fullgraph=True)``; nothing is copied to the host. PyTorch, JAX and
TensorFlow inputs give arrays of that framework: a 0-d array for an averaged score
(``float(score)`` reads the number); NumPy inputs give Python floats and NumPy arrays.
Labels and ``sample_weight`` are of the logits' framework or Python lists (NumPy labels
are accepted with JAX logits, as JAX accepts them; NumPy weights are configuration); a
``threshold`` or ``costs`` of another framework is configuration, moved onto the logits
as in the losses (when concrete). Counts
are integers (``int64``; ``int32`` on JAX without x64); with ``sample_weight`` (a scalar,
one weight per sample, or for sigmoid logits one per element) they are summed weights in
``float64`` for NumPy, else in the logits' floating dtype (``float32`` for 16-bit logits).

**Averages and zero division.** Per class ``precision = tp / (tp + fp)``,
``recall = tp / (tp + fn)``, ``F_beta = (1 + b^2) tp / ((1 + b^2) tp + b^2 fn + fp)``; a
zero denominator gives 0 (scikit-learn's ``zero_division=0``). ``"micro"`` sums ``tp``,
``fp``, ``fn`` over classes first (for softmax logits all three equal the accuracy);
``"macro"`` is the mean over the classes that occur in the labels or the predictions
(``tp + fp + fn > 0``, as scikit-learn for multi-class labels and torchmetrics for all), 0
if none does; ``None`` gives one score per class. Binary logits give the positive class's
score (scikit-learn's ``average="binary"``).

**Checks.** With ``validate=True`` and concrete arrays, out-of-range labels (not in
``[0, C)`` nor ``ignore_index``; not 0/1 nor ``ignore_label``), NaN logits, negative or
non-finite weights and costs, and NaN thresholds raise ``ValueError`` after one scalar
read. Under tracing nothing is read: elements with out-of-range labels count nowhere;
so do elements with a NaN logit (softmax: rows holding one), whose decision would be the
framework's own (the argmax of NaN differs between frameworks), and the scores and the
expected cost of such a call are NaN, as its loss is (also with ``validate=False``); a
traced weight, cost matrix or threshold that a check would refuse (negative or
non-finite weights and costs, a NaN threshold) makes the scores, the expected cost and
weighted counts NaN, as it makes the losses NaN. Integer counts (no ``sample_weight``)
cannot hold NaN: they count the decisions such a matrix gives, and the scores computed
from them in the same call are NaN (:func:`~wxent.bayes_decision` decides ``-1``, no
class, there).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wxent import _fx
from wxent import _metric_counts as mc
from wxent import _metric_graphs as graphs
from wxent import _namespace as ns
from wxent import _validation as v
from wxent._accumulator import MetricAccumulator

__all__ = [
    "MetricAccumulator",
    "confusion_matrix",
    "expected_cost",
    "fbeta_score",
    "precision",
    "recall",
    "scores_from_confusion",
]


@_fx.leaf
def confusion_matrix(
    logits: Any,
    labels: Any,
    *,
    threshold: Any = 0.0,
    costs: Any = None,
    sample_weight: Any = None,
    ignore_index: int | None = None,
    ignore_label: float | None = None,
    class_axis: int = -1,
    validate: bool = True,
) -> Any:
    """Counts of (true, predicted) pairs of the decisions read from logits.

    Sigmoid logits (labels with the logits' shape, see :mod:`wxent.metrics`): positive
    where ``logits > threshold``. Softmax logits (integer labels): the argmax, or
    :func:`~wxent.bayes_decision` when ``costs`` is given. Rows are true classes, columns
    predicted classes, as in :func:`sklearn.metrics.confusion_matrix`.

    Args:
        logits: floating array of NumPy, PyTorch, JAX or TensorFlow.
        labels: 0/1 labels of the logits' shape (sigmoid) or integer class indices of the
            logits' shape without ``class_axis`` (softmax); same framework, or a list.
        threshold: sigmoid only: a logit, or one per label ``(L,)`` along ``class_axis``.
        costs: softmax only: a ``(C, C)`` cost matrix; decide with ``bayes_decision``.
        sample_weight: a scalar or one weight per sample (see :mod:`wxent.metrics`).
        ignore_index: softmax only: an integer label to leave out.
        ignore_label: sigmoid only: a label value (e.g. ``-1``) to leave out.
        class_axis: the class (label) axis.
        validate: check label values, NaN logits, weights (one scalar read).

    Returns:
        Counts (integers, or summed weights with ``sample_weight``) in the logits'
        framework: ``(2, 2)`` ``[[tn, fp], [fn, tp]]`` for binary logits ``(N,)``;
        ``(L, 2, 2)`` for multi-label logits (like
        :func:`sklearn.metrics.multilabel_confusion_matrix`); ``(C, C)`` for softmax.

    Raises:
        TypeError: for wrong types, or labels of another framework.
        ValueError: for labels that fit neither form, label values out of range, an option
            of the other family.

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.array([2.0, -1.0, 0.5, -3.0], dtype=np.float32)
        >>> labels = np.array([1, 1, 0, 0])
        >>> wxent.confusion_matrix(logits, labels).tolist()
        [[1, 1], [1, 1]]
        >>> wxent.confusion_matrix(logits, labels, threshold=1.0).tolist()
        [[2, 0], [1, 1]]
        >>> wxent.confusion_matrix(logits, labels, sample_weight=[1, 2, 3, 4]).tolist()
        [[4.0, 3.0], [2.0, 1.0]]
    """
    return graphs.run(
        _confusion,
        logits,
        labels,
        sample_weight=sample_weight,
        threshold=threshold,
        costs=costs,
        ignore_index=ignore_index,
        ignore_label=ignore_label,
        class_axis=class_axis,
        validate=validate,
    )


def _confusion(logits: Any, labels: Any, **kw: Any) -> Any:
    return mc.count(logits, labels, matrix=True, **kw).matrix


def _score(metric: str, beta: float, logits: Any, labels: Any, average: Any, **kw: Any) -> Any:
    mc.check_average(average)
    return graphs.run(
        _scores, logits, labels, metric=metric, beta=beta, average=average, **kw
    )  # fmt: skip


def _scores(logits: Any, labels: Any, *, metric: str, beta: float, average: Any, **kw: Any) -> Any:
    return mc.scores(mc.count(logits, labels, **kw), metric, average, beta)


@_fx.leaf
def precision(
    logits: Any,
    labels: Any,
    *,
    threshold: Any = 0.0,
    costs: Any = None,
    average: str | None = "micro",
    sample_weight: Any = None,
    ignore_index: int | None = None,
    ignore_label: float | None = None,
    class_axis: int = -1,
    validate: bool = True,
) -> Any:
    """Precision ``tp / (tp + fp)`` of the decisions read from logits (0 when undefined).

    Args:
        logits: floating array of NumPy, PyTorch, JAX or TensorFlow.
        labels: 0/1 labels or integer class indices (see :mod:`wxent.metrics`).
        threshold: sigmoid only: a logit, or one per label ``(L,)`` along ``class_axis``.
        costs: softmax only: a ``(C, C)`` cost matrix; decide with ``bayes_decision``.
        average: ``"micro"`` (default), ``"macro"`` or ``None`` (see :mod:`wxent.metrics`).
        sample_weight: a scalar or one weight per sample (see :mod:`wxent.metrics`).
        ignore_index: softmax only: an integer label to leave out.
        ignore_label: sigmoid only: a label value (e.g. ``-1``) to leave out.
        class_axis: the class (label) axis.
        validate: check label values, NaN logits, weights (one scalar read).

    Returns:
        A 0-d array of the logits' framework (a Python float for NumPy), or one score per
        class for ``average=None``.

    Raises:
        TypeError: for wrong types, or labels of another framework.
        ValueError: for labels that fit neither form, bad values, an unknown ``average``.

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.array([[3.0, -2.0], [1.0, 2.0], [-1.0, -4.0]], dtype=np.float32)
        >>> labels = np.array([[1, 0], [0, 1], [1, 1]])
        >>> wxent.precision(logits, labels)
        0.6666666666666666
        >>> wxent.precision(logits, labels, average=None).tolist()
        [0.5, 1.0]
    """
    return _score(
        "precision", 1.0, logits, labels, threshold=threshold, costs=costs, average=average,
        sample_weight=sample_weight, ignore_index=ignore_index, ignore_label=ignore_label,
        class_axis=class_axis, validate=validate,
    )  # fmt: skip


@_fx.leaf
def recall(
    logits: Any,
    labels: Any,
    *,
    threshold: Any = 0.0,
    costs: Any = None,
    average: str | None = "micro",
    sample_weight: Any = None,
    ignore_index: int | None = None,
    ignore_label: float | None = None,
    class_axis: int = -1,
    validate: bool = True,
) -> Any:
    """Recall ``tp / (tp + fn)`` of the decisions read from logits (0 when undefined).

    Args:
        logits: floating array of NumPy, PyTorch, JAX or TensorFlow.
        labels: 0/1 labels or integer class indices (see :mod:`wxent.metrics`).
        threshold: sigmoid only: a logit, or one per label ``(L,)`` along ``class_axis``.
        costs: softmax only: a ``(C, C)`` cost matrix; decide with ``bayes_decision``.
        average: ``"micro"`` (default), ``"macro"`` or ``None`` (see :mod:`wxent.metrics`).
        sample_weight: a scalar or one weight per sample (see :mod:`wxent.metrics`).
        ignore_index: softmax only: an integer label to leave out.
        ignore_label: sigmoid only: a label value (e.g. ``-1``) to leave out.
        class_axis: the class (label) axis.
        validate: check label values, NaN logits, weights (one scalar read).

    Returns:
        A 0-d array of the logits' framework (a Python float for NumPy), or one score per
        class for ``average=None``.

    Raises:
        TypeError: for wrong types, or labels of another framework.
        ValueError: for labels that fit neither form, bad values, an unknown ``average``.

    Example:
        >>> import numpy as np, torch, wxent
        >>> logits = np.array([[3.0, -2.0], [1.0, 2.0], [-1.0, -4.0]], dtype=np.float32)
        >>> labels = np.array([[1, 0], [0, 1], [1, 1]])
        >>> wxent.recall(logits, labels)
        0.5
        >>> wxent.recall(logits, labels, threshold=-2.0)  # a lower logit threshold
        0.75
        >>> r = wxent.recall(torch.from_numpy(logits), torch.from_numpy(labels))
        >>> r, float(r)  # a torch scalar on the logits' device
        (tensor(0.5000), 0.5)
    """
    return _score(
        "recall", 1.0, logits, labels, threshold=threshold, costs=costs, average=average,
        sample_weight=sample_weight, ignore_index=ignore_index, ignore_label=ignore_label,
        class_axis=class_axis, validate=validate,
    )  # fmt: skip


@_fx.leaf
def fbeta_score(
    logits: Any,
    labels: Any,
    *,
    beta: float = 1.0,
    threshold: Any = 0.0,
    costs: Any = None,
    average: str | None = "micro",
    sample_weight: Any = None,
    ignore_index: int | None = None,
    ignore_label: float | None = None,
    class_axis: int = -1,
    validate: bool = True,
) -> Any:
    """F-beta score of the decisions read from logits (0 when undefined).

    Per class ``F = (1 + beta^2) tp / ((1 + beta^2) tp + beta^2 fn + fp)``, the weighted
    harmonic mean of precision and recall; ``beta > 1`` favours recall, ``beta = 0`` is
    the precision; ``"macro"`` averages the per-class F scores.

    Args:
        logits: floating array of NumPy, PyTorch, JAX or TensorFlow.
        labels: 0/1 labels or integer class indices (see :mod:`wxent.metrics`).
        beta: finite, ``>= 0``.
        threshold: sigmoid only: a logit, or one per label ``(L,)`` along ``class_axis``.
        costs: softmax only: a ``(C, C)`` cost matrix; decide with ``bayes_decision``.
        average: ``"micro"`` (default), ``"macro"`` or ``None`` (see :mod:`wxent.metrics`).
        sample_weight: a scalar or one weight per sample (see :mod:`wxent.metrics`).
        ignore_index: softmax only: an integer label to leave out.
        ignore_label: sigmoid only: a label value (e.g. ``-1``) to leave out.
        class_axis: the class (label) axis.
        validate: check label values, NaN logits, weights (one scalar read).

    Returns:
        A 0-d array of the logits' framework (a Python float for NumPy), or one score per
        class for ``average=None``.

    Raises:
        TypeError: for wrong types, or labels of another framework.
        ValueError: for labels that fit neither form, bad values, an unknown ``average``,
            a negative ``beta``.

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.array([[2.0, 0.1, 0.0], [0.0, 1.0, 3.0], [0.5, 0.0, 0.0]])
        >>> labels = np.array([0, 1, 0])
        >>> round(wxent.fbeta_score(logits, labels), 4)  # micro F1 = accuracy here
        0.6667
        >>> np.round(wxent.fbeta_score(logits, labels, average=None), 4).tolist()
        [1.0, 0.0, 0.0]
    """
    beta = v.check_nonnegative_number("beta", beta)
    return _score(
        "fbeta", beta, logits, labels, threshold=threshold, costs=costs, average=average,
        sample_weight=sample_weight, ignore_index=ignore_index, ignore_label=ignore_label,
        class_axis=class_axis, validate=validate,
    )  # fmt: skip


@_fx.leaf
def expected_cost(
    logits: Any,
    labels: Any,
    costs: Any,
    *,
    sample_weight: Any = None,
    ignore_index: int | None = None,
    ignore_label: float | None = None,
    class_axis: int = -1,
    validate: bool = True,
) -> Any:
    """The (weighted) mean cost ``costs[true, decision]`` of the cost-optimal decisions.

    Softmax logits (integer labels): the decisions are :func:`~wxent.bayes_decision` of
    the logits, and the result is ``sum_i w_i costs[y_i, d_i] / sum_i w_i`` over the
    samples not ignored. Sigmoid logits (0/1 labels of the logits' shape): ``costs`` is
    the ``2 x 2`` matrix ``[[c_tn, c_fp], [c_fn, c_tp]]``, every element is decided with
    :func:`~wxent.cost_threshold` of those costs, and the mean is over all elements not
    ignored (0 if nothing is counted).

    Args:
        logits: floating array of NumPy, PyTorch, JAX or TensorFlow.
        labels: integer class indices (softmax) or 0/1 labels (sigmoid).
        costs: ``costs[true, predicted]``, ``(C, C)`` (softmax) or ``(2, 2)`` (sigmoid);
            numbers, NumPy or an array of the logits' framework.
        sample_weight: a scalar or one weight per sample (see :mod:`wxent.metrics`).
        ignore_index: softmax only: an integer label to leave out.
        ignore_label: sigmoid only: a label value (e.g. ``-1``) to leave out.
        class_axis: the class axis.
        validate: check label, weight and cost values.

    Returns:
        The mean cost: a 0-d array of the logits' framework (a Python float for NumPy).

    Raises:
        TypeError: for wrong types, or labels of another framework.
        ValueError: for labels that fit neither form, bad values, a cost matrix of the
            wrong shape.

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.log(np.array([[0.6, 0.4], [0.9, 0.1]], dtype=np.float32))
        >>> labels = np.array([1, 0])
        >>> costs = [[0.0, 1.0], [5.0, 0.0]]  # missing class 1 costs 5
        >>> wxent.expected_cost(logits, labels, costs)  # decides [1, 0]: no cost
        0.0
    """
    return graphs.run(
        _expected_cost,
        logits,
        labels,
        sample_weight=sample_weight,
        costs=costs,
        ignore_index=ignore_index,
        ignore_label=ignore_label,
        class_axis=class_axis,
        validate=validate,
    )


def _expected_cost(logits: Any, labels: Any, **kw: Any) -> Any:
    counts = mc.count(logits, labels, need_costs=True, **kw)
    result = mc.safe_divide(counts.xp, counts.cost, counts.weight)
    return float(result) if counts.numpy else result


def scores_from_confusion(
    confusion: Any,
    *,
    metric: str = "precision",
    average: str | None = "micro",
    beta: float = 1.0,
    multiclass: bool = False,
) -> Any:
    """Precision, recall or F-beta from (accumulated) confusion counts.

    The scores of :func:`precision`, :func:`recall` and :func:`fbeta_score`, from counts
    summed elsewhere, e.g. in the state of a Keras metric: add the
    :func:`confusion_matrix` of every batch, then call this. Runs in the counts'
    framework, also while tracing.

    Args:
        confusion: counts of any framework: ``(2, 2)`` ``[[tn, fp], [fn, tp]]`` (binary),
            ``(L, 2, 2)`` (multi-label), or ``(C, C)`` rows true and columns predicted
            (softmax logits; ``multiclass=True`` for ``C = 2``).
        metric: ``"precision"``, ``"recall"`` or ``"fbeta"``.
        average: ``"micro"``, ``"macro"`` or ``None`` (see :mod:`wxent.metrics`).
        beta: the ``beta`` of ``"fbeta"``, finite, ``>= 0``.
        multiclass: read a ``(2, 2)`` matrix as two softmax classes.

    Returns:
        As the metric functions: a 0-d array of the counts' framework (a Python float for
        NumPy), or one score per class for ``average=None``.

    Raises:
        TypeError: for counts that are not a real array.
        ValueError: for another shape, or an unknown ``metric`` or ``average``.

    Example:
        >>> import numpy as np, wxent
        >>> counts = np.array([[5, 1], [2, 2]])  # [[tn, fp], [fn, tp]]
        >>> wxent.metrics.scores_from_confusion(counts, metric="recall")
        0.5
    """
    v.check_choice("metric", metric, mc.METRICS)
    mc.check_average(average)
    beta = v.check_nonnegative_number("beta", beta)
    multiclass = v.check_bool("multiclass", multiclass)
    if not ns.is_array(confusion):
        raise v.type_error("confusion", "an array of counts", v._short(confusion))
    xp = ns.namespace(confusion)
    shape = v.static_shape(confusion)
    binary = shape == (2, 2) and not multiclass
    if (len(shape) == 3 and shape[1:] == (2, 2)) or binary:
        m = xp.reshape(confusion, (-1, 2, 2))
        tp, fp, fn = m[:, 1, 1], m[:, 0, 1], m[:, 1, 0]
    elif len(shape) == 2 and shape[0] == shape[1] and shape[0] is not None:
        diagonal = xp.arange(shape[0]) * (shape[0] + 1)
        tp = xp.take(xp.reshape(confusion, (-1,)), diagonal)
        fp, fn = xp.sum(confusion, axis=0) - tp, xp.sum(confusion, axis=1) - tp
    else:
        raise v.value_error(
            "confusion", "counts of shape (2, 2), (L, 2, 2) or (C, C)", f"shape {shape}"
        )
    numpy = ns.is_numpy_namespace(xp)
    dtype = confusion.dtype if v.is_floating(xp, confusion.dtype) else xp.float64
    if numpy or (ns.is_jax_namespace(xp) and not v.is_floating(xp, confusion.dtype)):
        dtype = np.float64 if numpy else xp.zeros(()).dtype  # JAX: float64 only with x64
    kind = "binary" if binary else "counts"
    return mc.scores(mc.Counts(xp, kind, numpy, dtype, tp, fp, fn, None), metric, average, beta)
