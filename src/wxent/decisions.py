"""Decisions read from logits: the Bayes decision under a cost matrix, cost thresholds.

**Which decision.** Two kinds of logits:

* **sigmoid** logits (binary ``(N,)``, or multi-label with the labels along
  ``class_axis``): an element is predicted positive where ``logits > threshold``, a
  *logit* (``0`` is probability 0.5); :func:`cost_threshold` gives the cost-optimal one
  for a ``2 x 2`` cost matrix.
* **softmax** logits (classes along ``class_axis``): the decision is the argmax, or
  :func:`bayes_decision` when a cost matrix ``costs[true, predicted]`` is given.

:func:`bayes_decision` works on arrays of every framework and returns integer class
indices of that framework, on its device; it runs under ``jax.jit``, ``tf.function`` and
``torch.compile``. :func:`cost_threshold` takes Python numbers and returns a Python float.
The metrics that score these decisions live in :mod:`wxent.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from wxent import _fx
from wxent import _namespace as ns
from wxent import _prepare as prep
from wxent import _validation as v
from wxent._core import cost as core_cost
from wxent._types import Array
from wxent.cost_matrix import check_cost_matrix, matrix_for

__all__ = ["bayes_decision", "cost_threshold"]

# ----------------------------------------------------------------------------- decisions


def _config_inputs(logits: Array, axis: int, validate: bool) -> prep.Inputs:
    """Minimal prepared inputs, so configuration moves onto the logits like in losses.

    Arrays are not checked by the mover (``validate=False``): :func:`bayes_decision`
    checks them on their device, in one read.
    """
    return prep.config_inputs(logits, axis, check_arrays=False, check_config=validate)


@_fx.leaf
def bayes_decision(
    logits: Array,
    costs: Any,
    *,
    class_axis: int = -1,
    classes: Sequence[Any] | None = None,
    validate: bool = True,
) -> Array:
    """The class with the smallest expected cost under ``softmax(logits)``.

    ``decision = argmin_k sum_j softmax(x)_j * costs[j, k]``, with ``costs[true, predicted]``.
    With ``costs = 1 - I`` it is the argmax of the logits. On an exact tie of expected
    costs the smallest class index wins. A row without expected costs (a NaN logit, a
    row of only ``-inf``: no probabilities) is an error (``ValueError``) where it can be
    read; traced (``jax.jit``, ``tf.function``, ``torch.compile``) or with
    ``validate=False`` it decides ``-1``, no class, as :func:`~wxent.predict` does, and
    so does every row when a traced cost matrix holds NaN (a check would refuse it).

    **Precision (a deliberate limit).** The expected costs are computed as one matrix
    product in the logits' compute dtype (float32 for float32 and 16-bit logits, float64
    for float64), and the decision is their argmin, ties to the smallest index. Where two
    classes' computed expected costs are equal, the smaller index is returned even if
    the exact ones differ. That happens when the costs of the two columns are equal on
    the likely classes and differ only on classes whose share of the expected cost is
    below the rounding of the sum (in float32, ``p_j * |costs[j, a] - costs[j, b]|``
    under about ``2**-24`` of the expected cost, e.g. classes about 17 or more below the
    likeliest logit when that class costs 1 in both columns), or whose probability
    underflows to 0: in float32 every class whose logit is more than about 103.3 below the
    row's log-sum-exp (``p < 2**-149``), and more than about 87.3 (``p < 2**-126``) where
    subnormal numbers are flushed to zero (JAX and TensorFlow CPU kernels, most GPU
    kernels); in float64 about 745 and 708. Where the computed expected costs differ, the
    decision is their argmin, which is the exact decision whenever the exact expected
    costs differ by more than these roundings. Breaking such ties exactly needs a second
    pass over the logits on every row (the risks of the underflowed classes rescaled, or
    a comparison of the two tied columns: 1.4 to 4.5 times the cost of the decision,
    measured on PyTorch CPUs for 4 to 1000 classes) or a host read to run it only on
    tied rows, so decisions keep to the computed expected costs on every framework. The
    same holds for the decisions of ``costs=`` in :mod:`wxent.metrics`,
    :class:`~wxent.MetricAccumulator` and ``wxent.keras.ExpectedCost``. For float64
    precision, pass float64 logits.

    Args:
        logits: floating array of NumPy, PyTorch, JAX or TensorFlow, classes along
            ``class_axis``.
        costs: the ``(C, C)`` cost matrix ``costs[true, predicted]``, finite and
            non-negative (lists, NumPy, or an array of the logits' framework).
        class_axis: the class axis.
        classes: the ``C`` class names, in the order of the logits' classes (as given to
            :func:`~wxent.cost_matrix`): return names instead of indices.
        validate: check cost values (host configuration always; arrays when concrete)
            and NaN logits, reading one scalar; warn about dominated columns of host
            cost matrices.

    Returns:
        Integer class indices in the logits' framework (on its device), shape of
        ``logits`` without ``class_axis`` (``-1`` where a call that reads no check met
        a row without expected costs). Works under ``jax.jit``, ``tf.function`` and
        ``torch.compile``. With ``classes``: a NumPy array of the names (on the host, so
        only for concrete logits).

    Raises:
        TypeError: for non-floating logits, a non-numeric cost matrix, or ``classes``
            with traced logits.
        ValueError: for a cost matrix that is not ``C x C``, has negative or non-finite
            entries, for NaN logits, or ``classes`` that are not ``C`` names.

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.log(np.array([[0.6, 0.3, 0.1]], dtype=np.float32))
        >>> costs = wxent.cost_matrix(["A", "B", "C"], costs={("B", "A"): 10.0})
        >>> wxent.bayes_decision(logits, costs).tolist()  # argmax would say A
        [1]
        >>> wxent.bayes_decision(logits, costs, classes=["A", "B", "C"]).tolist()
        ['B']
    """
    v.check_logits(logits)
    validate = v.check_bool("validate", validate)
    axis = v.check_class_axis(class_axis, len(logits.shape))
    v.check_has_classes(v.static_shape(logits), axis)
    inp = _config_inputs(logits, axis, validate)
    names = None if classes is None else _names(classes, inp.num_classes)
    c = matrix_for("costs", costs, inp)
    xp = inp.xp
    checked = validate and ns.is_concrete(logits) and ns.is_concrete(c)
    if checked:  # one scalar read
        x = inp.logits  # NaN, or a row of only -inf (no probabilities: no decision)
        bad = xp.any(xp.isnan(x)) | xp.any(xp.max(x, axis=axis) == -math.inf)
        on_device = ns.is_array(costs) and not isinstance(costs, np.ndarray)
        if on_device:
            bad = bad | xp.any(~(xp.isfinite(c) & (c >= 0)))
        if bool(bad):
            v.check_no_nan("logits", ns.to_numpy(logits))
            v.check_no_infinite_rows(ns.to_numpy(logits), axis)
            dtype = ns.float_dtype_name(xp, inp.dtype)
            check_cost_matrix(ns.to_numpy(costs), warn=False, dtype=dtype)
    decision = prep.quietly(  # NumPy's warnings at -inf rows: the check above says it
        inp,
        lambda: core_cost.bayes_decision(
            inp.logits, c, axis=axis, xp=xp, mark_nan=not checked or ns.torch_is_compiling()
        ),
    )
    if isinstance(decision, np.generic):  # NumPy's argmin of unbatched (C,) logits
        decision = np.asarray(decision)
    if names is None:
        return decision
    if not ns.is_concrete(decision):
        raise v.type_error(
            "classes",
            "None while tracing (jax.jit, tf.function, torch.compile): names live on the host",
            "class names with traced logits",
        )
    indices = ns.to_numpy(decision)
    if (indices < 0).any():  # (validate=False) no class to name: index -1 is no name
        v.check_no_nan("logits", ns.to_numpy(logits))
        v.check_no_infinite_rows(ns.to_numpy(logits), axis)
        raise v.value_error("costs", "finite costs (a row decided no class)", "costs with NaN")
    picked = names[indices]
    return picked if isinstance(picked, np.ndarray) else np.asarray(picked, dtype=names.dtype)


def _names(classes: Any, num_classes: int | None) -> np.ndarray:
    if isinstance(classes, (str, bytes)) or not isinstance(classes, (Sequence, np.ndarray)):
        raise v.type_error("classes", "a list of class names", f"classes={v._short(classes)}")
    names = np.asarray(list(classes), dtype=object)
    if all(isinstance(n, str) for n in classes):
        names = np.asarray(list(classes))
    if names.ndim != 1 or (num_classes is not None and len(names) != num_classes):
        raise v.value_error(
            "classes",
            f"{num_classes} class names, one per class of `logits`",
            f"{len(classes)} name(s)",
        )
    return names


@_fx.leaf
def cost_threshold(
    *, cost_fp: float, cost_fn: float, cost_tp: float = 0.0, cost_tn: float = 0.0
) -> float:
    """The cost-optimal decision threshold for sigmoid logits, as a logit.

    Predicting positive costs ``p c_tp + (1 - p) c_fp`` in expectation, predicting
    negative ``p c_fn + (1 - p) c_tn`` (``p = sigmoid(logit)``). With the regrets
    ``a = c_fp - c_tn`` and ``b = c_fn - c_tp``, positive is the cheaper decision exactly
    when ``p >= p* = a / (a + b)`` (Elkan 2001). The threshold is returned as the logit
    ``log(p* / (1 - p*)) = log(a) - log(b)``: predict positive where ``logits > threshold``.

    Degenerate costs:

    * ``a <= 0 <= b`` (a false positive costs no more than a true negative): predicting
      positive is never worse, the threshold is ``-inf`` (every finite logit is positive);
    * ``b <= 0 <= a``: predicting negative is never worse, the threshold is ``+inf``;
    * ``a = b = 0`` (both decisions always cost the same) and ``a < 0, b < 0`` (mistakes
      cheaper than correct decisions, usually swapped arguments) raise ``ValueError``.

    Args:
        cost_fp: cost of a false positive (true 0, predicted 1).
        cost_fn: cost of a false negative (true 1, predicted 0).
        cost_tp: cost of a true positive.
        cost_tn: cost of a true negative.

    Returns:
        The threshold as a Python float (a logit, possibly ``±inf``).

    Raises:
        TypeError: for a cost that is not a real number.
        ValueError: for a negative or non-finite cost, or degenerate costs (above).

    Example:
        >>> import math, wxent
        >>> t = wxent.cost_threshold(cost_fp=1.0, cost_fn=9.0)  # p* = 0.1
        >>> round(t, 4), round(1 / (1 + math.exp(-t)), 4)
        (-2.1972, 0.1)
    """
    values: dict[str, float] = {}
    for name, value in (
        ("cost_fp", cost_fp),
        ("cost_fn", cost_fn),
        ("cost_tp", cost_tp),
        ("cost_tn", cost_tn),
    ):
        if not v.is_real_number(value):
            raise v.type_error(name, "a finite number >= 0", f"{name}={value!r}")
        number = v.as_float(name, value, "a finite number >= 0")
        if not (math.isfinite(number) and number >= 0):
            raise v.value_error(name, "a finite number >= 0", f"{name}={value!r}")
        values[name] = number
    return threshold_of(
        values["cost_fp"] - values["cost_tn"],
        values["cost_fn"] - values["cost_tp"],
        name="cost_fp",
        received=f"cost_fp={cost_fp!r}, cost_fn={cost_fn!r}, cost_tp={cost_tp!r}, "
        f"cost_tn={cost_tn!r}",
        matters="costs under which the decision matters (cost_fp != cost_tn or cost_fn != cost_tp)",
        ordered="mistakes that cost at least as much as correct decisions for one class "
        "(cost_fp >= cost_tn or cost_fn >= cost_tp); are the arguments swapped?",
    )


def threshold_of(
    a: float, b: float, *, name: str, received: str, matters: str, ordered: str
) -> float:
    """The logit threshold ``log(a) - log(b)`` of :func:`cost_threshold`'s ``a`` and ``b``.

    ``matters`` and ``ordered`` word the two errors (``a = b = 0``; ``a, b < 0``) for the
    argument ``name`` as the caller gave it (four numbers, or a ``2 x 2`` matrix).
    """
    if a == 0 and b == 0:
        raise v.value_error(name, matters, received)
    if a < 0 and b < 0:
        raise v.value_error(name, ordered, received)
    if a <= 0 <= b:
        return -math.inf
    if b <= 0 <= a:
        return math.inf
    return math.log(a) - math.log(b)
