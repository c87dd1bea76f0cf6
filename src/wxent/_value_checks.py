"""Value checks on framework arrays, on their device: flags folded into one host read.

Each check is a 0-d "something is wrong" flag computed with reductions (``min``, ``max``,
``any``) in the checked array's own framework and on its device; a call collects them in
:class:`PendingChecks` and :func:`wxent._prepare.finish` reads them, OR-ed together, as one
scalar. Only when that flag is set does a check's ``diagnose`` copy arrays to the host to
raise the message of :mod:`wxent._validation` (the error path). Re-exported there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import wxent._validation as v  # circular on purpose: used at call time only
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
        self.diagnoses: list[Any] = []

    def add(self, flag: Any, diagnose: Any, key: str | None = None) -> None:
        """Record a flag (or a callable computing it) and the callable raising its message."""
        self._flags.append(flag)
        self._keys.append(key)
        self.diagnoses.append(diagnose)

    def replace(self, key: str, flag: Any) -> None:
        """Use ``flag`` for the check recorded under ``key`` (no-op if there is none)."""
        for i, k in enumerate(self._keys):
            if k == key:
                self._flags[i] = flag

    def has(self, key: str) -> bool:
        """Whether a check was recorded under ``key``."""
        return key in self._keys

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
    if ns.is_torch_namespace(xp):
        import torch

        if x.dtype == torch.bool:
            x = x.to(torch.uint8)
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
    comparisons; nothing is allocated at the array's size.
    """
    if _size(x) == 0:
        return None
    lo, hi = _min_max(xp, x)
    return xp.logical_not(xp.logical_and(lo >= low, hi <= high))


def nonnegative_finite_flag(xp: Any, x: Any) -> Any | None:
    """True when an entry is negative, infinite or NaN (``None``: nothing to check)."""
    return config_flag(xp, x, positive=False, at_most_one=False)


def config_flag(xp: Any, x: Any, *, positive: bool, at_most_one: bool) -> Any | None:
    """True when a weight, cost or prior is NaN, infinite, negative (or 0, or above 1)."""
    if _size(x) == 0:
        return None
    lo, hi = _min_max(xp, x)
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
