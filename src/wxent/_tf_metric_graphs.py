"""Eager TensorFlow metric calls as one graph call each.

Eagerly every TensorFlow operation is a dispatch of its own (tens of microseconds on a
CPU, whatever the size), and a metric call is many small ones: ``expected_cost`` of
64 x 10 logits with a cost matrix ran about 65 of them (the Bayes decisions' softmax and
risks, the counts' comparisons and scatter-adds, the checks' flags and their status
word, the constants they convert), ``confusion_matrix`` about 30. Keras calls a metric
every batch, so that was a per-step overhead of one to a few milliseconds.

Here a repeated eager call runs the metric function itself as one concrete function,
traced with the call's exact shapes, dtypes and static options (numbers, strings, small
NumPy arrays and lists of numbers such as thresholds and cost matrices, baked in by
value), its tensors (logits, labels, a
tensor ``threshold``, ``costs`` or ``sample_weight``, a ``tf.Variable``'s value read
anew each call) as inputs. The trace takes the eager path of the code
(:func:`wxent._namespace.reading_eagerly`: the graph's tensors count as concrete), so
it runs the same operations in the same order, checks included: the checks' status
word is an output of the graph, read once after the call, as the eager call reads it.
When it flags a bad value, the call runs again eagerly, operation by operation, and
raises wxent's message from there; a cost-matrix warning seen while tracing is issued
again by every call, as eagerly.

What stays eager: a call's first appearance (options, shapes and dtypes not seen
before: errors in wxent's words, no trace for a one-off call; traced on the second);
calls a ``tf.GradientTape`` or a forward accumulator may record (their gradients, e.g.
of a watched ``sample_weight``); ``tf.config.run_functions_eagerly(True)``; options of
other kinds (arrays of other frameworks, large NumPy arrays or lists, which would be
graph constants); past :data:`MAX_SHAPES` traced shapes of one set of options (a loop
over ever new batch sizes) or :data:`MAX_GRAPHS` graphs in all; and a graph whose trace
fails. Calls inside ``tf.function`` trace the metric inline, as before.
"""

from __future__ import annotations

import copy
import hashlib
import sys
import threading
from collections import Counter
from typing import Any

import numpy as np

from wxent import _namespace as ns

#: The most graphs traced per set of static options and dtypes (new batch shapes).
MAX_SHAPES = 8
#: The most graphs traced in all.
MAX_GRAPHS = 256
#: The most call signatures remembered as seen once (then forgotten, all of them).
MAX_SEEN = 4096
#: The largest NumPy option baked into a graph by value (bytes).
MAX_BAKED = 1 << 16

_NUMBERS = (int, float, bool)  # the leaves of a list option baked by its repr
_EAGER = object()  # a signature whose graph could not be traced: eager calls
_GRAPHS: dict[Any, Any] = {}  # signature -> (function, checked, warnings) or _EAGER
_SEEN: dict[Any, int] = {}  # signatures called once eagerly, with success
_SHAPES: Counter[Any] = Counter()  # graphs per signature without shapes
_LOCK = threading.Lock()
_TRACE = threading.local()  # what the trace of this thread collects


def deliver_status(flag: Any) -> None:
    """The checks' status word of the call being traced (an output of its graph)."""
    _TRACE.status = flag


def defer_warning(name: str, costs: np.ndarray) -> None:
    """A dominated-columns warning met while tracing: issued by each call of the graph."""
    _TRACE.warnings.append((name, np.array(costs, copy=True)))


def _signature(logits: Any, labels: Any, options: dict[str, Any]) -> Any:
    """``(key, base, tensors, baked)`` of a call that may run as a graph, else ``None``.

    ``key`` holds the dtypes, shapes and device of the tensors and the static options by
    value; ``base`` the same without shapes; ``tensors`` the graph's inputs by name.
    """
    tf = sys.modules["tensorflow"]
    eager = type(logits)
    if not (isinstance(logits, tf.Tensor) and hasattr(logits, "numpy")):
        return None
    if type(labels) is not eager:
        return None
    tensors: dict[str, Any] = {"logits": logits, "labels": labels}
    static: list[Any] = []
    baked: dict[str, Any] = {}
    for name, value in options.items():
        if value is None or isinstance(value, (str, int, float, np.integer, np.floating)):
            static.append((name, type(value).__name__, repr(value)))
            baked[name] = value
        elif isinstance(value, np.ndarray):
            if type(value) is not np.ndarray or value.dtype.kind not in "biuf":
                return None
            if value.nbytes > MAX_BAKED:
                return None
            static.append((name, value.dtype.str, value.shape, _digest(value.tobytes())))
            baked[name] = value
        elif type(value) in (list, tuple):  # numbers only (a tensor's repr is cut short)
            try:
                leaves = np.array(value, dtype=object).ravel()
            except ValueError:
                return None
            if leaves.size * 8 > MAX_BAKED or not all(type(e) in _NUMBERS for e in leaves):
                return None
            static.append((name, "list", _digest(repr(value).encode())))
            baked[name] = copy.deepcopy(value)
        elif type(value) is eager:
            tensors[name] = value
        elif isinstance(value, tf.Variable):
            tensors[name] = tf.convert_to_tensor(value)  # its value now
        else:
            return None
    shapes = tuple((n, t.dtype, tuple(t.shape)) for n, t in tensors.items())
    base = (tuple(static), tuple((n, t.dtype) for n, t in tensors.items()), logits.device)
    return (base, shapes), base, tensors, baked


def _digest(data: bytes) -> bytes:
    """A baked option's content in a signature (128 bits: no two contents share one)."""
    return hashlib.blake2b(data, digest_size=16).digest()


def _trace(function: Any, names: tuple[str, ...], baked: dict[str, Any], tensors: Any) -> Any:
    """The concrete function of ``function`` over ``tensors``, or ``_EAGER``."""
    import tensorflow as tf

    kept = {k: copy.deepcopy(v) for k, v in baked.items()}  # (as they were when traced)

    def traced(*flat: Any) -> Any:
        graph = tf.compat.v1.get_default_graph()
        inputs = dict(zip(names, flat, strict=True))
        kwargs = {**kept, **{k: inputs[k] for k in names[2:]}}
        with ns.reading_eagerly(graph):
            out = function(inputs["logits"], inputs["labels"], **kwargs)
        return out, _TRACE.status

    signature = [tf.TensorSpec(t.shape, t.dtype) for t in tensors]
    _TRACE.status, _TRACE.warnings = None, []
    try:
        concrete = tf.function(traced, input_signature=signature, autograph=False)
        graph = concrete.get_concrete_function()
    except Exception:  # whatever fails in a trace runs eagerly instead
        return _EAGER
    finally:
        checked, warnings = _TRACE.status is not None, _TRACE.warnings
        _TRACE.status, _TRACE.warnings = None, []
    return graph, checked, warnings


def run(function: Any, logits: Any, labels: Any, **options: Any) -> Any:
    """``function(logits, labels, **options)``; one graph call when eager and repeated."""
    tf = sys.modules.get("tensorflow")
    if tf is None or not ns.is_tensorflow(logits) or not _may_trace(tf):
        return function(logits, labels, **options)
    signature = _signature(logits, labels, options)
    if signature is None:
        return function(logits, labels, **options)
    key, base, tensors, baked = signature
    entry = _GRAPHS.get(key)
    if entry is None:
        with _LOCK:
            entry = _GRAPHS.get(key)
            fresh = entry is None and key not in _SEEN
            if entry is None and not fresh:
                if _SHAPES[base] >= MAX_SHAPES or len(_GRAPHS) >= MAX_GRAPHS:
                    entry = _EAGER
                else:
                    _SHAPES[base] += 1
                    names = tuple(tensors)
                    entry = _trace(function, names, baked, tuple(tensors.values()))
                    _GRAPHS[key] = entry
        if fresh:
            out = function(logits, labels, **options)  # errors in wxent's words
            with _LOCK:
                if len(_SEEN) >= MAX_SEEN:
                    _SEEN.clear()
                _SEEN[key] = 1
            return out
    if entry is _EAGER:
        return function(logits, labels, **options)
    graph, checked, warnings = entry  # type: ignore[misc]
    try:
        out, status = graph(*tensors.values())
    except tf.errors.OpError:  # whatever the eager call does instead (its own error)
        return function(logits, labels, **options)
    if checked and int(status):  # a check failed: the eager call raises its message
        return function(logits, labels, **options)
    if warnings:
        from wxent.cost_matrix import _warn_dominated

        for name, costs in warnings:
            _warn_dominated(name, costs, stacklevel=3)
    return out


def _may_trace(tf: Any) -> bool:
    """Eager, not forced eager, and no tape or accumulator that may record the call."""
    from tensorflow.python.eager import record

    return (
        tf.executing_eagerly()
        and not tf.config.functions_run_eagerly()
        and not ns.tracing_eager_call()
        and not record.could_possibly_record()
    )
