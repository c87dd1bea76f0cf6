"""Configuration onto the logits: the one mover of weights, costs and priors.

Python numbers, lists and NumPy arrays are converted to the logits' framework, device and
dtype (and checked on the host); arrays of the logits' framework are cast and moved, and
their check joins the call's pending device-side checks. Re-exported by
:mod:`wxent._prepare` (``prep.config_array``, ``prep.per_class``, ``prep.sample_weight``).
"""

from __future__ import annotations

import math
import sys
import weakref
from typing import Any

import numpy as np

import wxent._prepare as prep  # circular on purpose: used at call time only
from wxent import _namespace as ns
from wxent import _validation as v
from wxent import _value_checks as checks
from wxent._types import Array


def config_array(
    name: str,
    value: Any,
    inp: prep.Inputs,
    *,
    check_values: bool = True,
    positive: bool = False,
    at_most_one: bool = False,
    traced_check: bool = True,
) -> Array:
    """Move a weight, cost or prior onto the logits' framework, device and dtype.

    Python numbers, lists and NumPy arrays are converted (and, when validation is on,
    checked to be finite and non-negative). Arrays of the logits' framework are cast
    to the compute dtype and moved to the logits' device; their check (a device-side
    flag) joins the call's pending checks.

    Every value must be finite and non-negative; ``positive`` also refuses zeros (priors,
    whose log is taken) and ``at_most_one`` values above 1 (focal ``alpha``). Boolean
    arrays of any framework (a mask) are 0/1 values; a lone ``True`` or ``False`` is a
    ``TypeError`` (a flag given to the wrong argument, most likely).

    A traced array (:func:`traced`), which cannot be read, comes back NaN where its check
    would fail (:func:`poisoned`); with ``traced_check=False`` it comes back as it is, for
    a caller that reads it only through gathers and applies :func:`poisoned` to what it
    gathers (the same values, in less work than the whole array).
    """

    def check_host(values: np.ndarray) -> None:
        _check_host(name, values, ns.float_dtype_name(xp, inp.dtype), positive, at_most_one)

    xp = inp.xp
    value = v.plain_number(value)  # (torch.compile(dynamic=True): concrete)
    v.check_plain_array(name, value)
    v.check_not_flag(name, value)
    if ns.is_array(value) and not isinstance(value, np.ndarray):
        if not _same_framework(value, xp):
            if not ns.is_concrete(value):
                raise v.type_error(
                    name,
                    f"an array of the same framework as `{inp.scores_are}`, a NumPy array or "
                    "numbers",
                    f"{name} of type {type(value).__name__}",
                )
            if ns.is_torch(value) and value.requires_grad:  # its gradient would be lost
                raise v.type_error(
                    name,
                    f"an array of the same framework as `{inp.scores_are}`, a NumPy array or "
                    "numbers (a PyTorch tensor that requires grad, given to another "
                    "framework's call, would lose its gradient: pass `.detach()` to use its "
                    "values)",
                    f"{name} of type Tensor with requires_grad=True",
                )
            value = ns.to_numpy(value)
        else:
            mask = v.is_bool(xp, value.dtype)  # 0/1 values: nothing to check but zeros
            if not (mask or v.is_floating(xp, value.dtype) or v.is_integer(xp, value.dtype)):
                raise v.type_error(
                    name,
                    "a real or boolean dtype",
                    f"{name} with dtype {v.dtype_name(value.dtype)}",
                )
            arr = prep._cast(xp, value, inp.dtype)
            if ns.is_tf_namespace(xp):  # a tf.Variable read into a tensor (a read a tape
                arr = _read_variable(arr)  # records): the compiled rules take tensors
            check_values = check_values and (positive or not mask)
            if ns.is_torch_namespace(xp) and arr.device != inp.raw_logits.device:
                if arr.device.type == "meta":  # no values to move (a module built on meta)
                    raise v.value_error(
                        name,
                        f"values on the device of `{inp.scores_are}` ({inp.raw_logits.device})",
                        f"{name} on the meta device, which holds no values",
                    )
                if ns.capturing(inp.raw_logits):
                    raise ns.captured_copy_error(name, inp.raw_logits)
                arr = arr.to(inp.raw_logits.device)
            if ns.is_jax_namespace(xp):  # committed elsewhere (another device, one of several)
                arr = ns.follow_jax(arr, inp.raw_logits)
            if inp.concrete and not ns.is_concrete(value):  # e.g. vmap over the weights only
                inp.concrete = inp.validate = False  # the result cannot be read either
            if check_values and traced(value, inp):
                if not traced_check:  # the caller checks what it reads (see the docstring)
                    return arr
                return poisoned(xp, arr, positive=positive, at_most_one=at_most_one)
            if check_values and inp.validate and ns.is_concrete(value):
                inp.add_check(
                    checks.ConfigCheck(xp, arr, positive=positive, at_most_one=at_most_one),
                    lambda: check_host(ns.to_numpy(value).astype(np.float64)),
                    bounds=(arr, positive, at_most_one),
                )
            return arr
    if ns.torch_is_compiling():  # the compiler cannot read an ndarray's dtype
        try:
            host = np.asarray(value, dtype=np.float64)
        except v.NOT_NUMBERS:
            raise v.type_error(
                name, "numbers, a list or an array of numbers", f"{name}={v._short(value)}"
            ) from None
    else:  # keep the caller's numeric dtype: no float64 round trip per call
        host = v.host_numbers(name, value)
    if check_values and inp.check_config and not ns.torch_is_compiling():
        check_host(host)  # in its own dtype: no float64 copy of a large matrix per call
    return ns.to_device(xp, host, inp.raw_logits, dtype=inp.dtype, name=name)


def _check_host(
    name: str, values: np.ndarray, dtype_name: str | None, positive: bool, at_most_one: bool
) -> None:
    """The value checks of host configuration (numeric ``values``), in the one voice.

    Values whose minimum and maximum lie well inside every bound pass after those two
    reductions in the values' own dtype (NaN fails the comparisons; a float's extremes
    convert to Python floats exactly); any other values take the checks one by one in
    float64, which raise the message.
    """
    if values.size:
        low, high = float(values.min()), float(values.max())
        top = 1.0 if at_most_one else _LARGEST.get(dtype_name or "", math.inf)
        bottom = _SMALLEST.get(dtype_name or "", 0.0) if positive else 0.0
        inside = (low > 0.0 if positive else low >= 0.0) and low >= bottom
        if inside and high <= top and high < math.inf:
            return
    _check_each(name, values.astype(np.float64, copy=False), dtype_name, positive, at_most_one)


def _check_each(
    name: str, values: np.ndarray, dtype_name: str | None, positive: bool, at_most_one: bool
) -> None:
    """The checks of :func:`_check_host` one by one: each raises its own message."""
    if positive:
        v.check_positive_values(name, values)
    v.check_finite_nonnegative(name, values)
    if at_most_one:
        v.check_at_most_one(name, values)
    v.check_representable(name, values, dtype_name, positive)


#: The largest finite value and the smallest subnormal of the checked compute dtypes.
_LARGEST = {name: float(np.finfo(name).max) for name in ("float32", "float64")}
_SMALLEST = {name: float(np.finfo(name).smallest_subnormal) for name in ("float32", "float64")}


def host_number(name: str, value: Any, inp: prep.Inputs, *, at_most_one: bool = False) -> float:
    """A Python number (not a bool) checked on the host as :func:`config_array` checks it.

    For a kernel that takes the number as a scalar argument: nothing moves to the device.
    The caller has made sure ``value`` is an ``int`` or ``float``.
    """
    value = v.plain_number(value)
    if inp.check_config:
        host = np.asarray(value, dtype=np.float64)
        dtype_name = ns.float_dtype_name(inp.xp, inp.dtype)
        _check_host(name, host, dtype_name, False, at_most_one)
    return float(value)


def poisoned(xp: Any, arr: Array, *, positive: bool = False, at_most_one: bool = False) -> Array:
    """A traced weight, cost or prior with NaN where its check would fail.

    Nothing can raise while tracing (Keras ``fit``, ``jax.jit``, ``tf.function``): a
    negative weight would give a negative loss without a word; NaN shows in the loss.
    """
    if not ns.is_tf_namespace(xp):  # (XLA and Inductor fuse the where into its consumers)
        bad = xp.logical_not(arr > 0) if positive else xp.logical_not(arr >= 0)
        if at_most_one:
            bad = xp.logical_or(bad, arr > 1)
        return xp.where(bad, xp.full_like(arr, math.nan), arr)
    import tensorflow as tf

    # TensorFlow runs each op as its own pass: one comparison (false at NaN) and one
    # `where` with a NaN scalar, no negation and no NaN constant of the array's size
    # (they took 90 ms a call for an 8192 x 8192 cost matrix on a CPU).
    good = arr > 0 if positive else arr >= 0
    if at_most_one:
        good = tf.logical_and(good, arr <= 1)
    return tf.where(good, arr, tf.constant(math.nan, arr.dtype))


def traced(value: Any, inp: prep.Inputs) -> bool:
    """Whether ``value``, an array of the logits' framework, is checked by NaN.

    A traced array; or, when configuration is checked, a concrete one in a call whose
    values are not read (a constant a ``jax.jit`` function closes over, weights of a
    ``torch.func`` transform's call): its values are known, but no check of the call
    runs, and it would be used as it is. The call reads nothing when its logits cannot be
    read (``inp.concrete`` alone is not that: the projection losses' inputs leave it
    unset, and their eager calls check the weights they read).
    """
    return (
        ns.is_array(value)
        and not isinstance(value, np.ndarray)
        and _same_framework(value, inp.xp)
        and (
            not ns.is_concrete(value)
            or (inp.check_config and not inp.concrete and not ns.is_concrete(inp.raw_logits))
        )
    )


def _read_variable(arr: Array) -> Array:
    """A ``tf.Variable``'s value as a tensor (its read recorded where a tape watches it)."""
    import tensorflow as tf

    return tf.convert_to_tensor(arr) if isinstance(arr, tf.Variable) else arr


def _same_framework(value: Array, xp: Any) -> bool:
    if ns.is_tensorflow(value):
        return ns.is_tf_namespace(xp)
    if ns.is_tf_namespace(xp):
        return False
    return bool(ns.namespace(value).__name__ == xp.__name__)


def per_class(
    name: str, value: Any, inp: prep.Inputs, *, broadcast: bool = True, **checks: bool
) -> Array | None:
    """A scalar or one value per class, moved onto the logits.

    Args:
        name: the argument's name, for messages.
        value: ``None``, a number, or a ``(C,)`` vector.
        inp: the prepared inputs.
        broadcast: reshape a vector so that it lies along the class axis of the logits
            (``(C, 1, 1)`` for ``class_axis=1`` on 4-D logits); otherwise keep ``(C,)``.
        **checks: ``positive`` / ``at_most_one``, as for :func:`config_array`.

    Returns:
        ``None`` when ``value`` is ``None``, else the array (0-d for a scalar).
    """
    if value is None:
        return None
    key = _validated_key(name, value, inp, broadcast, checks)
    if key is not None and _is_validated(key, value):
        return _validated(name, value, inp, broadcast, **checks)
    value = v.plain_number(value)
    v.check_not_flag(name, value)
    shape = v.config_shape(name, value)
    ndim = inp.ndim
    if len(shape) == 0:
        return config_array(name, value, inp, **checks)
    v.check_known_classes(name, shape, inp.xp, inp.num_classes)
    if len(shape) != 1 or (inp.num_classes is not None and shape[0] != inp.num_classes):
        where = inp.classes_are or f"along class_axis={inp.axis}"
        raise v.value_error(
            name,
            f"a scalar or one value per class, shape ({inp.num_classes},) {where}",
            f"{name} of shape {v.shape_str(shape)}",
        )
    arr = config_array(name, value, inp, **checks)
    if key is not None and arr is value and ns.is_concrete(value):
        _remember_validated(key, value)
    if broadcast and inp.axis != ndim - 1:
        target = [1] * ndim
        target[inp.axis] = -1
        arr = inp.xp.reshape(arr, tuple(target))
    return arr


#: PyTorch weights whose per-class checks of type, dtype, shape and device passed:
#: ``key -> weak reference`` (see :func:`_validated_key`), at most ``_VALIDATED_SIZE``.
_VALIDATED: dict[tuple[Any, ...], weakref.ref] = {}
_VALIDATED_SIZE = 64


def _validated_key(
    name: str, value: Any, inp: prep.Inputs, broadcast: bool, checks: dict[str, bool]
) -> tuple[Any, ...] | None:
    """The key of a PyTorch weight's host checks in :data:`_VALIDATED`, or ``None``.

    Only a plain ``torch.Tensor`` (or ``Parameter``) that needs no cast nor move takes
    the cached route: what :func:`per_class` checks on the host (type, dtype, shape
    against the classes, device) depends on the tensor's metadata and the call's
    logits only, all in the key; its values are never cached (their device-side check
    joins every call's flag, :func:`_validated`). The key holds ``id(value)``; the
    entry's weak reference makes sure it is the same live tensor.
    """
    torch = sys.modules.get("torch")
    if torch is None or type(value) not in (torch.Tensor, torch.nn.Parameter):
        return None
    if torch.compiler.is_compiling() or torch._C._is_tracing():
        # Compiled and traced code reads no values on the host; ``id(value)`` would make
        # a compiled graph guard on this very tensor (a new compilation per weight tensor).
        return None
    logits = inp.raw_logits
    if type(logits) not in (torch.Tensor, torch.nn.Parameter) or value.dtype != inp.dtype:
        return None
    device = value.device
    if device != logits.device:
        return None
    return (
        name, id(value), value.dtype, device, value.shape, value.requires_grad, inp.ndim,
        inp.axis, inp.num_classes, broadcast, inp.validate, *sorted(checks.items()),
    )  # fmt: skip


def _is_validated(key: tuple[Any, ...], value: Any) -> bool:
    """Whether ``value``'s host checks passed under ``key`` and its values can be read now.

    A tensor readable once stays so but for the process-wide states that
    :func:`wxent._namespace.is_concrete` asks: compiling and tracing make no key
    (:func:`_validated_key`), a CUDA graph capture is asked here.
    """
    ref = _VALIDATED.get(key)
    if ref is None or ref() is not value:
        return False
    return not ns.capturing(value)


def _remember_validated(key: tuple[Any, ...], value: Any) -> None:
    if len(_VALIDATED) >= _VALIDATED_SIZE:
        _VALIDATED.clear()  # (one operation: safe beside other threads)
    _VALIDATED[key] = weakref.ref(value)


def _validated(name: str, value: Any, inp: prep.Inputs, broadcast: bool, **flags: bool) -> Array:
    """:func:`per_class` of a tensor whose host checks passed before (:data:`_VALIDATED`).

    The value check is the call's own, as in :func:`config_array`: a device-side flag
    joins the call's pending checks (its one read).
    """
    positive, at_most_one = flags.get("positive", False), flags.get("at_most_one", False)
    if inp.validate:
        xp = inp.xp

        def diagnose() -> None:
            values = ns.to_numpy(value).astype(np.float64)
            dtype_name = ns.float_dtype_name(xp, inp.dtype)
            _check_host(name, values, dtype_name, positive, at_most_one)

        inp.add_check(
            checks.ConfigCheck(xp, value, positive=positive, at_most_one=at_most_one),
            diagnose,
            bounds=(value, positive, at_most_one),
        )
    ndim = inp.ndim
    if broadcast and inp.axis != ndim - 1:
        target = [1] * ndim
        target[inp.axis] = -1
        return inp.xp.reshape(value, tuple(target))
    return value


def sample_weight(value: Any, inp: prep.Inputs, *, per_sample: bool) -> Array | None:
    """The ``sample_weight`` argument, checked against the allowed shapes.

    Allowed: a scalar; the loss shape; and when ``per_sample`` (sigmoid family) the
    logits' shape without the class axis, which is expanded to weight every label of
    the sample. Anything else is an error — nothing is silently broadcast.
    """
    if value is None:
        return None
    value = v.plain_number(value)
    shape = v.config_shape("sample_weight", value)
    if len(shape) == 0:
        return config_array("sample_weight", value, inp)
    full = inp.loss_shape
    sample_shape = inp.loss_shape[: inp.axis] + inp.loss_shape[inp.axis + 1 :]
    if v.shapes_match(shape, full) and len(shape) == len(full):
        return config_array("sample_weight", value, inp)
    if per_sample and v.shapes_match(shape, sample_shape):
        arr = config_array("sample_weight", value, inp)
        return inp.xp.expand_dims(arr, axis=inp.axis)
    allowed = f"a scalar or the loss shape {v.shape_str(full)}"
    if per_sample:
        allowed += (
            f", or one weight per sample {v.shape_str(sample_shape)} (the shape of `logits` "
            f"without class_axis={inp.axis})"
        )
    raise v.value_error("sample_weight", allowed, f"sample_weight of shape {v.shape_str(shape)}")


def config_inputs(
    logits: Array,
    axis: int,
    *,
    check_arrays: bool,
    check_config: bool = True,
    per_sample: bool = True,
) -> prep.Inputs:
    """Inputs of logits alone, already checked by the caller, for the configuration mover.

    ``check_arrays`` records the checks of framework configuration arrays (when the logits
    are concrete); ``check_config`` checks host configuration; the loss shape is the logits'
    shape without the class axis (``per_sample``) or the logits' shape.
    """
    xp = ns.namespace(logits)
    shape = v.static_shape(logits)
    readable = ns.is_concrete(logits)
    return prep.Inputs(
        xp=xp,
        raw_logits=logits,
        compute_dtype=prep._compute_dtype(xp, logits.dtype),
        out_dtype=logits.dtype,
        axis=axis,
        num_classes=shape[axis],
        validate=check_arrays and readable,
        raw_labels=None,
        given_valid=None,
        indices=False,
        loss_shape=shape[:axis] + shape[axis + 1 :] if per_sample else shape,
        check_config=check_config,
        concrete=readable,
    )
