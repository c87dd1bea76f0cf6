"""The names a user gave wxent's arrays, where an adapter passes them on under others.

Keras calls a loss or a metric with ``y_true`` and ``y_pred``; the wxent functions under
it call them ``labels`` and ``logits``. Inside :func:`user_names` every message of
:mod:`wxent._validation` names the arguments as the user passed them: an error says
``y_pred``, the argument the user can find in their code, not ``logits``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_NAMES: ContextVar[dict[str, str] | None] = ContextVar("wxent_user_names", default=None)
_QUOTED = re.compile(r"`(\w+)`")
_LEADING = re.compile(r"^(\w+)(?=[ =])")


@contextmanager
def user_names(**names: str) -> Iterator[None]:
    """Within the block, messages name wxent's argument ``key`` as the user's ``value``."""
    token = _NAMES.set({**(_NAMES.get() or {}), **names})
    try:
        yield
    finally:
        _NAMES.reset(token)


def rename(name: str, expected: str, received: str) -> tuple[str, str, str]:
    """The parts of a message with wxent's argument names replaced by the user's."""
    names = _NAMES.get()
    if not names:
        return name, expected, received

    def quoted(text: str) -> str:
        return _QUOTED.sub(lambda m: f"`{names.get(m[1], m[1])}`", text)

    received = _LEADING.sub(lambda m: names.get(m[1], m[1]), received)
    return names.get(name, name), quoted(expected), quoted(received)
