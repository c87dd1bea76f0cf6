"""Label counts: :func:`label_counts` and the streaming :class:`LabelCounter`.

Counting runs on the host, once, before training: labels of any framework (NumPy
arrays, lists, PyTorch, JAX or TensorFlow tensors, or batches of them from a
``DataLoader`` or ``tf.data`` loop) are copied to NumPy and counted. Counts are NumPy
``float64`` arrays — floats, because counts weighted by ``sample_weight`` are
fractional. Labels are integer class indices, or class *names* (strings, bools,
pandas categoricals, pyarrow dictionary arrays), whose order ``classes=`` fixes as in
scikit-learn. :mod:`wxent.weights` turns counts into weights.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from wxent import _fx, _labels
from wxent import _namespace as ns
from wxent import _validation as v

__all__ = ["LabelCounter", "label_counts"]


@_fx.leaf
def label_counts(
    labels: Any,
    *,
    num_classes: int | None = None,
    multi_label: bool = False,
    ignore_index: int | None = None,
    sample_weight: Any = None,
    classes: Any = None,
    as_dict: bool = False,
) -> Any:
    """Count the classes in class labels, or the 0s and 1s of a multi-hot matrix.

    *Class labels* (``multi_label=False``): every entry of ``labels`` (any shape, e.g.
    ``(N,)`` or a segmentation mask ``(N, H, W)``) is a class: an integer class index,
    or a class name (``str``, ``bool``, a pandas categorical or a pyarrow dictionary
    array). ``counts[c] = sum of sample_weight over the entries of class c``. The
    classes are, in order: ``classes=`` when given (as scikit-learn's
    ``compute_class_weight``; a label not in it is an error); else ``0 .. C-1`` for
    integer labels, ``[False, True]`` for bools, the categories of a categorical, and
    the sorted distinct labels for strings.

    *Multi-hot labels* (``multi_label=True``): the last axis holds ``L`` independent
    binary labels (shape ``(N, L)``; a 1-D array is one label); ``counts[0, l]`` counts
    the 0s and ``counts[1, l]`` the 1s of label ``l``. Entries that are neither 0 nor 1
    (``-1`` for "unknown", NaN, soft labels) are counted in neither row. Never an
    argmax. A list of tag sets (``[["cat", "dog"], [], ["dog"]]``) is binarised first
    (labels: ``classes=``, or the sorted tags); ``classes=`` names the ``L`` columns of
    a matrix, and the column names of a pandas or pyarrow table name its labels.

    Args:
        labels: class labels, or with ``multi_label=True`` a multi-hot matrix of any
            dtype. NumPy, lists, concrete PyTorch/JAX/TensorFlow arrays, pandas or pyarrow.
        num_classes: ``C`` for integer labels (default ``max(labels) + 1``); classes that
            do not occur get count 0. For names and multi-hot labels, if given, it must
            equal the number of classes (labels).
        multi_label: count a multi-hot matrix per label.
        ignore_index: an integer class label that is not counted (class labels only),
            compared with the labels as they are held: a ``uint64`` marker such as
            ``2**64 - 1`` is ignored, where any other label of ``2**63`` or above is an
            error (class indices are ``int64``).
        sample_weight: non-negative weights, the shape of ``labels`` (or for multi-hot
            labels one weight per row): each entry counts as its weight.
        classes: the classes in order (class values as they appear in ``labels``), or
            for multi-hot labels the names of the ``L`` labels.
        as_dict: return ``{class: count}`` (Python scalars as keys, floats as values);
            for multi-hot labels ``{label: (negatives, positives)}``.

    Returns:
        ``float64`` counts: ``(C,)``, or ``(2, L)`` with ``multi_label=True``; a dict
        with ``as_dict=True``.

    Raises:
        TypeError: for labels that are neither numbers nor class names.
        ValueError: for negative or out-of-range class labels, labels not in
            ``classes``, or a wrong ``num_classes`` or ``sample_weight`` shape.

    Example:
        >>> import numpy as np, wxent
        >>> wxent.label_counts(np.array([0, 2, 2, 1, 2]))
        array([1., 1., 3.])
        >>> wxent.label_counts(["cat", "dog", "dog"], as_dict=True)
        {'cat': 1.0, 'dog': 2.0}
        >>> wxent.label_counts(np.array([[1, 0], [0, 0], [1, -1]]), multi_label=True)
        array([[1., 2.],
               [2., 0.]])
    """
    as_dict = v.check_bool("as_dict", as_dict)
    counts, names = count(
        labels,
        num_classes=num_classes,
        multi_label=multi_label,
        ignore_index=ignore_index,
        sample_weight=sample_weight,
        classes=classes,
    )
    if not as_dict:
        return counts
    if counts.ndim == 2:
        keys = list(range(counts.shape[1])) if names is None else names
        return {
            _labels.py(k): (float(n), float(p))
            for k, n, p in zip(keys, counts[0].tolist(), counts[1].tolist(), strict=True)
        }
    return _labels.as_dict(counts, names)


def count(
    labels: Any,
    *,
    num_classes: Any = None,
    multi_label: Any = False,
    ignore_index: Any = None,
    sample_weight: Any = None,
    classes: Any = None,
    every_class: tuple[str, str] | None = None,
) -> tuple[np.ndarray, list[Any] | None]:
    """The counts and the classes (``None`` for integer class indices).

    ``every_class=(what, policies)``: the caller refuses classes without samples; when
    the largest integer label implies many more classes than there are labels, that
    error is raised from the labels present, before any per-class array is allocated
    (a label ``50_000_000`` costs no 400 MB).
    """
    multi_label = v.check_bool("multi_label", multi_label)
    num_classes = v.check_num_classes(num_classes)
    ignore_index = v.check_optional_int("ignore_index", ignore_index)
    classes = _labels.check_classes(classes)
    if multi_label:
        arr, names = _labels.multi_hot(labels, classes)
        return _multi_hot_counts(arr, num_classes, ignore_index, sample_weight), names
    idx, names, keep = _labels.encode(labels, classes, ignore_index)
    sw = _labels.sample_weight(sample_weight, idx, multi_label=False)
    if names is None:
        v.check_class_labels_for_counting(idx, num_classes, ignore_index, keep)
        size = num_classes
    else:
        if num_classes is not None and num_classes != len(names):
            raise v.value_error(
                "num_classes",
                f"the number of classes {len(names)} (pass classes= to name classes that "
                "do not occur)",
                f"num_classes={num_classes}",
            )
        keep = idx >= 0
        size = len(names)
    kept = idx if keep is None else idx[keep]
    if size is None:
        size = int(kept.max()) + 1 if kept.size else 0
    name, shown = ("labels", f"label value {size - 1}")
    if num_classes is not None:
        name, shown = "num_classes", f"num_classes={size}"
    if names is None and size > _MAX_CLASSES:  # one count per index would be allocated
        raise v.value_error(
            name,
            f"at most {_MAX_CLASSES} classes (one count per class index; ids such as "
            "hashes are class names: pass them as classes=)",
            shown,
        )
    weights = None if sw is None else (sw if keep is None else sw[keep])
    if every_class is not None and names is None and size > 2 * kept.size + (1 << 16):
        raise _sparse_zero_count(kept.ravel(), weights, size, *every_class)

    def make() -> np.ndarray:
        counts = np.bincount(kept.ravel(), weights=None if weights is None else weights.ravel())
        return _pad(counts.astype(np.float64), size)

    return _finite(v.allocate(name, shown, (size,), make)), names


_MAX_CLASSES = 2**31


def _sparse_zero_count(
    kept: np.ndarray, weights: np.ndarray | None, size: int, what: str, policies: str
) -> ValueError:
    """The zero-count error of ``size`` classes, from the labels present only."""
    uniq, inverse = np.unique(kept, return_inverse=True)
    mass = np.bincount(inverse, weights=None if weights is None else weights.ravel())
    present = uniq[mass > 0].tolist()
    shown: list[int] = []
    expected = 0
    for value in [*present, size]:
        shown += range(expected, min(value, expected + 20 - len(shown)))
        if len(shown) >= 20:
            break
        expected = value + 1
    missing = size - len(present)
    more = "" if missing <= 20 else f" and {missing - 20} more"
    return v.value_error(
        "labels",
        f"at least one {what} for every class, or another policy (zero_count={policies})",
        f"no {what} for class(es) {shown}{more} of {size}",
    )


def _finite(counts: np.ndarray) -> np.ndarray:
    if not np.isfinite(counts).all():
        raise v.value_error(
            "sample_weight",
            "weights whose sum per class fits in float64 (rescale them)",
            "a class whose sample weights sum to inf",
        )
    return counts


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
    sw = _labels.sample_weight(sample_weight, arr, multi_label=True)
    axes = tuple(range(arr.ndim - 1))
    if sw is None:
        negatives = (arr == 0).sum(axis=axes, dtype=np.float64)
        positives = (arr == 1).sum(axis=axes, dtype=np.float64)
    else:
        with np.errstate(over="ignore"):  # an overflowing sum is reported by _finite
            negatives = np.where(arr == 0, sw, 0.0).sum(axis=axes)
            positives = np.where(arr == 1, sw, 0.0).sum(axis=axes)
    return _finite(np.stack([negatives, positives]).astype(np.float64))


def _pad(counts: np.ndarray, size: int) -> np.ndarray:
    extra = size - counts.shape[-1]
    if extra <= 0:
        return counts
    widths = [(0, 0)] * (counts.ndim - 1) + [(0, extra)]
    return np.pad(counts, widths)


def _scatter(counts: np.ndarray, names: list[Any], into: list[Any]) -> np.ndarray:
    where = {c: i for i, c in enumerate(into)}
    out = np.zeros((*counts.shape[:-1], len(into)))
    out[..., [where[c] for c in names]] = counts
    return out


class LabelCounter:
    """Streaming label counts: update batch by batch, add counters to merge shards.

    The running result of :func:`label_counts` over all batches seen: ``(C,)`` class
    counts, or ``(2, L)`` with ``multi_label=True``. Without ``num_classes`` the class
    count grows with the largest label seen; with class names (strings, bools,
    categoricals) it grows with the names seen, kept in sorted order, unless
    ``classes=`` fixes them. Counters add (``a + b``, also ``sum(...)``), so each data
    shard or worker can count its part and the parts merge exactly.

    Args:
        num_classes: ``C`` (or ``L`` for multi-hot labels), or ``None`` to infer it.
        multi_label: count multi-hot matrices per label.
        ignore_index: an integer class label that is not counted (class labels only).
        classes: the classes in order (or the names of the ``L`` multi-hot labels).

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
        >>> names = wxent.LabelCounter().update(["dog", "cat"]).update(["dog"])
        >>> names.classes, names.counts
        (['cat', 'dog'], array([1., 2.]))
    """

    def __init__(
        self,
        num_classes: int | None = None,
        *,
        multi_label: bool = False,
        ignore_index: int | None = None,
        classes: Any = None,
    ) -> None:
        self.num_classes = v.check_num_classes(num_classes)
        self.multi_label = v.check_bool("multi_label", multi_label)
        self.ignore_index = v.check_optional_int("ignore_index", ignore_index)
        self._fixed = _labels.check_classes(classes)
        if self._fixed is not None and self.num_classes not in (None, len(self._fixed)):
            raise v.value_error(
                "num_classes",
                f"the number of classes {len(self._fixed)}",
                f"num_classes={self.num_classes}",
            )
        self._names: list[Any] | None = self._fixed
        self._counts: np.ndarray | None = None
        size = self.num_classes if self._fixed is None else len(self._fixed)
        if size is not None:
            shape = (2, size) if self.multi_label else (size,)
            shown = f"num_classes={size}"
            self._counts = v.allocate("num_classes", shown, shape, lambda: np.zeros(shape))

    @property
    def counts(self) -> np.ndarray:
        """The counts so far (a ``float64`` copy): ``(C,)`` or ``(2, L)``."""
        if self._counts is None:
            return np.zeros((2, 0) if self.multi_label else (0,))
        return self._counts.copy()

    @property
    def classes(self) -> list[Any]:
        """The classes (or multi-hot labels) of :attr:`counts`, in order."""
        if self._names is not None:
            return list(self._names)
        return list(range(self.counts.shape[-1]))

    def update(self, labels: Any, sample_weight: Any = None) -> LabelCounter:
        """Add one batch of labels (and optional ``sample_weight``); returns ``self``."""
        batch, names = count(
            labels,
            num_classes=self.num_classes,
            multi_label=self.multi_label,
            ignore_index=self.ignore_index,
            sample_weight=sample_weight,
            classes=self._fixed,
        )
        self._merge(batch, names)
        return self

    def _merge(self, batch: np.ndarray, names: list[Any] | None) -> None:
        if self.multi_label and self._fixed is None and self._counts is not None:
            batch, names = self._same_labels(batch, names)
        if self._counts is not None and self.multi_label and batch.shape != self._counts.shape:
            raise v.value_error(
                "labels",
                f"multi-hot batches with L={self._counts.shape[-1]} labels, like the previous ones",
                f"a batch with L={batch.shape[-1]}",
            )
        if self.multi_label or self._fixed is not None:
            names = self._names if names is None else names
        elif self._counts is not None and (names is None) != (self._names is None):
            raise v.type_error(
                "labels",
                "class labels of the kind counted so far ("
                + ("class names" if self._names is not None else "integer class indices")
                + ")",
                "integer class indices" if names is None else "class names",
            )
        if names is not None and not self.multi_label and self._fixed is None:
            merged = _union(self._names or [], names)
            batch = _scatter(batch, names, merged)
            if self._counts is not None and self._names is not None:
                self._counts = _scatter(self._counts, self._names, merged)
            names = merged
        if self._counts is None:
            self._counts, self._names = batch.copy(), names
            return
        size = max(batch.shape[-1], self._counts.shape[-1])
        self._counts = _pad(self._counts, size) + _pad(batch, size)
        self._names = names

    def _same_labels(
        self, batch: np.ndarray, names: list[Any] | None
    ) -> tuple[np.ndarray, list[Any] | None]:
        """A multi-label batch in the order of the labels counted so far.

        Named labels (tag sets, table columns) are matched by name, not by position: a
        batch with the same labels in another order is reordered, and one with other
        labels is an error (tags seen in one batch only would be added to another's
        counts), as is a batch of another kind (named, or a plain matrix).
        """
        if (names is None) != (self._names is None):
            kinds = ("named labels (tag sets or table columns)", "a multi-hot matrix")
            raise v.type_error(
                "labels",
                f"multi-label batches of the kind counted so far ({kinds[self._names is None]})",
                kinds[names is None],
            )
        if names is None or self._names is None or names == self._names:
            return batch, names
        if len(names) != len(set(names)) or set(names) != set(self._names):
            raise v.value_error(
                "labels",
                f"multi-label batches with the labels {v._short(self._names)} (pass "
                "classes= to fix the labels of every batch)",
                f"a batch with the labels {v._short(names)}",
            )
        return _scatter(batch, names, self._names), self._names

    @classmethod
    def from_batches(
        cls,
        batches: Iterable[Any],
        num_classes: int | None = None,
        *,
        multi_label: bool = False,
        ignore_index: int | None = None,
        classes: Any = None,
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
            classes: as for :class:`LabelCounter`.

        Returns:
            A new counter holding the counts of all batches.
        """
        counter = cls(
            num_classes, multi_label=multi_label, ignore_index=ignore_index, classes=classes
        )
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
        if self._fixed is not None and other._fixed is not None and self._fixed != other._fixed:
            raise v.value_error(
                "other",
                f"a LabelCounter with classes={v._short(self._fixed)}",
                f"classes={v._short(other._fixed)}",
            )
        num_classes = self.num_classes if self.num_classes is not None else other.num_classes
        fixed = self._fixed if self._fixed is not None else other._fixed
        out = LabelCounter(
            num_classes, multi_label=self.multi_label, ignore_index=self.ignore_index
        )
        out._fixed = out._names = fixed
        for part in (self, other):
            if part._counts is None:
                continue
            counts = part._counts
            if fixed is not None and part._fixed is None and part._names is not None:
                if not set(part._names) <= set(fixed):
                    raise v.value_error(
                        "other",
                        f"a LabelCounter whose classes are among {v._short(fixed)}",
                        f"classes={v._short(part._names)}",
                    )
                counts = _scatter(counts, part._names, fixed)
            out._merge(counts, part._names if fixed is None else fixed)
        return out

    __radd__ = __add__

    def __repr__(self) -> str:
        named = "" if self._names is None else f", classes={self._names!r}"
        return (
            f"LabelCounter(num_classes={self.num_classes}, multi_label={self.multi_label}"
            f"{named}, counts={self.counts.tolist()})"
        )


def _union(old: list[Any], new: list[Any]) -> list[Any]:
    merged = set(old) | set(new)
    try:
        return sorted(merged)
    except TypeError:
        raise v.type_error(
            "labels",
            "class names of one kind, like the previous batches",
            f"names {v._short(new)} after {v._short(old)}",
        ) from None
