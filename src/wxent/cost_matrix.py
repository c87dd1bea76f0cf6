"""Cost matrices: building them, checking them, moving them onto the logits.

A cost matrix is everywhere ``costs[true, predicted]``: row ``i`` holds what each
prediction costs when the true class is ``i`` (scikit-learn's confusion-matrix layout).
The diagonal holds the cost of correct decisions, usually 0.

A cost matrix is valid when it is square ``C x C`` with ``C`` the number of classes of
the logits, and every entry is finite and non-negative. A *dominated column* is allowed
but warned about with :class:`CostMatrixWarning`: when predicting class ``k`` costs at
least as much as predicting some other class ``j`` whatever the true class is (and more
for some true class), no decision that minimises expected cost ever predicts ``k``, which
is usually a mistake in the matrix (often a swapped orientation). Equal columns, and the
usual ``1 - I`` matrix, are not dominated.
"""

from __future__ import annotations

import hashlib
import numbers
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from wxent import _fx, _warnings
from wxent import _namespace as ns
from wxent import _prepare as prep
from wxent import _validation as v
from wxent._types import Array
from wxent._value_checks import _caller_level

__all__ = ["CostMatrixWarning", "check_cost_matrix", "cost_matrix", "dominated_columns"]


class CostMatrixWarning(UserWarning):
    """A cost matrix is valid but suspicious (a prediction is never worth making)."""


def dominated_columns(costs: Any) -> list[tuple[int, int]]:
    """The columns ``k`` of a cost matrix where predicting ``k`` is never worth it.

    Column ``k`` is dominated by column ``j`` when ``costs[:, k] >= costs[:, j]`` for every
    true class and ``costs[:, k] > costs[:, j]`` for at least one. Equal columns are not
    dominated.

    Args:
        costs: a ``C x C`` cost matrix (anything NumPy converts), ``costs[true, predicted]``.

    Returns:
        ``(k, j)`` for every dominated column ``k``, with ``j`` the first column that
        dominates it, in increasing ``k``.

    Example:
        >>> dominated_columns([[0.0, 1.0, 2.0], [1.0, 0.0, 2.0], [1.0, 1.0, 1.0]])
        [(2, 0)]
        >>> dominated_columns(1 - np.eye(3))
        []
    """
    c = np.asarray(costs, dtype=np.float64)
    return list(_dominated_search(c, budget=None) or ())


# Element comparisons the automatic warning of a loss call may spend on one matrix: a
# matrix whose search needs more (thousands of classes with many columns that stay
# candidates row after row) is not searched, and no warning is given.
# ``dominated_columns`` itself always searches to the end.
_WARN_BUDGET = 1 << 24
_ROW_CHUNK = 64
_FILTER_ENTRIES = 1 << 22  # entries of the first filter's mask per block of columns
_WARN_LISTED = 10  # dominated columns named in the warning's text


def _dominated_search(c: np.ndarray, budget: int | None) -> tuple[tuple[int, int], ...] | None:
    """``dominated_columns`` of ``c``, or ``None`` past ``budget`` element comparisons.

    Answers are cached by content.

    For each column ``k`` the candidate columns ``j`` are narrowed: first by the column
    sums (``costs[:, j] <= costs[:, k]`` everywhere implies a sum that is not larger, also
    in floating point, where addition is monotone) and by row ``k`` (row 0 of a matrix
    that is not square; with a zero diagonal only columns that are free there stay),
    for a block of columns at once; then, for the few columns with candidates left, by
    the rows in chunks. A usual matrix leaves no
    candidate after the first step: a few vectorised passes over the matrix instead of
    a search per column.
    """
    key = _content_key(c)
    # one lookup (another thread may evict the entry between a test and a read)
    cached = _DOMINATED_CACHE.get(key, _ABSENT)  # None: a search stopped at the warning's budget
    if cached is not _ABSENT and (cached is not None or budget is not None):
        return cached  # type: ignore[return-value]
    if c.dtype not in (np.float32, np.float64):
        c = c.astype(np.float64)
    rows, cols = c.shape
    pairs = []
    if rows and cols:
        sums = c.sum(axis=0, dtype=np.float64)
        # per column k a pivot row: row k of a square matrix (with a zero diagonal, where
        # column k costs least; an argmin down the columns took seconds at 8192 classes)
        pivot = np.arange(cols) if rows == cols else np.zeros(cols, dtype=np.intp)
        low = c[pivot, np.arange(cols)]
        work = 0
        block = max(1, _FILTER_ENTRIES // cols)
        for first in range(0, cols, block):
            ks = np.arange(first, min(first + block, cols))
            keep = (c[pivot[ks]] <= low[ks, None]) & (sums <= sums[ks, None])
            keep[np.arange(ks.size), ks] = False  # a column does not dominate itself
            for h in np.flatnonzero(keep.any(axis=1)):
                k = int(ks[h])
                candidates = np.flatnonzero(keep[h])
                column = c[:, k]
                for start in range(0, rows, _ROW_CHUNK):
                    if not candidates.size:
                        break
                    part = c[start : start + _ROW_CHUNK][:, candidates]
                    work += part.size
                    if budget is not None and work > budget:
                        _remember(key, None)
                        return None
                    below = np.all(part <= column[start : start + _ROW_CHUNK, None], axis=0)
                    candidates = candidates[below]
                if candidates.size:
                    # every candidate is <= column k everywhere; equal columns do not dominate
                    strict = candidates[np.any(c[:, candidates] < column[:, None], axis=0)]
                    if strict.size:
                        pairs.append((k, int(strict[0])))
    _remember(key, tuple(pairs))
    return tuple(pairs)


#: Searches by content key (:func:`_content_key`), at most 32. Shared by every thread:
#: each access is one dictionary operation (no test-then-read, no iteration that another
#: thread's insertion could break), so concurrent loss calls never see a ``KeyError``.
_DOMINATED_CACHE: dict[tuple[Any, ...], tuple[tuple[int, int], ...] | None] = {}
_ABSENT = object()


def _remember(key: tuple[Any, ...], pairs: tuple[tuple[int, int], ...] | None) -> None:
    if len(_DOMINATED_CACHE) >= 32:  # a loss called in a loop sees the same matrix
        for old in list(_DOMINATED_CACHE)[:-31]:  # (a copy of the keys: one operation)
            _DOMINATED_CACHE.pop(old, None)  # (another thread may have evicted it)
    _DOMINATED_CACHE[key] = pairs


_EXACT_KEY_ENTRIES = 1 << 20


def _content_key(c: np.ndarray) -> tuple[Any, ...]:
    """What identifies a matrix's content for the cache, without copying a large one.

    Up to 2^20 entries: a hash of the bytes (exact). Larger: a fixed random bilinear
    form ``u @ c @ w``, one pass over the matrix in its own dtype (hashing a float64
    copy of an 8192 x 8192 matrix took longer than the loss). Two large matrices with
    the same form share a cached answer, which is only ever a warning; a matrix changed
    in place (transposed, say) changes the form.
    """
    if c.size <= _EXACT_KEY_ENTRIES:
        # the bytes of a contiguous matrix without a copy (an empty one has none)
        data = np.ascontiguousarray(c).data.cast("B") if c.size else b""
        return (c.shape, c.dtype.str, hashlib.blake2b(data, digest_size=16).digest())
    if c.dtype not in (np.float32, np.float64):
        c = c.astype(np.float64)
    probe = np.random.default_rng(0x3C05).uniform(0.5, 1.5, size=c.shape[0] + c.shape[1])
    right = c @ probe[c.shape[0] :].astype(c.dtype)
    return (c.shape, c.dtype.str, float(probe[: c.shape[0]] @ right.astype(np.float64)))


def _warn_dominated(name: str, costs: np.ndarray) -> None:
    """Warn that ``costs`` has dominated columns, at the caller's line (outside wxent).

    The first frame outside wxent, whatever the path (a loss, a metric run eagerly or as a
    traced program, a module): a warning filter by module or line, and Python's "once per
    location" default, see the user's call, not a line of wxent.
    """
    if ns.tracing_eager_call():  # warned by each call of the traced graph
        from wxent._metric_graphs import defer_warning

        defer_warning(name, costs)
        return
    pairs = _dominated_search(costs, budget=_WARN_BUDGET)
    if pairs:
        shown = pairs[:_WARN_LISTED]
        text = ", ".join(f"predicting {k} is never better than predicting {j}" for k, j in shown)
        never = ", ".join(str(k) for k, _ in shown)
        if len(pairs) > len(shown):
            more = len(pairs) - len(shown)
            text += f", and {more} more"
            never += f" and {more} more columns (dominated_columns lists them)"
        _warnings.warn(
            f"`{name}` has dominated columns ({text}): a decision minimising expected cost "
            f"never predicts {never}. Check the orientation: "
            f"wxent reads {name}[true, predicted].",
            CostMatrixWarning,
            stacklevel=_caller_level(),
        )


def check_matrix_shape(name: str, shape: Sequence[int | None], num_classes: int | None) -> None:
    """A square matrix (``num_classes`` rows and columns when given)."""
    square = len(shape) == 2 and v.shapes_match(shape[:1], shape[1:])
    if not square or (num_classes is not None and not v.shapes_match(shape, (num_classes,) * 2)):
        expected = "a square matrix"
        if num_classes is not None:
            expected += f" of shape ({num_classes}, {num_classes}), one row and column per class"
        raise v.value_error(name, expected, f"{name} of shape {v.shape_str(shape)}")


def check_cost_matrix(
    costs: Any,
    *,
    num_classes: int | None = None,
    name: str = "costs",
    warn: bool = True,
    dtype: str | None = None,
) -> np.ndarray:
    """Check a cost matrix on the host and return it as a float64 NumPy array.

    Args:
        costs: ``costs[true, predicted]`` as nested lists, a NumPy array or a concrete
            array of any supported framework.
        num_classes: the expected ``C`` (``None`` accepts any square matrix).
        name: the argument's name, for messages.
        warn: issue a :class:`CostMatrixWarning` for dominated columns.
        dtype: the compute dtype (``"float32"``, ``"float64"``) the entries must fit.

    Returns:
        The matrix, ``float64``, shape ``(C, C)``.

    Raises:
        TypeError: if ``costs`` is not numeric.
        ValueError: if it is not ``C x C`` or has negative, NaN or infinite entries.

    Example:
        >>> check_cost_matrix([[0, 1], [5, 0]]).tolist()
        [[0.0, 1.0], [5.0, 0.0]]
    """
    host = _to_host(name, costs)
    check_matrix_shape(name, host.shape, num_classes)
    v.check_finite_nonnegative(name, host)
    v.check_representable(name, host, dtype, False)
    if warn:
        _warn_dominated(name, host)
    return host


def _to_host(name: str, value: Any) -> np.ndarray:
    v.check_plain_array(name, value)  # sparse, ragged, nested: the one message
    if ns.is_array(value) and not isinstance(value, np.ndarray):
        value = ns.to_numpy(value)
    if isinstance(value, np.ndarray):
        value = ns.widen_host(value)  # ml_dtypes' bfloat16 as float32
    if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
        raise v.type_error(name, "a matrix of numbers", f"{name} with dtype {value.dtype}")
    try:
        return np.asarray(value, dtype=np.float64)
    except v.NOT_NUMBERS:
        raise v.type_error(name, "a matrix of numbers", f"{name}={v._short(value)}") from None


def matrix_for(
    name: str, value: Any, inp: prep.Inputs, *, warn: bool = True, traced_check: bool = True
) -> Array:
    """Check a ``C x C`` matrix and move it onto the logits' framework, device and dtype.

    The shape is checked always (also while tracing); values (finite, non-negative) are
    checked when ``inp`` says so: host configuration whenever ``validate=True``, arrays of
    the logits' framework when concrete (on their device, with the call's other checks).
    Dominated columns are looked for in host matrices (numbers, lists, NumPy): a matrix of
    the logits' framework is never copied to the host for it. ``traced_check``: as for
    :func:`wxent._config.config_array`.
    """
    v.check_plain_array(name, value)  # sparse, ragged, nested: the one message
    if value is None or isinstance(value, (bool, numbers.Number, str)):
        raise v.type_error(
            name,
            f"a ({inp.num_classes}, {inp.num_classes}) matrix, {name}[true, predicted]",
            f"{name}={value!r}",
        )
    shape = v.static_shape(value) if ns.is_array(value) else _to_host(name, value).shape
    v.check_known_classes(name, shape, inp.xp, inp.num_classes)
    check_matrix_shape(name, shape, inp.num_classes)
    arr = prep.config_array(name, value, inp, traced_check=traced_check)
    host_config = not ns.is_array(value) or isinstance(value, np.ndarray)
    if warn and host_config and inp.check_config and not ns.torch_is_compiling():
        # a float NumPy matrix is searched as it is: no float64 copy of every call's matrix
        host = value if isinstance(value, np.ndarray) and value.dtype.kind == "f" else None
        _warn_dominated(name, _to_host(name, value) if host is None else host)
    return arr


@_fx.leaf
def cost_matrix(
    classes: int | Sequence[Hashable],
    *,
    default: float = 1.0,
    costs: Mapping[tuple[Any, Any], float] | None = None,
    diagonal: float = 0.0,
) -> np.ndarray:
    """Build a cost matrix ``costs[true, predicted]`` from a default and a few exceptions.

    Every mistake costs ``default``, every correct decision ``diagonal``, except the pairs
    listed in ``costs``: ``{(true, predicted): cost}``, with classes given by index or,
    when ``classes`` is a list of names, by name. A pair on the diagonal overrides
    ``diagonal``.

    Args:
        classes: the number of classes ``C``, or the ``C`` class names (any hashable
            values, e.g. strings; a list or a 1-D NumPy array), in the order of the
            logits' classes.
        default: the cost of every mistake not listed.
        costs: ``{(true, predicted): cost}`` exceptions.
        diagonal: the cost of a correct decision.

    Returns:
        A ``float64`` NumPy array of shape ``(C, C)``; a :class:`CostMatrixWarning` is
        issued if a column is dominated (see ``dominated_columns``, imported with
        ``from wxent.cost_matrix import dominated_columns``: ``wxent.cost_matrix`` is
        this function).

    Raises:
        TypeError: for a non-integer class count or a non-numeric cost.
        ValueError: for unknown classes, duplicate names, costs that are negative or
            not finite, or a matrix larger than memory.

    Example:
        >>> cost_matrix(["A", "B", "C"], costs={("B", "C"): 1.2}).tolist()
        [[0.0, 1.0, 1.0], [1.0, 0.0, 1.2], [1.0, 1.0, 0.0]]
        >>> cost_matrix(2, costs={(1, 0): 10.0}).tolist()
        [[0.0, 1.0], [10.0, 0.0]]
    """
    names: list[Hashable] | None
    count = v.integer_value(classes)
    if count is not None:
        n = count
        if n < 1:
            raise v.value_error("classes", "a number of classes >= 1", f"classes={n}")
        names = None
    elif (isinstance(classes, Sequence) and not isinstance(classes, (str, bytes))) or (
        isinstance(classes, np.ndarray) and classes.ndim == 1  # e.g. an encoder's classes_
    ):
        names = list(classes.tolist() if isinstance(classes, np.ndarray) else classes)
        n = len(names)
        if n < 1:
            raise v.value_error("classes", "at least one class name", "classes=[]")
        seen: set[Hashable] = set()
        for name in names:
            if not isinstance(name, Hashable):
                raise v.type_error(
                    "classes", "hashable class names (strings, numbers)", f"class name {name!r}"
                )
            if name in seen:
                raise v.value_error("classes", "distinct class names", f"class name {name!r} twice")
            seen.add(name)
    else:
        raise v.type_error(
            "classes", "a number of classes or a list of class names", f"classes={classes!r}"
        )
    for label, value in (("default", default), ("diagonal", diagonal)):
        _check_cost_value(label, value, label)
    shown = f"classes={n}" if names is None else f"{n} class names"
    matrix = v.allocate("classes", shown, (n, n), lambda: np.full((n, n), float(default)))
    np.fill_diagonal(matrix, float(diagonal))
    if costs is not None:
        if not isinstance(costs, Mapping):
            raise v.type_error(
                "costs", "a mapping {(true, predicted): cost}", f"costs={v._short(costs)}"
            )
        for key, value in costs.items():
            if not isinstance(key, tuple) or len(key) != 2:
                raise v.value_error(
                    "costs", "keys that are (true, predicted) pairs", f"key {key!r}"
                )
            i = _class_index(key[0], names, n)
            j = _class_index(key[1], names, n)
            _check_cost_value("costs", value, f"costs[{key!r}]")
            matrix[i, j] = float(value)
    _warn_dominated("costs", matrix)
    return matrix


def _check_cost_value(name: str, value: Any, where: str) -> None:
    if not v.is_real_number(value):
        raise v.type_error(name, "a finite number >= 0", f"{where}={value!r}")
    number = v.as_float(name, value, "a finite number >= 0")
    if not (np.isfinite(number) and number >= 0):
        raise v.value_error(name, "a finite number >= 0", f"{where}={value!r}")


def _class_index(key: Any, names: list[Hashable] | None, n: int) -> int:
    if names is not None:
        try:
            return names.index(key)
        except ValueError:
            pass
        except TypeError:  # pragma: no cover - unhashable keys cannot be in a tuple key
            pass
        raise v.value_error("costs", f"class names from {names!r}", f"unknown class {key!r}")
    index = v.integer_value(key)
    if index is not None and 0 <= index < n:
        return index
    raise v.value_error("costs", f"class indices in [0, {n})", f"class {key!r}")
