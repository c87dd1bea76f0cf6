"""The last step of every Triton call: the reduction, and a checked call's one flag word.

A checked call (``validate=True``) of a fused kernel reads one integer on the host: bit 0
"a check failed, or the result holds a NaN", bit 1 "the logits look like probabilities"
(see :func:`wxent._value_checks.status`). On the generic path each check is a handful of
torch operations (``aminmax``, comparisons, logical operations, the OR of the flags);
on a GPU each is a launch paid in host time. Here:

* the loss kernel checks what it reads anyway (the labels, the sample weights it
  :meth:`Plan.claim` s) and whether a counted loss is NaN, and writes one status per
  program (a plain store: nothing to zero first);
* :func:`settle` launches one kernel that sums the per-row (or per-tile) losses and the
  denominator and divides (every call, checked or not), and in a checked call ORs the
  statuses, checks the NaN of the result, the bounds of the small configuration arrays
  (class weights, ``pos_weight``...: finite, non-negative, positive or at most 1 where
  asked) and the probability look of the first logits, and writes the call's flag word.

So a checked call costs the unchecked call's launches plus the read (a softmax kernel's
gradient pass is queued behind it; the sigmoid family writes its gradient in the loss
pass). The messages are unchanged: when bit 0 is set, the call's diagnoses run on the
host (the error path) exactly as on the generic path.
:class:`Plan` hands the call's deferred checks over only once the kernel ran (a kernel
Triton cannot run leaves them to the generic path).
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

from wxent._fastpaths.select import LAUNCHES
from wxent._fastpaths.triton_common import cdiv, plain
from wxent._fastpaths.triton_common import sum_values as _sum

#: Configuration arrays the check kernel takes at most (more: the generic flags).
MAX_ARRAYS = 4
_SLOTS = 4  # the kernel's array arguments (MAX_ARRAYS <= _SLOTS)
#: Elements of a configuration array the one-program kernel reads at most (larger
#: arrays keep their generic flag).
MAX_ARRAY_SIZE = 1 << 20
#: Elements per block of the check kernel's loops.
BLOCK = 1024
#: Values the kernel sums in its one program at most (more: a torch sum first).
MAX_SUM = 1 << 16
#: Statuses per program of the check kernel (more programs OR into a zeroed word).
STATUS_PER_PROGRAM = 1 << 16
#: Elements per step of program 0's one-program reads of a checked call (the bounds of
#: weight arrays, the probability look at a whole row of logits): at 1024 a row of
#: 131072 float32 logits and as many class weights took 238 us per call on an H100
#: (256 dependent steps); 8192 with 8 warps takes 32.
WIDE = 8192


@triton.jit
def _bounds_bad(ptr, n, code, BLOCK: tl.constexpr):
    # 1 when an entry is NaN, infinite, negative (code & 1: or 0) or (code & 2) above 1.
    lane = tl.arange(0, BLOCK)
    bad = tl.full([], 0, tl.int32)
    for start in range(0, n, BLOCK):
        offs = start + lane
        x = tl.load(ptr + offs, mask=offs < n, other=1.0).to(tl.float32)
        low = tl.where((code & 1) != 0, x > 0.0, x >= 0.0)
        high = tl.where((code & 2) != 0, x <= 1.0, x < float("inf"))
        bad = tl.maximum(bad, tl.max(tl.where(low & high, 0, 1), axis=0))
    return bad


@triton.jit
def _probe_suspect(
    x_ptr, x_row_stride, n_cols, n_probe, tol, PROBE: tl.constexpr, BLOCK: tl.constexpr
):
    # 1 when (PROBE 1: the first n_probe elements, 2: the first n_probe // n_cols rows,
    # softmax) all lie in [0, 1], are not all equal (and every row sums to 1 within tol).
    lane = tl.arange(0, BLOCK)
    outside = tl.full([], 0, tl.int32)
    lo = tl.full([], float("inf"), tl.float32)
    hi = tl.full([], float("-inf"), tl.float32)
    rows_off = tl.full([], 0, tl.int32)
    if PROBE == 1:
        for start in range(0, n_probe, BLOCK):
            e = start + lane
            m = e < n_probe
            addr = (e // n_cols).to(tl.int64) * x_row_stride + e % n_cols
            x = tl.load(x_ptr + addr, mask=m, other=0.5).to(tl.float32)
            inside = (x >= 0.0) & (x <= 1.0)
            outside = tl.maximum(outside, tl.max(tl.where(inside, 0, 1), axis=0))
            lo = tl.minimum(lo, tl.min(tl.where(m, x, float("inf")), axis=0))
            hi = tl.maximum(hi, tl.max(tl.where(m, x, float("-inf")), axis=0))
    else:
        for row in range(0, n_probe // n_cols):
            total = tl.zeros([BLOCK], dtype=tl.float32)
            for start in range(0, n_cols, BLOCK):
                c = start + lane
                m = c < n_cols
                x = tl.load(x_ptr + row * x_row_stride + c, mask=m, other=0.5).to(tl.float32)
                inside = (x >= 0.0) & (x <= 1.0)
                outside = tl.maximum(outside, tl.max(tl.where(inside, 0, 1), axis=0))
                lo = tl.minimum(lo, tl.min(tl.where(m, x, float("inf")), axis=0))
                hi = tl.maximum(hi, tl.max(tl.where(m, x, float("-inf")), axis=0))
                total += tl.where(m, x, 0.0)
            s = tl.sum(total, axis=0)
            rows_off = tl.maximum(rows_off, tl.where((s >= 1.0 - tol) & (s <= 1.0 + tol), 0, 1))
    return tl.where((outside == 0) & (rows_off == 0) & (hi > lo), 1, 0)


@triton.jit
def _settle_kernel(
    total_ptr,
    n_total,
    den_ptr,
    n_den,
    n_const,
    out_ptr,
    inv_ptr,
    word_ptr,
    status_ptr,
    n_status,
    a0_ptr,
    n0,
    code0,
    a1_ptr,
    n1,
    code1,
    a2_ptr,
    n2,
    code2,
    a3_ptr,
    n3,
    code3,
    x_ptr,
    x_row_stride,
    n_cols,
    n_probe,
    tol,
    FINISH: tl.constexpr,
    CHECK: tl.constexpr,
    ATOMIC: tl.constexpr,
    PROBE: tl.constexpr,
    BLOCK: tl.constexpr,
    WIDE: tl.constexpr,
):
    # FINISH 1: out = sum(total) / n_const; 2: sum(total) / sum(den) (0 where that is 0),
    # and inv = its inverse. CHECK: word[0] = bit 0: a status is set, the result is NaN
    # or an array is out of its bounds; bit 1: the probability look (_probe_suspect).
    # The statuses are shared among the programs (ATOMIC: OR-ed into a zeroed word);
    # program 0 does the rest.
    pid = tl.program_id(0)
    lane = tl.arange(0, BLOCK)
    bad = tl.full([], 0, tl.int32)
    suspect = tl.full([], 0, tl.int32)
    if pid == 0:
        if FINISH != 0:
            total = _sum(total_ptr, n_total, BLOCK)
            d = n_const
            if FINISH == 2:
                d = _sum(den_ptr, n_den, BLOCK)
            zero = d == 0.0
            safe = tl.where(zero, 1.0, d)
            result = tl.where(zero, 0.0, total / safe)
            tl.store(out_ptr, result.to(out_ptr.dtype.element_ty))
            tl.store(inv_ptr, tl.where(zero, 0.0, 1.0 / safe))
            bad = tl.where(result != result, 1, 0)
        if CHECK:
            bad = tl.maximum(bad, _bounds_bad(a0_ptr, n0, code0, WIDE))
            bad = tl.maximum(bad, _bounds_bad(a1_ptr, n1, code1, WIDE))
            bad = tl.maximum(bad, _bounds_bad(a2_ptr, n2, code2, WIDE))
            bad = tl.maximum(bad, _bounds_bad(a3_ptr, n3, code3, WIDE))
            if PROBE != 0:
                suspect = _probe_suspect(x_ptr, x_row_stride, n_cols, n_probe, tol, PROBE, WIDE)
    if CHECK:
        step = tl.num_programs(0) * BLOCK
        for start in range(pid * BLOCK, n_status, step):
            offs = start + lane
            s = tl.load(status_ptr + offs, mask=offs < n_status, other=0)
            bad = tl.maximum(bad, tl.max(tl.where(s != 0, 1, 0), axis=0))
        code = bad | (suspect << 1)
        if ATOMIC:
            if code != 0:
                tl.atomic_or(word_ptr, code)
        else:
            tl.store(word_ptr, code)


class Plan:
    """The deferred checks of a checked call that its fused kernel folds into one word.

    Made before the kernel runs (nothing of the call changes yet): ``bounds`` are the
    :func:`~wxent._value_checks.config_flag` checks still pending, the probe is the
    call's probability look when its view is a prefix of the kernel's rows. The kernel
    :meth:`claim` s the arrays it reads whole and checks them itself, fills
    :attr:`status` and calls :func:`settle`; :meth:`commit` then hands the call's flags
    over (after the kernel ran).
    """

    def __init__(self, inp: Any, logits: Any) -> None:
        self.inp = inp
        self.status: Any = None
        self.word: Any = None
        pending = [] if inp.checks is None else inp.checks.bounds()
        self.bounds = [b for b in pending if b[0].numel() <= MAX_ARRAY_SIZE]
        self.fold_bounds = len(self.bounds) == len(pending)
        self.probe = _probe_view(inp.suspect, logits)

    def claim(self, array: Any) -> bool:
        """Whether the kernel checks ``array`` (read whole) itself: finite, non-negative.

        True when ``array`` holds the data of a pending bounds check without ``positive``
        or ``at_most_one`` (a sample weight); that check leaves the check kernel.
        """
        if array is None or not self.fold_bounds:
            return False
        for i, (arr, positive, at_most_one) in enumerate(self.bounds):
            same = arr.data_ptr() == array.data_ptr() and arr.numel() == array.numel()
            if same and arr.dtype == array.dtype and not (positive or at_most_one):
                del self.bounds[i]
                return True
        return False

    def status_buffer(self, programs: int, device: Any) -> Any:
        """The per-program status of the kernel (int32, written by every program)."""
        self.status = torch.empty(programs, dtype=torch.int32, device=device)
        return self.status

    def commit(self) -> None:
        """After the kernel and :func:`settle` ran: hand the call's flags over to the word."""
        inp = self.inp
        if inp.checks is not None:
            inp.checks.replace("labels", None)
            if self.fold_bounds:
                inp.checks.take_bounds()
        if self.probe is not None:
            inp.suspect = None
        inp.word = self.word


def _probe_view(suspect: Any, logits: Any) -> tuple[Any, int, int, bool, float] | None:
    """``(rows, row_stride, prefix, softmax, tolerance)`` of the probability look, or ``None``.

    ``None`` when there is no look, or the logits' rows are not one strided view
    (the generic look then runs at the read).
    """
    from wxent import _value_checks as checks

    if not isinstance(suspect, checks.Probe) or suspect.axis != logits.ndim - 1:
        return None
    if logits.is_neg() or logits.is_conj():  # (the look reads memory: a resolved copy
        return None  # would cost a pass over every logit; the generic look reads values)
    try:
        rows = logits.view(-1, logits.shape[-1])
    except RuntimeError:
        return None
    if rows.stride(-1) != 1:
        return None
    tol = 1e-2 if suspect.bits == 16 else 1e-3
    return rows, rows.stride(0), suspect.prefix(), suspect.softmax, tol


def settle(
    plan: Plan | None,
    total: Any = None,
    denominator: Any = None,
    n_const: float = 1.0,
    dtype: Any = torch.float32,
) -> tuple[Any, Any]:
    """The reduction's last step and a checked call's checks: one launch (two for huge).

    Args:
        plan: a checked call's plan (its :attr:`Plan.status` filled by the loss kernel),
            or ``None``: only the reduction.
        total: float32 values whose sum is the loss (per row or per tile), or ``None``
            for ``reduction="none"`` (the loss kernel's statuses cover a NaN there).
        denominator: float32 values whose sum divides it, or ``None``: ``n_const``.
        n_const: the denominator when known on the host (a count; 1 for a sum).
        dtype: the result's dtype (the logits').

    Returns:
        ``(result, inverse)``: the reduced loss in ``dtype`` and the inverse of its
        denominator (0 where that is 0), 0-d tensors; ``(None, None)`` without ``total``.
        A checked call's flag word goes to ``plan.word``.
    """
    tensors = [t for t in (total, denominator) if t is not None]
    device = tensors[0].device if tensors else plan.status.device  # type: ignore[union-attr]
    finish = 0 if total is None else (2 if denominator is not None else 1)
    result = inv = None
    if finish:
        total = _summable(total)
        denominator = None if denominator is None else _summable(denominator)
        result = torch.empty((), dtype=dtype, device=device)
        inv = torch.empty((), dtype=torch.float32, device=device)
    programs, word, probe = 1, None, (0, None, 0, 1, 0, 0.0)
    arrays: list[Any] = []
    if plan is not None:
        programs = max(1, min(cdiv(plan.status.numel(), STATUS_PER_PROGRAM), 1024))
        make = torch.zeros if programs > 1 else torch.empty  # several programs: OR-ed in
        word = plan.word = make(1, dtype=torch.int32, device=device)
        arrays, probe = _check_arguments(plan, word)
    spare = word if word is not None else result
    arrays = arrays or [spare, 0, 0] * _SLOTS
    kind, x, stride, cols, n_probe, tol = probe
    LAUNCHES["settle"] += 1
    _settle_kernel[(programs,)](
        spare if total is None else total, 0 if total is None else total.numel(),
        spare if denominator is None else denominator,
        0 if denominator is None else denominator.numel(), float(n_const),
        spare if result is None else result, spare if inv is None else inv,
        spare if word is None else word,
        spare if plan is None else plan.status, 0 if plan is None else plan.status.numel(),
        *arrays, spare if x is None else x, stride, cols, n_probe, tol,
        FINISH=finish, CHECK=plan is not None, ATOMIC=programs > 1, PROBE=kind,
        BLOCK=BLOCK, WIDE=WIDE if plan is not None else BLOCK,
        num_warps=8 if plan is not None else 4,
    )  # fmt: skip
    return result, inv


def finish_rows(
    plan: Plan | None, values: Any, denominator: Any, n_const: float, logits: Any, reduction: str
) -> tuple[Any, Any]:
    """The result of a row kernel: its per-row ``values`` reduced, or as they are.

    ``(result, inverse denominator)`` as :func:`settle` returns them; for
    ``reduction="none"`` the per-row values in the logits' dtype and batch shape (and
    ``None``), with a checked call's checks still folded into one word.
    """
    if reduction == "none":
        if plan is not None:
            settle(plan)
        return values.reshape(logits.shape[:-1]).to(logits.dtype), None
    return settle(plan, values, denominator, n_const, logits.dtype)


def _summable(values: Any) -> Any:
    """``values`` flat, or their sum first when one program would take too long over them."""
    values = values.reshape(-1)
    return values if values.numel() <= MAX_SUM else values.sum().reshape(1)


def _check_arguments(plan: Plan, word: Any) -> tuple[list[Any], tuple]:
    """The check kernel's array and probe arguments of ``plan``."""
    if len(plan.bounds) > MAX_ARRAYS:
        plan.fold_bounds = False  # the generic flags check them all
    arrays: list[Any] = []
    for arr, positive, at_most_one in plan.bounds if plan.fold_bounds else ():
        flat = plain(arr).reshape(-1).contiguous()
        arrays += [flat, arr.numel(), int(positive) | 2 * int(at_most_one)]
    arrays += [word, 0, 0] * (_SLOTS - len(arrays) // 3)
    probe: tuple = (0, None, 0, 1, 0, 0.0)
    if plan.probe is not None:
        x, stride, n_probe, softmax, tol = plan.probe
        kind = (2 if softmax else 1) if n_probe else 0
        probe = (kind, x, stride, x.shape[-1], n_probe, tol)
    return arrays, probe
