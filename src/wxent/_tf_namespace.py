"""The standard array names wxent's core uses, mapped onto TensorFlow.

TensorFlow is not an Array API namespace, and array-api-compat does not wrap it. This
module gives the core the handful of standard functions it calls, with Array API
signatures, so the same core code runs on ``tf.Tensor`` (eagerly and inside
``tf.function``) with gradients through ``tf.GradientTape``. A test checks that every
``xp.<name>`` used by the core exists here.

It is imported only when a TensorFlow tensor is passed in, so it may import TensorFlow.
"""

from __future__ import annotations

import builtins
from typing import Any

import tensorflow as tf
from tensorflow.python.eager import forwardprop_util, record

from wxent._types import Array

float16 = tf.float16
bfloat16 = tf.bfloat16
float32 = tf.float32
float64 = tf.float64
int32 = tf.int32
int64 = tf.int64


def _shape(shape: Any) -> Any:
    if isinstance(shape, tf.TensorShape):
        dims = shape.as_list()
        return [-1 if d is None else d for d in dims]
    return [(-1 if d is None else d) for d in shape]


def asarray(obj: Any, /, *, dtype: Any = None, device: Any = None, copy: Any = None) -> Array:
    """``tf.convert_to_tensor`` with an optional dtype."""
    if isinstance(obj, (tf.Tensor, tf.Variable)):
        return obj if dtype is None else tf.cast(obj, dtype)
    return tf.convert_to_tensor(obj, dtype=dtype)


def astype(x: Array, dtype: Any, /, *, copy: Any = True) -> Array:
    """Cast to ``dtype``."""
    return x if x.dtype == dtype else tf.cast(x, dtype)


def zeros_like(x: Array, /, *, dtype: Any = None) -> Array:
    """Zeros of the shape (and dtype) of ``x``."""
    return tf.zeros_like(x, dtype=dtype)


def ones_like(x: Array, /, *, dtype: Any = None) -> Array:
    """Ones of the shape (and dtype) of ``x``."""
    return tf.ones_like(x, dtype=dtype)


def full_like(x: Array, /, fill_value: Any, *, dtype: Any = None) -> Array:
    """An array like ``x`` filled with ``fill_value``."""
    return tf.fill(tf.shape(x), _in_dtype(fill_value, dtype or x.dtype))


def _in_dtype(value: Any, dtype: Any) -> Array:
    """``value`` as a scalar of ``dtype``: a Python number straight in ``dtype``.

    ``tf.cast`` of a Python float first makes a float32 tensor, so float64 would get
    0.1 rounded to float32 (and 1e-300 as 0).
    """
    return tf.cast(value, dtype) if _is_tensor(value) else tf.constant(value, dtype=dtype)


def where(condition: Array, x1: Array | complex, x2: Array | complex, /) -> Array:
    """Elementwise select, broadcasting all three; one of ``x1``, ``x2`` may be a scalar.

    A Python scalar takes the other operand's dtype (``tf.where`` would make it a
    float32 or int32 tensor, an error beside float64 or int64), as the Array API says.
    """
    if not _is_tensor(x1) and _is_tensor(x2):
        x1 = tf.constant(x1, dtype=x2.dtype)  # type: ignore[union-attr]
    elif not _is_tensor(x2) and _is_tensor(x1):
        x2 = tf.constant(x2, dtype=x1.dtype)  # type: ignore[union-attr]
    return tf.where(condition, x1, x2)


def accumulating() -> builtins.bool:
    """Whether a ``tf.autodiff.ForwardAccumulator`` is active (eagerly, or in this trace).

    About a microsecond where a tape records; less where nothing records.
    """
    return record.could_possibly_record() and builtins.bool(
        forwardprop_util.pack_tangents([]).indices
    )


def multiply(x1: Array, x2: Any, /) -> Array:
    """``x1 * x2``; under a forward accumulator, ``tf.math.multiply_no_nan(x1, x2)``.

    For an ``x1`` that may be infinite (a loss) and a finite ``x2`` (a weight, a label,
    a number): TensorFlow's forward mode gives ``x1 * x2`` the tangent
    ``dx1 * x2 + x1 * dx2``, with ``dx2 = 0`` filled in where ``x2`` has no tangent,
    which is NaN wherever ``x1`` is infinite. ``multiply_no_nan``'s tangent leaves that
    term out where ``dx2`` is 0; its value is the product's wherever that is not NaN
    (0 where ``x2`` is 0, which wxent's callers keep from meeting an infinite ``x1``).
    Outside forward mode a plain product (reverse mode is unchanged).
    """
    if not accumulating():
        return x1 * x2
    return tf.math.multiply_no_nan(x1, _in_dtype(x2, x1.dtype))


def divide(x1: Array, x2: Any, /) -> Array:
    """``x1 / x2``; under a forward accumulator, finite where ``x1`` is infinite.

    A division's tangent ``dx1 / x2 - x1 * dx2 / x2**2`` is NaN at an infinite ``x1``
    for the reason of :func:`multiply`: there the quotient is ``multiply(x1, 1 / x2)``
    (infinite, with tangent ``dx1 / x2``); finite ``x1`` keep the exact quotient. For a
    non-zero ``x2``; outside forward mode a plain division.
    """
    if not accumulating():
        return x1 / x2
    d = _in_dtype(x2, x1.dtype)
    return tf.where(tf.math.is_finite(x1), x1 / d, tf.math.multiply_no_nan(x1, 1 / d))


def _is_tensor(x: Any) -> builtins.bool:
    return isinstance(x, (tf.Tensor, tf.Variable))


def exp(x: Array, /) -> Array:
    """Elementwise ``exp``."""
    return tf.exp(x)


def log(x: Array, /) -> Array:
    """Elementwise ``log``."""
    return tf.math.log(x)


def expm1(x: Array, /) -> Array:
    """Elementwise ``expm1``."""
    return tf.math.expm1(x)


def log1p(x: Array, /) -> Array:
    """Elementwise ``log1p``."""
    return tf.math.log1p(x)


def abs(x: Array, /) -> Array:
    """Elementwise absolute value."""
    return tf.abs(x)


def maximum(x1: Array, x2: Array, /) -> Array:
    """Elementwise maximum."""
    return tf.maximum(x1, x2)


def minimum(x1: Array, x2: Array, /) -> Array:
    """Elementwise minimum."""
    return tf.minimum(x1, x2)


def clip(x: Array, /, min: Any = None, max: Any = None) -> Array:
    """Clip to ``[min, max]`` (either may be ``None``)."""
    if min is not None:
        x = tf.maximum(x, _in_dtype(min, x.dtype))
    if max is not None:
        x = tf.minimum(x, _in_dtype(max, x.dtype))
    return x


def isfinite(x: Array, /) -> Array:
    """Elementwise finiteness."""
    return tf.math.is_finite(x)


def isnan(x: Array, /) -> Array:
    """Elementwise NaN test."""
    return tf.math.is_nan(x)


def sum(
    x: Array, /, *, axis: Any = None, dtype: Any = None, keepdims: builtins.bool = False
) -> Array:
    """Sum along ``axis``."""
    if dtype is not None:
        x = tf.cast(x, dtype)
    return tf.reduce_sum(x, axis=axis, keepdims=keepdims)


def mean(x: Array, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Array:
    """Mean along ``axis``."""
    return tf.reduce_mean(x, axis=axis, keepdims=keepdims)


def max(x: Array, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Array:
    """Maximum along ``axis``."""
    return tf.reduce_max(x, axis=axis, keepdims=keepdims)


def min(x: Array, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Array:
    """Minimum along ``axis``."""
    return tf.reduce_min(x, axis=axis, keepdims=keepdims)


def argmax(x: Array, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Array:
    """Index of the maximum along ``axis`` (int64)."""
    out = tf.argmax(x, axis=-1 if axis is None else axis, output_type=tf.int64)
    return tf.expand_dims(out, axis) if keepdims else out


def argmin(x: Array, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Array:
    """Index of the minimum along ``axis`` (int64)."""
    out = tf.argmin(x, axis=-1 if axis is None else axis, output_type=tf.int64)
    return tf.expand_dims(out, axis) if keepdims else out


def any(x: Array, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Array:
    """Logical or along ``axis``."""
    return tf.reduce_any(tf.cast(x, tf.bool), axis=axis, keepdims=keepdims)


def all(x: Array, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Array:
    """Logical and along ``axis``."""
    return tf.reduce_all(tf.cast(x, tf.bool), axis=axis, keepdims=keepdims)


def expand_dims(x: Array, /, *, axis: int = 0) -> Array:
    """Insert a size-1 axis."""
    return tf.expand_dims(x, axis)


def squeeze(x: Array, /, axis: Any) -> Array:
    """Remove size-1 axes."""
    return tf.squeeze(x, axis=axis)


def reshape(x: Array, /, shape: Any, *, copy: Any = None) -> Array:
    """Reshape (an unknown static dimension becomes ``-1``)."""
    return tf.reshape(x, _shape(shape))


def moveaxis(x: Array, source: int, destination: int, /) -> Array:
    """Move one axis."""
    ndim = len(x.shape)
    order = [i for i in range(ndim) if i != source % ndim]
    order.insert(destination % ndim, source % ndim)
    return tf.transpose(x, perm=order)


def take(x: Array, indices: Array, /, *, axis: int | None = None) -> Array:
    """Gather along ``axis``."""
    return tf.gather(x, indices, axis=0 if axis is None else axis)


def take_along_axis(x: Array, indices: Array, /, *, axis: int = -1) -> Array:
    """Gather along ``axis`` with indices of the same rank."""
    ndim = len(x.shape)
    axis = axis % ndim
    if axis != ndim - 1:
        x = moveaxis(x, axis, -1)
        indices = moveaxis(indices, axis, -1)
    out = tf.gather(x, indices, axis=-1, batch_dims=ndim - 1)
    return moveaxis(out, -1, axis) if axis != ndim - 1 else out


def matmul(x1: Array, x2: Array, /) -> Array:
    """Matrix product."""
    return tf.linalg.matmul(x1, x2)


def matrix_transpose(x: Array, /) -> Array:
    """Swap the last two axes."""
    return tf.linalg.matrix_transpose(x)


def arange(
    start: Any, /, stop: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None
) -> Array:
    """``tf.range``."""
    if stop is None:
        return tf.range(start, dtype=dtype or tf.int64)
    return tf.range(start, stop, step, dtype=dtype or tf.int64)


def stack(arrays: Any, /, *, axis: int = 0) -> Array:
    """Stack along a new axis."""
    return tf.stack(list(arrays), axis=axis)


def concat(arrays: Any, /, *, axis: int = 0) -> Array:
    """Concatenate along an axis."""
    return tf.concat(list(arrays), axis=axis)


def logical_and(x1: Array, x2: Array, /) -> Array:
    """Elementwise and."""
    return tf.logical_and(x1, x2)


def logical_or(x1: Array, x2: Array, /) -> Array:
    """Elementwise or."""
    return tf.logical_or(x1, x2)


def logical_not(x: Array, /) -> Array:
    """Elementwise not."""
    return tf.logical_not(x)


def sqrt(x: Array, /) -> Array:
    """Elementwise square root."""
    return tf.sqrt(x)


def log2(x: Array, /) -> Array:
    """Elementwise base-2 logarithm."""
    return tf.math.log(x) / tf.math.log(tf.constant(2.0, x.dtype))


def floor(x: Array, /) -> Array:
    """Elementwise floor."""
    return tf.math.floor(x)


def pow(x1: Array, x2: Array, /) -> Array:
    """Elementwise power."""
    return tf.pow(x1, x2)


def sign(x: Array, /) -> Array:
    """Elementwise sign."""
    return tf.sign(x)


def isdtype(dtype: Any, kind: Any) -> builtins.bool:
    """Subset of ``isdtype``: "real floating", "integral", "bool"."""
    dtype = tf.as_dtype(dtype)
    if kind == "real floating":
        return builtins.bool(dtype.is_floating)
    if kind == "integral":
        return builtins.bool(dtype.is_integer)
    if kind == "bool":
        return builtins.bool(dtype.is_bool)
    raise ValueError(f"unsupported dtype kind {kind!r}")


bool = tf.bool
