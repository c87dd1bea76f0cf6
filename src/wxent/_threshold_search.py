"""The exact threshold search behind :func:`wxent.tune_thresholds`, on host NumPy.

One column of scores is sorted once (descending); the distinct values ``u_1 > ... > u_K``
define the ``K + 1`` distinct decisions "positive = the top ``k`` groups of tied scores",
``k = 0 .. K``. Cumulative sums of the positive and negative weights in that order give
``tp[k]`` and ``fp[k]`` for every ``k`` at once, so every objective is evaluated at every
distinct decision in ``O(N log N)``. The chosen ``k`` is turned into a threshold ``t``
with ``scores > t`` selecting exactly the top ``k`` groups (:func:`threshold_between`).
Unweighted 0/1 labels take :func:`sorted_curves` (one sort of all labels, the positives
located by a search), and :func:`in_blocks` spreads large inputs over threads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

T = TypeVar("T")

#: Objective values this close to the best (relative, at least 1e-12 absolute) are ties.
TIE_TOLERANCE = 1e-12


@dataclass
class Curve:
    """The counts of every distinct decision of one column (index ``k = 0 .. K``).

    Attributes:
        values: the distinct scores in descending order, ``(K,)``.
        tp: weighted true positives when the top ``k`` groups are positive, ``(K + 1,)``.
        fp: weighted false positives, ``(K + 1,)``.
        pos: total positive weight.
        neg: total negative weight.
        usable: which ``k`` a threshold can reproduce (``k = K`` is impossible when the
            smallest score is ``-inf``: ``-inf > t`` holds for no ``t``).
    """

    values: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    pos: float
    neg: float
    usable: np.ndarray


def curve(scores: np.ndarray, pos: np.ndarray, neg: np.ndarray | None) -> Curve:
    """Counts of every distinct decision of one column.

    Args:
        scores: ``(n,)`` scores (any float dtype, no NaN), contiguous.
        pos: ``(n,)`` positive weight of each element (``w * z``).
        neg: ``(n,)`` negative weight (``w * (1 - z)``), or ``None`` when ``pos`` holds
            unweighted 0/1 labels: then the counts are exact integers, and positives and
            negatives are sorted apart and merged (faster than one argsort).

    Returns:
        The :class:`Curve`.
    """
    n = scores.shape[0]
    if neg is None:
        is_pos = pos if pos.dtype == bool else pos == 1
        num_pos = int(is_pos.sum())
        runs = np.concatenate([np.sort(scores[is_pos]), np.sort(scores[~is_pos])])
        merge = np.argsort(runs, kind="stable")  # two sorted runs: a linear merge
        merged = runs[merge]
        starts = np.flatnonzero(np.concatenate([[n > 0], merged[1:] != merged[:-1]]))
        below = np.concatenate([[0], np.cumsum(merge < num_pos)])[starts]
        values = merged[starts][::-1].astype(np.float64)
        tp = np.concatenate([[0.0], (num_pos - below[::-1]).astype(np.float64)])
        fp = np.concatenate([[0.0], (n - starts[::-1]).astype(np.float64)]) - tp
    else:
        order = np.argsort(-scores)
        s = scores[order]
        cum_pos = np.cumsum(pos[order], dtype=np.float64)
        cum_neg = np.cumsum(neg[order], dtype=np.float64)
        ends = np.append(np.flatnonzero(s[1:] != s[:-1]), n - 1) if n else np.zeros(0, int)
        values = s[ends].astype(np.float64)
        tp = np.concatenate([[0.0], cum_pos[ends]])
        fp = np.concatenate([[0.0], cum_neg[ends]])
    usable = np.ones(values.shape[0] + 1, dtype=bool)
    if values.shape[0] and values[-1] == -np.inf:
        usable[-1] = False
    return Curve(values, tp, fp, float(tp[-1]), float(fp[-1]), usable)


def in_blocks(solve: Callable[[int, int], list[T]], rows: int, size: int) -> list[T]:
    """``solve(0, rows)``, computed as blocks of rows on up to 4 threads for large inputs.

    The per-label work is NumPy sorts, searches and sums on long rows, which run without
    the interpreter lock: blocks of labels proceed in parallel on the cores the process
    may use (``size``: the number of scores, below 2**20 one block). The result is the
    same list, in order.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = min(4, cores or 1, rows)
    if workers < 2 or size < 1 << 20:
        return solve(0, rows)
    bounds = [rows * i // workers for i in range(workers + 1)]
    with ThreadPoolExecutor(workers) as pool:
        blocks = list(pool.map(lambda i: solve(bounds[i], bounds[i + 1]), range(workers)))
    return [item for block in blocks for item in block]


def sorted_curves(x: np.ndarray, z: np.ndarray) -> Iterator[Curve]:
    """The :class:`Curve` of every row of unweighted 0/1 labels, from one sort of all rows.

    ``x`` ``(L, n)`` scores (float, no NaN) and ``z`` ``(L, n)`` booleans, one row per
    label. All rows are sorted in one call; each row's positives (a few per cent,
    usually) are sorted apart and located among the row's distinct values by a search,
    so that the counts come from one cumulative sum of the positives per distinct value:
    no sort of the labels along with the scores and no merge. Each curve shares buffers
    with the next: use it before asking for the next one.
    """
    n = x.shape[1]
    ordered = np.sort(x, axis=1)  # ascending, all rows at once
    change = np.ones(n, dtype=bool)
    tp, fp = np.zeros(n + 1), np.zeros(n + 1)
    for j in range(x.shape[0]):
        s = ordered[j]
        if n == 0:
            yield Curve(s.astype(np.float64), tp[:1], fp[:1], 0.0, 0.0, np.ones(1, bool))
            continue
        np.not_equal(s[1:], s[:-1], out=change[1:])
        starts = np.flatnonzero(change)  # first index of each distinct value, ascending
        distinct = s[starts]
        k = starts.shape[0]
        group = np.searchsorted(distinct, np.sort(x[j][z[j]]))  # the group of each positive
        counts = np.bincount(k - 1 - group, minlength=k)  # positives per group, descending
        tp[1 : k + 1] = np.cumsum(counts)  # exact integers, then float64
        np.subtract(n, starts[::-1], out=fp[1 : k + 1], dtype=np.float64)
        np.subtract(fp[1 : k + 1], tp[1 : k + 1], out=fp[1 : k + 1])
        usable = np.ones(k + 1, dtype=bool)
        usable[-1] = bool(distinct[0] != -np.inf)
        yield Curve(
            distinct[::-1].astype(np.float64),
            tp[: k + 1],
            fp[: k + 1],
            float(tp[k]),
            float(fp[k]),
            usable,
        )


def _ratio(num: np.ndarray, den: np.ndarray | float) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.broadcast_to(np.asarray(den, dtype=np.float64), num.shape)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def fbeta_shares(beta: float) -> tuple[float, float]:
    """``(a, b)`` with ``F_beta = tp / (tp + a fn + b fp) = tp / (a positives + b predicted)``.

    ``a = beta^2 / (1 + beta^2)``, ``b = 1 - a``: finite for every ``beta >= 0``, also
    where ``beta^2`` over- or underflows (F tends to the recall, or is the precision).
    """
    b2 = beta * beta
    if b2 == 0.0:
        return 0.0, 1.0
    if b2 == float("inf"):
        return 1.0, 0.0
    return b2 / (1.0 + b2), 1.0 / (1.0 + b2)


def objective_of(c: Curve, objective: str, params: dict[str, float]) -> np.ndarray:
    """An unconstrained objective at every ``k``, larger is better (a cost is negated)."""
    tp, fp = c.tp, c.fp
    if objective in ("f1", "fbeta"):
        a, b = fbeta_shares(params["beta"])  # tp / (tp + a fn + b fp)
        return _ratio(tp, a * c.pos + b * (tp + fp))
    if objective == "balanced_accuracy":
        return 0.5 * (_ratio(tp, c.pos) + _ratio(c.neg - fp, c.neg))
    total = (
        params["cost_tp"] * tp
        + params["cost_fp"] * fp
        + params["cost_fn"] * (c.pos - tp)
        + params["cost_tn"] * (c.neg - fp)
    )
    return -_ratio(total, c.pos + c.neg)


def _best(values: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The candidates whose value ties with the best among them."""
    v = values[candidates]
    best = v.max()
    return candidates[v >= best - TIE_TOLERANCE * max(1.0, abs(best))]


def select(c: Curve, objective: str, params: dict[str, float]) -> tuple[int, float, bool]:
    """The chosen ``k``, its objective value, and whether the objective was attainable.

    Unconstrained objectives: the best value; ties go to the smallest ``k`` (the highest
    threshold, fewest positive predictions). ``recall_at_precision``: the largest recall
    among the ``k`` with precision ``>= params["precision"]``, ties to the higher
    precision, then the smallest ``k``; unattainable, the highest precision, ties to the
    higher recall. ``precision_at_recall`` mirrors it.
    """
    usable = c.usable
    if objective not in ("recall_at_precision", "precision_at_recall"):
        values = objective_of(c, objective, params)
        masked = values if usable[-1] else np.where(usable, values, -np.inf)
        best = masked.max()
        k = int(np.argmax(masked >= best - TIE_TOLERANCE * max(1.0, abs(best))))
        value = -values[k] if objective == "expected_cost" else values[k]
        return k, float(value), True
    precision = _ratio(c.tp, c.tp + c.fp)
    recall = _ratio(c.tp, c.pos)
    if objective == "recall_at_precision":
        feasible = precision >= params["precision"] - TIE_TOLERANCE
        keys = [recall, precision]
    else:
        feasible = recall >= params["recall"] - TIE_TOLERANCE
        keys = [precision, recall]
    candidates = np.flatnonzero(usable & feasible)
    attainable = candidates.size > 0
    if not attainable:
        candidates = np.flatnonzero(usable)
        keys = keys[::-1]
    for key in keys:
        candidates = _best(key, candidates)
    k = int(candidates[0])
    return k, float(keys[0][k] if attainable else keys[1][k]), attainable


# ----------------------------------------------------------------------------- thresholds


def round_to(value: float, dtype_name: str) -> float:
    """``value`` rounded to the nearest number of the logits' dtype (as a float)."""
    if dtype_name == "float16":
        return float(np.float16(value))
    if dtype_name == "float32":
        return float(np.float32(value))
    if dtype_name == "bfloat16":
        f = np.float32(value)
        if not np.isfinite(f):
            return float(f)
        bits = np.array([f], dtype=np.float32).view(np.uint32).astype(np.uint64)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
        return float(rounded.astype(np.uint32).view(np.float32)[0])
    return float(value)


def dtype_max(dtype_name: str) -> float:
    """The largest finite number of the logits' dtype (float64 for any other name)."""
    if dtype_name == "bfloat16":
        return float(np.float32(3.3895313892515355e38))
    if dtype_name in ("float16", "float32"):
        return float(np.finfo(dtype_name).max)
    return float(np.finfo(np.float64).max)


def threshold_between(values: np.ndarray, k: int, dtype_name: str) -> float:
    """A threshold ``t`` such that ``scores > t`` holds exactly for the top ``k`` groups.

    Between two groups ``u_k > u_(k+1)``: their midpoint rounded to the logits' dtype, or
    ``u_(k+1)`` itself when the rounded midpoint is not in ``[u_(k+1), u_k)`` (adjacent
    numbers of the dtype, an infinite value). Beyond the extremes, ``max(1, |u|)``
    outside the range seen: ``u_1 + max(1, |u_1|)`` for ``k = 0`` (nothing positive),
    ``u_K - max(1, |u_K|)`` for ``k = K`` (everything positive), or the dtype's largest
    finite number (of that sign) where the step leaves the dtype's range; ``-inf`` only
    when the smallest logit is the dtype's most negative number. No values: ``0.0``.
    """
    count = values.shape[0]
    if count == 0:
        return 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        if k == 0:
            top = float(values[0])
            if np.isinf(top):
                return top
            return min(round_to(top + max(1.0, abs(top)), dtype_name), dtype_max(dtype_name))
        if k == count:
            low = float(values[-1])
            if low == np.inf:  # all +inf: any finite number, 65504 exists in every float dtype
                return float(np.finfo(np.float16).max)
            t = max(round_to(low - max(1.0, abs(low)), dtype_name), -dtype_max(dtype_name))
            return t if t < low else -np.inf
        hi, lo = float(values[k - 1]), float(values[k])
        mid = round_to(lo / 2 + hi / 2, dtype_name)
    if lo <= mid < hi:
        return mid
    return lo
