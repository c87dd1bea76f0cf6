"""Every check wxent makes on its inputs, and every message it raises.

All messages have one form: name the argument, say what was expected, show what was
received::

    Invalid value for argument `label_smoothing`. Expected a float in [0, 1].
    Received: label_smoothing=1.5

``TypeError`` is raised for wrong types and dtypes, ``ValueError`` for wrong shapes and
values. Static checks (types, dtypes, shapes, options, host configuration) always run,
also under ``jax.jit`` and ``tf.function``. Checks on the values of framework arrays run
only on concrete arrays, can be switched off with ``validate=False``, and never copy an
array to the host: each is a 0-d "something is wrong" flag computed in the arrays' own
framework and device (:class:`PendingChecks`); the loss reads all of them at once, as one
scalar, and only when it is set looks closer to raise the message below.
"""

from __future__ import annotations

import math
import numbers
import operator
import sys
from collections.abc import Sequence
from typing import Any, overload

import numpy as np

from wxent import _namespace as ns
from wxent._host_checks import NOT_NUMBERS as NOT_NUMBERS  # host-side checks, as v.<name>
from wxent._host_checks import allocate as allocate
from wxent._host_checks import as_float as as_float
from wxent._host_checks import check_has_classes as check_has_classes
from wxent._host_checks import check_has_labels as check_has_labels
from wxent._host_checks import check_known_classes as check_known_classes
from wxent._host_checks import check_not_flag as check_not_flag
from wxent._host_checks import check_optional_positive_float as check_optional_positive_float
from wxent._host_checks import check_plain_array as check_plain_array
from wxent._host_checks import check_positive_int as check_positive_int
from wxent._host_checks import check_representable as check_representable
from wxent._host_checks import check_scalar_fits as check_scalar_fits
from wxent._host_checks import config_shape as config_shape
from wxent._host_checks import host_numbers as host_numbers
from wxent._types import REDUCTIONS
from wxent._user_names import rename
from wxent._value_checks import (  # device-side checks, re-exported as v.<name>
    PendingChecks as PendingChecks,
)
from wxent._value_checks import (
    check_finite_nonnegative_array as check_finite_nonnegative_array,
)
from wxent._value_checks import (
    check_no_infinite_rows as check_no_infinite_rows,
)
from wxent._value_checks import (
    check_probability_rows as check_probability_rows,
)
from wxent._value_checks import (
    config_flag as config_flag,
)
from wxent._value_checks import (
    nan_flag as nan_flag,
)
from wxent._value_checks import (
    nonnegative_finite_flag as nonnegative_finite_flag,
)
from wxent._value_checks import (
    outside_flag as outside_flag,
)
from wxent._value_checks import (
    probability_sum_tolerance as probability_sum_tolerance,
)


def _short(value: Any) -> str:
    """A short, readable rendering of a received value."""
    if ns.is_array(value) or isinstance(value, np.ndarray):
        shape = tuple(value.shape)
        return f"array of shape {shape} and dtype {dtype_name(value.dtype)}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def dtype_name(dtype: Any) -> str:
    """The plain name of a dtype of any framework (``float32``, ``int64``, ...)."""
    name = getattr(dtype, "name", None)
    if isinstance(name, str):
        return name
    return str(dtype).rsplit(".", 1)[-1]


def value_error(name: str, expected: str, received: str) -> ValueError:
    """A ``ValueError`` in wxent's wording (arguments named as the user named them)."""
    name, expected, received = rename(name, expected, received)
    return ValueError(
        f"Invalid value for argument `{name}`. Expected {expected}. Received: {received}"
    )


def type_error(name: str, expected: str, received: str) -> TypeError:
    """A ``TypeError`` in wxent's wording (arguments named as the user named them)."""
    name, expected, received = rename(name, expected, received)
    return TypeError(
        f"Invalid type for argument `{name}`. Expected {expected}. Received: {received}"
    )


def forward_mode_error(loss: str) -> NotImplementedError:
    """Forward-mode AD through a PyTorch custom gradient that supports reverse mode only."""
    return NotImplementedError(
        f"Forward-mode differentiation through the PyTorch custom gradient of {loss} "
        "(torch.func.hessian, jacfwd of a gradient) is not supported; reverse mode is "
        "(backward, double backward, torch.func.grad and vmap). Set the environment "
        "variable WXENT_KERNELS=off to differentiate the generic formulas in any mode."
    )


# ----------------------------------------------------------------------------- options


def is_real_number(value: Any) -> bool:
    """Whether ``value`` is a real number, ml_dtypes' scalars included.

    That is a ``numbers.Real`` other than a bool, or a NumPy scalar of an ml_dtypes
    dtype (``ml_dtypes.bfloat16(0.1)``, ``float8_*``, ``int4``), which ``numbers.Real``
    does not know, as it knows ``np.float16(0.1)``.

    A scalar option (``label_smoothing``, ``gamma``, ``tau``, ``beta``, a cost) takes
    such a number like the NumPy float scalars: it was a ``TypeError`` that showed the
    number itself as what was received.
    """
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, numbers.Real):
        return True
    return isinstance(value, np.generic) and ns.is_extension_dtype(value.dtype)


def integer_value(value: Any) -> int | None:
    """The Python ``int`` of an integer option, or ``None`` where ``value`` is none.

    Python and NumPy integers of every width, and ml_dtypes' integer scalars
    (``ml_dtypes.int4(3)``, ``uint4``, ``int2``), which are no ``numbers.Integral`` and
    have no ``__index__``; never a boolean. Every integer option (``ignore_index``,
    ``class_axis``, ``num_classes``, ``chunk_size``, ``seed``, ...) reads its value here:
    an ml_dtypes integer was a ``TypeError`` showing the integer as what was received.
    """
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, numbers.Integral):
        return int(plain_number(value))
    if (
        isinstance(value, np.generic)
        and ns.is_extension_dtype(value.dtype)
        and value.dtype.name.startswith(("int", "uint"))
    ):
        return int(value)
    return None


def plain_number(value: Any) -> Any:
    """A Python ``int`` or ``float`` as a plain number; anything else unchanged.

    Under ``torch.compile(dynamic=True)`` the compiler makes Python numbers symbolic
    (``SymInt``, ``SymFloat``, also module constants): host code that reads them
    (``math.isnan``, ``getattr``, ``sorted``) would break the graph. ``operator.index``
    and ``__float__`` (not ``int()`` or ``float()``) make them concrete again (the
    compiler guards on the value, as for a constant); eagerly they return the number.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return operator.index(value)
    if isinstance(value, float):
        return value.__float__()
    return value


def check_reduction(reduction: Any) -> None:
    """``reduction`` is one of :data:`REDUCTIONS`."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        expected = "one of " + ", ".join(f'"{r}"' for r in REDUCTIONS)
        raise value_error("reduction", expected, f"reduction={reduction!r}")


def check_terms_reduction(reduction: Any) -> None:
    """``reduction`` of :func:`wxent.loss_terms`: ``"mean"`` or ``"weighted_mean"``."""
    check_reduction(reduction)
    if reduction not in ("mean", "weighted_mean"):
        raise value_error(
            "reduction",
            '"mean" or "weighted_mean" for loss terms (for "sum", sum the losses themselves)',
            f"reduction={reduction!r}",
        )


def check_fraction(name: str, value: Any) -> float:
    """A float in ``[0, 1]`` (label smoothing, clip margins)."""
    if not is_real_number(value):
        raise type_error(name, "a float in [0, 1]", f"{name}={value!r}")
    value = as_float(name, value, "a float in [0, 1]")
    if not 0.0 <= value <= 1.0:
        raise value_error(name, "a float in [0, 1]", f"{name}={value!r}")
    return value


def check_nonnegative_float(name: str, value: Any) -> float:
    """A finite float ``>= 0`` (focal ``gamma``, cost weight)."""
    if not is_real_number(value):
        raise type_error(name, "a finite float >= 0", f"{name}={value!r}")
    value = as_float(name, value, "a finite float >= 0")
    if not (math.isfinite(value) and value >= 0.0):
        raise value_error(name, "a finite float >= 0", f"{name}={value!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """A Python bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise type_error(name, "a bool", f"{name}={value!r}")
    return bool(value)


def check_optional_int(name: str, value: Any) -> int | None:
    """``None`` or a Python integer."""
    if value is None:
        return None
    number = integer_value(value)
    if number is None:
        raise type_error(name, "an integer or None", f"{name}={value!r}")
    return number


def check_optional_label_value(name: str, value: Any) -> float | None:
    """``None`` or a finite real number (the sigmoid family's ignore marker)."""
    if value is None:
        return None
    if not is_real_number(value):
        raise type_error(name, "a number or None", f"{name}={value!r}")
    value = as_float(name, value, "a finite number or None")
    if not math.isfinite(value):
        raise value_error(name, "a finite number or None", f"{name}={value!r}")
    if 0.0 <= value <= 1.0:
        raise value_error(
            name,
            "a value outside [0, 1] (such as -1), so no real label is ignored",
            f"{name}={value!r}",
        )
    return value


@overload
def label_marker(value: float, dtype: Any) -> float: ...
@overload
def label_marker(value: None, dtype: Any) -> None: ...
def label_marker(value: float | None, dtype: Any) -> float | None:
    """``ignore_label`` as labels of ``dtype`` hold it (``None`` stays ``None``).

    A marker that a 16- or 32-bit float cannot hold exactly (``-0.1``) is stored rounded
    in such labels (``-0.0999755859375`` in float16): compared after the labels are
    widened (float32 to compute, float64 on the host) the marker as given would match
    none of them. Rounded to the labels' own dtype it matches, as it does where the
    labels are compared in their dtype. Other dtypes (integers, float64) keep the value,
    as does a marker beyond the dtype's range. Plain Python arithmetic: ``torch.compile``
    folds it into a constant (NumPy's scalars and ``errstate`` would break the graph).
    """
    if value is None:
        return None
    name = dtype_name(dtype)
    if name not in _FLOAT_FORMATS:
        return value
    held = _round_to(float(value), _FLOAT_FORMATS["float32"])
    if name != "float32":  # (bfloat16 and float16 from the float32 value, as frameworks do)
        held = _round_to(held, _FLOAT_FORMATS[name])
    return held if math.isfinite(held) else value


#: Significant bits, least normal exponent and largest finite value of the float formats
#: labels may have.
_FLOAT_FORMATS = {
    "float32": (24, -126, 3.4028234663852886e38),
    "bfloat16": (8, -126, 3.3895313892515355e38),
    "float16": (11, -14, 65504.0),
}


def _round_to(value: float, fmt: tuple[int, int, float]) -> float:
    """``value`` rounded to nearest (ties to even) in the format ``fmt``; inf beyond it."""
    if value == 0 or not math.isfinite(value):
        return value
    bits, least, largest = fmt
    mantissa, exponent = math.frexp(value)  # value = mantissa * 2**exponent, |m| in [0.5, 1)
    kept = bits - max(0, least - (exponent - 1))  # fewer bits below the normal range
    held = math.ldexp(round(math.ldexp(mantissa, kept)), exponent - kept)
    return held if abs(held) <= largest else math.copysign(math.inf, value)


def check_class_axis(class_axis: Any, ndim: int) -> int:
    """A valid axis of the logits, returned non-negative."""
    number = integer_value(class_axis)
    if number is None:
        raise type_error("class_axis", "an integer axis of `logits`", f"class_axis={class_axis!r}")
    class_axis = number
    if not -ndim <= class_axis < ndim:
        raise value_error(
            "class_axis",
            f"an axis of `logits` in [{-ndim}, {ndim - 1}] (logits have {ndim} dimensions)",
            f"class_axis={class_axis}",
        )
    return class_axis % ndim


# ----------------------------------------------------------------------------- arrays


def check_logits(logits: Any, name: str = "logits") -> Any:
    """A floating array of a supported framework with at least one dimension."""
    check_plain_array(name, logits)
    if not ns.is_array(logits):
        raise type_error(
            name,
            "an array of NumPy, PyTorch, JAX or TensorFlow",
            f"{name} of type {type(logits).__name__}",
        )
    if getattr(logits.shape, "rank", 0) is None:  # TensorFlow graphs of unknown rank
        raise value_error(
            name,
            "an array of known rank (number of dimensions), e.g. a TensorSpec of shape "
            "[None, None]",
            f"{name} of unknown rank",
        )
    xp = ns.namespace(logits)
    if ns.float_dtype_name(xp, logits.dtype) is None and not _is_bfloat16(logits.dtype):
        raise type_error(
            name,
            "a floating dtype (float16, bfloat16, float32 or float64)",
            f"{name} with dtype {dtype_name(logits.dtype)}",
        )
    if len(logits.shape) == 0:
        raise value_error(name, "an array with at least one dimension", f"{name} of shape ()")
    return xp


def _is_bfloat16(dtype: Any) -> bool:
    return dtype_name(dtype) == "bfloat16"


def is_floating(xp: Any, dtype: Any) -> bool:
    """Whether ``dtype`` is a real floating dtype (bfloat16 included)."""
    return ns.float_dtype_name(xp, dtype) is not None or _is_bfloat16(dtype)


def is_integer(xp: Any, dtype: Any) -> bool:
    """Whether ``dtype`` is a signed or unsigned integer dtype."""
    if ns.is_tf_namespace(xp):
        return bool(getattr(dtype, "is_integer", False))
    if ns.is_extension_dtype(dtype):  # NumPy's isdtype refuses ml_dtypes' dtypes
        return False  # (int4 labels are not class indices wxent takes)
    return bool(xp.isdtype(dtype, "integral"))


def is_bool(xp: Any, dtype: Any) -> bool:
    """Whether ``dtype`` is boolean."""
    if ns.is_tf_namespace(xp):
        return bool(getattr(dtype, "is_bool", False))
    if ns.is_extension_dtype(dtype):  # NumPy's isdtype refuses ml_dtypes' dtypes
        return False
    return bool(xp.isdtype(dtype, "bool"))


def check_same_framework(name: str, value: Any, logits: Any, like: str = "logits") -> None:
    """``value`` is an array of the same framework as ``logits`` (the argument ``like``).

    One message for every mix (NumPy, PyTorch, JAX, TensorFlow), raised before any
    framework sees the other's arrays.
    """
    check_plain_array(name, value)
    if not ns.is_array(value):
        raise type_error(
            name,
            f"an array of the same framework as `{like}`",
            f"{name} of type {type(value).__name__}",
        )
    if ns.framework(value) != ns.framework(logits):
        raise type_error(
            name,
            f"an array of the same framework as `{like}` ({type(logits).__name__})",
            f"{name} of type {type(value).__name__}",
        )


def check_same_device(name: str, value: Any, logits: Any, like: str = "logits") -> None:
    """A PyTorch or JAX ``value`` is on the device of ``logits`` (the argument ``like``).

    Otherwise PyTorch raises from deep inside the loss, or computes with the missing
    values of a meta tensor as if they were numbers. A 0-d CPU tensor goes with any
    device, as in PyTorch's own arithmetic. A JAX array is on the devices of ``logits``
    when it is on the same set of devices (a batch sharded as the logits are, or
    replicated over their devices), or not committed to a device at all (JAX moves it).
    """
    if not (ns.is_torch(value) or ns.is_torch(logits)):
        if ns.jax_elsewhere(value, logits):
            raise value_error(
                name,
                f"an array on the devices of `{like}` ({ns.placement_str(logits)})",
                f"{name} on {ns.placement_str(value)}",
            )
        return
    if not (ns.is_torch(value) and ns.is_torch(logits)) or value.device == logits.device:
        return
    if value.ndim == 0 and value.device.type == "cpu":
        return
    raise value_error(
        name,
        f"an array on the device of `{like}` ({logits.device})",
        f"{name} on the {value.device} device",
    )


def check_labels_array(labels: Any, logits: Any, like: str = "logits") -> None:
    """``labels`` is an array of the same framework as ``logits``."""
    check_same_framework("labels", labels, logits, like)


def shapes_match(a: Sequence[int | None], b: Sequence[int | None]) -> bool:
    """Shape equality where an unknown (``None``) dimension matches anything."""
    if len(a) != len(b):
        return False
    return all(x is None or y is None or x == y for x, y in zip(a, b, strict=True))


def shape_str(shape: Sequence[int | None]) -> str:
    """``(4, 3)`` for a shape, with ``None`` for unknown dimensions (for messages)."""
    # (built by hand: the compiler cannot join the str() of a tuple of symbolic sizes)
    parts = ["None" if d is None else "%d" % int(d) for d in (dim(d) for d in shape)]  # noqa: UP031
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def dim(d: Any) -> int | None:
    """A dimension as an ``int``, ``None`` when unknown (TensorFlow, ``jax.export``).

    A symbolic PyTorch dimension (``torch.compile`` with dynamic shapes, ``torch.export``
    with a ``Dim``) stays a ``torch.SymInt``: it computes and compares as an ``int``, and
    the compiler records a comparison as a guard between dimensions instead of fixing the
    dimension to the example's size (every new batch size recompiled).
    """
    if d is None or isinstance(d, (int, np.integer)):
        return None if d is None else int(d)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(d, torch.SymInt):
        return d
    return None  # a symbolic dimension of jax.export: no value until the exported call


def size(d: Any) -> int:
    """A known dimension as an ``int``; a symbolic PyTorch one stays symbolic (see :func:`dim`)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(d, torch.SymInt):
        return d
    return int(d)


def static_shape(x: Any) -> tuple[int | None, ...]:
    """The static shape of an array, ``None`` where a dimension is unknown."""
    shape = x.shape
    if isinstance(shape, tuple) and all(type(d) is int for d in shape):
        return tuple(shape)  # (NumPy, eager PyTorch and JAX: known sizes)
    dims = getattr(shape, "dims", None)  # TensorFlow TensorShape
    if dims is None and hasattr(shape, "as_list"):
        return ()
    if hasattr(shape, "as_list"):
        return tuple(shape.as_list())
    return tuple(dim(d) for d in shape)


# ----------------------------------------------------------------------------- values


def check_finite_nonnegative(name: str, values: np.ndarray) -> None:
    """All entries finite and ``>= 0`` (weights, costs)."""
    bad_nan = np.isnan(values)
    if bad_nan.any():
        raise value_error(
            name, "finite non-negative values", f"{int(bad_nan.sum())} NaN value(s) in `{name}`"
        )
    if not np.isfinite(values).all():
        raise value_error(name, "finite non-negative values", f"an infinite value in `{name}`")
    if (values < 0).any():
        raise value_error(
            name,
            "finite non-negative values",
            f"negative value {float(values[values < 0].min())!r} in `{name}`",
        )


def check_no_nan(name: str, values: np.ndarray) -> None:
    """No NaN entries (logits may be infinite, never NaN)."""
    n = int(np.isnan(values).sum())
    if n:
        raise value_error(name, "numbers without NaN", f"{n} NaN value(s) in `{name}`")


def check_class_indices(
    labels: np.ndarray, num_classes: int, ignore_index: int | None, name: str = "labels"
) -> None:
    """Integer labels in ``[0, C)`` or equal to ``ignore_index``."""
    bad = (labels < 0) | (labels >= num_classes)
    if ignore_index is not None:
        bad &= labels != ignore_index
    if bad.any():
        first = labels[bad].ravel()[0]
        hint = "" if ignore_index is None else f" or ignore_index={ignore_index}"
        if num_classes == 1:  # a Dense(1) output: binary sigmoid logits, not one class
            hint += (
                "; one logit per sample is a binary (sigmoid) output: give its 0/1 labels "
                "the logits' shape, e.g. (N, 1)"
            )
        raise value_error(
            name,
            f"class indices in [0, {num_classes}){hint}",
            f"label value {int(first)} ({int(bad.sum())} out-of-range label(s))",
        )


def check_unit_interval_labels(
    labels: np.ndarray, ignore_label: float | None, held: float | None = None
) -> None:
    """Sigmoid labels in ``[0, 1]`` or equal to ``ignore_label``.

    ``held``: the marker as the caller's labels hold it (:func:`label_marker`), compared
    in place of ``ignore_label``; the message names ``ignore_label`` as given.
    """
    with np.errstate(invalid="ignore"):
        bad = ~((labels >= 0) & (labels <= 1))
    if ignore_label is not None:
        bad &= labels != (ignore_label if held is None else held)
    if bad.any():
        first = labels[bad].ravel()[0]
        hint = "" if ignore_label is None else f" or ignore_label={ignore_label:g}"
        raise value_error(
            "labels",
            f"values in [0, 1]{hint}",
            f"label value {float(first)!r} ({int(bad.sum())} such label(s))",
        )


def check_probability_labels(labels: np.ndarray) -> None:
    """Softmax probability labels: finite and non-negative."""
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(labels) & (labels >= 0))
    if bad.any():
        first = labels[bad].ravel()[0]
        raise value_error(
            "labels",
            "finite non-negative probabilities",
            f"label value {float(first)!r} ({int(bad.sum())} such label(s))",
        )


# ----------------------------------------------------------------------------- weights from data


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """One of ``choices`` (strings or ``None``)."""
    if not any(value is c or (isinstance(value, str) and value == c) for c in choices):
        expected = "one of " + ", ".join("None" if c is None else f'"{c}"' for c in choices)
        raise value_error(name, expected, f"{name}={value!r}")
    return value


def check_unit_open_float(name: str, value: Any) -> float:
    """A float in ``[0, 1)`` (the ``beta`` of the effective number of samples)."""
    if not is_real_number(value):
        raise type_error(name, "a float in [0, 1)", f"{name}={value!r}")
    value = as_float(name, value, "a float in [0, 1)")
    if not 0.0 <= value < 1.0:
        raise value_error(name, "a float in [0, 1)", f"{name}={value!r}")
    return value


def check_num_classes(value: Any, name: str = "num_classes") -> int | None:
    """``None`` or a positive Python integer."""
    if value is None:
        return None
    number = integer_value(value)
    if number is None:
        raise type_error(name, "a positive integer or None", f"{name}={value!r}")
    if number < 1:
        raise value_error(name, "a positive integer or None", f"{name}={value!r}")
    return number


def check_positive_values(name: str, values: np.ndarray) -> None:
    """All entries finite and ``> 0`` (class priors, whose log is taken)."""
    check_finite_nonnegative(name, values)
    if (values == 0).any():
        where = np.flatnonzero(np.atleast_1d(values) == 0).tolist()
        if name == "sampled_values":  # expected counts (their log is taken)
            expected = "finite positive expected counts (the log of a zero count is -inf)"
            received = f"zero at position(s) {where} of an expected count"
        else:
            expected = (
                "finite positive values (the log of a zero prior is -inf; see "
                'class_prior(zero_count="min")'
            )
            received = f"zero at class(es) {where} in `{name}`"
        raise value_error(name, expected, received)


def check_at_most_one(name: str, values: np.ndarray) -> None:
    """All entries ``<= 1`` (focal ``alpha``: ``1 - alpha`` weighs the negatives)."""
    if (values > 1).any():
        raise value_error(
            name,
            "values in [0, 1] (alpha weighs positives and 1 - alpha negatives)",
            f"value {float(values[values > 1].max())!r} in `{name}`",
        )


def check_class_labels_for_counting(
    labels: np.ndarray,
    num_classes: int | None,
    ignore_index: int | None,
    keep: np.ndarray | None = None,
) -> None:
    """Integer labels to count: non-negative, below ``num_classes``, or ``ignore_index``.

    ``keep``: the entries that are not ``ignore_index`` (``None``: all of them).
    """
    kept = labels if keep is None else labels[keep]
    hint = "" if ignore_index is None else f" or ignore_index={ignore_index}"
    if kept.size and kept.min() < 0:
        raise value_error(
            "labels",
            f"non-negative class indices{hint}",
            f"label value {int(kept.min())} ({int((kept < 0).sum())} negative label(s))",
        )
    if num_classes is not None and kept.size and kept.max() >= num_classes:
        raise value_error(
            "labels",
            f"class indices in [0, {num_classes}){hint}",
            f"label value {int(kept.max())} ({int((kept >= num_classes).sum())} out-of-range "
            "label(s))",
        )


def zero_count_error(
    name: str, what: str, missing: Sequence[int], total: int, policies: str = '"zero" or "max"'
) -> ValueError:
    """A class (or label) without samples under ``zero_count="raise"``."""
    shown = list(missing)[:20]
    more = "" if len(missing) <= 20 else f" and {len(missing) - 20} more"
    return value_error(
        name,
        f"at least one {what} for every class, or another policy (zero_count={policies})",
        f"no {what} for class(es) {shown}{more} of {total}",
    )


def check_nonnegative_number(name: str, value: Any) -> float:
    """A finite float ``>= 0`` (``gamma``, ``tau``), checked without NumPy.

    Like :func:`check_nonnegative_float`, in plain Python (NaN fails ``>= 0``), which
    ``torch.compile`` traces without a graph break.
    """
    if not is_real_number(value):
        raise type_error(name, "a finite float >= 0", f"{name}={value!r}")
    value = as_float(name, value, "a finite float >= 0")
    if not (value >= 0.0 and value != float("inf")):
        raise value_error(name, "a finite float >= 0", f"{name}={value!r}")
    return value
