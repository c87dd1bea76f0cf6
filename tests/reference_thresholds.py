"""Brute-force oracles for threshold tuning: every distinct threshold, counted directly."""

from __future__ import annotations

import numpy as np

TOL = 1e-12


def _div(a: float, b: float) -> float:
    return a / b if b != 0 else 0.0


def scores(s, z, w, t, objective, params):
    """(objective, precision, recall) of ``s > t``, counted with masks in float64."""
    pred = s > t
    tp = float(np.sum(w * z * pred))
    fp = float(np.sum(w * (1 - z) * pred))
    fn = float(np.sum(w * z * ~pred))
    tn = float(np.sum(w * (1 - z) * ~pred))
    precision, recall = _div(tp, tp + fp), _div(tp, tp + fn)
    if objective in ("f1", "fbeta"):
        b2 = params.get("beta", 1.0) ** 2
        value = _div((1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp)
    elif objective == "balanced_accuracy":
        value = 0.5 * (recall + _div(tn, tn + fp))
    elif objective == "expected_cost":
        total = (
            params.get("cost_tp", 0.0) * tp
            + params["cost_fp"] * fp
            + params["cost_fn"] * fn
            + params.get("cost_tn", 0.0) * tn
        )
        value = -_div(total, tp + fp + fn + tn)
    elif objective == "recall_at_precision":
        value = recall
    else:
        value = precision
    return value, precision, recall


def _ties(keys, candidates):
    best = max(keys[i] for i in candidates)
    return [i for i in candidates if keys[i] >= best - TOL * max(1.0, abs(best))]


def brute_force(s, z, w, objective, params):
    """The best decision mask and its objective value, by the documented tie rules.

    Candidates, from the highest threshold down: nothing positive, then ``s >= u`` for
    each distinct value ``u`` (except ``-inf``, which no threshold makes positive).
    """
    s = np.asarray(s, dtype=np.float64)
    distinct = np.unique(s)[::-1]
    ts = [np.inf] + [np.nextafter(u, -np.inf) for u in distinct if u != -np.inf]
    rows = [scores(s, z, w, t, objective, params) for t in ts]
    value, prec, rec = ([r[i] for r in rows] for i in range(3))
    candidates = list(range(len(ts)))
    keys = [value]
    if objective == "recall_at_precision":
        feasible = [i for i in candidates if prec[i] >= params["precision"] - TOL]
        keys = [rec, prec]
    elif objective == "precision_at_recall":
        feasible = [i for i in candidates if rec[i] >= params["recall"] - TOL]
        keys = [prec, rec]
    else:
        feasible = candidates
    attainable = bool(feasible)
    if not attainable:
        keys = keys[::-1]
        feasible = candidates
    for key in keys:
        feasible = _ties(key, feasible)
    i = feasible[0]
    best = -value[i] if objective == "expected_cost" else value[i]
    return s > ts[i], best, attainable


def full_top_two(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best and second-best column of each row (first index on ties)."""
    top1 = np.argmax(z, axis=1)
    rest = z.copy()
    rest[np.arange(z.shape[0]), top1] = -np.inf
    return top1, np.argmax(rest, axis=1)


def offsets_from_scratch(x, y, w, *, objective, costs, beta, max_iter):
    """The softmax offsets search with ``argmax(x + b)`` and its runner-up recomputed
    from scratch for every class: ``(offsets, objective value)`` (tests and
    benchmarks/bench_decisions.py)."""
    from wxent import _offsets
    from wxent._threshold_search import TIE_TOLERANCE

    n, c = x.shape
    problem = _offsets._Problem(y, w, c, objective, costs, beta)
    b = np.zeros(c)
    rows = np.arange(n)
    current = problem.value(np.argmax(x, axis=1))
    for _ in range(max_iter):
        moved = False
        for k in range(c):
            z = x + b
            top1, top2 = full_top_two(z)
            o = np.where(top1 == k, top2, top1)
            d = z[rows, o] - x[:, k]
            order = np.argsort(d, kind="stable")
            ds = d[order]
            ends = np.append(np.flatnonzero(ds[1:] != ds[:-1]), n - 1)
            values = problem.sweep(k, order, ends, o)
            best = values.max()
            if best <= current + TIE_TOLERANCE * max(1.0, abs(current)):
                continue
            ties = np.flatnonzero(values >= best - TIE_TOLERANCE * max(1.0, abs(best)))
            offsets = np.array([_offsets._candidate(ds[ends], int(t)) for t in ties])
            previous = b[k]
            b[k] = offsets[np.argmin(np.abs(offsets - b[k]))]
            value = problem.value(np.argmax(x + b, axis=1))
            if value <= current + TIE_TOLERANCE * max(1.0, abs(current)):
                b[k] = previous
                continue
            current = value
            moved = True
        if not moved:
            break
    return b, current
