"""Slow float64 oracles for the cost-sensitive losses and decisions.

Loops over samples transcribing the docstring formulas, with Python's ``math``; they
share no code with the library (the SPEC reduction table is imported from
``tests/reference.py``, which is itself independent of the library).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from reference import reduce


def softmax_row(row: np.ndarray) -> list[float]:
    m = max(float(v) for v in row)
    exps = [math.exp(float(v) - m) for v in row]
    total = sum(exps)
    return [e / total for e in exps]


def _samples(
    logits: np.ndarray, labels: np.ndarray, class_axis: int
) -> tuple[np.ndarray, np.ndarray, bool]:
    x = np.moveaxis(np.asarray(logits, dtype=np.float64), class_axis, -1)
    integer = np.issubdtype(np.asarray(labels).dtype, np.integer)
    y = np.asarray(labels) if integer else np.moveaxis(np.asarray(labels, float), class_axis, -1)
    return x, y, integer


def _ce(row: np.ndarray, target: np.ndarray) -> float:
    m = max(float(v) for v in row)
    lse = m + math.log(sum(math.exp(float(v) - m) for v in row))
    return -sum(t * (float(row[c]) - lse) for c, t in enumerate(target) if t != 0)


def cost_family(
    logits: np.ndarray,
    labels: np.ndarray,
    matrix: Any,
    *,
    kind: str,
    cost_weight: float = 1.0,
    class_weight: Any = None,
    sample_weight: Any = None,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
    class_axis: int = -1,
    reduction: str = "mean",
) -> Any:
    """``kind``: "expected_cost", "cost_sensitive" or "confusion_weighted"."""
    x, y, integer = _samples(logits, labels, class_axis)
    c = np.asarray(matrix, dtype=np.float64)
    n_classes = x.shape[-1]
    sample_shape = x.shape[:-1]
    cw = np.broadcast_to(
        np.asarray(1.0 if class_weight is None else class_weight, float), (n_classes,)
    )
    s = np.broadcast_to(
        np.asarray(1.0 if sample_weight is None else sample_weight, float), sample_shape
    )
    values = np.zeros(sample_shape)
    weights = np.zeros(sample_shape)
    valid = np.ones(sample_shape, dtype=bool)
    for idx in np.ndindex(sample_shape):
        row = x[idx]
        if integer:
            label = int(y[idx])
            if ignore_index is not None and label == ignore_index:
                valid[idx] = False
                continue
            target = [1.0 if k == label else 0.0 for k in range(n_classes)]
        else:
            target = [float(t) for t in y[idx]]
        w = float(s[idx]) * sum(cw[k] * target[k] for k in range(n_classes))
        p = softmax_row(row)
        expected = sum(
            target[a] * sum(c[a, j] * p[j] for j in range(n_classes)) for a in range(n_classes)
        )
        smoothed = np.array(
            [t * (1 - label_smoothing) + label_smoothing / n_classes for t in target]
        )
        if kind == "expected_cost":
            loss = expected
        elif kind == "cost_sensitive":
            loss = _ce(row, smoothed) + cost_weight * expected
        else:
            predicted = max(range(n_classes), key=lambda k: (row[k], -k))
            w *= sum(target[a] * c[a, predicted] for a in range(n_classes))
            loss = _ce(row, smoothed)
        values[idx] = w * loss
        weights[idx] = w
    return reduce(values, weights, valid, reduction)


def bayes_decision(logits: np.ndarray, costs: Any, class_axis: int = -1) -> tuple[Any, Any]:
    """Brute force: the expected cost of every prediction, and the margin to the runner-up.

    Returns ``(decisions, margins)``; a tiny margin flags a near tie where float32 may
    legitimately pick either class.
    """
    x = np.moveaxis(np.asarray(logits, dtype=np.float64), class_axis, -1)
    c = np.asarray(costs, dtype=np.float64)
    n_classes = x.shape[-1]
    decisions = np.zeros(x.shape[:-1], dtype=np.int64)
    margins = np.zeros(x.shape[:-1])
    for idx in np.ndindex(x.shape[:-1]):
        p = softmax_row(x[idx])
        risks = [sum(p[j] * c[j, k] for j in range(n_classes)) for k in range(n_classes)]
        best = min(range(n_classes), key=lambda k: risks[k])
        decisions[idx] = best
        others = [r for k, r in enumerate(risks) if k != best]
        margins[idx] = (min(others) - risks[best]) if others else math.inf
    return decisions, margins


def elkan_threshold(cost_fp: float, cost_fn: float, cost_tp: float, cost_tn: float) -> float:
    """Elkan (2001): ``p* = (c_fp - c_tn) / (c_fp - c_tn + c_fn - c_tp)`` as a probability."""
    return (cost_fp - cost_tn) / (cost_fp - cost_tn + cost_fn - cost_tp)


def binary_expected_costs(
    logit: float, cost_fp: float, cost_fn: float, cost_tp: float, cost_tn: float
) -> tuple[float, float]:
    """``(E[cost | predict positive], E[cost | predict negative])`` under sigmoid(logit)."""
    p = 1.0 / (1.0 + math.exp(-logit)) if logit >= 0 else math.exp(logit) / (1 + math.exp(logit))
    return p * cost_tp + (1 - p) * cost_fp, p * cost_fn + (1 - p) * cost_tn


def spy_cost_paths(monkeypatch, fast_module) -> list:
    """``"fast"`` per forward pass of ``fast_module._forward``, ``"generic"`` per call of
    the generic expected cost (``wxent._core.cost.expected_cost``), in call order."""
    from wxent._core import cost as core_cost

    calls: list = []
    fast, generic = fast_module._forward, core_cost.expected_cost

    def spy_fast(*args, **kwargs):
        calls.append("fast")
        return fast(*args, **kwargs)

    def spy_generic(*args, **kwargs):
        calls.append("generic")
        return generic(*args, **kwargs)

    monkeypatch.setattr(fast_module, "_forward", spy_fast)
    monkeypatch.setattr(core_cost, "expected_cost", spy_generic)
    return calls


#: The expected-cost rule tests' option sets (PyTorch's and TensorFlow's alike).
RULE_CASES: dict[str, dict[str, Any]] = {
    "expected": dict(loss="expected"),
    "expected-weights": dict(loss="expected", class_weight=True, sample_weight=True),
    "sensitive": dict(loss="sensitive", cost_weight=0.7),
    "sensitive-smooth-weights": dict(
        loss="sensitive", cost_weight=2.5, label_smoothing=0.2, class_weight=True
    ),
    "sensitive-sample-weights": dict(loss="sensitive", cost_weight=1.0, sample_weight=True),
}


def rule_case(case: str, class_weight: Any, sample_weight: Any) -> tuple[Any, dict[str, Any]]:
    """The wxent function and its keyword options of :data:`RULE_CASES` ``[case]``."""
    import wxent

    opts = dict(RULE_CASES[case])
    loss = opts.pop("loss")
    if opts.pop("class_weight", False):
        opts["class_weight"] = class_weight
    if opts.pop("sample_weight", False):
        opts["sample_weight"] = sample_weight
    fn = wxent.expected_cost_loss if loss == "expected" else wxent.cost_sensitive_cross_entropy
    return fn, opts
