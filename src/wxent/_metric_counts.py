"""Counting decisions in the logits' framework: the machinery under :mod:`wxent.metrics`.

Every count is a reduction or a scatter-add in the logits' own framework, on its device,
so the metrics run under ``jax.jit``, ``tf.function`` and ``torch.compile`` and never copy
an array to the host. Value checks (labels in range, NaN logits, weights, thresholds,
framework cost matrices) are folded into one integer flag read once per call, only for
concrete arrays with ``validate=True``; the detailed message is built afterwards, on the
failure path only. Under tracing, elements whose labels are out of range count nowhere.
"""

from __future__ import annotations

import functools
import math
import numbers
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from wxent import _metric_inputs as mi
from wxent import _namespace as ns
from wxent import _prepare as prep
from wxent import _validation as v
from wxent._certified import bayes_decision_float64
from wxent._core import cost as _core_cost
from wxent._threshold_search import fbeta_shares
from wxent._types import Array
from wxent.cost_matrix import check_cost_matrix, matrix_for

AVERAGES = ("micro", "macro", None)
METRICS = ("precision", "recall", "fbeta")


@dataclass
class Counts:
    """Per-class counts of one batch of decisions, in the logits' framework.

    ``tp``, ``fp``, ``fn`` (and ``tn`` for sigmoid logits) have one entry per label or
    class; integers without ``sample_weight``, floats with it. ``matrix`` is the confusion
    matrix when asked for; ``cost`` and ``weight`` are the summed cost and weight of the
    counted elements when a cost matrix was given.
    """

    xp: Any
    kind: str  # "binary", "multilabel" or "multiclass"
    numpy: bool
    dtype: Any  # the floating dtype of scores
    tp: Array
    fp: Array
    fn: Array
    tn: Array | None
    matrix: Array | None = None
    cost: Array | None = None
    weight: Array | None = None
    poison: Array | None = None  # 0-d: NaN where traced costs or thresholds are bad, else 0


def count(
    logits: Any,
    labels: Any,
    *,
    sample_weight: Any = None,
    threshold: Any = 0.0,
    costs: Any = None,
    ignore_index: Any = None,
    ignore_label: Any = None,
    class_axis: Any = -1,
    validate: Any = True,
    matrix: bool = False,
    need_costs: bool = False,
) -> Counts:
    """Check the inputs and count the decisions (see :mod:`wxent.metrics`)."""
    xp = v.check_logits(logits)
    given = labels
    labels = mi.as_labels(labels, logits, xp)
    if not (ns.is_torch(given) and given.dtype != labels.dtype):
        given = labels  # (widened: PyTorch uint16/32/64, whose values messages show)
    validate = v.check_bool("validate", validate)
    axis = v.check_class_axis(class_axis, len(logits.shape))
    if need_costs and costs is None:
        raise v.type_error("costs", "a cost matrix costs[true, predicted]", "costs=None")
    numpy = ns.is_numpy_namespace(xp)
    dtype = np.float64 if numpy else prep._compute_dtype(xp, logits.dtype)
    concrete = validate and ns.is_concrete(logits) and ns.is_concrete(labels)
    x = logits if numpy or logits.dtype == dtype else xp.astype(logits, dtype)
    call = mi.Call(
        xp, logits, x, labels, axis, dtype, numpy, validate, concrete, mi.Checks(),
        sample_weight, threshold, costs, ignore_index, ignore_label, matrix, need_costs, given,
    )  # fmt: skip
    if concrete:
        call.checks.add(xp.isnan(x), lambda: v.check_no_nan("logits", ns.to_numpy(logits)))
    sigmoid = v.static_shape(labels) == v.static_shape(logits)
    if not sigmoid:
        v.check_has_classes(v.static_shape(logits), axis)
    else:
        v.check_has_labels(v.static_shape(logits), axis)
    quiet = np.errstate(over="ignore", invalid="ignore") if numpy else nullcontext()
    with quiet:  # overflowing sums of weights: the check below says so
        out = _sigmoid(call) if sigmoid else _softmax(call)
    if concrete and sample_weight is not None:  # finite weights whose sums overflow
        sums = [out.tp + out.fp, out.tp + out.fn]  # the scores' denominators
        sums += [a for a in (out.tn, out.cost, out.weight) if a is not None]
        flags = [xp.any(~xp.isfinite(a)) for a in sums]
        call.checks.add(
            functools.reduce(lambda a, b: a | b, flags),
            lambda: _raise_overflow(ns.float_dtype_name(xp, dtype) or "float64"),
        )
    if call.traced_bad:
        _poison(out, functools.reduce(lambda a, b: a | b, call.traced_bad))
    if concrete:
        call.checks.run(xp)
    return out


def _poison(out: Counts, bad: Array) -> None:
    """NaN in every floating result when ``bad`` (0-d) is set (see below).

    Traced costs or thresholds, and NaN logits where no check reads them: what a check
    would refuse gives NaN while tracing, as in the losses: the scores, the expected cost
    and summed weights. Integer counts cannot hold NaN; they carry the flag to the scores
    computed from them (:attr:`Counts.poison`).
    """
    xp = out.xp
    flag = xp.astype(bad, out.dtype)
    out.poison = xp.where(bad, flag * math.nan, flag)  # NaN or 0, on the counts' device
    if out.cost is not None:
        out.cost = out.cost + out.poison
    if v.is_floating(xp, out.tp.dtype):  # summed weights
        out.tp, out.fp, out.fn = (a + out.poison for a in (out.tp, out.fp, out.fn))
        if out.tn is not None:
            out.tn = out.tn + out.poison
        if out.matrix is not None:
            out.matrix = out.matrix + out.poison
        if out.weight is not None:
            out.weight = out.weight + out.poison


def _raise_overflow(dtype: str) -> None:
    raise v.value_error(
        "sample_weight",
        f"weights whose sums fit in {dtype} (rescale them: the metrics do not depend on "
        "their scale)",
        "sums of sample weights that overflow to inf",
    )


# ----------------------------------------------------------------------------- sigmoid logits


def _sigmoid(c: mi.Call) -> Counts:
    xp = c.xp
    if c.costs is not None and not c.need_costs:
        raise v.value_error(
            "costs",
            "None for sigmoid logits (labels with the logits' shape): decide with "
            "threshold=wxent.cost_threshold(...) instead",
            "a cost matrix",
        )
    if c.ignore_index is not None:
        raise v.value_error(
            "ignore_index",
            "None for sigmoid logits (labels with the logits' shape); use ignore_label",
            f"ignore_index={c.ignore_index!r}",
        )
    ignore = v.check_optional_label_value("ignore_label", c.ignore_label)
    labels = c.labels
    if not (
        v.is_floating(xp, labels.dtype)
        or v.is_integer(xp, labels.dtype)
        or v.is_bool(xp, labels.dtype)
    ):
        raise v.type_error(
            "labels", "a real or boolean dtype", f"labels with dtype {v.dtype_name(labels.dtype)}"
        )
    shape = v.static_shape(c.logits)
    binary = len(shape) == 1
    k = 1 if binary else shape[c.axis]
    if k is None:
        raise v.value_error(
            "logits", "a known number of labels along class_axis", f"logits of shape {shape}"
        )
    cm = None
    if c.need_costs:
        cm, t = mi.binary_costs(c)
    else:
        t = mi.threshold_array(c, k, binary)
    z = labels if c.numpy else xp.astype(labels, c.dtype)
    held = v.label_marker(ignore, labels.dtype)  # -0.1 as float16 labels hold it

    def flat(a: Array) -> Array:
        if binary:
            return xp.reshape(a, (-1, 1))
        if c.axis != len(shape) - 1:
            a = ns.moveaxis(xp, a, c.axis, -1)
        return xp.reshape(a, (-1, k))

    x, z = flat(c.x), flat(z)
    pos, neg = z == 1, z == 0
    if not c.concrete:  # (no check reads it) a NaN logit counts nowhere; the scores are NaN
        nan = xp.isnan(x)
        pos, neg = pos & ~nan, neg & ~nan
        c.traced_bad.append(xp.any(nan))
    if c.concrete:
        bad = ~(pos | neg) if ignore is None else ~(pos | neg) & (z != held)
        c.checks.add(bad, lambda: _bad_binary_labels(c.given, ignore, held))
    sample_shape = shape if binary else shape[: c.axis] + shape[c.axis + 1 :]
    allowed: list[tuple[tuple[Any, ...], Any]] = [((), lambda w: w), (shape, flat)]
    if not binary:
        allowed.append((sample_shape, lambda w: xp.reshape(w, (-1, 1))))
    w = mi.weights(c, allowed)
    pred = x > t
    cd = c.count_dtype(w is not None)

    def total(mask: Array) -> Array:
        m = xp.astype(mask, cd)
        return xp.sum(m if w is None else m * w, axis=0)

    tp, fp = total(pos & pred), total(neg & pred)
    fn, tn = total(pos & ~pred), total(neg & ~pred)
    out = Counts(xp, "binary" if binary else "multilabel", c.numpy, c.dtype, tp, fp, fn, tn)
    if c.matrix or cm is not None:
        m = xp.stack([xp.stack([tn, fp], axis=-1), xp.stack([fn, tp], axis=-1)], axis=-2)
        out.matrix = m[0, ...] if binary else m
        if cm is not None:
            mf = xp.astype(m, c.dtype)
            out.cost = xp.sum(mf * cm)
            out.weight = xp.sum(mf)
    return out


def _bad_binary_labels(labels: Array, ignore: float | None, held: float | None) -> None:
    z = ns.to_numpy(labels).astype(np.float64)
    bad = ~((z == 0) | (z == 1))
    if ignore is not None:
        bad &= z != held
    hint = "" if ignore is None else f" or ignore_label={ignore:g}"
    raise v.value_error(
        "labels",
        f"0/1 labels{hint} for sigmoid logits (labels with the logits' shape)",
        f"label value {float(z[bad].ravel()[0])!r} ({int(bad.sum())} such label(s))",
    )


# ----------------------------------------------------------------------------- softmax logits


def _softmax(c: mi.Call) -> Counts:
    xp, labels = c.xp, c.labels
    shape = v.static_shape(c.logits)
    sample_shape = shape[: c.axis] + shape[c.axis + 1 :]
    if not v.is_integer(xp, labels.dtype) or not v.shapes_match(
        v.static_shape(labels), sample_shape
    ):
        raise v.value_error(
            "labels",
            f"0/1 labels of the logits' shape {v.shape_str(shape)} (sigmoid logits) or "
            f"integer class indices of shape {v.shape_str(sample_shape)} (softmax logits, "
            f"class_axis={c.axis})",
            f"labels of shape {v.shape_str(v.static_shape(labels))} and dtype "
            f"{v.dtype_name(c.given.dtype)}",
        )
    t = c.threshold
    if ns.is_array(t) or not (
        isinstance(t, numbers.Real) and not isinstance(t, bool) and float(t) == 0.0
    ):
        raise v.value_error(
            "threshold",
            "the default for softmax logits (integer labels), which are decided by argmax "
            "or by costs",
            f"threshold={v._short(t)}",
        )
    if c.ignore_label is not None:
        raise v.value_error(
            "ignore_label",
            "None for softmax logits (integer labels); use ignore_index",
            f"ignore_label={c.ignore_label!r}",
        )
    ignore = v.check_optional_int("ignore_index", c.ignore_index)
    n = shape[c.axis]
    if n is None:
        raise v.value_error(
            "logits", "a known number of classes along class_axis", f"logits of shape {shape}"
        )
    cm = None
    if c.costs is not None:
        costs = mi.own_framework("costs", c.costs, c.logits)
        foreign = ns.is_array(costs) and not isinstance(costs, np.ndarray)
        inputs = c.inputs(n)
        cm = matrix_for("costs", costs, inputs, warn=not ns.torch_is_compiling())
        if prep.traced(costs, inputs):  # NaN where a check would fail: the scores too
            c.traced_bad.append(xp.any(xp.isnan(cm)))
        if c.concrete and foreign:
            c.checks.add(
                ~(xp.isfinite(cm) & (cm >= 0)),
                lambda: check_cost_matrix(
                    ns.to_numpy(costs),
                    num_classes=n,
                    warn=False,
                    dtype=ns.float_dtype_name(xp, c.dtype),
                ),
            )
        rows = c.x if c.axis == len(shape) - 1 else ns.moveaxis(xp, c.x, c.axis, -1)
        rows = xp.reshape(rows, (-1, n))  # 2-D: no reshape with two unknown dimensions
        if c.concrete:  # a row of only -inf has no probabilities, so no decision
            c.checks.add(
                xp.max(rows, axis=1) == -math.inf,
                lambda: v.check_no_infinite_rows(ns.to_numpy(c.logits), c.axis),
            )
        native = ns.is_torch_namespace(xp) or ns.is_jax_namespace(xp) or ns.is_tf_namespace(xp)
        quiet = nullcontext() if native else np.errstate(divide="ignore", invalid="ignore")
        with quiet:  # NumPy's warnings at such a row (NumPy, array-api-strict)
            if _float64_risks_of_narrow(rows, cm):  # float32 product, float64 decisions
                p = _core_cost.softmax(rows, axis=1, xp=xp)
                given = (
                    costs if isinstance(costs, np.ndarray) and costs.dtype == np.float32 else None
                )
                pred = bayes_decision_float64(p, cm, given)
            else:
                pred = _core_cost.bayes_decision(rows, cm, axis=1, xp=xp)
    else:
        pred = xp.argmax(c.x, axis=c.axis)
    index = xp.int64 if c.numpy or ns.is_torch_namespace(xp) or ns.is_tf_namespace(xp) else None
    index = index or c.count_dtype(False)
    y = xp.reshape(labels, (-1,))
    if not mi.holds(labels, n):  # uint8 labels of 257 classes: `y < 257` would cast 257 to 1
        y = xp.astype(y, index)  # (a narrow integer dtype: the widening is exact)
    ignore = shown = mi.ignore_in_dtype(ignore, c.given)  # (in the dtype the labels came in)
    if ignore is not None and ignore >= 1 << 63 and c.given is not labels:  # PyTorch uint64,
        # whose widening saturates: compared by their bits as int64 (the ignored and the
        # other labels of 2**63 and above negative)
        y = xp.reshape(c.given.view(sys.modules["torch"].int64), (-1,))
        ignore -= 1 << 64
    elif ignore is not None and ignore >= 1 << 63 and ns.is_jax_namespace(xp):  # uint64 (x64):
        ignore = xp.asarray(ignore, dtype=y.dtype)  # JAX takes no Python int beyond int64
    in_range = (y >= 0) & (y < n)
    keep = in_range if ignore is None else in_range & (y != ignore)
    if not c.concrete:  # (no check reads it) a row holding a NaN logit has no decision (the
        # framework's argmax of NaN differs): it counts nowhere, and the scores are NaN
        nan_row = xp.reshape(xp.any(xp.isnan(c.x), axis=c.axis), (-1,))
        keep = keep & ~nan_row
        c.traced_bad.append(xp.any(nan_row))
    if c.concrete:
        bad = ~in_range if ignore is None else ~in_range & (y != ignore)
        c.checks.add(
            bad,
            lambda: v.check_class_indices(ns.to_numpy(c.given), n, shown),  # no int64 wrap
        )
    y = xp.where(keep, xp.astype(y, index), xp.zeros_like(xp.astype(y, index)))
    p = xp.astype(xp.reshape(pred, (-1,)), index)
    w = mi.weights(c, [((), lambda w: w), (sample_shape, lambda w: xp.reshape(w, (-1,)))])
    cd = c.count_dtype(w is not None)
    wk = xp.astype(keep, cd) if w is None else xp.astype(keep, cd) * w
    tp = scatter_add(xp, y, xp.astype(y == p, cd) * wk, n)
    support = scatter_add(xp, y, wk, n)
    predicted = scatter_add(xp, p, wk, n)
    out = Counts(xp, "multiclass", c.numpy, c.dtype, tp, predicted - tp, support - tp, None)
    if c.matrix:
        if n * n > 1 << 23 and ns.on_host(c.logits):  # 64 MiB of host counts or more:
            # refused in wxent's words before NumPy's MemoryError or the allocator's
            v.allocate(
                "logits",
                f"logits of {n} classes, whose confusion matrix is {n} x {n} (without one: "
                "precision, recall or wxent.MetricAccumulator(confusion=False))",
                (n, n),
            )
        out.matrix = xp.reshape(scatter_add(xp, y * n + p, wk, n * n), (n, n))
    if c.need_costs and cm is not None:
        wf = xp.astype(wk, c.dtype)
        out.cost = xp.sum(xp.take(xp.reshape(cm, (-1,)), y * n + p) * wf)
        out.weight = xp.sum(wf)
    return out


def _float64_risks_of_narrow(rows: Array, costs: Array) -> bool:
    """Whether NumPy's risks are float64 products of narrower probabilities."""
    return (
        type(rows) is np.ndarray
        and rows.dtype in (np.float16, np.float32)
        and type(costs) is np.ndarray
        and costs.dtype == np.float64
    )


def scatter_add(xp: Any, index: Array, values: Array, n: int) -> Array:
    """``out[k] = sum(values[index == k])`` for ``k < n``, in ``values``' framework."""
    if ns.is_numpy_namespace(xp):
        out = np.bincount(index, weights=values, minlength=n)
        return out.astype(values.dtype) if values.dtype.kind in "iu" else out
    if ns.is_torch_namespace(xp):
        torch = sys.modules["torch"]
        zeros = torch.zeros(n, dtype=values.dtype, device=values.device)
        return zeros.index_add(0, index, values)
    if ns.is_jax_namespace(xp):
        return _jax_scatter_add()(index, values, n)
    if ns.is_tf_namespace(xp):
        return sys.modules["tensorflow"].math.unsorted_segment_sum(values, index, n)
    hits = xp.astype(xp.expand_dims(index, axis=1) == xp.arange(n, dtype=index.dtype), values.dtype)
    return xp.sum(hits * xp.expand_dims(values, axis=1), axis=0)


@functools.cache
def _jax_scatter_add() -> Any:
    """JAX's scatter-add as one compiled program per shape (``n`` static).

    Eagerly, ``.at[index].add`` builds its gather indices operation by operation: about
    0.9 ms per call at 64 labels, three of them per metric call; compiled, one dispatch.
    Inside a caller's ``jit`` it is inlined as before.
    """
    import jax

    def add(index: Array, values: Array, n: int) -> Array:
        return jax.numpy.zeros(n, dtype=values.dtype).at[index].add(values)

    return jax.jit(add, static_argnums=2)


# ----------------------------------------------------------------------------- scores


def check_average(average: Any) -> None:
    """``average`` is ``"micro"``, ``"macro"`` or ``None``."""
    if average not in AVERAGES or isinstance(average, bool):
        raise v.value_error("average", 'one of "micro", "macro", None', f"average={average!r}")


def safe_divide(xp: Any, num: Array, den: Array) -> Array:
    """``num / den``, 0 where ``den == 0``."""
    nonzero = den != 0
    return xp.where(nonzero, num / xp.where(nonzero, den, xp.ones_like(den)), xp.zeros_like(num))


def scores(counts: Counts, metric: str, average: Any, beta: float = 1.0) -> Any:
    """Precision, recall or F-beta from counts, averaged (framework arrays; NumPy floats)."""
    xp, dtype = counts.xp, counts.dtype
    tp, fp, fn = (xp.astype(a, dtype) for a in (counts.tp, counts.fp, counts.fn))
    a, b = fbeta_shares(beta)
    if metric == "precision":
        num, den = tp, tp + fp
    elif metric == "recall":
        num, den = tp, tp + fn
    else:
        num, den = tp, tp + a * fn + b * fp
    if average == "micro":
        result = safe_divide(xp, xp.sum(num), xp.sum(den))
    else:
        result = safe_divide(xp, num, den)
        if average == "macro":
            present = (tp + fp + fn) > 0
            chosen = xp.where(present, result, xp.zeros_like(result))
            result = safe_divide(xp, xp.sum(chosen), xp.sum(xp.astype(present, dtype)))
    if counts.poison is not None:
        result = result + counts.poison
    if counts.numpy and average is not None:
        return float(result)
    return result


# ----------------------------------------------------------------------------- accumulation


def parts(counts: Counts, confusion: bool) -> dict[str, Any]:
    """The arrays of ``counts`` an accumulator sums (the matrix only with ``confusion``)."""
    names = ("tp", "fp", "fn", "tn", "cost", "weight") + (("matrix",) if confusion else ())
    return {n: getattr(counts, n) for n in names if getattr(counts, n) is not None}


def combine(first: Counts, sums: Any) -> tuple[Counts, dict[str, Any]]:
    """Integer and float sums added (in the score dtype where both exist)."""
    total: dict[str, Any] = {}
    for part in sums:
        for name, value in part.items():
            if name in total:
                value = first.xp.astype(total[name], first.dtype) + first.xp.astype(
                    value, first.dtype
                )
            total[name] = value
    counts = Counts(
        first.xp, first.kind, first.numpy, first.dtype,
        total["tp"], total["fp"], total["fn"], total.get("tn"),
    )  # fmt: skip
    return counts, total
