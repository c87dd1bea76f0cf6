"""Keras 3 adapter: wxent losses as ``keras.losses.Loss``, and metrics that read logits.

The losses wrap the wxent functions (class name = function name in CamelCase) and take
the function's options as constructor arguments; they run on the TensorFlow, JAX and
PyTorch Keras backends (Keras passes backend tensors, which wxent accepts)::

    model.compile(
        optimizer="adam",
        loss=wxent.keras.SigmoidCrossEntropy(pos_weight=pos_weight),
        metrics=[wxent.keras.Recall(from_logits=True)],
    )

**Reduction and sample weights.** wxent computes the loss *and* its reduction, with
``sample_weight`` passed into the wxent function (the loss overrides
``Loss.__call__``): so the value is the wxent function's, ignored labels
(``ignore_label`` / ``ignore_index``) leave the denominator, and class weights live
inside the loss — which makes per-label weights work for multi-label, multi-output
and 3-D targets, where ``fit(class_weight=...)`` cannot. ``reduction`` takes the Keras
names, mapped onto wxent's:

=============================  ================================================
Keras ``reduction``            wxent ``reduction``
=============================  ================================================
``"sum_over_batch_size"``       ``"mean"`` (the default): ``sum(w*l) / n_valid``
``"mean"``                      ``"mean"``
``"sum"``                       ``"sum"``
``None`` / ``"none"``           ``"none"``: per element (sigmoid) or per sample
``"mean_with_sample_weight"``   ``"weighted_mean"``: ``sum(w*l) / sum(w)``
``"weighted_mean"``             ``"weighted_mean"``
=============================  ================================================

With the default the value equals the wxent function's default ``"mean"``. Keras'
``sample_weight`` follows Keras' broadcasting: a weight per sample ``(B,)`` (what
``fit(sample_weight=..., class_weight=...)`` passes) is broadcast over the remaining
axes of the sample shape (the logits' shape without ``class_axis``); a trailing axis
of size 1 is squeezed. A Keras mask on the predictions (sequence padding) multiplies
the sample weight, on every backend (Keras keeps the masks of JAX arrays in a table):
masked elements contribute 0 (they still count in the ``"mean"`` denominator; mark them
with ``ignore_index``/``ignore_label`` to drop them from it); the metrics leave them out.
Under a multi-replica ``tf.distribute`` strategy (Keras sums the replicas' losses and
gradients) each replica divides the numerator of its share of the batch by the
denominator of the whole batch, all-reduced: the means of one device.
For softmax-family losses, class indices given as floats (Keras data pipelines often
produce ``float32`` targets) or with a trailing axis of size 1 are taken as indices.

**Options** are checked at construction, by the wxent function itself (its errors, word
for word): a typo in ``reduction``, ``gamma=-1`` or a negative weight fails in
``compile``'s argument list, not in the first batch. Errors about the arrays of a batch
name them as Keras passes them: ``y_true``, ``y_pred`` (``labels`` and ``logits`` of the
wxent functions).

**Labels.** Sigmoid-family losses take labels of the logits' shape; ``Dense(1)`` logits
``(B, 1)`` with labels ``(B,)`` (the standard binary set-up) are aligned by adding the
axis. Softmax-family losses take class indices, also as floats (Keras data pipelines often
produce ``float32`` targets) or with a trailing axis of size 1, or probability rows (one-hot
rows also as integers or booleans, as ``pandas.get_dummies`` gives them). Float
indices must be whole numbers: ``0.5`` or ``1.7`` raise a ``ValueError`` when the values
can be read (eager calls, the PyTorch backend); inside a compiled train step
(``tf.function``, ``jax.jit``) they cannot be read and are truncated toward zero, as
Keras' own sparse losses do.

**Logits, not probabilities.** When the predictions come out of a ``sigmoid`` or
``softmax`` activation (Keras marks them: ``_keras_logits`` on TensorFlow and PyTorch
tensors, the op type of symbolic TensorFlow tensors), the loss warns once with a
:class:`LogitsWarning` (``wxent.LogitsWarning``): the model should output logits
(``Dense(C)`` without activation). JAX arrays carry no mark; in eager calls (any backend)
wxent's own value check catches predictions that look like probabilities, also once per
loss. Compiled train steps (``jax.jit``, ``tf.function``) are seen only through the marks:
on the JAX backend a softmax last layer goes unwarned in ``fit`` (whose gradient traces the
loss even with ``jit_compile=False``) and is caught by ``evaluate`` with
``jit_compile=False``.

**Metrics.** :class:`Recall`, :class:`Precision`, :class:`FBetaScore` threshold
sigmoid outputs (binary, multi-label); with ``from_logits=True`` (the default) the
``threshold`` is a logit (default ``0.0``, probability 0.5), or one per label.
Labels are 0/1; ``ignore_label`` (e.g. ``-1`` for unknown) leaves elements out.
:class:`ExpectedCost` reads softmax logits and a cost matrix ``costs[true, predicted]``
and averages the cost of the Bayes decisions (:func:`wxent.bayes_decision`). Each batch is
counted by :func:`wxent.confusion_matrix` into a Keras variable (``reset_state``,
``result``): the result is the wxent function's over every batch seen. The variables are
float32 by default (the metric's ``dtype``); each keeps a second variable (``*_error``)
with the rounding errors of its additions, so sums past ``2**24`` (weighted counts, or
more samples than that) still count every weight-1 sample, also in compiled steps.

Everything here is registered for ``keras.saving`` under the package ``"wxent"``: a
model saved with a wxent loss and metric loads back. Lookups by name go through the
registered name in a dict, ``keras.losses.get({"class_name": "wxent>SoftmaxCrossEntropy",
"config": {...}})`` (or ``keras.saving.get_registered_object("wxent>Recall")``): Keras
reads a plain string such as ``compile(loss="wxent>SoftmaxCrossEntropy")`` as one of its
own names only, so pass an instance there.

**Mixed precision.** Under ``keras.mixed_precision.set_dtype_policy("mixed_float16")``
(or ``"mixed_bfloat16"``) the model's logits are 16-bit; a loss with the default
``dtype=None`` computes in float32, as Keras' own losses do (their dtype defaults to
``keras.backend.floatx()``, not the global policy): the value is the float32 one of the
16-bit logits, and ``compile``'s ``LossScaleOptimizer`` scales it as Keras' losses. A loss
built with ``dtype="mixed_float16"`` computes and returns float16 (as Keras' losses of that
dtype; a ``"sum"`` above 65504 overflows). The value check sees 16-bit predictions as what
they were: probabilities of a 16-bit softmax, whose rows sum to 1 only within 16-bit
rounding, are caught also after the cast to float32. The metrics count, weigh and decide in
float32 whatever their ``dtype`` (float64 under a float64 policy): 16-bit counts would stop
at 2048 (bfloat16: 256).

**fit's own options.** ``fit(class_weight={...})`` reaches the loss as a per-sample
``sample_weight`` (Keras maps each sample's class), so it *multiplies* the loss's own
``class_weight``: give the weights in one place. For multi-label targets Keras takes the
argmax of each label row as its class: use ``pos_weight``/``neg_weight`` there. Keras passes
sample weights only to ``weighted_metrics=`` (not to ``metrics=``), the wxent metrics
included. ``keras.distribution.DataParallel`` (JAX) computes the loss and the metrics'
counts over the whole batch, as on one device (its batches must divide by the number of
devices, a Keras requirement).

**Options are attributes.** ``loss.label_smoothing = 0.05`` or ``metric.threshold = 1.2``
after construction is checked as in the constructor, used by the next call and saved by
``get_config`` (a train step already compiled keeps the values it was traced with until
``model.compile`` runs again); a metric's ``num_classes`` and the size of its ``costs``
cannot change. Another loss's option (``loss.weight``, ``loss.from_logits``), or another
metric's on a metric that lacks it (``ExpectedCost(costs).threshold``), is an
``AttributeError`` naming the option to use, and so is a new attribute whose name is close
to an option of the loss or metric (``metric.treshold = 1.2``: "did you mean
``threshold``?"); other new attributes are stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import keras
from keras import ops

import wxent
from wxent import _adapter_options as table
from wxent import _autograph, _warnings
from wxent import _namespace as ns
from wxent import _validation as v
from wxent._keras_metrics import (
    ExpectedCost,
    FBetaScore,
    Precision,
    Recall,
    broadcast_weight,
    check_indices,
    check_known_rank,
    host_config,
    keras_mask,
    plain_config,
)
from wxent._user_names import user_names
from wxent._value_checks import LogitsWarning, probability_hook, source_bits

__all__ = [
    "AsymmetricLoss",
    "ConfusionWeightedCrossEntropy",
    "CostSensitiveCrossEntropy",
    "ExpectedCost",
    "ExpectedCostLoss",
    "FBetaScore",
    "LogitAdjustedCrossEntropy",
    "LogitsWarning",
    "Precision",
    "Recall",
    "SigmoidCrossEntropy",
    "SigmoidFocalLoss",
    "SoftmaxCrossEntropy",
    "SoftmaxFocalLoss",
    "WxentLoss",
]

_REDUCTIONS = {
    "sum_over_batch_size": "mean",
    "mean": "mean",
    "sum": "sum",
    None: "none",
    "none": "none",
    "mean_with_sample_weight": "weighted_mean",
    "weighted_mean": "weighted_mean",
}
_MEANS = ("mean", "weighted_mean")  # divided by the replicas under tf.distribute
_AXIS = table.CLASS_AXIS["keras"]
_KERAS = "sum_over_batch_size"
_register = keras.saving.register_keras_serializable(package="wxent")
# Assigned to a loss that lacks them, these names are refused (never read otherwise).
_FOREIGN_OPTIONS = table.foreign_options()


def _replica_context() -> Any:
    """The ``tf.distribute`` replica context of a multi-replica step now running, or ``None``.

    Inside ``strategy.run`` (Keras' ``fit``, ``evaluate`` under a strategy's scope) each
    replica reduces its share of the batch, and Keras sums the replicas' losses and
    gradients. A mean there takes the denominator of the whole batch: the numerator of
    the replica's share over the sum of every replica's denominator
    (:meth:`WxentLoss.__call__`). Other backends, one replica, or no replica context:
    ``None``.
    """
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    if not tf.distribute.has_strategy():
        return None
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def _scale_for_replicas(loss: Any) -> Any:
    """A batch mean divided by the number of ``tf.distribute`` replicas, as Keras divides it.

    Called in a strategy's cross-replica context (a loss called directly, outside
    ``strategy.run``): Keras sums what the replicas return and multiplies the reported
    loss back, so a mean is divided here, as Keras' own losses divide theirs (a sum is
    not). Inside a replica :func:`_replica_context` gives the exact mean instead. Other
    backends and a single replica: the loss as it is.
    """
    if keras.backend.backend() != "tensorflow":
        return loss
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else ops.multiply(loss, ops.cast(1.0 / replicas, loss.dtype))


def _check_reduction(reduction: Any) -> None:
    """One of Keras' reduction names or wxent's (``_REDUCTIONS``)."""
    if not isinstance(reduction, (str, type(None))) or reduction not in _REDUCTIONS:
        expected = "one of " + ", ".join(repr(r) for r in _REDUCTIONS)
        raise v.value_error("reduction", expected, f"reduction={reduction!r}")


def _is_16_bit(x: Any) -> bool:
    """Whether ``x`` is a float16 or bfloat16 array (a mixed-precision model's output)."""
    dtype = getattr(x, "dtype", None)
    return dtype is not None and keras.backend.standardize_dtype(dtype) in ("float16", "bfloat16")


def _activation(y_pred: Any) -> str | None:
    """``"sigmoid"``/``"softmax"`` when Keras marks ``y_pred`` as an activation's output."""
    if hasattr(y_pred, "_keras_logits"):  # set by keras.activations.sigmoid/softmax
        return "sigmoid or softmax"
    op = getattr(y_pred, "op", None)  # a symbolic TensorFlow tensor: the op that made it
    kind = getattr(op, "type", None) if op is not None and not ns.is_concrete(y_pred) else None
    return kind.lower() if kind in ("Sigmoid", "Softmax") else None


class WxentLoss(keras.losses.Loss):
    """Base class: a ``keras.losses.Loss`` computing one wxent loss function.

    A subclass sets :attr:`function` and passes its constructor's arguments
    (``locals()``) on: the function's options, plus Keras' ``reduction``, ``name`` and
    ``dtype`` (see the module docstring for how ``reduction`` maps onto wxent's).
    """

    function: ClassVar[Callable[..., Any]]

    def __init__(self, arguments: dict[str, Any]) -> None:
        options = table.constructor_options(arguments)
        reduction, name, dtype = options.pop("reduction"), options.pop("name"), options.pop("dtype")
        _check_reduction(reduction)
        function = type(self).function
        super().__init__(
            name=name or function.__name__,
            reduction=_KERAS if reduction == "weighted_mean" else reduction,
            dtype=dtype,
        )
        self._wxent_reduction = _REDUCTIONS[reduction]
        self._reduction_arg = reduction
        self._dtype_arg = dtype
        table.check_options(function, {**options, "reduction": self._wxent_reduction})
        spec = table.LOSSES[function.__name__]
        self._options = {
            k: host_config(val) if k in spec.arrays else val for k, val in options.items()
        }
        self._sigmoid = spec.family == "sigmoid"
        self._warned = False

    # ------------------------------------------------------------------ options

    def __getattr__(self, name: str) -> Any:
        """The options read as attributes (``loss.label_smoothing``)."""
        options = self.__dict__.get("_options")
        if options is not None and name in options:
            return options[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        """Options assigned after construction are checked as in the constructor, then used.

        ``loss.label_smoothing = 0.05`` (a schedule in a callback, say) takes effect at the
        next call; a train step that Keras has already compiled keeps the values it was
        traced with until ``model.compile`` runs again. A name that is an option elsewhere
        but not here is an ``AttributeError``.
        """
        options = self.__dict__.get("_options")
        if options is None:
            super().__setattr__(name, value)
        elif name == "reduction":
            self._set_reduction(value)
        elif name in options:
            spec = table.LOSSES[type(self).function.__name__]
            changed = {**options, name: value, "reduction": self._wxent_reduction}
            table.check_options(type(self).function, changed)
            options[name] = host_config(value) if name in spec.arrays else value
        elif name in _FOREIGN_OPTIONS:
            raise table.foreign_error(
                f"wxent.keras.{type(self).__name__}",
                name,
                value,
                "sigmoid" if self._sigmoid else "softmax",
                (*options, "reduction"),
            )
        else:
            if name not in self.__dict__ and not hasattr(type(self), name):
                error = table.misspelt_error(
                    f"wxent.keras.{type(self).__name__}", name, value, (*options, "reduction")
                )
                if error is not None:
                    raise error
            super().__setattr__(name, value)

    def _set_reduction(self, reduction: Any) -> None:
        _check_reduction(reduction)
        object.__setattr__(self, "_wxent_reduction", _REDUCTIONS[reduction])
        object.__setattr__(self, "_reduction_arg", reduction)
        object.__setattr__(self, "reduction", _KERAS if reduction == "weighted_mean" else reduction)

    # ------------------------------------------------------------------ computation

    def _wxent(
        self,
        logits: Any,
        labels: Any,
        sample_weight: Any,
        reduction: str,
        y_pred: Any,
        terms: bool = False,
    ) -> Any:
        options = {**self._options, "reduction": reduction}
        checked = options["validate"] and ns.is_concrete(logits)  # value checks run
        token = probability_hook.set(self._found_probabilities) if checked else None
        # 16-bit predictions (a mixed-precision model) widened to the loss dtype: the
        # value check allows the row sums of 16-bit probabilities, as on the 16-bit values
        narrow = checked and _is_16_bit(y_pred) and not _is_16_bit(logits)
        bits = source_bits.set(16) if narrow else None
        try:  # the errors name the arrays as Keras users pass them, y_true and y_pred
            with user_names(logits="y_pred", labels="y_true"):
                if terms:  # the numerator and the denominator (a mean across replicas)
                    return wxent.loss_terms(
                        type(self).function, logits, labels, **options, sample_weight=sample_weight
                    )
                return type(self).function(logits, labels, **options, sample_weight=sample_weight)
        finally:
            if bits is not None:
                source_bits.reset(bits)
            if token is not None:  # the value checks warn once per loss
                probability_hook.reset(token)

    def _prepare(self, y_true: Any, y_pred: Any) -> tuple[Any, Any, int]:
        logits = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        labels = ops.convert_to_tensor(y_true)
        ndim = len(logits.shape)
        axis = self._options["class_axis"] % ndim if ndim else 0
        rank, size = len(labels.shape), logits.shape[axis] if ndim else None
        if self._sigmoid:  # Dense(1) logits (B, 1) with labels (B,), and the reverse
            if rank == ndim - 1 and size == 1:
                labels = ops.expand_dims(labels, axis)
            elif rank == ndim + 1 and labels.shape[-1] == 1:
                labels = ops.squeeze(labels, axis=-1)
            return logits, labels, axis
        if rank == ndim and labels.shape[axis] == 1 and size != 1:
            labels = ops.squeeze(labels, axis=axis)
        if len(labels.shape) == ndim - 1 and "float" in str(labels.dtype):
            if self._options["validate"]:
                check_indices(labels)
            labels = ops.cast(labels, "int32")
        elif len(labels.shape) == ndim and "float" not in str(labels.dtype):
            labels = ops.cast(labels, logits.dtype)  # one-hot rows as integers or booleans
        return logits, labels, axis

    def _sample_weight(self, sample_weight: Any, mask: Any, logits: Any, axis: int) -> Any:
        """Keras' sample weight times its mask, in a shape the wxent function takes.

        Each is a scalar, a weight per element of the sample shape (the logits' shape
        without ``class_axis``; Keras' per-sample ``(B,)`` is broadcast over it) or, for
        the sigmoid family, a weight per element of the logits; the sample-shaped ones
        gain the class axis when multiplied with the latter.
        """
        if sample_weight is None and mask is None:
            return None
        static, dynamic = tuple(logits.shape), ops.shape(logits)
        sample_shape = static[:axis] + static[axis + 1 :]
        sample_dynamic = tuple(dynamic[:axis]) + tuple(dynamic[axis + 1 :])
        also = f" or the shape of `y_pred` {v.shape_str(static)}" if self._sigmoid else ""
        weights, per_element = [], False
        for w in (sample_weight, mask):
            if w is None:
                continue
            w = ops.cast(ops.convert_to_tensor(w), logits.dtype)
            if self._sigmoid and len(w.shape) == len(static) and tuple(w.shape) == static:
                per_element = True
            elif len(w.shape):
                w = broadcast_weight(w, sample_shape, sample_dynamic, also)
            weights.append(w)
        if per_element:  # the sample-shaped weights: a class axis of size 1
            weights = [
                ops.expand_dims(w, axis)
                if len(w.shape) == len(sample_shape) and len(w.shape)
                else w
                for w in weights
            ]
        result = weights[0]
        for w in weights[1:]:
            result = result * w
        return result

    def _warn_probabilities(self, y_pred: Any) -> None:
        activation = None if self._warned else _activation(y_pred)
        if activation is not None:
            self._warn_once(f"the output of a {activation} activation")

    def _warn_once(self, what: str) -> None:
        if not self._warned:
            self._warned = True
            _warnings.warn(
                LogitsWarning(
                    f"`{type(self).__name__}` received {what}: probabilities, not logits. "
                    "wxent losses take logits: drop the activation of the last layer and "
                    "apply it when predicting."
                ),
                stacklevel=4,
            )

    def _found_probabilities(self, softmax: bool) -> None:
        """The wxent function's value check saw probabilities (eager calls)."""
        activation = "softmax" if softmax else "sigmoid"
        self._warn_once(f"predictions that look like the output of a {activation} activation")

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        """The loss of a batch, reduced by wxent (see the module docstring)."""
        check_known_rank(y_true=y_true, y_pred=y_pred, sample_weight=sample_weight)
        mask = keras_mask(y_pred)
        self._warn_probabilities(y_pred)
        with keras.name_scope(self.name):
            logits, labels, axis = self._prepare(y_true, y_pred)
            weights = self._sample_weight(sample_weight, mask, logits, axis)
            reduction = self._wxent_reduction
            context = _replica_context() if reduction in _MEANS else None
            if context is not None:
                # this replica's numerator over the whole batch's denominator: the sum
                # over replicas (Keras') is the loss of the batch on one device, also
                # where the replicas' shares count differently (ignored labels, class
                # and sample weights, a last batch split unevenly)
                import tensorflow as tf

                numerator, denominator = self._wxent(
                    logits, labels, weights, reduction, y_pred, terms=True
                )
                total = context.all_reduce("sum", tf.stop_gradient(denominator))
                # (16-bit logits: float32 terms, the loss in the logits' dtype as elsewhere)
                return ops.cast(wxent.safe_divide(numerator, total), logits.dtype)
            loss = self._wxent(logits, labels, weights, reduction, y_pred)
            return _scale_for_replicas(loss) if reduction in _MEANS else loss

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """Unreduced losses (``reduction="none"``), per Keras' ``Loss.call`` contract."""
        check_known_rank(y_true=y_true, y_pred=y_pred)
        logits, labels, _ = self._prepare(y_true, y_pred)
        return self._wxent(logits, labels, None, "none", y_pred)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-friendly (arrays as nested lists)."""
        config = super().get_config()
        config["reduction"] = self._reduction_arg
        policy = getattr(self, "_dtype_policy", None)  # the Keras versions that have one
        dtype = getattr(policy, "name", None) or keras.backend.standardize_dtype(self._dtype_arg)
        config["dtype"] = None if self._dtype_arg is None else dtype
        config.update({k: plain_config(val) for k, val in self._options.items()})
        return config


@_register
class SigmoidCrossEntropy(WxentLoss):
    """``keras.losses.Loss`` for :func:`wxent.sigmoid_cross_entropy` (binary, multi-label).

    The arguments are the function's options and Keras' ``reduction``, ``name``, ``dtype``.
    ``Dense(1)`` logits ``(B, 1)`` take labels ``(B,)`` (the standard binary set-up).
    """

    function = staticmethod(wxent.sigmoid_cross_entropy)

    def __init__(
        self,
        *,
        pos_weight: Any = None,
        neg_weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_label: float | None = None,
        class_axis: int = _AXIS,
        validate: bool = True,
        reduction: str | None = _KERAS,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(locals())


@_register
class SoftmaxCrossEntropy(WxentLoss):
    """``keras.losses.Loss`` for :func:`wxent.softmax_cross_entropy`.

    The arguments are the function's options and Keras' ``reduction``, ``name``, ``dtype``.
    Labels are class indices (integers, whole floats, or with a trailing axis of size 1)
    or probability rows (one-hot).
    """

    function = staticmethod(wxent.softmax_cross_entropy)

    def __init__(
        self,
        *,
        class_weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_index: int | None = None,
        class_axis: int = _AXIS,
        validate: bool = True,
        inplace_backward: bool = False,
        reduction: str | None = _KERAS,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(locals())


@_register
class SigmoidFocalLoss(WxentLoss):
    """``keras.losses.Loss`` for :func:`wxent.sigmoid_focal_loss`; arguments: its options."""

    function = staticmethod(wxent.sigmoid_focal_loss)

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        alpha: Any = None,
        pos_weight: Any = None,
        neg_weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_label: float | None = None,
        class_axis: int = _AXIS,
        validate: bool = True,
        reduction: str | None = _KERAS,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(locals())


@_register
class SoftmaxFocalLoss(WxentLoss):
    """``keras.losses.Loss`` for :func:`wxent.softmax_focal_loss`; arguments: its options."""

    function = staticmethod(wxent.softmax_focal_loss)

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        class_weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_index: int | None = None,
        class_axis: int = _AXIS,
        validate: bool = True,
        reduction: str | None = _KERAS,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(locals())


@_register
class AsymmetricLoss(WxentLoss):
    """``keras.losses.Loss`` for :func:`wxent.asymmetric_loss`; arguments: its options."""

    function = staticmethod(wxent.asymmetric_loss)

    def __init__(
        self,
        *,
        gamma_pos: float = 0.0,
        gamma_neg: float = 4.0,
        clip: float = 0.05,
        pos_weight: Any = None,
        neg_weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_label: float | None = None,
        class_axis: int = _AXIS,
        validate: bool = True,
        reduction: str | None = _KERAS,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(locals())


@_register
class LogitAdjustedCrossEntropy(WxentLoss):
    """``keras.losses.Loss`` for :func:`wxent.logit_adjusted_cross_entropy`."""

    function = staticmethod(wxent.logit_adjusted_cross_entropy)

    def __init__(
        self,
        class_prior: Any,
        *,
        tau: float = 1.0,
        class_weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_index: int | None = None,
        class_axis: int = _AXIS,
        validate: bool = True,
        reduction: str | None = _KERAS,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(locals())


@_register
class ExpectedCostLoss(WxentLoss):
    """``keras.losses.Loss`` for :func:`wxent.expected_cost_loss`, ``costs[true, predicted]``."""

    function = staticmethod(wxent.expected_cost_loss)

    def __init__(
        self,
        costs: Any,
        *,
        class_weight: Any = None,
        ignore_index: int | None = None,
        class_axis: int = _AXIS,
        validate: bool = True,
        reduction: str | None = _KERAS,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(locals())


@_register
class CostSensitiveCrossEntropy(WxentLoss):
    """``keras.losses.Loss`` for :func:`wxent.cost_sensitive_cross_entropy`."""

    function = staticmethod(wxent.cost_sensitive_cross_entropy)

    def __init__(
        self,
        costs: Any,
        *,
        cost_weight: float = 1.0,
        class_weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_index: int | None = None,
        class_axis: int = _AXIS,
        validate: bool = True,
        reduction: str | None = _KERAS,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(locals())


@_register
class ConfusionWeightedCrossEntropy(WxentLoss):
    """``keras.losses.Loss`` for :func:`wxent.confusion_weighted_cross_entropy`."""

    function = staticmethod(wxent.confusion_weighted_cross_entropy)

    def __init__(
        self,
        weights: Any,
        *,
        class_weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_index: int | None = None,
        class_axis: int = _AXIS,
        validate: bool = True,
        reduction: str | None = _KERAS,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(locals())


_autograph.leave_to_python()  # tf.function calls wxent as Python (see wxent._autograph)
