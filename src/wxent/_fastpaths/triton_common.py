"""Pieces shared by the Triton kernels: block sizes, the reduction's last step, scaling.

A kernel that computes its gradient before the backward pass (the sigmoid family; the
softmax kernels in a checked call, whose gradient pass is queued behind the call's one
host read) writes it already divided by the reduction's denominator, for an upstream
gradient of 1; the backward pass then only multiplies by the upstream gradient.
:func:`scale_` does that in place and leaves the gradient untouched where the upstream
gradient is exactly 1 (the usual ``loss.backward()``), deciding on the device: no host
read, and no pass over the gradient when there is nothing to scale. The reduction's last
step is :func:`wxent._fastpaths.triton_checks.settle`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import triton
import triton.language as tl

from wxent._fastpaths.select import LAUNCHES, batched, generic
from wxent._types import Array

#: Elements per program of the element-wise kernels.
ELEMENT_BLOCK = 4096


def cdiv(a: int, b: int) -> int:
    """``ceil(a / b)`` for host-side grid sizes.

    ``triton.cdiv`` is a constexpr function whose call from Python unwraps its
    arguments first: about 2 us per call on the host, four times per training step.
    """
    return -(-a // b)


def next_power_of_2(n: int) -> int:
    """The smallest power of two ``>= n`` (1 for ``n <= 1``)."""
    return 1 if n <= 1 else 1 << (int(n) - 1).bit_length()


def warps_for(block: int) -> int:
    """Warps per program for a block of ``block`` elements."""
    if block >= 8192:
        return 16
    if block >= 2048:
        return 8
    return 4


@triton.jit
def log1p(u):
    """``log(1 + u)``, accurate for small ``u`` (the classic correction of ``1 + u``)."""
    v = 1.0 + u
    d = v - 1.0
    return tl.where(d == 0.0, u, tl.log(v) * (u / tl.where(d == 0.0, 1.0, d)))


@triton.jit
def finite_or_zero(m):
    """``m`` where finite, else 0: the shift of a running sum of ``exp(x - shift)``."""
    return tl.where(tl.abs(m) < float("inf"), m, 0.0)


@triton.jit
def rescale(m_old, shift_new):
    """The factor of a running sum whose shift moves to ``shift_new`` (finite, or 0).

    0 for a sum still empty (``m_old = -inf``), never ``inf * 0``.
    """
    return tl.exp(m_old - shift_new)


@triton.jit
def online_step(m, s, x):
    """The running row maxima ``m`` and sums ``s`` of ``exp(x - shift)`` after a block ``x``.

    ``x`` is ``(ROWS, BLOCK)`` in float32 (``-inf`` outside the rows); the shift is the
    running maximum, or 0 where that is infinite (``-inf`` logits then add ``exp(-inf)``).
    """
    m_new = tl.maximum(m, tl.max(x, axis=1))
    shift_new = finite_or_zero(m_new)
    block = tl.sum(tl.exp(x - shift_new[:, None]), axis=1)
    return m_new, s * rescale(m, shift_new) + block


@triton.jit
def log_total(s):
    """``log(s)`` of sums ``s`` of ``exp(x - shift)`` (``-inf`` at 0).

    The log-sum-exp is ``shift + log(s)``, but a loss or a probability is formed in the
    shifted logits, ``log(s) - (x_y - shift)`` and ``exp((x - shift) - log(s))``: at large
    ``|x|`` (``1e4`` and beyond in float32) ``shift + log(s)`` rounds ``log(s)`` away.
    """
    return tl.where(s == 0.0, float("-inf"), tl.log(tl.where(s == 0.0, 1.0, s)))


@triton.jit
def program_rows(n_rows, ROWS: tl.constexpr):
    """The rows of this program (int64), and which of them exist."""
    rows = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)
    return rows, rows < n_rows


@triton.jit
def upstream(g_ptr, inv_ptr, rows, rmask, G_MODE: tl.constexpr):
    """A backward pass's factor per row: the upstream gradient over the denominator.

    ``G_MODE`` 0: one upstream gradient per row; 1: a 0-d one times the inverse
    denominator ``inv_ptr[0]``; 2: an upstream gradient of 1, the inverse alone; 3: 1.
    """
    if G_MODE == 0:
        g = tl.load(g_ptr + rows, mask=rmask, other=0.0).to(tl.float32)
    elif G_MODE == 1:
        g = tl.load(g_ptr).to(tl.float32) * tl.load(inv_ptr)
    elif G_MODE == 2:
        g = tl.load(inv_ptr)
    else:
        g = 1.0
    return g


def upstream_mode(g: Any, inv: Any, per_row: bool) -> tuple[Any, int]:
    """The upstream gradient as :func:`upstream` reads it, and its ``G_MODE``.

    ``g``: the upstream gradient (per row when ``per_row``), or ``None`` for 1;
    ``inv``: the inverse denominator (0-d), or ``None`` where there is none.
    """
    if g is None:  # 1: the inverse denominator alone (or 1)
        return None, 2 if inv is not None else 3
    if per_row:
        return g.reshape(-1).contiguous(), 0
    return g.reshape(()), 1  # 0-d, times the inverse denominator


def plain(t: Any) -> Any:
    """``t`` with its negative and conjugate bits resolved (``None`` stays ``None``).

    A kernel reads a tensor's memory through its data pointer, which ignores those bits:
    a negative view (``torch._neg_view``, or the imaginary part of a conjugated complex
    tensor, ``z.conj().imag``) would be read with the opposite sign. A tensor without
    them is returned as is (no copy); one with them is copied once, resolved. Every
    tensor a kernel reads goes through here (:func:`rows_of`, :func:`row_inputs`,
    :func:`row_weights`, and the sigmoid family's and the check kernel's arguments).
    """
    if t is None or not isinstance(t, torch.Tensor):
        return t
    if t.is_neg():
        t = t.resolve_neg()
    if t.is_conj():  # (real tensors never carry it: for completeness)
        t = t.resolve_conj()
    return t


def rows_of(logits: Array) -> Array:
    """The logits as ``(N, C)`` rows of unit stride (a view where possible)."""
    rows = plain(logits).reshape(-1, logits.shape[-1])
    return rows if rows.stride(-1) == 1 else rows.contiguous()


@triton.jit
def sum_values(ptr, n, BLOCK: tl.constexpr):
    """The float32 sum of ``ptr[0:n]``, in blocks of ``BLOCK`` lanes."""
    lane = tl.arange(0, BLOCK)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for start in range(0, n, BLOCK):
        offs = start + lane
        acc += tl.load(ptr + offs, mask=offs < n, other=0.0).to(tl.float32)
    return tl.sum(acc, axis=0)


@triton.jit
def _scale_kernel(
    grad_ptr,
    g_ptr,
    n_elements,
    group,
    PER_GROUP: tl.constexpr,
    BLOCK: tl.constexpr,
):
    # grad[i] *= g[i // group] (PER_GROUP) or g[0], over a grid-stride loop of blocks;
    # a factor of 1 leaves its elements untouched (one load of g when it is a scalar).
    pid = tl.program_id(0).to(tl.int64)
    step = tl.num_programs(0).to(tl.int64) * BLOCK
    lane = tl.arange(0, BLOCK)
    if PER_GROUP:
        for start in range(pid * BLOCK, n_elements, step):
            offs = start + lane
            mask = offs < n_elements
            g = tl.load(g_ptr + offs // group, mask=mask, other=1.0).to(tl.float32)
            if tl.max(tl.where(mask & (g != 1.0), 1, 0), axis=0) > 0:
                grad = tl.load(grad_ptr + offs, mask=mask, other=0.0).to(tl.float32)
                tl.store(grad_ptr + offs, (grad * g).to(grad_ptr.dtype.element_ty), mask=mask)
    else:
        g0 = tl.load(g_ptr).to(tl.float32)
        if g0 != 1.0:
            for start in range(pid * BLOCK, n_elements, step):
                offs = start + lane
                mask = offs < n_elements
                grad = tl.load(grad_ptr + offs, mask=mask, other=0.0).to(tl.float32)
                tl.store(grad_ptr + offs, (grad * g0).to(grad_ptr.dtype.element_ty), mask=mask)


#: Programs of the scaling kernel at most (each loops over its share of the blocks).
SCALE_PROGRAMS = 4096


def scale_(grad: Any, g: Any, group: int = 1) -> None:
    """``grad *= g`` in place on contiguous ``grad``, ``g`` a 0-d or per-group factor.

    Args:
        grad: the gradient buffer, contiguous.
        g: the upstream gradient: 0-d (one factor), or ``grad.numel() // group`` values.
        group: how many consecutive gradient entries share one factor.
    """
    n = grad.numel()
    if n == 0:
        return
    g = g.reshape(-1)
    if not g.is_contiguous():  # pragma: no cover - autograd hands contiguous gradients
        g = g.contiguous()
    per_group = g.numel() != 1
    grid = (min(cdiv(n, ELEMENT_BLOCK), SCALE_PROGRAMS),)
    LAUNCHES["scale"] += 1
    _scale_kernel[grid](grad, g, n, group, PER_GROUP=per_group, BLOCK=ELEMENT_BLOCK, num_warps=8)


def early_gradient(ctx: Any, g: Any, inputs: int) -> tuple[Any, ...] | None:
    """The backward result of a gradient computed before the backward pass, or ``None``.

    ``ctx.grad`` holds it (for an upstream gradient of 1), ``ctx.pending`` its launch
    (a no-op when the call's flag read launched it); it is scaled by ``g`` in place and
    returned for the logits, with ``None`` for the ``inputs - 1`` other inputs. The
    buffer serves once: ``ctx.spent`` then sends a later backward pass to
    :func:`rerun_gradient`.
    """
    if ctx.grad is None:
        return None
    grad, ctx.grad = ctx.grad, None
    ctx.spent = True
    ctx.pending()
    scale_(grad, g, group=grad.shape[-1] if ctx.reduction == "none" else 1)
    return (grad.view(ctx.shape),) + (None,) * (inputs - 1)


def records_gradient(logits: Any) -> bool:
    """Whether autograd records this call: gradients enabled and the logits need one.

    Inside an autograd function's forward gradients are off, and ``needs_input_grad``
    says only that the logits require a gradient: under ``torch.no_grad()`` or
    ``torch.inference_mode()`` no backward pass follows, and a kernel that computes its
    gradient early (or keeps what its backward pass reads) would do so for nothing.
    """
    return torch.is_grad_enabled() and bool(logits.requires_grad)


def keep_logits(ctx: Any, logits: Any, rerun: Callable[[Any], Any] | None, *saved: Any) -> None:
    """Save ``saved`` and the caller's ``logits`` for the backward pass, with ``rerun``.

    The logits are kept by reference (they are the caller's tensor, no copy) for
    :func:`rerun_gradient`; ``rerun(x)`` is the call on other logits ``x``.
    """
    ctx.rerun, ctx.spent = rerun, False
    ctx.save_for_backward(*saved, logits)


def must_rerun(ctx: Any, g: Any) -> bool:
    """Whether a backward pass must rerun the generic path (:func:`rerun_gradient`).

    ``create_graph=True`` (the backward pass runs with gradients enabled: the gradient
    must be differentiable, which a kernel's is not), a second backward pass through a
    retained graph whose gradient buffer the first one consumed (``ctx.spent``), or an
    upstream gradient ``g`` batched by a transform (``is_grads_batched=True``, vmap),
    which a kernel cannot read.
    """
    return torch.is_grad_enabled() or ctx.spent or batched(g)


def rerun_gradient(ctx: Any, g: Any, inputs: int) -> tuple[Any, ...]:
    """The gradient of the call's generic path at the saved logits, times ``g``.

    Under ``create_graph=True`` it is differentiable (the generic formulas run on the
    saved logits, which are part of the graph); else it is computed on a detached copy.
    """
    if ctx.rerun is None:  # pragma: no cover - the public functions always pass it
        raise RuntimeError(
            "wxent: this Triton kernel's gradient serves one backward pass without "
            "create_graph; set WXENT_KERNELS=off for more."
        )
    if getattr(ctx, "inplace", False) and ctx.spent:
        raise RuntimeError(
            "wxent: a second backward pass through a loss called with "
            "inplace_backward=True: the first one overwrote the logits with their "
            "gradient. Call it with inplace_backward=False to backpropagate more than once."
        )
    logits = ctx.saved_tensors[-1]
    create = torch.is_grad_enabled()
    with torch.enable_grad(), generic():
        x = logits if create else logits.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(ctx.rerun(x), x, g, create_graph=create)
    return (grad,) + (None,) * (inputs - 1)


def defer_gradient(ctx: Any, eager: list, rows: Any, launch: Callable[[Any], None]) -> None:
    """Queue a checked call's gradient pass behind its flag read (``Inputs.launches``).

    The device computes the gradient (for an upstream gradient of 1, into a fresh
    ``ctx.grad`` like ``rows``) while the host reads the flag and returns; the backward
    pass only rescales it (:func:`early_gradient`). ``launch(grad)`` runs the pass.
    """
    ctx.grad = grad = torch.empty_like(rows)
    ctx.pending = once(lambda: launch(grad))
    eager.append(ctx.pending)


def writes_into(logits: Any, rows: Any, inplace: bool) -> bool:
    """Whether the gradient goes into the logits' storage.

    Asked, ``rows`` is a view of the logits, and the logits are contiguous and not a
    view of a leaf (a parameter's storage is never overwritten, nor a tensor's that
    the logits cover only in part).
    """
    if not (inplace and rows.data_ptr() == logits.data_ptr() and logits.is_contiguous()):
        return False
    base = logits._base
    return base is None or (not base.is_leaf and base.numel() == logits.numel())


def wrote_into(grad: Any) -> None:
    """Mark the logits' storage as written (their version counter, which ``grad`` shares).

    A backward pass that reads the logits after the gradient overwrote them (an
    operation that saved them, a second backward pass) then raises PyTorch's error of a
    tensor modified in place, instead of computing with the gradient's values.
    """
    torch.autograd.graph.increment_version(grad)


def once(launch: Callable[[], None]) -> Callable[[], None]:
    """``launch`` as a callable that runs it the first time only.

    A gradient pass queued behind a checked call's flag read (``Inputs.launches``) runs
    there; the backward pass calls it again, a no-op then, or its first run when no read
    ran it.
    """
    done = False

    def run() -> None:
        nonlocal done
        if not done:
            done = True
            launch()

    return run


def row_gradient(ctx: Any, g: Any, inputs: int) -> tuple[Any, ...]:
    """The backward of a row kernel whose forward pass wrote the gradient.

    ``ctx.grad`` is already divided by the reduction's denominator: it is scaled by the
    upstream gradient ``g`` in place, once; a second backward pass through a retained
    graph, or one with ``create_graph=True``, reruns the generic path.
    """
    if must_rerun(ctx, g):
        return rerun_gradient(ctx, g, inputs)
    grad = ctx.grad
    if grad is None:  # pragma: no cover - autograd asks only when the logits need it
        return (None,) * inputs
    ctx.grad = None  # the buffer is scaled in place: a second backward reruns
    ctx.spent = True
    scale_(grad, g, group=grad.shape[-1] if ctx.reduction == "none" else 1)
    return (grad.view(ctx.shape),) + (None,) * (inputs - 1)


def row_inputs(
    labels: Array, class_weight: Array | None, sample_weight: Array | None
) -> tuple[Array, Array | None, Array | None]:
    """Flat contiguous labels, class and sample weights (float32)."""
    flat_labels = plain(labels).reshape(-1).contiguous()
    return (flat_labels, *row_weights(class_weight, sample_weight, flat_labels.numel()))


def row_weights(
    class_weight: Array | None, sample_weight: Array | None, n: int
) -> tuple[Array | None, Array | None]:
    """Class weights ``(C,)`` or 0-d and sample weights ``(n,)`` or 0-d, float32, contiguous."""
    cw = None
    if class_weight is not None:
        cw = plain(class_weight).float().reshape(-1 if class_weight.ndim else ()).contiguous()
    sw = None
    if sample_weight is not None:
        sw = plain(sample_weight).float()
        sw = sw.reshape(-1).expand(n) if sw.ndim else sw
        sw = sw.contiguous()
    return cw, sw
