"""Value checks on framework arrays, on their device: flags folded into one host read.

Each check is a 0-d "something is wrong" flag computed with reductions (``min``, ``max``,
``any``) in the checked array's own framework and on its device; a call collects them in
:class:`PendingChecks` and :func:`wxent._prepare.finish` reads them, OR-ed together, as one
scalar. Only when that flag is set does a check's ``diagnose`` copy arrays to the host to
raise the message of :mod:`wxent._validation` (the error path). Re-exported there.

One warning rides on the same read: logits that look like probabilities
(:func:`probability_flag`, on a bounded view of the first logits) set bit 1 of the scalar
read by :func:`status`, and :func:`warn_probabilities` emits :class:`LogitsWarning`.
"""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import numpy as np

import wxent._validation as v  # circular on purpose: used at call time only
from wxent import _jax_checks, _warnings
from wxent import _namespace as ns

inf = float("inf")


class PendingChecks:
    """Value checks of one call, as device-side flags read together once.

    Each check adds a 0-d boolean array, in the checked array's framework and on its
    device, that is true when something is wrong, and a ``diagnose`` callable that raises
    the precise message (it may copy to the host: it runs on the error path only). A
    flag may be given as a callable that computes it: it then runs when the flags are
    read (after the loss was launched, so that on a GPU the small reductions of the
    checks queue behind the loss instead of delaying it), and a fused kernel that checks
    the same values itself can :meth:`replace` it by its own flag before that.
    """

    def __init__(self) -> None:
        self._flags: list[Any] = []
        self._keys: list[str | None] = []
        self._ranges: list[tuple[Any, bool, bool] | None] = []
        self.diagnoses: list[Any] = []

    def add(
        self,
        flag: Any,
        diagnose: Any,
        key: str | None = None,
        bounds: tuple[Any, bool, bool] | None = None,
    ) -> None:
        """Record a flag (or a callable computing it) and the callable raising its message.

        ``bounds``: ``(array, positive, at_most_one)`` when the flag is the
        :func:`config_flag` of ``array`` (a fused kernel may check those bounds instead).
        """
        self._flags.append(flag)
        self._keys.append(key)
        self._ranges.append(bounds)
        self.diagnoses.append(diagnose)

    def bounds(self) -> list[tuple[Any, bool, bool]]:
        """The ``(array, positive, at_most_one)`` of the :func:`config_flag` checks pending."""
        return [b for b, f in zip(self._ranges, self._flags, strict=True) if b and callable(f)]

    def take_bounds(self) -> list[tuple[Any, bool, bool]]:
        """The :func:`config_flag` checks still deferred, handed over to a fused kernel.

        Their flags are dropped here (their diagnoses stay): the caller checks
        ``(array, positive, at_most_one)`` itself and reports through its own flag.
        """
        taken = []
        for i, bounds in enumerate(self._ranges):
            if bounds is not None and callable(self._flags[i]):
                taken.append(bounds)
                self._flags[i] = None
        return taken

    def replace(self, key: str, flag: Any) -> None:
        """Use ``flag`` for the check recorded under ``key`` (no-op if there is none)."""
        for i, k in enumerate(self._keys):
            if k == key:
                self._flags[i] = flag

    def has(self, key: str) -> bool:
        """Whether a check was recorded under ``key``."""
        return key in self._keys

    def pending(self) -> list[Any]:
        """The flags and deferred checks as recorded (``None`` for the ones handed over)."""
        return list(self._flags)

    @property
    def flags(self) -> list[Any]:
        """The 0-d flags, the deferred ones computed now (once)."""
        for i, flag in enumerate(self._flags):
            if callable(flag):
                self._flags[i] = flag()
        return [f for f in self._flags if f is not None]

    def diagnose(self) -> None:
        """Raise the message of the first failing check (no-op if none fails)."""
        for diagnose in self.diagnoses:
            diagnose()


def _min_max(xp: Any, x: Any) -> tuple[Any, Any]:
    """The minimum and maximum of a non-empty array (one pass on PyTorch)."""
    torch = ns.torch_of(xp)
    if torch is not None:
        if x.dtype == torch.bool:
            x = x.to(torch.uint8)
        elif x.dtype in (torch.uint16, torch.uint32):  # no min/max kernels for them
            x = x.to(torch.int64)
        elif x.dtype == torch.uint64:
            x = x.to(torch.float64)  # exact enough to tell a range [0, C) from 2**64 - 1
        return torch.aminmax(x)
    return xp.min(x), xp.max(x)


def _size(x: Any) -> int | None:
    dims = v.static_shape(x)
    if any(d is None for d in dims) or (not dims and len(x.shape) != 0):
        return None
    n = 1
    for d in dims:
        n *= int(d or 0)
    return n


def outside_flag(xp: Any, x: Any, low: float, high: float) -> Any | None:
    """True when an entry lies outside ``[low, high]`` or is NaN (``None``: nothing to check).

    Two reductions (``min`` and ``max``): NaN propagates through both and fails the
    comparisons; nothing is allocated at the array's size. PyTorch integers whose dtype
    holds nothing outside the range are not read (``None``); unsigned ones are read for
    their maximum only.
    """
    if _size(x) == 0:
        return None
    torch = ns.torch_of(xp)
    if torch is not None:
        return _torch_outside_flag(torch, x, low, high)
    if ns.is_jax_namespace(xp):  # the same operations, one compiled call
        return _jax_checks.outside_flag(x, low, high)
    lo, hi = _min_max(xp, x)
    return xp.logical_not(xp.logical_and(lo >= low, hi <= high))


def _torch_outside_flag(torch: Any, x: Any, low: float, high: float) -> Any | None:
    """:func:`outside_flag` of a PyTorch tensor, in direct ``torch`` calls.

    Integers: a bound the dtype cannot pass is not checked (``None`` when neither can:
    nothing is read), and the bounds compared lie in the dtype's range (a Python number
    is cast to the tensor's dtype by the comparison: ``int8(127) > 255`` would be true).
    """
    dtype = x.dtype
    if dtype.is_floating_point or dtype.is_complex:
        lo, hi = _min_max(torch, x)
        return ~((lo >= low) & (hi <= high))  # False for NaN: flagged
    info_min, info_max = (0, 1) if dtype == torch.bool else _iinfo(torch, dtype)
    below, above = low > info_min, high < info_max  # can an entry lie below / above?
    if not (below or above):
        return None
    if (below and low > info_max) or (above and high < info_min):  # every entry is outside
        return torch.ones((), dtype=torch.bool, device=x.device)
    if not below and dtype in (torch.uint8, torch.bool):  # the maximum alone (no NaN here)
        return torch.amax(x.to(torch.uint8) if dtype == torch.bool else x) > high
    lo, hi = _min_max(torch, x)
    if not below:
        return hi > high
    if not above:
        return lo < low
    return (lo < low) | (hi > high)


def _iinfo(torch: Any, dtype: Any) -> tuple[int, int]:
    info = torch.iinfo(dtype)
    return int(info.min), int(info.max)


class Judged:
    """A deferred check by the minimum and maximum of an array, judged where it is read.

    Called, it gives the device flag, as any deferred check of :class:`PendingChecks`.
    A PyTorch call's one read may instead carry the numbers the flag compares
    (:meth:`stats`) to the host with its other flags, and judge them there
    (:meth:`wrong`): the same comparisons, without their small device operations.
    """

    def __call__(self) -> Any | None:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def stats(self) -> tuple[Any, ...] | None:
        """0-d PyTorch tensors for :meth:`wrong`, or ``None``: use the device flag.

        ``()`` when there is nothing to check.
        """
        return None

    def wrong(self, values: list[Any]) -> bool:  # pragma: no cover - defined by subclasses
        """Whether the check fails, from the values of :meth:`stats` read on the host."""
        raise NotImplementedError


#: Integer bounds up to this size are exact in float32, into which ``torch.stack``
#: promotes integer minima and maxima read with floating numbers (rounding is monotonic,
#: so comparisons with such bounds keep their truth).
_EXACT_BOUND = 2**24


class RangeCheck(Judged):
    """:func:`outside_flag` of ``get()`` (made when the check runs) within ``[low, high]``."""

    def __init__(self, xp: Any, get: Callable[[], Any], low: int, high: int) -> None:
        self.xp, self.get, self.low, self.high = xp, get, low, high
        self.below = self.above = True

    def __call__(self) -> Any | None:
        return outside_flag(self.xp, self.get(), self.low, self.high)

    def stats(self) -> tuple[Any, ...] | None:
        torch = ns.torch_of(self.xp)
        if torch is None or max(abs(self.low), abs(self.high)) > _EXACT_BOUND:
            return None
        x = self.get()
        if _size(x) == 0:
            return ()
        dtype, low, high = x.dtype, self.low, self.high
        if dtype.is_floating_point:
            return _min_max(torch, x)
        if dtype.is_complex:
            return None
        info_min, info_max = (0, 1) if dtype == torch.bool else _iinfo(torch, dtype)
        self.below, self.above = low > info_min, high < info_max
        if not (self.below or self.above):
            return ()  # the dtype holds nothing outside
        if (self.below and low > info_max) or (self.above and high < info_min):
            return None
        return _min_max(torch, x)

    def wrong(self, values: list[Any]) -> bool:
        lo, hi = values
        if not (self.below and self.above):  # integers: one bound cannot be passed
            return bool((self.below and lo < self.low) or (self.above and hi > self.high))
        return not (lo >= self.low and hi <= self.high)  # NaN: wrong


class NotFinite(Judged):
    """A 0-d float32 or float64 PyTorch result holds a NaN (``nan_only``) or an infinity.

    The result itself joins the call's one read and is judged on the host: no ``isnan``
    or ``isfinite`` (five ATen operations) on the device first. ``torch.stack`` promotes
    the read's other numbers into its dtype exactly (integers within
    :data:`_EXACT_BOUND`, 0-d flags, float32 numbers); called, it gives the device flag.
    """

    def __init__(self, x: Any, *, nan_only: bool) -> None:
        self.x, self.nan_only = x, nan_only

    @staticmethod
    def takes(x: Any) -> bool:
        """Whether ``x`` is a PyTorch result this check can carry to the host as it is."""
        torch = sys.modules.get("torch")
        return (
            torch is not None
            and isinstance(x, torch.Tensor)
            and x.ndim == 0
            and x.dtype in (torch.float32, torch.float64)
        )

    def __call__(self) -> Any:
        torch = sys.modules["torch"]
        if self.nan_only:
            return torch.isnan(self.x)
        return torch.logical_not(torch.isfinite(self.x))

    def stats(self) -> tuple[Any, ...] | None:
        return (self.x,)

    def wrong(self, values: list[Any]) -> bool:
        value = float(values[0])
        return math.isnan(value) if self.nan_only else not math.isfinite(value)


class ConfigCheck(Judged):
    """:func:`config_flag` of a weight, cost or prior ``x`` (its compute dtype)."""

    def __init__(self, xp: Any, x: Any, *, positive: bool, at_most_one: bool) -> None:
        self.xp, self.x, self.positive, self.at_most_one = xp, x, positive, at_most_one

    def __call__(self) -> Any | None:
        return config_flag(self.xp, self.x, positive=self.positive, at_most_one=self.at_most_one)

    def stats(self) -> tuple[Any, ...] | None:
        torch = ns.torch_of(self.xp)
        if torch is None or not self.x.dtype.is_floating_point:
            return None
        return () if _size(self.x) == 0 else _min_max(torch, self.x)

    def wrong(self, values: list[Any]) -> bool:
        lo, hi = values
        ok = (lo > 0 if self.positive else lo >= 0) and (hi <= 1 if self.at_most_one else hi < inf)
        return not ok


def nonnegative_finite_flag(xp: Any, x: Any) -> Any | None:
    """True when an entry is negative, infinite or NaN (``None``: nothing to check)."""
    return config_flag(xp, x, positive=False, at_most_one=False)


def config_flag(xp: Any, x: Any, *, positive: bool, at_most_one: bool) -> Any | None:
    """True when a weight, cost or prior is NaN, infinite, negative (or 0, or above 1)."""
    if _size(x) == 0:
        return None
    if ns.is_jax_namespace(xp):  # the same operations, one compiled call
        return _jax_checks.config_flag(x, positive=positive, at_most_one=at_most_one)
    lo, hi = _min_max(xp, x)
    if ns.torch_of(xp) is not None:  # direct operators: no wrapper casting 0-d operands
        return ~((lo > 0 if positive else lo >= 0) & (hi <= 1 if at_most_one else hi < inf))
    ok = xp.logical_and(lo > 0 if positive else lo >= 0, hi <= 1 if at_most_one else hi < inf)
    return xp.logical_not(ok)


def probability_sum_tolerance(dtype: Any, num_classes: int | None) -> float:
    """How far a row of probability labels may sum from 1 (rounding of the labels' dtype)."""
    eps = {"float16": 2.0**-10, "bfloat16": 2.0**-7, "float64": 2.0**-52}.get(
        v.dtype_name(dtype), 2.0**-23
    )
    return max(1e-3, 4.0 * eps * float(num_classes or 1))


def check_probability_rows(labels: np.ndarray, axis: int, tol: float) -> None:
    """Softmax probability labels: each row sums to 1 (multi-hot rows belong to sigmoid)."""
    sums = labels.sum(axis=axis)
    bad = np.abs(sums - 1.0) > tol
    if bad.any():
        raise v.value_error(
            "labels",
            "probability rows that sum to 1 along class_axis (for several positive labels "
            "per sample — multi-hot — use wxent.sigmoid_cross_entropy)",
            f"a row summing to {float(sums[bad].ravel()[0])!r} ({int(bad.sum())} such row(s))",
        )


def nan_flag(xp: Any, x: Any) -> Any:
    """True when ``x`` holds a NaN (used on a loss result, not on the logits)."""
    torch = ns.torch_of(xp)
    if torch is not None:
        nan = torch.isnan(x)
        return nan if nan.ndim == 0 else nan.any()
    if ns.is_jax_namespace(xp):  # the same operations, one compiled call
        return _jax_checks.nan_flag(x)
    return xp.any(xp.isnan(x))


def check_finite_nonnegative_array(name: str, value: Any) -> None:
    """The host diagnosis of :func:`nonnegative_finite_flag` (error path)."""
    v.check_finite_nonnegative(name, ns.to_numpy(value).astype(np.float64))


def check_no_infinite_rows(logits: np.ndarray, axis: int) -> None:
    """Every row along ``axis`` has a value above ``-inf`` (else its softmax is undefined)."""
    with np.errstate(invalid="ignore"):
        bad = ~(np.max(logits, axis=axis) > -np.inf) if logits.shape[axis] else None
    if bad is not None and bad.any():
        raise v.value_error(
            "logits",
            f"at least one value above -inf in every row along class_axis={axis}",
            f"{int(bad.sum())} row(s) of only -inf",
        )


class ProbabilityCheck(Judged):
    """Probability labels ``get()``: finite, non-negative, rows summing to 1 within ``tol``.

    Called, the device flag (``None`` for empty labels). An eager TensorFlow call computes
    the same operations in its checks' graph (:func:`wxent._prepare._read_tf`).
    """

    def __init__(self, xp: Any, get: Callable[[], Any], axis: int, tol: float) -> None:
        self.xp, self.get, self.axis, self.tol = xp, get, axis, tol

    def __call__(self) -> Any | None:
        return probability_rows_flag(self.xp, self.get(), self.axis, self.tol)


def probability_rows_flag(xp: Any, y: Any, axis: int, tol: float) -> Any | None:
    """The flag of :class:`ProbabilityCheck` of labels ``y`` (``None``: nothing to check)."""
    wrong = nonnegative_finite_flag(xp, y)
    if wrong is None:
        return None
    sums = xp.sum(y, axis=axis)
    return xp.logical_or(wrong, xp.any(xp.abs(sums - 1.0) > tol))


def pending_probability_check(inp: Any, labels: Any) -> None:
    """Probability labels: finite, non-negative, and rows that sum to 1.

    The flag is computed when the call's flags are read (key ``"labels"``): a fused
    kernel that reads the labels anyway checks them itself and replaces it.
    """
    xp = inp.xp
    tol = probability_sum_tolerance(labels.dtype, inp.num_classes)
    flag = ProbabilityCheck(xp, lambda: inp.labels, inp.axis, tol)  # (the compute dtype)

    def diagnose() -> None:
        host = ns.to_numpy(labels).astype(np.float64, copy=False)
        v.check_probability_labels(host)
        check_probability_rows(host, inp.axis, tol)

    inp.add_check(flag, diagnose, key="labels")


class LogitsWarning(UserWarning):
    """A wxent loss received probabilities (the output of a sigmoid or softmax activation)."""


#: The probability look of the logits is judged on a bounded view of their first
#: elements: at most PROBE_SIZE of them (the first rows; whole rows for softmax), so the
#: check costs a few reductions over at most a few thousand values, never a pass over
#: the logits, and it is read with the call's other checks.
PROBE_SIZE = 4096
#: ...and at least PROBE_MIN of them: a logit drawn from any distribution symmetric
#: about 0 lies in [0, 1] with probability at most 1/2, so independent genuine logits
#: trigger the warning with probability at most 2**-32 (about 2e-10) per call.
PROBE_MIN = 32

#: Who reports logits that look like probabilities (the Keras adapter sets its own, to
#: warn once per loss); ``None``: :func:`warn_probabilities` warns.
probability_hook: ContextVar[Callable[[bool], None] | None] = ContextVar(
    "wxent_probability_hook", default=None
)


#: The precision of the values the logits were widened from by the caller (16: float16 or
#: bfloat16), ``None`` when they come as made. The Keras adapter casts a mixed-precision
#: model's 16-bit outputs to its float32 loss dtype: softmax rows of 16-bit probabilities
#: sum to 1 only within 16-bit rounding, which the look of float32 logits would not allow.
source_bits: ContextVar[int | None] = ContextVar("wxent_source_bits", default=None)


def probe(x: Any, axis: int, *, softmax: bool) -> tuple[Any, ...] | None:
    """The index of the view that :func:`probability_flag` looks at (``None``: too small).

    The last axes are kept whole while the view stays within :data:`PROBE_SIZE` elements,
    the axis where it would not is cut, and the axes before it take their first entry;
    softmax keeps the class axis whole (its rows must sum to 1).
    """
    shape = tuple(int(d) for d in x.shape)
    return _probe_index(shape, axis, softmax, PROBE_SIZE, PROBE_MIN)


def _probe_index(
    shape: tuple[int, ...], axis: int, softmax: bool, size: int, least: int
) -> tuple[Any, ...] | None:
    """:func:`probe` of logits of ``shape``, with the limits ``size`` and ``least``."""
    if any(d == 0 for d in shape) or (softmax and shape[axis] < 2):
        return None
    kept = shape[axis] if softmax else 1
    index: list[Any] = [slice(None)] * len(shape)
    for d in reversed(range(len(shape))):
        if not (softmax and d == axis):
            take = max(1, min(shape[d], size // kept))
            index[d], kept = slice(0, take), kept * take
    return tuple(index) if kept >= least else None


def probability_flag(xp: Any, x: Any, axis: int, *, softmax: bool, bits: int) -> Any | None:
    """True when the probed logits look like probabilities (a warning, not an error).

    ``x``: the logits as the caller gave them (``bits``: 16 for float16/bfloat16). All
    probed values lie in ``[0, 1]`` and are not all equal (zero logits of a fresh model
    are logits); for softmax, each probed row also sums to 1 within ``1e-3`` (``1e-2``
    for 16-bit logits). ``None`` when the logits are too small to judge.
    """
    if ns.is_jax_namespace(xp):  # the same operations, one compiled call
        index = probe(x, axis, softmax=softmax)
        return (
            None if index is None else _jax_checks.probability_flag(x, index, axis, softmax, bits)
        )
    stats = probability_stats(xp, x, axis, softmax=softmax, bits=bits)
    if stats is None:
        return None
    lo, hi = stats[0], stats[1]
    flag = (lo >= 0) & (hi <= 1) & (hi > lo)  # 0-d booleans of any of the four frameworks
    if softmax:
        tol = 1e-2 if bits == 16 else 1e-3
        low, high = stats[2], stats[3]  # of the row sums
        flag = flag & (low >= 1.0 - tol) & (high <= 1.0 + tol)
    return flag


def probability_stats(
    xp: Any, x: Any, axis: int, *, softmax: bool, bits: int
) -> tuple[Any, ...] | None:
    """What :func:`probability_flag` compares, as 0-d arrays (``None``: too small to judge).

    ``(min, max)`` of the probed logits, and for softmax also ``(min, max)`` of their row
    sums.
    """
    index = probe(x, axis, softmax=softmax)
    if index is None:
        return None
    whole = all(i.stop is None or i.stop == d for i, d in zip(index, x.shape, strict=True))
    sample = x if whole else x[index]
    if bits == 16:  # the sample alone in float32 (never a cast of all the logits)
        sample = xp.astype(sample, xp.float32)
    lo, hi = _min_max(xp, sample)
    if not softmax:
        return lo, hi
    torch = ns.torch_of(xp)
    if torch is not None:  # (array-api-compat's sum and NumPy's errstate: host time)
        sums = torch.sum(sample, dim=axis)
    else:
        with np.errstate(over="ignore"):  # NumPy: a sum of logits near -3.4e38 overflows
            sums = xp.sum(sample, axis=axis)
    low, high = _min_max(xp, sums)  # the row sums
    return lo, hi, low, high


def looks_like_probabilities(stats: list[float], *, softmax: bool, bits: int, dtype: Any) -> bool:
    """:func:`probability_flag` on the host, from the values of :func:`probability_stats`.

    ``dtype``: theirs (``float32`` or ``float64``); the bounds of the row sums are rounded
    to it, as a comparison with a Python number on the device rounds them.
    """
    lo, hi = stats[0], stats[1]
    flag = lo >= 0 and hi <= 1 and hi > lo  # False for NaN, as on the device
    if softmax and flag:
        tol = 1e-2 if bits == 16 else 1e-3
        low, high = 1.0 - tol, 1.0 + tol
        if v.dtype_name(dtype) != "float64":
            low, high = float(np.float32(low)), float(np.float32(high))
        flag = stats[2] >= low and stats[3] <= high
    return bool(flag)


class Probe:
    """The probability look of a call's logits, computed when called (at the call's read).

    A fused kernel may take it over: on logits whose classes lie on the last axis, the
    probed view is the first :meth:`prefix` elements in row-major order (whole rows for
    softmax), see :func:`probe`.
    """

    def __init__(self, xp: Any, logits: Any, axis: int, *, softmax: bool, bits: int) -> None:
        self.xp, self.logits, self.axis, self.softmax, self._bits = xp, logits, axis, softmax, bits

    @property
    def bits(self) -> int:
        """16 for 16-bit logits, or logits widened from 16 bits (:data:`source_bits`).

        Read when the look is computed, at the call's read of concrete values: never in
        traced code (``torch.compile`` cannot trace a ``ContextVar``).
        """
        return 16 if self._bits == 16 or source_bits.get() == 16 else self._bits

    def __call__(self) -> Any | None:
        return probability_flag(
            self.xp, self.logits, self.axis, softmax=self.softmax, bits=self.bits
        )

    def stats(self) -> tuple[Any, ...] | None:
        """The 0-d arrays the look compares (:func:`probability_stats`), or ``None``."""
        return probability_stats(
            self.xp, self.logits, self.axis, softmax=self.softmax, bits=self.bits
        )

    def judge(self, values: list[float], dtype: Any) -> bool:
        """The look, on the host, from the values of :meth:`stats` (of ``dtype``)."""
        return looks_like_probabilities(values, softmax=self.softmax, bits=self.bits, dtype=dtype)

    def prefix(self) -> int:
        """How many leading elements the look reads (0: the logits are too small to judge).

        The view keeps inner axes whole, cuts one axis and takes the first entry of the
        outer ones: a prefix of the logits in row-major order.
        """
        shape = tuple(int(d) for d in self.logits.shape)
        return _prefix(shape, self.axis, self.softmax, PROBE_SIZE, PROBE_MIN)


@functools.lru_cache(maxsize=256)
def _prefix(shape: tuple[int, ...], axis: int, softmax: bool, size: int, least: int) -> int:
    """:meth:`Probe.prefix` of logits of ``shape`` (``size``, ``least``: the probe's limits).

    A function of the shape alone, remembered: a training loop asks it of one shape in
    every call.
    """
    index = _probe_index(shape, axis, softmax, size, least)
    if index is None:
        return 0
    n = 1
    for i, d in zip(index, shape, strict=True):
        n *= min(d, d if i.stop is None else int(i.stop))
    return n


def warn_probabilities(name: str, softmax: bool) -> None:
    """Warn that argument ``name`` holds probabilities (or call :data:`probability_hook`)."""
    hook = probability_hook.get()
    if hook is not None:
        hook(softmax)
        return
    activation = "softmax" if softmax else "sigmoid"
    rows = " and each of its rows sums to 1 along class_axis" if softmax else ""
    _warnings.warn(
        LogitsWarning(
            f"Argument `{name}` looks like probabilities: its first values (up to "
            f"{PROBE_SIZE}) all lie in [0, 1]{rows}. wxent losses take logits: pass the "
            f"scores before the {activation} (drop the {activation} activation of the last "
            f"layer and apply it only to predict). If these are logits, silence this with "
            f"warnings.filterwarnings('ignore', category=wxent.LogitsWarning)."
        ),
        stacklevel=_caller_level(),
    )


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside wxent (the user's call)."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        package
    ):
        frame, level = frame.f_back, level + 1
    return level


def status(
    xp: Any,
    flag: Any | None,
    suspect: Any | None,
    then: list[Any] | None = None,
    word: Any | None = None,
) -> int:
    """Read the call's error ``flag`` and its ``suspect`` warning flag as one scalar.

    Bit 0: a check failed (or the result is NaN); bit 1: the logits look like
    probabilities. One device-to-host transfer of one small integer either way;
    ``then`` is the device work queued behind it (see :func:`wxent._namespace.read_int`).
    ``word``: a fused kernel's flag word (a 1-element int32 torch tensor holding both
    bits, :mod:`wxent._fastpaths.triton_checks`): ``flag`` and ``suspect``, when given,
    are OR-ed into it (nothing is launched when it holds them all).
    """
    if word is not None:
        code = word.reshape(())
        if flag is not None:
            code = code | flag
        if suspect is not None:
            code = code | suspect * 2
        return ns.read_int(code, then)
    if flag is None:
        flag = xp.asarray(False)
    if suspect is None:
        return ns.read_int(flag, then)
    if ns.is_torch_namespace(xp) or ns.is_numpy_namespace(xp) or ns.is_jax_namespace(xp):
        return ns.read_int(flag + suspect * 2, then)  # bool + int: an integer, two operations
    code = xp.astype(flag, xp.int32) + 2 * xp.astype(suspect, xp.int32)
    return ns.read_int(code, then)
