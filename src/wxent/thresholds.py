"""Choosing the operating point on held-out logits: thresholds and per-class offsets.

Training (with or without weights) moves a model along its precision-recall curve; the
point on it is chosen afterwards, on validation logits. :func:`tune_thresholds` finds it
exactly and :func:`predict` applies it in the logits' framework.

**Which logits.** As in the metrics: ``labels`` with the logits' shape are **sigmoid**
labels (binary ``(N,)`` or multi-label along ``class_axis``), values in ``[0, 1]``
(fractional labels count as expected positives); integer ``labels`` with the logits'
shape without ``class_axis`` are **softmax** class indices.

**Exact search.** For sigmoid logits every distinct decision is considered: the scores of
a label are sorted once (``O(N log N)``) and the objective is evaluated for every split
"positive = the logits above ``t``" between two consecutive distinct logits. Tied logits
are always on the same side. The returned threshold ``t`` reproduces the chosen split
with ``logits > t`` (the metrics' rule, a *logit*): between two consecutive distinct
logits it is their midpoint rounded to the logits' dtype (or the lower logit when the
two are adjacent numbers of the dtype); "nothing positive" is ``u_max + max(1, |u_max|)``
and "everything positive" ``u_min - max(1, |u_min|)``, clamped to the dtype's largest
finite number where that step leaves its range: finite for finite logits, except
``-inf`` when ``u_min`` is the dtype's most negative number (nothing lies below). A logit
``-inf`` is never positive and ``+inf`` is positive unless the threshold is ``+inf``.
Unweighted 0/1 labels sort all labels' scores in one call and count each label's
positives per distinct logit; large inputs (from 2**20 logits) are split into blocks of
labels searched on up to 4 threads (NumPy sorts without the interpreter lock). The result
does not depend on the blocks.

**Ties between decisions.** Objective values within ``1e-12`` (relative) of the best are
ties; the highest threshold among them wins (fewest positive predictions). For
``"recall_at_precision"`` ties in recall go to the higher precision, for
``"precision_at_recall"`` ties in precision to the higher recall.

**Unattainable constraints.** When no threshold reaches the required precision (or
recall), a :class:`ThresholdWarning` names the labels and the threshold with the highest
precision (recall) is returned instead: the point closest to the constraint.

**Multi-class.** Softmax logits get one offset per class, added before the argmax:
``predict(logits, offsets=b) = argmax(logits + b)``. Coordinate ascent from ``b = 0``:
each offset in turn moves to the value that best improves the objective on the held-out
logits (every distinct value considered), until a pass moves none. The result is a local
optimum that no single offset can improve, at least as good as the plain argmax.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from wxent import _fx, _offsets, _warnings
from wxent import _metric_inputs as mi
from wxent import _namespace as ns
from wxent import _prepare as prep
from wxent import _threshold_search as search
from wxent import _validation as v
from wxent._core.numerics import offset_argmax
from wxent._types import Array

OBJECTIVES = (
    "f1",
    "fbeta",
    "recall_at_precision",
    "precision_at_recall",
    "expected_cost",
    "balanced_accuracy",
)

__all__ = ["ThresholdWarning", "predict", "tune_thresholds"]


class ThresholdWarning(UserWarning):
    """A constraint of :func:`tune_thresholds` that no threshold meets on the given data."""


def host_array(
    name: str, x: Any, why: str = "thresholds are tuned on the host, on held-out logits"
) -> np.ndarray:
    """Held-out logits or labels of any framework as a NumPy array (concrete only)."""
    v.check_plain_array(name, x)  # sparse, ragged, nested: the one message
    if not ns.is_concrete(x):
        raise v.type_error(name, f"a concrete array ({why})", f"a traced {type(x).__name__}")
    return ns.to_numpy(x)


def held_out_labels(labels: Any, logits: Any) -> Any:
    """Labels of the logits' framework, or numbers in a list or tuple (read on the host).

    The tuners read labels on the host, so a Python list needs no framework: it is a
    NumPy array here, as the losses and metrics take lists.
    """
    if isinstance(labels, (list, tuple)):
        return prep.host_labels(labels)
    v.check_labels_array(labels, logits)
    return labels


def row_weights(
    sample_weight: Any, shape: tuple[int, ...], axis: int, sigmoid: bool, why: str | None = None
) -> Any:
    """Host float64 weights of the logits' shape (sigmoid) or the sample shape (softmax)."""
    if sample_weight is None:
        return None
    sample_shape = shape if len(shape) == 1 else shape[:axis] + shape[axis + 1 :]
    v.check_not_flag("sample_weight", sample_weight)
    raw = None
    if ns.is_array(sample_weight):
        raw = host_array("sample_weight", sample_weight, *([why] if why else []))
    w = v.host_numbers("sample_weight", sample_weight if raw is None else raw).astype(np.float64)
    allowed = [sample_shape] + ([shape] if sigmoid and len(shape) > 1 else [])
    if w.shape not in allowed:
        expected = f"one weight per sample, shape {sample_shape}"
        if sigmoid and len(shape) > 1:
            expected += f", or one per element, the shape of `logits` {shape}"
        raise v.value_error("sample_weight", expected, f"sample_weight of shape {w.shape}")
    v.check_finite_nonnegative("sample_weight", w)
    top = float(w.max()) if w.size else 0.0
    if top > 1.0:  # by a power of two (exact): sums of weights near 1e308 stay finite,
        w = np.ldexp(w, -int(np.frexp(top)[1]))  # and nothing here depends on their scale
    if w.shape != shape and sigmoid:
        w = np.broadcast_to(np.expand_dims(w, axis), shape)
    return w


def _cost_params(objective: str, **costs: Any) -> dict[str, float]:
    params: dict[str, float] = {}
    for name, value in costs.items():
        if value is None:
            if objective == "expected_cost" and name in ("cost_fp", "cost_fn"):
                raise v.value_error(
                    name, 'a cost >= 0 for objective="expected_cost"', f"{name}=None"
                )
            value = 0.0
        elif objective != "expected_cost":
            raise v.value_error(name, 'None unless objective="expected_cost"', f"{name}={value!r}")
        params[name] = v.check_nonnegative_float(name, value)
    return params


def _fraction(name: str, value: Any, objective: str, wanted: str) -> float:
    if objective != wanted:
        if value is not None:
            raise v.value_error(name, f'None unless objective="{wanted}"', f"{name}={value!r}")
        return 0.0
    if value is None:
        raise v.value_error(name, f'a float in [0, 1] for objective="{wanted}"', f"{name}=None")
    return v.check_fraction(name, value)


@_fx.leaf
def tune_thresholds(
    logits: Array,
    labels: Array,
    *,
    objective: str = "f1",
    per_label: bool = True,
    beta: float = 1.0,
    precision: float | None = None,
    recall: float | None = None,
    cost_fp: float | None = None,
    cost_fn: float | None = None,
    cost_tp: float | None = None,
    cost_tn: float | None = None,
    costs: Any = None,
    sample_weight: Any = None,
    ignore_label: float | None = None,
    ignore_index: int | None = None,
    class_axis: int = -1,
    max_iter: int = 20,
    return_objective: bool = False,
) -> Any:
    """The logit thresholds (or per-class offsets) that optimise an objective on held-out data.

    Sigmoid logits (binary or multi-label; see :mod:`wxent.thresholds` for the search,
    the threshold placement and the tie rules): a logit threshold per label
    (``per_label=True``, each label's objective on its own: for F1 the macro F1), or one
    for all labels (``per_label=False``, the objective of the pooled decisions: for F1
    the micro F1). Objectives, with weighted counts ``tp, fp, fn, tn``:

    * ``"f1"``, ``"fbeta"``: ``(1 + b^2) tp / ((1 + b^2) tp + b^2 fn + fp)``, 0 if undefined;
    * ``"recall_at_precision"``: the largest recall with precision ``>= precision``;
    * ``"precision_at_recall"``: the largest precision with recall ``>= recall``;
    * ``"expected_cost"``: the smallest mean cost
      ``(cost_tp tp + cost_fp fp + cost_fn fn + cost_tn tn) / (tp + fp + fn + tn)``;
    * ``"balanced_accuracy"``: ``(tp / (tp + fn) + tn / (tn + fp)) / 2`` (a rate of a class
      without samples counts 0).

    Softmax logits (integer labels): per-class offsets for ``argmax(logits + offsets)``
    that maximise the macro F-beta or the balanced accuracy, or minimise the expected
    cost of a ``costs[true, predicted]`` matrix (as in :func:`bayes_decision`).

    Tuning is a host computation on validation data: logits and labels of NumPy,
    PyTorch, JAX or TensorFlow are copied to NumPy once and the search runs in float64.
    Apply the result in any framework with :func:`predict`, the metrics'
    ``threshold=`` or the Keras metrics' ``threshold``.

    Args:
        logits: floating array of any supported framework (concrete, no NaN).
        labels: ``[0, 1]`` labels of the logits' shape (sigmoid) or integer class
            indices of the logits' shape without ``class_axis`` (softmax); of the
            logits' framework, or a list.
        objective: one of the objectives above (softmax: ``"f1"``, ``"fbeta"``,
            ``"expected_cost"``, ``"balanced_accuracy"``).
        per_label: sigmoid multi-label only: one threshold per label, or one in all.
        beta: the F-beta ``beta`` (finite, ``>= 0``).
        precision: the required precision for ``"recall_at_precision"``.
        recall: the required recall for ``"precision_at_recall"``.
        cost_fp: sigmoid ``"expected_cost"``: the cost of a false positive.
        cost_fn: sigmoid ``"expected_cost"``: the cost of a false negative.
        cost_tp: sigmoid ``"expected_cost"``: the cost of a true positive (default 0).
        cost_tn: sigmoid ``"expected_cost"``: the cost of a true negative (default 0).
        costs: softmax ``"expected_cost"``: the ``(C, C)`` matrix ``costs[true, predicted]``.
        sample_weight: one weight per sample (the logits' shape without ``class_axis``),
            or for sigmoid logits one per element; counts become sums of weights.
        ignore_label: sigmoid only: a label value (e.g. ``-1``) to leave out.
        ignore_index: softmax only: an integer label to leave out.
        class_axis: the class (label) axis.
        max_iter: softmax only: the most passes of coordinate ascent.
        return_objective: also return the objective value(s) reached.

    Returns:
        Sigmoid: a Python float (binary logits or ``per_label=False``) or a NumPy
        ``float64`` array ``(L,)``; softmax: NumPy ``float64`` offsets ``(C,)``. With
        ``return_objective=True`` a pair ``(result, objective)``, the objective being a
        float or one per label (the mean cost for ``"expected_cost"``). Nothing to
        tune on (``N = 0``, or a label whose elements are all ignored) gives
        threshold 0 (offsets 0) with objective 0.

    Raises:
        TypeError: for wrong types or traced arrays.
        ValueError: for labels that fit neither form, bad values, an unknown objective,
            a missing or misplaced objective parameter, non-finite softmax logits.

    Warns:
        ThresholdWarning: when a precision or recall constraint is unattainable.

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.array([-2.0, -1.0, 0.5, 1.0, 2.0], dtype=np.float32)
        >>> labels = np.array([0, 1, 0, 1, 1])
        >>> t = wxent.tune_thresholds(logits, labels)  # the F1-best split
        >>> t, wxent.fbeta_score(logits, labels, threshold=t)
        (-1.5, 0.8571428571428571)
        >>> wxent.predict(logits, threshold=t).tolist()
        [False, True, True, True, True]
    """
    v.check_logits(logits)
    labels = held_out_labels(labels, logits)
    if not isinstance(objective, str) or objective not in OBJECTIVES:
        expected = "one of " + ", ".join(f'"{o}"' for o in OBJECTIVES)
        raise v.value_error("objective", expected, f"objective={objective!r}")
    per_label = v.check_bool("per_label", per_label)
    return_objective = v.check_bool("return_objective", return_objective)
    sigmoid = v.static_shape(labels) == v.static_shape(logits)
    axis = v.check_class_axis(class_axis, len(logits.shape))
    if not sigmoid:
        v.check_has_classes(v.static_shape(logits), axis)
    else:
        v.check_has_labels(v.static_shape(logits), axis)
    binary_costs = {"cost_fp": cost_fp, "cost_fn": cost_fn, "cost_tp": cost_tp, "cost_tn": cost_tn}
    if sigmoid:
        params = _cost_params(objective, **binary_costs)
    else:
        for name, value in binary_costs.items():
            if value is not None:
                raise v.value_error(
                    name,
                    "None for softmax logits (integer labels): give a cost matrix as `costs`",
                    f"{name}={value!r}",
                )
        params = {}
    params["beta"] = v.check_nonnegative_float("beta", beta)
    if objective == "f1" and params["beta"] != 1.0:
        raise v.value_error("beta", 'the default 1.0 for "f1" (use "fbeta")', f"beta={beta!r}")
    params["precision"] = _fraction("precision", precision, objective, "recall_at_precision")
    params["recall"] = _fraction("recall", recall, objective, "precision_at_recall")
    x = host_array("logits", logits)  # (traced: refused here, also with unknown dimensions,
    shape = x.shape  # before the shape is read)
    axis = v.check_class_axis(class_axis, len(shape))
    if x.dtype.kind != "f" or x.size == 0 or np.isnan(x.min()):  # min propagates NaN
        v.check_no_nan("logits", x)
    y = host_array("labels", labels)
    if sigmoid:
        if costs is not None or ignore_index is not None:
            name = "costs" if costs is not None else "ignore_index"
            raise v.value_error(
                name,
                "None for sigmoid logits (labels with the logits' shape)",
                "a cost matrix" if name == "costs" else f"ignore_index={ignore_index!r}",
            )
        result, value = _tune_sigmoid(
            x,
            y,
            row_weights(sample_weight, shape, axis, True),
            v.dtype_name(logits.dtype),
            axis=axis,
            per_label=per_label,
            objective=objective,
            params=params,
            ignore=v.check_optional_label_value("ignore_label", ignore_label),
            labels_dtype=labels.dtype,
        )
    else:
        result, value = _offsets.tune_softmax(
            x,
            labels,
            y,
            row_weights(sample_weight, shape, axis, False),
            axis=axis,
            objective=objective,
            params=params,
            costs=costs,
            ignore_label=ignore_label,
            ignore_index=ignore_index,
            max_iter=max_iter,
        )
    return (result, value) if return_objective else result


def _tune_sigmoid(
    x: np.ndarray,
    z: np.ndarray,
    w: np.ndarray | None,
    dtype_name: str,
    *,
    axis: int,
    per_label: bool,
    objective: str,
    params: dict[str, float],
    ignore: float | None,
    labels_dtype: Any = None,
) -> tuple[Any, Any]:
    given, ignore = ignore, v.label_marker(ignore, labels_dtype)  # as the labels hold it
    if z.dtype == bool and w is None:
        is_one, binary = z, True
    else:
        if z.dtype.kind != "f":
            z = z.astype(np.float64)
        is_one = z == 1
        known = is_one | (z == 0)
        if ignore is not None:
            known |= z == ignore
        binary = bool(known.all())
        if not binary:  # fractional labels (or out of range: the error)
            v.check_unit_interval_labels(z, given, ignore)
    exact = w is None and binary
    if exact and ignore is None:
        z = is_one  # a bool array is cheaper to transpose
    rows = 1 if x.ndim == 1 or not per_label else int(x.shape[axis])
    x, z = label_rows(x, axis, rows), label_rows(z, axis, rows)
    w = None if w is None else label_rows(w, axis, rows)

    def solve(lo: int, hi: int) -> list[tuple[float, float, bool]]:
        if exact and ignore is None:  # one sort of the block's labels
            curves: Iterator[search.Curve] = search.sorted_curves(x[lo:hi], z[lo:hi])
        else:
            curves = (
                _curve(x[j], z[j], None if w is None else w[j], ignore, exact)
                for j in range(lo, hi)
            )
        found = []
        for c in curves:
            k, value, attainable = search.select(c, objective, params)
            found.append((search.threshold_between(c.values, k, dtype_name), value, attainable))
        return found

    results = search.in_blocks(solve, rows, x.size)
    thresholds = [t for t, _, _ in results]
    values = [value for _, value, _ in results]
    missed = [j for j, (_, _, attainable) in enumerate(results) if not attainable]
    if missed:
        required = "precision" if objective == "recall_at_precision" else "recall"
        which = "the logits" if x.shape[0] == 1 else f"label(s) {missed[:20]}"
        _warnings.warn(
            f"No threshold reaches {required} >= {params[required]:g} for {which}: "
            f"returned the threshold with the highest {required} instead.",
            ThresholdWarning,
            stacklevel=3,
        )
    if x.shape[0] == 1:
        return thresholds[0], values[0]
    return np.asarray(thresholds, dtype=np.float64), np.asarray(values, dtype=np.float64)


def _curve(
    x: np.ndarray, z: np.ndarray, w: np.ndarray | None, ignore: float | None, exact: bool
) -> search.Curve:
    """The curve of one label's row (ignored entries dropped; weights or fractions)."""
    if ignore is not None:
        keep = z != ignore
        x, z = x[keep], z[keep]
        w = None if w is None else w[keep]
    if exact:
        return search.curve(x, z, None)
    w = np.ones_like(z) if w is None else w
    return search.curve(x, w * z, w * (1 - z))


def label_rows(a: np.ndarray, axis: int, rows: int) -> np.ndarray:
    """``(rows, -1)``: one row per label (class axis first), or everything in one row."""
    if a.ndim > 1:
        a = np.moveaxis(a, axis, 0)
    return np.ascontiguousarray(np.reshape(a, (rows, -1)))


@_fx.leaf
def predict(
    logits: Array, *, threshold: Any = 0.0, offsets: Any = None, class_axis: int = -1
) -> Array:
    """Decisions from logits, in the logits' framework: thresholds or offset argmax.

    Sigmoid logits (``offsets=None``): ``logits > threshold`` with a scalar logit or one per
    label along ``class_axis``, a boolean array of the logits' shape. Softmax logits
    (``offsets`` given, ``0`` for the plain argmax): ``argmax(logits + offsets)`` along
    ``class_axis``, integer class indices (the first index wins an exact tie; a row of
    only ``-inf`` decides the class of the largest offset, class 0 for equal ones, where
    :func:`bayes_decision`, which needs its softmax, raises). Runs under ``jax.jit``,
    ``tf.function`` and ``torch.compile``.

    The offsets are added to the shifted logits ``logits - max(logits)`` of each row (the
    same argmax in exact arithmetic), so they count at any magnitude: an offset of 9 on a
    class 8 below the top decides also at float32 logits ``1e8``, where ``1e8 + 9`` would
    round to ``1e8``. A single number adds the same to every class and decides nothing
    (also ``±inf``).

    **Infinite logits and offsets.** ``logits + offsets`` has no value where ``+inf``
    meets ``-inf``, and ``+inf`` entries tie; the classes of a row are ranked by, in
    this order: (1) their offset: ``-inf`` below any finite offset, ``+inf`` above;
    (2) their logit: ``-inf`` below any finite logit, ``+inf`` above; (3) the finite
    rest, ``shifted logit + offset``, an infinite term counting 0 (the rest of
    ``+inf + 3`` is 3); then the first index. So an offset ``-inf`` excludes its class
    (chosen only where every class is excluded, by the logits), an offset ``+inf``
    forces it (among several, the logits decide), a ``+inf`` logit beats the finite ones
    (among several, the largest offset wins), and no ``inf - inf`` NaN ever decides.
    A NaN logit or offset is an error (``ValueError``) where it can be read; traced
    (``jax.jit``, ``tf.function``, ``torch.compile``) a row holding a NaN logit, and
    every row when an offset is NaN, decides ``-1``, no class.

    Args:
        logits: floating array of NumPy, PyTorch, JAX or TensorFlow.
        threshold: a logit or ``(L,)`` logits (numbers, NumPy or the logits' framework),
            e.g. from :func:`tune_thresholds`.
        offsets: a number or ``(C,)`` per-class offsets from :func:`tune_thresholds`.
        class_axis: the class (label) axis.

    Returns:
        Booleans (thresholds) or integer class indices (offsets), on the logits' device
        (``-1`` where a traced call met NaN).

    Raises:
        TypeError: for wrong types.
        ValueError: for a vector of the wrong length, NaN (in the options, or in concrete
            logits), or both options set.

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.array([[2.0, 1.5, 0.0], [0.1, 0.0, 0.2]], dtype=np.float32)
        >>> wxent.predict(logits, offsets=[0.0, 1.0, 0.0]).tolist()
        [1, 1]
        >>> wxent.predict(logits, threshold=[1.0, 1.0, 0.0]).tolist()
        [[True, True, False], [False, False, True]]
        >>> inf = float("inf")  # a -inf offset excludes; among +inf logits, the larger offset
        >>> x = np.array([[inf, 5.0, inf], [inf, 1.0, 2.0]])
        >>> wxent.predict(x, offsets=[-inf, 0.0, 1.0]).tolist()
        [2, 2]
    """
    xp = v.check_logits(logits)
    shape = v.static_shape(logits)
    axis = v.check_class_axis(class_axis, len(shape))
    if offsets is not None and not (isinstance(threshold, numbers.Real) and threshold == 0.0):
        raise v.value_error(
            "threshold",
            "the default 0.0 when `offsets` is given (softmax logits)",
            f"threshold={v._short(threshold)} with offsets",
        )
    if offsets is not None:
        v.check_has_classes(shape, axis)
    inp = prep.config_inputs(logits, axis, check_arrays=True, per_sample=False)
    x = inp.logits
    name, value = ("threshold", threshold) if offsets is None else ("offsets", offsets)
    vec = _decision_vector(name, value, inp)
    prep.settle(inp, x)  # NaN logits: an error (NaN > t is False; argmax of NaN differs)
    if offsets is None:
        return x > vec
    # The offsets are added to the shifted logits x - max(x): added to large logits (1e8
    # in float32) they would round away, as would 1 added to 3e38. Infinite logits and
    # offsets are ranked without inf - inf (offset_argmax).
    lowest = _ABOVE_LOWEST.get(ns.float_dtype_name(xp, x.dtype) or "")
    checked = ns.is_concrete(x) and (isinstance(vec, float) or ns.is_concrete(vec))
    decision = (
        prep.quietly(inp, lambda: _finite_ranking(xp, x, vec, axis, lowest)) if checked else None
    )
    if decision is not None:
        return np.asarray(decision) if isinstance(decision, np.generic) else decision
    decision = prep.quietly(
        inp,
        lambda: offset_argmax(
            x,
            vec,
            axis=axis,
            xp=xp,
            lowest=lowest,
            mark_nan=not checked or ns.torch_is_compiling(),
        ),
    )
    # NumPy's argmax of unbatched (C,) logits is a scalar: a 0-d array, as other shapes
    return np.asarray(decision) if isinstance(decision, np.generic) else decision


def _finite_ranking(xp: Any, x: Array, vec: Any, axis: int, lowest: float | None) -> Array | None:
    """``argmax(x - max(x) + offsets)`` where the logits and offsets are finite, else ``None``.

    For concrete logits (NaN already refused): with every logit and offset finite,
    :func:`offset_argmax`'s ranking is this plain one (a difference that overflows to
    ``-inf`` ranks last, as its saturated value does), in five passes over the logits
    against its fifteen. Whether they are finite comes from the row maxima and minima
    (one host read).
    """
    if isinstance(vec, float) and not math.isfinite(vec):
        return None
    top = xp.max(x, axis=axis, keepdims=True)
    flag = xp.logical_and(
        xp.all(xp.isfinite(top)), xp.all(xp.isfinite(xp.min(x, axis=axis, keepdims=True)))
    )
    if not isinstance(vec, float):
        flag = xp.logical_and(flag, xp.all(xp.isfinite(vec)))
    if not bool(flag):
        return None
    rest = (x - top) + vec
    if ns.is_tf_namespace(xp) and lowest is not None:  # (TensorFlow's argmax: _ABOVE_LOWEST)
        rest = xp.clip(rest, min=lowest)
    return xp.argmax(rest, axis=axis)


#: The finite rest of offset_argmax saturates just above the lowest float of the compute
#: dtype: TensorFlow's argmax never picks the lowest float itself (it starts from it).
_ABOVE_LOWEST = {
    name: float(np.nextafter(np.finfo(name).min, np.zeros((), name)))
    for name in ("float32", "float64")
}


def _decision_vector(name: str, value: Any, inp: Any) -> Any:
    """A scalar, or a per-class vector moved onto the logits along the class axis."""
    expected = f"a logit or one per class, shape ({inp.num_classes},) along class_axis"
    v.check_plain_array(name, value)
    if isinstance(value, bool):
        raise v.type_error(name, expected, f"{name}={value!r}")
    # A threshold from the host is compared with float32 logits as the largest float32 at
    # most it (as the metrics do): rounded to the nearest, 16777219.0 became 16777220.0,
    # and a logit 16777220 was not above it.
    below = name == "threshold" and ns.float_dtype_name(inp.xp, inp.dtype) == "float32"
    value = mi.own_framework(name, value, inp.logits)  # another framework's: as NumPy
    if isinstance(value, numbers.Real):
        if value != value:
            raise v.value_error(name, "a number that is not NaN", f"{name}={value!r}")
        number = v.as_float(name, value, "a logit that float64 holds")
        return float(mi.below(np.asarray(number), "float32")) if below else number
    if ns.is_array(value) and not isinstance(value, np.ndarray):
        if ns.is_concrete(value) and np.isnan(ns.to_numpy(value).astype(np.float64)).any():
            raise v.value_error(name, "numbers that are not NaN", f"{name} with NaN")
    else:
        try:
            value = np.asarray(value, dtype=np.float64)
        except OverflowError:
            raise v.value_error(
                name, "logits that float64 holds", f"{name}={v._short(value)}"
            ) from None
        except v.NOT_NUMBERS:
            raise v.type_error(name, expected, f"{name}={v._short(value)}") from None
        if not ns.torch_is_compiling() and np.isnan(value).any():
            raise v.value_error(name, "numbers that are not NaN", f"{name} with NaN")
        if below:
            value = mi.below(value, "float32")
    shape = tuple(v.static_shape(value))
    if len(shape) == 1:  # (jax.export's symbolic classes never meet a fixed length)
        v.check_known_classes(name, shape, inp.xp, inp.num_classes)
    known = inp.num_classes is not None  # unknown (tf.function with None): the vector's
    if len(shape) > 1 or (len(shape) == 1 and known and shape[0] != inp.num_classes):
        raise v.value_error(name, expected, f"{name} of shape {v.shape_str(shape)}")
    arr = prep.config_array(name, value, inp, check_values=False)
    if below and ns.is_array(value) and not isinstance(value, np.ndarray):
        arr = mi.below_on_device(inp.xp, value, arr)
    ndim = len(inp.logits.shape)
    if len(shape) == 1 and inp.axis != ndim - 1:
        target = [1] * ndim
        target[inp.axis] = -1
        arr = inp.xp.reshape(arr, tuple(target))
    return arr
