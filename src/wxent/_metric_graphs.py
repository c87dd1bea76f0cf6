"""Eager metric calls as one traced program: the part every framework's runner shares.

A metric call run eagerly dispatches every small operation of its decisions, counts
and checks on its own; a repeated call (the same shapes, dtypes and static options)
runs instead as one traced program of the same code path: a ``tf.function`` graph
(:mod:`wxent._tf_metric_graphs`) or a ``jax.jit`` executable
(:mod:`wxent._jax_metric_graphs`). Shared here:

* :func:`run`, the metrics' entry point, which hands a call to its framework's runner;
* the call signature's static options (:func:`static_option`): numbers, strings, small
  NumPy arrays and lists of numbers, keyed by value (arrays by a 128-bit digest of their
  bytes) and baked into the trace;
* the bounded cache of programs (:class:`Programs`): a signature's first call runs
  eagerly (errors in wxent's words, nothing traced for a one-off call), its second
  traces; at most :data:`MAX_SHAPES` programs per set of options without shapes (a
  loop over ever new batch sizes) and :data:`MAX_GRAPHS` in all, then eager calls;
* what a trace collects (:func:`collecting`): the checks' status word, an output of the
  program read once after the call (:func:`deliver_status`), and the cost-matrix
  warnings met while tracing, issued again by every call (:func:`defer_warning`,
  :func:`reissue`).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from wxent import _namespace as ns

#: The most programs traced per set of static options and dtypes (new batch shapes).
MAX_SHAPES = 8
#: The most programs traced in all, per framework.
MAX_GRAPHS = 256
#: The most call signatures remembered as seen once (then forgotten, all of them).
MAX_SEEN = 4096
#: The largest NumPy option baked into a program by value (bytes).
MAX_BAKED = 1 << 16

#: An entry of a signature that runs eagerly (its trace failed).
EAGER: Any = object()

_NUMBERS = (int, float, bool)  # the leaves of a list option baked by its repr
_TRACE = threading.local()  # what the trace of this thread collects


def run(function: Any, logits: Any, labels: Any, **options: Any) -> Any:
    """``function(logits, labels, **options)``; one traced program when eager and repeated."""
    if ns.is_tensorflow(logits):
        from wxent import _tf_metric_graphs

        return _tf_metric_graphs.run(function, logits, labels, **options)
    jax = sys.modules.get("jax")
    if jax is not None and isinstance(logits, jax.Array):
        from wxent import _jax_metric_graphs

        return _jax_metric_graphs.run(function, logits, labels, **options)
    return function(logits, labels, **options)


def static_option(name: str, value: Any) -> tuple[Any, Any] | None:
    """``(key, baked)`` of an option baked into a program by value, else ``None``.

    Numbers, strings and ``None`` by their repr; a real NumPy array of at most
    :data:`MAX_BAKED` bytes by its dtype, shape and a digest of its bytes; a list or tuple
    of numbers by a digest of its repr (a tensor's repr is cut short: not baked). ``baked``
    is the value the trace takes (a copy, as it was when traced).
    """
    if value is None or isinstance(value, (str, int, float, np.integer, np.floating)):
        return (name, type(value).__name__, repr(value)), value
    if isinstance(value, np.ndarray):
        if type(value) is not np.ndarray or value.dtype.kind not in "biuf":
            return None
        if value.nbytes > MAX_BAKED:
            return None
        key = (name, value.dtype.str, value.shape, digest(value.tobytes()))
        return key, np.array(value, copy=True)
    if type(value) in (list, tuple):
        try:
            leaves = np.array(value, dtype=object).ravel()
        except ValueError:
            return None
        if leaves.size * 8 > MAX_BAKED or not all(type(e) in _NUMBERS for e in leaves):
            return None
        return (name, "list", digest(repr(value).encode())), copy.deepcopy(value)
    return None


def digest(data: bytes) -> bytes:
    """A baked option's content in a signature (128 bits: no two contents share one)."""
    return hashlib.blake2b(data, digest_size=16).digest()


class Programs:
    """The traced programs of one framework by call signature, bounded.

    ``key`` is a call's full signature (shapes included), ``base`` the same without the
    shapes: :data:`MAX_SHAPES` programs per base, :data:`MAX_GRAPHS` in all.
    """

    def __init__(self) -> None:
        self.graphs: dict[Any, Any] = {}  # signature -> the framework's entry, or EAGER
        self.seen: dict[Any, int] = {}  # signatures called once eagerly, with success
        self.shapes: Counter[Any] = Counter()  # programs per signature without shapes
        self.lock = threading.Lock()

    def entry(self, key: Any, base: Any, build: Callable[[], Any]) -> Any:
        """The program of ``key``, built by ``build()`` on the signature's second call.

        ``None`` for a first call (run it eagerly, then :meth:`remember` it),
        :data:`EAGER` past the bounds.
        """
        entry = self.graphs.get(key)
        if entry is not None:
            return entry
        with self.lock:
            entry = self.graphs.get(key)
            if entry is not None:
                return entry
            if key not in self.seen:
                return None
            if self.shapes[base] >= MAX_SHAPES or len(self.graphs) >= MAX_GRAPHS:
                return EAGER
            self.shapes[base] += 1
            entry = build()
            self.graphs[key] = entry
            return entry

    def call(
        self, key: Any, base: Any, build: Callable[[], Any], eager: Callable[[], Any]
    ) -> tuple[Any, Any]:
        """``(entry, None)`` where the call of ``key`` runs its program, else ``(None, eager())``.

        The eager call runs for a signature's first call (then :meth:`remember` ed: errors
        are wxent's, and a one-off call traces nothing) and past the bounds.
        """
        entry = self.entry(key, base, build)
        if entry is None:
            out = eager()
            self.remember(key)
            return None, out
        if entry is EAGER:
            return None, eager()
        return entry, None

    def remember(self, key: Any) -> None:
        """A signature whose first call ran eagerly (and passed): the next one traces."""
        with self.lock:
            if len(self.seen) >= MAX_SEEN:
                self.seen.clear()
            self.seen[key] = 1


class Collected:
    """What one trace collects: the checks' status word and the warnings to reissue."""

    def __init__(self) -> None:
        self.status: Any = None
        self.warnings: list[tuple[str, np.ndarray]] = []


@contextlib.contextmanager
def collecting() -> Iterator[Collected]:
    """Collect the status word and warnings of the trace running in this thread."""
    previous = getattr(_TRACE, "collected", None)
    _TRACE.collected = collected = Collected()
    try:
        yield collected
    finally:
        _TRACE.collected = previous


def deliver_status(flag: Any) -> None:
    """The checks' status word of the call being traced (an output of its program)."""
    _TRACE.collected.status = flag


def defer_warning(name: str, costs: np.ndarray) -> None:
    """A dominated-columns warning met while tracing: issued by each call of the program."""
    _TRACE.collected.warnings.append((name, np.array(costs, copy=True)))


def reissue(warnings: list[tuple[str, np.ndarray]]) -> None:
    """The warnings a trace met, issued as the eager call issues them."""
    if warnings:
        from wxent.cost_matrix import _warn_dominated

        for name, costs in warnings:
            _warn_dominated(name, costs)  # (at the caller's line, as eagerly)
