"""Inputs of the metrics: labels, weights, thresholds and costs on the logits' framework.

Labels and weights of another framework are refused with one message; Python lists are
accepted. Value checks on framework arrays are collected as device-side booleans
(:class:`Checks`) and read once per call by :mod:`wxent._metric_counts`.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wxent import _namespace as ns
from wxent import _prepare as prep
from wxent import _validation as v
from wxent._types import Array
from wxent.cost_matrix import check_cost_matrix, check_matrix_shape, matrix_for
from wxent.decisions import threshold_of


def same_framework_error(name: str, value: Any, logits: Any) -> TypeError:
    """The one message for an array of another framework than ``logits``."""
    return v.type_error(
        name,
        f"an array of the same framework as `logits` ({type(logits).__name__})",
        f"{name} of type {type(value).__name__}",
    )


def own_framework(name: str, value: Any, logits: Any) -> Any:
    """``value``, or a concrete array of another framework as NumPy.

    Configuration (``threshold``, ``costs``) and ``sample_weight`` move onto the logits as
    the losses' weights do; a traced array of another framework cannot be read: an error.
    Labels are data: of the logits' framework.
    """
    foreign = ns.is_array(value) and not isinstance(value, np.ndarray)
    if foreign and framework(value) != framework(logits):
        if not ns.is_concrete(value):
            raise same_framework_error(name, value, logits)
        return ns.to_numpy(value)
    return value


def framework(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return "numpy"
    if ns.is_torch(x):
        return "torch"
    if ns.is_tensorflow(x):
        return "tensorflow"
    return str(ns.namespace(x).__name__)


def as_labels(labels: Any, logits: Array, xp: Any) -> Array:
    """Labels of the logits' framework; Python lists (and JAX's NumPy inputs) converted."""
    v.check_plain_array("labels", labels)
    if isinstance(labels, (list, tuple)):
        try:
            host = np.asarray(labels)
        except ValueError:
            host = np.asarray(labels, dtype=object)
        if host.dtype.kind not in "biuf":
            raise v.type_error(
                "labels", "numbers (a list of class indices or 0/1 labels)", v._short(labels)
            )
        if ns.is_numpy_namespace(xp):
            return host
        return ns.to_device(xp, host, logits, name="labels")
    if not ns.is_array(labels):
        raise v.type_error(
            "labels",
            "an array of the same framework as `logits`",
            f"labels of type {type(labels).__name__}",
        )
    if framework(labels) != framework(logits):
        if isinstance(labels, np.ndarray) and ns.is_jax_namespace(xp):
            return xp.asarray(ns.jax_host(labels, "labels"))  # JAX takes NumPy inputs
        raise same_framework_error("labels", labels, logits)
    if ns.is_torch(labels) and labels.device != logits.device:
        labels = labels.to(logits.device)
    if ns.is_jax_namespace(xp):  # committed to other devices: moved, as PyTorch's are
        labels = ns.follow_jax(labels, logits)
    if ns.is_torch(labels) and v.dtype_name(labels.dtype) in ("uint16", "uint32", "uint64"):
        torch = sys.modules["torch"]
        wide = labels.to(torch.int64)  # no comparison kernels for them
        if labels.dtype == torch.uint64:  # 2**63 and above wrap to negatives (ignore_index -1)
            wide = torch.where(wide < 0, torch.iinfo(torch.int64).max, wide)  # saturated
        labels = wide
    return labels


def _check_threshold(threshold: Any, k: int | None, binary: bool) -> np.ndarray:
    v.check_plain_array("threshold", threshold)
    if isinstance(threshold, (bool, str)):
        raise v.type_error(
            "threshold", "a logit (a number) or one per label", f"threshold={threshold!r}"
        )
    try:
        t = np.asarray(threshold, dtype=np.float64)
    except OverflowError:  # a Python integer beyond float64
        raise v.value_error(
            "threshold", "logits that float64 holds", f"threshold={v._short(threshold)}"
        ) from None
    except v.NOT_NUMBERS:
        raise v.type_error(
            "threshold", "a logit (a number) or one per label", f"threshold={threshold!r}"
        ) from None
    compiling = ns.torch_is_compiling()  # the compiler cannot read an ndarray's dtype
    if not compiling and np.asarray(threshold).dtype == bool:  # as for every framework
        raise v.type_error("threshold", "a real dtype", "threshold of dtype bool")
    check_threshold_shape(t.shape, k, binary)
    if not compiling and np.isnan(t).any():
        raise v.value_error("threshold", "logits that are not NaN", f"threshold={threshold!r}")
    return t


def check_threshold_shape(shape: tuple[Any, ...], k: int | None, binary: bool) -> None:
    """A scalar, or one threshold per label (``k`` of them; any number for ``k=None``)."""
    if len(shape) > 1 or (len(shape) == 1 and (binary or not v.shapes_match(shape, (k,)))):
        expected = "a scalar logit for binary logits"
        if not binary:
            per_label = "a vector of shape (L,)" if k is None else f"shape ({k},) along class_axis"
            expected = f"a scalar logit or one per label, {per_label}"
        raise v.value_error("threshold", expected, f"threshold of shape {v.shape_str(shape)}")


def below(t: np.ndarray, dtype: str | None) -> np.ndarray:
    """The largest ``float32`` at most ``t`` (``+inf`` for ``+inf``): ``x > t`` exactly."""
    if dtype != "float32":
        return t
    # Clipped first (no overflow in the cast): beyond float32's range the largest float32
    # at most t is its maximum, or -inf below its minimum (the step below -max, taken
    # without nextafter, which warns of the overflow; no errstate: torch.compile traces it).
    top = np.float32(np.finfo(np.float32).max)
    low = np.clip(t, -top, top).astype(np.float32)
    edge = low == -top
    down = np.nextafter(np.where(edge, np.float32(0.0), low), np.float32(-np.inf))
    down = np.where(edge, np.float32(-np.inf), down)
    # +inf is its own largest float32 at most it: no logit (not even +inf) is above it,
    # as with the float64 threshold (the clip would make +inf logits positive).
    low = np.where(t == np.inf, np.float32(np.inf), low)
    return np.where(low.astype(np.float64) > t, down, low)


def below_on_device(xp: Any, t: Any, arr: Any) -> Any:
    """``arr`` (``t`` cast to float32) as the largest float32 at most ``t``, on the device.

    A float64 threshold of the logits' framework compared with float32 logits: cast to
    the nearest float32 it could round up (16777219.0 to 16777220.0, and a logit
    16777220 was not above it), unlike the same number given as a Python float.
    """
    if v.dtype_name(t.dtype) != "float64":
        return arr
    if ns.is_torch_namespace(xp):
        import torch

        t = t.to(arr.device)
        step = torch.nextafter(arr, torch.full_like(arr, -math.inf))
    elif ns.is_tf_namespace(xp):
        import tensorflow as tf

        step = tf.math.nextafter(arr, tf.fill(tf.shape(arr), tf.constant(-math.inf, arr.dtype)))
    else:
        step = xp.nextafter(arr, xp.full_like(arr, -math.inf))
    return xp.where(xp.astype(arr, t.dtype) > t, step, arr)


def check_options(
    threshold: Any, costs: Any, ignore_index: Any, ignore_label: Any, class_axis: Any
) -> None:
    """The options of a metric accumulator, checked before its first batch.

    Everything a batch would refuse whatever its logits: a threshold that is not a number
    or a vector of numbers (or holds NaN), a cost matrix that is not a square matrix of
    finite non-negative numbers, ignore markers and a class axis of the wrong type,
    options that no logits accept together. What depends on the batches (the number of
    labels or classes, sigmoid or softmax logits) is checked by each batch.
    """
    if ns.is_array(threshold) and not isinstance(threshold, np.ndarray):
        check_threshold_shape(v.static_shape(threshold), None, False)
        if not (
            v.is_floating(ns.namespace(threshold), threshold.dtype)
            or v.is_integer(ns.namespace(threshold), threshold.dtype)
        ):
            raise v.type_error("threshold", "a real dtype", f"threshold of dtype {threshold.dtype}")
        if ns.is_concrete(threshold) and np.isnan(ns.to_numpy(threshold)).any():
            raise v.value_error("threshold", "logits that are not NaN", v._short(threshold))
        default = False
    else:
        t = _check_threshold(threshold, None, False)
        default = t.ndim == 0 and float(t) == 0.0
    if costs is not None:
        if ns.is_array(costs) and not ns.is_concrete(costs):
            check_matrix_shape("costs", v.static_shape(costs), None)
        else:
            check_cost_matrix(costs, warn=False)
        if not default:
            raise v.value_error(
                "threshold",
                "the default 0.0 with costs (the decisions are the cost-optimal ones)",
                f"threshold={v._short(threshold)}",
            )
    v.check_optional_int("ignore_index", ignore_index)
    v.check_optional_label_value("ignore_label", ignore_label)
    if ignore_index is not None and ignore_label is not None:
        raise v.value_error(
            "ignore_label",
            "None with ignore_index (ignore_index serves softmax logits, ignore_label "
            "sigmoid logits)",
            f"ignore_label={ignore_label!r}",
        )
    if v.integer_value(class_axis) is None:
        raise v.type_error(
            "class_axis", "an integer axis of `logits`", f"class_axis={class_axis!r}"
        )


class Checks:
    """Device-side checks: ``(bad, raise_it)`` pairs folded into one flag read."""

    def __init__(self) -> None:
        self.items: list[tuple[Array, Any]] = []

    def add(self, bad: Array, raise_it: Any) -> None:
        if ns.is_concrete(bad):  # not when a transform batches an option (vmap over weights)
            self.items.append((bad, raise_it))

    def run(self, xp: Any) -> None:
        """Read one scalar; on a failed check build its message on the host and raise."""
        if not self.items:
            return
        flag = 0
        for i, (bad, _) in enumerate(self.items):
            flag = xp.astype(xp.any(bad), xp.int32) * (2**i) + flag
        if ns.tracing_eager_call():  # the graph of an eager call: read after the call
            from wxent._metric_graphs import deliver_status

            deliver_status(flag)
            return
        value = int(flag)
        for i, (_, raise_it) in enumerate(self.items):
            if value & (2**i):
                raise_it()


@dataclass
class Call:
    """One metric call: the checked options and the logits ready to count."""

    xp: Any
    logits: Array
    x: Array  # logits in the score dtype (NumPy: as given)
    labels: Array
    axis: int
    dtype: Any
    numpy: bool
    validate: bool
    concrete: bool
    checks: Checks
    sample_weight: Any
    threshold: Any
    costs: Any
    ignore_index: Any
    ignore_label: Any
    matrix: bool
    need_costs: bool
    given: Any = None  # the labels as passed, where ``labels`` widened them (messages)
    # 0-d flags of traced costs or thresholds that a check would refuse (NaN scores)
    traced_bad: list[Any] = field(default_factory=list)

    def inputs(self, k: Any) -> Any:
        """Inputs for the configuration mover: the score dtype, the logits' device."""
        like = self.xp.astype(self.xp.reshape(self.logits, (-1,))[:0], self.dtype)
        if ns.is_jax_namespace(self.xp):  # (an empty slice of sharded logits has one device)
            like = ns.follow_jax(like, self.logits)
        return prep.Inputs(
            self.xp, like, self.dtype, self.axis, k, False, None, None, False, (), self.validate,
            concrete=self.concrete,
        )  # fmt: skip

    def count_dtype(self, weighted: bool) -> Any:
        if weighted:
            return self.dtype
        if self.numpy:
            return np.int64
        if ns.is_jax_namespace(self.xp) and not sys.modules["jax"].config.jax_enable_x64:
            return self.xp.int32
        return self.xp.int64


def weights(c: Call, allowed: list[tuple[tuple[Any, ...], Any]]) -> Array | None:
    """``sample_weight`` moved onto the logits and shaped by ``reshape(w)`` of its shape.

    ``allowed``: ``(shape, reshape)`` pairs, the first matching shape wins (a list, not a
    dict keyed by shapes: hashing a symbolic size fixes it under ``torch.compile``).
    """
    value = c.sample_weight
    if value is None:
        return None
    v.check_not_flag("sample_weight", value)
    value = own_framework("sample_weight", value, c.logits)  # read as values, as the losses'
    foreign = ns.is_array(value) and not isinstance(value, np.ndarray)
    shape = v.config_shape("sample_weight", value)
    for allowed_shape, reshape in allowed:
        if len(shape) == len(allowed_shape) and v.shapes_match(shape, allowed_shape):
            w = prep.config_array("sample_weight", value, c.inputs(None))
            if foreign and c.concrete:
                c.checks.add(~(c.xp.isfinite(w) & (w >= 0)), lambda: _check_weights(c, value))
            return reshape(w)
    expected = " or ".join(v.shape_str(s) if s else "a scalar" for s, _ in allowed)
    raise v.value_error(
        "sample_weight", f"one weight per sample: {expected}", f"sample_weight of shape {shape}"
    )


def _check_weights(c: Call, value: Array) -> None:
    host = ns.to_numpy(value).astype(np.float64)
    v.check_finite_nonnegative("sample_weight", host)
    v.check_representable("sample_weight", host, ns.float_dtype_name(c.xp, c.dtype), False)


def threshold_array(c: Call, k: int, binary: bool) -> Array:
    t = own_framework("threshold", c.threshold, c.logits)
    if ns.is_array(t) and not isinstance(t, np.ndarray):
        check_threshold_shape(v.static_shape(t), k, binary)
        if not v.is_floating(c.xp, t.dtype) and not v.is_integer(c.xp, t.dtype):
            raise v.type_error("threshold", "a real dtype", f"threshold of dtype {t.dtype}")
        inputs = c.inputs(k)
        arr = prep.config_array("threshold", t, inputs, check_values=False)
        if ns.float_dtype_name(c.xp, c.dtype) == "float32":
            arr = below_on_device(c.xp, t, arr)
        if c.concrete:
            c.checks.add(
                c.xp.isnan(arr),
                lambda: _raise(v.value_error, "threshold", "logits that are not NaN", v._short(t)),
            )
        elif prep.traced(t, inputs):  # traced: the scores are NaN, as a traced loss's
            c.traced_bad.append(c.xp.any(c.xp.isnan(arr)))
        return arr
    host = _check_threshold(t, k, binary)
    if c.numpy:
        return host
    name = ns.float_dtype_name(c.xp, c.dtype)
    return prep.config_array("threshold", below(host, name), c.inputs(k), check_values=False)


def _raise(kind: Any, name: str, expected: str, received: str) -> None:
    raise kind(name, expected, received)


def holds(labels: Array, value: int) -> bool:
    """Whether the labels' integer dtype holds ``value`` (a comparison would not wrap it)."""
    try:
        info = np.iinfo(v.dtype_name(labels.dtype))
    except (TypeError, ValueError):
        return True
    return info.min <= value <= info.max


def ignore_in_dtype(ignore: int | None, labels: Array) -> int | None:
    """``ignore_index`` outside the labels' dtype range ignores nothing (no wrapping)."""
    if ignore is None:
        return None
    try:
        info = np.iinfo(v.dtype_name(labels.dtype))
    except (TypeError, ValueError):
        return ignore
    return ignore if info.min <= ignore <= info.max else None


def binary_costs(c: Call) -> tuple[Array, Array]:
    """The ``2 x 2`` cost matrix on the logits and its cost threshold (a logit)."""
    xp, costs = c.xp, own_framework("costs", c.costs, c.logits)
    foreign = ns.is_array(costs) and not isinstance(costs, np.ndarray)
    if foreign or ns.torch_is_compiling():  # the threshold computed on the device
        m = matrix_for("costs", costs, c.inputs(2), warn=False)
        a, b = m[0, 1] - m[0, 0], m[1, 0] - m[1, 1]
        inf = xp.asarray(math.inf, dtype=c.dtype) if c.numpy else xp.full_like(a, math.inf)
        safe_a = xp.where(a > 0, a, xp.ones_like(a))
        safe_b = xp.where(b > 0, b, xp.ones_like(b))
        t = xp.where(a <= 0, -inf, xp.where(b <= 0, inf, xp.log(safe_a) - xp.log(safe_b)))
        if c.concrete:
            bad = ~(xp.isfinite(m) & (m >= 0))
            degenerate = ((a == 0) & (b == 0)) | ((a < 0) & (b < 0))
            c.checks.add(xp.any(bad) | degenerate, lambda: _check_binary_costs(ns.to_numpy(costs)))
        return m, t
    host = check_cost_matrix(costs, num_classes=2, warn=False) if c.validate else None
    if host is None:
        host = np.asarray(costs, dtype=np.float64)
    t = _check_binary_costs(host)
    m = host if c.numpy else prep.config_array("costs", host, c.inputs(2), check_values=False)
    tt = below(np.asarray(t, dtype=np.float64), ns.float_dtype_name(xp, c.dtype))
    return m, tt if c.numpy else prep.config_array("threshold", tt, c.inputs(2), check_values=False)


def _check_binary_costs(host: np.ndarray) -> float:
    """The threshold of a checked ``[[c_tn, c_fp], [c_fn, c_tp]]``; errors name ``costs``."""
    host = check_cost_matrix(host, num_classes=2, warn=False)
    matrix = "a 2 x 2 matrix [[c_tn, c_fp], [c_fn, c_tp]]"
    return threshold_of(
        float(host[0, 1] - host[0, 0]),
        float(host[1, 0] - host[1, 1]),
        name="costs",
        received=f"costs={host.tolist()}",
        matters=f"{matrix} under which the decision matters (costs[0, 1] != costs[0, 0] "
        "or costs[1, 0] != costs[1, 1])",
        ordered=f"{matrix} whose mistakes cost at least as much as a correct decision in "
        "one row (costs[0, 1] >= costs[0, 0] or costs[1, 0] >= costs[1, 1]): not a "
        "swapped one",
    )
