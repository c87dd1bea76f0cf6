"""``torch.fx.symbolic_trace``: a wxent call is recorded as one node of the graph.

A symbolic trace runs the Python of a model with ``torch.fx.Proxy`` objects in place of
tensors. wxent's checks and branches read shapes, dtypes and (on concrete tensors) values,
which a proxy does not have, so wxent is not traced into: each public function, called
with a proxy among its arguments, records one ``call_function`` node that calls it (the
way ``torch.fx.wrap`` records a function), and a ``wxent.torch`` module records one node
that calls the module. The traced ``GraphModule`` then calls wxent on real tensors, with
every check, and re-tracing it records the same nodes again.

A node's arguments must be values a graph can hold: tensors (a model's parameters and
buffers, or constants), numbers, strings, ``None`` and tuples, lists and dicts of them.
A NumPy array or a function there raises a ``TypeError`` naming the argument; a proxy
handed to wxent in any other way (a method of a wxent object, such as
``MetricAccumulator.update``) too, instead of torch's error from deep inside wxent.
Imports no framework: ``torch.fx`` is looked up in ``sys.modules``.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_TRACE = "torch.fx._symbolic_trace"


def tracing() -> bool:
    """Whether a ``torch.fx`` symbolic trace is running (in this process)."""
    module = sys.modules.get(_TRACE)
    return module is not None and bool(getattr(module, "_is_fx_tracing_flag", False))


def is_proxy(value: Any) -> bool:
    """Whether ``value`` is a ``torch.fx.Proxy`` (without importing torch)."""
    fx = sys.modules.get("torch.fx")
    return fx is not None and isinstance(value, fx.Proxy)


def _find_proxy(args: tuple, kwargs: dict[str, Any]) -> Any:
    """The first proxy among ``args`` and ``kwargs`` (also inside lists, tuples, dicts)."""
    stack = list(args) + list(kwargs.values())
    while stack:
        value = stack.pop(0)
        if is_proxy(value):
            return value
        if isinstance(value, (list, tuple)):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
    return None


def record(
    target: Callable[..., Any], args: tuple, kwargs: dict[str, Any], what: str | None = None
) -> Any:
    """The node ``target(*args, **kwargs)`` when a proxy is among them, else ``None``.

    ``what``: the call, for messages (the target's public name by default).
    """
    proxy = _find_proxy(args, kwargs)
    if proxy is None:
        return None
    try:
        return proxy.tracer.create_proxy("call_function", target, args, kwargs)
    except NotImplementedError:  # an argument a graph cannot hold
        name, value = _unrecordable(target, args, kwargs)
        raise TypeError(
            f"Invalid type for argument `{name}`. Expected a value a torch.fx graph can "
            "hold (a tensor, such as a module's parameter or buffer, numbers, a string, "
            "None, or lists and dicts of them) while torch.fx.symbolic_trace records "
            f"{what or _qualified(target)}. Received: {name} of type {type(value).__name__}"
        ) from None


def _recordable(value: Any) -> bool:
    torch = sys.modules["torch"]
    if value is None or is_proxy(value):
        return True
    if isinstance(value, (bool, int, float, complex, str, torch.Tensor, torch.nn.Module)):
        return True
    if isinstance(value, (torch.dtype, torch.device)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_recordable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _recordable(v) for k, v in value.items())
    return False


def _unrecordable(target: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> tuple:
    """``(name, value)`` of the first argument a graph cannot hold."""
    try:
        bound = inspect.signature(target).bind(*args, **kwargs).arguments
    except (TypeError, ValueError):
        bound = {**{f"argument {i + 1}": a for i, a in enumerate(args)}, **kwargs}
    for name, value in bound.items():
        if not _recordable(value):
            return name, value
    return "arguments", args  # pragma: no cover - create_arg refused a recordable value


def _qualified(target: Callable[..., Any]) -> str:
    return f"wxent.{getattr(target, '__name__', 'function')}"


def leaf(function: F) -> F:
    """``function``, recorded as one node when a symbolic trace calls it with a proxy."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        if tracing():
            node = record(call, args, kwargs)
            if node is not None:
                return node
        return function(*args, **kwargs)

    return call  # type: ignore[return-value]


def refuse(name: str, value: Any) -> None:
    """A ``TypeError`` for a proxy that reached wxent other than through :func:`leaf`."""
    if is_proxy(value):
        raise TypeError(
            f"Invalid type for argument `{name}`. Expected a tensor: torch.fx.symbolic_trace "
            "records wxent's functions and wxent.torch modules as one node each, not "
            "this call (call it outside the traced code, or on the traced module's "
            f"outputs). Received: {name} of type {type(value).__name__}"
        )
