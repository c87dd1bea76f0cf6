"""wxent's functions run as Python inside ``tf.function``, not converted by AutoGraph.

``tf.function`` converts the Python functions its function calls (AutoGraph: ``if`` and
loops over tensors become graph control flow), recursively, unless they are marked: the
conversion parses each function's source, and converting wxent's validation and fast-path
code made the first trace of a loss take seconds (7 s for ``softmax_cross_entropy`` with
class weights and smoothing in a fresh process, 0.06 s unconverted: BENCHMARKS.md, "First
trace under tf.function"). wxent's code decides its branches on
shapes, dtypes and options — Python values — and builds its graph control flow itself
(``tf.cond``, ``where``), so it needs no conversion.

The mark is the attribute TensorFlow's ``tf.autograph.experimental.do_not_convert`` sets:
AutoGraph calls a function that has it as it is. Setting the attribute imports nothing.
"""

from __future__ import annotations

import inspect
import sys

__all__ = ["leave_to_python"]

_MARK = "autograph_info__"


def leave_to_python() -> None:
    """Mark every function, class and method of the loaded wxent modules: not converted."""
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "wxent" or name.startswith("wxent.")):
            continue
        for value in list(vars(module).values()):
            if inspect.isclass(value) and value.__module__ == name:
                if _MARK not in vars(value):  # its instances: callable objects (losses)
                    setattr(value, _MARK, None)
                for member in vars(value).values():
                    _mark(getattr(member, "__func__", member))
            elif getattr(value, "__module__", None) == name:
                _mark(value)


def _mark(value: object) -> None:
    if inspect.isfunction(value) and not hasattr(value, _MARK):
        setattr(value, _MARK, None)
