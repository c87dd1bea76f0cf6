"""Metrics of the decisions read from logits: confusion matrix, precision, recall, F, cost.

The functions tell the two kinds of logits apart by the labels:

* ``labels`` with the logits' shape: **sigmoid** logits (binary ``(N,)``, or multi-label
  with the labels along ``class_axis``, e.g. ``(N, L)``), labels ``0``/``1`` (any real or
  boolean dtype); an element is predicted positive where ``logits > threshold``, a
  *logit* (``0`` is probability 0.5; :func:`~wxent.cost_threshold` gives the
  cost-optimal one).
* integer ``labels`` with the logits' shape without ``class_axis``: **softmax** logits,
  labels are class indices; the decision is the argmax, or
  :func:`~wxent.bayes_decision` when a cost matrix is given. (One-hot labels have the
  logits' shape and would be read as multi-label: pass ``argmax(one_hot)`` instead.)

**What comes back.** The metrics (:func:`confusion_matrix`, :func:`precision`,
:func:`recall`, :func:`fbeta_score`, :func:`expected_cost`) are evaluation-time functions:
they accept concrete arrays of every framework, count on the host in exact integers, and
return NumPy arrays (confusion matrices, per-class scores) or Python floats (averaged
scores, expected cost). They cannot run inside ``jax.jit`` / ``tf.function``.

**Averages and zero division.** Per class: ``precision = tp / (tp + fp)``,
``recall = tp / (tp + fn)``, ``F_beta = (1 + b^2) tp / ((1 + b^2) tp + b^2 fn + fp)``; a
zero denominator gives 0 (scikit-learn's ``zero_division=0``). ``average="micro"`` sums
``tp``, ``fp``, ``fn`` over classes first (for softmax logits micro precision, recall and
F all equal the accuracy); ``"macro"`` is the unweighted mean over the classes that occur
in the labels or the predictions (``tp + fp + fn > 0``, as scikit-learn does for
multi-class labels and torchmetrics for all), 0 if none does; ``None`` returns one score
per class (one for binary logits). For binary logits every average gives the score of the
positive class (scikit-learn's ``average="binary"``).
"""

from __future__ import annotations

import numbers
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from wxent import _namespace as ns
from wxent import _validation as v
from wxent.decisions import bayes_decision, cost_threshold

Array = Any

AVERAGES = ("micro", "macro", None)

__all__ = ["confusion_matrix", "expected_cost", "fbeta_score", "precision", "recall"]

# ----------------------------------------------------------------------------- metrics


@dataclass
class _Counts:
    """Per-class counts of the decisions (host NumPy)."""

    kind: str  # "binary", "multilabel" or "multiclass"
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray | None  # sigmoid only
    matrix: np.ndarray


def _concrete(x: Any) -> bool:
    jax = sys.modules.get("jax")
    if jax is not None and isinstance(x, jax.Array):
        return not isinstance(x, jax.core.Tracer)
    return ns.is_concrete(x)


def _host(name: str, x: Any) -> np.ndarray:
    if not _concrete(x):
        raise v.type_error(
            name,
            "a concrete array (metrics count on the host; inside jax.jit or tf.function "
            "use wxent.bayes_decision and count in the framework)",
            f"a traced {type(x).__name__}",
        )
    return ns.to_numpy(x)


def _is_sigmoid(logits: Array, labels: Array) -> bool:
    """Labels with the logits' shape mean sigmoid logits; otherwise softmax."""
    return v.static_shape(labels) == v.static_shape(logits)


def _check_threshold(threshold: Any, num_labels: int | None) -> np.ndarray:
    if isinstance(threshold, bool):
        raise v.type_error("threshold", "a logit (a number) or one per label", repr(threshold))
    if ns.is_array(threshold) and not isinstance(threshold, np.ndarray):
        threshold = ns.to_numpy(threshold)
    try:
        t = np.asarray(threshold, dtype=np.float64)
    except (TypeError, ValueError):
        raise v.type_error(
            "threshold", "a logit (a number) or one per label", f"threshold={threshold!r}"
        ) from None
    if t.ndim > 1 or (t.ndim == 1 and t.shape[0] != num_labels):
        expected = "a scalar logit for binary logits"
        if num_labels is not None:
            expected = f"a scalar logit or one per label, shape ({num_labels},) along class_axis"
        raise v.value_error(
            "threshold",
            expected,
            f"threshold of shape {t.shape}",
        )
    if np.isnan(t).any():
        raise v.value_error("threshold", "logits that are not NaN", f"threshold={threshold!r}")
    return t


def _counts(
    logits: Array,
    labels: Array,
    *,
    threshold: Any,
    costs: Any,
    ignore_index: Any,
    ignore_label: Any,
    class_axis: Any,
    validate: Any,
) -> _Counts:
    v.check_logits(logits)
    v.check_labels_array(labels, logits)
    validate = v.check_bool("validate", validate)
    ndim = len(logits.shape)
    axis = v.check_class_axis(class_axis, ndim)
    if _is_sigmoid(logits, labels):
        return _sigmoid_counts(
            logits, labels, threshold, costs, ignore_index, ignore_label, axis, validate
        )
    return _softmax_counts(
        logits, labels, threshold, costs, ignore_index, ignore_label, axis, validate
    )


def _sigmoid_counts(
    logits: Array,
    labels: Array,
    threshold: Any,
    costs: Any,
    ignore_index: Any,
    ignore_label: Any,
    axis: int,
    validate: bool,
) -> _Counts:
    if costs is not None:
        raise v.value_error(
            "costs",
            "None for sigmoid logits (labels with the logits' shape): decide with "
            "threshold=wxent.cost_threshold(...) instead",
            "a cost matrix",
        )
    if ignore_index is not None:
        raise v.value_error(
            "ignore_index",
            "None for sigmoid logits (labels with the logits' shape); use ignore_label",
            f"ignore_index={ignore_index!r}",
        )
    ignore = v.check_optional_label_value("ignore_label", ignore_label)
    binary = len(logits.shape) == 1
    x = _host("logits", logits).astype(np.float64)
    z = _host("labels", labels).astype(np.float64)
    num_labels = 1 if binary else x.shape[axis]
    t = _check_threshold(threshold, None if binary else num_labels)
    if validate:
        v.check_no_nan("logits", x)
        bad = ~((z == 0) | (z == 1))
        if ignore is not None:
            bad &= z != ignore
        if bad.any():
            hint = "" if ignore is None else f" or ignore_label={ignore:g}"
            raise v.value_error(
                "labels",
                f"0/1 labels{hint} for sigmoid logits (labels with the logits' shape)",
                f"label value {float(z[bad].ravel()[0])!r} ({int(bad.sum())} such label(s))",
            )
    if binary:
        x, z = x[:, None], z[:, None]
    else:
        x, z = np.moveaxis(x, axis, -1), np.moveaxis(z, axis, -1)
        x, z = x.reshape(-1, num_labels), z.reshape(-1, num_labels)
    valid = np.ones(z.shape, dtype=bool) if ignore is None else z != ignore
    pred = x > t
    true = z == 1
    tp = (valid & true & pred).sum(axis=0)
    fp = (valid & ~true & pred).sum(axis=0)
    fn = (valid & true & ~pred).sum(axis=0)
    tn = (valid & ~true & ~pred).sum(axis=0)
    matrix = np.stack([np.stack([tn, fp], -1), np.stack([fn, tp], -1)], -2).astype(np.int64)
    return _Counts(
        "binary" if binary else "multilabel", tp, fp, fn, tn, matrix[0] if binary else matrix
    )


def _softmax_decisions(
    logits: Array,
    labels: Array,
    threshold: Any,
    costs: Any,
    ignore_index: Any,
    ignore_label: Any,
    axis: int,
    validate: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Host ``(true, predicted, valid, C)`` for softmax logits and integer labels."""
    xp = ns.namespace(logits)
    shape = v.static_shape(logits)
    sample_shape = shape[:axis] + shape[axis + 1 :]
    if not v.is_integer(xp, labels.dtype) or not v.shapes_match(
        v.static_shape(labels), sample_shape
    ):
        raise v.value_error(
            "labels",
            f"0/1 labels of the logits' shape {v.shape_str(shape)} (sigmoid logits) or "
            f"integer class indices of shape {v.shape_str(sample_shape)} (softmax logits, "
            f"class_axis={axis})",
            f"labels of shape {v.shape_str(v.static_shape(labels))} and dtype "
            f"{v.dtype_name(labels.dtype)}",
        )
    if not (isinstance(threshold, numbers.Real) and float(threshold) == 0.0):
        raise v.value_error(
            "threshold",
            "the default for softmax logits (integer labels), which are decided by argmax "
            "or by costs",
            f"threshold={v._short(threshold)}",
        )
    if ignore_label is not None:
        raise v.value_error(
            "ignore_label",
            "None for softmax logits (integer labels); use ignore_index",
            f"ignore_label={ignore_label!r}",
        )
    ignore = v.check_optional_int("ignore_index", ignore_index)
    num_classes = int(shape[axis])  # type: ignore[arg-type]
    x = _host("logits", logits)
    y = _host("labels", labels).astype(np.int64)
    if validate:
        v.check_no_nan("logits", x)
        v.check_class_indices(y, num_classes, ignore)
    if costs is None:
        pred = np.argmax(x, axis=axis)
    else:
        pred = _host("logits", bayes_decision(logits, costs, class_axis=axis, validate=validate))
    valid = np.ones(y.shape, dtype=bool) if ignore is None else y != ignore
    return y[valid], pred[valid].astype(np.int64), valid, num_classes


def _softmax_counts(
    logits: Array,
    labels: Array,
    threshold: Any,
    costs: Any,
    ignore_index: Any,
    ignore_label: Any,
    axis: int,
    validate: bool,
) -> _Counts:
    y, pred, _, c = _softmax_decisions(
        logits, labels, threshold, costs, ignore_index, ignore_label, axis, validate
    )
    matrix = np.bincount(y * c + pred, minlength=c * c).reshape(c, c).astype(np.int64)
    tp = np.diag(matrix)
    return _Counts("multiclass", tp, matrix.sum(0) - tp, matrix.sum(1) - tp, None, matrix)


def confusion_matrix(
    logits: Array,
    labels: Array,
    *,
    threshold: Any = 0.0,
    costs: Any = None,
    ignore_index: int | None = None,
    ignore_label: float | None = None,
    class_axis: int = -1,
    validate: bool = True,
) -> np.ndarray:
    """Counts of (true, predicted) pairs of the decisions read from logits.

    Sigmoid logits (labels with the logits' shape, see :mod:`wxent.metrics`): positive
    where ``logits > threshold``. Softmax logits (integer labels): the argmax, or
    :func:`bayes_decision` when ``costs`` is given. Rows are true classes, columns
    predicted classes, as in :func:`sklearn.metrics.confusion_matrix`.

    Args:
        logits: floating array of any supported framework (concrete).
        labels: 0/1 labels of the logits' shape (sigmoid) or integer class indices of the
            logits' shape without ``class_axis`` (softmax).
        threshold: sigmoid only: a logit, or one per label ``(L,)`` along ``class_axis``.
        costs: softmax only: a ``(C, C)`` cost matrix; decide with :func:`bayes_decision`.
        ignore_index: softmax only: an integer label to leave out.
        ignore_label: sigmoid only: a label value (e.g. ``-1``) to leave out.
        class_axis: the class (label) axis.
        validate: check label values and NaN logits.

    Returns:
        ``int64`` NumPy counts: ``(2, 2)`` ``[[tn, fp], [fn, tp]]`` for binary logits
        ``(N,)``; ``(L, 2, 2)`` for multi-label logits (like
        :func:`sklearn.metrics.multilabel_confusion_matrix`); ``(C, C)`` for softmax logits.

    Raises:
        TypeError: for wrong types, or traced arrays.
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
    """
    return _counts(
        logits,
        labels,
        threshold=threshold,
        costs=costs,
        ignore_index=ignore_index,
        ignore_label=ignore_label,
        class_axis=class_axis,
        validate=validate,
    ).matrix


def _check_average(average: Any) -> None:
    if average not in AVERAGES or isinstance(average, bool):
        raise v.value_error("average", 'one of "micro", "macro", None', f"average={average!r}")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def _score(counts: _Counts, average: Any, beta: float, what: str) -> Any:
    tp, fp, fn = counts.tp, counts.fp, counts.fn
    b2 = beta * beta

    def per(tp_: Any, fp_: Any, fn_: Any) -> np.ndarray:
        if what == "precision":
            return _ratio(tp_, tp_ + fp_)
        if what == "recall":
            return _ratio(tp_, tp_ + fn_)
        return _ratio((1 + b2) * tp_, (1 + b2) * tp_ + b2 * fn_ + fp_)

    if average is None:
        return per(tp, fp, fn)
    if average == "micro":
        return float(per(tp.sum(), fp.sum(), fn.sum()))
    present = (tp + fp + fn) > 0
    if not present.any():
        return 0.0
    return float(per(tp, fp, fn)[present].mean())


def precision(
    logits: Array,
    labels: Array,
    *,
    threshold: Any = 0.0,
    costs: Any = None,
    average: str | None = "micro",
    ignore_index: int | None = None,
    ignore_label: float | None = None,
    class_axis: int = -1,
    validate: bool = True,
) -> Any:
    """Precision ``tp / (tp + fp)`` of the decisions read from logits (0 when undefined).

    Args:
        logits: floating array of any supported framework (concrete).
        labels: 0/1 labels of the logits' shape (sigmoid: binary or multi-label) or
            integer class indices of the logits' shape without ``class_axis`` (softmax).
        threshold: sigmoid only: a logit, or one per label ``(L,)`` along ``class_axis``.
        costs: softmax only: a ``(C, C)`` cost matrix; decide with :func:`bayes_decision`
            instead of the argmax.
        average: ``"micro"`` (default), ``"macro"`` or ``None`` (see
            :mod:`wxent.metrics`).
        ignore_index: softmax only: an integer label to leave out.
        ignore_label: sigmoid only: a label value (e.g. ``-1``) to leave out.
        class_axis: the class (label) axis.
        validate: check label values and NaN logits.

    Returns:
        A Python float, or one NumPy ``float64`` score per class for ``average=None``.

    Raises:
        TypeError: for wrong types, or traced arrays.
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
    _check_average(average)
    counts = _counts(
        logits,
        labels,
        threshold=threshold,
        costs=costs,
        ignore_index=ignore_index,
        ignore_label=ignore_label,
        class_axis=class_axis,
        validate=validate,
    )
    return _score(counts, average, 1.0, "precision")


def recall(
    logits: Array,
    labels: Array,
    *,
    threshold: Any = 0.0,
    costs: Any = None,
    average: str | None = "micro",
    ignore_index: int | None = None,
    ignore_label: float | None = None,
    class_axis: int = -1,
    validate: bool = True,
) -> Any:
    """Recall ``tp / (tp + fn)`` of the decisions read from logits (0 when undefined).

    Args:
        logits: floating array of any supported framework (concrete).
        labels: 0/1 labels of the logits' shape (sigmoid: binary or multi-label) or
            integer class indices of the logits' shape without ``class_axis`` (softmax).
        threshold: sigmoid only: a logit, or one per label ``(L,)`` along ``class_axis``.
        costs: softmax only: a ``(C, C)`` cost matrix; decide with :func:`bayes_decision`
            instead of the argmax.
        average: ``"micro"`` (default), ``"macro"`` or ``None`` (see
            :mod:`wxent.metrics`).
        ignore_index: softmax only: an integer label to leave out.
        ignore_label: sigmoid only: a label value (e.g. ``-1``) to leave out.
        class_axis: the class (label) axis.
        validate: check label values and NaN logits.

    Returns:
        A Python float, or one NumPy ``float64`` score per class for ``average=None``.

    Raises:
        TypeError: for wrong types, or traced arrays.
        ValueError: for labels that fit neither form, bad values, an unknown ``average``.

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.array([[3.0, -2.0], [1.0, 2.0], [-1.0, -4.0]], dtype=np.float32)
        >>> labels = np.array([[1, 0], [0, 1], [1, 1]])
        >>> wxent.recall(logits, labels)
        0.5
        >>> wxent.recall(logits, labels, threshold=-2.0)  # a lower logit threshold
        0.75
    """
    _check_average(average)
    counts = _counts(
        logits,
        labels,
        threshold=threshold,
        costs=costs,
        ignore_index=ignore_index,
        ignore_label=ignore_label,
        class_axis=class_axis,
        validate=validate,
    )
    return _score(counts, average, 1.0, "recall")


def fbeta_score(
    logits: Array,
    labels: Array,
    *,
    beta: float = 1.0,
    threshold: Any = 0.0,
    costs: Any = None,
    average: str | None = "micro",
    ignore_index: int | None = None,
    ignore_label: float | None = None,
    class_axis: int = -1,
    validate: bool = True,
) -> Any:
    """F-beta score of the decisions read from logits (0 when undefined).

    Per class ``F = (1 + beta^2) tp / ((1 + beta^2) tp + beta^2 fn + fp)``, the weighted
    harmonic mean of precision and recall; ``beta > 1`` favours recall, ``beta = 0`` is
    the precision. ``"macro"`` averages the per-class F scores.

    Args:
        logits: floating array of any supported framework (concrete).
        labels: 0/1 labels of the logits' shape (sigmoid: binary or multi-label) or
            integer class indices of the logits' shape without ``class_axis`` (softmax).
        beta: finite, ``>= 0``.
        threshold: sigmoid only: a logit, or one per label ``(L,)`` along ``class_axis``.
        costs: softmax only: a ``(C, C)`` cost matrix; decide with :func:`bayes_decision`
            instead of the argmax.
        average: ``"micro"`` (default), ``"macro"`` or ``None`` (see
            :mod:`wxent.metrics`).
        ignore_index: softmax only: an integer label to leave out.
        ignore_label: sigmoid only: a label value (e.g. ``-1``) to leave out.
        class_axis: the class (label) axis.
        validate: check label values and NaN logits.

    Returns:
        A Python float, or one NumPy ``float64`` score per class for ``average=None``.

    Raises:
        TypeError: for wrong types, or traced arrays.
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
    beta = v.check_nonnegative_float("beta", beta)
    _check_average(average)
    counts = _counts(
        logits,
        labels,
        threshold=threshold,
        costs=costs,
        ignore_index=ignore_index,
        ignore_label=ignore_label,
        class_axis=class_axis,
        validate=validate,
    )
    return _score(counts, average, beta, "fbeta")


def expected_cost(
    logits: Array,
    labels: Array,
    costs: Any,
    *,
    ignore_index: int | None = None,
    ignore_label: float | None = None,
    class_axis: int = -1,
    validate: bool = True,
) -> float:
    """The mean cost ``costs[true, decision]`` of the cost-optimal decisions.

    Softmax logits (integer labels): the decisions are :func:`bayes_decision` of the
    logits, and the result is ``mean_i costs[y_i, bayes_decision(x_i)]`` over the samples
    not ignored. Sigmoid logits (0/1 labels of the logits' shape): ``costs`` is the
    ``2 x 2`` matrix ``[[c_tn, c_fp], [c_fn, c_tp]]``, every element is decided with
    :func:`cost_threshold` of those costs, and the mean is over all elements not ignored.
    Nothing valid gives 0.0.

    Args:
        logits: floating array of any supported framework (concrete).
        labels: integer class indices (softmax) or 0/1 labels (sigmoid).
        costs: ``costs[true, predicted]``, ``(C, C)`` (softmax) or ``(2, 2)`` (sigmoid).
        ignore_index: softmax only: an integer label to leave out.
        ignore_label: sigmoid only: a label value (e.g. ``-1``) to leave out.
        class_axis: the class axis.
        validate: check label and cost values.

    Returns:
        The mean cost, a Python float.

    Raises:
        TypeError: for wrong types, or traced arrays.
        ValueError: for labels that fit neither form, bad values, a cost matrix of the
            wrong shape.

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.log(np.array([[0.6, 0.4], [0.9, 0.1]], dtype=np.float32))
        >>> labels = np.array([1, 0])
        >>> costs = [[0.0, 1.0], [5.0, 0.0]]  # missing class 1 costs 5
        >>> wxent.bayes_decision(logits, costs).tolist()
        [1, 0]
        >>> wxent.expected_cost(logits, labels, costs)
        0.0
    """
    v.check_logits(logits)
    v.check_labels_array(labels, logits)
    validate = v.check_bool("validate", validate)
    axis = v.check_class_axis(class_axis, len(logits.shape))
    if costs is None:
        raise v.type_error("costs", "a cost matrix costs[true, predicted]", "costs=None")
    if _is_sigmoid(logits, labels):
        from wxent.cost_matrix import _to_host, check_cost_matrix

        if validate:
            c = check_cost_matrix(costs, num_classes=2, warn=False)
        else:
            c = _to_host("costs", costs)
        t = cost_threshold(cost_fp=c[0, 1], cost_fn=c[1, 0], cost_tp=c[1, 1], cost_tn=c[0, 0])
        counts = _sigmoid_counts(
            logits, labels, t, None, ignore_index, ignore_label, axis, validate
        )
        total = (counts.matrix.reshape(-1, 2, 2) * c).sum()
        n = counts.matrix.sum()
        return 0.0 if n == 0 else float(total / n)
    y, pred, _, _ = _softmax_decisions(
        logits, labels, 0.0, costs, ignore_index, ignore_label, axis, validate
    )
    if y.size == 0:
        return 0.0
    c = np.asarray(_host("costs", costs) if ns.is_array(costs) else costs, dtype=np.float64)
    return float(c[y, pred].mean())
