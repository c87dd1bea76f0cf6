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
fails. Calls inside ``tf.function`` trace the metric inline, as before. The signature's
static options, the bounded cache and what a trace collects are shared with JAX
(:mod:`wxent._metric_graphs`).
"""

from __future__ import annotations

import copy
import sys
from typing import Any

from wxent import _metric_graphs as mg
from wxent import _namespace as ns
from wxent._metric_graphs import MAX_GRAPHS as MAX_GRAPHS
from wxent._metric_graphs import MAX_SHAPES as MAX_SHAPES

_PROGRAMS = mg.Programs()
_GRAPHS, _SHAPES = _PROGRAMS.graphs, _PROGRAMS.shapes  # (read by the tests)


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
        option = mg.static_option(name, value)
        if option is not None:
            static.append(option[0])
            baked[name] = option[1]
        elif type(value) is eager:
            tensors[name] = value
        elif isinstance(value, tf.Variable):
            tensors[name] = tf.convert_to_tensor(value)  # its value now
        else:
            return None
    shapes = tuple((n, t.dtype, tuple(t.shape)) for n, t in tensors.items())
    base = (tuple(static), tuple((n, t.dtype) for n, t in tensors.items()), logits.device)
    return (base, shapes), base, tensors, baked


def _trace(function: Any, names: tuple[str, ...], baked: dict[str, Any], tensors: Any) -> Any:
    """``(concrete function, checked, warnings)`` of ``function`` over ``tensors``, or EAGER."""
    import tensorflow as tf

    kept = {k: copy.deepcopy(v) for k, v in baked.items()}  # (as they were when traced)

    def traced(*flat: Any) -> Any:
        graph = tf.compat.v1.get_default_graph()
        inputs = dict(zip(names, flat, strict=True))
        kwargs = {**kept, **{k: inputs[k] for k in names[2:]}}
        with ns.reading_eagerly(graph):
            out = function(inputs["logits"], inputs["labels"], **kwargs)
        return out, collected.status

    signature = [tf.TensorSpec(t.shape, t.dtype) for t in tensors]
    with mg.collecting() as collected:
        try:
            concrete = tf.function(traced, input_signature=signature, autograph=False)
            graph = concrete.get_concrete_function()
        except Exception:  # whatever fails in a trace runs eagerly instead
            return mg.EAGER
    return graph, collected.status is not None, collected.warnings


def run(function: Any, logits: Any, labels: Any, **options: Any) -> Any:
    """``function(logits, labels, **options)``; one graph call when eager and repeated."""
    tf = sys.modules.get("tensorflow")
    if tf is None or not ns.is_tensorflow(logits) or not _may_trace(tf):
        return function(logits, labels, **options)
    signature = _signature(logits, labels, options)
    if signature is None:
        return function(logits, labels, **options)
    key, base, tensors, baked = signature
    names = tuple(tensors)
    entry, out = _PROGRAMS.call(
        key,
        base,
        lambda: _trace(function, names, baked, tuple(tensors.values())),
        lambda: function(logits, labels, **options),
    )
    if entry is None:
        return out
    graph, checked, warnings = entry
    try:
        out, status = graph(*tensors.values())
    except tf.errors.OpError:  # whatever the eager call does instead (its own error)
        return function(logits, labels, **options)
    if checked and int(status):  # a check failed: the eager call raises its message
        return function(logits, labels, **options)
    mg.reissue(warnings)
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
