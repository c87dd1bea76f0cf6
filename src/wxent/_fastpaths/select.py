"""The one place that chooses a kernel: Triton, or the generic path.

``WXENT_KERNELS`` (read on every call, so tests and benchmarks can switch it):

* ``auto`` (default): the Triton kernels for PyTorch logits on a CUDA device, when
  ``triton`` imports;
* ``triton``: the Triton kernels whenever ``triton`` imports, also for CPU tensors
  when ``TRITON_INTERPRET=1`` (how the kernels are tested without a GPU);
* ``off``: never; and none of wxent's custom-gradient rules either
  (:func:`custom_gradients`): the JAX and TensorFlow softmax rules, the TensorFlow
  sigmoid rule and the focal/asymmetric rules of every framework, so the framework
  differentiates the generic formulas in every mode. The frameworks' own kernels that
  serve beside the generic path (PyTorch's native cross-entropy, the NumPy blocked
  kernels) are plain framework operations and stay.

The Triton path is never taken while ``torch.compile`` traces (the compiler writes its
own kernels, and a graph break is not wanted), under ``torch.func`` transforms, for
forward-mode dual tensors (:func:`forward_ad`), for a
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
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from wxent import _namespace as ns
from wxent import _validation as v
from wxent import _warnings
from wxent._types import Array

#: Kernel launches by name, incremented by the launch wrappers.
LAUNCHES: Counter[str] = Counter()

_MODES = ("auto", "triton", "off")

#: Per thread: set while a kernel's backward pass reruns the generic path (:func:`generic`).
_GENERIC = threading.local()


@contextlib.contextmanager
def generic() -> Iterator[None]:
    """The generic path for every call inside, on this thread (the Triton kernels off).

    A kernel's backward pass that cannot use its own gradient (a second backward pass
    through a retained graph, whose gradient buffer the first one consumed, or
    ``create_graph=True``, which needs a differentiable gradient) reruns the call's
    generic formulas inside (:func:`wxent._fastpaths.triton_common.rerun_gradient`).
    """
    before = getattr(_GENERIC, "on", False)
    _GENERIC.on = True
    try:
        yield
    finally:
        _GENERIC.on = before


def mode() -> str:
    """The value of ``WXENT_KERNELS`` (``auto`` when unset)."""
    value = os.environ.get("WXENT_KERNELS", "auto").strip().lower() or "auto"
    if value not in _MODES:
        raise v.value_error(
            "WXENT_KERNELS", "one of 'auto', 'triton', 'off'", f"WXENT_KERNELS={value!r}"
        )
    return value


def custom_gradients() -> bool:
    """Whether wxent's custom-gradient rules may run (not under ``WXENT_KERNELS=off``).

    Also ``False`` while ``wxent._fastpaths.ENABLED`` is ``False`` (every fast path off).
    """
    from wxent import _fastpaths

    return bool(_fastpaths.ENABLED) and mode() != "off"


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


def batched(g: Any) -> bool:
    """Whether ``g`` is a batched tensor of ``vmap`` (``is_grads_batched=True``, ``torch.func``).

    A custom backward pass that cannot read one (a Triton kernel, an in-place product of
    unbatched buffers) differentiates the generic formulas instead.
    """
    torch = sys.modules["torch"]
    functorch = getattr(torch._C, "_functorch", None)
    if functorch is None or ns.torch_is_compiling():  # (a traced backward: no wrapper)
        return False
    return bool(functorch.is_functorch_wrapped_tensor(g) or functorch.is_legacy_batchedtensor(g))


def forward_ad(*tensors: Any) -> bool:
    """Whether a torch tensor among ``tensors`` carries a forward-mode tangent.

    Dual tensors of ``torch.autograd.forward_ad`` (``make_dual``) propagate their tangent
    through torch operations only: the Triton kernels would drop it and wxent's
    autograd functions define no forward rule, so such calls take the generic
    formulas (or the frameworks' own operations), which forward mode differentiates.
    Costs nothing outside a ``dual_level``.
    """
    fwd = sys.modules.get("torch.autograd.forward_ad")
    if fwd is None or getattr(fwd, "_current_level", 0) < 0:
        return False
    torch = sys.modules["torch"]
    return any(
        isinstance(t, torch.Tensor) and fwd.unpack_dual(t).tangent is not None for t in tensors
    )


def tf_forward_ad(*tensors: Any) -> bool:
    """Whether a ``tf.autodiff.ForwardAccumulator`` watches TensorFlow ``tensors``.

    Under an accumulator opened inside a traced function the custom gradients of the
    focal rules gave a zero tangent (TensorFlow derives a JVP from a custom gradient's
    backward function, and the traced one is not fit for it); eagerly, with a tape
    recording beside the accumulator, the tangent of the loss itself was missing (None),
    and with an accumulator alone the eager loss-only graphs gave tangent 0 at logits of
    exactly 0. Such calls take the generic formulas, which it differentiates op by op. For an
    accumulator around a traced call the rules' JVPs are exact
    (tests/test_tf_forward_ad.py) and they stay. Costs nothing where no tape or
    accumulator is active.
    """
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return False
    from tensorflow.python.eager import forwardprop_util, record

    if not record.could_possibly_record():
        return False
    watched = [
        tf.convert_to_tensor(t)
        for t in tensors
        if isinstance(t, tf.Variable) or (tf.is_tensor(t) and t.dtype.is_floating)
    ]
    # Eagerly an accumulator alone differentiates the rules' loss-only graphs op by op,
    # whose ``abs`` and ``relu`` have derivative 0 at a logit of exactly 0: the tangent
    # there was 0 (sigmoid cross-entropy: ``0.5 - z`` expected). So any accumulator that
    # watches the inputs, eagerly or traced, takes the generic formulas.
    return bool(forwardprop_util.pack_tangents(watched).indices) if watched else False


def rerun(loss: Callable[..., Any], labels: Any, **options: Any) -> Callable[[Any], Any]:
    """``loss(x, labels, **options, validate=False)`` for other logits ``x``.

    ``options``: the call's keyword arguments as given (without ``validate`` and
    ``inplace_backward``). A kernel's backward pass calls it on the saved logits, under
    :func:`generic`, when it must rerun the generic path.
    """
    return functools.partial(loss, labels=labels, validate=False, **options)


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
    if current == "off" or not isinstance(reduction, str) or getattr(_GENERIC, "on", False):
        return False
    if not logits.is_cuda and not (
        current == "triton" and os.environ.get("TRITON_INTERPRET", "0") == "1"
    ):
        return False
    import torch

    if logits.dtype not in (torch.float16, torch.bfloat16, torch.float32):
        return False
    if logits.ndim == 0 or logits.numel() == 0:
        return False
    if _transforms_active() or forward_ad(logits, *tensors):
        return False
    device = logits.device
    for t in tensors:
        if isinstance(t, torch.Tensor) and (t.requires_grad or t.device != device):
            return False
    return triton_available()


def _guarded(name: str, kernel: Any, logits: Array, *args: Any, **kwargs: Any) -> Array | None:
    """``kernel(logits, ...)`` on the logits' device; ``None`` if Triton itself fails.

    A kernel that Triton cannot compile or launch here (an old ``triton``, an unsupported
    GPU, a compiler pass that fails on it) leaves the call to the generic path, with one
    ``RuntimeWarning`` per kernel; errors of other origins (out of memory, bad input)
    propagate.
    """
    if name in _BROKEN:
        return None
    import torch

    device = torch.cuda.device(logits.device) if logits.is_cuda else contextlib.nullcontext()
    try:
        with device:
            return kernel(logits, *args, **kwargs)
    except Exception as exc:
        if not _raised_by_triton(exc):
            raise
        _BROKEN.add(name)
        _warnings.warn(
            f"wxent: the Triton kernel {name!r} failed ({type(exc).__name__}: {exc}); "
            "the generic path is used instead (WXENT_KERNELS=off silences this).",
            RuntimeWarning,
            stacklevel=4,
        )
        return None


#: Kernels that failed to compile or launch in this process.
_BROKEN: set[str] = set()


def _raised_by_triton(exc: BaseException) -> bool:
    """Whether ``exc`` comes from Triton itself: its compiler, runtime or driver.

    An exception of Triton's own types, or one raised in Triton's code (its compiler
    passes raise a plain ``RuntimeError``, e.g. ``PassManager::run failed``). Memory
    errors and errors raised in wxent's or PyTorch's code are not Triton's.
    """
    if type(exc).__module__.startswith("triton"):
        return True
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return False
    location = getattr(sys.modules.get("triton"), "__file__", None)
    tb = exc.__traceback__
    if not location or tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    root = os.path.dirname(os.path.abspath(location)) + os.sep
    return os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(root)


def softmax_cross_entropy(
    logits: Array,
    inp: Any,
    *,
    class_weight: Any,
    sample_weight: Any,
    label_smoothing: float,
    reduction: Any,
    inplace_backward: bool,
    rerun: Callable[[Any], Any] | None = None,
) -> Array | None:
    """The Triton softmax cross-entropy for prepared inputs, or ``None`` (generic path).

    Applies to integer labels with the classes on the last axis. ``logits`` and labels
    are the caller's (not the float32 copy of 16-bit logits in ``inp``, nor prepared
    indices): the kernel reads them in their own dtypes, computes in float32, handles
    ``ignore_index`` and checks the labels itself. Probability labels take the kernel
    of :mod:`wxent._fastpaths.triton_softmax_soft`. ``rerun(x)``: the same call on
    other logits ``x`` (a backward pass that must rerun the generic path calls it).
    """
    if inp.axis != inp.ndim - 1:
        return None
    weights = (class_weight, sample_weight, reduction)
    options: dict[str, Any] = {"label_smoothing": label_smoothing}
    options.update(inplace_backward=inplace_backward, eager_gradient=_launches(inp), rerun=rerun)
    if not inp.indices:
        # Probability labels, read in their own dtype; the kernel's value check replaces
        # the generic one (the error messages stay the same).
        from wxent import _value_checks

        tolerance = _value_checks.probability_sum_tolerance(inp.raw_labels.dtype, inp.num_classes)
        kernel = ("softmax_cross_entropy_soft", "triton_softmax_soft")
        return _softmax_family(kernel, inp, logits, weights, tolerance=tolerance, **options)
    kernel = ("softmax_cross_entropy", "triton_softmax")
    return _softmax_family(kernel, inp, logits, weights, ignore_index=inp.ignore_index, **options)


def _softmax_family(
    kernel: tuple[str, str], inp: Any, logits: Array, weights: tuple, **kwargs: Any
) -> Array | None:
    """A softmax-family kernel on the caller's labels, or ``None`` (generic path).

    ``kernel``: ``(name, module)``: the kernel's name (:data:`LAUNCHES`,
    :func:`_guarded`) and its module under :mod:`wxent._fastpaths`, imported now (its
    ``softmax_cross_entropy``, ``softmax_focal_loss`` or ``expected_cost_loss``; a
    ``costs`` matrix among ``kwargs`` must be on the logits' device too); ``weights``: the call's
    ``(class_weight, sample_weight, reduction)``, prepared by :func:`_softmax_weights`.
    """
    class_weight, sample_weight, reduction = weights
    labels = inp.raw_labels
    more = [kwargs["costs"]] if "costs" in kwargs else []
    if not use_triton(logits, labels, class_weight, sample_weight, *more, reduction=reduction):
        return None
    import importlib

    name, module = kernel
    run = importlib.import_module(f"wxent._fastpaths.{module}")
    cw, sw = _softmax_weights(inp, class_weight, sample_weight, reduction)
    own = ("softmax_focal_loss", "expected_cost_loss", "cost_sensitive_cross_entropy")
    entry = name if name in own else None
    return _checked(  # (the kernel checks the labels itself)
        name,
        getattr(run, entry or "softmax_cross_entropy"),
        inp,
        logits,
        labels,
        class_weight=cw,
        sample_weight=sw,
        reduction=reduction,
        **kwargs,
    )


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
        if len(given) == 2 and inp.validate:
            _check_weight_product(inp, cw, sw, reduction)
        return cw, sw
    # One launch for both, in every call: a scaled copy kept across calls would miss a
    # write through `.data` (which leaves the version counter alone) and give a stale loss.
    scaled = scale_weights(given, joint=False, chosen=True)
    if scaled is not None:
        return (scaled.pop(0) if cw is not None else None), (
            scaled.pop(0) if sw is not None else None
        )
    (cw,) = scale_free(inp.xp, [cw], None, reduction)
    (sw,) = scale_free(inp.xp, [sw], None, reduction)
    return cw, sw


def _check_weight_product(inp: Any, cw: Array, sw: Array, reduction: Any) -> None:
    """The generic path's check of ``sample_weight * class_weight[label]`` (finite), for a kernel.

    The labels are the caller's (the kernel checks them): ignored and out-of-range ones
    take no weight here; probability labels weigh a row by ``sum_c y_c class_weight[c]``
    (a product with the labels: their second read, in calls given both weights only).
    """
    from wxent._softmax import check_product

    torch = ns.torch_of(inp.xp)
    labels = inp.raw_labels
    if cw.ndim == 0:
        taken, valid = cw, None
    elif not inp.indices:
        rows = labels.reshape(-1, labels.shape[-1]).to(cw.dtype)
        with ns.no_autocast(rows):
            taken, valid = torch.mv(rows, cw).reshape(labels.shape[:-1]), None
    else:
        valid = (labels >= 0) & (labels < inp.num_classes)
        if inp.ignore_index is not None:
            valid = valid & (labels != inp.ignore_index)
        taken = cw[torch.where(valid, labels, 0)]
    check_product(inp, sw * taken, sw, taken, valid, reduction)


def scale_weights(weights: list[Any], *, joint: bool, chosen: bool = False) -> list[Any] | None:
    """One or two weight tensors scaled by the Triton kernel, or ``None`` (array operations).

    See :mod:`wxent._fastpaths.triton_weights`; ``joint``: one scale for both;
    ``chosen``: the caller's kernel was chosen by :func:`use_triton` for these weights'
    logits (on whose device they now are): not asked again.
    """
    if not 1 <= len(weights) <= 2:
        return None
    if not chosen and not use_triton(weights[0], *weights[1:]):
        return None
    from wxent._fastpaths import triton_weights

    if not triton_weights.applies(*weights):
        return None
    pair = _guarded(
        "weight_scale", triton_weights.scale_free, weights[0], *weights[1:], joint=joint
    )
    return None if pair is None else [w for w in pair if w is not None]


def _checked(name: str, kernel: Any, inp: Any, logits: Array, *args: Any, **kwargs: Any) -> Any:
    """``kernel(logits, ...)`` through :func:`_guarded`, with a checked call's ``plan``.

    The plan (:class:`~wxent._fastpaths.triton_checks.Plan`) holds the checks the kernel
    folds into one word; once the kernel ran, the call's flags are handed over to it.
    """
    plan = None
    if inp.validate:
        from wxent._fastpaths import triton_checks

        plan = triton_checks.Plan(inp, logits)
    result = _guarded(name, kernel, logits, *args, plan=plan, **kwargs)
    if result is not None and plan is not None:
        plan.commit()  # the call's flags, folded into the word, handed over
    return result


def _launches(inp: Any) -> list | None:
    """Where a checked call queues a gradient pass behind its flag read (``Inputs.launches``)."""
    return inp.launches if inp.validate else None


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
    reduction: Any,
    **options: Any,
) -> Array | None:
    """The Triton sigmoid-family loss for prepared weights, or ``None`` (generic path).

    ``pos_weight``/``neg_weight`` are the prepared ``q``/``r`` (``alpha`` folded in for
    the focal loss, unless the ``alpha`` option gives ``(alpha, 1 - alpha)`` as numbers
    for the kernel to multiply them by), ``sample_weight`` the prepared per-element or
    per-sample weight; ``logits`` and ``labels`` are the caller's (read in their own
    dtypes). ``options``: the rest of
    :func:`wxent._fastpaths.triton_sigmoid.sigmoid_family`'s arguments (``rerun``: the
    same call on other logits, see :func:`softmax_cross_entropy`).
    """
    if inp.axis != inp.ndim - 1:
        return None
    if not use_triton(logits, labels, pos_weight, neg_weight, sample_weight, reduction=reduction):
        return None
    from wxent._fastpaths import triton_sigmoid

    return _checked(  # (the labels' value check is done by the kernel)
        "sigmoid_family",
        triton_sigmoid.sigmoid_family,
        inp,
        logits,
        labels,
        pos_weight=pos_weight,
        neg_weight=neg_weight,
        sample_weight=sample_weight,
        reduction=reduction,
        **options,
    )


def softmax_focal_loss(
    logits: Array,
    inp: Any,
    *,
    gamma: float,
    class_weight: Any,
    sample_weight: Any,
    label_smoothing: float,
    reduction: Any,
    rerun: Callable[[Any], Any] | None = None,
) -> Array | None:
    """The Triton softmax focal loss for prepared inputs, or ``None`` (generic path).

    Integer labels with the classes on the last axis, as for
    :func:`softmax_cross_entropy` (``rerun`` too).
    """
    if not inp.indices or inp.axis != inp.ndim - 1:
        return None
    return _softmax_family(
        ("softmax_focal_loss", "triton_softmax_focal"),
        inp,
        logits,
        (class_weight, sample_weight, reduction),
        gamma=gamma,
        ignore_index=inp.ignore_index,
        label_smoothing=label_smoothing,
        rerun=rerun,
    )


def expected_cost_loss(
    logits: Array,
    inp: Any,
    *,
    costs: Any,
    class_weight: Any,
    sample_weight: Any,
    reduction: Any,
    rerun: Callable[[Any], Any] | None = None,
) -> Array | None:
    """The Triton expected cost for prepared inputs, or ``None`` (generic path).

    Integer labels with the classes on the last axis, as for
    :func:`softmax_cross_entropy` (``rerun`` too); ``costs``: the ``(C, C)`` matrix on
    the logits' framework and device (its checks are the call's, folded into the flag).
    """
    weights = (class_weight, sample_weight, reduction)
    return _with_costs("expected_cost_loss", logits, inp, weights, costs, rerun)


def cost_sensitive_cross_entropy(
    logits: Array,
    inp: Any,
    *,
    costs: Any,
    cost_weight: Any,
    class_weight: Any,
    sample_weight: Any,
    label_smoothing: float,
    reduction: Any,
    rerun: Callable[[Any], Any] | None = None,
) -> Array | None:
    """The Triton cost-sensitive cross-entropy for prepared inputs, or ``None``.

    As :func:`expected_cost_loss`, for a Python number ``cost_weight`` (0: the
    cross-entropy alone, :func:`softmax_cross_entropy`'s kernel, the costs not read).
    """
    if type(cost_weight) not in (int, float):
        return None
    if cost_weight == 0:
        return softmax_cross_entropy(
            logits,
            inp,
            class_weight=class_weight,
            sample_weight=sample_weight,
            label_smoothing=label_smoothing,
            reduction=reduction,
            inplace_backward=False,
            rerun=rerun,
        )
    weights = (class_weight, sample_weight, reduction)
    extra = {"cost_weight": float(cost_weight), "label_smoothing": label_smoothing}
    return _with_costs("cost_sensitive_cross_entropy", logits, inp, weights, costs, rerun, **extra)


def _with_costs(
    name: str, logits: Array, inp: Any, weights: tuple, costs: Any, rerun: Any, **extra: Any
) -> Array | None:
    """The softmax kernels with a cost matrix (the two losses above), or ``None``.

    Integer labels with the classes on the last axis; ``weights``: the call's
    ``(class_weight, sample_weight, reduction)``.
    """
    if not inp.indices or inp.axis != inp.ndim - 1:
        return None
    return _softmax_family(
        (name, "triton_softmax"),
        inp,
        logits,
        weights,
        costs=costs,
        ignore_index=inp.ignore_index,
        eager_gradient=_launches(inp),
        rerun=rerun,
        **extra,
    )
