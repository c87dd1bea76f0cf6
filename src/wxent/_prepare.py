"""Shared steps of the delegation layer: arguments in, core-ready arrays out.

Every public loss runs the same five steps — validate the static arguments, find the
namespace, move weights onto the logits' framework/device/dtype, call the core, reduce —
and this module holds the steps so that each loss is a short composition of them.

* :func:`sigmoid_inputs` / :func:`softmax_inputs` / :func:`logits_inputs` prepare inputs;
  :func:`per_class` / :func:`sample_weight` / :func:`config_array` move configuration.
* :func:`finish` masks, reduces, casts back and settles the call's value checks: device-side
  flags, read with "the result is NaN" as one scalar.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from wxent import _jax_checks, _reduction, _tf_checks
from wxent import _namespace as ns
from wxent import _validation as v
from wxent import _value_checks as checks
from wxent._config import _same_framework as _same_framework  # re-exported below
from wxent._config import (  # the configuration mover, as prep.<name>
    config_array as config_array,
)
from wxent._config import (  # the configuration mover, re-exported as prep.<name>
    config_inputs as config_inputs,
)
from wxent._config import (
    host_number as host_number,
)
from wxent._config import (
    per_class as per_class,
)
from wxent._config import (
    poisoned as poisoned,
)
from wxent._config import (
    sample_weight as sample_weight,
)
from wxent._config import (
    traced as traced,
)
from wxent._inputs import IndexInputs as IndexInputs
from wxent._inputs import Inputs as Inputs  # re-exported: prep.Inputs
from wxent._inputs import MaskedInputs as MaskedInputs
from wxent._inputs import cast as _cast
from wxent._inputs import cast as cast  # re-exported: prep.cast
from wxent._inputs import compute_dtype as _compute_dtype
from wxent._inputs import counted as counted
from wxent._inputs import once
from wxent._inputs import quietly as quietly
from wxent._inputs import shield as shield
from wxent._inputs import weigh as weigh
from wxent._inputs import zero_rows as zero_rows
from wxent._types import Array


def host_labels(labels: Any) -> np.ndarray:
    """Python numbers, lists or tuples of them (or NumPy scalars) as a NumPy array.

    Raises:
        TypeError: for anything else (text, ragged lists).
    """
    try:
        host = np.asarray(labels)
    except ValueError:
        host = None
    if host is None or host.dtype.kind not in "biuf":
        raise v.type_error(
            "labels", "numbers, a list of numbers or an array", f"labels={v._short(labels)}"
        )
    return host


def labels_array(labels: Any, logits: Array) -> Array:
    """``labels`` as an array of the logits' framework.

    Python lists, tuples and numbers (and NumPy scalars, as ``labels[i]`` gives them) are
    converted, as weights are; arrays of another framework are an error.
    """
    if isinstance(labels, (list, tuple, int, float, np.generic)):
        return ns.to_device(ns.namespace(logits), host_labels(labels), logits, name="labels")
    v.check_labels_array(labels, logits)
    v.check_same_device("labels", labels, logits)
    return labels


def _begin(
    logits: Array, labels: Array, class_axis: Any, reduction: Any, validate: Any
) -> tuple[Any, Array, int, bool, bool, bool]:
    xp = v.check_logits(logits)
    labels = labels_array(labels, logits)
    v.check_reduction(reduction)
    validate = v.check_bool("validate", validate)
    axis = v.check_class_axis(class_axis, len(logits.shape))
    readable = ns.is_concrete(logits) and ns.is_concrete(labels)
    return xp, labels, axis, validate and readable, validate, readable


def sigmoid_inputs(
    logits: Array,
    labels: Array,
    *,
    class_axis: Any,
    ignore_label: Any,
    label_smoothing: Any,
    reduction: Any,
    validate: Any,
) -> Inputs:
    """Check and prepare the inputs of a sigmoid-family loss.

    Labels have the logits' shape, any real or boolean dtype, values in ``[0, 1]`` or
    equal to ``ignore_label``. Ignored elements become label 0 and leave the mask.
    Label smoothing ``z * (1 - eps) + eps / 2`` is *not* applied here (the weights
    are computed from the unsmoothed labels): see :func:`smooth_binary`.
    """
    xp, labels, axis, concrete, check, readable = _begin(
        logits, labels, class_axis, reduction, validate
    )
    v.check_fraction("label_smoothing", label_smoothing)
    ignore = v.check_optional_label_value("ignore_label", ignore_label)
    shape = v.static_shape(logits)
    if not v.shapes_match(v.static_shape(labels), shape):
        raise v.value_error(
            "labels",
            f"the shape of `logits` {v.shape_str(shape)} for a sigmoid loss",
            f"labels of shape {v.shape_str(v.static_shape(labels))}",
        )
    if not (
        v.is_floating(xp, labels.dtype)
        or v.is_integer(xp, labels.dtype)
        or v.is_bool(xp, labels.dtype)
    ):
        raise v.type_error(
            "labels", "a real or boolean dtype", f"labels with dtype {v.dtype_name(labels.dtype)}"
        )
    dtype = _compute_dtype(xp, logits.dtype)
    make_valid = None
    held = v.label_marker(ignore, labels.dtype)  # -0.1 as float16 labels hold it
    if ignore is not None:  # compared as given (floating labels, torch): nothing is cast
        direct = v.is_floating(xp, labels.dtype) or ns.is_torch_namespace(xp)
        make_valid = once(lambda: (labels if direct else _cast(xp, labels, dtype)) != held)
    inp = MaskedInputs(
        xp=xp,
        raw_logits=logits,
        out_dtype=logits.dtype,
        axis=axis,
        num_classes=shape[axis],
        validate=concrete,
        raw_labels=labels,
        given_valid=None,
        indices=False,
        loss_shape=shape,
        check_config=check,
        concrete=readable,
        compute_dtype=dtype,
        label_dtype=dtype,  # cast, ignored entries 0, when the generic path reads them
        make_valid=make_valid,  # the mask too (a fused kernel compares the labels itself)
    )
    _probe(inp, logits)
    if concrete and not v.is_bool(xp, labels.dtype):  # booleans are always in [0, 1]
        flag = (
            checks.RangeCheck(xp, lambda: labels, 0, 1)
            if make_valid is None
            else lambda: _unit_interval_flag(xp, labels, inp.valid)
        )
        inp.add_check(
            flag,
            lambda: v.check_unit_interval_labels(
                ns.to_numpy(labels).astype(np.float64, copy=False), ignore, held
            ),
            key="labels",
        )
    return inp


def _unit_interval_flag(xp: Any, labels: Array, valid: Array | None) -> Array | None:
    """True when a valid label lies outside ``[0, 1]`` or is NaN; the labels are not cast."""
    if valid is None:
        return v.outside_flag(xp, labels, 0, 1)  # int bounds: fit every real dtype
    torch = ns.torch_of(xp)
    if torch is not None:  # one selection and a minimum and maximum, not five masks
        return v.outside_flag(xp, torch.where(valid, labels, 0), 0, 1)
    inside = xp.logical_and(labels >= 0, labels <= 1)  # False for NaN
    return xp.any(xp.logical_and(valid, xp.logical_not(inside)))


def smooth_binary(z: Array, label_smoothing: float) -> Array:
    """``z * (1 - eps) + eps / 2``."""
    if label_smoothing == 0.0:
        return z
    return z * (1.0 - label_smoothing) + 0.5 * label_smoothing


def class_indices(
    xp: Any, labels: Array, ignore: int | None, num_classes: int | None = None
) -> tuple[Array, Array | None]:
    """Integer labels ready to gather with, and the mask of the ones not ignored.

    Ignored entries become index 0 (their loss is masked later). torch gathers with int64
    only and TensorFlow with int32/int64 only, so other integer dtypes are cast. Labels
    whose dtype cannot hold ``num_classes`` (uint8 labels of 256 classes or more, int8 of
    128) are widened too: clamping them into ``[0, C)`` or comparing them with ``C``
    would cast ``C - 1`` or ``C`` to their dtype, where it wraps around (JAX).
    """
    idx = labels
    name = v.dtype_name(labels.dtype)
    if (ns.is_torch_namespace(xp) and name != "int64") or (
        ns.is_tf_namespace(xp) and name not in ("int32", "int64")
    ):
        idx = xp.astype(labels, xp.int64)
    elif (  # (int64 labels hold every count; int() would fix a symbolic torch dimension)
        num_classes is not None
        and name != "int64"
        and not _representable(int(num_classes), labels.dtype)
    ):
        wide = xp.int32 if ns.is_jax_namespace(xp) and num_classes < 2**31 else xp.int64
        idx = xp.astype(labels, wide)
    valid = None
    if ignore is not None and _representable(ignore, labels.dtype):
        # An ignore_index outside the labels' dtype range ignores nothing (comparing
        # with it would wrap around and ignore real labels).
        if ignore >= 2**63 and ns.is_jax_namespace(xp):  # uint64 (x64): JAX takes no
            # Python int beyond int64, so the marker is given in the labels' dtype
            valid = idx != xp.asarray(ignore, dtype=idx.dtype)
        else:
            valid = idx != ignore
        torch = ns.torch_of(xp)
        idx = torch.where(valid, idx, 0) if torch is not None else xp.where(valid, idx, 0)
    return idx, valid


#: The range of each integer dtype (a plain table: traceable by ``torch.compile``).
_INTEGER_RANGES = {
    f"{kind}int{bits}": ((0, 2**bits - 1) if kind else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1))
    for kind in ("", "u")
    for bits in (8, 16, 32, 64)
}


def _representable(value: int, dtype: Any) -> bool:
    low, high = _INTEGER_RANGES.get(v.dtype_name(dtype), (value, value))
    return low <= value <= high


def _pending_index_check(inp: IndexInputs, ignore: int | None, name: str = "labels") -> None:
    """Record the range check of class indices (ignored entries are 0 there: never bad).

    Generic paths gather with :attr:`IndexInputs.labels`, clamped into ``[0, C)`` while
    checking, so every gather is memory-safe until the check raises; a fused kernel
    checks the labels it reads itself and replaces the flag (key ``name``).
    """
    num_classes = inp.num_classes
    if not inp.validate or num_classes is None:
        return
    xp, labels = inp.xp, inp.raw_labels
    low, high = _INTEGER_RANGES.get(v.dtype_name(labels.dtype), (-1, -1))
    if low >= 0 and high < num_classes:  # (uint8 labels of 256 classes or more)
        return  # no label of their dtype lies outside [0, C): nothing to check
    inp.add_check(
        checks.RangeCheck(xp, lambda: inp.indices_unclamped, 0, int(num_classes) - 1),
        lambda: v.check_class_indices(ns.to_numpy(labels), int(num_classes), ignore, name),
        key=name,
    )


def softmax_inputs(
    logits: Array,
    labels: Array,
    *,
    class_axis: Any,
    ignore_index: Any,
    label_smoothing: Any,
    reduction: Any,
    validate: Any,
) -> Inputs:
    """Check and prepare the inputs of a softmax-family loss.

    Integer labels are class indices, shape of ``logits`` without the class axis;
    floating labels are probabilities, shape of ``logits``. Ignored indices become 0
    and leave the mask; ``ignore_index`` does not apply to probability labels.
    """
    xp, labels, axis, concrete, check, readable = _begin(
        logits, labels, class_axis, reduction, validate
    )
    v.check_fraction("label_smoothing", label_smoothing)
    ignore = v.check_optional_int("ignore_index", ignore_index)
    shape = v.static_shape(logits)
    sample_shape = shape[:axis] + shape[axis + 1 :]
    label_shape = v.static_shape(labels)
    num_classes = shape[axis]
    v.check_has_classes(shape, axis)
    dtype = _compute_dtype(xp, logits.dtype)

    def make(
        prepared: Array, valid: Array | None, indices: bool, cls: Any = Inputs, **kw: Any
    ) -> Any:
        return cls(
            xp, logits, logits.dtype, axis, num_classes, concrete, prepared, valid, indices,
            sample_shape, check, readable, softmax=True, compute_dtype=dtype, **kw,
        )  # fmt: skip

    if v.is_integer(xp, labels.dtype):
        if not v.shapes_match(label_shape, sample_shape):
            hint = ""
            if v.shapes_match(label_shape, shape):
                hint = " (one-hot or probability labels must have a floating dtype)"
            raise v.value_error(
                "labels",
                f"integer class indices of shape {v.shape_str(sample_shape)} (the shape of "
                f"`logits` {v.shape_str(shape)} without class_axis={axis}) or floating "
                f"probabilities of shape {v.shape_str(shape)}{hint}",
                f"integer labels of shape {v.shape_str(label_shape)}",
            )
        counted = ignore if ignore is not None and _representable(ignore, labels.dtype) else None
        inp = make(
            labels, None, True, IndexInputs, ignore_index=counted,
            make_indices=once(lambda: class_indices(xp, labels, ignore, num_classes)),
        )  # fmt: skip
        _pending_index_check(inp, ignore)
        _probe(inp, logits)
        return inp
    if v.is_floating(xp, labels.dtype):
        if not v.shapes_match(label_shape, shape):
            raise v.value_error(
                "labels",
                f"floating probabilities of shape {v.shape_str(shape)} (the shape of `logits`) "
                f"or integer class indices of shape {v.shape_str(sample_shape)}",
                f"floating labels of shape {v.shape_str(label_shape)}",
            )
        inp = make(labels, None, False)
        inp.label_dtype = dtype  # cast when the generic path reads them (never by a kernel)
        if concrete:
            checks.pending_probability_check(inp, labels)
        _probe(inp, logits)
        return inp
    raise v.type_error(
        "labels",
        "integer class indices or floating probabilities",
        f"labels with dtype {v.dtype_name(labels.dtype)}",
    )


def _probe(inp: Inputs, logits: Array) -> None:
    """While checking, flag logits that look like probabilities (see ``probability_flag``)."""
    if inp.validate:
        bits = 16 if v.dtype_name(logits.dtype) in ("float16", "bfloat16") else 32
        # Computed by the read, after the loss is launched (as the deferred checks).
        inp.suspect = checks.Probe(inp.xp, logits, inp.axis, softmax=inp.softmax, bits=bits)


def logits_inputs(logits: Array, *, class_axis: Any, validate: bool = True) -> Inputs:
    """Prepared inputs of logits alone (decisions, post-hoc adjustments): no labels.

    Configuration then moves onto the logits as in a loss; the loss shape is the logits'
    shape without the class axis.
    """
    xp = v.check_logits(logits)
    validate = v.check_bool("validate", validate)
    axis = v.check_class_axis(class_axis, len(logits.shape))
    shape = v.static_shape(logits)
    dtype = _compute_dtype(xp, logits.dtype)
    readable = ns.is_concrete(logits)
    return Inputs(
        xp=xp,
        raw_logits=logits,
        compute_dtype=dtype,
        out_dtype=logits.dtype,
        axis=axis,
        num_classes=shape[axis],
        validate=validate and readable,
        raw_labels=None,
        given_valid=None,
        indices=False,
        loss_shape=shape[:axis] + shape[axis + 1 :],
        check_config=validate,
        concrete=readable,
    )


def fused(inp: Inputs, kernel: Callable[..., Any], logits: Array, **kwargs: Any) -> Any:
    """A fused kernel's loss, settled (``kernel(logits, inp, **kwargs)``), or ``None``.

    ``kernel`` is one of :mod:`wxent._fastpaths.select`'s losses, which return ``None``
    where no kernel takes the call; a pending :func:`wxent.loss_terms` request takes the
    generic path too (the terms come from its formulas).
    """
    if _reduction.terms_pending():
        return None
    result = kernel(logits, inp, **kwargs)
    return None if result is None else settle(inp, result)


def settle(inp: Inputs, result: Array) -> Array:
    """Settle the pending checks of a call without a loss (one read; NaN in ``result``).

    A NaN in ``result`` comes from a NaN logit, a row of only ``-inf`` (softmax), or a
    NaN that a check explains.
    """
    if not inp.validate:
        return result
    flags = []
    if inp.word is None and ns.torch_of(inp.xp) is not None:  # read by _read_torch
        flags = [_result_flag(inp.xp, result, nan_only=True)]
    elif inp.word is None:  # a fused kernel's word holds the result's NaN flag
        flags = [v.nan_flag(inp.xp, result)]
    if _read(inp, flags, inp.checks is not None) & 1:
        _logits_errors(inp)
    return result


def _read(inp: Inputs, flags: list[Array], checked: bool) -> int:
    """The one host read of a call: its flags OR-ed (bit 0), the probability look (bit 1).

    ``checked``: the pending checks of ``inp`` join ``flags``.

    Bit 0 set: the pending checks raise their messages; bit 1 warns
    (:class:`wxent.LogitsWarning`). The device work in ``inp.launches`` is queued behind
    the read (see :func:`wxent._namespace.read_int`). A fused kernel's flag word
    (``inp.word``) already holds the flags it folded: what is left is OR-ed into it.
    """
    xp = inp.xp
    torch = ns.torch_of(xp)
    if torch is not None and inp.word is None:
        code = _read_torch(torch, inp, flags, checked)
    elif inp.word is None and ns.is_tf_namespace(xp):
        code = _read_tf(inp, flags, checked)
    else:
        if checked and inp.checks is not None:
            flags = inp.checks.flags + flags
        suspect = inp.suspect() if callable(inp.suspect) else inp.suspect
        suspect = suspect if inp.validate else None
        if ns.is_jax_namespace(xp) and inp.word is None:  # OR and bits: one compiled call
            code = ns.read_int(_jax_checks.status_code(flags, suspect), inp.launches)
        else:
            flag = _any(xp, flags) if flags else None
            code = checks.status(xp, flag, suspect, inp.launches, word=inp.word)
    if code & 1 and inp.validate and inp.checks is not None:
        inp.checks.diagnose()
    if code & 2:
        checks.warn_probabilities(inp.logits_name, inp.softmax)
    return code


class NanOf:
    """A TensorFlow call's flag "``x`` holds a NaN", computed by the call's read.

    :func:`_read_tf` computes it in the graph of the call's other checks (eagerly it would
    be two dispatches of its own).
    """

    __slots__ = ("x",)

    def __init__(self, x: Array) -> None:
        self.x = x


def _flags_to_read(inp: Inputs, flags: list[Any], checked: bool) -> Iterator[Any]:
    """The pending checks of ``inp`` (when ``checked``), then ``flags``, for a call's read."""
    if checked and inp.checks is not None:
        yield from inp.checks.pending()
    yield from flags


def _read_tf(inp: Inputs, flags: list[Any], checked: bool) -> int:
    """:func:`_read` of eager TensorFlow tensors: the checks and the status word in one graph.

    The pending checks that :mod:`wxent._tf_checks` knows (label ranges, weights'
    bounds, NaN flags of :class:`NanOf`, the probability look) become entries of a plan
    computed by one ``tf.function`` call; other deferred checks are called here, and
    their flags, and flags already computed, join it as 0-d flags. The same operations
    as the eager checks: the same bits.
    """
    xp = inp.xp
    plan: list[tuple[Any, ...]] = []
    arrays: list[Any] = []

    def add(flag: Any) -> None:
        if isinstance(flag, checks.RangeCheck):
            x = flag.get()
            if checks._size(x) != 0:
                plan.append(_tf_checks.range_entry(flag.low, flag.high))
                arrays.append(x)
            return
        if isinstance(flag, checks.ConfigCheck):
            if checks._size(flag.x) != 0:
                plan.append(_tf_checks.config_entry(flag.positive, flag.at_most_one))
                arrays.append(flag.x)
            return
        if isinstance(flag, checks.ProbabilityCheck):
            y = flag.get()
            if checks._size(y) != 0:
                plan.append((_tf_checks.ROWS, int(flag.axis), float(flag.tol)))
                arrays.append(y)
            return
        if isinstance(flag, NanOf):
            plan.append((_tf_checks.NAN,))
            arrays.append(flag.x)
            return
        if callable(flag):
            flag = flag()
        if flag is not None:
            plan.append((_tf_checks.FLAG,))
            arrays.append(xp.asarray(flag))

    for flag in _flags_to_read(inp, flags, checked):
        add(flag)
    suspect = inp.suspect if inp.validate else None
    if isinstance(suspect, checks.Probe):
        index = checks.probe(suspect.logits, suspect.axis, softmax=suspect.softmax)
        if index is not None:
            plan.append(_tf_checks.looks_entry(index, suspect.axis, suspect.softmax, suspect.bits))
            arrays.append(suspect.logits)
    elif suspect is not None:
        flag = suspect() if callable(suspect) else suspect
        if flag is not None:
            plan.append((_tf_checks.SUSPECT,))
            arrays.append(xp.asarray(flag))
    return ns.read_int(_tf_checks.status_code(plan, arrays), inp.launches)


def _read_torch(torch: Any, inp: Inputs, flags: list[Array], checked: bool) -> int:
    """:func:`_read` of PyTorch arrays: flags and the numbers of judged checks, stacked.

    One transfer of a few values (``torch.stack`` promotes the flags and the numbers to
    one dtype, exactly: see :class:`~wxent._value_checks.Judged`), judged on the host: no
    device operations to compare the numbers of the range checks and the probability
    look, nor to OR the flags, first.
    """
    parts: list[Array] = []
    # (first part, count, bit, judge): the bit is set when judge(values of the parts)
    judged: list[tuple[int, int, int, Callable[[list[Any]], bool]]] = []

    def add(flag: Any) -> None:
        if isinstance(flag, checks.Judged):
            stats = flag.stats()
            if stats is not None:
                if stats:  # () when there is nothing to check (an empty array)
                    judged.append((len(parts), len(stats), 1, flag.wrong))
                    parts.extend(stats)
                return
        if callable(flag):
            flag = flag()
        if flag is not None:
            judged.append((len(parts), 1, 1, _is_set))
            parts.append(flag if flag.ndim == 0 else flag.reshape(()))

    for flag in _flags_to_read(inp, flags, checked):
        add(flag)
    suspect = inp.suspect if inp.validate else None
    if isinstance(suspect, checks.Probe):
        stats = suspect.stats()
        if stats is not None:
            probe, dtype = suspect, stats[0].dtype
            judged.append((len(parts), len(stats), 2, lambda got: probe.judge(got, dtype)))
            parts.extend(stats)
    elif suspect is not None:
        flag = suspect() if callable(suspect) else suspect
        if flag is not None:
            judged.append((len(parts), 1, 2, _is_set))
            parts.append(flag)
    if not parts:
        ns.read_torch_values(torch.zeros(0), inp.launches)  # (the queued work runs)
        return 0
    values = ns.read_torch_values(torch.stack(parts), inp.launches)
    code = 0
    for first, count, bit, judge in judged:
        if not code & bit and judge(values[first : first + count]):
            code |= bit
    return code


def _is_set(values: list[Any]) -> bool:
    return bool(values[0])


def _logits_errors(inp: Inputs) -> None:
    """Raise for what a NaN result leaves: NaN logits, or (softmax) a row of only -inf."""
    logits = ns.to_numpy(inp.logits)
    v.check_no_nan(inp.logits_name, logits)
    if inp.softmax:
        v.check_no_infinite_rows(logits, inp.axis)


def needs_weights(reduction: Any) -> bool:
    """Whether ``reduction`` divides by the sum of the weights (``"weighted_mean"``)."""
    return bool(reduction == "weighted_mean")


def multiply(a: Array | None, b: Array | None) -> Array | None:
    """Product of optional weights (``None`` means 1)."""
    if a is None:
        return b
    if b is None:
        return a
    return a * b


def finish(
    inp: Inputs,
    values: Array,
    weights: Array | None,
    reduction: Any,
    *,
    exact: Callable[[], Array] | None = None,
) -> Array | _reduction.LossTerms:
    """Mask, reduce, cast back to the input dtype, and settle the value checks.

    The pending checks of the call, "the result holds a NaN" and "the raw losses of an
    inexact fast path hold a NaN" (:meth:`Inputs.watch`: a zero weight or a mask hides it
    from the result) are OR-ed into one flag and read once. When it is set, the checks
    raise their messages; a NaN from a fast path at infinite logits is recomputed on the
    exact path (``exact``); a NaN left in the result is a NaN logit or a row of only
    ``-inf`` (softmax), an error.

    Args:
        inp: the prepared inputs.
        values: the weighted per-element losses ``w * l`` (the loss shape).
        weights: the effective weights ``w`` (broadcastable; the denominator of
            ``"weighted_mean"``), or ``None`` for 1.
        reduction: the reduction name.
        exact: recomputes ``values`` with the fast paths off (needed when a fast path
            may have set ``inp.inexact``).

    Returns:
        The reduced loss (or per-element ``w * l``, 0 where ignored), in the logits'
        dtype; :class:`~wxent.LossTerms` when :func:`wxent.loss_terms` asked.
    """
    terms = _reduction.take_terms_request()

    def losses(values: Array) -> Array:
        if inp.out_of_range is not None:  # unchecked class indices outside [0, C)
            values = inp.xp.where(inp.out_of_range, math.nan, values)
        return values

    fall_back = inp.inexact and exact is not None
    numerators: list[Array] | None = [] if fall_back else None
    result = _reduce(inp, losses(values), weights, reduction, terms, numerators)
    guarded = exact is not None and inp.excluded_flag is not None
    if not (inp.validate or fall_back or guarded):
        return result
    xp = inp.xp
    flags: list[Any]
    if ns.is_tf_namespace(xp) and inp.word is None:  # computed by the read (_read_tf)
        parts = result if isinstance(result, _reduction.LossTerms) else (result,)
        flags = [NanOf(part) for part in (*parts, *(numerators or ()))]
    elif ns.torch_of(xp) is not None and inp.word is None and not numerators:
        # read by _read_torch: 0-d float results join the read as numbers, judged on the
        # host (NotFinite; with numerators, their NaN flag OR-ed into the result's below)
        parts = result if isinstance(result, _reduction.LossTerms) else (result,)
        flags = [_result_flag(xp, part, nan_only=True) for part in parts]
    else:
        flags = _nan_flags(xp, result)
        for numerator in numerators or ():  # a weighted mean of zero weights hides its NaN
            flags[0] = xp.logical_or(flags[0], xp.isnan(numerator))  # (one flag: one read)
    if fall_back and inp.inexact_flag is not None:  # a NaN a zero weight or mask hides
        flags.append(inp.inexact_flag)
    overflows = inp.unit_neg or inp.overflows  # see sigmoid_losses
    if fall_back and overflows and not isinstance(result, _reduction.LossTerms):
        if ns.torch_of(xp) is not None and inp.word is None:
            flags.append(_result_flag(xp, result, nan_only=False))
        else:
            flags.append(_infinite_flag(xp, result))
    if guarded:  # NaN where nothing counts (Inputs.watch_excluded)
        flags.append(inp.excluded_flag)
    if not _read(inp, flags, inp.validate) & 1:  # the one host read of the call
        return result
    if exact is not None and (fall_back or guarded):
        if fall_back:  # the fast path's NaN at infinite logits: recompute exactly
            inp.inexact = False
            result = _reduce(inp, losses(exact()), weights, reduction, terms)
        if not ns.read_flag(_any(xp, _nan_flags(xp, result))):
            if inp.excluded_flag is not None and ns.read_flag(inp.excluded_flag):
                inp.exclude()  # NaN logits where nothing counts: gradient 0, not NaN
                result = _reduce(inp, losses(exact()), weights, reduction, terms)
            return result
    if inp.validate:  # a NaN in the result: NaN logits, or a row of only -inf
        _logits_errors(inp)
    return result


def _result_flag(xp: Any, result: Array, *, nan_only: bool) -> Any:
    """A PyTorch call's flag "``result`` holds a NaN" (or, not ``nan_only``, "is not finite").

    A 0-d float32/float64 result is read itself and judged on the host
    (:class:`~wxent._value_checks.NotFinite`); other results get the device flag.
    """
    if checks.NotFinite.takes(result):
        return checks.NotFinite(result, nan_only=nan_only)
    return v.nan_flag(xp, result) if nan_only else _infinite_flag(xp, result)


def _infinite_flag(xp: Any, result: Array) -> Array:
    """0-d: ``result`` (``w * l >= 0``, or their reduction) holds an infinity or a NaN."""
    torch = ns.torch_of(xp)
    if torch is not None:  # one reduction (16-bit results summed in float32: no overflow)
        if result.ndim == 0:
            return torch.logical_not(torch.isfinite(result))
        wide = torch.float64 if result.dtype == torch.float64 else torch.float32
        return torch.logical_not(torch.isfinite(result.sum(dtype=wide)))
    return xp.logical_not(xp.all(xp.isfinite(result)))


def _nan_flags(xp: Any, result: Array | _reduction.LossTerms) -> list[Array]:
    parts = result if isinstance(result, _reduction.LossTerms) else (result,)
    return [v.nan_flag(xp, part) for part in parts]


def _any(xp: Any, flags: list[Array]) -> Array:
    torch = ns.torch_of(xp)
    if torch is not None and len(flags) > 1:
        if len(flags) == 2:
            return torch.logical_or(flags[0], flags[1])
        # two launches instead of len - 1
        return torch.stack([f if f.ndim == 0 else f.reshape(()) for f in flags]).any()
    flag = flags[0]
    for other in flags[1:]:
        flag = xp.logical_or(flag, other)
    return flag


def terms_in_compute_dtype(xp: Any, terms: Any, dtype: Any) -> _reduction.LossTerms:
    """A :func:`wxent.loss_terms` request's sums in the compute dtype of ``dtype``.

    For 16-bit logits that is float32, as the sums were made: a denominator counting
    65520 or more elements is ``inf`` in float16 (the loss then 0 or NaN), a numerator
    overflows long before the mean would, and bfloat16 rounds a count of 70000 to
    70144. Ranks all-reduce float32 terms; their quotient is the float32 mean.
    """
    wide = _compute_dtype(xp, dtype)
    return _reduction.LossTerms(_cast(xp, terms[0], wide), _cast(xp, terms[1], wide))


def _reduce(
    inp: Inputs,
    values: Array,
    weights: Array | None,
    reduction: Any,
    terms: bool,
    numerators: list[Array] | None = None,
) -> Array | _reduction.LossTerms:
    xp = inp.xp
    valid = inp.valid
    if valid is not None:
        torch = ns.torch_of(xp)
        if torch is not None:
            values = torch.where(valid, values, 0.0)
        else:
            values = xp.where(valid, values, 0.0)
    result = quietly(  # (NumPy: a sum beyond the float's range is inf, without a warning)
        inp,
        lambda: _reduction.reduce(
            xp, values, weights, valid, reduction, terms=terms, numerators=numerators
        ),
    )
    if isinstance(result, _reduction.LossTerms):
        return terms_in_compute_dtype(xp, result, inp.out_dtype)
    result = _cast(xp, result, inp.out_dtype)
    # NumPy gives scalars for 0-d results (an unbatched "none"): a 0-d array, as elsewhere
    return np.asarray(result) if isinstance(result, np.generic) else result
