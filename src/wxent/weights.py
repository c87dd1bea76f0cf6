"""Weights from your own labels: class weights, ``pos_weight`` and priors.

Everything here runs on the host, once, before training: labels of any framework are
counted by :mod:`wxent.counting` (:func:`label_counts`, :class:`LabelCounter`), and
**weights are returned as NumPy ``float64`` arrays**, which every loss of wxent accepts
as they are (they are moved to the logits' framework, device and dtype there).

* :func:`class_weights` turns class counts into per-class weights (``class_weight``).
* :func:`pos_weights` turns multi-label counts into negatives / positives per label
  (``pos_weight``).
* :func:`class_prior` turns class counts into frequencies (``class_prior`` of
  :func:`wxent.logit_adjusted_cross_entropy` and :func:`wxent.adjust_logits`).

The functions take ``labels`` (integer class indices, or class names: strings, bools,
categoricals) or ``counts=`` (an array of counts or a :class:`LabelCounter`; a counter
passed as ``labels`` is used as counts). ``classes=`` fixes the order of the classes
and ``as_dict=True`` returns ``{class: weight}``, what Keras ``fit(class_weight=...)``
takes.

A class that never occurs cannot get a weight from its count: each function follows a
stated ``zero_count`` policy. The result is never ``inf`` or ``NaN``: counts anywhere in
the float64 range are handled in a scaled (logarithmic) form, and a weight that float64
cannot hold (a ratio of counts beyond ``1e308``) is refused with a message.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wxent import _fx, _labels
from wxent import _validation as v
from wxent._schemes import DIRECT, direct_scheme, log_scheme, lse
from wxent.counting import LabelCounter, count, label_counts

__all__ = ["LabelCounter", "class_prior", "class_weights", "label_counts", "pos_weights"]

SCHEMES = ("balanced", "inverse", "inverse_sqrt", "effective_number", "median_frequency")
NORMALIZATIONS = (None, "sum", "mean")
ZERO_COUNT = ("raise", "zero", "max")
PRIOR_ZERO_COUNT = ("raise", "min", "laplace")


def _counts_from(
    labels: Any,
    counts: Any,
    *,
    multi_label: bool,
    num_classes: int | None,
    sample_weight: Any,
    classes: Any,
    every_class: tuple[str, str] | None = None,
) -> tuple[np.ndarray, str, list[Any] | None]:
    """The counts, the name of the argument they came from, and the class names."""
    if isinstance(labels, LabelCounter) and counts is None:  # class_weights(counter)
        labels, counts = None, labels
    if (labels is None) == (counts is None):
        raise v.value_error(
            "labels",
            "exactly one of `labels` and `counts`",
            "both" if labels is not None else "neither",
        )
    if labels is not None:
        arr, found = count(
            labels,
            num_classes=num_classes,
            multi_label=multi_label,
            sample_weight=sample_weight,
            classes=classes,
            every_class=every_class,
        )
        return arr, "labels", found
    if sample_weight is not None:
        raise v.value_error(
            "sample_weight",
            "None when `counts` are given (weight the samples while counting)",
            v._short(sample_weight),
        )
    names: list[Any] | None = None
    if isinstance(counts, LabelCounter):
        if counts.multi_label != multi_label:
            use = "pos_weights" if counts.multi_label else "class_weights or class_prior"
            raise v.value_error(
                "counts",
                f"a LabelCounter with multi_label={multi_label} (use {use} for the other)",
                f"a LabelCounter with multi_label={counts.multi_label}",
            )
        arr, names = counts.counts, counts._names
    else:
        arr = _labels.host("counts", counts).astype(np.float64)
    v.check_finite_nonnegative("counts", arr)
    expected = "(2, L): negatives and positives per label" if multi_label else "(C,)"
    if (multi_label and (arr.ndim != 2 or arr.shape[0] != 2)) or (
        not multi_label and arr.ndim != 1
    ):
        raise v.value_error("counts", f"counts of shape {expected}", f"shape {arr.shape}")
    arr, names = _named(arr, names, _labels.check_classes(classes))
    if num_classes is not None and arr.shape[-1] != num_classes:
        raise v.value_error(
            "num_classes", f"the number of counts {arr.shape[-1]}", f"num_classes={num_classes}"
        )
    return arr, "counts", names


def _named(
    arr: np.ndarray, names: list[Any] | None, classes: list[Any] | None
) -> tuple[np.ndarray, list[Any] | None]:
    """Counts in the order of ``classes`` (names the entries of plain counts)."""
    if classes is None:
        return arr, names
    if names is None:
        if len(classes) != arr.shape[-1]:
            raise v.value_error(
                "classes",
                f"one class per count ({arr.shape[-1]})",
                f"{len(classes)} class(es)",
            )
        return arr, classes
    where = {c: i for i, c in enumerate(classes)}
    unknown = [c for c in names if c not in where]
    if unknown:
        raise v.value_error(
            "classes",
            "every class of the counter",
            f"{len(unknown)} class(es) of the counter missing, e.g. {unknown[0]!r}",
        )
    out = np.zeros((*arr.shape[:-1], len(classes)))
    out[..., [where[c] for c in names]] = arr
    return out, classes


def _check_zero_count(zero_count: Any) -> str:
    return str(v.check_choice("zero_count", zero_count, ZERO_COUNT))


def _result(w: np.ndarray, names: list[Any] | None, as_dict: bool) -> Any:
    return _labels.as_dict(w, names) if as_dict else w


def _too_wide(name: str, what: str, log_w: float) -> ValueError:
    """Counts whose weights (or frequencies) float64 cannot hold."""
    plural = what.replace("y", "ie") + "s"
    return v.value_error(
        name,
        f"counts whose {plural} fit in float64 (the counts differ by a factor beyond "
        "what float64 holds; rescale or clip them)",
        f"a {what} of about 1e{log_w / np.log(10):.0f}",
    )


@_fx.leaf
def class_weights(
    labels: Any = None,
    *,
    counts: Any = None,
    scheme: str = "balanced",
    normalize: str | None = None,
    beta: float = 0.999,
    zero_count: str = "raise",
    num_classes: int | None = None,
    sample_weight: Any = None,
    classes: Any = None,
    as_dict: bool = False,
) -> Any:
    """Per-class weights from class labels or class counts (``class_weight=``).

    With ``n_c`` the (weighted) count of class ``c``, ``n = sum_c n_c`` and ``C`` classes:

    ======================  ================================  ===============================
    ``scheme``              weight of class ``c``             use when
    ======================  ================================  ===============================
    ``"balanced"``          ``n / (C * n_c)``                 the default; scikit-learn's
                                                              ``compute_class_weight``; the
                                                              weighted classes contribute
                                                              equally, mean weight over
                                                              samples is 1
    ``"inverse"``           ``1 / n_c``                       the same ratios, unscaled
    ``"inverse_sqrt"``      ``1 / sqrt(n_c)``                 strong imbalance (1:100 and
                                                              more) where full inverse
                                                              weights make training noisy
    ``"effective_number"``  ``(1 - beta) / (1 - beta**n_c)``  Cui et al. 2019: long tails;
                                                              ``beta -> 1`` approaches
                                                              inverse, ``beta = 0`` gives 1
    ``"median_frequency"``  ``median_c(f_c) / f_c``           segmentation (Eigen & Fergus);
                            with ``f_c = n_c / n``            the median class gets 1
    ======================  ================================  ===============================

    ``normalize=None`` keeps the scheme's scale; ``"sum"`` divides by the sum (weights
    sum to 1); ``"mean"`` makes them average 1 (sum to ``C``) — the usual choice for
    ``effective_number``. With ``"sum"`` or ``"mean"``, ``balanced`` and ``inverse``
    coincide. ``median_frequency`` takes the median over the classes that occur.

    **The scale matters with** ``reduction="mean"`` (the default of the losses): the
    loss is ``sum_i w_{y_i} l_i / N``, so weights that sum to 1 (``normalize="sum"``)
    shrink the loss, and its gradients, about ``C`` times — as a learning rate ``C``
    times smaller would. Prefer ``None`` (``balanced`` keeps the mean weight over samples
    at 1) or ``"mean"``; or use ``reduction="weighted_mean"``, which divides by the sum
    of the weights and so ignores their scale.

    Zero counts (``zero_count``): ``"raise"`` (default) names the classes without
    samples; ``"zero"`` gives them weight 0 (they cannot appear in the loss of the data
    they were counted on); ``"max"`` gives them the largest weight of the classes seen
    (treat them as the rarest). The policy applies before normalising.

    The result is never ``inf`` or ``NaN``: counts far outside ``[1e-100, 1e100]`` are
    weighed in logs, and a weight beyond float64 (counts differing by more than about
    ``1e308``) raises a ``ValueError``.

    Args:
        labels: class labels (any framework, any shape): integer class indices, or class
            names (``str``, ``bool``, pandas categorical, pyarrow dictionary array); or
            ``None`` with ``counts``.
        counts: per-class counts ``(C,)`` or a :class:`LabelCounter`, instead of labels.
        scheme: one of the schemes above.
        normalize: ``None``, ``"sum"`` or ``"mean"``.
        beta: ``beta`` in ``[0, 1)`` for ``"effective_number"`` (0.99 to 0.9999 usual).
        zero_count: ``"raise"``, ``"zero"`` or ``"max"``.
        num_classes: ``C`` (integer labels: classes ``>= max(labels) + 1`` that never
            occur count 0).
        sample_weight: per-sample weights for counting (labels only).
        classes: the classes in order, as scikit-learn's ``compute_class_weight``
            (a label not in ``classes`` is an error; a class without labels follows
            ``zero_count``); with ``counts``, the class of each count.
        as_dict: return ``{class: weight}`` (Python scalars as keys, float values).

    Returns:
        ``float64`` weights of shape ``(C,)`` in the order of the classes; a dict with
        ``as_dict=True``.

    Raises:
        TypeError: for labels or options of the wrong type.
        ValueError: for bad values, zero counts with ``zero_count="raise"``, or weights
            that float64 cannot hold.

    Example:
        >>> import numpy as np, wxent
        >>> labels = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2])
        >>> wxent.class_weights(labels)
        array([0.5, 1.5, 3. ])
        >>> wxent.class_weights(labels, scheme="inverse", normalize="sum")
        array([0.1, 0.3, 0.6])
        >>> wxent.class_weights(["cat", "dog", "dog", "dog"], as_dict=True)
        {'cat': 2.0, 'dog': 0.6666666666666666}
    """
    v.check_choice("scheme", scheme, SCHEMES)
    v.check_choice("normalize", normalize, NORMALIZATIONS)
    beta = v.check_unit_open_float("beta", beta)
    zero_count = _check_zero_count(zero_count)
    num_classes = v.check_num_classes(num_classes)
    as_dict = v.check_bool("as_dict", as_dict)
    n_c, name, names = _counts_from(
        labels,
        counts,
        multi_label=False,
        num_classes=num_classes,
        sample_weight=sample_weight,
        classes=classes,
        every_class=("sample", '"zero" or "max"') if zero_count == "raise" else None,
    )
    missing = n_c == 0
    if missing.all():
        raise v.value_error(
            name, "at least one counted sample", f"no samples in {n_c.size} class(es)"
        )
    if missing.any() and zero_count == "raise":
        raise _zero_count_error(name, "sample", missing, names)
    present = n_c[~missing]
    if DIRECT[0] <= present.min() and present.max() <= DIRECT[1]:
        with np.errstate(all="ignore"):
            w = direct_scheme(n_c, missing, scheme, beta)
            w = _normalize(_apply_zero_policy(w, missing, zero_count), normalize)
        if np.isfinite(w).all() and (w[~missing] > 0).all():
            return _result(w, names, as_dict)
    log_w = _apply_zero_policy(log_scheme(n_c, missing, scheme, beta), missing, zero_count)
    if zero_count == "zero":
        log_w = np.where(missing, -np.inf, log_w)
    finite = log_w[np.isfinite(log_w)]
    if normalize == "sum":
        log_w = log_w - lse(finite)
    elif normalize == "mean":
        log_w = log_w + np.log(n_c.size) - lse(finite)
    with np.errstate(over="ignore", under="ignore"):
        w = np.exp(log_w)
    counted = np.isfinite(log_w)
    bad = counted & ~((w > 0) & np.isfinite(w))
    if bad.any():
        raise _too_wide(name, "weight", float(log_w[bad][0]))
    return _result(w, names, as_dict)


def _zero_count_error(
    name: str, what: str, missing: np.ndarray, names: list[Any] | None, policies: str = ""
) -> ValueError:
    where = np.flatnonzero(missing).tolist()
    shown = where if names is None else [names[i] for i in where]
    if policies:
        return v.zero_count_error(name, what, shown, missing.size, policies)
    return v.zero_count_error(name, what, shown, missing.size)


def _apply_zero_policy(w: np.ndarray, missing: np.ndarray, zero_count: str) -> np.ndarray:
    """Replace the weights of classes without samples (``missing``) per the policy."""
    if not missing.any():
        return w
    out = w.copy()
    if zero_count == "zero" or missing.all():
        out[missing] = 0.0
    else:  # "max": as heavy as the rarest class seen
        out[missing] = out[~missing].max()
    return out


def _normalize(w: np.ndarray, normalize: str | None) -> np.ndarray:
    if normalize is None:
        return w
    total = float(w.sum())
    if total == 0:
        return w
    return w / total if normalize == "sum" else w * (w.size / total)


@_fx.leaf
def pos_weights(
    labels: Any = None,
    *,
    counts: Any = None,
    max_weight: float | None = None,
    zero_count: str = "raise",
    sample_weight: Any = None,
    classes: Any = None,
    as_dict: bool = False,
) -> Any:
    """``pos_weight`` per label from a multi-hot matrix: negatives / positives.

    ``pos_weight[l] = counts[0, l] / counts[1, l]``: with it, the positives of label ``l``
    weigh as much in :func:`wxent.sigmoid_cross_entropy` as its negatives, which stops
    a multi-label model from predicting all zeros. ``max_weight`` caps the weights
    (e.g. 50) so that a label with a handful of positives does not dominate.

    Zero positives (``zero_count``): ``"raise"`` (default) names the labels without
    positives; ``"zero"`` gives them weight 0 (no positive term exists to weigh);
    ``"max"`` gives them the largest weight of the other labels. A label without
    negatives gets ``0 / positives = 0``. Never ``inf`` or ``NaN``: a ratio beyond
    float64 is capped by ``max_weight`` when given, else refused with a message.

    Args:
        labels: a multi-hot matrix ``(N, L)`` of any dtype (entries that are neither 0
            nor 1, such as ``-1``, are not counted), a pandas or pyarrow table (its
            column names name the labels), or a list of tag sets
            (``[["cat", "dog"], ["dog"], []]``); or ``None`` with ``counts``.
        counts: ``(2, L)`` counts (row 0 negatives, row 1 positives) or a multi-label
            :class:`LabelCounter`.
        max_weight: an optional cap ``> 0``.
        zero_count: ``"raise"``, ``"zero"`` or ``"max"``.
        sample_weight: per-row ``(N,)`` or per-element ``(N, L)`` weights (labels only).
        classes: the names of the ``L`` labels (for tag sets: the tags, in order).
        as_dict: return ``{label: weight}`` (Python scalars as keys, float values).

    Returns:
        ``float64`` weights of shape ``(L,)``; a dict with ``as_dict=True``.

    Raises:
        TypeError: for labels or options of the wrong type.
        ValueError: for bad values, labels without positives with
            ``zero_count="raise"``, or ratios that float64 cannot hold.

    Example:
        >>> import numpy as np, wxent
        >>> labels = np.array([[1, 0], [0, 0], [0, 1], [0, 0], [0, 0]])
        >>> wxent.pos_weights(labels)
        array([4., 4.])
        >>> wxent.pos_weights([["cat"], ["dog"], [], ["cat", "dog"], []], as_dict=True)
        {'cat': 1.5, 'dog': 1.5}
    """
    max_weight = v.check_optional_positive_float("max_weight", max_weight)
    zero_count = _check_zero_count(zero_count)
    as_dict = v.check_bool("as_dict", as_dict)
    c, name, names = _counts_from(
        labels,
        counts,
        multi_label=True,
        num_classes=None,
        sample_weight=sample_weight,
        classes=classes,
    )
    negatives, positives = c[0], c[1]
    missing = positives == 0
    if missing.any() and zero_count == "raise":
        raise _zero_count_error(name, "positive", missing, names)
    with np.errstate(all="ignore"):
        w = negatives / np.where(missing, 1.0, positives)
        log_w = np.log(negatives) - np.log(np.where(missing, 1.0, positives))
    if max_weight is not None:
        w = np.where(log_w >= np.log(max_weight), max_weight, w)
    bad = ~missing & ~(np.isfinite(w) & ((w > 0) | (negatives == 0)))
    if bad.any():
        raise _too_wide(name, "weight", float(log_w[bad][0]))
    w = _apply_zero_policy(w, missing, zero_count)
    if max_weight is not None:
        w = np.minimum(w, max_weight)
    return _result(w, names, as_dict)


@_fx.leaf
def class_prior(
    labels: Any = None,
    *,
    counts: Any = None,
    num_classes: int | None = None,
    zero_count: str = "raise",
    sample_weight: Any = None,
    classes: Any = None,
    as_dict: bool = False,
) -> Any:
    """Class frequencies ``n_c / n`` (the ``class_prior`` of logit adjustment).

    Logit adjustment takes ``log(prior)``, so a zero frequency would become ``-inf``
    (and ``adjust_logits`` would then always pick that class). Zero counts
    (``zero_count``): ``"raise"`` (default) names the classes without samples;
    ``"min"`` counts each of them like the rarest class seen, then renormalises;
    ``"laplace"`` adds one to every count (``(n_c + 1) / (n + C)``). The result is
    always positive and sums to 1 (counts whose ratio float64 cannot hold are refused).

    Args:
        labels: class labels (indices or names, as :func:`class_weights`), or ``None``
            with ``counts``.
        counts: per-class counts ``(C,)`` or a :class:`LabelCounter`.
        num_classes: ``C``.
        zero_count: ``"raise"``, ``"min"`` or ``"laplace"``.
        sample_weight: per-sample weights for counting (labels only).
        classes: the classes in order (see :func:`class_weights`).
        as_dict: return ``{class: frequency}``.

    Returns:
        ``float64`` frequencies of shape ``(C,)``, positive, summing to 1; a dict with
        ``as_dict=True``.

    Raises:
        TypeError: for labels or options of the wrong type.
        ValueError: for bad values, or zero counts with ``zero_count="raise"``.

    Example:
        >>> import numpy as np, wxent
        >>> wxent.class_prior(np.array([0, 0, 0, 1]))
        array([0.75, 0.25])
        >>> wxent.class_prior(np.array([0, 0, 0, 1]), num_classes=3, zero_count="laplace")
        array([0.57142857, 0.28571429, 0.14285714])
    """
    zero_count = str(v.check_choice("zero_count", zero_count, PRIOR_ZERO_COUNT))
    num_classes = v.check_num_classes(num_classes)
    as_dict = v.check_bool("as_dict", as_dict)
    n_c, name, names = _counts_from(
        labels,
        counts,
        multi_label=False,
        num_classes=num_classes,
        sample_weight=sample_weight,
        classes=classes,
        every_class=("sample", '"min" or "laplace"') if zero_count == "raise" else None,
    )
    missing = n_c == 0
    if missing.all() and zero_count != "laplace":
        raise v.value_error(
            name, "at least one counted sample", f"no samples in {n_c.size} class(es)"
        )
    if missing.any():
        if zero_count == "raise":
            raise _zero_count_error(name, "sample", missing, names, '"min" or "laplace"')
        if zero_count == "min":
            n_c = np.where(missing, n_c[~missing].min(), n_c)
    if zero_count == "laplace":
        n_c = n_c + 1.0
    with np.errstate(all="ignore"):
        prior = n_c / n_c.sum()
    if not (np.isfinite(prior).all() and (prior > 0).all()):
        with np.errstate(under="ignore"):
            scaled = n_c / n_c.max()
            prior = scaled / scaled.sum()
        if not (prior > 0).all():
            log_p = np.log(n_c[prior == 0][0]) - np.log(n_c.max()) - np.log(scaled.sum())
            raise _too_wide(name, "frequency", float(log_p))
    return _result(prior, names, as_dict)
