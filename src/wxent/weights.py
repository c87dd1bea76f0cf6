"""Counts and weights from your own labels: class weights, ``pos_weight`` and priors.

Everything here runs on the host, once, before training: labels of any framework
(NumPy arrays, lists, PyTorch, JAX or TensorFlow tensors, or batches of them from a
``DataLoader`` or ``tf.data`` loop) are copied to NumPy and counted. **Counts and weights
are returned as NumPy ``float64`` arrays** — always floats, because counts weighted by
``sample_weight`` are fractional — and every loss of wxent accepts them as they are
(they are moved to the logits' framework, device and dtype there).

* :func:`label_counts` and :class:`LabelCounter` count classes (``(C,)``) or, for
  multi-hot matrices, the 0s and 1s of every label (``(2, L)``).
* :func:`class_weights` turns class counts into per-class weights (``class_weight``).
* :func:`pos_weights` turns multi-label counts into negatives / positives per label
  (``pos_weight``).
* :func:`class_prior` turns class counts into frequencies (``class_prior`` of
  :func:`wxent.logit_adjusted_cross_entropy` and :func:`wxent.adjust_logits`).

The weight functions take ``labels`` or ``counts=`` (an array of counts or a
:class:`LabelCounter`; a counter passed as ``labels`` is used as counts).

A class that never occurs cannot get a weight from its count. Each function follows a
stated ``zero_count`` policy and never returns ``inf`` or ``NaN``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from wxent import _namespace as ns
from wxent import _validation as v

__all__ = ["LabelCounter", "class_prior", "class_weights", "label_counts", "pos_weights"]

SCHEMES = ("balanced", "inverse", "inverse_sqrt", "effective_number", "median_frequency")
NORMALIZATIONS = (None, "sum", "mean")
ZERO_COUNT = ("raise", "zero", "max")
PRIOR_ZERO_COUNT = ("raise", "min", "laplace")


# ----------------------------------------------------------------------------- host arrays


def _host(name: str, value: Any) -> np.ndarray:
    """A concrete array of any framework (or a list) as NumPy."""
    if ns.is_array(value) and not isinstance(value, np.ndarray):
        if not ns.is_concrete(value):
            raise v.type_error(
                name,
                "concrete values (counting runs on the host, outside jit/tf.function)",
                f"a traced {type(value).__name__}",
            )
        return ns.to_numpy(value)
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise v.type_error(name, "an array or a list of numbers", v._short(value)) from None
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise v.type_error(
            name, "an array of numbers", f"{name} with dtype {arr.dtype} ({v._short(value)})"
        )
    return arr


def _class_indices(labels: np.ndarray) -> np.ndarray:
    """Integer (or boolean, or whole-valued floating) labels as ``int64``."""
    if labels.dtype.kind in "iub":
        return labels.astype(np.int64)
    if labels.dtype.kind == "f":
        whole = np.isfinite(labels) & (labels == np.round(labels))
        if not whole.all():
            first = labels[~whole].ravel()[0]
            raise v.value_error(
                "labels",
                "integer class indices (floating labels must hold whole numbers; for a "
                "multi-hot matrix pass multi_label=True)",
                f"label value {float(first)!r}",
            )
        return labels.astype(np.int64)
    raise v.type_error(
        "labels", "integer class indices", f"labels with dtype {v.dtype_name(labels.dtype)}"
    )


def _sample_weight(value: Any, labels: np.ndarray, *, multi_label: bool) -> np.ndarray | None:
    if value is None:
        return None
    sw = _host("sample_weight", value).astype(np.float64)
    v.check_finite_nonnegative("sample_weight", sw)
    if sw.shape == labels.shape:
        return sw
    if multi_label and labels.ndim >= 1 and sw.shape == labels.shape[:-1]:
        return np.broadcast_to(sw[..., None], labels.shape)
    allowed = f"the shape of `labels` {labels.shape}"
    if multi_label:
        allowed += f" or one weight per row {labels.shape[:-1]}"
    raise v.value_error("sample_weight", allowed, f"sample_weight of shape {sw.shape}")


# ----------------------------------------------------------------------------- counting


def label_counts(
    labels: Any,
    *,
    num_classes: int | None = None,
    multi_label: bool = False,
    ignore_index: int | None = None,
    sample_weight: Any = None,
) -> np.ndarray:
    """Count the classes in integer labels, or the 0s and 1s of a multi-hot matrix.

    *Class labels* (``multi_label=False``): every entry of ``labels`` (any shape, e.g.
    ``(N,)`` or a segmentation mask ``(N, H, W)``) is a class index;
    ``counts[c] = sum of sample_weight over the entries equal to c``.

    *Multi-hot labels* (``multi_label=True``): the last axis holds ``L`` independent
    binary labels (shape ``(N, L)``; a 1-D array is one label); ``counts[0, l]`` counts
    the 0s and ``counts[1, l]`` the 1s of label ``l``. Entries that are neither 0 nor 1
    (``-1`` for "unknown", NaN, soft labels) are counted in neither row. Never an argmax.

    Args:
        labels: integer class indices, or with ``multi_label=True`` a multi-hot matrix of
            any dtype. NumPy, lists, or concrete PyTorch/JAX/TensorFlow arrays.
        num_classes: ``C`` (default ``max(labels) + 1``); classes that do not occur get
            count 0. With ``multi_label=True``, if given, it must equal ``L``.
        multi_label: count a multi-hot matrix per label.
        ignore_index: a class label that is not counted (class labels only).
        sample_weight: non-negative weights, the shape of ``labels`` (or for multi-hot
            labels one weight per row): each entry counts as its weight.

    Returns:
        ``float64`` counts: ``(C,)``, or ``(2, L)`` with ``multi_label=True``.

    Raises:
        TypeError: for labels that are not numbers.
        ValueError: for negative or out-of-range class labels, or a wrong ``num_classes``
            or ``sample_weight`` shape.

    Example:
        >>> import numpy as np, wxent
        >>> wxent.label_counts(np.array([0, 2, 2, 1, 2]))
        array([1., 1., 3.])
        >>> wxent.label_counts(np.array([[1, 0], [0, 0], [1, -1]]), multi_label=True)
        array([[1., 2.],
               [2., 0.]])
    """
    multi_label = v.check_bool("multi_label", multi_label)
    num_classes = v.check_num_classes(num_classes)
    ignore_index = v.check_optional_int("ignore_index", ignore_index)
    arr = _host("labels", labels)
    if multi_label:
        return _multi_hot_counts(arr, num_classes, ignore_index, sample_weight)
    idx = _class_indices(arr)
    sw = _sample_weight(sample_weight, idx, multi_label=False)
    v.check_class_labels_for_counting(idx, num_classes, ignore_index)
    keep = np.ones(idx.shape, dtype=bool) if ignore_index is None else idx != ignore_index
    kept = idx[keep]
    size = num_classes if num_classes is not None else (int(kept.max()) + 1 if kept.size else 0)
    weights = None if sw is None else sw[keep]
    return np.bincount(kept, weights=weights, minlength=size).astype(np.float64)


def _multi_hot_counts(
    arr: np.ndarray, num_classes: int | None, ignore_index: int | None, sample_weight: Any
) -> np.ndarray:
    if arr.dtype.kind not in "iubf":
        raise v.type_error(
            "labels", "a multi-hot matrix of numbers", f"labels with dtype {arr.dtype}"
        )
    if ignore_index is not None and ignore_index in (0, 1):
        raise v.value_error(
            "ignore_index",
            "a value other than 0 and 1 for multi-hot labels (entries that are neither 0 "
            "nor 1 are never counted)",
            f"ignore_index={ignore_index}",
        )
    if arr.ndim == 0:
        raise v.value_error(
            "labels", "a multi-hot matrix (N, L) (or a 1-D array for one label)", "a scalar"
        )
    if arr.ndim == 1:
        arr = arr[:, None]
    width = arr.shape[-1]
    if num_classes is not None and num_classes != width:
        raise v.value_error(
            "num_classes",
            f"the number of labels L={width} (the last axis of the multi-hot matrix)",
            f"num_classes={num_classes}",
        )
    sw = _sample_weight(sample_weight, arr, multi_label=True)
    ones = np.ones(arr.shape) if sw is None else sw
    axes = tuple(range(arr.ndim - 1))
    negatives = np.where(arr == 0, ones, 0.0).sum(axis=axes)
    positives = np.where(arr == 1, ones, 0.0).sum(axis=axes)
    return np.stack([negatives, positives]).astype(np.float64)


def _pad(counts: np.ndarray, size: int) -> np.ndarray:
    extra = size - counts.shape[-1]
    if extra <= 0:
        return counts
    widths = [(0, 0)] * (counts.ndim - 1) + [(0, extra)]
    return np.pad(counts, widths)


class LabelCounter:
    """Streaming label counts: update batch by batch, add counters to merge shards.

    The running result of :func:`label_counts` over all batches seen: ``(C,)`` class
    counts, or ``(2, L)`` with ``multi_label=True``. Without ``num_classes`` the class
    count grows with the largest label seen. Counters add (``a + b``, also ``sum(...)``),
    so each data shard or worker can count its part and the parts merge exactly.

    Args:
        num_classes: ``C`` (or ``L`` for multi-hot labels), or ``None`` to infer it.
        multi_label: count multi-hot matrices per label.
        ignore_index: a class label that is not counted (class labels only).

    Example:
        >>> import numpy as np, wxent
        >>> counter = wxent.LabelCounter(num_classes=3)
        >>> for batch in [np.array([0, 1, 1]), np.array([1, 2])]:
        ...     _ = counter.update(batch)
        >>> counter.counts
        array([1., 3., 1.])
        >>> other = wxent.LabelCounter.from_batches([np.array([2, 2])], num_classes=3)
        >>> (counter + other).counts
        array([1., 3., 3.])
    """

    def __init__(
        self,
        num_classes: int | None = None,
        *,
        multi_label: bool = False,
        ignore_index: int | None = None,
    ) -> None:
        self.num_classes = v.check_num_classes(num_classes)
        self.multi_label = v.check_bool("multi_label", multi_label)
        self.ignore_index = v.check_optional_int("ignore_index", ignore_index)
        self._counts: np.ndarray | None = None
        if self.num_classes is not None:
            shape = (2, self.num_classes) if self.multi_label else (self.num_classes,)
            self._counts = np.zeros(shape)

    @property
    def counts(self) -> np.ndarray:
        """The counts so far (a ``float64`` copy): ``(C,)`` or ``(2, L)``."""
        if self._counts is None:
            return np.zeros((2, 0) if self.multi_label else (0,))
        return self._counts.copy()

    def update(self, labels: Any, sample_weight: Any = None) -> LabelCounter:
        """Add one batch of labels (and optional ``sample_weight``); returns ``self``."""
        batch = label_counts(
            labels,
            num_classes=self.num_classes,
            multi_label=self.multi_label,
            ignore_index=self.ignore_index,
            sample_weight=sample_weight,
        )
        self._merge(batch)
        return self

    def _merge(self, batch: np.ndarray) -> None:
        if self._counts is None:
            self._counts = batch.copy()
            return
        if self.multi_label and batch.shape != self._counts.shape:
            raise v.value_error(
                "labels",
                f"multi-hot batches with L={self._counts.shape[-1]} labels, like the previous ones",
                f"a batch with L={batch.shape[-1]}",
            )
        size = max(batch.shape[-1], self._counts.shape[-1])
        self._counts = _pad(self._counts, size) + _pad(batch, size)

    @classmethod
    def from_batches(
        cls,
        batches: Iterable[Any],
        num_classes: int | None = None,
        *,
        multi_label: bool = False,
        ignore_index: int | None = None,
    ) -> LabelCounter:
        """Count every batch of an iterable (a ``DataLoader``, a ``tf.data`` dataset, ...).

        Each item is a labels array, or a ``(features, labels)`` or
        ``(features, labels, sample_weight)`` tuple or list of arrays, as yielded by
        ``DataLoader(TensorDataset(x, y))``, ``tf.data.Dataset.from_tensor_slices((x, y))``
        and Keras. For other layouts, map the iterable first, e.g.
        ``(batch["label"] for batch in loader)``.

        Args:
            batches: an iterable of batches.
            num_classes: as for :class:`LabelCounter`.
            multi_label: as for :class:`LabelCounter`.
            ignore_index: as for :class:`LabelCounter`.

        Returns:
            A new counter holding the counts of all batches.
        """
        counter = cls(num_classes, multi_label=multi_label, ignore_index=ignore_index)
        for item in batches:
            if (
                isinstance(item, (tuple, list))
                and len(item) in (2, 3)
                and all(ns.is_array(part) or isinstance(part, np.ndarray) for part in item)
            ):
                counter.update(item[1], item[2] if len(item) == 3 else None)
            else:
                counter.update(item)
        return counter

    def __add__(self, other: Any) -> LabelCounter:
        """A new counter holding the counts of both (shards merge)."""
        if isinstance(other, int) and other == 0:  # sum() starts from 0
            other = LabelCounter(self.num_classes, multi_label=self.multi_label)
        if not isinstance(other, LabelCounter):
            raise v.type_error(
                "other", "a LabelCounter", f"an object of type {type(other).__name__}"
            )
        if other.multi_label != self.multi_label:
            raise v.value_error(
                "other",
                f"a LabelCounter with multi_label={self.multi_label}",
                f"multi_label={other.multi_label}",
            )
        if (
            self.num_classes is not None
            and other.num_classes is not None
            and self.num_classes != other.num_classes
        ):
            raise v.value_error(
                "other",
                f"a LabelCounter with num_classes={self.num_classes}",
                f"num_classes={other.num_classes}",
            )
        num_classes = self.num_classes if self.num_classes is not None else other.num_classes
        out = LabelCounter(
            num_classes, multi_label=self.multi_label, ignore_index=self.ignore_index
        )
        for part in (self, other):
            if part._counts is not None:
                out._merge(part._counts)
        return out

    __radd__ = __add__

    def __repr__(self) -> str:
        return (
            f"LabelCounter(num_classes={self.num_classes}, multi_label={self.multi_label}, "
            f"counts={self.counts.tolist()})"
        )


# ----------------------------------------------------------------------------- weights


def _counts_from(
    labels: Any,
    counts: Any,
    *,
    multi_label: bool,
    num_classes: int | None,
    sample_weight: Any,
) -> tuple[np.ndarray, str]:
    """The counts and the name of the argument they came from."""
    if isinstance(labels, LabelCounter) and counts is None:  # class_weights(counter)
        labels, counts = None, labels
    if (labels is None) == (counts is None):
        raise v.value_error(
            "labels",
            "exactly one of `labels` and `counts`",
            "both" if labels is not None else "neither",
        )
    if labels is not None:
        return (
            label_counts(
                labels,
                num_classes=num_classes,
                multi_label=multi_label,
                sample_weight=sample_weight,
            ),
            "labels",
        )
    if sample_weight is not None:
        raise v.value_error(
            "sample_weight",
            "None when `counts` are given (weight the samples while counting)",
            v._short(sample_weight),
        )
    if isinstance(counts, LabelCounter):
        if counts.multi_label != multi_label:
            use = "pos_weights" if counts.multi_label else "class_weights or class_prior"
            raise v.value_error(
                "counts",
                f"a LabelCounter with multi_label={multi_label} (use {use} for the other)",
                f"a LabelCounter with multi_label={counts.multi_label}",
            )
        arr = counts.counts
    else:
        arr = _host("counts", counts).astype(np.float64)
    v.check_finite_nonnegative("counts", arr)
    expected = "(2, L): negatives and positives per label" if multi_label else "(C,)"
    if (multi_label and (arr.ndim != 2 or arr.shape[0] != 2)) or (
        not multi_label and arr.ndim != 1
    ):
        raise v.value_error("counts", f"counts of shape {expected}", f"shape {arr.shape}")
    if num_classes is not None and arr.shape[-1] != num_classes:
        raise v.value_error(
            "num_classes", f"the number of counts {arr.shape[-1]}", f"num_classes={num_classes}"
        )
    return arr, "counts"


def _check_zero_count(zero_count: Any) -> str:
    return str(v.check_choice("zero_count", zero_count, ZERO_COUNT))


def _apply_zero_policy(
    weights: np.ndarray, missing: np.ndarray, zero_count: str, name: str, what: str
) -> np.ndarray:
    """Replace the weights of classes without samples (``missing``) per the policy."""
    if not missing.any():
        return weights
    if zero_count == "raise":
        raise v.zero_count_error(name, what, np.flatnonzero(missing).tolist(), missing.size)
    out = weights.copy()
    if zero_count == "zero" or missing.all():
        out[missing] = 0.0
    else:  # "max": as heavy as the rarest class seen
        out[missing] = out[~missing].max()
    return out


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
) -> np.ndarray:
    """Per-class weights from integer labels or class counts (``class_weight=``).

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

    Zero counts (``zero_count``): ``"raise"`` (default) names the classes without
    samples; ``"zero"`` gives them weight 0 (they cannot appear in the loss of the data
    they were counted on); ``"max"`` gives them the largest weight of the classes seen
    (treat them as the rarest). The policy applies before normalising; the result is
    never ``inf`` or ``NaN``.

    Args:
        labels: integer class labels (any framework, any shape), or ``None`` with
            ``counts``.
        counts: per-class counts ``(C,)`` or a :class:`LabelCounter`, instead of labels.
        scheme: one of the schemes above.
        normalize: ``None``, ``"sum"`` or ``"mean"``.
        beta: ``beta`` in ``[0, 1)`` for ``"effective_number"`` (0.99 to 0.9999 usual).
        zero_count: ``"raise"``, ``"zero"`` or ``"max"``.
        num_classes: ``C`` (classes ``>= max(labels) + 1`` that never occur count 0).
        sample_weight: per-sample weights for counting (labels only).

    Returns:
        ``float64`` weights of shape ``(C,)``.

    Raises:
        TypeError: for labels or options of the wrong type.
        ValueError: for bad values, or zero counts with ``zero_count="raise"``.

    Example:
        >>> import numpy as np, wxent
        >>> labels = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2])
        >>> wxent.class_weights(labels)
        array([0.5, 1.5, 3. ])
        >>> wxent.class_weights(labels, scheme="inverse", normalize="sum")
        array([0.1, 0.3, 0.6])
    """
    v.check_choice("scheme", scheme, SCHEMES)
    v.check_choice("normalize", normalize, NORMALIZATIONS)
    beta = v.check_unit_open_float("beta", beta)
    zero_count = _check_zero_count(zero_count)
    num_classes = v.check_num_classes(num_classes)
    n_c, name = _counts_from(
        labels, counts, multi_label=False, num_classes=num_classes, sample_weight=sample_weight
    )
    missing = n_c == 0
    if missing.all():
        raise v.value_error(
            name, "at least one counted sample", f"no samples in {n_c.size} class(es)"
        )
    safe = np.where(missing, 1.0, n_c)
    total = float(n_c.sum())
    size = n_c.size
    if scheme == "balanced":
        w = total / (size * safe)
    elif scheme == "inverse":
        w = 1.0 / safe
    elif scheme == "inverse_sqrt":
        w = 1.0 / np.sqrt(safe)
    elif scheme == "effective_number":
        w = (1.0 - beta) / -np.expm1(safe * np.log(beta)) if beta > 0 else np.ones(size)
    else:  # median_frequency
        freq = safe / total
        w = float(np.median(freq[~missing])) / freq
    w = _apply_zero_policy(w, missing, zero_count, name, "sample")
    return _normalize(w, normalize)


def _normalize(w: np.ndarray, normalize: str | None) -> np.ndarray:
    if normalize is None:
        return w
    total = float(w.sum())
    if total == 0:
        return w
    return w / total if normalize == "sum" else w * (w.size / total)


def pos_weights(
    labels: Any = None,
    *,
    counts: Any = None,
    max_weight: float | None = None,
    zero_count: str = "raise",
    sample_weight: Any = None,
) -> np.ndarray:
    """``pos_weight`` per label from a multi-hot matrix: negatives / positives.

    ``pos_weight[l] = counts[0, l] / counts[1, l]``: with it, the positives of label ``l``
    weigh as much in :func:`wxent.sigmoid_cross_entropy` as its negatives, which stops
    a multi-label model from predicting all zeros. ``max_weight`` caps the weights
    (e.g. 50) so that a label with a handful of positives does not dominate.

    Zero positives (``zero_count``): ``"raise"`` (default) names the labels without
    positives; ``"zero"`` gives them weight 0 (no positive term exists to weigh);
    ``"max"`` gives them the largest weight of the other labels. A label without
    negatives gets ``0 / positives = 0``. Never ``inf`` or ``NaN``.

    Args:
        labels: a multi-hot matrix ``(N, L)`` of any dtype (entries that are neither 0
            nor 1, such as ``-1``, are not counted), or ``None`` with ``counts``.
        counts: ``(2, L)`` counts (row 0 negatives, row 1 positives) or a multi-label
            :class:`LabelCounter`.
        max_weight: an optional cap ``> 0``.
        zero_count: ``"raise"``, ``"zero"`` or ``"max"``.
        sample_weight: per-row ``(N,)`` or per-element ``(N, L)`` weights (labels only).

    Returns:
        ``float64`` weights of shape ``(L,)``.

    Raises:
        TypeError: for labels or options of the wrong type.
        ValueError: for bad values, or labels without positives with
            ``zero_count="raise"``.

    Example:
        >>> import numpy as np, wxent
        >>> labels = np.array([[1, 0], [0, 0], [0, 1], [0, 0], [0, 0]])
        >>> wxent.pos_weights(labels)
        array([4., 4.])
    """
    max_weight = v.check_optional_positive_float("max_weight", max_weight)
    zero_count = _check_zero_count(zero_count)
    c, name = _counts_from(
        labels, counts, multi_label=True, num_classes=None, sample_weight=sample_weight
    )
    negatives, positives = c[0], c[1]
    missing = positives == 0
    w = negatives / np.where(missing, 1.0, positives)
    w = _apply_zero_policy(w, missing, zero_count, name, "positive")
    if max_weight is not None:
        w = np.minimum(w, max_weight)
    return w


def class_prior(
    labels: Any = None,
    *,
    counts: Any = None,
    num_classes: int | None = None,
    zero_count: str = "raise",
    sample_weight: Any = None,
) -> np.ndarray:
    """Class frequencies ``n_c / n`` (the ``class_prior`` of logit adjustment).

    Logit adjustment takes ``log(prior)``, so a zero frequency would become ``-inf``
    (and ``adjust_logits`` would then always pick that class). Zero counts
    (``zero_count``): ``"raise"`` (default) names the classes without samples;
    ``"min"`` counts each of them like the rarest class seen, then renormalises;
    ``"laplace"`` adds one to every count (``(n_c + 1) / (n + C)``). The result is
    always positive and sums to 1.

    Args:
        labels: integer class labels, or ``None`` with ``counts``.
        counts: per-class counts ``(C,)`` or a :class:`LabelCounter`.
        num_classes: ``C``.
        zero_count: ``"raise"``, ``"min"`` or ``"laplace"``.
        sample_weight: per-sample weights for counting (labels only).

    Returns:
        ``float64`` frequencies of shape ``(C,)``, positive, summing to 1.

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
    n_c, name = _counts_from(
        labels, counts, multi_label=False, num_classes=num_classes, sample_weight=sample_weight
    )
    missing = n_c == 0
    if missing.all() and zero_count != "laplace":
        raise v.value_error(
            name, "at least one counted sample", f"no samples in {n_c.size} class(es)"
        )
    if missing.any():
        if zero_count == "raise":
            raise v.zero_count_error(
                name, "sample", np.flatnonzero(missing).tolist(), n_c.size, '"min" or "laplace"'
            )
        if zero_count == "min":
            n_c = np.where(missing, n_c[~missing].min(), n_c)
    if zero_count == "laplace":
        n_c = n_c + 1.0
    return n_c / n_c.sum()
