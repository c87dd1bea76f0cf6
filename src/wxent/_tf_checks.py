"""The one host read of an eager TensorFlow call, as one graph call.

Eagerly every TensorFlow operation is a dispatch of its own (tens of microseconds on a
CPU, whatever the size): the range check of the labels (a minimum, a maximum, two
comparisons, their conjunction and its negation), the probability look of the logits (a
slice, two reductions and the row sums' two, seven comparisons and conjunctions), the
NaN flag of the result and the status word (the OR of the flags, the bit of the look)
were about thirty dispatches per checked call, more than the loss itself took. Here a
call's pending checks are described by a *plan* (what each check computes, with its
static options: bounds, the probed view, ...) and the arrays they read, and one
``tf.function`` of the plan computes them all and the status word, the same operations
in the same order (minima, maxima, comparisons and their conjunctions are exact: the
bits are the eager ones).

The function is traced once per plan and per dtypes and ranks of the arrays, every
dimension unknown, so a training loop's smaller last batch does not trace again (at most
:data:`MAX_PLANS` of them; further plans run operation by operation, the same
operations). Checks given as arbitrary callables, and flags already computed, join as
0-d flags (:data:`FLAG`).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

#: The kinds of entries of a plan (the first element of each entry).
FLAG = "flag"  # a 0-d boolean flag, as given
RANGE = "range"  # ("range", low, high): an entry outside [low, high] or NaN
CONFIG = "config"  # ("config", positive, at_most_one): config_flag
NAN = "nan"  # the array holds a NaN
LOOKS = "looks"  # ("looks", view, axis, softmax, bits): the probability look (bit 1)
SUSPECT = "suspect"  # a 0-d boolean flag of bit 1, as given
ROWS = "rows"  # ("rows", axis, tol): probability labels (probability_rows_flag)


def _bound(value: Any) -> tuple[str, Any]:
    """A bound as a plan's entry that keeps its type (``0`` and ``0.0`` hash alike)."""
    return type(value).__name__, value


def range_entry(low: Any, high: Any) -> tuple[Any, ...]:
    """The plan's entry of :func:`wxent._value_checks.outside_flag` within ``[low, high]``."""
    return (RANGE, _bound(low), _bound(high))


def config_entry(positive: bool, at_most_one: bool) -> tuple[Any, ...]:
    """The plan's entry of :func:`wxent._value_checks.config_flag`."""
    return (CONFIG, bool(positive), bool(at_most_one))


def looks_entry(index: tuple[slice, ...], axis: int, softmax: bool, bits: int) -> tuple[Any, ...]:
    """The plan's entry of the probability look of the logits' probed view ``index``."""
    view = tuple((s.start, s.stop) for s in index)
    return (LOOKS, view, int(axis), bool(softmax), int(bits))


def _compute(plan: tuple[tuple[Any, ...], ...], arrays: tuple[Any, ...]) -> Any:
    """The status word of ``plan`` over ``arrays`` (bit 0: a flag is set; bit 1: the look).

    The operations of the eager checks, in their order (:mod:`wxent._value_checks`). No
    ``logical_not`` of a comparison: in a graph TensorFlow's optimizer rewrites
    ``logical_not(a >= b)`` as ``a < b``, false for NaN (a NaN label would pass).
    """
    import tensorflow as tf

    from wxent import _tf_namespace as xp

    flag: Any = None
    suspect: Any = None
    for entry, x in zip(plan, arrays, strict=True):
        kind = entry[0]
        if kind == FLAG:
            one = x
        elif kind == RANGE:
            lo, hi = xp.min(x), xp.max(x)
            one = xp.logical_not(xp.logical_and(lo >= entry[1][1], hi <= entry[2][1]))
        elif kind == CONFIG:
            positive, at_most_one = entry[1], entry[2]
            lo, hi = xp.min(x), xp.max(x)
            ok = xp.logical_and(
                lo > 0 if positive else lo >= 0, hi <= 1 if at_most_one else hi < float("inf")
            )
            one = xp.logical_not(ok)
        elif kind == ROWS:
            from wxent._value_checks import probability_rows_flag

            one = probability_rows_flag(xp, x, entry[1], entry[2])
        elif kind == NAN:
            one = xp.any(xp.isnan(x))
        elif kind == SUSPECT:
            suspect = x
            continue
        else:  # LOOKS
            _, view, axis, softmax, bits = entry
            sample = x[tuple(slice(start, stop) for start, stop in view)]
            if bits == 16:
                sample = xp.astype(sample, xp.float32)
            lo, hi = xp.min(sample), xp.max(sample)
            looks = (lo >= 0) & (hi <= 1) & (hi > lo)
            if softmax:
                tol = 1e-2 if bits == 16 else 1e-3
                sums = xp.sum(sample, axis=axis)
                low, high = xp.min(sums), xp.max(sums)
                looks = looks & (low >= 1.0 - tol) & (high <= 1.0 + tol)
            suspect = looks
            continue
        flag = one if flag is None else xp.logical_or(flag, one)
    if flag is None:
        flag = tf.constant(False)
    if suspect is None:
        return flag
    return xp.astype(flag, xp.int32) + 2 * xp.astype(suspect, xp.int32)


#: The most functions traced here per name (status plans, or the graphs of one
#: :func:`concrete` rule, with the arrays' dtypes and ranks): a plan holds static
#: options (the classes' count of a range check, the probed view), and options that
#: change call after call must not trace without bound.
MAX_PLANS = 256
#: The traced functions, by name, plan (or options) and the arrays' dtypes and ranks.
_FUNCTIONS: dict[Any, Any] = {}
_COUNTS: Counter[str] = Counter()  # (traced functions by name)
_LOCK = threading.Lock()


def concrete(
    name: str, options: Any, rule: Any, arrays: tuple[Any, ...], keep: int | None = None
) -> Any | None:
    """``rule(options, *arrays)`` as a concrete function for arrays of these dtypes and ranks.

    Traced once per ``(name, options)`` and dtypes and ranks; ``None`` past
    :data:`MAX_PLANS` functions of ``name``. Its signature leaves every dimension
    unknown but axis ``keep`` of the arrays of the first one's rank (the classes' count,
    which the rules use as a number): a new batch size does not trace again, and a call
    does not build the trace key of its arguments (a walk of their Python structure that
    cost as much as the checks themselves, about 0.2 ms).
    """
    rank = len(arrays[0].shape)

    def dims(x: Any) -> tuple[int | None, ...]:
        if keep is None or len(x.shape) != rank:
            return (None,) * len(x.shape)
        return tuple(int(d) if i == keep else None for i, d in enumerate(x.shape))

    key = (name, options, tuple((x.dtype, dims(x)) for x in arrays))
    function = _FUNCTIONS.get(key)
    if function is None:
        import tensorflow as tf

        with _LOCK:
            function = _FUNCTIONS.get(key)
            if function is None:
                if _COUNTS[name] >= MAX_PLANS:
                    return None
                _COUNTS[name] += 1
                signature = [tf.TensorSpec(shape, dtype) for dtype, shape in key[2]]

                def traced(*flat: Any) -> Any:
                    return rule(options, *flat)

                graph = tf.function(traced, input_signature=signature, autograph=False)
                function = graph.get_concrete_function()
                _FUNCTIONS[key] = function
    return function


def _status(plan: tuple[tuple[Any, ...], ...], *arrays: Any) -> Any:
    return _compute(plan, arrays)


def status_code(plan: list[tuple[Any, ...]], arrays: list[Any]) -> Any:
    """The 0-d status word of ``plan`` over the eager ``arrays``: one graph call.

    Not recorded by a ``tf.GradientTape`` (an integer of no gradient: recorded, the call
    of a function would also run its forward pass's variant, which keeps intermediates).
    """
    from tensorflow.python.eager import record

    function = concrete("status", tuple(plan), _status, tuple(arrays))
    with record.stop_recording():
        if function is None:  # the same operations, one by one
            return _compute(tuple(plan), tuple(arrays))
        return function(*arrays)


def traces(name: str = "status") -> int:
    """How many functions ``name`` were traced in this process (for tests)."""
    return sum(key[0] == name for key in list(_FUNCTIONS))
