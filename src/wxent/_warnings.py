"""wxent's own warnings, and a per-thread way to hold them back.

A construction-time probe (:func:`wxent._adapter_options.probe`) calls a loss once to
check its options and leaves the warnings of that call to the real calls. It must not
use :class:`warnings.catch_warnings` for that: the warnings filters are one list for the
whole process, so a probe on one thread would hide another thread's warnings while it
runs, and two probes whose blocks overlap restore each other's filters, which can leave
an "ignore every warning" filter in place for good. :func:`quiet` holds back wxent's own
warnings on the calling thread only (a ``threading.local``, which ``torch.compile``
traces).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_QUIET = threading.local()


@contextmanager
def quiet() -> Iterator[None]:
    """Within the block, on this thread, :func:`warn` gives no warning."""
    depth = getattr(_QUIET, "depth", 0)
    _QUIET.depth = depth + 1
    try:
        yield
    finally:
        _QUIET.depth = depth


def warn(message: Any, category: type[Warning] | None = None, stacklevel: int = 1) -> None:
    """:func:`warnings.warn`, unless :func:`quiet` holds wxent's warnings back on this thread.

    ``stacklevel`` counts from the caller, as for :func:`warnings.warn` called there.
    """
    if getattr(_QUIET, "depth", 0):
        return
    warnings.warn(message, category, stacklevel=stacklevel + 1)
