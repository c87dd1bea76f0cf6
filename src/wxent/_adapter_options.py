"""What the PyTorch and Keras adapters need to know about each wxent loss, in one table.

Each adapter class (:mod:`wxent.torch`, :mod:`wxent.keras`) is written out with its
constructor signature; it hands its arguments to the shared base class, which looks the
wrapped function up here:

* ``family``: ``"sigmoid"`` (labels with the logits' shape), ``"softmax"`` (class
  indices) or ``"projection"`` (features, class embeddings and class indices: the losses
  that fuse the output projection, PyTorch only), for the label handling of the Keras
  adapter and the probe below;
* ``arrays``: the per-class configuration (weights, priors, cost matrices). PyTorch keeps
  them as buffers (they follow ``.to()`` and are saved in ``state_dict``); Keras keeps them
  as NumPy arrays, written as nested lists by ``get_config``.

:func:`check_options` checks every option at construction with the function's own checks
(so the errors are wxent's, word for word), by calling it once on a one-sample batch.
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from wxent import _validation as v
from wxent import _warnings

# The adapters' defaults of ``class_axis``: PyTorch's ``(N, C, ...)`` layout, Keras' last axis.
CLASS_AXIS = {"torch": 1, "keras": -1}


@dataclass(frozen=True)
class LossOptions:
    """How an adapter treats the options of one loss function."""

    family: Literal["sigmoid", "softmax", "projection"]
    arrays: tuple[str, ...]


# function name -> its options. Every adapter class wraps one of these.
LOSSES: dict[str, LossOptions] = {
    "sigmoid_cross_entropy": LossOptions("sigmoid", ("pos_weight", "neg_weight")),
    "softmax_cross_entropy": LossOptions("softmax", ("class_weight",)),
    "sigmoid_focal_loss": LossOptions("sigmoid", ("alpha", "pos_weight", "neg_weight")),
    "softmax_focal_loss": LossOptions("softmax", ("class_weight",)),
    "asymmetric_loss": LossOptions("sigmoid", ("pos_weight", "neg_weight")),
    "logit_adjusted_cross_entropy": LossOptions("softmax", ("class_prior", "class_weight")),
    "expected_cost_loss": LossOptions("softmax", ("costs", "class_weight")),
    "cost_sensitive_cross_entropy": LossOptions("softmax", ("costs", "class_weight")),
    "confusion_weighted_cross_entropy": LossOptions("softmax", ("weights", "class_weight")),
    "linear_cross_entropy": LossOptions("projection", ("class_weight",)),
    "sampled_softmax_cross_entropy": LossOptions("projection", ("class_weight",)),
}

#: Arguments of the calls (``forward``), not options: never an adapter's attribute.
CALL_ARGUMENTS = ("logits", "labels", "sample_weight", "inputs", "bias", "sampled_values")

_MAX_PROBE_RANK = 8

# Options of PyTorch's and Keras' own loss classes that wxent spells differently (or lacks).
_FRAMEWORK_NAMES = (
    "weight",
    "size_average",
    "reduce",
    "from_logits",
    "axis",
    "ignore_class",
    "apply_class_balancing",
)

_HINTS = {
    ("weight", "softmax"): "the per-class weight is `class_weight`",
    ("weight", "projection"): (
        "the projection's weight is an argument of each call; the per-class weight is "
        "`class_weight`"
    ),
    ("weight", "sigmoid"): (
        "per-label weights are `pos_weight` and `neg_weight`; per-element weights go to "
        "the call's `sample_weight`"
    ),
    ("size_average", None): "use `reduction`",
    ("reduce", None): "use `reduction`",
    ("ignore_index", "sigmoid"): "sigmoid losses leave out a label value: `ignore_label`",
    ("ignore_label", "softmax"): "softmax losses leave out a class index: `ignore_index`",
    ("ignore_label", "projection"): "these losses leave out a class index: `ignore_index`",
    ("ignore_class", None): "softmax losses leave out a class index: `ignore_index`",
    ("axis", None): "the class axis is `class_axis`",
    ("from_logits", None): "wxent losses always take logits",
    ("apply_class_balancing", None): "class weights are `class_weight` (`wxent.class_weights`)",
}


def foreign_options() -> frozenset[str]:
    """Names the adapters refuse on a loss that lacks them (never read if stored).

    The options of the other wxent losses and of the frameworks' own loss classes.
    """
    wxent_names = {
        name
        for function in LOSSES
        for name in inspect.signature(getattr(_wxent(), function)).parameters
        if name not in CALL_ARGUMENTS
    }
    return frozenset(wxent_names.union(_FRAMEWORK_NAMES))


def _wxent() -> Any:
    import wxent

    return wxent


# Options of the wxent metric functions and of Keras' own metric classes: a metric of
# wxent.keras that lacks one of them refuses it (it would be stored and never read).
METRIC_FUNCTIONS = ("confusion_matrix", "precision", "recall", "fbeta_score", "expected_cost")
_KERAS_METRIC_NAMES = (
    "thresholds",
    "top_k",
    "class_id",
    "num_thresholds",
    "curve",
    "summation_method",
    "multi_label",
    "num_labels",
    "label_weights",
    "axis",
    "ignore_class",
)

_METRIC_HINTS = {
    ("ignore_index", "sigmoid"): "these metrics leave out a label value: `ignore_label`",
    ("ignore_index", "softmax"): "a sample of weight 0 counts nowhere: `sample_weight`",
    ("ignore_label", "softmax"): "a sample of weight 0 counts nowhere: `sample_weight`",
    ("costs", "sigmoid"): (
        "cost-optimal decisions of softmax outputs: `wxent.keras.ExpectedCost`; for "
        "sigmoid outputs `wxent.cost_threshold` gives the `threshold`"
    ),
    ("threshold", "softmax"): "the decisions are the Bayes decisions under `costs`",
    ("thresholds", "sigmoid"): "the decision threshold is `threshold`, a logit or one per label",
    ("sample_weight", None): "sample weights are an argument of `update_state`",
    ("axis", None): "the class axis is `class_axis`",
}


def foreign_metric_options() -> frozenset[str]:
    """Names the Keras metrics refuse when they lack them (never read if stored)."""
    names = {
        name
        for function in METRIC_FUNCTIONS
        for name in inspect.signature(getattr(_wxent(), function)).parameters
        if name not in ("logits", "labels")
    }
    return frozenset(names.union(_KERAS_METRIC_NAMES))


def foreign_error(
    owner: str,
    name: str,
    value: Any,
    family: str,
    options: tuple[str, ...],
    what: str = "loss",
) -> AttributeError:
    """The error for assigning ``name``, an option elsewhere but not of ``owner``.

    ``what``: ``"loss"``, or ``"metric"`` (the hints of the Keras metrics).
    """
    hints = _METRIC_HINTS if what == "metric" else _HINTS
    hint = hints.get((name, family)) or hints.get((name, None))
    return AttributeError(
        f"Invalid attribute `{name}` of {owner}: it is no option of this {what} and would "
        f"never be read{f' ({hint})' if hint else ''}. Expected one of its options: "
        f"{', '.join(options)}. Received: {name}={v._short(value)}"
    )


def misspelt_error(
    owner: str, name: str, value: Any, options: tuple[str, ...], what: str = "loss"
) -> AttributeError | None:
    """The error for a new public attribute that reads as a misspelt option, else None.

    ``criterion.pos_wieght = w`` would be stored and never read. Names close to one of
    the loss's (or metric's: ``what``) options (``difflib`` ratio 0.8 or more) are
    refused; any other new attribute is the caller's own, as on every object.
    """
    if name.startswith("_"):
        return None
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.8)
    if not close:
        return None
    return AttributeError(
        f"Invalid attribute `{name}` of {owner}: it is no option of this {what} and would "
        f"never be read (did you mean `{close[0]}`?). Expected one of its options: "
        f"{', '.join(options)}. Received: {name}={v._short(value)}"
    )


def constructor_options(given: dict[str, Any]) -> dict[str, Any]:
    """The constructor's arguments from its ``locals()``, without ``self`` and ``__class__``."""
    return {k: val for k, val in given.items() if k != "self" and not k.startswith("__")}


def _host(name: str, value: Any) -> Any:
    """A per-class option as host data for the probe: NumPy for arrays, as given otherwise."""
    if hasattr(value, "detach"):  # a torch tensor (on the meta device: no values to check)
        if value.device.type == "meta":
            return np.ones(tuple(value.shape), dtype=np.float32)
        host = value.detach().cpu()
        if host.dtype.is_floating_point and host.dtype.itemsize < 4:
            host = host.float()  # NumPy has no bfloat16; float32 holds every such value
        return host.numpy()
    if hasattr(value, "shape") and not isinstance(value, np.ndarray):
        try:
            return np.asarray(value)
        except v.NOT_NUMBERS:
            raise v.type_error(
                name, "numbers, a list or an array of numbers", f"{name}={v._short(value)}"
            ) from None
    return value


def _length(value: Any) -> int | None:
    try:
        shape = np.shape(value)
    except v.NOT_NUMBERS:
        return None
    return int(shape[0]) if len(shape) >= 1 and shape[0] > 0 else None


def check_options(function: Any, options: dict[str, Any]) -> None:
    """Check every option of a loss at construction: :func:`probe` with its table entry.

    The probe has as many classes as the first per-class option with a length (2 if none).

    Raises:
        TypeError, ValueError: the function's own errors for a bad option.
    """
    spec = LOSSES[function.__name__]
    options = {k: _host(k, val) if k in spec.arrays else val for k, val in options.items()}
    sizes = [n for n in (_length(options.get(k)) for k in spec.arrays) if n is not None]
    n = sizes[0] if sizes else 2
    if "num_sampled" in options and not sizes:  # the classes are known at the first call
        from wxent._host_checks import check_positive_int

        n = max(n, check_positive_int("num_sampled", options["num_sampled"]))
    probe(function, spec.family, n, options)


def probe(function: Any, family: str, num_classes: int, options: dict[str, Any]) -> None:
    """Call ``function(logits, labels, **options)`` once on a one-sample NumPy batch.

    The batch has ``num_classes`` classes along ``options["class_axis"]`` (every other
    axis has size 1); labels are zeros: 0/1 labels of the logits' shape (``"sigmoid"``)
    or class indices (``"softmax"``). ``"projection"``: ``function(inputs, weight, labels,
    **options)`` with one row of one feature and ``num_classes`` class embeddings.
    wxent's warnings of the probe (about a cost matrix, say) are left to the real calls
    (held back on this thread only: :func:`wxent._warnings.quiet`); its errors are the
    function's own, word for word.
    """
    options = dict(options)
    if family == "projection":  # one row of one feature, num_classes class embeddings
        inputs = np.zeros((1, 1), dtype=np.float32)
        weight = np.zeros((num_classes, 1), dtype=np.float32)
        with _warnings.quiet():
            function(inputs, weight, np.zeros((1,), dtype=np.int64), **options)
        return
    axis = options.get("class_axis", -1)
    shape = [1, 1]
    if isinstance(axis, int) and not isinstance(axis, bool):
        if abs(axis) > _MAX_PROBE_RANK:  # a rank this high is checked by the real call
            options["class_axis"] = axis = -1
        shape = [1] * max(2, axis + 1 if axis >= 0 else -axis)
        shape[axis] = num_classes
    logits = np.zeros(shape, dtype=np.float32)
    if family == "sigmoid":
        labels = np.zeros(shape, dtype=np.float32)
    else:
        labels = np.zeros([1] * (len(shape) - 1), dtype=np.int64)  # the other axes: size 1
    with _warnings.quiet():
        function(logits, labels, **options)
