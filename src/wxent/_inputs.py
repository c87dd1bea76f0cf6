"""Prepared inputs: the caller's logits and labels, cast for the core only when read.

:class:`Inputs` keeps the caller's logits (``raw_logits``) and their compute dtype
(float32 for float16/bfloat16). The cast copy is made on the first read of
``inp.logits`` — by the generic formulas — and never by the fused kernels, which read
the caller's logits in their own dtype: at 8192 x 131072 bfloat16 logits that copy is
4 GiB and a pass over memory. Shape, rank and dtype questions (``inp.shape``,
``inp.ndim``, ``inp.dtype``) never cast. Sigmoid-family labels (with ignored entries set
to 0) and softmax probability labels are likewise cast to the compute dtype on their first
read; the fused kernels read them as given.

:func:`weigh` forms the weighted losses (a zero weight counts nothing, also against an
infinite loss); :func:`quietly` runs generic formulas without NumPy's warnings. Both are
re-exported by :mod:`wxent._prepare`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from wxent import _namespace as ns
from wxent import _validation as v
from wxent._core.numerics import scale
from wxent._types import Array


def compute_dtype(xp: Any, dtype: Any) -> Any:
    """The dtype the generic formulas compute in: float32 for 16-bit floats."""
    name = ns.float_dtype_name(xp, dtype)
    if name in ("float32", "float64"):
        return dtype
    return xp.float32


def cast(xp: Any, x: Array, dtype: Any) -> Array:
    """``x`` in ``dtype`` (``x`` itself when it has it).

    A value beyond ``dtype``'s range becomes ``inf`` (a float32 loss of ``1.3e5`` returned
    for float16 logits), as every framework's cast makes it: on NumPy without the
    ``RuntimeWarning`` NumPy alone would add (an error where warnings are errors).
    """
    if x.dtype == dtype:
        return x
    if isinstance(x, (np.ndarray, np.generic)):
        with np.errstate(over="ignore"):
            return xp.astype(x, dtype)
    return xp.astype(x, dtype)


@dataclass
class Inputs:
    """Logits and labels ready for the core.

    Attributes:
        xp: the array namespace of ``logits``.
        raw_logits: the caller's logits, in their own dtype.
        out_dtype: the dtype of the result (the logits' own dtype).
        axis: the class axis, non-negative.
        num_classes: ``C`` (``None`` if unknown while tracing).
        validate: whether value checks on arrays run (``validate=True`` and concrete).
        raw_labels: the labels before the cast of :attr:`labels` (see ``label_dtype``).
        given_valid: the boolean mask of valid elements in the loss shape given at
            construction, or ``None``; read it as :attr:`valid` (subclasses make it
            lazily there).
        indices: softmax family only — whether labels are class indices.
        loss_shape: the static shape of the per-element loss.
        check_config: whether host configuration (numbers, lists, NumPy) is checked
            (``validate=True``, also under ``jit``).
        concrete: whether values can be read now (eager, not traced).
        checks: the pending value checks (device-side flags).
        inexact: set by a fast path whose result may be NaN at infinite logits; ``finish``
            then reads the result's NaN flag and recomputes on the exact path.
        softmax: softmax family (a row of only ``-inf`` logits is an error).
        logits_name: the argument named when the scores hold a NaN.
        compute_dtype: the dtype of :attr:`logits` (``None``: the raw logits' dtype).
        label_dtype: when set, :attr:`labels` are ``raw_labels`` cast to it with the
            entries outside ``valid`` set to 0 (sigmoid family; softmax probability
            labels); else ``raw_labels``.
        inexact_flag: whether the raw losses of an inexact fast path hold a NaN
            (:meth:`watch`), or ``None``.
        excluded_flag: whether values where nothing may count hold a NaN
            (:meth:`watch_excluded`), or ``None``.
        launches: device work to queue after the check flag and before the host waits
            for it (a fused kernel's gradient pass), so the device computes while the
            host reads the flag and returns; run once, by the one read of the call.
        suspect: 0-d flag: the logits look like probabilities (``probability_flag``), or
            a callable computing it when the call's flags are read.
        word: a fused kernel's flag word (1-element int32 tensor, bit 0 error, bit 1
            probability warning) that folds the call's flags on the device, or ``None``;
            read with what is left of the flags as the call's one read.
        out_of_range: traced or unchecked (``validate=False``) calls, where nothing
            raises: where a class index lies outside ``[0, C)``; ``finish`` makes those
            losses NaN (never a wrapped negative index, a framework's gather error, or a
            silently gathered class 0).
        unit_neg: the sigmoid family's ``r`` is the implicit 1 of a ``"weighted_mean"``
            given only ``pos_weight``, scaled with ``q`` by one power of two (every entry
            the same power of two), so ``q / r`` is the caller's ``pos_weight`` exactly.
        overflows: an inexact fast path may overflow to ``inf`` where the exact value is
            finite (PyTorch's native sigmoid CE with ``pos_weight`` forms
            ``(1 + (q - 1) t) * softplus(-x)`` whole): ``finish`` recomputes a non-finite
            result, not only a NaN one, exactly.
        kept: traced calls: where the elements count, as :func:`shield` recorded it (of
            the loss shape, or a scalar), applied to :attr:`logits` on their first read;
            a fast path that masks its own rows reads it with :meth:`unshielded`.
        weighed: :attr:`kept` holds weights of 0: elements of weight 0 that are not
            ignored keep their logits but NaN ones, and softmax rows of only ``-inf``
            (their loss is their weight's gradient).
    """

    xp: Any
    raw_logits: Array
    out_dtype: Any
    axis: int
    num_classes: int | None
    validate: bool
    raw_labels: Array
    given_valid: Array | None
    indices: bool
    loss_shape: tuple[int | None, ...]
    check_config: bool = True
    concrete: bool = False
    checks: v.PendingChecks | None = None
    inexact: bool = False
    softmax: bool = False
    logits_name: str = "logits"
    compute_dtype: Any = None
    label_dtype: Any = None
    inexact_flag: Array | None = None
    excluded_flag: Array | None = None
    launches: list[Callable[[], None]] = field(default_factory=list)
    suspect: Any = None
    word: Array | None = None
    out_of_range: Array | None = None
    kept: Array | None = None
    weighed: bool = False
    unit_neg: bool = False
    overflows: bool = False
    #: Where the classes are, for messages (``None``: along ``class_axis``).
    classes_are: ClassVar[str | None] = None
    #: The argument whose framework and device configuration arrays follow (messages).
    scores_are: ClassVar[str] = "logits"
    _logits: Array | None = field(default=None, init=False, repr=False, compare=False)
    _labels: Array | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.compute_dtype is None:
            self.compute_dtype = self.raw_logits.dtype

    # ``valid`` is a property over the field ``given_valid``, never a field itself: a
    # subclass's property that shadows a dataclass field is not called by torch 2.11's
    # compiler (it read the field's None: ignored labels counted under torch.compile).
    @property
    def valid(self) -> Array | None:
        """The boolean mask of valid elements in the loss shape (``None``: all)."""
        return self.given_valid

    @valid.setter
    def valid(self, value: Array | None) -> None:
        self.given_valid = value

    @property
    def logits(self) -> Array:
        """The logits in the compute dtype (cast on the first read, then kept).

        Where :func:`shield` recorded the elements that count (:attr:`kept`), the others
        are 0 here.
        """
        x = self.unshielded()
        if self.kept is not None:
            xp, keep, self.kept = self.xp, self.kept, None
            rows = 0 < len(keep.shape) < self.ndim  # one flag per row (softmax family)
            if rows:
                keep = xp.expand_dims(keep, axis=self.axis)
            if self.weighed:  # weight 0, not ignored: only the NaN logits are 0
                # An infinite logit keeps its value: the loss takes its limit there (0 or
                # inf, or a finite loss of a row masked by -inf), which is the weight's
                # gradient where finite; the formulas' gradient is finite at +-inf. A row
                # of only -inf has no softmax: it is 0 whole.
                usable = xp.logical_not(xp.isnan(x))
                if rows:
                    some = xp.any(x > -math.inf, axis=self.axis, keepdims=True)
                    usable = xp.logical_and(usable, some)
                valid = self.valid
                if valid is not None:
                    if 0 < len(valid.shape) < self.ndim:
                        valid = xp.expand_dims(valid, axis=self.axis)
                    usable = xp.logical_and(usable, valid)
                keep = xp.logical_or(keep, usable)
            x = self._logits = xp.where(keep, x, 0.0)
        return x

    def unshielded(self) -> Array:
        """The logits in the compute dtype, without :func:`shield`'s zeros.

        For a fast path that masks the rows of :attr:`kept` itself, inside its own
        reductions (a ``where`` over the logits ahead of them is a full pass).
        """
        if self._logits is None:
            self._logits = cast(self.xp, self.raw_logits, self.compute_dtype)
        return self._logits

    @property
    def labels(self) -> Array:
        """The labels for the core (prepared on the first read).

        For the sigmoid family the float labels with ignored entries set to 0; for the
        softmax family the integer indices with ignored entries set to 0
        (``indices=True``) or the float probabilities.
        """
        if self._labels is None:
            labels = self.raw_labels
            if labels is not None and self.label_dtype is not None:
                labels = cast(self.xp, labels, self.label_dtype)
                if self.valid is not None:
                    labels = self.xp.where(self.valid, labels, 0)
            self._labels = labels
        return self._labels

    @labels.setter
    def labels(self, value: Array) -> None:
        self.raw_labels, self.label_dtype, self._labels = value, None, value

    @property
    def dtype(self) -> Any:
        """The compute dtype."""
        return self.compute_dtype

    @property
    def shape(self) -> tuple[Any, ...]:
        """The static shape of the logits (``None`` for unknown dimensions); never casts."""
        return v.static_shape(self.raw_logits)

    @property
    def ndim(self) -> int:
        """The rank of the logits; never casts."""
        return len(self.raw_logits.shape)

    def add_check(
        self,
        flag: Any,
        diagnose: Callable[[], None],
        key: str | None = None,
        bounds: tuple[Any, bool, bool] | None = None,
    ) -> None:
        """Record a pending value check (see :class:`~wxent._validation.PendingChecks`)."""
        if self.checks is None:
            self.checks = v.PendingChecks()
        self.checks.add(flag, diagnose, key, bounds)

    def watch(self, losses: Array) -> None:
        """Record whether the unweighted losses of an inexact fast path hold a NaN.

        ``finish`` reads the flag with the call's others: a NaN that a zero weight or a
        mask hides from the result still sends the call to the exact path, whose
        gradient there is 0 where the fast path's would be NaN.
        """
        xp = self.xp
        torch = ns.torch_of(xp)
        if torch is not None:  # the losses are >= 0: only a NaN makes a NaN
            flag = torch.isnan(torch.sum(losses))
            if self.inexact_flag is not None:
                flag = torch.logical_or(self.inexact_flag, flag)
        else:
            flag = xp.isnan(xp.sum(losses))
            if self.inexact_flag is not None:
                flag = xp.logical_or(self.inexact_flag, flag)
        self.inexact_flag = flag

    def watch_excluded(self, values: Array) -> None:
        """Record whether ``values`` (exact losses, or logits) hold a NaN.

        A NaN there with a finite result lies where nothing counts (ignored, or of
        weight 0): ``finish`` then zeroes those logits (:meth:`exclude`) and recomputes,
        so that their gradient is 0 too, not 0 * NaN.
        """
        xp = self.xp
        flag = xp.isnan(xp.sum(values))
        if self.excluded_flag is not None:
            flag = xp.logical_or(self.excluded_flag, flag)
        self.excluded_flag = flag

    def watching(self) -> bool:
        """Whether NaN where nothing counts is watched.

        It is where the call reads anyway (on the host, or checked) and may be
        differentiated (see :meth:`differentiable`).
        """
        return self.may_fall_back() and self.differentiable()

    def exclude(self) -> None:
        """Zero the NaN logits (softmax: rows with a NaN, or of only ``-inf``).

        Called by ``finish`` only when the result is not NaN: those elements do not
        count (ignored, or of weight 0), and with finite logits their gradient, 0 times
        a finite number, is 0 instead of NaN; their loss stays 0.
        """
        xp, x = self.xp, self.logits
        bad = xp.isnan(x)
        if self.softmax:
            rows = xp.logical_or(
                xp.any(bad, axis=self.axis, keepdims=True),
                xp.all(x == -float("inf"), axis=self.axis, keepdims=True),
            )
            bad = rows
        self._logits = xp.where(bad, 0.0, x)

    def differentiable(self) -> bool:
        """Whether the call may be differentiated while its values can be read.

        PyTorch logits that require a gradient, and eager TensorFlow (a tape may watch
        them); NumPy has no gradient, and JAX differentiates tracers only.
        """
        if ns.is_torch(self.raw_logits):
            return bool(self.raw_logits.requires_grad)
        return ns.is_tf_namespace(self.xp)

    def may_fall_back(self) -> bool:
        """Whether a fast path that is inexact at infinite logits may run.

        It may where ``finish`` can read the result's NaN flag without an extra device
        sync: when the checks are read anyway (``validate``), or on the host.
        """
        return self.concrete and (self.validate or ns.on_host(self.raw_logits))


def shield(inp: Inputs, weights: Array | None) -> None:
    """Traced calls: zero the logits of the elements that do not count, before the losses.

    An ignored element, or one of weight 0, has loss 0 and gradient 0 also where its
    logits are NaN (or, softmax, all ``-inf``): their gradient would be 0 times NaN. An
    eager call finds such elements with its one read and recomputes (``finish``); a
    traced one (``jax.jit`` and ``jax.grad``, ``tf.function``, ``torch.compile``,
    ``torch.func``) cannot read: it records where the elements count (:attr:`Inputs.kept`),
    and the first read of ``inp.logits`` zeroes the others (a ``where``); the JAX fast
    path masks those rows inside its own reductions instead. Elements of weight 0 that
    are not ignored keep their logits but NaN ones (and softmax rows of only ``-inf``),
    also infinite ones, whose limits the losses take: their loss is the gradient with
    respect to their weight, which reweighting methods differentiate.
    ``weights`` are the per-element weights of the loss shape (or a scalar).
    """
    if inp.concrete or ns.is_numpy_namespace(inp.xp):
        return
    xp, keep = inp.xp, counted(inp, weights)
    if keep is None:
        return
    inp.kept = keep if inp.kept is None else xp.logical_and(inp.kept, keep)
    inp.weighed = inp.weighed or weights is not None


def zero_rows(inp: Inputs, weights: Array | None, x: Array) -> Array:
    """``x`` ``(N, D)`` with the rows that do not count (ignored, weight 0) set to 0.

    The projection losses' inputs: a NaN in such a row then gives neither a NaN logit
    (an error, or 0 * NaN in the gradient of every weight) nor a NaN gradient; the
    ``where`` costs a pass over ``(N, D)``, nothing beside the ``(N, D) x (D, V)`` matmul.
    Rows of weight 0 that are not ignored keep their inputs where all are finite: their
    loss is the gradient with respect to their weight.
    """
    keep = counted(inp, weights)
    if keep is None:
        return x
    xp = inp.xp
    if weights is not None:  # rows of weight 0, not ignored, keep their finite inputs
        finite = xp.all(xp.isfinite(x), axis=-1)
        if inp.valid is not None:
            finite = xp.logical_and(finite, inp.valid)
        keep = xp.logical_or(keep, finite)
    if len(keep.shape):
        keep = xp.expand_dims(keep, axis=-1)
    return xp.where(keep, x, 0.0)


def counted(inp: Inputs, weights: Array | None) -> Array | None:
    """Where elements count (not ignored, weight not 0), or ``None`` when all do."""
    keep = inp.valid
    if weights is not None:
        counted = weights != 0
        keep = counted if keep is None else inp.xp.logical_and(keep, counted)
    return keep


def quietly(inp: Inputs, compute: Callable[[], Array]) -> Array:
    """``compute()``, without NumPy's floating-point warnings on NumPy-backed arrays.

    The NaN or infinity they would announce is what the call's checks read (a row of
    only ``-inf`` logits is an error raised by :func:`wxent._prepare.finish`); a warning
    would only precede that error, or turn into another one where warnings are errors.
    """
    xp = inp.xp
    if ns.is_torch_namespace(xp) or ns.is_jax_namespace(xp) or ns.is_tf_namespace(xp):
        return compute()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return compute()


def weigh(inp: Inputs, weights: Array | None, losses: Array) -> Array:
    """The weighted losses ``w * l``: exactly 0 (gradient 0) wherever ``w`` is 0.

    A zero weight means the element does not count, also where its loss is infinite
    (``0 * inf`` would be NaN); an infinite loss with a positive weight stays infinite.
    After an inexact fast path (``inp.inexact``) the plain product is kept: a NaN in it
    (``0 * inf``, or the fast path's own at infinite logits) sends the call to the exact
    path in :func:`wxent._prepare.finish`, also where a mask would hide it
    (:meth:`Inputs.watch`), so the finite case costs nothing more.
    """
    xp = inp.xp
    if inp.inexact:
        values = losses if weights is None else quietly(inp, lambda: weights * losses)
        if inp.valid is not None:
            inp.watch(values)
        return values
    watch = (weights is not None or inp.valid is not None) and inp.watching()
    if weights is not None and ns.is_tf_namespace(xp):
        weighed = _weigh_tf(inp, weights, losses, watch)
        if weighed is not None:
            return weighed
    if watch:
        inp.watch_excluded(losses)  # NaN logits where nothing counts: see Inputs.exclude
    if weights is None:
        return losses
    # w * where(w == 0 and l not finite, 0, l): no 0 * inf in the value, nor in either
    # gradient; a finite loss of weight 0 is the gradient of its weight (reweighting
    # methods differentiate with respect to weights that start at 0).
    torch = ns.torch_of(xp)
    if torch is not None:
        # (nan_to_num: one pass for the masked branch, its gradient 1 where finite)
        finite = torch.nan_to_num(losses, nan=0.0, posinf=0.0, neginf=0.0)
        return weights * torch.where(weights == 0, finite, losses)
    hidden = xp.logical_and(weights == 0, xp.logical_not(xp.isfinite(losses)))
    # (quietly: a weight times a loss beyond the float's range is inf, as it should be;
    # TensorFlow: scale, whose forward-mode tangent is finite at an infinite loss)
    return quietly(inp, lambda: scale(xp.where(hidden, 0.0, losses), weights, xp=xp))


def _weigh_rule(watch: bool, losses: Array, weights: Array) -> Any:
    """:func:`weigh`'s product (and :meth:`Inputs.watch_excluded`'s flag) of TensorFlow."""
    from wxent import _tf_namespace as xp

    hidden = xp.logical_and(weights == 0, xp.logical_not(xp.isfinite(losses)))
    values = scale(xp.where(hidden, 0.0, losses), weights, xp=xp)
    return (values, xp.isnan(xp.sum(losses))) if watch else values


def _weigh_tf(inp: Inputs, weights: Array, losses: Array, watch: bool) -> Array | None:
    """:func:`weigh` of eager TensorFlow tensors that no tape records, as one graph call.

    The same operations (the watched NaN flag included) as one traced function
    (:func:`wxent._tf_checks.concrete`): eagerly they were seven dispatches. ``None``
    where they run one by one (traced, recorded, or past the traced functions' bound).
    """
    from tensorflow.python.eager import record

    from wxent import _tf_checks

    if not inp.concrete or record.could_possibly_record():
        return None
    function = _tf_checks.concrete("weigh", bool(watch), _weigh_rule, (losses, weights))
    if function is None:
        return None
    if not watch:
        return function(losses, weights)
    values, flag = function(losses, weights)
    if inp.excluded_flag is not None:
        flag = inp.xp.logical_or(inp.excluded_flag, flag)
    inp.excluded_flag = flag
    return values


@dataclass
class IndexInputs(Inputs):
    """Softmax inputs with integer labels, the gather indices made on the first read.

    ``raw_labels`` are the caller's labels and ``ignore_index`` the label they ignore
    (``None`` also when no label of their dtype can equal it). :attr:`labels` (indices
    with ignored entries 0, clamped into ``[0, C)`` while checking), :attr:`valid` and
    :attr:`indices_unclamped` come from ``make_indices()`` (which computes them once)
    on the first read of any of them: the generic path reads them; a fused kernel that
    reads ``raw_labels`` and ``ignore_index`` itself never makes them (no label
    preparation on the device).
    """

    ignore_index: int | None = None
    make_indices: Callable[[], tuple[Array, Array | None]] | None = None

    @property
    def valid(self) -> Array | None:
        """The mask of the labels not ignored (``None``: all), made on the first read."""
        return None if self.ignore_index is None else self._indices()[1]

    @valid.setter
    def valid(self, value: Array | None) -> None:
        pass  # the mask is made from the labels

    def _indices(self) -> tuple[Array, Array | None]:
        assert self.make_indices is not None
        return self.make_indices()

    @property
    def indices_unclamped(self) -> Array:
        """The indices with ignored entries 0, before the clamp (what the check reads)."""
        return self._indices()[0]

    @property
    def labels(self) -> Array:
        """The indices to gather with: ignored entries 0, clamped into ``[0, C)`` if checked."""
        if self._labels is None:
            idx = self._indices()[0]
            c = self.num_classes
            if self.validate and c is not None:  # memory-safe gathers until the check raises
                torch = ns.torch_of(self.xp)
                clip = self.xp.clip if torch is None else torch.clamp
                n = v.size(c)  # (a symbolic torch dimension stays symbolic: no max())
                idx = clip(idx, 0, max(n - 1, 0) if isinstance(n, int) else n - 1)
            elif c is not None:  # traced or validate=False: a NaN loss (``finish``)
                xp = self.xp
                self.out_of_range = xp.logical_or(idx < 0, idx >= v.size(c))
                idx = xp.where(self.out_of_range, 0, idx)
            self._labels = idx
        return self._labels

    @labels.setter
    def labels(self, value: Array) -> None:
        self._labels = value

    def take(self, vector: Array) -> Array | None:
        """``vector[labels]`` of a per-class vector ``(C,)`` where PyTorch gathers directly.

        The labels then lie in ``[0, C)`` already (clamped while checking, or, traced or
        unchecked, zeroed where out of range): ``index_select`` needs none of the wrapping of
        negative indices that array-api-compat's ``take`` adds. ``None`` elsewhere.
        """
        torch = ns.torch_of(self.xp)
        if torch is None or self.num_classes is None:
            return None
        idx = self.labels
        if idx.ndim == 1:
            return torch.index_select(vector, 0, idx)
        return torch.index_select(vector, 0, idx.reshape(-1)).reshape(idx.shape)


@dataclass
class MaskedInputs(Inputs):
    """Inputs whose mask of valid elements is made on its first read (``make_valid()``).

    Sigmoid-family labels with an ``ignore_label``: the generic path reads :attr:`valid`;
    a fused kernel that compares the labels with the ignored value itself never makes
    it (no pass over the labels, no mask of the logits' size).
    """

    make_valid: Callable[[], Array] | None = None

    @property
    def valid(self) -> Array | None:
        """The mask of the elements not ignored (``None``: all), made on the first read."""
        if self.make_valid is None:
            return self.given_valid
        return self.make_valid()

    @valid.setter
    def valid(self, value: Array | None) -> None:
        self.given_valid, self.make_valid = value, None


def once(make: Callable[[], Any]) -> Callable[[], Any]:
    """``make`` as a callable that computes its value on the first call and keeps it."""
    made: list[Any] = []

    def get() -> Any:
        if not made:
            made.append(make())
        return made[0]

    return get
