"""Per-class logit offsets for softmax decisions: coordinate ascent on held-out logits.

The decision is ``argmax(logits + offsets)``. With every offset but ``b_c`` fixed, sample
``i`` is predicted ``c`` exactly when ``b_c > d_i = max_{j != c}(x_ij + b_j) - x_ic``, and
otherwise keeps its best other class ``o_i``. Sorting ``d`` turns the objective as a
function of ``b_c`` into cumulative sums over the samples switched to ``c``: every distinct
value of ``b_c`` is evaluated in ``O(N log N)``, and ``b_c`` moves to the best one when it
strictly improves the objective. Passes over the classes repeat until none moves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wxent import _namespace as ns
from wxent import _validation as v
from wxent._threshold_search import TIE_TOLERANCE, fbeta_shares

MULTICLASS_OBJECTIVES = ("f1", "fbeta", "expected_cost", "balanced_accuracy")


def _fscore(
    tp: np.ndarray, predicted: np.ndarray, support: np.ndarray, shares: tuple[float, float]
) -> np.ndarray:
    """``tp / (tp + a fn + b fp) = tp / (a support + b predicted)`` (:func:`fbeta_shares`)."""
    den = shares[0] * support + shares[1] * predicted
    num = tp
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


class _Problem:
    """The objective of one tuning problem (larger is better)."""

    def __init__(
        self,
        y: np.ndarray,
        w: np.ndarray,
        num_classes: int,
        objective: str,
        costs: np.ndarray | None,
        beta: float,
    ) -> None:
        self.y, self.w, self.c = y, w, num_classes
        self.support = np.bincount(y, weights=w, minlength=num_classes)
        self.counts = (w > 0).astype(np.float64)  # samples that make their classes present
        self.b2 = fbeta_shares(beta)
        self.kind = "f" if objective in ("f1", "fbeta") else "cost"
        self.scale = 1.0
        self.offset = 0.0
        if objective == "balanced_accuracy":
            inv = np.divide(1.0, self.support, out=np.zeros(num_classes), where=self.support > 0)
            costs = (1.0 - np.eye(num_classes)) * inv[:, None]
            present = int((self.support > 0).sum())
            self.scale = 1.0 / max(present, 1)
            self.offset = 1.0 if present else 0.0
        elif objective == "expected_cost":
            total = float(w.sum())
            self.scale = 1.0 / total if total > 0 else 0.0
        if self.kind == "cost":
            assert costs is not None
            self.cost_rows = w[:, None] * costs[y]  # cost of predicting j for sample i

    def value(self, pred: np.ndarray) -> float:
        """The objective of the decisions ``pred``."""
        if self.kind == "cost":
            total = float(self.cost_rows[np.arange(pred.shape[0]), pred].sum())
            return self.offset - self.scale * total
        c = self.c
        tp = np.bincount(pred, weights=self.w * (pred == self.y), minlength=c)
        predicted = np.bincount(pred, weights=self.w, minlength=c)
        # A class counts in the macro mean when its weighted tp + fp + fn is positive, as
        # in the metrics: samples of weight 0 make no class present.
        counted = np.bincount(pred, weights=self.counts, minlength=c)
        present = (self.support > 0) | (counted > 0)
        if not present.any():
            return 0.0
        return float(_fscore(tp, predicted, self.support, self.b2).sum() / present.sum())

    def sweep(self, c: int, order: np.ndarray, ends: np.ndarray, o: np.ndarray) -> np.ndarray:
        """The objective after switching the first ``k`` groups of ``order`` to class ``c``."""
        if self.kind == "cost":
            rows = np.arange(o.shape[0])
            base = float(self.cost_rows[rows, o].sum())
            delta = (self.cost_rows[:, c] - self.cost_rows[rows, o])[order]
            total = base + np.concatenate([[0.0], np.cumsum(delta)[ends]])
            return self.offset - self.scale * total
        return self._f_sweep(c, order, ends, o)

    def _f_sweep(self, c: int, order: np.ndarray, ends: np.ndarray, o: np.ndarray) -> np.ndarray:
        y, w, b2, n = self.y[order], self.w[order], self.b2, self.support
        os = o[order]
        hit = w * (y == os)
        tp0 = np.bincount(o, weights=self.w * (o == self.y), minlength=self.c)
        pw0 = np.bincount(o, weights=self.w, minlength=self.c)
        counts = self.counts[order]
        cnt0 = np.bincount(o, weights=self.counts, minlength=self.c)
        # cumulative removals from each sample's previous class, in sweep order
        # (a stable sort is unique: 16-bit keys take NumPy's radix sort)
        keys = os.astype(np.int16) if self.c <= np.iinfo(np.int16).max else os
        by_class = np.argsort(keys, kind="stable")
        grouped = os[by_class]
        starts = np.searchsorted(grouped, np.arange(self.c))
        cum = np.cumsum(np.stack([hit, w, counts])[:, by_class], axis=1)
        before = np.concatenate([np.zeros((3, 1)), cum], axis=1)[:, starts[grouped]]
        removed = np.empty_like(cum)
        removed[:, by_class] = cum - before
        rt, rp, rc = removed
        f_after = _fscore(tp0[os] - rt, pw0[os] - rp, n[os], b2)
        f_before = _fscore(tp0[os] - rt + hit, pw0[os] - rp + w, n[os], b2)
        alive_after = (n[os] > 0) | (cnt0[os] - rc > 0)
        alive_before = (n[os] > 0) | (cnt0[os] - rc + counts > 0)
        others = np.arange(self.c) != c
        s0 = float(_fscore(tp0, pw0, n, b2)[others].sum())
        d0 = int((((n > 0) | (cnt0 > 0)) & others).sum()) + int(n[c] > 0)
        s = s0 + np.concatenate([[0.0], np.cumsum(f_after - f_before)[ends]])
        d = d0 + np.concatenate([[0], np.cumsum(alive_after.astype(int) - alive_before)[ends]])
        tpc = np.concatenate([[0.0], np.cumsum(w * (y == c))[ends]])
        pwc = np.concatenate([[0.0], np.cumsum(w)[ends]])
        s = s + _fscore(tpc, pwc, np.full_like(tpc, n[c]), b2)
        if n[c] == 0:  # present once a sample of positive weight is switched to c
            d = d + (np.concatenate([[0.0], np.cumsum(counts)[ends]]) > 0)
        return np.divide(s, d, out=np.zeros_like(s), where=d > 0)


def _candidate(values: np.ndarray, k: int) -> float:
    """An offset strictly between the ``k``-th and ``k + 1``-th distinct ``d`` (ascending)."""
    if k == 0:
        return float(values[0] - max(1.0, abs(values[0])))
    if k == values.shape[0]:
        return float(values[-1] + max(1.0, abs(values[-1])))
    return float(values[k - 1] / 2 + values[k] / 2)


class _TopTwo:
    """The two best classes of every row of ``z = x + b``, kept up to date as ``b`` moves.

    ``top1`` is ``argmax(z, axis=1)`` (the first index on ties) and ``top2`` the argmax of
    ``z`` with ``top1`` left out, as NumPy computes them on the whole of ``z``. When only
    ``b[k]`` changes, only column ``k`` of ``z`` does: rows that had ``k`` among their two
    best are recomputed from their row of ``z``, and every other row compares ``z[:, k]``
    with its two best (the order of the others is unchanged). A pass over the classes
    costs ``O(N)`` per class and ``O(C)`` per recomputed row instead of ``O(N C)`` per
    class. A column with NaN (``inf - inf`` of extreme offsets) recomputes every row.
    """

    def __init__(self, x: np.ndarray, b: np.ndarray) -> None:
        self.x, self.b = x, b
        self.rows = np.arange(x.shape[0])
        self.top1 = np.zeros(x.shape[0], dtype=np.intp)
        self.top2 = np.zeros(x.shape[0], dtype=np.intp)
        self._recompute(self.rows)

    def _recompute(self, rows: np.ndarray) -> None:
        z = self.x[rows] + self.b
        top1 = np.argmax(z, axis=1)
        z[np.arange(rows.shape[0]), top1] = -np.inf
        self.top1[rows] = top1
        self.top2[rows] = np.argmax(z, axis=1)

    def value(self, classes: np.ndarray) -> np.ndarray:
        """``z[i, classes[i]]`` for every row ``i``."""
        return self.x[self.rows, classes] + self.b[classes]

    def other(self, k: int) -> np.ndarray:
        """The best class other than ``k`` of every row."""
        return np.where(self.top1 == k, self.top2, self.top1)

    def save(self) -> tuple[np.ndarray, np.ndarray]:
        return self.top1.copy(), self.top2.copy()

    def restore(self, saved: tuple[np.ndarray, np.ndarray]) -> None:
        self.top1, self.top2 = saved

    def moved(self, k: int) -> None:
        """Update after a change of ``b[k]`` alone."""
        zk = self.x[:, k] + self.b[k]
        if np.isnan(zk).any():
            self._recompute(self.rows)
            return
        inside = (self.top1 == k) | (self.top2 == k)
        v1, v2 = self.value(self.top1), self.value(self.top2)
        # k beats a class j when z_k > z_j, or z_k == z_j and k < j (argmax's first index)
        over1 = ~inside & ((zk > v1) | ((zk == v1) & (k < self.top1)))
        over2 = ~inside & ~over1 & ((zk > v2) | ((zk == v2) & (k < self.top2)))
        self.top2 = np.where(over1, self.top1, np.where(over2, k, self.top2))
        self.top1 = np.where(over1, k, self.top1)
        self._recompute(np.flatnonzero(inside))


def tune_offsets(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    *,
    objective: str,
    costs: np.ndarray | None,
    beta: float,
    max_iter: int,
) -> tuple[np.ndarray, float]:
    """Coordinate ascent on the offsets; returns ``(offsets, objective of the result)``.

    Args:
        x: ``(N, C)`` float64 finite logits.
        y: ``(N,)`` int64 labels in ``[0, C)``.
        w: ``(N,)`` float64 sample weights.
        objective: ``"f1"``/``"fbeta"`` (macro), ``"expected_cost"`` or
            ``"balanced_accuracy"``.
        costs: ``(C, C)`` float64 ``costs[true, predicted]`` for ``"expected_cost"``.
        beta: the F-beta ``beta``.
        max_iter: the most passes over the classes.

    Returns:
        The offsets ``(C,)`` and the objective of ``argmax(x + offsets)`` (the mean cost
        for ``"expected_cost"``).
    """
    n, c = x.shape
    problem = _Problem(y, w, c, objective, costs, beta)
    b = np.zeros(c)
    ranks = _TopTwo(x, b)
    current = problem.value(ranks.top1) if n else 0.0
    for _ in range(max_iter if n else 0):
        moved = False
        for k in range(c):
            o = ranks.other(k)
            d = ranks.value(o) - x[:, k]
            order = np.argsort(d, kind="stable")
            ds = d[order]
            ends = np.append(np.flatnonzero(ds[1:] != ds[:-1]), n - 1)
            values = problem.sweep(k, order, ends, o)
            best = values.max()
            if best <= current + TIE_TOLERANCE * max(1.0, abs(current)):
                continue
            ties = np.flatnonzero(values >= best - TIE_TOLERANCE * max(1.0, abs(best)))
            offsets = np.array([_candidate(ds[ends], int(t)) for t in ties])
            previous = b[k]
            saved = ranks.save()
            b[k] = offsets[np.argmin(np.abs(offsets - b[k]))]
            ranks.moved(k)
            # The sweep's running sums are inexact for weights of very different sizes
            # (1e-300 beside 2): a move is kept only when the decisions it gives improve
            # on the exact objective, else the offsets drifted pass after pass (1e7 after
            # 20 passes, beyond float32 logits' resolution) without improving anything.
            value = problem.value(ranks.top1)
            if value <= current + TIE_TOLERANCE * max(1.0, abs(current)):
                b[k] = previous
                ranks.restore(saved)
                continue
            current = value
            moved = True
        if not moved:
            break
    if objective == "expected_cost":
        current = -current + 0.0  # a cost of nothing is 0.0, not -0.0
    return b, float(current)


def tune_softmax(
    x: np.ndarray,
    labels: Any,
    y_host: np.ndarray,
    w: np.ndarray | None,
    *,
    axis: int,
    objective: str,
    params: dict[str, float],
    costs: Any,
    ignore_label: Any,
    ignore_index: Any,
    max_iter: Any,
) -> tuple[np.ndarray, float]:
    """Check the softmax inputs of :func:`wxent.tune_thresholds` and tune the offsets."""
    shape = x.shape
    sample_shape = shape[:axis] + shape[axis + 1 :]
    xp = ns.namespace(labels)
    if not v.is_integer(xp, labels.dtype) or tuple(v.static_shape(labels)) != sample_shape:
        raise v.value_error(
            "labels",
            f"[0, 1] labels of the logits' shape {shape} (sigmoid logits) or integer class "
            f"indices of shape {sample_shape} (softmax logits, class_axis={axis})",
            f"labels of shape {v.shape_str(v.static_shape(labels))} and dtype "
            f"{v.dtype_name(labels.dtype)}",
        )
    if objective not in MULTICLASS_OBJECTIVES:
        expected = "one of " + ", ".join(f'"{o}"' for o in MULTICLASS_OBJECTIVES)
        raise v.value_error(
            "objective",
            f"{expected} for softmax logits (integer labels)",
            f"objective={objective!r}",
        )
    if ignore_label is not None:
        raise v.value_error(
            "ignore_label",
            "None for softmax logits; use ignore_index",
            f"ignore_label={ignore_label!r}",
        )
    max_iter = v.check_positive_int("max_iter", max_iter)
    if not np.isfinite(x).all():
        raise v.value_error(
            "logits", "finite logits for per-class offsets", "an infinite value in `logits`"
        )
    num_classes = shape[axis]
    ignore = v.check_optional_int("ignore_index", ignore_index)
    v.check_class_indices(y_host, num_classes, ignore)  # before int64: uint64 would wrap
    y = y_host.astype(np.int64)
    w = np.ones(sample_shape) if w is None else w
    keep = np.ones(sample_shape, dtype=bool) if ignore is None else y_host != ignore  # (uint64)
    x2 = np.moveaxis(x, axis, -1)[keep].astype(np.float64)
    matrix = None
    if objective == "expected_cost":
        if costs is None:
            raise v.value_error(
                "costs", 'a (C, C) cost matrix for objective="expected_cost"', "costs=None"
            )
        from wxent.cost_matrix import check_cost_matrix

        matrix = check_cost_matrix(costs, num_classes=num_classes, warn=False)
    elif costs is not None:
        raise v.value_error("costs", 'None unless objective="expected_cost"', "a cost matrix")
    offsets, value = tune_offsets(
        x2,
        y[keep],
        w[keep],
        objective=objective,
        costs=matrix,
        beta=params["beta"],
        max_iter=int(max_iter),
    )
    return offsets, value
