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
the sample weight: masked elements contribute 0 (they still count in the ``"mean"``
denominator; mark them with ``ignore_index``/``ignore_label`` to drop them from it).
For softmax-family losses, class indices given as floats (Keras data pipelines often
produce ``float32`` targets) or with a trailing axis of size 1 are taken as indices.

**Metrics.** :class:`Recall`, :class:`Precision`, :class:`FBetaScore` threshold
sigmoid outputs (binary, multi-label); with ``from_logits=True`` (the default) the
``threshold`` is a logit (default ``0.0``, probability 0.5). Labels outside
``[0, 1]`` (e.g. ``-1`` for unknown) are ignored. :class:`ExpectedCost` reads softmax
logits and a cost matrix ``costs[true, predicted]`` and averages the cost of the
Bayes decisions ``argmin_k sum_j p_j costs[j, k]``. All are stateful confusion counts
(``reset_state``, ``result``) written with ``keras.ops``.

Everything here is registered for ``keras.saving`` under the package ``"wxent"``: a
model saved with a wxent loss and metric loads back.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import keras
import numpy as np
from keras import ops

import wxent
from wxent import _validation as v

__all__ = ["ExpectedCost", "FBetaScore", "Precision", "Recall", "WxentLoss"]

_REDUCTIONS = {
    "sum_over_batch_size": "mean",
    "mean": "mean",
    "sum": "sum",
    None: "none",
    "none": "none",
    "mean_with_sample_weight": "weighted_mean",
    "weighted_mean": "weighted_mean",
}
_POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD
_register = keras.saving.register_keras_serializable(package="wxent")


def _host(name: str, value: Any) -> Any:
    """Configuration as plain data: numbers stay numbers, arrays become NumPy float64."""
    if value is None or isinstance(value, (str, bool, numbers.Number)):
        return value
    if isinstance(value, (list, tuple, np.ndarray)) or hasattr(value, "shape"):
        try:
            host = np.asarray(
                value
                if isinstance(value, (list, tuple, np.ndarray))
                else ops.convert_to_numpy(value),
                dtype=np.float64,
            )
        except (TypeError, ValueError):
            raise v.type_error(
                name, "numbers, a list or an array of numbers", f"{name}={v._short(value)}"
            ) from None
        v.check_finite_nonnegative(name, host)
        return host
    return value


def _plain(value: Any) -> Any:
    """JSON-friendly form of a configuration value (for ``get_config``)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class WxentLoss(keras.losses.Loss):
    """Base class: a ``keras.losses.Loss`` computing one wxent loss function.

    Subclasses set :attr:`function`. The function's options are the constructor's
    keyword arguments; its extra positional arguments (``costs``, ``class_prior``)
    are the constructor's positional arguments. ``reduction``, ``name`` and ``dtype``
    are Keras' (see the module docstring for how ``reduction`` maps onto wxent's).
    """

    function: ClassVar[Callable[..., Any]]

    def __init__(
        self,
        *args: Any,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype: Any = None,
        **options: Any,
    ) -> None:
        if not isinstance(reduction, (str, type(None))) or reduction not in _REDUCTIONS:
            expected = "one of " + ", ".join(repr(r) for r in _REDUCTIONS)
            raise v.value_error("reduction", expected, f"reduction={reduction!r}")
        keras_reduction = "sum_over_batch_size" if reduction == "weighted_mean" else reduction
        super().__init__(
            name=name or type(self).function.__name__, reduction=keras_reduction, dtype=dtype
        )
        self._wxent_reduction = _REDUCTIONS[reduction]
        self._reduction_arg = reduction
        signature = inspect.signature(type(self).function)
        names = list(signature.parameters)
        if "reduction" in options:  # pragma: no cover - caught by the keyword above
            raise TypeError("reduction")
        try:
            bound = signature.bind(None, None, *args, **options)
        except TypeError as error:
            raise TypeError(f"{type(self).__name__}: {error}") from None
        given = dict(bound.arguments)
        given.pop(names[0])
        given.pop(names[1])
        params = signature.parameters
        self._positional = tuple(
            n for n in names[2:] if params[n].kind is _POSITIONAL and n in given
        )
        self._options = {k: _host(k, val) for k, val in given.items()}
        self._softmax_family = "ignore_index" in params
        self._class_axis = -1
        if "class_axis" in params:
            axis = self._options.get("class_axis", params["class_axis"].default)
            if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
                raise v.type_error("class_axis", "an integer", f"class_axis={axis!r}")
            self._class_axis = int(axis)

    # ------------------------------------------------------------------ computation

    def _wxent(self, logits: Any, labels: Any, sample_weight: Any, reduction: str) -> Any:
        args = [self._options[n] for n in self._positional]
        kwargs = {k: val for k, val in self._options.items() if k not in self._positional}
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        return type(self).function(logits, labels, *args, reduction=reduction, **kwargs)

    def _prepare(self, y_true: Any, y_pred: Any) -> tuple[Any, Any, int]:
        logits = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        labels = ops.convert_to_tensor(y_true)
        ndim = len(logits.shape)
        axis = self._class_axis % ndim if ndim else 0
        if self._softmax_family:
            label_shape = tuple(labels.shape)
            if len(label_shape) == ndim and label_shape[axis] == 1 and logits.shape[axis] != 1:
                labels = ops.squeeze(labels, axis=axis)
            if len(labels.shape) == ndim - 1 and "float" in str(labels.dtype):
                labels = ops.cast(labels, "int32")
        return logits, labels, axis

    def _sample_weight(self, sample_weight: Any, mask: Any, logits: Any, axis: int) -> Any:
        if sample_weight is None and mask is None:
            return None
        shape = ops.shape(logits)
        sample_shape = tuple(shape[:axis]) + tuple(shape[axis + 1 :])
        rank = len(sample_shape)
        weights = []
        for w in (sample_weight, mask):
            if w is None:
                continue
            w = ops.convert_to_tensor(w)
            w = ops.cast(w, logits.dtype)
            if len(w.shape) == 0:
                weights.append(w)
                continue
            full = not self._softmax_family and tuple(w.shape) == tuple(logits.shape)
            if full:
                weights.append(w)
                continue
            while len(w.shape) > rank and w.shape[-1] == 1:
                w = ops.squeeze(w, axis=-1)
            while 0 < len(w.shape) < rank:
                w = ops.expand_dims(w, axis=-1)
            if len(w.shape) == rank:
                w = ops.broadcast_to(w, sample_shape)
            weights.append(w)
        if len(weights) == 2 and len(weights[0].shape) != len(weights[1].shape):
            weights = [
                ops.broadcast_to(w, sample_shape) if len(w.shape) == 0 else w for w in weights
            ]
        result = weights[0]
        for w in weights[1:]:
            result = result * w
        return result

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        """The loss of a batch, reduced by wxent (see the module docstring)."""
        mask = getattr(y_pred, "_keras_mask", None)
        with keras.name_scope(self.name):
            logits, labels, axis = self._prepare(y_true, y_pred)
            weights = self._sample_weight(sample_weight, mask, logits, axis)
            return self._wxent(logits, labels, weights, self._wxent_reduction)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """Unreduced losses (``reduction="none"``), per Keras' ``Loss.call`` contract."""
        logits, labels, _ = self._prepare(y_true, y_pred)
        return self._wxent(logits, labels, None, "none")

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-friendly (arrays as nested lists)."""
        config = super().get_config()
        config["reduction"] = self._reduction_arg
        config.update({k: _plain(val) for k, val in self._options.items()})
        return config


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


# One entry per loss: the function name in wxent; the class name is its CamelCase.
_LOSSES: tuple[str, ...] = (
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
    "sigmoid_focal_loss",
    "softmax_focal_loss",
    "asymmetric_loss",
    "logit_adjusted_cross_entropy",
    "expected_cost_loss",
    "cost_sensitive_cross_entropy",
    "confusion_weighted_cross_entropy",
)


def _build(function_name: str) -> type[WxentLoss]:
    name = _camel(function_name)
    doc = (
        f"``keras.losses.Loss`` for :func:`wxent.{function_name}`.\n\n"
        f"Constructor arguments are the options of :func:`wxent.{function_name}`, plus "
        "Keras' ``reduction``, ``name`` and ``dtype``. Logits in, never probabilities.\n"
    )
    namespace = {
        "function": staticmethod(getattr(wxent, function_name)),
        "__doc__": doc,
        "__module__": __name__,
        "__qualname__": name,
    }
    return _register(type(name, (WxentLoss,), namespace))


for _function_name in _LOSSES:
    globals()[_camel(_function_name)] = _build(_function_name)
    __all__.append(_camel(_function_name))

if TYPE_CHECKING:  # the classes built above, spelled out for type checkers and IDEs
    SigmoidCrossEntropy: type[WxentLoss]
    SoftmaxCrossEntropy: type[WxentLoss]
    SigmoidFocalLoss: type[WxentLoss]
    SoftmaxFocalLoss: type[WxentLoss]
    AsymmetricLoss: type[WxentLoss]
    LogitAdjustedCrossEntropy: type[WxentLoss]
    ExpectedCostLoss: type[WxentLoss]
    CostSensitiveCrossEntropy: type[WxentLoss]
    ConfusionWeightedCrossEntropy: type[WxentLoss]


# ----------------------------------------------------------------------------- metrics


def _check_from_logits(value: Any) -> bool:
    if not isinstance(value, bool):
        raise v.type_error("from_logits", "a bool", f"from_logits={value!r}")
    return value


def _broadcast_weight(sample_weight: Any, like: Any) -> Any:
    """A Keras-style sample weight (scalar, per sample ``(B,)``, ...) broadcast to ``like``."""
    w = ops.cast(ops.convert_to_tensor(sample_weight), like.dtype)
    while len(w.shape) > len(like.shape) and w.shape[-1] == 1:
        w = ops.squeeze(w, axis=-1)
    while 0 < len(w.shape) < len(like.shape):
        w = ops.expand_dims(w, axis=-1)
    return ops.broadcast_to(w, ops.shape(like))


class _ConfusionMetric(keras.metrics.Metric):
    """Stateful true-positive / false-positive / false-negative counts of sigmoid outputs."""

    _default_name = "confusion"
    from_logits: bool
    threshold: float
    average: str | None
    num_classes: int | None
    class_axis: int
    true_positives: Any
    false_positives: Any
    false_negatives: Any

    def __init__(
        self,
        threshold: float | None = None,
        *,
        from_logits: bool = True,
        average: str | None = "micro",
        num_classes: int | None = None,
        class_axis: int = -1,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name or self._default_name, dtype=dtype)
        self.from_logits = _check_from_logits(from_logits)
        if threshold is None:
            threshold = 0.0 if from_logits else 0.5
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
            raise v.type_error("threshold", "a number", f"threshold={threshold!r}")
        if not np.isfinite(float(threshold)):
            raise v.value_error("threshold", "a finite number", f"threshold={threshold!r}")
        self.threshold = float(threshold)
        if average not in ("micro", "macro", None):
            raise v.value_error("average", 'one of "micro", "macro", None', f"average={average!r}")
        self.average = average
        if num_classes is not None and (
            isinstance(num_classes, bool)
            or not isinstance(num_classes, numbers.Integral)
            or num_classes < 1
        ):
            raise v.value_error(
                "num_classes", "a positive integer or None", f"num_classes={num_classes!r}"
            )
        if average != "micro" and num_classes is None:
            raise v.value_error(
                "num_classes",
                f"the number of classes (labels) with average={average!r}",
                "num_classes=None",
            )
        self.num_classes = None if num_classes is None else int(num_classes)
        if isinstance(class_axis, bool) or not isinstance(class_axis, numbers.Integral):
            raise v.type_error("class_axis", "an integer", f"class_axis={class_axis!r}")
        self.class_axis = int(class_axis)
        shape = () if self.num_classes is None else (self.num_classes,)
        self.true_positives = self.add_variable(shape, "zeros", name="true_positives")
        self.false_positives = self.add_variable(shape, "zeros", name="false_positives")
        self.false_negatives = self.add_variable(shape, "zeros", name="false_negatives")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add the counts of a batch (labels outside ``[0, 1]`` are ignored)."""
        y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        y_true = ops.cast(ops.convert_to_tensor(y_true), self.dtype)
        if len(y_true.shape) == len(y_pred.shape) - 1:
            y_true = ops.expand_dims(y_true, axis=-1)
        valid = ops.cast(ops.logical_and(y_true >= 0, y_true <= 1), self.dtype)
        positive = ops.cast(y_true >= 0.5, self.dtype) * valid
        negative = valid - positive
        predicted = ops.cast(y_pred > self.threshold, self.dtype)
        if sample_weight is not None:
            w = _broadcast_weight(sample_weight, y_pred)
            positive, negative = positive * w, negative * w
        counts = (predicted * positive, predicted * negative, (1 - predicted) * positive)
        variables = (self.true_positives, self.false_positives, self.false_negatives)
        for variable, count in zip(variables, counts, strict=True):
            variable.assign_add(self._sum(count))

    def _sum(self, x: Any) -> Any:
        if self.num_classes is None:
            return ops.sum(x)
        x = ops.moveaxis(x, self.class_axis, -1)
        return ops.sum(ops.reshape(x, (-1, self.num_classes)), axis=0)

    def _score(self, tp: Any, fp: Any, fn: Any) -> Any:
        raise NotImplementedError

    def result(self) -> Any:
        """The score: micro (pooled counts), macro (mean over classes) or per class."""
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        if self.average == "micro":
            return self._score(ops.sum(tp), ops.sum(fp), ops.sum(fn))
        scores = self._score(
            ops.convert_to_tensor(tp), ops.convert_to_tensor(fp), ops.convert_to_tensor(fn)
        )
        return ops.mean(scores) if self.average == "macro" else scores

    def reset_state(self) -> None:
        """Zero the counts."""
        for variable in (self.true_positives, self.false_positives, self.false_negatives):
            variable.assign(ops.zeros(variable.shape, dtype=variable.dtype))

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments."""
        config = super().get_config()
        config.update(
            threshold=self.threshold,
            from_logits=self.from_logits,
            average=self.average,
            num_classes=self.num_classes,
            class_axis=self.class_axis,
        )
        return config


@_register
class Recall(_ConfusionMetric):
    """Recall ``tp / (tp + fn)`` of sigmoid outputs, thresholded in logit space.

    Args:
        threshold: predicted positive where ``y_pred > threshold``; a logit when
            ``from_logits=True`` (default ``0.0``), a probability otherwise (``0.5``).
        from_logits: whether ``y_pred`` holds logits (the default) or probabilities.
        average: ``"micro"`` (pool all labels, the default), ``"macro"`` (mean over
            labels) or ``None`` (one value per label); the last two need
            ``num_classes``.
        num_classes: the number of labels along ``class_axis`` (for per-label counts).
        class_axis: the label axis (``-1``).
        name: the metric's name (default: the class name in snake case).
        dtype: the dtype of the counts.

    Example:
        >>> import numpy as np, wxent.keras
        >>> m = wxent.keras.Recall()
        >>> m.update_state(np.array([[1.0, 0.0, 1.0]]), np.array([[2.0, 1.0, -0.5]]))
        >>> float(m.result())
        0.5
    """

    _default_name = "recall"

    def _score(self, tp: Any, fp: Any, fn: Any) -> Any:
        return ops.divide_no_nan(tp, tp + fn)


@_register
class Precision(_ConfusionMetric):
    """Precision ``tp / (tp + fp)`` of sigmoid outputs, thresholded in logit space.

    Takes the arguments of :class:`Recall`.

    Example:
        >>> import numpy as np, wxent.keras
        >>> m = wxent.keras.Precision()
        >>> m.update_state(np.array([[1.0, 0.0, 1.0]]), np.array([[2.0, 1.0, -0.5]]))
        >>> float(m.result())
        0.5
    """

    _default_name = "precision"

    def _score(self, tp: Any, fp: Any, fn: Any) -> Any:
        return ops.divide_no_nan(tp, tp + fp)


@_register
class FBetaScore(_ConfusionMetric):
    """F-beta score ``(1 + b^2) tp / ((1 + b^2) tp + b^2 fn + fp)`` of sigmoid outputs.

    Args:
        beta: the weight of recall relative to precision (``1.0``: F1).
        threshold: as for :class:`Recall`.
        **kwargs: the other arguments of :class:`Recall`.

    Example:
        >>> import numpy as np, wxent.keras
        >>> m = wxent.keras.FBetaScore(beta=1.0)
        >>> m.update_state(np.array([[1.0, 0.0, 1.0]]), np.array([[2.0, 1.0, -0.5]]))
        >>> float(m.result())
        0.5
    """

    _default_name = "fbeta_score"

    beta: float

    def __init__(self, beta: float = 1.0, threshold: float | None = None, **kwargs: Any) -> None:
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
            raise v.type_error("beta", "a positive number", f"beta={beta!r}")
        if not (np.isfinite(float(beta)) and beta > 0):
            raise v.value_error("beta", "a positive finite number", f"beta={beta!r}")
        self.beta = float(beta)
        super().__init__(threshold, **kwargs)

    def _score(self, tp: Any, fp: Any, fn: Any) -> Any:
        b2 = self.beta**2
        return ops.divide_no_nan((1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments."""
        config = super().get_config()
        config["beta"] = self.beta
        return config


@_register
class ExpectedCost(keras.metrics.Metric):
    """Mean cost of the Bayes decisions of softmax outputs under a cost matrix.

    The decision for a sample is ``argmin_k sum_j p_j * costs[j, k]`` with
    ``p = softmax(y_pred)`` (or ``y_pred`` itself when ``from_logits=False``); its cost
    is ``costs[true, decision]``. The result is the (sample-weighted) mean cost over
    every sample seen since the last ``reset_state``.

    Args:
        costs: ``(C, C)`` non-negative cost matrix, ``costs[true, predicted]``.
        from_logits: whether ``y_pred`` holds logits (the default) or probabilities.
        class_axis: the class axis of ``y_pred`` (``-1``).
        name: the metric's name (default: the class name in snake case).
        dtype: the dtype of the accumulators.

    Labels are integer class indices (a trailing axis of size 1 is squeezed) or
    one-hot / probability rows (their argmax is the true class).

    Example:
        >>> import numpy as np, wxent.keras
        >>> m = wxent.keras.ExpectedCost([[0.0, 1.0], [5.0, 0.0]])
        >>> m.update_state(np.array([1, 0]), np.array([[0.5, 0.0], [2.0, 0.0]]))
        >>> float(m.result())  # sample 0: p1 = 0.38, 5 * 0.38 > 0.62: predicts 1, cost 0
        0.0
    """

    costs: np.ndarray
    from_logits: bool
    class_axis: int
    total_cost: Any
    count: Any

    def __init__(
        self,
        costs: Any,
        *,
        from_logits: bool = True,
        class_axis: int = -1,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name or "expected_cost", dtype=dtype)
        host = _host("costs", costs)
        if not isinstance(host, np.ndarray) or host.ndim != 2 or host.shape[0] != host.shape[1]:
            shape = np.shape(host)
            raise v.value_error(
                "costs", "a square (C, C) cost matrix", f"costs of shape {v.shape_str(shape)}"
            )
        self.costs = host
        self.from_logits = _check_from_logits(from_logits)
        if isinstance(class_axis, bool) or not isinstance(class_axis, numbers.Integral):
            raise v.type_error("class_axis", "an integer", f"class_axis={class_axis!r}")
        self.class_axis = int(class_axis)
        self.total_cost = self.add_variable((), "zeros", name="total_cost")
        self.count = self.add_variable((), "zeros", name="count")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add the costs of a batch's Bayes decisions."""
        num_classes = self.costs.shape[0]
        y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        if y_pred.shape[self.class_axis] != num_classes:
            raise v.value_error(
                "y_pred",
                f"{num_classes} classes along class_axis={self.class_axis} (the size of `costs`)",
                f"y_pred of shape {v.shape_str(tuple(y_pred.shape))}",
            )
        p = ops.softmax(y_pred, axis=self.class_axis) if self.from_logits else y_pred
        p = ops.moveaxis(p, self.class_axis, -1)
        costs = ops.convert_to_tensor(self.costs, dtype=self.dtype)
        decision = ops.argmin(ops.matmul(p, costs), axis=-1)
        y_true = ops.convert_to_tensor(y_true)
        if len(y_true.shape) == len(y_pred.shape):
            if y_true.shape[self.class_axis] == 1 and num_classes != 1:
                y_true = ops.squeeze(y_true, axis=self.class_axis)
            else:
                y_true = ops.argmax(y_true, axis=self.class_axis)
        index = ops.cast(y_true, "int32") * num_classes + ops.cast(decision, "int32")
        cost = ops.take(ops.reshape(costs, (-1,)), index)
        w = ops.ones_like(cost) if sample_weight is None else _broadcast_weight(sample_weight, cost)
        self.total_cost.assign_add(ops.sum(w * cost))
        self.count.assign_add(ops.sum(w))

    def result(self) -> Any:
        """The mean cost (0 before any sample)."""
        return ops.divide_no_nan(self.total_cost, self.count)

    def reset_state(self) -> None:
        """Zero the accumulators."""
        self.total_cost.assign(0.0)
        self.count.assign(0.0)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (``costs`` as nested lists)."""
        config = super().get_config()
        config.update(
            costs=self.costs.tolist(), from_logits=self.from_logits, class_axis=self.class_axis
        )
        return config
