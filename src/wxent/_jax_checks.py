"""The value checks' small reductions and comparisons on JAX arrays, each one compiled call.

Eagerly every JAX operation is its own dispatch (tens of microseconds on a CPU, whatever
the size): the range check of the labels (a minimum, a maximum, two comparisons, their
conjunction and its negation), the probability look of the logits (a slice, two
reductions, three comparisons) and the status word (the OR of the flags, the bit of the
look) were about fifteen dispatches per checked call, more than the loss itself took.
Here each is a ``jax.jit`` function of the same operations (the values are the same:
minima, maxima and comparisons are exact), so a checked call dispatches four small
programs: the labels' check, the look, the NaN flag of the result and the status.

The functions are compiled once per static option (bounds, view, flags' count) and
per shape and dtype, by ``jax.jit``'s own cache; they are made once (:func:`functools.cache`).
"""

from __future__ import annotations

import functools
from typing import Any


def _bound(value: Any) -> tuple[str, Any]:
    """A bound as a static argument that keeps its type (``0`` and ``0.0`` hash alike)."""
    return type(value).__name__, value


@functools.cache
def _outside() -> Any:
    import jax
    import jax.numpy as jnp

    def flag(x: Any, low: tuple[str, Any], high: tuple[str, Any]) -> Any:
        lo, hi = jnp.min(x), jnp.max(x)
        return jnp.logical_not(jnp.logical_and(lo >= low[1], hi <= high[1]))

    return jax.jit(flag, static_argnums=(1, 2))


def outside_flag(x: Any, low: Any, high: Any) -> Any:
    """:func:`wxent._value_checks.outside_flag` of a non-empty JAX array, compiled."""
    return _outside()(x, _bound(low), _bound(high))


@functools.cache
def _config() -> Any:
    import jax
    import jax.numpy as jnp

    def flag(x: Any, positive: bool, at_most_one: bool) -> Any:
        lo, hi = jnp.min(x), jnp.max(x)
        ok = jnp.logical_and(
            lo > 0 if positive else lo >= 0, hi <= 1 if at_most_one else hi < jnp.inf
        )
        return jnp.logical_not(ok)

    return jax.jit(flag, static_argnums=(1, 2))


def config_flag(x: Any, *, positive: bool, at_most_one: bool) -> Any:
    """:func:`wxent._value_checks.config_flag` of a non-empty JAX array, compiled."""
    return _config()(x, bool(positive), bool(at_most_one))


@functools.cache
def _nan() -> Any:
    import jax
    import jax.numpy as jnp

    return jax.jit(lambda x: jnp.any(jnp.isnan(x)))


def nan_flag(x: Any) -> Any:
    """True when the JAX array ``x`` holds a NaN, compiled."""
    return _nan()(x)


@functools.cache
def _looks() -> Any:
    import jax
    import jax.numpy as jnp

    def flag(x: Any, view: tuple[tuple[int, int | None], ...], axis: int, softmax: bool, bits: int):
        sample = x[tuple(slice(start, stop) for start, stop in view)]
        if bits == 16:
            sample = sample.astype(jnp.float32)
        lo, hi = jnp.min(sample), jnp.max(sample)
        looks = (lo >= 0) & (hi <= 1) & (hi > lo)
        if softmax:
            tol = 1e-2 if bits == 16 else 1e-3
            sums = jnp.sum(sample, axis=axis)
            looks = looks & (jnp.min(sums) >= 1.0 - tol) & (jnp.max(sums) <= 1.0 + tol)
        return looks

    return jax.jit(flag, static_argnums=(1, 2, 3, 4))


def probability_flag(x: Any, index: tuple[slice, ...], axis: int, softmax: bool, bits: int) -> Any:
    """:func:`wxent._value_checks.probability_flag` of JAX logits and their probed view."""
    view = tuple((s.start, s.stop) for s in index)
    return _looks()(x, view, int(axis), bool(softmax), int(bits))


@functools.cache
def _status() -> Any:
    import jax
    import jax.numpy as jnp

    def code(flags: tuple[Any, ...], suspect: Any) -> Any:
        flag = jnp.asarray(False)
        for other in flags:
            flag = jnp.logical_or(flag, other)
        return flag if suspect is None else flag + suspect * 2

    return jax.jit(code)


def status_code(flags: list[Any], suspect: Any | None) -> Any:
    """The OR of the 0-d ``flags`` (bit 0) and ``suspect`` (bit 1), one compiled call."""
    return _status()(tuple(flags), suspect)
