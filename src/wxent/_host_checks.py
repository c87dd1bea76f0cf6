"""Checks of what reaches the computation from the host, in :mod:`wxent._validation`'s voice.

NumPy subclasses that would compute otherwise (``np.matrix``) or lose their mask
(``np.ma.MaskedArray``), sparse and nested PyTorch tensors, ragged configuration lists,
configuration values that the compute dtype cannot hold (``1e300`` weights become ``inf``
in float32, ``1e-300`` priors become ``0``), and logits without a class for a softmax.
Re-exported as ``v.<name>``.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import wxent._validation as v  # circular on purpose: used at call time only
from wxent import _fx
from wxent import _namespace as ns


def check_plain_array(name: str, value: Any) -> None:
    """No NumPy subclass that computes otherwise (``np.matrix``) or holds a mask.

    ``np.asarray`` would drop a masked array's mask without a word; what it meant goes
    into ``sample_weight`` (0 where masked) or the ignore value.
    """
    _fx.refuse(name, value)
    if isinstance(value, (np.matrix, np.ma.MaskedArray)):
        raise v.type_error(
            name,
            "a plain NumPy array (np.asarray(x); a mask goes into sample_weight or the "
            "ignore value)",
            f"{name} of type {type(value).__name__}",
        )
    torch = sys.modules.get("torch")
    if (
        torch is not None
        and isinstance(value, torch.Tensor)
        and (value.is_nested or value.layout != torch.strided)
    ):
        layout = "nested" if value.is_nested else str(value.layout).rsplit(".", 1)[-1]
        raise v.type_error(name, "a dense tensor (x.to_dense())", f"{name} with layout {layout}")
    jax_sparse = sys.modules.get("jax.experimental.sparse")
    if jax_sparse is not None and isinstance(value, jax_sparse.JAXSparse):
        raise v.type_error(
            name, "a dense array (x.todense())", f"{name} of type {type(value).__name__}"
        )
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(value, (tf.SparseTensor, tf.RaggedTensor)):
        raise v.type_error(
            name,
            "a dense tensor (tf.sparse.to_dense(x), or x.to_tensor() for a ragged one)",
            f"{name} of type {type(value).__name__}",
        )


def check_not_flag(name: str, value: Any) -> None:
    """No lone ``True``/``False`` as a weight: a boolean *array* (a mask) is 0/1 weights.

    A scalar bool is most likely a flag given to the wrong argument (``sample_weight=True``).
    """
    if isinstance(value, (bool, np.bool_)):
        raise v.type_error(
            name,
            "numbers or an array of numbers (a boolean array is taken as 0/1 weights, a "
            "lone bool is not)",
            f"{name}={value!r}",
        )


def _memory() -> int | None:
    """The memory available for a new array, in bytes (``None`` where the OS does not say).

    Linux's ``MemAvailable`` (free memory and what the kernel can reclaim without
    swapping), else the physical memory.
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):  # not on every OS
        return None


def _bytes(n: float) -> str:
    units = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    for unit in units[:-1]:
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} {units[-1]}"


def allocate(
    name: str, shown: str, shape: tuple[int, ...], make: Callable[[], Any] | None = None
) -> Any:
    """``make()``, which allocates ``float64`` values of ``shape`` sized by argument ``name``.

    The rule for sizes the user chooses (``cost_matrix(10**9)``, ``num_classes``,
    ``bins``): an array larger than a quarter of the memory available on this machine is
    refused before it is allocated (a call makes a few arrays of its size: together they
    would swap, or end the process), and one that NumPy cannot allocate (``MemoryError``)
    is refused in the same words: a ``ValueError`` naming the argument and the size it
    asked for. ``make=None`` only checks (an array allocated by a framework).
    """
    need = 8 * math.prod(shape)
    memory = _memory()

    def too_large() -> ValueError:
        has = "" if memory is None else f", more than 1/4 of the {_bytes(memory)} available"
        return v.value_error(
            name,
            "a size whose arrays fit in memory",
            f"{shown} (float64 values of shape {shape}: {_bytes(need)}{has})",
        )

    if memory is not None and need > memory // 4:
        raise too_large()
    try:
        return None if make is None else make()
    except MemoryError:
        raise too_large() from None


def check_has_classes(shape: Sequence[int | None], axis: int, name: str = "logits") -> None:
    """At least one class along ``axis`` (a softmax or an argmax over none is undefined)."""
    if shape[axis] == 0:
        where = f"class_axis={axis}" if name == "logits" else f"axis {axis} (one row per class)"
        raise v.value_error(
            name,
            f"at least one class along {where} (a softmax or an argmax over no classes is "
            "undefined)",
            f"{name} of shape {v.shape_str(shape)}",
        )


def check_has_labels(shape: Sequence[int | None], axis: int) -> None:
    """Multi-label logits with at least one label along ``axis`` (something to score)."""
    if len(shape) > 1 and shape[axis] == 0:
        raise v.value_error(
            "logits",
            f"at least one label along class_axis={axis} (no label has a score, a "
            "threshold or a calibration)",
            f"logits of shape {v.shape_str(shape)}",
        )


def config_shape(name: str, value: Any) -> tuple[int | None, ...]:
    """The shape of a weight, cost, prior or threshold: an array, numbers or nested lists."""
    check_plain_array(name, value)
    shape = getattr(value, "shape", None)
    if shape is None:
        try:
            shape = np.shape(value)
        except NOT_NUMBERS:  # ragged lists
            raise v.type_error(
                name, "numbers, a list or an array of numbers", f"{name}={v._short(value)}"
            ) from None
    return tuple(v.dim(d) for d in shape)


def host_numbers(name: str, value: Any) -> np.ndarray:
    """Configuration numbers on the host, in their own real dtype (booleans as float64).

    Complex numbers, strings and other non-numbers are a ``TypeError``: casting them
    would drop an imaginary part or parse text without a word.
    """
    check_plain_array(name, value)
    try:
        host = ns.widen_host(np.asarray(value))  # ml_dtypes' bfloat16 as float32
        if host.dtype.kind in "bO":
            host = host.astype(np.float64)
    except OverflowError:  # a Python integer beyond float64
        raise v.value_error(
            name, "numbers that float64 holds (at most 1.8e308)", f"{name}={v._short(value)}"
        ) from None
    except NOT_NUMBERS:
        host = None
    if host is None or host.dtype.kind not in "iuf":
        raise v.type_error(
            name, "numbers, a list or an array of numbers", f"{name}={v._short(value)}"
        )
    return host


def check_representable(name: str, values: np.ndarray, dtype: str | None, positive: bool) -> None:
    """Finite values stay finite in the compute ``dtype`` (and, ``positive``, above 0).

    ``values`` are finite already (``float64``); ``dtype`` is ``"float32"`` or
    ``"float64"`` (``None``: not checked).
    """
    if dtype not in ("float32", "float64") or not values.size:
        return
    info = np.finfo(dtype)
    if float(np.max(values)) > float(info.max):
        with np.errstate(over="ignore"):
            over = np.isinf(values.astype(dtype))
        if over.any():
            raise v.value_error(
                name,
                f"values that {dtype}, the logits' compute dtype, holds (at most "
                f"{float(info.max):.8g})",
                f"value {float(values[over].max())!r} in `{name}`",
            )
    if positive and float(np.min(values)) < float(info.smallest_subnormal):
        under = values.astype(dtype) == 0
        if under.any():
            raise v.value_error(
                name,
                f"positive values that {dtype}, the logits' compute dtype, holds (not "
                "rounded to 0)",
                f"value {float(values[under].min())!r} in `{name}`",
            )


def check_known_classes(name: str, shape: Sequence[int | None], xp: Any, classes: Any) -> None:
    """A per-class array of fixed shape needs a class dimension known while tracing.

    JAX's symbolic dimensions (``jax.export``) never broadcast against a fixed length
    (TensorFlow's unknown ones do, at run time).
    """
    if classes is None and ns.is_jax_namespace(xp) and any(d is not None for d in shape):
        raise v.value_error(
            name,
            "logits whose number of classes is known while tracing (jax.export: a symbolic "
            "class dimension cannot meet an array of fixed shape; pass it as an argument of "
            "the exported function)",
            f"{name} of shape {v.shape_str(shape)} with a symbolic number of classes",
        )


# What converting a caller's list or array to NumPy raises when it holds no plain numbers:
# other objects, ragged lists, a PyTorch tensor that requires grad (RuntimeError), a
# symbolic TensorFlow tensor (NotImplementedError). Each becomes the argument's TypeError.
NOT_NUMBERS = (TypeError, ValueError, RuntimeError, NotImplementedError)

_FLOAT_MAX = {"float32": 3.4028234663852886e38, "float64": 1.7976931348623157e308}


def float_max(xp: Any, dtype: Any) -> float | None:
    """The largest finite value of a float32 or float64 compute dtype (else ``None``)."""
    return _FLOAT_MAX.get(ns.float_dtype_name(xp, dtype) or "")


def check_scalar_fits(name: str, value: float, xp: Any, dtype: Any) -> None:
    """A scalar factor of losses or logits (``tau``, ``cost_weight``) that ``dtype`` holds.

    In plain Python, which ``torch.compile`` traces.
    """
    top = float_max(xp, dtype)
    if top is not None and value > top:
        raise v.value_error(
            name,
            f"a float that the logits' compute dtype holds (at most {top:.8g})",
            f"{name}={value!r}",
        )


def as_float(name: str, value: Any, expected: str) -> float:
    """``float(value)`` of a real number; an integer beyond float64's range is a ValueError."""
    try:
        return float(v.plain_number(value))
    except OverflowError:
        raise v.value_error(name, expected, f"{name}={v._short(value)}") from None


def check_positive_int(name: str, value: Any) -> int:
    """A positive integer (Python or NumPy): ``max_iter``, ``bins``."""
    number = v.integer_value(value)
    if number is None:
        raise v.type_error(name, "a positive integer", f"{name}={value!r}")
    if number < 1:
        raise v.value_error(name, "a positive integer", f"{name}={value!r}")
    return number


def check_optional_positive_float(name: str, value: Any) -> float | None:
    """``None`` or a finite float ``> 0`` (a cap such as ``max_weight``)."""
    if value is None:
        return None
    if not v.is_real_number(value):
        raise v.type_error(name, "a finite float > 0 or None", f"{name}={value!r}")
    value = as_float(name, value, "a finite float > 0 or None")
    if not (math.isfinite(value) and value > 0.0):
        raise v.value_error(name, "a finite float > 0 or None", f"{name}={value!r}")
    return value
