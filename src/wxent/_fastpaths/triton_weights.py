"""One Triton launch that makes the weights of a ``"weighted_mean"`` scale-free.

``sum(w * l) / sum(w)`` does not depend on the weights' scale, but its float evaluation
does at the ends of the range (see :func:`wxent._reduction.scale_free`, which does the
same with a dozen array operations). Here one program reads a float32 weight array (or
two), finds the largest entry, and writes the arrays multiplied by the power of two
that brings it into ``[4, 8)``: exact, and one launch instead of a dozen small ones on
the kernels' path. Two arrays share one scale (``joint``, the sigmoid family's
``pos_weight``/``neg_weight``) or take one each (class and sample weights, factors of
one product).
"""

from __future__ import annotations

from typing import Any

import triton
import triton.language as tl

from wxent._fastpaths.select import LAUNCHES

#: Entries per step of the program's loops: the loops' steps depend on each other, and
#: at 1024 (4 warps) 131072 class weights took 68 us on an H100; 8192 with 8 warps
#: takes an eighth of the steps.
BLOCK = 8192


@triton.jit
def _largest(w, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    acc = tl.zeros((BLOCK,), tl.float32)
    for start in range(0, n, BLOCK):
        x = tl.load(w + start + offs, mask=start + offs < n, other=0.0)
        acc = tl.maximum(acc, x)
    return tl.max(acc, axis=0)


@triton.jit
def _power_of_two(k):
    # 2**k for an integer-valued float k in [-126, 127], built from its bits: exact
    bits = (k.to(tl.int32) + 127) << 23
    return bits.to(tl.float32, bitcast=True)


@triton.jit
def _write(w, out, n, largest, BLOCK: tl.constexpr):
    usable = (largest > 0.0) & (largest < float("inf"))
    e = tl.where(usable, tl.floor(tl.log2(tl.where(usable, largest, 4.0))) - 2.0, 0.0)
    half = tl.floor(e / 2.0)
    first = _power_of_two(-half)
    second = _power_of_two(half - e)
    offs = tl.arange(0, BLOCK)
    for start in range(0, n, BLOCK):
        mask = start + offs < n
        x = tl.load(w + start + offs, mask=mask, other=0.0)
        tl.store(out + start + offs, (x * first) * second, mask=mask)


@triton.jit
def _scale_kernel(a, na, out_a, b, nb, out_b, HAS_B: tl.constexpr, JOINT: tl.constexpr,
                  BLOCK: tl.constexpr):  # fmt: skip
    largest_a = _largest(a, na, BLOCK)
    if HAS_B:
        largest_b = _largest(b, nb, BLOCK)
        if JOINT:
            largest_a = tl.maximum(largest_a, largest_b)
            largest_b = largest_a
        _write(b, out_b, nb, largest_b, BLOCK)
    _write(a, out_a, na, largest_a, BLOCK)


def applies(*arrays: Any) -> bool:
    """Whether :func:`scale_free` takes these (non-empty contiguous float32 tensors)."""
    import torch

    return all(
        isinstance(w, torch.Tensor)
        and w.dtype == torch.float32
        and w.numel() > 0
        and w.is_contiguous()
        and not w.requires_grad
        for w in arrays
    )


def scale_free(a: Any, b: Any = None, *, joint: bool = False) -> tuple[Any, Any]:
    """``a`` (and ``b``) times the power of two that brings the largest entry into [4, 8).

    ``joint``: one scale for both (from the larger of their maxima). Returns new arrays.
    """
    import torch

    out_a = torch.empty_like(a)
    out_b = None if b is None else torch.empty_like(b)
    LAUNCHES["weight_scale"] += 1
    _scale_kernel[(1,)](
        a, a.numel(), out_a,
        a if b is None else b, 0 if b is None else b.numel(), out_a if out_b is None else out_b,
        HAS_B=b is not None, JOINT=joint, BLOCK=BLOCK, num_warps=8,
    )  # fmt: skip
    return out_a, out_b
