"""The names a user gave wxent's arrays, where an adapter passes them on under others.

Keras calls a loss or a metric with ``y_true`` and ``y_pred``; the wxent functions under
it call them ``labels`` and ``logits``. Inside :func:`user_names` every message of
:mod:`wxent._validation` names the arguments as the user passed them: an error says
``y_pred``, the argument the user can find in their code, not ``logits``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_NAMES: ContextVar[dict[str, str] | None] = ContextVar("wxent_user_names", default=None)
# How many blocks are open in any thread: while none is, a message reads no ContextVar,
# which torch.compile cannot trace (an error raised while it traces a plain call would
# come out as the compiler's "Unsupported method call" instead of wxent's message).
_OPEN = [0]
_LOCK = threading.Lock()
_QUOTED = re.compile(r"`(\w+)`")
_LEADING = re.compile(r"^(\w+)(?=[ =])")


@contextmanager
def user_names(**names: str) -> Iterator[None]:
    """Within the block, messages name wxent's argument ``key`` as the user's ``value``."""
    with _LOCK:
        _OPEN[0] += 1
    token = _NAMES.set({**(_NAMES.get() or {}), **names})
    try:
        yield
    finally:
        _NAMES.reset(token)
        with _LOCK:
            _OPEN[0] -= 1


def rename(name: str, expected: str, received: str) -> tuple[str, str, str]:
    """The parts of a message with wxent's argument names replaced by the user's."""
    names = _NAMES.get() if _OPEN[0] else None
    if not names:
        return name, expected, received

    def quoted(text: str) -> str:
        return _QUOTED.sub(lambda m: f"`{names.get(m[1], m[1])}`", text)

    received = _LEADING.sub(lambda m: names.get(m[1], m[1]), received)
    return names.get(name, name), quoted(expected), quoted(received)
