"""The one place that chooses a kernel: Triton, or the generic path.

``WXENT_KERNELS`` (read on every call, so tests and benchmarks can switch it):

* ``auto`` (default): the Triton kernels for PyTorch logits on a CUDA device, when
  ``triton`` imports;
* ``triton``: the Triton kernels whenever ``triton`` imports, also for CPU tensors
  when ``TRITON_INTERPRET=1`` (how the kernels are tested without a GPU);
* ``off``: never.

The Triton path is never taken while ``torch.compile`` traces (the compiler writes its
own kernels, and a graph break is not wanted), under ``torch.func`` transforms, for a
:func:`wxent.loss_terms` request, for weights that require a gradient, or for shapes
and dtypes the kernels do not cover (the classes must lie on the last axis; float16,
bfloat16 or float32 logits). ``import wxent`` never imports ``triton``: the kernel
modules are imported here, on first use.

:data:`LAUNCHES` counts the kernel launches by name (tests use it to prove a kernel ran).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import warnings
from collections import Counter
from typing import Any

from wxent import _namespace as ns
from wxent import _validation as v
from wxent._types import Array

#: Kernel launches by name, incremented by the launch wrappers.
LAUNCHES: Counter[str] = Counter()

_MODES = ("auto", "triton", "off")


def mode() -> str:
    """The value of ``WXENT_KERNELS`` (``auto`` when unset)."""
    value = os.environ.get("WXENT_KERNELS", "auto").strip().lower() or "auto"
    if value not in _MODES:
        raise v.value_error(
            "WXENT_KERNELS", "one of 'auto', 'triton', 'off'", f"WXENT_KERNELS={value!r}"
        )
    return value


@functools.cache
def triton_available() -> bool:
    """Whether ``triton`` imports (once per process)."""
    try:
        import triton  # noqa: F401
    except Exception:  # an ImportError, or a broken install: use the generic path
        return False
    return True


def _transforms_active() -> bool:
    torch = sys.modules.get("torch")
    if torch is None:  # pragma: no cover - only called with torch tensors
        return False
    check = getattr(torch._C, "_are_functorch_transforms_active", None)
    return bool(check is not None and check())


def use_triton(logits: Array, *tensors: Any, reduction: Any = "mean") -> bool:
    """Whether the Triton kernels take these torch inputs.

    Args:
        logits: the caller's logits (any framework).
        *tensors: further inputs (labels, weights): on the logits' device, and not
            requiring a gradient (the kernels differentiate the logits only).
        reduction: the ``reduction`` argument; a terms request is left to the generic path.

    Returns:
        ``True`` when the mode, the device, the dtype and the shape allow a kernel.
    """
    if not ns.is_torch(logits) or ns.torch_is_compiling():
        return False
    current = mode()
    if current == "off" or not isinstance(reduction, str):
        return False
    import torch

    if logits.dtype not in (torch.float16, torch.bfloat16, torch.float32):
        return False
    if logits.ndim == 0 or logits.numel() == 0:
        return False
    if not logits.is_cuda and not (
        current == "triton" and os.environ.get("TRITON_INTERPRET", "0") == "1"
    ):
        return False
    if _transforms_active():
        return False
    for t in tensors:
        if isinstance(t, torch.Tensor) and (t.requires_grad or t.device != logits.device):
            return False
    return triton_available()


def _guarded(name: str, kernel: Any, logits: Array, *args: Any, **kwargs: Any) -> Array | None:
    """``kernel(logits, ...)`` on the logits' device; ``None`` if Triton itself fails.

    A kernel that Triton cannot compile or launch here (an old ``triton``, an unsupported
    GPU) leaves the call to the generic path, with one ``RuntimeWarning`` per kernel;
    errors of other origins (out of memory, bad input) propagate.
    """
    if name in _BROKEN:
        return None
    import torch

    device = torch.cuda.device(logits.device) if logits.is_cuda else contextlib.nullcontext()
    try:
        with device:
            return kernel(logits, *args, **kwargs)
    except Exception as exc:
        if not type(exc).__module__.startswith("triton"):
            raise
        _BROKEN.add(name)
        warnings.warn(
            f"wxent: the Triton kernel {name!r} failed ({type(exc).__name__}: {exc}); "
            "the generic path is used instead (WXENT_KERNELS=off silences this).",
            RuntimeWarning,
            stacklevel=4,
        )
        return None


#: Kernels that failed to compile or launch in this process.
_BROKEN: set[str] = set()


def softmax_cross_entropy(
    logits: Array,
    inp: Any,
    *,
    class_weight: Any,
    sample_weight: Any,
    label_smoothing: float,
    reduction: Any,
    inplace_backward: bool,
) -> Array | None:
    """The Triton softmax cross-entropy for prepared inputs, or ``None`` (generic path).

    Applies to integer labels with the classes on the last axis. ``logits`` and labels
    are the caller's (not the float32 copy of 16-bit logits in ``inp``, nor prepared
    indices): the kernel reads them in their own dtypes, computes in float32, handles
    ``ignore_index`` and checks the labels itself. Probability labels take
    :func:`softmax_cross_entropy_soft`.
    """
    if inp.axis != inp.ndim - 1:
        return None
    if not inp.indices:
        return softmax_cross_entropy_soft(
            logits,
            inp,
            class_weight=class_weight,
            sample_weight=sample_weight,
            label_smoothing=label_smoothing,
            reduction=reduction,
            inplace_backward=inplace_backward,
        )
    if not use_triton(logits, inp.raw_labels, class_weight, sample_weight, reduction=reduction):
        return None
    from wxent._fastpaths import triton_softmax

    cw, sw = _softmax_weights(inp, class_weight, sample_weight, reduction)
    plan = _plan(inp, logits)
    result = _guarded(
        "softmax_cross_entropy",
        triton_softmax.softmax_cross_entropy,
        logits,
        inp.raw_labels,
        class_weight=cw,
        sample_weight=sw,
        ignore_index=inp.ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
        inplace_backward=inplace_backward,
        eager_gradient=inp.launches if inp.validate else None,  # see Inputs.launches
        plan=plan,
    )
    if result is not None and plan is not None:
        plan.commit()  # the call's flags, folded into the word, handed over
    return result


def _softmax_weights(
    inp: Any, class_weight: Any, sample_weight: Any, reduction: Any
) -> tuple[Array | None, Array | None]:
    """The class and sample weights on the logits' device, for a softmax-family kernel.

    For ``"weighted_mean"`` each is scaled by its own power of two
    (:func:`wxent._reduction.scale_free`: their product is the weight), as on the
    generic path, so subnormal or huge weights give the same loss and gradient.
    """
    from wxent import _prepare as prep
    from wxent._reduction import scale_free

    cw = prep.per_class("class_weight", class_weight, inp, broadcast=False)
    sw = prep.sample_weight(sample_weight, inp, per_sample=False)
    given = [w for w in (cw, sw) if w is not None]
    if reduction != "weighted_mean" or not given:
        return cw, sw
    scaled = scale_weights(given, joint=False)  # one launch for both
    if scaled is not None:
        return (scaled.pop(0) if cw is not None else None), (
            scaled.pop(0) if sw is not None else None
        )
    (cw,) = scale_free(inp.xp, [cw], None, reduction)
    (sw,) = scale_free(inp.xp, [sw], None, reduction)
    return cw, sw


def scale_weights(weights: list[Any], *, joint: bool) -> list[Any] | None:
    """One or two weight tensors scaled by the Triton kernel, or ``None`` (array operations).

    See :mod:`wxent._fastpaths.triton_weights`; ``joint``: one scale for both.
    """
    if not 1 <= len(weights) <= 2 or not use_triton(weights[0], *weights[1:]):
        return None
    from wxent._fastpaths import triton_weights

    if not triton_weights.applies(*weights):
        return None
    pair = _guarded(
        "weight_scale", triton_weights.scale_free, weights[0], *weights[1:], joint=joint
    )
    return None if pair is None else [w for w in pair if w is not None]


def _plan(inp: Any, logits: Array) -> Any:
    """A checked call's plan of the checks its kernel folds into one word, or ``None``."""
    if not inp.validate:
        return None
    from wxent._fastpaths import triton_checks

    return triton_checks.Plan(inp, logits)


def softmax_cross_entropy_soft(
    logits: Array,
    inp: Any,
    *,
    class_weight: Any,
    sample_weight: Any,
    label_smoothing: float,
    reduction: Any,
    inplace_backward: bool,
) -> Array | None:
    """The Triton softmax cross-entropy of probability labels, or ``None`` (generic path).

    The kernel reads the caller's labels in their own dtype and does their value check
    itself (its device flag replaces the generic one; the error messages stay the same).
    """
    labels = inp.raw_labels
    if not use_triton(logits, labels, class_weight, sample_weight, reduction=reduction):
        return None
    from wxent import _value_checks
    from wxent._fastpaths import triton_softmax_soft

    cw, sw = _softmax_weights(inp, class_weight, sample_weight, reduction)
    plan = _plan(inp, logits)  # the labels' value check is done by the kernel
    result = _guarded(
        "softmax_cross_entropy_soft",
        triton_softmax_soft.softmax_cross_entropy,
        logits,
        labels,
        class_weight=cw,
        sample_weight=sw,
        label_smoothing=label_smoothing,
        reduction=reduction,
        tolerance=_value_checks.probability_sum_tolerance(labels.dtype, inp.num_classes),
        inplace_backward=inplace_backward,
        plan=plan,
        eager_gradient=inp.launches if inp.validate else None,  # see Inputs.launches
    )
    if result is not None and plan is not None:
        plan.commit()  # the call's flags, folded into the word, handed over
    return result


def linear_chunk_step(logits: Array, labels: Array, coef: Array | None, eps: float) -> Any:
    """The Triton chunk step of the linear cross-entropy, or ``None`` (torch operations).

    ``logits`` is the chunk's own contiguous buffer, overwritten with the gradient when
    ``coef`` is given; see :func:`wxent._fastpaths.triton_linear.linear_chunk_step`.
    """
    if not use_triton(logits, labels) or not logits.is_contiguous():
        return None
    from wxent._fastpaths import triton_linear

    return _guarded(
        "linear_cross_entropy", triton_linear.linear_chunk_step, logits, labels, coef, eps
    )


def sigmoid_family(
    logits: Array,
    labels: Array,
    inp: Any,
    *,
    pos_weight: Any,
    neg_weight: Any,
    sample_weight: Any,
    ignore_label: float | None,
    label_smoothing: float,
    reduction: Any,
    gamma_pos: float = 0.0,
    gamma_neg: float = 0.0,
    clip: float = 0.0,
    alpha: tuple[float, float] | None = None,
) -> Array | None:
    """The Triton sigmoid-family loss for prepared weights, or ``None`` (generic path).

    ``pos_weight``/``neg_weight`` are the prepared ``q``/``r`` (``alpha`` folded in for
    the focal loss, unless ``alpha`` gives ``(alpha, 1 - alpha)`` as numbers for the
    kernel to multiply them by), ``sample_weight`` the prepared per-element or
    per-sample weight; ``logits`` and ``labels`` are the caller's (read in their own
    dtypes).
    """
    if inp.axis != inp.ndim - 1:
        return None
    if not use_triton(logits, labels, pos_weight, neg_weight, sample_weight, reduction=reduction):
        return None
    from wxent._fastpaths import triton_sigmoid

    plan = _plan(inp, logits)  # the labels' value check is done by the kernel
    result = _guarded(
        "sigmoid_family",
        triton_sigmoid.sigmoid_family,
        logits,
        labels,
        pos_weight=pos_weight,
        neg_weight=neg_weight,
        sample_weight=sample_weight,
        ignore_label=ignore_label,
        label_smoothing=label_smoothing,
        reduction=reduction,
        gamma_pos=gamma_pos,
        gamma_neg=gamma_neg,
        clip=clip,
        alpha=alpha,
        plan=plan,
        eager_gradient=inp.launches if inp.validate else None,  # see Inputs.launches
    )
    if result is not None and plan is not None:
        plan.commit()  # the call's flags, folded into the word, handed over
    return result


def softmax_focal_loss(
    logits: Array,
    inp: Any,
    *,
    gamma: float,
    class_weight: Any,
    sample_weight: Any,
    label_smoothing: float,
    reduction: Any,
) -> Array | None:
    """The Triton softmax focal loss for prepared inputs, or ``None`` (generic path).

    Integer labels with the classes on the last axis, as for
    :func:`softmax_cross_entropy`.
    """
    if not inp.indices or inp.axis != inp.ndim - 1:
        return None
    if not use_triton(logits, inp.raw_labels, class_weight, sample_weight, reduction=reduction):
        return None
    from wxent._fastpaths import triton_softmax_focal

    cw, sw = _softmax_weights(inp, class_weight, sample_weight, reduction)
    plan = _plan(inp, logits)
    result = _guarded(
        "softmax_focal_loss",
        triton_softmax_focal.softmax_focal_loss,
        logits,
        inp.raw_labels,
        gamma=gamma,
        class_weight=cw,
        sample_weight=sw,
        ignore_index=inp.ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
        plan=plan,
    )
    if result is not None and plan is not None:
        plan.commit()  # the call's flags, folded into the word, handed over
    return result
