"""Calibrated probabilities after (weighted) training: fitted and exact corrections.

Weighting moves logits on purpose: training sigmoid cross-entropy with ``pos_weight = w``
makes the optimal logit ``logit(p) + log w`` (the weighted odds ``w p / (1 - p)``), and
softmax cross-entropy with class weights ``w_c`` makes it ``log p_c + log w_c`` up to a
constant per sample. Two ways back to probabilities:

* **The exact prior correction** for a known weighting, :func:`unweight_logits`:
  ``logits - log(pos_weight) + log(neg_weight)`` (sigmoid) or ``logits - log(class_weight)``
  (softmax). Exact for the population optimum, nothing to fit; the same shift as
  :func:`adjust_logits` with the weights as the "prior".
* **Fitted calibration** on held-out logits, :func:`calibrate`: temperature scaling
  (``logits / T``) or Platt scaling (``a * logits + b`` per label), fitted by Newton's
  method in float64 on the host (convex one- and two-parameter problems); also corrects
  over-confidence that no weighting explains.

:func:`expected_calibration_error` measures the result; :func:`reliability_bins` gives the
points of a reliability diagram.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wxent import _calibration_fit as fit
from wxent import _fx
from wxent import _namespace as ns
from wxent import _prepare as prep
from wxent import _validation as v
from wxent._types import Array
from wxent.thresholds import held_out_labels, host_array, label_rows, row_weights

__all__ = [
    "Calibration",
    "calibrate",
    "expected_calibration_error",
    "reliability_bins",
    "unweight_logits",
]


def _inputs(logits: Array, axis: int) -> prep.Inputs:
    return prep.config_inputs(logits, axis, check_arrays=True, per_sample=False)


def _ndim(value: Any) -> int:
    """0 for a number, else the array's ``ndim`` (an attribute, not ``np.ndim``).

    ``torch.compile`` traces it: with ``dynamic=True`` a float parameter is a symbolic
    float, whose attributes it cannot look up (``hasattr`` on it broke the graph).
    """
    if isinstance(value, (int, float)):
        return 0
    return int(getattr(value, "ndim", 0))


def _along_axis(name: str, value: Any, inp: prep.Inputs) -> Any:
    """A float, or a per-class vector moved onto the logits along the class axis."""
    if _ndim(value) == 0:
        return float(value)
    arr = prep.config_array(name, value, inp, check_values=False)
    ndim = len(inp.logits.shape)
    if inp.axis != ndim - 1:
        target = [1] * ndim
        target[inp.axis] = -1
        arr = inp.xp.reshape(arr, tuple(target))
    return arr


@dataclass(frozen=True, eq=False)  # hashed by identity: jax.jit and tf.function take it
class Calibration:
    """A fitted calibration: ``calibrated = scale * logits + bias`` along ``class_axis``.

    Call it on logits of any framework (also under ``jax.jit``, ``tf.function`` and
    ``torch.compile``) to get calibrated logits of that framework and dtype; apply
    ``sigmoid`` or ``softmax`` for probabilities.

    The product is computed in the logits' compute dtype (float32 for 16-bit logits):
    calibrated logits beyond its range are ``±inf``. A scale that float32 does not hold
    (nonzero and below ``1.2e-38`` or above ``3.4e38``, fitted on float64 logits or on
    logits near float32's ends) or a bias beyond ``3.4e38`` would be 0 or ``inf`` there
    (every calibrated logit ``inf``, 0 or NaN): applied to logits computed in float32 it
    is a ``ValueError`` naming the parameter; apply such a calibration to float64 logits.

    Attributes:
        method: ``"temperature"`` or ``"platt"``.
        scale: ``1 / temperature`` (temperature) or Platt's slope: a float, or one per
            label ``(L,)`` (NumPy ``float64``).
        bias: 0 (temperature) or Platt's intercept, a float or ``(L,)``.
        class_axis: the class (label) axis the per-label parameters lie along.
    """

    method: str
    scale: Any
    bias: Any
    class_axis: int = -1
    _zero_scale: Any = field(init=False, repr=False)
    _any_zero_scale: bool = field(init=False, repr=False)
    _extent: tuple[float, float, float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Check the parameters (also of one built by hand); arrays become NumPy float64."""
        v.check_choice("method", self.method, ("temperature", "platt"))
        scale, bias = _parameter("scale", self.scale), _parameter("bias", self.bias)
        if self.method == "temperature" and (np.any(scale < 0) or np.any(bias != 0)):
            raise v.value_error(
                "scale" if np.any(scale < 0) else "bias",
                "scale >= 0 (1 / temperature) and bias 0 for temperature scaling",
                f"scale={v._short(self.scale)}, bias={v._short(self.bias)}",
            )
        if np.ndim(scale) == np.ndim(bias) == 1 and scale.shape != bias.shape:
            raise v.value_error(
                "bias",
                f"a float or one per label, shape {scale.shape} like `scale`",
                f"bias of shape {bias.shape}",
            )
        if v.integer_value(self.class_axis) is None:
            raise v.type_error(
                "class_axis", "an integer axis of `logits`", f"class_axis={self.class_axis!r}"
            )
        object.__setattr__(self, "scale", float(scale) if np.ndim(scale) == 0 else scale)
        object.__setattr__(self, "bias", float(bias) if np.ndim(bias) == 0 else bias)
        # Host facts about the scale, read as Python values (torch.compile traces NumPy
        # arrays): a zero scale maps every logit to 0 (inf * 0 would be NaN).
        zero = np.asarray(scale, dtype=np.float64) == 0
        object.__setattr__(self, "_zero_scale", zero if zero.ndim else bool(zero))
        object.__setattr__(self, "_any_zero_scale", bool(np.any(zero)))
        # The range float32 compute must hold: the smallest nonzero and largest |scale|,
        # the largest |bias| (checked when applied to logits computed in float32).
        magnitude = np.abs(np.asarray(scale, dtype=np.float64))
        extent = (
            float(np.min(magnitude[magnitude != 0], initial=np.inf)),
            float(np.max(np.abs(scale))),
            float(np.max(np.abs(bias))),
        )
        object.__setattr__(self, "_extent", extent)

    @property
    def temperature(self) -> Any:
        """The fitted temperature ``1 / scale`` (``None`` for Platt scaling)."""
        if self.method != "temperature":
            return None
        if np.ndim(self.scale) == 0:
            return math.inf if self.scale == 0 else 1.0 / float(self.scale)
        with np.errstate(divide="ignore"):
            return 1.0 / np.asarray(self.scale)

    def __call__(self, logits: Array) -> Array:
        """The calibrated logits, in the logits' framework, device and dtype."""
        v.check_logits(logits)
        axis = v.check_class_axis(self.class_axis, len(logits.shape))
        inp = _inputs(logits, axis)
        for value in (self.scale, self.bias):
            unknown = inp.num_classes is None  # (tf.function with None): the vector's
            if _ndim(value) == 1 and not unknown and inp.num_classes != value.shape[0]:
                raise v.value_error(
                    "logits",
                    f"{value.shape[0]} labels along class_axis={self.class_axis}, as "
                    "the calibration was fitted",
                    f"logits of shape {v.shape_str(v.static_shape(logits))}",
                )
        self._check_range(ns.float_dtype_name(inp.xp, inp.logits.dtype))
        out = prep.quietly(inp, lambda: self._apply(inp))  # beyond the dtype's range: inf
        out = prep.settle(inp, out)  # NaN logits are an error (concrete logits)
        return prep.cast(inp.xp, out, logits.dtype)

    def _apply(self, inp: Any) -> Array:
        """``logits * scale`` (``+ bias``) in the logits' compute dtype."""
        xp = inp.xp
        if not self._any_zero_scale:
            out = inp.logits * _along_axis("scale", self.scale, inp)
        elif np.ndim(self._zero_scale) == 0:  # a zero scale maps every logit to 0
            out = xp.zeros_like(inp.logits)  # (also the infinite ones: inf * 0 is NaN)
        else:
            safe = np.where(self._zero_scale, 1.0, np.asarray(self.scale, dtype=np.float64))
            out = inp.logits * _along_axis("scale", safe, inp)
            zero = _along_axis("scale", self._zero_scale.astype(np.float64), inp)
            out = xp.where(zero == 1.0, xp.zeros_like(out), out)
        if self.method == "platt":
            out = out + _along_axis("bias", self.bias, inp)
        return out

    def _check_range(self, compute: str | None) -> None:
        """A scale or bias that the logits' compute dtype does not hold is an error.

        In float32 a scale below its smallest normal number or above its largest, or a bias
        above its largest, would be 0 or ``inf``: every calibrated logit ``inf``, 0 or
        NaN, silently. Such parameters come from fitting on float64 logits (or float32
        logits near its ends) and apply to float64 logits.
        """
        if compute == "float64" or compute is None:
            return
        info = np.finfo(np.float32)
        tiny, top = float(info.smallest_normal), float(info.max)
        low, high, bias = self._extent
        if low < tiny or high > top or bias > top:
            name = "bias" if low >= tiny and high <= top else "scale"
            value = self.bias if name == "bias" else self.scale
            held = "|bias| <= 3.4e38" if name == "bias" else "nonzero |scale| in [1.2e-38, 3.4e38]"
            raise v.value_error(
                name,
                f"a {name} that float32 holds ({held}) for logits computed in {compute}; "
                "apply this calibration to float64 logits",
                f"Calibration.{name}={v._short(value)}",
            )


def _parameter(name: str, value: Any) -> np.ndarray:
    """A calibration parameter as float64 NumPy: a finite number or one per label."""
    v.check_plain_array(name, value)  # sparse, ragged, nested: the one message
    host = ns.to_numpy(value) if ns.is_array(value) else value
    if isinstance(host, (bool, np.bool_)):
        raise v.type_error(name, "a float or one per label", f"{name}={host!r}")
    host = v.host_numbers(name, host).astype(np.float64)
    if host.ndim > 1 or host.size == 0:
        raise v.value_error(
            name, "a float or one per label, shape (L,)", f"{name} of shape {host.shape}"
        )
    if not np.isfinite(host).all():
        raise v.value_error(name, "finite values", f"{name}={v._short(value)}")
    return host


def _host_inputs(
    logits: Array, labels: Array, class_axis: Any, sample_weight: Any, ignore_index: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, int]:
    """Host float64 ``(x, y, w, sigmoid, axis)``; sigmoid arrays as ``(L, n)`` rows."""
    v.check_logits(logits)
    labels = held_out_labels(labels, logits)
    why = "calibration is fitted and measured on the host, on held-out logits"
    x = host_array("logits", logits, why).astype(np.float64)  # (traced: refused here, also
    shape = x.shape  # with unknown dimensions, before the shape is read)
    axis = v.check_class_axis(class_axis, len(shape))
    y = host_array("labels", labels, why)
    v.check_no_nan("logits", x)
    sigmoid = y.shape == x.shape
    if sigmoid:
        v.check_has_labels(shape, axis)
    w = row_weights(sample_weight, shape, axis, sigmoid, why)
    if sigmoid:
        if ignore_index is not None:
            raise v.value_error(
                "ignore_index",
                "None for sigmoid logits (labels with the logits' shape)",
                f"ignore_index={ignore_index!r}",
            )
        y = y.astype(np.float64)
        v.check_unit_interval_labels(y, None)
        rows = 1 if x.ndim == 1 else shape[axis]
        w = np.ones(x.shape) if w is None else np.asarray(w)
        return (
            label_rows(x, axis, rows),
            label_rows(y, axis, rows),
            label_rows(w, axis, rows),
            True,
            axis,
        )
    sample_shape = shape[:axis] + shape[axis + 1 :]
    if y.dtype.kind in "iu" and y.shape == sample_shape:
        v.check_has_classes(shape, axis)
    if y.dtype.kind not in "iu" or y.shape != sample_shape:
        raise v.value_error(
            "labels",
            f"[0, 1] labels of the logits' shape {shape} (sigmoid logits) or integer class "
            f"indices of shape {sample_shape} (softmax logits, class_axis={axis})",
            f"labels of shape {y.shape} and dtype {y.dtype}",
        )
    ignore = v.check_optional_int("ignore_index", ignore_index)
    v.check_class_indices(y, shape[axis], ignore)  # before int64: uint64 would wrap
    # (and so would the ignored labels: uint64 2**64 - 1 is -1 in int64, counted as the
    # last class)
    keep = np.ones(sample_shape, dtype=bool) if ignore is None else y != ignore
    y = y.astype(np.int64)
    w = np.ones(sample_shape) if w is None else w
    return np.moveaxis(x, axis, -1)[keep], y[keep], w[keep], False, axis


@_fx.leaf
def calibrate(
    logits: Array,
    labels: Array,
    *,
    method: str = "temperature",
    per_label: bool = True,
    sample_weight: Any = None,
    ignore_index: int | None = None,
    class_axis: int = -1,
    max_iter: int = 100,
) -> Calibration:
    """Fit temperature or Platt scaling on held-out logits, for logits of any framework.

    Maximum likelihood on held-out data (the weighted mean negative log-likelihood):

    * softmax logits (integer labels), ``method="temperature"``: one temperature ``T`` for
      ``softmax(logits / T)`` (Guo et al. 2017);
    * sigmoid logits (labels with the logits' shape), ``"temperature"``: ``sigmoid(logits /
      T)``, ``"platt"``: ``sigmoid(a * logits + b)`` (Platt 1999, with the 0/1 labels as
      targets) — one fit per label (``per_label=True``) or one for all labels.

    Each fit is a convex problem in one or two parameters, solved by damped Newton steps in
    float64 on the host (the logits are copied to NumPy once); a fit stops when a step
    improves the mean negative log-likelihood by less than ``1e-13``. Data where the
    logits separate the labels perfectly (every counted label on its logit's side) have
    no finite optimum, the likelihood growing as the temperature falls: temperature
    scaling returns, without iterating, the temperature below which no calibrated
    probability of these data changes in float64 (the smallest margin calibrated to 37
    nats, plus the log of the number of other classes); Platt scaling stops when the
    likelihood stops improving. Without data to fit (no sample, or every one ignored or
    of weight 0; per label for sigmoid logits) the fit is the identity (``T = 1``, or
    ``a = 1, b = 0``). For a known weighting, :func:`unweight_logits` is the exact
    correction without fitting.

    Args:
        logits: floating array of any supported framework (concrete, no NaN).
        labels: ``[0, 1]`` labels of the logits' shape (sigmoid) or integer class
            indices of the logits' shape without ``class_axis`` (softmax); of the
            logits' framework, or a list.
        method: ``"temperature"`` or ``"platt"`` (sigmoid only).
        per_label: sigmoid multi-label: one fit per label, or one for all.
        sample_weight: one weight per sample, or for sigmoid logits one per element.
        ignore_index: softmax only: an integer label to leave out.
        class_axis: the class (label) axis; the result applies along it.
        max_iter: the most Newton steps per fit.

    Returns:
        A :class:`Calibration`; call it on logits to calibrate them.

    Raises:
        TypeError: for wrong types or traced arrays.
        ValueError: for labels that fit neither form, bad values, an unknown method.

    Example:
        >>> import numpy as np, wxent
        >>> rng = np.random.default_rng(0)
        >>> truth = 2.0 * rng.normal(size=(20000, 3))  # the true log-probabilities
        >>> p = np.exp(truth) / np.exp(truth).sum(axis=1, keepdims=True)
        >>> labels = (rng.random((20000, 1)) > p.cumsum(axis=1)).sum(axis=1)
        >>> cal = wxent.calibrate(3.0 * truth, labels)  # an over-confident model
        >>> round(cal.temperature, 1)
        3.0
        >>> bool(np.abs(cal(3.0 * truth) - truth).max() < 0.2)
        True
    """
    if method not in ("temperature", "platt"):
        raise v.value_error("method", '"temperature" or "platt"', f"method={method!r}")
    per_label = v.check_bool("per_label", per_label)
    max_iter = v.check_positive_int("max_iter", max_iter)
    x, y, w, sigmoid, _ = _host_inputs(logits, labels, class_axis, sample_weight, ignore_index)
    axis = int(class_axis)  # as given: -1 follows the last axis of other shapes
    if not np.isfinite(x).all():
        raise v.value_error("logits", "finite logits to calibrate", "an infinite value in `logits`")
    if not sigmoid:
        if method == "platt":
            raise v.value_error(
                "method", '"temperature" for softmax logits (integer labels)', 'method="platt"'
            )
        return Calibration("temperature", fit.fit_temperature_softmax(x, y, w, max_iter), 0.0, axis)
    pooled = not per_label or len(v.static_shape(logits)) == 1
    if pooled:
        x, y, w = x.reshape(1, -1), y.reshape(1, -1), w.reshape(1, -1)
    fits = [fit.fit_sigmoid(x[j], y[j], w[j], method, max_iter) for j in range(x.shape[0])]
    scales, biases = (np.array([f[i] for f in fits]) for i in (0, 1))
    if pooled:  # one fit for all: a float (one label of (N, 1) stays a vector of one)
        return Calibration(method, float(scales[0]), float(biases[0]), axis)
    return Calibration(method, scales, biases if method == "platt" else 0.0, axis)


# ----------------------------------------------------------------------------- measuring


def _binned(
    logits: Array, labels: Array, bins: Any, class_axis: int, sample_weight: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """``(bin index, probability, hit, weight, bins)`` of every counted element."""
    bins = v.check_positive_int("bins", bins)
    if bins > 1 << 53:  # probabilities * bins would not be exact in float64
        raise v.value_error("bins", "a positive integer at most 2**53", f"bins={bins!r}")
    x, y, w, sigmoid, _ = _host_inputs(logits, labels, class_axis, sample_weight, None)
    if sigmoid:
        prob, hit = fit.sigmoid(x).ravel(), y.ravel()
        w = w.ravel()
    else:
        v.check_no_infinite_rows(x, 1)
        top = x.max(axis=1, keepdims=True)  # +inf: the tied +inf logits share all
        with np.errstate(invalid="ignore"):  # inf - inf, replaced
            shifted = np.where(np.isposinf(top), np.where(x == top, 0.0, -np.inf), x - top)
        p = np.exp(shifted)
        p /= p.sum(axis=1, keepdims=True)
        prob, hit = p.max(axis=1), (np.argmax(x, axis=1) == y).astype(np.float64)
    index = np.minimum((prob * float(bins)).astype(np.int64), bins - 1)
    return index, prob, hit, w, bins


def reliability_bins(
    logits: Array, labels: Array, *, bins: int = 15, class_axis: int = -1, sample_weight: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The points of a reliability diagram: per bin, mean probability, frequency, weight.

    Softmax logits (integer labels): the confidence ``max softmax`` against the accuracy
    of the argmax. Sigmoid logits: every element's ``sigmoid(logit)`` against its label
    (all labels pooled). ``bins`` equal-width bins on ``[0, 1]``; a probability on an
    edge goes to the upper bin (1 to the last).

    Returns:
        ``(mean_probability, frequency, weight)``, NumPy arrays of ``bins`` values (empty
        bins: weight 0 and the two means 0).
    """
    index, prob, hit, w, bins = _binned(logits, labels, bins, class_axis, sample_weight)
    v.allocate("bins", f"bins={bins}", (4 * bins,))  # three bincounts, two quotients
    weight = np.bincount(index, weights=w, minlength=bins)
    mean = np.bincount(index, weights=w * prob, minlength=bins)
    freq = np.bincount(index, weights=w * hit, minlength=bins)
    nonzero = weight > 0
    mean = np.divide(mean, weight, out=np.zeros(bins), where=nonzero)
    freq = np.divide(freq, weight, out=np.zeros(bins), where=nonzero)
    return mean, freq, weight


@_fx.leaf
def expected_calibration_error(
    logits: Array, labels: Array, *, bins: int = 15, class_axis: int = -1, sample_weight: Any = None
) -> float:
    """Expected calibration error ``sum_b (n_b / n) |frequency_b - mean probability_b|``.

    Over the ``bins`` equal-width bins of :func:`wxent.calibration.reliability_bins`
    (not in the ``wxent`` namespace: ``from wxent.calibration import ...``): the top-label
    (confidence) ECE for softmax logits (Guo et al. 2017), the ECE of every element's
    probability for sigmoid logits. An evaluation-time function: concrete arrays of any
    framework, computed in float64 on the host.

    Args:
        logits: floating array of any supported framework.
        labels: ``[0, 1]`` labels of the logits' shape or integer class indices (of
            the logits' framework, or a list).
        bins: the number of equal-width probability bins (at most 2**53; only the
            occupied ones are held, so a large number costs no memory).
        class_axis: the class (label) axis.
        sample_weight: one weight per sample, or for sigmoid logits one per element.

    Returns:
        The ECE, a Python float in ``[0, 1]`` (0 when nothing is counted: ``N = 0``,
        or every weight 0).

    Raises:
        TypeError: for wrong types or traced arrays.
        ValueError: for labels that fit neither form, bad values.

    Example:
        >>> import numpy as np, wxent
        >>> logits = np.array([2.0, 2.0, -2.0, -2.0])  # probabilities 0.88 and 0.12
        >>> labels = np.array([1, 0, 0, 0])  # frequencies 0.5 and 0.0
        >>> round(wxent.expected_calibration_error(logits, labels), 4)  # (0.38 + 0.12) / 2
        0.25
    """
    index, prob, hit, w, _ = _binned(logits, labels, bins, class_axis, sample_weight)
    occupied, index = np.unique(index, return_inverse=True)  # no array of `bins` values
    weight = np.bincount(index, weights=w, minlength=occupied.size)
    gap = np.bincount(index, weights=w * (hit - prob), minlength=occupied.size)
    total = weight.sum()
    return 0.0 if total == 0 else float(np.sum(np.abs(gap)) / total)


# ----------------------------------------------------------------------------- exact correction


def _check_positive(name: str, value: Any) -> None:
    v.check_plain_array(name, value)  # sparse, ragged, nested: the one message
    host = ns.to_numpy(value) if ns.is_array(value) else value
    try:
        host = np.asarray(host, dtype=np.float64)
    except OverflowError:  # a Python integer beyond float64: an infinite weight
        raise v.value_error(name, "finite positive numbers", f"{name}={v._short(value)}") from None
    except v.NOT_NUMBERS:
        raise v.type_error(name, "positive numbers", f"{name}={v._short(value)}") from None
    v.check_finite_nonnegative(name, host)
    if (host == 0).any():
        raise v.value_error(
            name, "positive values (the log of a zero weight is -inf)", f"a zero in `{name}`"
        )


@_fx.leaf
def unweight_logits(
    logits: Array,
    *,
    pos_weight: Any = None,
    neg_weight: Any = None,
    class_weight: Any = None,
    class_axis: int = -1,
) -> Array:
    """Undo the logit shift of weighted training: the logits an unweighted model would give.

    Training sigmoid cross-entropy with ``pos_weight = w`` (and ``neg_weight = v``)
    moves the optimal logit to ``logit(p) + log(w / v)``; softmax cross-entropy with
    class weights ``w_c`` moves it to ``log p_c + log w_c`` (plus a constant per sample).
    This returns ``logits - log(pos_weight) + log(neg_weight)``, or ``logits -
    log(class_weight)``, whose sigmoid (softmax) estimates the unweighted probabilities —
    exact at the optimum of a well-specified model. Decisions are another matter: for
    a threshold, tune it (:func:`tune_thresholds`). ``sample_weight`` that depends only on
    the class is a class weight here.

    Args:
        logits: floating array of any framework (jit-safe).
        pos_weight: sigmoid: the positive weight, scalar or one per label, ``> 0``.
        neg_weight: sigmoid: the negative weight, scalar or one per label, ``> 0``.
        class_weight: softmax: one weight per class, ``> 0``.
        class_axis: the class (label) axis.

    Returns:
        The corrected logits, the logits' framework, shape and dtype.

    Raises:
        TypeError: for wrong types.
        ValueError: for weights that are not positive and finite, of the wrong length,
            or for sigmoid and softmax weights together (or none).

    Example:
        >>> import numpy as np, wxent
        >>> weighted = np.array([[0.0, 1.0]])  # logits of a model trained with pos_weight 4
        >>> np.round(wxent.unweight_logits(weighted, pos_weight=4.0), 4).tolist()
        [[-1.3863, -0.3863]]
    """
    v.check_logits(logits)
    axis = v.check_class_axis(class_axis, len(logits.shape))
    sigmoid = pos_weight is not None or neg_weight is not None
    if sigmoid == (class_weight is not None):
        raise v.value_error(
            "class_weight",
            "either pos_weight/neg_weight (sigmoid logits) or class_weight (softmax logits)",
            "both" if sigmoid else "none of them",
        )
    inp = _inputs(logits, axis)
    out = inp.logits
    given = (
        ("pos_weight", pos_weight, -1.0),
        ("neg_weight", neg_weight, 1.0),
        ("class_weight", class_weight, -1.0),
    )
    for name, value, sign in [g for g in given if g[1] is not None]:
        if not ns.torch_is_compiling() and (not ns.is_array(value) or ns.is_concrete(value)):
            _check_positive(name, value)
        w = prep.per_class(name, value, inp, positive=True)  # positive in the compute dtype
        out = _shifted(inp, out, sign * inp.xp.log(w))
    out = prep.settle(inp, out)  # NaN logits are an error (concrete logits)
    return prep.cast(inp.xp, out, logits.dtype)  # (beyond a 16-bit range: inf)


def _shifted(inp: Any, out: Array, shift: Array) -> Array:
    """``out + shift``: beyond the dtype's range ``inf``, on NumPy without a warning."""
    return prep.quietly(inp, lambda: out + shift)
