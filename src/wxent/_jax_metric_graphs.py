"""Eager JAX metric calls as one compiled program each.

Eagerly every JAX operation is a dispatch of its own (tens of microseconds on a CPU,
whatever the size), and a metric call is many small ones even with its scatter-adds and
checks compiled (:func:`wxent._metric_counts._jax_scatter_add`, :mod:`wxent._jax_checks`):
at 64 x 10 ``confusion_matrix`` bound about 7 primitives (0.6 ms), macro ``precision``
about 18 (1.2 ms), ``expected_cost`` with a cost matrix about 18 (2 ms), per batch of an
evaluation loop.

Here a repeated eager call runs the metric function itself as one ``jax.jit`` program,
traced with the call's exact shapes, dtypes and static options and compiled ahead of its
first run, the way :mod:`wxent._tf_metric_graphs` runs a TensorFlow call as one graph:
the signature's static options, the bounded cache and what a trace collects are shared
(:mod:`wxent._metric_graphs`). The trace takes the eager path of the code
(:func:`wxent._namespace.reading_eagerly`: the trace's own tracers count as concrete), so
it runs the same operations in the same order, checks included: the checks' status word
is an output of the program, read once after the call, as the eager call reads it. When
it flags a bad value, the call runs again eagerly, operation by operation, and raises
wxent's message from there; a cost-matrix warning seen while tracing is issued again by
every call, as eagerly.

Arguments of the program, not constants (a new value compiles nothing): the logits and
labels (NumPy labels converted as the eager call converts them), JAX arrays among the
options (``sample_weight``, ``threshold``, ``costs``), a host ``threshold`` of sigmoid
logits (a number or one per label: a threshold sweep; passed as the largest float of
the compute dtype at most it, the value the eager call moves to the device) and float
NumPy ``sample_weight`` (one weight per sample of each batch; checked on the host and
cast to the compute dtype, as eagerly). Other options (``beta``, ``average``, a host cost
matrix, ignore markers, a Python number as ``sample_weight``) are baked in by value and
keyed by it: a new value is a new program (after its eager first call).

Values: integer counts and the scores made from them are the eager call's bit for bit.
Sums of float weights are those of the same call under a caller's ``jax.jit``: XLA fuses
a product into its reduction, which may round the last bit otherwise than the eager
reduction of the materialised product (1 ulp, measured).

What stays eager: a signature's first call; calls with tracers (inside a caller's
``jax.jit``, ``grad`` or ``vmap`` the metric traces inline, as before); arrays on
several devices or on different devices (the eager call moves them); other kinds of
options; ``jax.disable_jit()``; past the cache's bounds; and a program whose trace
fails.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import sys
from typing import Any

import numpy as np

from wxent import _metric_graphs as mg
from wxent import _namespace as ns
from wxent._metric_graphs import MAX_GRAPHS as MAX_GRAPHS
from wxent._metric_graphs import MAX_SHAPES as MAX_SHAPES

_PROGRAMS = mg.Programs()
_GRAPHS, _SHAPES = _PROGRAMS.graphs, _PROGRAMS.shapes  # (read by the tests)


def _device(jax: Any, x: Any) -> Any:
    """The one device of the concrete JAX array ``x``, else ``None``."""
    if not isinstance(x, jax.Array) or isinstance(x, jax.core.Tracer):
        return None
    try:
        devices = x.sharding.device_set
    except Exception:  # (an array without a sharding: deleted, or donated)
        return None
    return next(iter(devices)) if len(devices) == 1 else None


def _compute_dtype(logits: Any) -> np.dtype | None:
    """The float dtype the metrics compute in (float32 for 16-bit logits), or ``None``."""
    name = str(logits.dtype)
    if name in ("float16", "bfloat16", "float32"):
        return np.dtype(np.float32)
    return np.dtype(np.float64) if name == "float64" else None


def _host_threshold(value: Any, logits: Any, options: dict[str, Any]) -> np.ndarray | None:
    """A host threshold of sigmoid logits as the array the eager call compares with.

    The checked threshold as the largest value of the compute dtype at most it
    (:func:`wxent._metric_inputs.below`), so that ``x > t`` decides as eagerly. ``None``
    where the eager call is to decide (its errors, or not a host number or vector).
    """
    from wxent import _metric_inputs as mi
    from wxent import _validation as v

    if isinstance(value, bool) or not (
        isinstance(value, (int, float, np.integer, np.floating, list, tuple))
        or type(value) is np.ndarray
    ):
        return None
    dtype = _compute_dtype(logits)
    if dtype is None or options.get("costs") is not None:
        return None
    shape = tuple(logits.shape)
    try:
        axis = v.check_class_axis(options.get("class_axis", -1), len(shape))
        binary = len(shape) == 1
        t = mi._check_threshold(value, 1 if binary else shape[axis], binary)
    except (TypeError, ValueError):
        return None
    return np.asarray(mi.below(t, dtype.name), dtype=dtype)


def _host_weights(value: Any, logits: Any) -> np.ndarray | None:
    """Float NumPy weights, checked as the eager call checks them, in the compute dtype."""
    from wxent._config import _check_host

    dtype = _compute_dtype(logits)
    if type(value) is not np.ndarray or value.dtype.kind != "f" or dtype is None:
        return None
    try:
        _check_host("sample_weight", value, dtype.name, False, False)
    except ValueError:
        return None
    return np.asarray(value, dtype=dtype)


def _signature(logits: Any, labels: Any, options: dict[str, Any]) -> Any:
    """``(key, base, arrays, baked)`` of a call that may run compiled, else ``None``.

    ``key`` holds the dtypes, shapes and device of the arrays and the static options by
    value; ``base`` the same without shapes; ``arrays`` the program's arguments by name.
    """
    jax = sys.modules["jax"]
    device = _device(jax, logits)
    if device is None:
        return None
    if type(labels) is np.ndarray and labels.dtype.kind in "biuf":
        labels = jax.numpy.asarray(ns.jax_host(labels, "labels"))  # as the eager call does
    elif _device(jax, labels) != device:
        return None
    sigmoid = tuple(labels.shape) == tuple(logits.shape)
    validate = options.get("validate", True) is True
    arrays: dict[str, Any] = {"logits": logits, "labels": labels}
    static: list[Any] = []
    baked: dict[str, Any] = {}
    for name, value in options.items():
        argument = None
        if name == "threshold" and sigmoid and not isinstance(value, jax.Array):
            argument = _host_threshold(value, logits, options)
        elif name == "sample_weight" and type(value) is np.ndarray and validate:
            argument = _host_weights(value, logits)
        if argument is not None:
            static.append((name, "argument"))
            arrays[name] = argument
            continue
        option = mg.static_option(name, value)
        if option is not None and not (name == "sample_weight" and isinstance(value, np.ndarray)):
            static.append(option[0])
            baked[name] = option[1]
        elif isinstance(value, jax.Array) and _device(jax, value) == device:
            arrays[name] = value
        else:
            return None
    kinds = tuple(
        (n, str(a.dtype), bool(getattr(a, "weak_type", False))) for n, a in arrays.items()
    )
    base = (tuple(static), kinds, device, bool(jax.config.jax_enable_x64))
    shapes = tuple(tuple(a.shape) for a in arrays.values())
    return (base, shapes), base, arrays, baked


@functools.cache
def _counts_as_pytree() -> None:
    """:class:`wxent._metric_counts.Counts` (an accumulator's batch) as a program's output."""
    import jax

    from wxent._metric_counts import Counts

    meta = ["xp", "kind", "numpy", "dtype"]
    data = [f.name for f in dataclasses.fields(Counts) if f.name not in meta]
    jax.tree_util.register_dataclass(Counts, data_fields=data, meta_fields=meta)


def _compile(function: Any, names: tuple[str, ...], baked: dict[str, Any], arrays: Any) -> Any:
    """``(compiled program, warnings)`` of ``function`` over ``arrays``, or EAGER."""
    import jax

    _counts_as_pytree()

    kept = {k: copy.deepcopy(v) for k, v in baked.items()}  # (as they were when traced)
    warnings: list[Any] = []

    def traced(*flat: Any) -> Any:
        trace = getattr(flat[0], "_trace", None)
        if trace is None:  # no way to tell the trace's own tracers: not compiled
            raise TypeError("a tracer without its trace")
        inputs = dict(zip(names, flat, strict=True))
        kwargs = {**kept, **{k: inputs[k] for k in names[2:]}}
        with mg.collecting() as collected, ns.reading_eagerly(trace):
            out = function(inputs["logits"], inputs["labels"], **kwargs)
        warnings[:] = collected.warnings
        return out, collected.status

    try:
        program = jax.jit(traced).trace(*arrays).lower().compile()
    except Exception:  # whatever fails in a trace runs eagerly instead
        return mg.EAGER
    return program, warnings


def run(function: Any, logits: Any, labels: Any, **options: Any) -> Any:
    """``function(logits, labels, **options)``; one compiled call when eager and repeated."""
    jax = sys.modules["jax"]
    if ns.tracing_eager_call() or jax.config.jax_disable_jit:
        return function(logits, labels, **options)
    signature = _signature(logits, labels, options)
    if signature is None:
        return function(logits, labels, **options)
    key, base, arrays, baked = signature
    names = tuple(arrays)
    entry, out = _PROGRAMS.call(
        key,
        base,
        lambda: _compile(function, names, baked, tuple(arrays.values())),
        lambda: function(logits, labels, **options),
    )
    if entry is None:
        return out
    program, warnings = entry
    try:
        out, status = program(*arrays.values())
    except (TypeError, ValueError):  # arguments the program was not made for: eagerly
        return function(logits, labels, **options)
    if status is not None and int(status):  # a check failed: the eager call raises
        return function(logits, labels, **options)
    mg.reissue(warnings)
    return out
