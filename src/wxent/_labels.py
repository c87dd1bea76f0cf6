"""Labels from people, as integer class indices: the host side of counting.

Counting runs on the host, once, before training. This module turns what a user holds
into NumPy:

* numbers of any framework (NumPy, lists, concrete PyTorch/JAX/TensorFlow arrays) —
  integer labels are class indices, as everywhere in wxent;
* class *names*: strings (NumPy ``str``/``object`` arrays, lists of ``str``, TensorFlow
  string tensors), booleans, pandas ``Categorical``/categorical ``Series`` and pyarrow
  dictionary arrays (both recognised without importing pandas or pyarrow).

:func:`encode` returns the class indices and, for names, the classes in their order:
``classes=`` when given (scikit-learn's ``compute_class_weight(classes=...)``), else the
categories of a categorical, ``[False, True]`` for booleans, or the sorted distinct
labels (``np.unique``). Nothing is ever allocated by label *value*: names are counted
through ``np.unique``, so a label ``50_000_000`` costs what a label ``5`` costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from wxent import _namespace as ns
from wxent import _validation as v

Classes = list[Any]


def host(name: str, value: Any) -> np.ndarray:
    """A concrete array of numbers of any framework (or a list) as NumPy."""
    arr = _any_host(name, value)
    if arr.dtype == object or arr.dtype.kind in "USVMm":
        raise v.type_error(
            name, "an array of numbers", f"{name} with dtype {arr.dtype} ({v._short(value)})"
        )
    return arr


def _any_host(name: str, value: Any) -> np.ndarray:
    v.check_plain_array(name, value)
    if ns.is_array(value) and not isinstance(value, np.ndarray):
        if not ns.is_concrete(value):
            raise v.type_error(
                name,
                "concrete values (counting runs on the host, outside jit/tf.function)",
                f"a traced {type(value).__name__}",
            )
        return ns.to_numpy(value)
    try:
        return ns.widen_host(np.asarray(value))  # ml_dtypes' bfloat16 as float32
    except v.NOT_NUMBERS:
        raise v.type_error(name, "an array or a list of numbers", v._short(value)) from None


def py(value: Any) -> Any:
    """A NumPy scalar as the Python scalar it holds (dictionary keys, JSON)."""
    return value.item() if isinstance(value, np.generic) else value


# ----------------------------------------------------------------------------- classes


def check_classes(classes: Any) -> Classes | None:
    """``None`` or a non-empty sequence of distinct, hashable class values."""
    if classes is None:
        return None
    if isinstance(classes, (str, bytes)) or not hasattr(classes, "__len__"):
        raise v.type_error(
            "classes", "a sequence of class values (a list or 1-D array)", v._short(classes)
        )
    arr = _any_host("classes", classes)
    if arr.ndim != 1 or arr.size == 0:
        raise v.value_error(
            "classes", "a non-empty 1-D sequence of class values", f"shape {arr.shape}"
        )
    values = [_name(x) for x in arr.tolist()] if arr.dtype.kind in "SO" else arr.tolist()
    try:
        distinct = len(set(values))
    except TypeError:
        raise v.type_error("classes", "hashable class values", v._short(classes)) from None
    if distinct != len(values):
        seen: set[Any] = set()
        dup = next(x for x in values if x in seen or seen.add(x))  # type: ignore[func-returns-value]
        raise v.value_error("classes", "distinct class values", f"{dup!r} more than once")
    if any(x is None or (isinstance(x, float) and x != x) for x in values):
        raise v.value_error("classes", "class values (no None or NaN)", v._short(classes))
    return values


def _name(x: Any) -> Any:
    return x.decode("utf-8", "replace") if isinstance(x, bytes) else py(x)


def encode(
    labels: Any, classes: Classes | None, ignore_index: int | None
) -> tuple[np.ndarray, Classes | None, np.ndarray | None]:
    """Class labels as ``int64`` indices, the classes when labels are names, the kept ones.

    Returns ``(indices, None, keep)`` for numeric labels without ``classes``: the indices
    are the labels, and ``keep`` is ``None`` (every entry counts) or a mask of the entries
    that are not ``ignore_index``, compared as the labels hold them (a ``uint64`` label
    ``2**64 - 1`` is ignored by ``ignore_index=2**64 - 1``; the indices of ignored entries
    mean nothing). Else ``(indices, classes, None)`` with ``indices`` in
    ``[0, len(classes))`` and ``-1`` for ignored entries.
    """
    codes, categories = _categorical(labels)
    if codes is not None:
        return (*_recode(codes, categories, classes), None)
    arr = _any_host("labels", labels)
    if arr.dtype.kind == "U" and isinstance(labels, (list, tuple)):
        arr = _listed_names(labels, arr)
    kind = arr.dtype.kind
    if kind in "OSU":
        arr = _names_array(arr)
        kind = arr.dtype.kind
    if kind == "b":
        if classes is None:
            return arr.astype(np.int64), [False, True], None
        return (*_lookup(arr, classes, None), None)
    if kind in "iuf":
        if classes is not None and kind == "f":
            return (*_lookup(arr, classes, None), None)
        if classes is not None:  # the values as given: no int64 on the way (uint64)
            return (*_lookup(arr, classes, ignore_index), None)
        keep = None if ignore_index is None else arr != ignore_index
        if keep is not None and keep.all():
            keep = None
        return class_indices(arr, keep, ignore_index), None, keep
    if kind == "U":
        return (*_lookup(arr, classes, None), None)
    raise v.type_error(
        "labels",
        "integer class indices or class names (str, bool, categorical)",
        f"labels with dtype {v.dtype_name(arr.dtype)}",
    )


def class_indices(
    labels: np.ndarray, keep: np.ndarray | None = None, ignore_index: int | None = None
) -> np.ndarray:
    """Integer (or boolean, or whole-valued floating) labels as ``int64``.

    Only the entries that ``keep`` marks (all by default) are checked: an ignored label
    is ignored whatever its value, also a ``uint64`` one that ``int64`` cannot hold. The
    indices of the other entries mean nothing.
    """
    kept = labels if keep is None else labels[keep]
    hint = "" if ignore_index is None else f" or ignore_index={ignore_index}"
    if kept.dtype.kind == "u" and kept.size and int(kept.max()) >= 2**63:
        raise v.value_error(
            "labels", f"class indices below 2**63 (int64){hint}", f"label value {int(kept.max())}"
        )
    if keep is not None:  # ignored entries: 0 (no cast of a value int64 cannot hold)
        labels = np.where(keep, labels, np.zeros((), dtype=labels.dtype))
    if labels.dtype.kind in "iub":
        return labels.astype(np.int64)
    if labels.dtype.kind == "f":
        below = np.abs(labels) < np.float64(2.0**63)  # float64: no overflow in float16
        whole = np.isfinite(labels) & (labels == np.round(labels)) & below
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


def _listed_names(labels: list[Any] | tuple[Any, ...], arr: np.ndarray) -> np.ndarray:
    """Names from a Python list, checked as an object array would be.

    NumPy turns a list mixing kinds into strings (``[0, 1, "NA"]`` into ``["0", "1",
    "NA"]``, ``[True, "x"]`` into ``["True", "x"]``): such a list is refused like the same
    values in an object array, instead of counting ``0`` as the name ``"0"``.
    """
    obj = np.asarray(labels, dtype=object)
    if {type(x) for x in obj.ravel().tolist()} <= {str, np.str_}:
        return arr
    return _names_array(obj)


def _names_array(arr: np.ndarray) -> np.ndarray:
    """Object / bytes arrays of names as ``str`` (or ``bool``, or numbers) arrays."""
    if arr.dtype.kind == "S":
        return np.char.decode(arr, "utf-8", "replace")
    if arr.dtype.kind == "U":
        return arr
    flat = arr.ravel()
    kinds = {type(x) for x in flat.tolist()}
    if not kinds:
        return np.zeros(arr.shape, dtype=np.int64)
    if kinds <= {bytes, str}:
        return np.array([_name(x) for x in flat.tolist()], dtype=str).reshape(arr.shape)
    if kinds <= {bool, np.bool_}:
        return arr.astype(bool)
    if kinds <= {int, np.int64, np.int32}:
        return arr.astype(np.int64)
    missing = next((x for x in flat.tolist() if x is None or x != x), _NOT_FOUND)
    if missing is not _NOT_FOUND:
        raise v.value_error("labels", "a class for every entry", f"a missing label {missing!r}")
    raise v.type_error(
        "labels",
        "class labels of one kind (all strings, all bools or all integers)",
        "a mix of " + ", ".join(sorted(k.__name__ for k in kinds)),
    )


_NOT_FOUND = object()


def _lookup(
    arr: np.ndarray, classes: Classes | None, ignore_index: int | None
) -> tuple[np.ndarray, Classes]:
    """Names (or numbers, with ``classes``) as positions, through ``np.unique``."""
    keep = None
    if ignore_index is not None and arr.dtype.kind in "iu":
        keep = arr != ignore_index
        if keep.all():
            keep = None
    values = arr if keep is None else arr[keep]
    uniq, inverse = np.unique(values, return_inverse=True)
    names = [_name(x) for x in uniq.tolist()]
    if classes is None:
        positions = np.arange(len(names), dtype=np.int64)
        classes = names
    else:
        where = {c: i for i, c in enumerate(classes)}
        unknown = [x for x in names if x not in where]
        if unknown:
            raise v.value_error(
                "labels",
                f"labels among `classes` {v._short(classes)}",
                f"{len(unknown)} label(s) not in `classes`, e.g. {unknown[0]!r}",
            )
        positions = np.array([where[x] for x in names], dtype=np.int64)
    mapped = positions[inverse.reshape(values.shape)] if names else inverse.astype(np.int64)
    if keep is None:
        return mapped.reshape(arr.shape), classes
    out = np.full(arr.shape, -1, dtype=np.int64)
    out[keep] = mapped
    return out, classes


def _categorical(labels: Any) -> tuple[np.ndarray | None, Classes]:
    """The codes and categories of a pandas categorical or a pyarrow dictionary array."""
    module = type(labels).__module__ or ""
    if module.startswith("pandas"):
        if str(getattr(labels, "dtype", "")) == "category" and hasattr(labels, "cat"):
            labels = labels.cat
        if hasattr(labels, "categories") and hasattr(labels, "codes"):
            return np.asarray(labels.codes), [_name(c) for c in list(labels.categories)]
        return None, []
    if module.startswith("pyarrow"):
        if hasattr(labels, "combine_chunks"):
            labels = labels.combine_chunks()
        if labels.null_count:
            raise v.value_error(
                "labels", "a class for every entry", f"{labels.null_count} missing label(s)"
            )
        if hasattr(labels, "dictionary") and hasattr(labels, "indices"):
            codes = np.asarray(labels.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
            return codes, [_name(c) for c in labels.dictionary.to_pylist()]
    return None, []


def _recode(
    codes: np.ndarray, categories: Classes, classes: Classes | None
) -> tuple[np.ndarray, Classes]:
    codes = codes.astype(np.int64)
    if (codes < 0).any():
        raise v.value_error(
            "labels", "a class for every entry", f"{int((codes < 0).sum())} missing label(s)"
        )
    if classes is None:
        return codes, categories
    where = {c: i for i, c in enumerate(classes)}
    positions = np.array([where.get(c, -1) for c in categories], dtype=np.int64)
    used = np.zeros(len(categories), dtype=bool)
    used[np.unique(codes)] = True
    unknown = [c for c, p, u in zip(categories, positions, used, strict=True) if u and p < 0]
    if unknown:
        raise v.value_error(
            "labels",
            f"labels among `classes` {v._short(classes)}",
            f"{len(unknown)} label(s) not in `classes`, e.g. {unknown[0]!r}",
        )
    return positions[codes], classes


# ----------------------------------------------------------------------------- multi-hot


def multi_hot(labels: Any, classes: Classes | None) -> tuple[np.ndarray, Classes | None]:
    """A multi-hot matrix and the names of its labels (columns), if known.

    Accepts a matrix of numbers (any framework), a table with ``.columns`` (pandas) or
    ``.column_names`` (pyarrow), whose column names name the labels, or a list of tag
    sets (``[["cat", "dog"], [], ["dog"]]``, as scikit-learn's ``MultiLabelBinarizer``).
    """
    names: Classes | None = None
    if _is_tag_sets(labels):
        return _binarize(labels, classes)
    if hasattr(labels, "column_names") and hasattr(labels, "to_pydict"):  # pyarrow Table
        names = list(labels.column_names)
        cols = [np.asarray(c.to_numpy(zero_copy_only=False)) for c in labels.columns]
        labels = np.stack(cols, axis=-1) if cols else np.zeros((labels.num_rows, 0))
    elif hasattr(labels, "columns") and hasattr(labels, "to_numpy"):  # pandas DataFrame
        names = [_name(c) for c in list(labels.columns)]
        labels = labels.to_numpy()
    arr = host("labels", labels)
    if classes is not None:
        width = 1 if arr.ndim == 1 else arr.shape[-1]
        if arr.ndim >= 1 and len(classes) != width:
            raise v.value_error(
                "classes",
                f"one name per label, L={width} (the last axis of the multi-hot matrix)",
                f"{len(classes)} class name(s)",
            )
        names = classes
    return arr, names


def _is_tag_sets(labels: Any) -> bool:
    if not isinstance(labels, (list, tuple)) or not labels:
        return False
    items = list(labels)
    if not all(isinstance(x, (list, tuple, set, frozenset)) for x in items):
        return False
    return any(isinstance(x, (set, frozenset)) for x in items) or any(
        isinstance(t, str) for x in items for t in x
    )


def _binarize(tag_sets: Sequence[Any], classes: Classes | None) -> tuple[np.ndarray, Classes]:
    tags = [list(x) for x in tag_sets]
    present = {t for row in tags for t in row}
    if classes is None:
        try:
            classes = sorted(present)
        except TypeError:
            raise v.type_error(
                "labels", "tag sets whose tags are of one kind (e.g. all strings)", "mixed tags"
            ) from None
    where = {c: i for i, c in enumerate(classes)}
    unknown = [t for t in present if t not in where]
    if unknown:
        raise v.value_error(
            "labels",
            f"tags among `classes` {v._short(classes)}",
            f"{len(unknown)} tag(s) not in `classes`, e.g. {unknown[0]!r}",
        )
    matrix = np.zeros((len(tags), len(classes)), dtype=np.int8)
    for i, row in enumerate(tags):
        matrix[i, [where[t] for t in row]] = 1
    return matrix, classes


def sample_weight(value: Any, labels: np.ndarray, *, multi_label: bool) -> np.ndarray | None:
    """Per-entry (or, for multi-hot labels, per-row) non-negative sample weights."""
    if value is None:
        return None
    v.check_not_flag("sample_weight", value)
    sw = host("sample_weight", value)
    if sw.dtype.kind == "c":  # casting would drop the imaginary part
        raise v.type_error("sample_weight", "real numbers", f"sample_weight with dtype {sw.dtype}")
    sw = sw.astype(np.float64)
    v.check_finite_nonnegative("sample_weight", sw)
    if sw.shape == labels.shape:
        return sw
    if multi_label and labels.ndim >= 1 and sw.shape == labels.shape[:-1]:
        return np.broadcast_to(sw[..., None], labels.shape)
    allowed = f"the shape of `labels` {labels.shape}"
    if multi_label:
        allowed += f" or one weight per row {labels.shape[:-1]}"
    raise v.value_error("sample_weight", allowed, f"sample_weight of shape {sw.shape}")


def as_dict(values: np.ndarray, classes: Classes | None) -> dict[Any, float]:
    """``{class: value}`` with Python scalars as keys and floats as values."""
    keys = list(range(values.shape[-1])) if classes is None else classes
    return {py(k): float(x) for k, x in zip(keys, values.tolist(), strict=True)}
