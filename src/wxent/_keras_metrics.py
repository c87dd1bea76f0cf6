"""Keras metrics of :mod:`wxent.keras` that read logits (see its docstring).

The options are checked at construction by the wxent metric functions themselves (the
same probe as the losses', :func:`wxent._adapter_options.probe`). Each batch is counted
by :func:`wxent.confusion_matrix` (in the backend's framework, also while compiled) and
added to a Keras variable; :func:`wxent.metrics.scores_from_confusion` scores the sum. So
the metrics stream over batches, run inside ``fit`` on every backend, and give what the
wxent functions give for all the batches together.
"""

from __future__ import annotations

import functools
import numbers
import sys
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

import keras
import numpy as np
from keras import ops

import wxent
from wxent import _adapter_options as table
from wxent import _namespace as ns
from wxent import _validation as v
from wxent._core.numerics import fold_error, two_sum
from wxent._user_names import user_names

_register = keras.saving.register_keras_serializable(package="wxent")

try:  # Keras >= 3.6 keeps the masks of arrays that take no attributes (JAX) in a table
    from keras.src.backend import get_keras_mask as _get_keras_mask
except ImportError:  # pragma: no cover - older Keras 3: the attribute only

    def _get_keras_mask(x: Any) -> Any:
        return getattr(x, "_keras_mask", None)


def keras_mask(y_pred: Any) -> Any:
    """The Keras mask of ``y_pred`` (sequence padding), or None: on every backend.

    Keras sets it as the attribute ``_keras_mask`` where the tensor takes one (TensorFlow,
    PyTorch) and in a table keyed by the array otherwise (JAX); reading the attribute
    alone missed the masks of the JAX backend.
    """
    return _get_keras_mask(y_pred)


def check_indices(labels: Any) -> None:
    """Float class indices must be whole numbers: checked when the values can be read.

    One scalar is read on the host; the values only to word the error. Inside compiled
    graphs (``tf.function``, ``jax.jit``) nothing can be read and nothing is checked.

    Raises:
        ValueError: for a float index that is not a whole number (or NaN).
    """
    if not ns.is_concrete(labels):
        return
    bad = ops.logical_not(ops.equal(labels, ops.floor(labels)))
    if bool(ops.convert_to_numpy(ops.any(bad))):
        first = ops.convert_to_numpy(labels)[ops.convert_to_numpy(bad)].ravel()[0]
        expected = "class indices: whole numbers when given as floats"
        raise v.value_error("y_true", expected, f"label value {first.item()!r}")


def host_config(value: Any) -> Any:
    """Per-class configuration as plain data: numbers stay numbers, arrays become float64."""
    if value is None or isinstance(value, (str, bool, numbers.Number)):
        return value
    if not isinstance(value, (list, tuple, np.ndarray)):
        value = host_values(value)
    return np.asarray(value, dtype=np.float64)


def host_values(value: Any) -> Any:
    """An option's array on the host, of any framework, as the wxent functions read it.

    Keras' own conversion fails on another framework's bfloat16 tensor (a PyTorch one on
    the TensorFlow or JAX backend: "Got unsupported ScalarType BFloat16").
    """
    if ns.is_array(value) and ns.is_concrete(value):
        return ns.to_numpy(value)  # (16-bit floats widened to float32)
    return ops.convert_to_numpy(value)


def plain_config(value: Any) -> Any:
    """JSON-friendly form of a configuration value (for ``get_config``)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def check_probabilities(y_pred: Any) -> None:
    """``y_pred`` of ``from_logits=False`` holds probabilities in ``[0, 1]``.

    Checked when the values can be read (one scalar on the host; the values only to word
    the error), as :func:`check_indices`: their logits would be NaN, and the error would
    name those.

    Raises:
        ValueError: for a value outside ``[0, 1]`` or NaN.
    """
    if not ns.is_concrete(y_pred):
        return
    bad = ops.logical_not(ops.logical_and(ops.greater_equal(y_pred, 0), ops.less_equal(y_pred, 1)))
    if bool(ops.convert_to_numpy(ops.any(bad))):
        values = ops.convert_to_numpy(y_pred)[ops.convert_to_numpy(bad)]
        raise v.value_error(
            "y_pred",
            "probabilities in [0, 1] with from_logits=False",
            f"value {values.ravel()[0].item()!r} ({values.size} such value(s))",
        )


def broadcast_weight(weight: Any, shape: tuple[Any, ...], dynamic: Any, expected: str = "") -> Any:
    """A Keras-style weight tensor (scalar, per sample ``(B,)``, ...) broadcast to ``shape``.

    ``shape`` is the static target shape (None where unknown), ``dynamic`` the same shape
    as ``ops.shape`` gives it. Trailing axes of size 1 beyond ``shape`` are squeezed and
    missing trailing axes added, as Keras does; what then does not broadcast raises here,
    naming ``sample_weight``, not in the backend's broadcast.

    Raises:
        ValueError: for a weight that does not broadcast to ``shape``.
    """
    w, given = weight, tuple(weight.shape)
    while len(w.shape) > len(shape) and w.shape[-1] == 1:
        w = ops.squeeze(w, axis=-1)
    while 0 < len(w.shape) < len(shape):
        w = ops.expand_dims(w, axis=-1)
    if len(w.shape) and (
        len(w.shape) != len(shape)
        or any(
            a is not None and b is not None and a not in (1, b)
            for a, b in zip(w.shape, shape, strict=True)
        )
    ):
        raise v.value_error(
            "sample_weight",
            "a scalar, one weight per sample, or weights that broadcast to "
            f"{v.shape_str(shape)}{expected}",
            f"sample_weight of shape {v.shape_str(given)}",
        )
    return ops.broadcast_to(w, dynamic)


def _broadcast_weight(sample_weight: Any, like: Any, dtype: Any, class_axis: Any = None) -> Any:
    """A Keras-style sample weight broadcast to the shape of ``like``.

    With ``class_axis`` (the logits of the confusion metrics), a weight that is not one
    per element is one per element of the sample shape (``like`` without ``class_axis``)
    and gains the class axis: for channels-first logits ``(B, L, T)`` a weight ``(B, T)``
    is taken per time step, not aligned by its trailing axis with ``L``.
    """
    w = ops.cast(ops.convert_to_tensor(sample_weight), dtype)
    static, dynamic = tuple(like.shape), ops.shape(like)
    axis = None if class_axis is None or not static else class_axis % len(static)
    if axis is None or axis == len(static) - 1 or tuple(w.shape) == static:
        return broadcast_weight(w, static, dynamic)
    sample = static[:axis] + static[axis + 1 :]
    also = f" or the shape of `y_pred` {v.shape_str(static)}"
    w = broadcast_weight(w, sample, tuple(dynamic[:axis]) + tuple(dynamic[axis + 1 :]), also)
    return ops.broadcast_to(ops.expand_dims(w, axis), dynamic)


def check_known_rank(**tensors: Any) -> None:
    """``y_true``, ``y_pred`` and ``sample_weight`` of known rank, else wxent's error.

    A traced TensorFlow tensor of unknown rank has no axes to count along; reading its
    shape failed inside TensorFlow ("Cannot iterate over a shape with unknown rank").
    """
    for name, tensor in tensors.items():
        if getattr(getattr(tensor, "shape", None), "rank", 0) is None:
            raise v.value_error(
                name,
                "an array of known rank (number of dimensions), e.g. a TensorSpec of shape "
                "[None, None]",
                f"{name} of unknown rank",
            )


def _masked_weight(
    sample_weight: Any, mask: Any, like: Any, dtype: Any, class_axis: Any = None
) -> Any:
    """The sample weight times the Keras mask of ``y_pred`` (masked elements count nowhere).

    Both are broadcast to ``like`` as :func:`_broadcast_weight` does; None when neither
    is given.
    """
    weights = [
        _broadcast_weight(w, like, dtype, class_axis)
        for w in (sample_weight, mask)
        if w is not None
    ]
    return weights[0] * weights[1] if len(weights) == 2 else (weights[0] if weights else None)


def count_dtype(dtype: Any) -> str:
    """The dtype a metric counts and decides in: float64 under a float64 policy, else float32.

    A metric's ``dtype`` may be a half-precision policy (``"mixed_float16"``, ``"bfloat16"``)
    when a whole model is set up for mixed precision; counts in float16 stop growing at
    2048 (bfloat16: 256) and the model's float32 logits rounded to 16 bits change the
    decisions next to the threshold. So the counts, the weights and the decisions stay in
    float32 (whatever the 16-bit logits of a mixed-precision model, which float32 holds
    exactly). The JAX backend has float64 only with ``jax_enable_x64``: float32 without.
    """
    if keras.backend.standardize_dtype(dtype) != "float64":
        return "float32"
    if keras.backend.backend() == "jax" and not sys.modules["jax"].config.jax_enable_x64:
        return "float32"
    return "float64"


def _threshold(threshold: Any) -> np.ndarray:
    """A scalar or per-label threshold as float64 NumPy (lists, NumPy, any tensor)."""
    if ns.is_array(threshold) and not isinstance(threshold, np.ndarray):
        threshold = ns.to_numpy(threshold)  # a tensor of any framework or device
    elif isinstance(threshold, keras.Variable):
        threshold = host_values(threshold)
    t = np.asarray(threshold) if not isinstance(threshold, (str, bytes)) else np.asarray(None)
    t = ns.widen_host(t)  # ml_dtypes' bfloat16 as float32
    if t.dtype.kind not in "iuf":
        received = f"threshold={threshold!r}"
        raise v.type_error("threshold", "a logit (a number) or one per label", received)
    if t.ndim > 1:  # the number of labels is not known yet: say what the shape must be
        expected = "a scalar logit or one per label, a vector of shape (L,)"
        raise v.value_error("threshold", expected, f"threshold of shape {v.shape_str(t.shape)}")
    return t.astype(np.float64)


def add_compensated(total: Any, error: Any, value: Any) -> None:
    """``total += value``, the rounding error of the addition added to ``error``.

    The metrics' variables are float32 (Keras' default dtype): a plain running sum of
    ``2**24`` drops weight-1 increments. Each variable keeps a second one with the exact
    rounding errors of its additions (Knuth's two-sum, elementwise, in the step's graph),
    and ``result()`` reads ``total + error``, as :class:`wxent.MetricAccumulator` does.
    """
    old = ops.copy(total)  # the value before the assignment (a variable reads anew)
    new, rounding = two_sum(old, ops.convert_to_tensor(value, dtype=old.dtype))
    total.assign(new)
    error.assign_add(rounding)


#: Per metric, the graphs of its eager TensorFlow additions (:func:`in_graph`).
_GRAPHS: weakref.WeakKeyDictionary[Any, dict[Any, Any]] = weakref.WeakKeyDictionary()


def in_graph(metric: Any, function: Callable[..., None], *tensors: Any) -> None:
    """``function(metric, *tensors)``; one ``tf.function`` call on eager TensorFlow.

    A batch's counts added to the metric's variables (casts, sums, the two-sum of
    :func:`add_compensated` and the assignments) were about twenty eager Keras
    operations per call; traced once per metric and dtype of the counts (their shapes
    are the metric's) at its second update, they are one call, the operations a
    compiled ``fit`` step traces. Eager elsewhere: other backends, traced calls, a tape
    that may record, a Keras stateless or symbolic scope, a ``tf.distribute`` strategy,
    or ``tf.config.run_functions_eagerly(True)``.
    """
    if keras.backend.backend() != "tensorflow" or not _eager_tf():
        function(metric, *tensors)
        return
    tensors = tuple(ops.convert_to_tensor(t) for t in tensors)
    key = (function.__name__, tuple((t.dtype, tuple(t.shape)) for t in tensors))
    graphs = _GRAPHS.setdefault(metric, {})
    graph = graphs.get(key)
    if key not in graphs:  # a first update runs eagerly: no trace for a one-off call
        function(metric, *tensors)
        graphs[key] = None
        return
    if graph is None:
        import tensorflow as tf

        ref = weakref.ref(metric)  # (the graph must not keep its metric alive)

        def body(*flat: Any) -> None:
            function(ref(), *flat)

        signature = [tf.TensorSpec(shape, dtype) for dtype, shape in key[1]]
        graph = tf.function(body, input_signature=signature, autograph=False)
        graph = graphs[key] = graph.get_concrete_function()
    graph(*tensors)


def _eager_tf() -> bool:
    """Eager TensorFlow that a graph call may stand for (see :func:`in_graph`)."""
    tf = sys.modules["tensorflow"]
    from keras.src.backend.common.stateless_scope import in_stateless_scope
    from keras.src.backend.common.symbolic_scope import in_symbolic_scope
    from tensorflow.python.eager import record

    return bool(
        tf.executing_eagerly()
        and not tf.config.functions_run_eagerly()
        and not record.could_possibly_record()
        and not in_stateless_scope()
        and not in_symbolic_scope()
        and not tf.distribute.has_strategy()
    )


def compensated(total: Any, error: Any) -> Any:
    """``total + error`` of two variables, as a tensor of the backend."""
    return fold_error(ops.copy(total), ops.copy(error), xp=ops)


@functools.cache
def _foreign_options() -> frozenset[str]:
    """The options of every metric here, of the metric functions and of Keras' metrics.

    (:func:`wxent._adapter_options.foreign_metric_options`); a metric refuses those it lacks.
    """
    classes = (_ConfusionMetric, FBetaScore, ExpectedCost)
    own = {name for cls in classes for name in cls._options}
    return table.foreign_metric_options().union(own)


class _Reconfigured:
    """Options assigned after construction are checked as in the constructor, then used.

    ``metric.threshold = 1.5`` (after tuning, say) is checked by building the metric
    again from its config with the new value, whose derived state (the threshold as a
    logit, the scoring options) then replaces this one's; the counts are kept. Options
    that size the counts (``num_classes``, the number of classes of ``costs``) cannot
    change: assigning other sizes is an error. A new public attribute whose name is close
    to an option (``metric.treshold = 1.5``, which would be stored and never read) is an
    ``AttributeError`` suggesting the option, and so is one that is an option of another
    metric (of wxent's metric functions, or of Keras' metrics) but not of this one
    (``ExpectedCost(costs).threshold = 0.5``, ``Recall().ignore_index = -1``); other new
    attributes are stored, and what
    Keras sets itself (variables, tracking, names) is never checked: it is private or
    already an attribute, and assignments during construction are not checked.
    """

    _options: ClassVar[tuple[str, ...]]
    _derived: ClassVar[tuple[str, ...]]
    _family: ClassVar[str] = "sigmoid"

    def _shape(self) -> tuple[int, ...]:
        """The shape of what the counts are sized by."""
        raise NotImplementedError

    def __setattr__(self, name: str, value: Any) -> None:
        if not self.__dict__.get("_configured"):
            super().__setattr__(name, value)
            return
        if name not in self._options:
            if name not in self.__dict__ and not hasattr(type(self), name):
                options = (*self._options, *self.__dict__.get("_score_options", {}))
                if name in _foreign_options():
                    raise table.foreign_error(
                        f"wxent.keras.{type(self).__name__}",
                        name,
                        value,
                        self._family,
                        tuple(dict.fromkeys(options)),
                        "metric",
                    )
                error = table.misspelt_error(
                    f"wxent.keras.{type(self).__name__}",
                    name,
                    value,
                    tuple(dict.fromkeys(options)),
                    "metric",
                )
                if error is not None:
                    raise error
            super().__setattr__(name, value)
            return
        config = {**self.get_config(), name: value}  # type: ignore[attr-defined]
        fresh = type(self).from_config(config)  # type: ignore[attr-defined]
        if fresh._shape() != self._shape():
            expected = f"the {name} the metric was built with (it sizes its counts)"
            raise v.value_error(name, expected, f"{name}={v._short(value)}")
        for derived in self._derived:
            super().__setattr__(derived, fresh.__dict__[derived])


class _ConfusionMetric(_Reconfigured, keras.metrics.Metric):
    """The summed :func:`wxent.confusion_matrix` of sigmoid outputs, scored by wxent."""

    _default_name: ClassVar[str] = "confusion"
    _metric: ClassVar[str]
    _function: ClassVar[Callable[..., Any]]

    def __init__(
        self,
        threshold: Any = None,
        *,
        from_logits: bool = True,
        average: str | None = "micro",
        num_classes: int | None = None,
        ignore_label: float | None = None,
        class_axis: int = -1,
        name: str | None = None,
        dtype: Any = None,
        **score: Any,
    ) -> None:
        super().__init__(name=name or self._default_name, dtype=dtype)
        self.from_logits = v.check_bool("from_logits", from_logits)
        t = _threshold((0.0 if from_logits else 0.5) if threshold is None else threshold)
        self.num_classes = v.check_num_classes(num_classes)
        if self.num_classes is not None:  # the counts' variable, checked before any array
            v.allocate("num_classes", f"num_classes={num_classes}", (self.num_classes, 2, 2))
        if not from_logits and not ((t >= 0) & (t <= 1)).all():
            expected = "a probability in [0, 1] with from_logits=False"
            raise v.value_error("threshold", expected, f"threshold={threshold!r}")
        if np.isnan(t).any():
            raise v.value_error("threshold", "logits that are not NaN", f"threshold={threshold!r}")
        labels = self.num_classes or (t.shape[0] if t.ndim == 1 else 2)
        with np.errstate(divide="ignore"):  # probabilities 0 and 1 are logits -inf and inf
            self._logits_threshold = t if from_logits else np.log(t) - np.log1p(-t)
        options = {
            "threshold": self._logits_threshold,
            "average": average,
            "ignore_label": ignore_label,
            "class_axis": class_axis,
            **score,
        }
        table.probe(type(self)._function, "sigmoid", labels, options)
        if average != "micro" and num_classes is None:
            expected = f"the number of classes (labels) with average={average!r}"
            raise v.value_error("num_classes", expected, "num_classes=None")
        self.threshold = t.item() if t.ndim == 0 else t.tolist()
        self._threshold_array = t
        self.average, self.class_axis, self._score_options = average, class_axis, score
        self.ignore_label = ignore_label
        shape = (2, 2) if self.num_classes is None else (self.num_classes, 2, 2)
        self._counts = count_dtype(self.dtype)
        self.confusion = self.add_variable(shape, "zeros", dtype=self._counts, name="confusion")
        self.confusion_error = self.add_variable(
            shape, "zeros", dtype=self._counts, name="confusion_error"
        )
        self._configured = True

    _options: ClassVar[tuple[str, ...]] = (
        "threshold",
        "from_logits",
        "average",
        "num_classes",
        "ignore_label",
        "class_axis",
    )
    _derived: ClassVar[tuple[str, ...]] = (
        "threshold",
        "_threshold_array",
        "_logits_threshold",
        "from_logits",
        "average",
        "class_axis",
        "ignore_label",
        "_score_options",
    )

    def _shape(self) -> tuple[int, ...]:
        return tuple(self.confusion.shape)

    def _check_labels_axis(self, logits: Any) -> None:
        """Per-label counts: ``y_pred`` has ``num_classes`` labels along ``class_axis``.

        Checked on the static shape (also while tracing; a size unknown there is not
        checked): the counts of another number of labels do not add to the variable's.

        Raises:
            ValueError: naming ``y_pred``, for another number of labels.
        """
        shape = tuple(logits.shape)
        if self.num_classes is None or not -len(shape) <= self.class_axis < len(shape):
            return  # an axis out of range: wxent.confusion_matrix's error
        size = shape[self.class_axis]
        if size is not None and size != self.num_classes:
            raise v.value_error(
                "y_pred",
                f"{self.num_classes} labels along class_axis={self.class_axis} "
                "(the num_classes the metric was built with)",
                f"y_pred of shape {v.shape_str(shape)}",
            )

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add the counts of a batch: :func:`wxent.confusion_matrix` in Keras variables."""
        check_known_rank(y_true=y_true, y_pred=y_pred, sample_weight=sample_weight)
        mask = keras_mask(y_pred)
        logits = ops.convert_to_tensor(y_pred, dtype=self._counts)
        self._check_labels_axis(logits)
        threshold: Any = self._logits_threshold
        if not self.from_logits:
            check_probabilities(logits)
            # The probabilities are compared with the threshold as they are, both in the
            # counting dtype: positive exactly where p > t, as keras.metrics.Recall decides.
            # (Their logits log(p) - log1p(-p) are not monotone in float32: probabilities
            # a few ulps above the threshold got a logit not above the threshold's.)
            threshold = ops.convert_to_tensor(self._threshold_array, dtype=self._counts)
        labels = ops.convert_to_tensor(y_true)
        rank, width = len(logits.shape), logits.shape[-1] if len(logits.shape) else None
        indices = len(labels.shape) == rank - 1 or (
            len(labels.shape) == rank and rank > 1 and labels.shape[-1] == 1
        )  # class indices (B,) or, as Keras often passes them, (B, 1)
        if indices and width not in (1, None):  # softmax logits: not this metric's
            raise v.value_error(
                "y_true",
                f"0/1 labels of the shape of `y_pred` {v.shape_str(tuple(logits.shape))}: "
                f"{type(self).__name__} counts sigmoid outputs (softmax logits with class "
                "indices are counted by wxent.recall, wxent.precision and "
                "wxent.fbeta_score, or wxent.MetricAccumulator)",
                f"y_true of shape {v.shape_str(tuple(labels.shape))}",
            )
        if len(labels.shape) == rank - 1:  # Dense(1) logits, (B,) labels
            labels = ops.expand_dims(labels, axis=-1)
        elif len(labels.shape) == len(logits.shape) + 1 and labels.shape[-1] == 1:
            labels = ops.squeeze(labels, axis=-1)  # (B,) logits, (B, 1) labels
        w = _masked_weight(sample_weight, mask, logits, self._counts, self.class_axis)
        with user_names(logits="y_pred", labels="y_true"):
            counts = wxent.confusion_matrix(
                logits,
                labels,
                threshold=threshold,
                sample_weight=w,
                ignore_label=self.ignore_label,
                class_axis=self.class_axis,
            )
        in_graph(self, _add_confusion, counts)

    def result(self) -> Any:
        """The score as :func:`wxent.recall` & co. give it for every batch seen together."""
        return wxent.metrics.scores_from_confusion(
            compensated(self.confusion, self.confusion_error),  # a tensor, not the variable
            metric=self._metric,
            average=self.average,
            **self._score_options,
        )

    def reset_state(self) -> None:
        """Zero the counts."""
        for variable in (self.confusion, self.confusion_error):
            variable.assign(ops.zeros(variable.shape, dtype=variable.dtype))

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments."""
        config = super().get_config()
        config.update(
            threshold=self.threshold,
            from_logits=self.from_logits,
            average=self.average,
            num_classes=self.num_classes,
            ignore_label=self.ignore_label,
            class_axis=self.class_axis,
            **self._score_options,
        )
        return config


def _add_confusion(metric: Any, counts: Any) -> None:
    """Add a batch's confusion counts to the metric's variables."""
    counts = ops.reshape(ops.cast(counts, metric._counts), (-1, 2, 2))  # [[tn, fp], [fn, tp]]
    counts = ops.sum(counts, axis=0) if metric.num_classes is None else counts
    add_compensated(metric.confusion, metric.confusion_error, counts)


@_register
class Recall(_ConfusionMetric):
    """Recall ``tp / (tp + fn)`` of sigmoid outputs, thresholded in logit space.

    Args:
        threshold: predicted positive where ``y_pred > threshold``; a logit when
            ``from_logits=True`` (default ``0.0``), a probability otherwise (``0.5``);
            or one per label, shape ``(L,)``, as :func:`wxent.recall` takes it: a list,
            a NumPy array or a tensor of any framework (what
            ``wxent.tune_thresholds(..., per_label=True)`` returns). Its length is
            checked against the labels of each batch (``L`` along ``class_axis``); the
            config stores it as a list.
        from_logits: whether ``y_pred`` holds logits (the default) or probabilities.
        average: ``"micro"`` (pool all labels, the default), ``"macro"`` (mean over
            labels) or ``None`` (one value per label); the last two need
            ``num_classes``.
        num_classes: the number of labels along ``class_axis`` (for per-label counts).
        ignore_label: a label value (e.g. ``-1`` for unknown) whose elements count
            nowhere. Other labels than 0, 1 and this raise a ``ValueError`` when the
            values can be read (eager calls, the PyTorch backend) and count nowhere inside
            a compiled step, as in :func:`wxent.confusion_matrix`.
        class_axis: the label axis (``-1``).
        name: the metric's name (default: the class name in snake case).
        dtype: the metric's dtype (policy). The counts, weights and decisions are float32
            (float64 under a float64 policy that the backend has), also under a 16-bit
            policy such as ``"mixed_float16"``: 16-bit counts would stop at 2048
            (bfloat16: 256).

    Example:
        >>> import numpy as np, wxent.keras
        >>> m = wxent.keras.Recall()
        >>> m.update_state(np.array([[1.0, 0.0, 1.0]]), np.array([[2.0, 1.0, -0.5]]))
        >>> float(m.result())
        0.5
    """

    _default_name = "recall"
    _metric = "recall"
    _function = staticmethod(wxent.recall)


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
    _metric = "precision"
    _function = staticmethod(wxent.precision)


@_register
class FBetaScore(_ConfusionMetric):
    """F-beta score ``(1 + b^2) tp / ((1 + b^2) tp + b^2 fn + fp)`` of sigmoid outputs.

    Args:
        beta: the weight of recall relative to precision (``1.0``: F1; ``0``: precision).
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
    _metric = "fbeta"
    _function = staticmethod(wxent.fbeta_score)

    def __init__(self, beta: float = 1.0, threshold: Any = None, **kwargs: Any) -> None:
        super().__init__(threshold, beta=beta, **kwargs)
        object.__setattr__(self, "beta", float(beta))  # part of the construction

    _options = (*_ConfusionMetric._options, "beta")
    _derived = (*_ConfusionMetric._derived, "beta")


@_register
class ExpectedCost(_Reconfigured, keras.metrics.Metric):
    """Mean cost of the Bayes decisions of softmax outputs under a cost matrix.

    The decision for a sample is :func:`wxent.bayes_decision`, ``argmin_k sum_j p_j *
    costs[j, k]`` with ``p = softmax(y_pred)`` (or ``y_pred`` itself when
    ``from_logits=False``); its cost is ``costs[true, decision]``. The result is the
    (sample-weighted) mean cost over every sample seen since the last ``reset_state``, as
    :func:`wxent.expected_cost` of all of them.

    Args:
        costs: ``(C, C)`` non-negative cost matrix, ``costs[true, predicted]``.
        from_logits: whether ``y_pred`` holds logits (the default) or probabilities.
        class_axis: the class axis of ``y_pred`` (``-1``).
        name: the metric's name (default: the class name in snake case).
        dtype: the metric's dtype (policy); the accumulators are float32 (float64 under
            a float64 policy), as for :class:`Recall`.

    Labels are integer class indices (a trailing axis of size 1 is squeezed) or
    one-hot / probability rows (their argmax is the true class). An index outside
    ``[0, C)`` or a float that is not a whole number raises a ``ValueError`` when the
    values can be read (eager calls, the PyTorch backend); inside a compiled step
    (``tf.function``, ``jax.jit``) such a sample is left out of the mean.

    Example:
        >>> import numpy as np, wxent.keras
        >>> m = wxent.keras.ExpectedCost([[0.0, 1.0], [5.0, 0.0]])
        >>> m.update_state(np.array([1, 0]), np.array([[0.5, 0.0], [2.0, 0.0]]))
        >>> float(m.result())  # sample 0: p1 = 0.38, 5 * 0.38 > 0.62: predicts 1, cost 0
        0.0
    """

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
        if hasattr(costs, "shape") and not isinstance(costs, np.ndarray):
            costs = host_values(costs)
        shape = np.shape(costs) if isinstance(costs, (list, tuple, np.ndarray)) else ()
        options = {"costs": costs, "class_axis": class_axis}
        table.probe(wxent.expected_cost, "softmax", shape[0] if shape else 2, options)
        self.costs = np.asarray(costs, dtype=np.float64)
        self.from_logits = v.check_bool("from_logits", from_logits)
        self.class_axis = class_axis
        self._counts = count_dtype(self.dtype)
        self.total_cost = self.add_variable((), "zeros", dtype=self._counts, name="total_cost")
        self.count = self.add_variable((), "zeros", dtype=self._counts, name="count")
        self.total_cost_error = self.add_variable(
            (), "zeros", dtype=self._counts, name="total_cost_error"
        )
        self.count_error = self.add_variable((), "zeros", dtype=self._counts, name="count_error")
        self._configured = True

    _options = ("costs", "from_logits", "class_axis")
    _derived = _options
    _family = "softmax"

    def _shape(self) -> tuple[int, ...]:
        return tuple(self.costs.shape)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add the costs of a batch's Bayes decisions."""
        check_known_rank(y_true=y_true, y_pred=y_pred, sample_weight=sample_weight)
        num_classes = self.costs.shape[0]
        mask = keras_mask(y_pred)
        y_pred = ops.convert_to_tensor(y_pred, dtype=self._counts)
        size = y_pred.shape[self.class_axis]  # None: not known while tracing
        if size is not None and size != num_classes:
            raise v.value_error(
                "y_pred",
                f"{num_classes} classes along class_axis={self.class_axis} (the size of `costs`)",
                f"y_pred of shape {v.shape_str(tuple(y_pred.shape))}",
            )
        if not self.from_logits:
            check_probabilities(y_pred)
        logits = y_pred if self.from_logits else ops.log(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        if len(y_true.shape) == len(y_pred.shape):
            if y_true.shape[self.class_axis] == 1 and num_classes != 1:
                y_true = ops.squeeze(y_true, axis=self.class_axis)
            else:
                y_true = ops.argmax(y_true, axis=self.class_axis)
        if "float" in str(y_true.dtype):
            check_indices(y_true)
            y_true = ops.cast(y_true, "int32")
        w = _masked_weight(sample_weight, mask, y_true, self._counts)
        with user_names(logits="y_pred", labels="y_true"):
            counts = wxent.confusion_matrix(
                logits, y_true, costs=self.costs, sample_weight=w, class_axis=self.class_axis
            )
        costs = ops.convert_to_tensor(self.costs, dtype=self._counts)  # (as it is now)
        in_graph(self, _add_costs, counts, costs)

    def result(self) -> Any:
        """The mean cost (0 before any sample)."""
        return ops.divide_no_nan(
            compensated(self.total_cost, self.total_cost_error),
            compensated(self.count, self.count_error),
        )

    def reset_state(self) -> None:
        """Zero the accumulators."""
        for variable in (self.total_cost, self.count, self.total_cost_error, self.count_error):
            variable.assign(0.0)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (``costs`` as nested lists)."""
        config = super().get_config()
        config.update(
            costs=self.costs.tolist(), from_logits=self.from_logits, class_axis=self.class_axis
        )
        return config


def _add_costs(metric: Any, counts: Any, costs: Any) -> None:
    """Add a batch's cost and count (from its confusion counts) to the metric's variables."""
    counts = ops.cast(counts, metric._counts)
    add_compensated(metric.total_cost, metric.total_cost_error, ops.sum(counts * costs))
    add_compensated(metric.count, metric.count_error, ops.sum(counts))
